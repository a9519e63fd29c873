"""Signatures in the web portal (Flask's test client): the repository page's signed/unsigned
badges with who signed and the attached referrers, a page's query count that does not grow
with its tags, the settings page (the "pull only signed images" switch, the trusted keys),
and Docker Content Trust signatures through the trust service's hook."""

import base64

import pytest

from dtr.database import db
from dtr.models import TrustMetadata
from dtr.services import accounts, repositories, signatures, trusted_keys
from dtr.services.repositories import find_repository
from tests.integration.web_support import (
    Browser,
    build_app,
    identity,
    reset_process_state,
    statements_of,
)
from tests.support.images import OCI_MANIFEST, sha256, simple_image
from tests.support.signing import CosignSignature, artifact, ec_key, public_pem

PASSWORD = "admin-secret"


class AppRegistry:
    """push_blob / push_manifest over the app's /v2 routes, with HTTP Basic."""

    def __init__(self, app):
        self.client = app.test_client()
        credentials = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        self.auth = {"Authorization": f"Basic {credentials}"}

    def push_blob(self, repo, data):
        response = self.client.post(
            f"/v2/{repo}/blobs/uploads/?digest={sha256(data)}",
            data=data,
            headers={**self.auth, "Content-Type": "application/octet-stream"},
        )
        assert response.status_code == 201, response.text

    def push_manifest(self, repo, reference, manifest, media_type):
        return self.client.put(
            f"/v2/{repo}/manifests/{reference}",
            data=manifest,
            headers={**self.auth, "Content-Type": media_type},
        )

    def push_image(self, repo, tag, image):
        for blob in image.blobs:
            self.push_blob(repo, blob)
        assert self.push_manifest(repo, tag, image.manifest, image.media_type).status_code == 201


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    reset_process_state()
    app = build_app(tmp_path_factory.mktemp("sigweb") / "instance")
    with app.app_context():
        accounts.create_user("admin", PASSWORD, "admin")
        repositories.create_repository(identity("admin"), "admin/signed")
    return app


@pytest.fixture
def browser(app):
    reset_process_state()
    browser = Browser(app)
    assert browser.login("admin", PASSWORD).status_code == 303
    return browser


def test_the_repository_page_shows_who_signed_and_what_is_attached(app, browser):
    registry = AppRegistry(app)
    key = ec_key()
    with app.app_context():
        trusted_keys.add_repository_key(
            identity("admin"), "admin/signed", "release", public_pem(key)
        )
    signed, plain = simple_image("web-signed"), simple_image("web-plain")
    registry.push_image("admin/signed", "v1", signed)
    registry.push_image("admin/signed", "v2", plain)
    CosignSignature(signed.digest, len(signed.manifest), [(key, None)]).push(
        registry, "admin/signed"
    )
    sbom, blobs = artifact(
        signed.digest, len(signed.manifest), "application/spdx+json", b"{}", "application/spdx+json"
    )
    for blob in blobs:
        registry.push_blob("admin/signed", blob)
    assert (
        registry.push_manifest("admin/signed", sha256(sbom), sbom, OCI_MANIFEST).status_code == 201
    )

    page = browser.get("/repositories/admin/signed").text
    v1, v2 = page.split('id="tag-1"')[1].split('id="tag-2"')
    assert '<span class="badge signed">signed</span> <small>by release</small>' in v1
    assert "1 signature, 2 referrers" in v1
    assert "cosign: verified, release" in v1 and "sbom" in v1 and "application/spdx+json" in v1
    assert '<span class="badge unsigned">unsigned</span>' in v2 and "<details" not in v2


def test_a_page_of_tags_costs_the_same_queries_however_many_are_signed(app, browser):
    registry = AppRegistry(app)
    key = ec_key()
    with app.app_context():
        repositories.create_repository(identity("admin"), "admin/many")
        trusted_keys.add_repository_key(identity("admin"), "admin/many", "k", public_pem(key))

    def add(count, start):
        for number in range(start, start + count):
            image = simple_image(f"many-{number}", layers=1)
            registry.push_image("admin/many", f"t{number:03d}", image)
            CosignSignature(image.digest, len(image.manifest), [(key, None)]).push(
                registry, "admin/many"
            )

    add(2, 0)
    page, few = statements_of(app, lambda: browser.get("/repositories/admin/many"))
    assert page.text.count("badge signed") == 2
    add(12, 2)
    page, many = statements_of(app, lambda: browser.get("/repositories/admin/many"))
    assert page.text.count("badge signed") == 14
    assert many == few


def test_the_settings_page_switches_pull_only_signed(app, browser):
    path = "/repositories/admin/signed/settings"
    page = browser.get(path).text
    assert 'name="pullOnlySigned"' in page and "Pull only signed images" in page
    form = {"visibility": "private", "shortDescription": "", "longDescription": ""}
    assert browser.post(path, {**form, "pullOnlySigned": "on"}).status_code == 303
    with app.app_context():
        assert find_repository("admin/signed").pull_only_signed is True
    assert 'name="pullOnlySigned" value="on" checked' in browser.get(path).text
    assert browser.post(path, form).status_code == 303
    with app.app_context():
        assert find_repository("admin/signed").pull_only_signed is False


