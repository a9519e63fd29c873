"""A hostile client against DTR under its production server: every input that once answered
a 500 (or was wrongly accepted) now answers the spec's error, and nothing breaks a page.

JSON nested 100,000 deep, wrong types in manifests, NaN, lone surrogates, odd trust file
names, invalid tags, a cross-repository mount through a generic client, requests gunicorn
refuses, and the logs' answers against the OpenAPI document."""

import json
import socket

import pytest
import requests

from tests.integration.test_api import Api, check_against_document
from tests.support.client import RegistryClient
from tests.support.images import OCI_MANIFEST, raw_manifest, sha256, simple_image
from tests.support.server import USERS, DTRProcess
from tests.support.signing import SIGNATURE_ANNOTATION, SIMPLE_SIGNING, ec_key, sign

ADMIN = ("admin", USERS["admin"][0])
DEEP = b"[" * 100_000 + b"]" * 100_000


def error_of(response):
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:300]
    return response.json()["errors"][0]


def image_manifest(client, repo, **extra):
    """A valid image manifest (its blobs pushed), with `extra` top-level fields."""
    image = simple_image(f"hostile-{len(extra)}-{sorted(extra)}")
    for blob in image.blobs:
        client.push_blob(repo, blob)
    document = {**json.loads(image.manifest), **extra}
    return document


def put_manifest(client, repo, reference, payload, media_type=OCI_MANIFEST):
    return client.push_manifest(repo, reference, payload, media_type)


# --- manifests --------------------------------------------------------------------------------


def test_a_manifest_nested_100000_deep_is_invalid_not_a_crash(admin, repo):
    for payload in (DEEP, b'{"schemaVersion": 2, "layers": ' + DEEP + b"}"):
        response = put_manifest(admin, repo, "deep", payload)
        assert response.status_code == 400, response.text[:300]
        error = error_of(response)
        assert error["code"] == "MANIFEST_INVALID" and "nested deeper than" in error["message"]
    assert admin.request("GET", "/v2/").status_code == 200  # still serving


@pytest.mark.parametrize(
    "field, value",
    [
        ("artifactType", {}),
        ("artifactType", []),
        ("artifactType", 7),
        ("artifactType", ""),
        ("annotations", {"n": 5}),
        ("annotations", {"n": None}),
        ("annotations", []),
    ],
)
def test_manifest_fields_have_the_image_spec_types(admin, repo, field, value):
    document = image_manifest(admin, repo, **{field: value})
    response = put_manifest(admin, repo, "typed", json.dumps(document).encode())
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["code"] == "MANIFEST_INVALID" and error["message"].startswith(field)


def test_descriptor_fields_have_the_image_spec_types(admin, repo):
    document = image_manifest(admin, repo)
    for key, value in (("artifactType", {}), ("annotations", {"a": 1}), ("urls", [1])):
        changed = json.loads(json.dumps(document))
        changed["layers"][0][key] = value
        response = put_manifest(admin, repo, "typed", json.dumps(changed).encode())
        assert response.status_code == 400, (key, response.text)
        assert error_of(response)["message"].startswith(f"layers[0].{key}")


@pytest.mark.parametrize(
    "payload, words",
    [
        (b'{"schemaVersion": 2, "n": NaN}', "NaN is not JSON"),
        (b'{"schemaVersion": 2, "n": Infinity}', "Infinity is not JSON"),
        (b'{"schemaVersion": 2, "schemaVersion": 2}', "duplicate key"),
        (b'{"schemaVersion": 2, "a": "\\ud800"}', "lone surrogate"),
        (b'{"schemaVersion": 2, "a": "\xff"}', "not valid UTF-8"),
    ],
)
def test_json_that_is_not_safe_json_is_refused(admin, repo, payload, words):
    response = put_manifest(admin, repo, "strict", payload)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "MANIFEST_INVALID" and words in error["message"]


