"""Docker Content Trust with the real docker CLI (its notary client) against DTR over HTTPS:
signed push, `docker trust inspect`, a second signer, signed pull, unsigned pull refused by
the client, and real metadata tampered with refused by the server."""

import base64
import functools
import hashlib
import json
import re
import shutil

import pytest

import dtr
from dtr.services.content_trust import dct_signers
from tests.support.images import sha256, simple_image

from .conftest import registry_client, run

pytestmark = pytest.mark.e2e

ROOT_PASSPHRASE = "root-passphrase-for-tests"
REPOSITORY_PASSPHRASE = "repository-passphrase-for-tests"


def pushed_digest(output, tag):
    pattern = rf"^{re.escape(tag)}: digest: (sha256:[0-9a-f]{{64}}) size: \d+$"
    match = re.search(pattern, output, re.M)
    assert match, output
    return match[1]


@functools.cache
def _app(instance):
    return dtr.create_app(instance)


def signers_of(server, repo, tag, digest):
    """`dct_signers` as DTR answers it, from the server's own database."""
    with _app(str(server.instance)).app_context():
        return dct_signers(repo, tag, digest)


@pytest.fixture
def trusting_docker(docker, dtr_https, https_cert_dir):
    """The docker CLI with content trust on, its notary client trusting DTR's certificate
    (DOCKER_CONFIG/tls/HOST/ca.crt), passphrases from the environment, logged in as writer."""
    tls = docker.config_dir / "tls" / dtr_https.host
    tls.mkdir(parents=True)
    shutil.copy(https_cert_dir / "ca.crt", tls / "ca.crt")
    docker.env.update(
        {
            "DOCKER_CONTENT_TRUST": "1",
            "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": ROOT_PASSPHRASE,
            "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": REPOSITORY_PASSPHRASE,
        }
    )
    docker.login(dtr_https, "writer")
    return docker


def signed_push(docker, reference, marker, folder):
    docker.load(simple_image(marker, docker=True), reference, folder)
    push = docker("push", reference)
    assert "Signing and pushing trust metadata" in push.stdout, push.stdout
    assert f"Successfully signed {reference}" in push.stdout, push.stdout
    return pushed_digest(push.stdout, reference.rsplit(":", 1)[1])


def trust_inspect(docker, reference):
    (result,) = json.loads(docker("trust", "inspect", reference).stdout)
    return result


def test_signed_push_inspect_and_pull(trusting_docker, dtr_https, make_repo, tmp_path):
    docker = trusting_docker
    repo = make_repo(dtr_https)
    signed, unsigned = f"{dtr_https.host}/{repo}:signed", f"{dtr_https.host}/{repo}:unsigned"
    digest = signed_push(docker, signed, "dct-signed", tmp_path)

    inspect = trust_inspect(docker, signed)
    assert inspect["SignedTags"] == [
        {"SignedTag": "signed", "Digest": digest.removeprefix("sha256:"), "Signers": ["Repo Admin"]}
    ]
    assert {k["Name"] for k in inspect["AdministrativeKeys"]} == {"Root", "Repository"}
    assert signers_of(dtr_https, repo, "signed", digest) == ["Repo Admin"]

    unsigned_image = simple_image("dct-unsigned", docker=True)
    docker.load(unsigned_image, unsigned, tmp_path)
    unsigned_digest = pushed_digest(
        docker("push", "--disable-content-trust", unsigned).stdout, "unsigned"
    )
    assert signers_of(dtr_https, repo, "unsigned", unsigned_digest) == []
    assert signers_of(dtr_https, repo, "signed", unsigned_digest) == []

    # a reader (pull only) pulls the signed tag through the trust data; the unsigned one is
    # refused by the client, though the registry has it
    docker("rmi", signed, unsigned)
    docker.login(dtr_https, "reader")
    pull = docker("pull", signed)
    assert f"Pull (1 of 1): {signed}@{digest}" in pull.stdout, pull.stdout
    assert docker.inspect(signed)["RepoDigests"] == [f"{dtr_https.host}/{repo}@{digest}"]
    refused = docker("pull", unsigned, ok=False)
    assert "No valid trust data for unsigned" in refused.stderr, refused.stderr
    docker("image", "inspect", unsigned, ok=False)
    docker("pull", "--disable-content-trust", unsigned)  # the registry itself has it
    assert docker.image_id(unsigned) == sha256(unsigned_image.config)


def test_second_signer(trusting_docker, dtr_https, https_cert_dir, make_repo, tmp_path):
    docker = trusting_docker
    repo = make_repo(dtr_https)
    base = f"{dtr_https.host}/{repo}"
    first = signed_push(docker, f"{base}:first", "dct-first", tmp_path)

    keys = tmp_path / "keys"
    keys.mkdir()
    generated = run(["docker", "trust", "key", "generate", "alice", "--dir", keys], env=docker.env)
    assert "Successfully generated and loaded private key" in generated.stdout
    added = docker("trust", "signer", "add", "--key", keys / "alice.pub", "alice", base)
    assert f"Successfully added signer: alice to {base}" in added.stdout, added.stdout

    second = signed_push(docker, f"{base}:second", "dct-second", tmp_path)  # alice signs
    inspect = trust_inspect(docker, base)
    assert [s["Name"] for s in inspect["Signers"]] == ["alice"]
    assert len(inspect["Signers"][0]["Keys"]) == 1
    assert {t["SignedTag"]: t["Signers"] for t in inspect["SignedTags"]} == {
        "first": ["Repo Admin"],
        "second": ["alice"],
    }
    assert signers_of(dtr_https, repo, "second", second) == ["alice"]
    assert signers_of(dtr_https, repo, "first", first) == ["Repo Admin"]

    # the server refuses the client's real metadata rolled back or tampered with
    admin = registry_client(dtr_https, verify=str(https_cert_dir / "ca.crt"))
    trust = f"/v2/{base}/_trust/tuf/"
    current = admin.request("GET", trust + "targets.json").content
    version = json.loads(current)["signed"]["version"]
    old = admin.request("GET", trust + f"{version - 1}.targets.json")
    assert old.status_code == 200 and old.content != current
    tampered = json.loads(current)
    tampered["signed"]["version"] += 1
    tampered["signed"]["targets"]["first"]["hashes"]["sha256"] = base64.b64encode(
        hashlib.sha256(b"something else").digest()
    ).decode()
    for data, reason in [
        (old.content, "is not newer than the stored version"),
        (json.dumps(tampered).encode(), "targets: 0 valid signature(s)"),
    ]:
        files = [("files", ("targets", data, "application/octet-stream"))]
        response = admin.request("POST", trust, files=files)
        assert response.status_code == 400, response.text
        assert reason in response.json()["errors"][0]["message"]
    assert admin.request("GET", trust + "targets.json").content == current

    docker("rmi", f"{base}:first", f"{base}:second")
    pull = docker("pull", f"{base}:second")
    assert f"@{second}" in pull.stdout, pull.stdout


def test_revoked_signature(trusting_docker, dtr_https, make_repo, tmp_path):
    docker = trusting_docker
    repo = make_repo(dtr_https)
    signed = f"{dtr_https.host}/{repo}:signed"
    digest = signed_push(docker, signed, "dct-revoked", tmp_path)
    revoke = docker("trust", "revoke", "--yes", signed)
    assert f"Successfully deleted signature for {signed}" in revoke.stdout, revoke.stdout
    assert signers_of(dtr_https, repo, "signed", digest) == []
    docker("rmi", signed)
    refused = docker("pull", signed, ok=False)
    assert "No valid trust data for signed" in refused.stderr, refused.stderr
