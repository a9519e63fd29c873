"""Blob reads and every way of uploading one, with the errors the spec names."""

import os
import socket
from pathlib import Path

import requests

from tests.support.images import sha256


def stored_blob_files(dtr):
    return [p for p in (dtr.instance / "storage" / "blobs").rglob("*") if p.is_file()]


def upload_files(dtr):
    folder = dtr.instance / "storage" / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_monolithic_post_then_head_get_and_range(admin, repo):
    data = os.urandom(100_000)
    digest = sha256(data)
    response = admin.request(
        "POST", f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, data=data
    )
    assert response.status_code == 201
    assert response.headers["Location"] == f"/v2/{repo}/blobs/{digest}"
    assert response.headers["Docker-Content-Digest"] == digest
    head = admin.request("HEAD", f"/v2/{repo}/blobs/{digest}")
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len(data))
    assert head.headers["Docker-Content-Digest"] == digest
    get = admin.request("GET", f"/v2/{repo}/blobs/{digest}")
    assert get.content == data and get.headers["Docker-Content-Digest"] == digest
    part = admin.request("GET", f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    outside = admin.request(
        "GET", f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=200000-300000"}
    )
    assert outside.status_code == 416


def test_post_then_put_with_body(admin, repo):
    data = b"hello blob"
    start = admin.request("POST", f"/v2/{repo}/blobs/uploads/")
    assert start.status_code == 202
    assert start.headers["Docker-Upload-UUID"]
    location = start.headers["Location"]
    assert location.startswith(f"/v2/{repo}/blobs/uploads/")
    done = admin.request("PUT", location, params={"digest": sha256(data)}, data=data)
    assert done.status_code == 201
    assert admin.request("GET", f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_chunked_upload_with_status_and_out_of_order_chunk(admin, repo):
    data = os.urandom(30)
    location = admin.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    first = admin.request(
        "PATCH",
        location,
        data=data[:10],
        headers={"Content-Range": "0-9", "Content-Type": "application/octet-stream"},
    )
    assert first.status_code == 202
    assert first.headers["Range"] == "0-9"
    location = first.headers["Location"]
    out_of_order = admin.request(
        "PATCH", location, data=data[20:], headers={"Content-Range": "20-29"}
    )
    assert out_of_order.status_code == 416
    assert out_of_order.headers["Range"] == "0-9"
    second = admin.request("PATCH", location, data=data[10:20], headers={"Content-Range": "10-19"})
    assert second.status_code == 202 and second.headers["Range"] == "0-19"
    status = admin.request("GET", location)
    assert status.status_code == 204
    assert status.headers["Range"] == "0-19"
    assert status.headers["Docker-Upload-UUID"]
    done = admin.request("PUT", location, params={"digest": sha256(data)}, data=data[20:])
    assert done.status_code == 201
    assert admin.request("GET", f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_streamed_patch_without_content_length(admin, repo):
    chunks = [os.urandom(70_000) for _ in range(5)]
    data = b"".join(chunks)
    location = admin.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    patch = admin.request("PATCH", location, data=iter(chunks))  # chunked transfer encoding
    assert patch.status_code == 202
    assert patch.headers["Range"] == f"0-{len(data) - 1}"
    done = admin.request("PUT", patch.headers["Location"], params={"digest": sha256(data)})
    assert done.status_code == 201


def test_cancel_upload(admin, repo, dtr):
    location = admin.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    admin.request("PATCH", location, data=b"abc")
    upload_id = location.rsplit("/", 1)[1]
    assert upload_id in upload_files(dtr)
    assert admin.request("DELETE", location).status_code == 204
    gone = admin.request("GET", location)
    assert gone.status_code == 404
    assert gone.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
    assert upload_id not in upload_files(dtr)


def test_wrong_digest_stores_nothing(admin, repo, dtr):
    data = b"the real content"
    wrong = sha256(b"something else")
    response = admin.request(
        "POST", f"/v2/{repo}/blobs/uploads/", params={"digest": wrong}, data=data
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "DIGEST_INVALID"
    location = admin.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    response = admin.request("PUT", location, params={"digest": wrong}, data=data)
    assert response.json()["errors"][0]["code"] == "DIGEST_INVALID"
    for digest in (wrong, sha256(data)):
        assert admin.request("HEAD", f"/v2/{repo}/blobs/{digest}").status_code == 404
    names = {p.name for p in stored_blob_files(dtr)}
    assert wrong.split(":")[1] not in names and sha256(data).split(":")[1] not in names
    malformed = admin.request("PUT", location, params={"digest": "sha256:xyz"})
    assert malformed.status_code in (400, 404)


def test_unknown_blob_and_upload(admin, repo):
    missing = sha256(b"never pushed")
    response = admin.request("GET", f"/v2/{repo}/blobs/{missing}")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
    assert admin.request("HEAD", f"/v2/{repo}/blobs/{missing}").status_code == 404
    response = admin.request("PATCH", f"/v2/{repo}/blobs/uploads/nope", data=b"x")
    assert response.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"


def test_upload_of_another_repository_is_unknown(admin, repo, dtr):
    other = repo + "-other"
    assert dtr.cli("create-repo", other).returncode == 0
    location = admin.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    upload_id = location.rsplit("/", 1)[1]
    response = admin.request("PATCH", f"/v2/{other}/blobs/uploads/{upload_id}", data=b"x")
    assert response.status_code == 404


def test_blob_pushed_to_two_repositories_is_stored_once(admin, repo, public_repo, dtr):
    data = os.urandom(5000)
    admin.push_blob(repo, data)
    admin.push_blob(public_repo, data)
    hexdigest = sha256(data).split(":")[1]
    assert [p.name for p in stored_blob_files(dtr)].count(hexdigest) == 1


def test_cross_repository_mount(client_for, repo, dtr):
    admin = client_for("admin")
    data = os.urandom(2048)
    digest = admin.push_blob(repo, data)
    target = repo + "-mount"
    assert dtr.cli("create-repo", target).returncode == 0
    # as docker does: one token for both repositories
    challenge = requests.get(f"{dtr.url}/v2/").headers["WWW-Authenticate"]
    service = challenge.split('service="')[1].split('"')[0]
    token = admin.session.get(
        f"{dtr.url}/auth/token",
        params={
            "service": service,
            "scope": [f"repository:{target}:pull,push", f"repository:{repo}:pull"],
        },
        auth=("admin", "admin-password-1"),
    ).json()["token"]
    mounted = admin.request(
        "POST",
        f"/v2/{target}/blobs/uploads/",
        params={"mount": digest, "from": repo},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert mounted.status_code == 201
    assert mounted.headers["Location"] == f"/v2/{target}/blobs/{digest}"
    assert admin.request("GET", f"/v2/{target}/blobs/{digest}").content == data
    # a user who may not pull the source gets a normal upload instead
    assert dtr.cli("create-repo", "nobody/mine").returncode in (0, 1)
    nobody = client_for("nobody")
    fallback = nobody.request(
        "POST", "/v2/nobody/mine/blobs/uploads/", params={"mount": digest, "from": repo}
    )
    assert fallback.status_code == 202
    assert nobody.request("HEAD", f"/v2/nobody/mine/blobs/{digest}").status_code == 404


def test_delete_blob_unlinks_it(admin, repo):
    digest = admin.push_blob(repo, os.urandom(64))
    assert admin.request("DELETE", f"/v2/{repo}/blobs/{digest}").status_code == 202
    assert admin.request("HEAD", f"/v2/{repo}/blobs/{digest}").status_code == 404


def _raw_request(dtr, head: bytes, body: bytes):
    """Send a request whose body is shorter than its Content-Length, then hang up."""
    with socket.create_connection(("127.0.0.1", dtr.port)) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(10)
        try:
            return sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            return b""


def test_truncated_uploads_store_nothing_and_server_keeps_serving(admin, repo, dtr):
    data = os.urandom(1000)
    digest = sha256(data)
    auth = "Basic YWRtaW46YWRtaW4tcGFzcw=="  # admin:admin-password-1
    head = (
        f"POST /v2/{repo}/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {auth}\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode()
    _raw_request(dtr, head, data[:400])
    assert admin.request("HEAD", f"/v2/{repo}/blobs/{digest}").status_code == 404
    assert digest.split(":")[1] not in {p.name for p in stored_blob_files(dtr)}
    # a truncated chunk leaves the upload as it was before the chunk
    location = admin.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    admin.request("PATCH", location, data=data[:100], headers={"Content-Range": "0-99"})
    head = (
        f"PATCH {location} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n"
        f"Content-Range: 100-999\r\nContent-Length: 900\r\n\r\n"
    ).encode()
    _raw_request(dtr, head, data[100:500])
    status = admin.request("GET", location)
    assert status.headers["Range"] == "0-99"
    resumed = admin.request(
        "PATCH", location, data=data[100:], headers={"Content-Range": "100-999"}
    )
    assert resumed.status_code == 202
    assert admin.request("PUT", location, params={"digest": digest}).status_code == 201
    assert admin.request("GET", f"/v2/{repo}/blobs/{digest}").content == data


def test_no_partial_files_left_in_blob_paths(dtr):
    for path in stored_blob_files(dtr):
        assert Path(path).stat().st_size >= 0
        assert not path.name.endswith(".tmp")
