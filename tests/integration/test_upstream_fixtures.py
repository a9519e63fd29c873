"""Self-test of tests/support/upstream_registry.py, on real servers: Debian's docker-registry
(plain and with token auth from the Python token server), the faulty front before it, and the
pushing helpers (checked by skopeo, a real client, where it is installed)."""

import shutil
import subprocess
import time

import jwt
import pytest
import requests

from tests.support.images import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, sha256
from tests.support.upstream_registry import (
    SERVICE,
    SIGNATURE_ARTIFACT,
    FaultyFront,
    ReferenceRegistry,
    UpstreamClient,
    push_image,
    push_index,
    push_referrer,
)

ACCEPT = ",".join([DOCKER_MANIFEST, OCI_MANIFEST, OCI_INDEX])
ALICE = ("alice", "alice-password-1")


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    with ReferenceRegistry(tmp_path_factory.mktemp("upstream")) as registry:
        yield registry


@pytest.fixture(scope="module")
def token_upstream(tmp_path_factory):
    folder = tmp_path_factory.mktemp("token-upstream")
    with ReferenceRegistry(folder, token_auth=True, users=dict([ALICE])) as registry:
        yield registry


def manifest(url, name, reference, **options):
    return requests.get(f"{url}/v2/{name}/manifests/{reference}", **options)


