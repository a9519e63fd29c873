"""DTR's own container image, built and run the way a team would, under the private dockerd:

- the base is made here from Debian packages (no image can be pulled): `debootstrap` of
  bookworm with python3 and python3-venv, imported with `docker import`, passed to the
  Dockerfile as BASE; the build installs the pinned requirements (wheels) from PyPI;
- the container serves HTTPS on its port as `make run` does, runs as a user without
  privileges, reports healthy, carries no compiler; the real docker CLI logs in, pushes and
  pulls through it; the data survives `docker rm` and a new container on the same volume;
- compose.yaml is valid for Debian's docker-compose, and starts DTR from the built image.
"""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.support.images import sha256, simple_image
from tests.support.server import ROOT, free_port

from .conftest import Docker, run, tool

pytestmark = pytest.mark.e2e
IMAGE = "dtr-under-test:latest"
BASE = "dtr-test-base:bookworm"
PASSWORD = "container-admin-password"
MIRROR = "http://deb.debian.org/debian"
HOST_CA_BUNDLE = os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt"


def _mirror():
    """The Debian mirror apt uses here (the first URIs of debian.sources), else deb.debian.org."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    return MIRROR


@pytest.fixture(scope="module")
def built(dockerd, tmp_path_factory):
    """(docker client, image size in bytes): the base from debootstrap, then DTR's image."""
    tool("debootstrap")
    folder = tmp_path_factory.mktemp("image")
    docker = Docker(dockerd, folder / "docker-config")
    (folder / "docker-config").mkdir()
    rootfs = folder / "rootfs"
    started = time.monotonic()
    run(
        [
            "debootstrap",
            "--variant=minbase",
            "--include=python3,python3-venv",
            "bookworm",
            str(rootfs),
            _mirror(),
        ],
        timeout=1200,
    )
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):  # what apt downloaded
        shutil.rmtree(rootfs / cache, ignore_errors=True)
    imported = subprocess.run(
        f"tar -C {rootfs} -c . | docker import - {BASE}",
        shell=True,
        env=docker.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert imported.returncode == 0, imported.stderr
    shutil.rmtree(rootfs, ignore_errors=True)
    print(f"base image made in {time.monotonic() - started:.0f} s")
    started = time.monotonic()
    context = folder / "context"  # what the Dockerfile copies, and this host's CA bundle:
    context.mkdir()  # pip in the build must trust the TLS of the way out as pip here does
    for name in ("Dockerfile", ".dockerignore", "requirements.txt", "app.py"):
        shutil.copy2(ROOT / name, context / name)
    shutil.copytree(ROOT / "dtr", context / "dtr", ignore=shutil.ignore_patterns("__pycache__"))
    if Path(HOST_CA_BUNDLE).exists():
        shutil.copy2(HOST_CA_BUNDLE, context / "build-ca.crt")
    docker(
        "build",
        "--network",
        "host",
        "--build-arg",
        f"BASE={BASE}",
        "--build-arg",
        "VERSION=test",
        "-t",
        IMAGE,
        str(context),
        timeout=1800,
    )
    size = int(docker("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout.strip())
    base_size = int(docker("image", "inspect", "--format", "{{.Size}}", BASE).stdout.strip())
    print(
        f"image built in {time.monotonic() - started:.0f} s: {size / 2**20:.0f} MiB "
        f"(base {base_size / 2**20:.0f} MiB)"
    )
    yield docker, size, base_size


def start(docker, volume, port, name):
    docker(
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "host",
        "--health-interval",
        "2s",
        "--health-start-period",
        "60s",
        "-e",
        f"DTR_HEALTH_URL=https://127.0.0.1:{port}/health",
        "-v",
        f"{volume}:/var/lib/dtr/instance",
        IMAGE,
        "serve",
        "--bind",
        f"127.0.0.1:{port}",
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"https://127.0.0.1:{port}/health", verify=False, timeout=2).ok:
                return
        except requests.RequestException:
            pass
        state = docker("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
        assert state == "running", docker("logs", name, ok=None).stderr
        time.sleep(0.5)
    pytest.fail(f"DTR did not answer: {docker('logs', name, ok=None).stderr}")


def test_the_image_serves_push_and_pull_and_keeps_its_data(built, tmp_path):
    docker, size, base_size = built
    port, volume = free_port(), f"dtr-data-{os.getpid()}"
    start(docker, volume, port, "dtr-first")
    try:
        # not root; no compiler; the version label
        assert docker("exec", "dtr-first", "id", "-u").stdout.strip() != "0"
        tools = docker("exec", "dtr-first", "sh", "-c", "command -v gcc cc make", ok=None)
        assert tools.stdout.strip() == ""
        labels = json.loads(
            docker("image", "inspect", "--format", "{{json .Config.Labels}}", IMAGE).stdout
        )
        assert labels["org.opencontainers.image.version"] == "test"
        # the HTTPS listener with the instance's own certificate, as `make run`
        assert requests.get(f"https://127.0.0.1:{port}/ca.crt", verify=False).ok
        made = docker(
            "exec",
            "-i",
            "dtr-first",
            "python",
            "app.py",
            "create-user",
            "admin",
            "--role",
            "admin",
            "--password-stdin",
            input=PASSWORD + "\n",
        )
        assert "admin" in made.stdout + made.stderr
        deadline = time.monotonic() + 90
        while (
            docker("inspect", "--format", "{{.State.Health.Status}}", "dtr-first").stdout.strip()
            != "healthy"
        ):
            assert time.monotonic() < deadline, "the health check never passed"
            time.sleep(1)
        # docker login, push, pull
        address = f"127.0.0.1:{port}"
        docker("login", address, "-u", "admin", "--password-stdin", input=PASSWORD + "\n")
        image = simple_image("container", docker=True)
        reference = f"{address}/admin/app:1"
        docker.load(image, reference, tmp_path)
        created = docker("exec", "dtr-first", "python", "app.py", "create-repo", "admin/app")
        assert created.returncode == 0
        pushed = docker("push", reference)
        assert sha256(image.manifest) in pushed.stdout or "digest: sha256:" in pushed.stdout
        docker("rmi", reference)
        docker("pull", reference)
        assert docker.image_id(reference) == sha256(image.config)
    finally:
        docker("rm", "-f", "dtr-first", ok=None)

    # a new container on the same volume: the user, the repository and the image are there
    docker("rmi", reference)
    port = free_port()
    start(docker, volume, port, "dtr-second")
    try:
        address = f"127.0.0.1:{port}"
        reference = f"{address}/admin/app:1"
        docker("login", address, "-u", "admin", "--password-stdin", input=PASSWORD + "\n")
        docker("pull", reference)
        assert docker.image_id(reference) == sha256(image.config)
    finally:
        docker("rm", "-f", "dtr-second", ok=None)
        docker("volume", "rm", "-f", volume, ok=None)
    print(f"DTR's image: {size / 2**20:.0f} MiB, of which the base {base_size / 2**20:.0f} MiB")
    assert size - base_size < 250 * 2**20, "DTR's layers grew beyond 250 MiB"


def test_compose_file_is_valid_and_starts_dtr(built):
    docker, _, _ = built
    tool("docker-compose")
    port = free_port()
    env = {**docker.env, "DTR_IMAGE": IMAGE, "DTR_PORT": str(port)}
    compose = ["docker-compose", "--project-directory", str(ROOT), "-f", str(ROOT / "compose.yaml")]
    config = run([*compose, "config"], env=env)
    assert f"image: {IMAGE}" in config.stdout and "/var/lib/dtr/instance" in config.stdout
    assert f"published: {port}" in config.stdout or f"{port}:8443" in config.stdout
    with_postgres = run([*compose, "--profile", "postgresql", "config"], env=env)
    assert "postgres:15-bookworm" in with_postgres.stdout
    project = ["-p", f"dtrtest{os.getpid()}"]
    # DTR alone (the postgresql profile would need an image pulled: none can be here)
    run([*compose, *project, "up", "-d", "--no-build", "dtr"], env=env)
    try:
        deadline = time.monotonic() + 120
        while True:  # through the published port, as a client reaches it
            try:
                health = requests.get(f"https://127.0.0.1:{port}/health", verify=False, timeout=2)
                if health.ok:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, run([*compose, *project, "logs"], env=env).stdout
            time.sleep(1)
        running = run(
            [*compose, *project, "ps", "--services", "--filter", "status=running"], env=env
        )
        assert running.stdout.split() == ["dtr"]
    finally:
        run([*compose, *project, "down", "-v"], env=env, ok=None)
