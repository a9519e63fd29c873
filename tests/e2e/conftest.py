"""Fixtures for end-to-end tests: real docker, skopeo, podman and buildah against DTR.

Nothing is pulled from the internet: every image is built by the tests (tests.support.images)
and brought into each tool from a local archive or OCI layout. A missing tool is a failure,
not a skip: CI installs them all (`make system-deps`).
"""

import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import pytest
import requests
import urllib3

from tests.support.client import RegistryClient
from tests.support.images import sha256
from tests.support.server import USERS, DTRProcess

_repo_names = itertools.count()


def tool(name):
    """The path of an installed tool; fails the test when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: end-to-end tests need it (make system-deps)")
    return path


def run(args, *, env=None, input=None, ok=True, timeout=180):
    """Run a command. ok=True: it must succeed; ok=False: it must fail; None: either."""
    args = [str(a) for a in args]
    result = subprocess.run(
        args, env=env, input=input, capture_output=True, text=True, timeout=timeout
    )
    if ok is not None and (result.returncode == 0) != ok:
        expected = "succeed" if ok else "fail"
        pytest.fail(
            f"expected `{' '.join(args)}` to {expected}, exit status {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def registry_client(server, user="admin", verify=False):
    """The Python OCI client, logged in as `user` (None: anonymous), for checking results;
    `verify`: a CA file for an HTTPS server."""
    password = USERS[user][0] if user else None
    return RegistryClient(server.url, user, password, verify=verify)


def stored_blobs_ok(client, repo, manifest: dict):
    """Assert the config and every layer of `manifest` download from `repo` with their
    digest; returns {digest: bytes}."""
    blobs = {}
    for descriptor in [manifest["config"], *manifest["layers"]]:
        response = client.request("GET", f"/v2/{repo}/blobs/{descriptor['digest']}")
        assert response.status_code == 200, (descriptor, response.text)
        assert sha256(response.content) == descriptor["digest"]
        assert len(response.content) == descriptor["size"]
        blobs[descriptor["digest"]] = response.content
    return blobs


def tags_of(client, repo):
    response = client.request("GET", f"/v2/{repo}/tags/list")
    assert response.status_code == 200, response.text
    return response.json()["tags"] or []


# --- DTR servers and repositories -------------------------------------------------------


@pytest.fixture(scope="session")
def dtr_https(tmp_path_factory):
    """A second DTR, serving HTTPS with its self-signed certificate (served at /ca.crt)."""
    server = DTRProcess(tmp_path_factory.mktemp("dtrs") / "instance", http=False)
    server.create_users()
    with _quiet_insecure_warnings():
        server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def https_cert_dir(dtr_https):
    """A folder holding the HTTPS DTR's certificate as `ca.crt` (a containers cert dir)."""
    with _quiet_insecure_warnings():
        response = requests.get(f"{dtr_https.url}/ca.crt", verify=False, timeout=10)
    assert response.status_code == 200
    assert b"BEGIN CERTIFICATE" in response.content
    folder = Path(tempfile.mkdtemp(prefix="certs", dir="/tmp"))
    (folder / "ca.crt").write_bytes(response.content)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _quiet_insecure_warnings():
    """requests with verify=False to the HTTPS DTR (fetching its certificate)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        yield


@pytest.fixture
def make_repo(dtr):
    """make_repo(server=dtr, public=False, namespace="admin") -> a new repository name."""

    def make(server=None, public=False, namespace="admin"):
        server = server or dtr
        name = f"{namespace}/e2e{next(_repo_names)}"
        args = ["create-repo", name] + (["--public"] if public else [])
        result = server.cli(*args)
        assert result.returncode == 0, result.stderr
        return name

    return make


# --- docker -----------------------------------------------------------------------------


class DockerDaemon:
    def __init__(self, folder: Path):
        self.folder = folder
        self.socket = folder / "docker.sock"
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{self.socket}"}
        self.env.pop("DOCKER_CONTEXT", None)
        self.env.pop("DOCKER_TLS_VERIFY", None)


@contextlib.contextmanager
def running_dockerd(config=None):
    """A private dockerd (vfs storage, no networking), its own socket and data folders;
    `config`: more of its daemon.json (registry-mirrors...)."""
    dockerd_path = tool("dockerd")
    tool("docker")
    folder = Path(tempfile.mkdtemp(prefix="dk", dir="/tmp"))  # short: unix socket path limit
    (folder / "daemon.json").write_text(
        json.dumps({"deprecated-key-path": str(folder / "key.json"), **(config or {})})
    )
    daemon = DockerDaemon(folder)
    log = open(folder / "dockerd.log", "wb")
    process = subprocess.Popen(
        [
            dockerd_path,
            "--config-file",
            folder / "daemon.json",
            "--storage-driver=vfs",
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            "--data-root",
            folder / "root",
            "--exec-root",
            folder / "exec",
            "--pidfile",
            folder / "pid",
            "-H",
            f"unix://{daemon.socket}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    env = {**daemon.env, "DOCKER_CONFIG": str(folder / "client")}
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"dockerd exited:\n{(folder / 'dockerd.log').read_text()}")
            if run(["docker", "version"], env=env, ok=None, timeout=30).returncode == 0:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"dockerd did not start:\n{(folder / 'dockerd.log').read_text()}")
            time.sleep(0.3)
        yield daemon
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def dockerd():
    """A private dockerd for the session."""
    with running_dockerd() as daemon:
        yield daemon


class Docker:
    """The docker CLI talking to the private daemon, with its own config folder (logins)."""

    def __init__(self, daemon: DockerDaemon, config_dir: Path):
        self.config_dir = config_dir
        self.env = {**daemon.env, "DOCKER_CONFIG": str(config_dir)}

    def __call__(self, *args, input=None, ok=True, timeout=180):
        return run(["docker", *args], env=self.env, input=input, ok=ok, timeout=timeout)

    def login(self, server, user, password=None, ok=True):
        password = USERS[user][0] if password is None else password
        return self(
            "login", server.host, "-u", user, "--password-stdin", input=password + "\n", ok=ok
        )

    def load(self, image, reference, folder: Path):
        """`docker load` of `image` tagged `reference`; returns the image id."""
        archive = image.docker_archive(folder / f"load{next(_repo_names)}.tar", reference)
        result = self("load", "-i", archive)
        assert f"Loaded image: {reference}" in result.stdout, result.stdout
        return self.image_id(reference)

    def image_id(self, reference):
        return self("image", "inspect", "--format", "{{.Id}}", reference).stdout.strip()

    def inspect(self, reference):
        return json.loads(self("image", "inspect", reference).stdout)[0]

    def auths(self):
        config = self.config_dir / "config.json"
        return json.loads(config.read_text()).get("auths", {}) if config.exists() else {}


@pytest.fixture
def docker(dockerd, tmp_path):
    config = tmp_path / "docker-config"
    config.mkdir()
    return Docker(dockerd, config)


# --- skopeo -----------------------------------------------------------------------------


@pytest.fixture
def skopeo(tmp_path):
    """skopeo(*args, ok=True): skopeo with an empty private auth file."""
    tool("skopeo")
    auth = tmp_path / "skopeo-auth.json"
    auth.write_text("{}")
    env = {**os.environ, "REGISTRY_AUTH_FILE": str(auth)}

    def skopeo(*args, ok=True, timeout=180):
        return run(["skopeo", *args], env=env, ok=ok, timeout=timeout)

    return skopeo


# --- podman and buildah -----------------------------------------------------------------


class Containers:
    """podman and buildah sharing one private vfs storage (no systemd, no runtime needed)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.auth_file = folder / "auth.json"
        self.auth_file.write_text("{}")
        (folder / "tmp").mkdir()
        self.env = {**os.environ, "REGISTRY_AUTH_FILE": str(self.auth_file)}
        self.storage = [
            "--root",
            folder / "root",
            "--runroot",
            folder / "runroot",
            "--storage-driver",
            "vfs",
        ]

    def podman(self, *args, input=None, ok=True, timeout=180):
        command = [
            "podman",
            *self.storage,
            "--tmpdir",
            self.folder / "tmp",
            "--cgroup-manager=cgroupfs",
            "--events-backend=file",
            *args,
        ]
        return run(command, env=self.env, input=input, ok=ok, timeout=timeout)

    def buildah(self, *args, ok=True, timeout=180):
        return run(["buildah", *self.storage, *args], env=self.env, ok=ok, timeout=timeout)

    def auths(self):
        return json.loads(self.auth_file.read_text()).get("auths", {})


@pytest.fixture
def containers():
    tool("podman")
    tool("buildah")
    folder = Path(tempfile.mkdtemp(prefix="pd", dir="/tmp"))
    box = Containers(folder)
    yield box
    box.buildah("rm", "--all", ok=None)
    box.podman("rmi", "--all", "--force", ok=None)
    shutil.rmtree(folder, ignore_errors=True)