def test_plain_registry_takes_a_pushed_image_and_gives_it_back(upstream, tmp_path):
    digest = push_image(upstream.url, "lib/hello", "v1", [b"one\n", b"two\n"])
    response = manifest(upstream.url, "lib/hello", "v1", headers={"Accept": ACCEPT})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == DOCKER_MANIFEST
    assert response.headers["Docker-Content-Digest"] == digest == sha256(response.content)
    body = response.json()
    for blob in [body["config"], *body["layers"]]:
        fetched = requests.get(f"{upstream.url}/v2/lib/hello/blobs/{blob['digest']}")
        assert fetched.status_code == 200 and sha256(fetched.content) == blob["digest"]
    if shutil.which("skopeo"):  # a real client checks every digest while copying
        copied = subprocess.run(
            [
                *("skopeo", "copy", "--src-tls-verify=false"),
                f"docker://{upstream.host}/lib/hello:v1",
                f"oci:{tmp_path / 'layout'}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert copied.returncode == 0, copied.stderr


def test_index_of_two_platforms_and_a_referrer(upstream):
    index_digest = push_index(upstream.url, "lib/multi", "v1")
    response = manifest(upstream.url, "lib/multi", "v1", headers={"Accept": OCI_INDEX})
    assert response.status_code == 200
    assert response.headers["Docker-Content-Digest"] == index_digest
    index = response.json()
    assert [entry["platform"]["architecture"] for entry in index["manifests"]] == [
        "amd64",
        "arm64",
    ]
    for entry in index["manifests"]:
        child = manifest(upstream.url, "lib/multi", entry["digest"], headers={"Accept": ACCEPT})
        assert child.status_code == 200 and sha256(child.content) == entry["digest"]

    referrer = push_referrer(upstream.url, "lib/multi", index_digest, payload=b"sig 1")
    body = manifest(upstream.url, "lib/multi", referrer, headers={"Accept": ACCEPT}).json()
    assert body["artifactType"] == SIGNATURE_ARTIFACT
    assert body["subject"]["digest"] == index_digest
    # distribution 2.8 has no referrers API: the fallback tag sha256-HEX lists it
    fallback = manifest(
        upstream.url, "lib/multi", index_digest.replace(":", "-"), headers={"Accept": OCI_INDEX}
    ).json()
    assert [entry["digest"] for entry in fallback["manifests"]] == [referrer]


def test_token_registry_challenges_a_request_without_a_token(token_upstream):
    response = requests.get(f"{token_upstream.url}/v2/")
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'realm="{token_upstream.token_server.realm}"' in challenge
    assert f'service="{SERVICE}"' in challenge


def test_a_token_of_a_user_grants_push_and_pull(token_upstream):
    digest = push_image(token_upstream.url, "team/app", "v1", auth=ALICE)
    assert ("alice", ["repository:team/app:pull,push"]) in token_upstream.token_server.issued
    alice = token_upstream.client(*ALICE)
    response = alice.get_manifest("team/app", "v1")
    assert response.status_code == 200
    assert response.headers["Docker-Content-Digest"] == digest
    claims = jwt.decode(
        alice.last_token,
        token_upstream.token_server.certificate.public_key(),
        algorithms=["RS256"],
        audience=SERVICE,
    )
    assert claims["sub"] == "alice"
    assert claims["access"] == [{"type": "repository", "name": "team/app", "actions": ["pull"]}]


def test_wrong_password_and_anonymous_pulls_are_refused(token_upstream):
    push_image(token_upstream.url, "team/private", "v1", auth=ALICE)
    wrong = requests.get(
        token_upstream.token_server.realm,
        params={"service": SERVICE, "scope": "repository:team/private:pull"},
        auth=("alice", "wrong"),
    )
    assert wrong.status_code == 401
    anonymous = UpstreamClient(token_upstream.url)
    response = anonymous.get_manifest("team/private", "v1")
    assert response.status_code == 401
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert anonymous.token_requests == 1  # it had a token, which granted nothing
    with pytest.raises(AssertionError, match="401"):
        push_image(token_upstream.url, "team/private", "v2")


def test_anonymous_pull_when_allowed_but_never_push(token_upstream, monkeypatch):
    digest = push_image(token_upstream.url, "team/public", "v1", auth=ALICE)
    monkeypatch.setattr(token_upstream.token_server, "anonymous_pull", True)
    response = UpstreamClient(token_upstream.url).get_manifest("team/public", "v1")
    assert response.status_code == 200
    assert response.headers["Docker-Content-Digest"] == digest
    with pytest.raises(AssertionError, match="401"):
        push_image(token_upstream.url, "team/public", "v2")


def test_front_forwards_counts_and_rewrites_the_upstream_address(upstream):
    with FaultyFront(upstream.url) as front:
        digest = push_image(front.url, "lib/fronted", "v1", [b"through the front\n"])
        assert front.count("PUT", "/manifests/v1") == 1
        assert front.count("POST", "/blobs/uploads/") == 2  # the layer and the config
        response = manifest(front.url, "lib/fronted", "v1", headers={"Accept": ACCEPT})
        assert response.headers["Docker-Content-Digest"] == digest
        assert front.count("GET", "/v2/lib/fronted/manifests/") == 1

        # an upload by chunked PATCH: Location names the front, the body streams through
        started = requests.post(f"{front.url}/v2/lib/fronted/blobs/uploads/")
        assert started.status_code == 202
        assert started.headers["Location"].startswith(f"{front.url}/v2/lib/fronted/")
        data = [b"a" * 70000, b"b" * 5, b"c" * 100000]
        patched = requests.patch(started.headers["Location"], data=iter(data))
        assert patched.status_code == 202, patched.text
        blob = b"".join(data)
        done = requests.put(patched.headers["Location"], params={"digest": sha256(blob)})
        assert done.status_code == 201, done.text
        fetched = requests.get(f"{front.url}/v2/lib/fronted/blobs/{sha256(blob)}")
        assert fetched.content == blob
        assert front.counts()[("PATCH", patched.request.path_url)] == 1


def test_front_faults_by_mode(upstream):
    push_image(upstream.url, "lib/faults", "v1")
    path = "/v2/lib/faults/manifests/v1"
    with FaultyFront(upstream.url) as front:
        front.mode = "429"
        limited = requests.get(front.url + path, headers={"Accept": ACCEPT})
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "60"
        assert limited.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
        # a body sent with a faulted request is read, so the answer is heard
        assert requests.put(front.url + path, data=b"x" * 300000).status_code == 429

        front.mode = "503"
        assert requests.get(front.url + path).status_code == 503

        front.mode = "down"
        with pytest.raises(requests.ConnectionError):
            requests.get(front.url + path, timeout=5)

        front.mode, front.delay = "slow", 0.4
        started = time.monotonic()
        assert requests.get(front.url + path, headers={"Accept": ACCEPT}).status_code == 200
        assert time.monotonic() - started >= 0.4

        front.mode, front.fault_path = "503", "/blobs/"
        assert requests.get(front.url + path, headers={"Accept": ACCEPT}).status_code == 200

        front.mode, front.fault_path = "pass", None
        assert requests.get(front.url + path, headers={"Accept": ACCEPT}).status_code == 200
        assert front.count("GET", path) == 6  # the faulted ones count too
        assert front.count("PUT") == 1
        with pytest.raises(ValueError):
            front.mode = "sideways"


@pytest.mark.parametrize("token_auth", [False, True], ids=["plain", "token"])
def test_a_stopped_registry_starts_again_with_its_data(tmp_path, token_auth):
    users = dict([ALICE]) if token_auth else None
    auth = ALICE if token_auth else None
    with ReferenceRegistry(tmp_path, token_auth=token_auth, users=users) as registry:
        digest = push_image(registry.url, "lib/kept", "v1", auth=auth)
        url = registry.url
        with FaultyFront(registry.url) as front:
            registry.stop()
            assert not registry.running
            with pytest.raises(requests.ConnectionError):
                requests.get(f"{url}/v2/", timeout=2)
            assert requests.get(f"{front.url}/v2/").status_code == 502
            registry.start()
            assert registry.url == url
            client = UpstreamClient(front.url, *(auth or (None, None)))
            response = client.get_manifest("lib/kept", "v1")
            assert response.status_code == 200
            assert response.headers["Docker-Content-Digest"] == digest
    assert (tmp_path / "storage").is_dir()  # a folder given is not removed