def test_nan_in_annotations_never_reaches_the_referrers_list(admin, repo):
    image = simple_image("nan-subject")
    subject = admin.push_image(repo, "subject", image)
    document = image_manifest(admin, repo)
    document["subject"] = {
        "mediaType": OCI_MANIFEST,
        "digest": subject,
        "size": len(image.manifest),
    }
    text = json.dumps(document)[:-1] + ', "annotations": {"n": NaN}}'
    assert put_manifest(admin, repo, sha256(text.encode()), text.encode()).status_code == 400
    referrers = admin.request("GET", f"/v2/{repo}/referrers/{subject}")
    assert referrers.status_code == 200
    assert json.loads(referrers.text)["manifests"] == []  # valid JSON, nothing NaN


# --- what is read back for display -------------------------------------------------------------


def test_a_config_nested_50000_deep_never_breaks_the_repository_page(dtr, admin, repo):
    config = b'{"architecture": ' + b"[" * 50_000 + b"]" * 50_000 + b', "os": "linux"}'
    layer = b"layer"
    for blob in (config, layer):
        admin.push_blob(repo, blob)
    manifest = raw_manifest(config, [("application/vnd.oci.image.layer.v1.tar", layer, {})])
    assert (
        put_manifest(admin, repo, "deep-config", json.dumps(manifest).encode()).status_code == 201
    )
    namespace, name = repo.split("/")
    tags = requests.get(f"{dtr.url}/api/v0/repositories/{repo}/tags", auth=ADMIN)
    assert tags.status_code == 200 and tags.json()["tags"][0]["name"] == "deep-config"
    session = requests.Session()
    page = session.get(f"{dtr.url}/login").text
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    session.post(
        f"{dtr.url}/login", data={"username": "admin", "password": ADMIN[1], "csrf_token": csrf}
    )
    shown = session.get(f"{dtr.url}/repositories/{namespace}/{name}")
    assert shown.status_code == 200 and "deep-config" in shown.text


def test_a_signature_that_cannot_be_read_is_listed_unverifiable(dtr, admin, repo):
    image = simple_image("sig-subject")
    subject = admin.push_image(repo, "signed", image)
    payload = b'{"critical": ' + b"[" * 32_000 + b"]" * 32_000 + b"}"
    config = b"{}"
    for blob in (payload, config):
        admin.push_blob(repo, blob)
    annotation = {"annotations": {SIGNATURE_ANNOTATION: sign(ec_key(), payload)}}
    manifest = raw_manifest(config, [(SIMPLE_SIGNING, payload, annotation)])
    tag = subject.replace(":", "-") + ".sig"
    response = put_manifest(admin, repo, tag, json.dumps(manifest).encode())
    assert response.status_code == 201, response.text
    tags = requests.get(f"{dtr.url}/api/v0/repositories/{repo}/tags", auth=ADMIN).json()
    signed = next(t for t in tags["tags"] if t["name"] == "signed")
    assert signed["signed"] is False
    assert [s["verified"] for s in signed["signatures"]] == [False]
    assert signed["signatures"][0]["problem"]


# --- the trust API ---------------------------------------------------------------------------


def test_trust_metadata_nested_100000_deep_is_refused(dtr, admin, repo):
    gun = f"{dtr.host}/{repo}"
    response = admin.request("POST", f"/v2/{gun}/_trust/tuf/", files={"root": ("root.json", DEEP)})
    assert response.status_code == 400, response.text[:300]
    assert error_of(response)["code"] == "INVALID_UPDATE"


@pytest.mark.parametrize(
    "file_name",
    ["%C2%B2.root.json", "99999999999999999999999.root.json", "1.%ED%A0%80.json", "..json"],
)
def test_odd_trust_file_names_are_not_found_without_logging_in(dtr, public_repo, file_name):
    response = requests.get(f"{dtr.url}/v2/{dtr.host}/{public_repo}/_trust/tuf/{file_name}")
    assert response.status_code == 404, response.text[:300]
    assert error_of(response)["code"] == "METADATA_NOT_FOUND"


def test_trust_versions_that_do_not_fit_are_not_found(dtr, admin, repo):
    response = admin.request("GET", f"/v2/{dtr.host}/{repo}/_trust/tuf/99999999999.root.json")
    assert response.status_code == 404
    assert error_of(response)["code"] == "METADATA_NOT_FOUND"