def test_the_settings_page_lists_the_trusted_keys(app, browser):
    with app.app_context():
        admin = identity("admin")
        repositories.create_repository(admin, "admin/keyed")
        trusted_keys.add_repository_key(admin, "admin/keyed", "mine", public_pem(ec_key()))
        trusted_keys.add_namespace_key(admin, "admin", "everywhere", public_pem(ec_key()))
    page = browser.get("/repositories/admin/keyed/settings").text
    section = page.split("<h2>Trusted keys</h2>")[1].split("</section>")[0]
    assert "mine" in section and "this repository" in section
    assert "everywhere" in section and "all of admin" in section and "ecdsa-p256" in section


class FakeTrust:
    """What the trust service says: tag -> (digest it is signed for, signers)."""

    def __init__(self):
        self.signed = {}
        self.calls = []

    def dct_signers(self, repository, tag, digest):
        self.calls.append("single")
        signed_digest, signers = self.signed.get(tag, (None, []))
        return list(signers) if signed_digest == digest else []

    def dct_signed_tags(self, repository, tagged):
        self.calls.append("batch")
        return {tag: self.dct_signers(repository, tag, digest) for tag, digest in tagged}


@pytest.fixture(params=["single", "batch"])
def trust_service(request, monkeypatch):
    """The trust service's answers, through its per-tag function or its batch one."""
    from dtr.services import content_trust

    fake = FakeTrust()
    monkeypatch.setattr(content_trust, "dct_signers", fake.dct_signers)
    if request.param == "batch":
        monkeypatch.setattr(content_trust, "dct_signed_tags", fake.dct_signed_tags, raising=False)
    else:
        monkeypatch.delattr(content_trust, "dct_signed_tags", raising=False)
    fake.mode = request.param
    return fake


def test_docker_content_trust_signatures_count(app, browser, trust_service):
    registry = AppRegistry(app)
    repo = f"admin/trusted-{trust_service.mode}"
    with app.app_context():
        repositories.create_repository(identity("admin"), repo)
        if accounts.find_account("puller") is None:
            accounts.create_user("puller", "puller-secret", "read-only")
        repositories.update_repository(identity("admin"), repo, {"pullOnlySigned": True})
        # the repository has trust data (what it says is the fake's to answer)
        db.session.add(
            TrustMetadata(
                repository_id=find_repository(repo).id,
                gun=f"localhost/{repo}",
                role="root",
                version=1,
                checksum="0" * 64,
                data=b"{}",
            )
        )
        db.session.commit()
    signed, moved, plain = (simple_image(f"dct-{n}") for n in ("signed", "moved", "plain"))
    for tag, image in (("v1", signed), ("v2", moved), ("v3", plain)):
        registry.push_image(repo, tag, image)
    trust_service.signed = {
        "v1": (signed.digest, ["alice", "bob"]),  # signed for what it points at
        "v2": (plain.digest, ["alice"]),  # signed for another digest
    }
    with app.app_context():
        repository = find_repository(repo)
        assert signatures.dct_signers(repository, "v1", signed.digest) == ["alice", "bob"]
        assert signatures.dct_signers(repository, "v2", moved.digest) == []

    trust_service.calls.clear()
    page = browser.get(f"/repositories/{repo}").text
    assert '<span class="badge signed">signed</span> <small>by alice, bob</small>' in page
    assert "dct: verified, alice" in page
    assert page.count("badge unsigned") == 2
    if trust_service.mode == "batch":
        assert trust_service.calls.count("batch") == 1  # one call for the whole page
    else:
        assert trust_service.calls == ["single"] * 3  # one per tag
    listed = {
        tag["name"]: tag
        for tag in app.test_client()
        .get(f"/api/v0/repositories/{repo}/tags", headers=basic("admin", PASSWORD))
        .json["tags"]
    }
    assert listed["v1"]["signed"] is True and listed["v2"]["signed"] is False
    assert {"type": "dct", "signer": "bob", "verified": True, "digest": None, "problem": None} in (
        listed["v1"]["signatures"]
    )

    headers = {**basic("puller", "puller-secret"), "Accept": OCI_MANIFEST}
    client = app.test_client()
    assert client.get(f"/v2/{repo}/manifests/v1", headers=headers).status_code == 200
    by_digest = client.get(f"/v2/{repo}/manifests/{signed.digest}", headers=headers)
    assert by_digest.status_code == 200  # DCT clients pull by digest
    refused = client.get(f"/v2/{repo}/manifests/v2", headers=headers)
    assert refused.status_code == 403 and refused.json["errors"][0]["code"] == "DENIED"
    assert client.get(f"/v2/{repo}/manifests/{moved.digest}", headers=headers).status_code == 403


def basic(name, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}