# --- the API -------------------------------------------------------------------------------------


@pytest.fixture
def api_user(dtr):
    name = f"hostile{socket.gethostname()[:3]}{id(dtr) % 1000}"
    body = {"name": name, "password": "hostile-password", "role": "none"}
    created = requests.post(f"{dtr.url}/api/v0/accounts", json=body, auth=ADMIN)
    assert created.status_code in (201, 409)
    return name


@pytest.mark.parametrize(
    "method, path, body, field",
    [
        ("PATCH", "/repositories/{repo}", {"shortDescription": "\ud800"}, "shortDescription"),
        ("PATCH", "/repositories/{repo}", {"longDescription": "a\udfffb"}, "longDescription"),
        ("PATCH", "/accounts/{org}/teams/owners", {"description": "\ud800"}, "description"),
        ("POST", "/accounts/{user}/changePassword", {"newPassword": "\ud800" * 20}, "newPassword"),
        ("POST", "/accounts", {"name": "\ud800", "password": "long-enough-pw"}, "name"),
        ("PUT", "/admin/settings/auth", {"mode": "\ud800"}, "mode"),
        ("POST", "/accounts/{user}/tokens", {"name": "t", "scopes": ["\ud800"]}, "scopes"),
        # NUL: PostgreSQL text cannot hold it (the insert failed: a 500)
        ("PATCH", "/repositories/{repo}", {"shortDescription": "a\x00b"}, "shortDescription"),
        ("POST", "/accounts", {"name": "nul\x00", "password": "long-enough-pw"}, "name"),
        ("POST", "/accounts/{user}/changePassword", {"newPassword": "long-\x00-pw"}, "newPassword"),
        ("POST", "/accounts/{user}/tokens", {"name": "t\x00", "scopes": ["api:read"]}, "name"),
    ],
)
def test_text_that_cannot_be_stored_in_api_strings_names_its_field(
    dtr, repo, api_user, method, path, body, field
):
    org = f"surrogates{id(dtr) % 1000}"
    requests.post(
        f"{dtr.url}/api/v0/accounts", json={"type": "organization", "name": org}, auth=ADMIN
    )
    path = path.format(repo=repo, org=org, user=api_user)
    data = json.dumps(body)  # ensure_ascii: the surrogate travels as \\ud800
    response = Api(dtr.url, *ADMIN).request(
        method, path, data=data, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["message"].startswith(f"{field}:") and error["detail"]["field"] == field


@pytest.mark.parametrize(
    "body",
    [
        b'{"key_id": "k", "private_key": "p", "authorization": "\xc3\xa9t\xc3\xa9"}',
        b'{"key_id": "k", "private_key": "p", "authorization": "\\ud800"}',
        b"[" * 100_000,
        b'{"key_id": NaN}',
        b"\xff\xfe",
    ],
)
def test_a_hostile_license_file_is_refused_with_a_reason(dtr, body):
    response = requests.put(f"{dtr.url}/api/v0/admin/settings/license", data=body, auth=ADMIN)
    assert response.status_code == 400, response.text[:300]
    check_against_document("PUT", "/admin/settings/license", response)


@pytest.mark.parametrize(
    "path",
    [
        "/v2/_catalog?last=%00",
        "/v2/{repo}/tags/list?last=a%00b",
        "/api/v0/repositories?q=%00",
        "/api/v0/index/search?q=%00",
        "/api/v0/repositories/{repo}/tags?q=%00",
        "/api/v0/accounts/admin%00x",
        "/api/v0/repositories?x%00=1",
        "/repositories?q=%00",
    ],
)
def test_nul_in_a_path_or_query_is_a_clear_400(dtr, repo, path):
    response = requests.get(dtr.url + path.format(repo=repo), auth=ADMIN)
    assert response.status_code == 400, response.text[:300]
    assert "NUL (U+0000) is not allowed" in response.text


def test_nul_in_credentials_is_refused_not_a_server_error(dtr, repo):
    for user, password in (("\x00", "\x00"), ("admin", "pass\x00word"), ("ad\x00min", "x")):
        response = requests.get(f"{dtr.url}/api/v0/accounts", auth=(user, password))
        assert response.status_code == 401, response.text[:300]
        token = requests.get(f"{dtr.url}/auth/token", auth=(user, password))
        assert token.status_code == 401, token.text[:300]
    assert requests.get(f"{dtr.url}/api/v0/accounts", auth=ADMIN).status_code == 200


def test_api_bodies_that_are_not_safe_json_are_refused(dtr):
    api = Api(dtr.url, *ADMIN)
    for data, words in (
        ('{"name": "x", "name": "y", "type": "organization"}', "duplicate key"),
        ('{"name": NaN}', "NaN"),
        ("[" * 100_000, "nested deeper"),
        ('{"a": ' * 70 + "1" + "}" * 70, "nested deeper than 64"),
    ):
        response = api.request(
            "POST", "/accounts", data=data, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400 and words in error_of(response)["message"], data[:40]


def test_log_lines_agree_with_the_document(dtr):
    requests.get(f"{dtr.url}/v2/")
    response = Api(dtr.url, *ADMIN).get("/admin/logs", params={"limit": 500})
    lines = response.json()["lines"]
    assert any(isinstance(line.get("durationMs"), float) for line in lines)


# --- protocol conformance -----------------------------------------------------------------


def test_a_reference_that_is_no_tag_is_an_unknown_manifest(admin, repo):
    for method in ("GET", "HEAD"):
        response = admin.request(method, f"/v2/{repo}/manifests/.INVALID_MANIFEST_NAME")
        assert response.status_code == 404
        if method == "GET":
            assert error_of(response)["code"] == "MANIFEST_UNKNOWN"
    document = image_manifest(admin, repo)
    response = put_manifest(admin, repo, ".INVALID_MANIFEST_NAME", json.dumps(document).encode())
    assert response.status_code == 400 and error_of(response)["code"] == "TAG_INVALID"


def test_a_generic_client_following_the_challenge_can_mount(dtr, repo):
    """The challenge of a mount names the source's pull scope too, so the token a client
    gets by following it allows the mount (201), as with CNCF distribution."""
    writer = RegistryClient(dtr.url, "writer", USERS["writer"][0])
    source = repo
    blob = b"mounted by a generic client"
    RegistryClient(dtr.url, *ADMIN).push_blob(source, blob)
    target = f"writer/mount{id(dtr) % 1000}"
    requests.post(f"{dtr.url}/api/v0/repositories/writer", json={"name": target[7:]}, auth=ADMIN)
    path = f"/v2/{target}/blobs/uploads/?mount={sha256(blob)}&from={source}"
    challenge = requests.post(dtr.url + path).headers["WWW-Authenticate"]
    assert f'scope="repository:{target}:pull,push repository:{source}:pull"' in challenge
    response = writer.request("POST", path)
    assert response.status_code == 201, response.text
    assert writer.request("HEAD", f"/v2/{target}/blobs/{sha256(blob)}").status_code == 200


# --- what gunicorn answers itself, and HTTPS -------------------------------------------------


def raw_request(server, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    "request_bytes, status, code",
    [
        (b"GET /v2/" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "URI_TOO_LONG"),
        (b"NOT A REQUEST LINE\r\n\r\n", 400, "BAD_REQUEST"),
        (b"GET /v2/ HTTP/1.1\r\nBad Header\r\n\r\n", 400, "BAD_REQUEST"),
    ],
)
def test_what_the_http_server_refuses_is_json(dtr, request_bytes, status, code):
    answer = raw_request(dtr, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status}".encode()), head
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["errors"][0]["code"] == code


def test_https_answers_carry_hsts(tmp_path):
    server = DTRProcess(tmp_path / "instance", http=False)
    server.start()
    try:
        response = requests.get(f"{server.url}/health", verify=False)
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    finally:
        server.stop()
