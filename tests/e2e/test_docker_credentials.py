"""The real docker CLI with the credentials CI uses: a personal access token and a robot
account as `docker login` passwords (push where granted, refused elsewhere, refused after
revocation), and what `docker login` shows while a name is locked by the login throttle."""

import html
import re

import pytest
import requests

from tests.support.images import simple_image
from tests.support.server import USERS, DTRProcess

from .conftest import registry_client, run

pytestmark = pytest.mark.e2e

ADMIN = ("admin", USERS["admin"][0])
DENIED = ("denied", "unauthorized", "insufficient_scope")


def api(server, method, path, auth=ADMIN, **kwargs):
    response = requests.request(method, f"{server.url}/api/v0{path}", auth=auth, **kwargs)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def refused(result):
    return any(word in result.stderr.lower() for word in DENIED)


def test_docker_login_with_a_personal_access_token(docker, dtr, make_repo, tmp_path):
    repo, other = make_repo(namespace="writer"), make_repo()
    created = api(
        dtr,
        "POST",
        "/accounts/writer/tokens",
        auth=("writer", USERS["writer"][0]),
        json={"name": "ci", "scopes": ["registry:pull", "registry:push"]},
    )
    login = docker.login(dtr, "writer", password=created["token"])
    assert "Login Succeeded" in login.stdout
    image = simple_image("pat", docker=True)
    reference = f"{dtr.host}/{repo}:1"
    docker.load(image, reference, tmp_path)
    docker("push", reference)
    docker("rmi", reference)
    docker("pull", reference)
    # writer may push anywhere (global read-write), but a token of a read-only scope may not
    pull_only = api(
        dtr,
        "POST",
        "/accounts/writer/tokens",
        auth=("writer", USERS["writer"][0]),
        json={"name": "pull-only", "scopes": ["registry:pull"]},
    )
    docker.login(dtr, "writer", password=pull_only["token"])
    docker("pull", reference)
    elsewhere = f"{dtr.host}/{other}:1"
    docker("tag", reference, elsewhere)
    assert refused(docker("push", elsewhere, ok=False))
    # revoked: the stored credentials stop working at once
    api(
        dtr,
        "DELETE",
        f"/accounts/writer/tokens/{pull_only['id']}",
        auth=("writer", USERS["writer"][0]),
    )
    docker("rmi", reference)
    assert refused(docker("pull", reference, ok=False))
    failed = docker.login(dtr, "writer", password=pull_only["token"], ok=False)
    assert "incorrect username or password" in failed.stderr.lower()


def test_docker_login_as_a_robot(docker, dtr, tmp_path):
    org = "robots-e2e"
    api(dtr, "POST", "/accounts", json={"type": "organization", "name": org})
    for name in ("granted", "other"):
        api(dtr, "POST", f"/repositories/{org}", json={"name": name})
    robot = api(
        dtr,
        "POST",
        f"/organizations/{org}/robots",
        json={
            "name": "ci",
            "access": [{"repository": f"{org}/granted", "actions": ["pull", "push"]}],
        },
    )
    login = docker.login(dtr, robot["name"], password=robot["secret"])
    assert "Login Succeeded" in login.stdout
    image = simple_image("robot", docker=True)
    granted = f"{dtr.host}/{org}/granted:1"
    docker.load(image, granted, tmp_path)
    docker("push", granted)
    other = f"{dtr.host}/{org}/other:1"
    docker("tag", granted, other)
    assert refused(docker("push", other, ok=False))
    api(dtr, "PATCH", f"/organizations/{org}/robots/ci", json={"enabled": False})
    docker("rmi", granted)
    assert refused(docker("pull", granted, ok=False))
    failed = docker.login(dtr, robot["name"], password=robot["secret"], ok=False)
    assert "incorrect username or password" in failed.stderr.lower()


def test_docker_login_shows_the_throttle(docker, tmp_path):
    server = DTRProcess(tmp_path / "instance", throttle=True)
    server.create_users({"admin": USERS["admin"]})
    server.start()
    try:
        for n in range(5):
            docker.login(server, "admin", password=f"guess-{n}", ok=False)
        locked = docker.login(server, "admin", ok=False)
        assert "too many failed logins: try again in" in locked.stderr.lower(), locked.stderr
    finally:
        server.stop()


def test_the_login_command_the_portal_shows_works(docker, dtr, make_repo):
    """The access-token page shows the secret once and the `docker login` command to use it
    with: that command, run as shown, logs docker in."""
    session = requests.Session()
    password = USERS["writer"][0]
    form = session.get(f"{dtr.url}/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)[1]
    logged_in = session.post(
        f"{dtr.url}/login", data={"username": "writer", "password": password, "csrf_token": csrf}
    )
    assert logged_in.status_code == 200 and "/repositories" in logged_in.url
    page = session.get(f"{dtr.url}/access-tokens").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    made = session.post(
        f"{dtr.url}/access-tokens",
        data={"name": "from-the-page", "scopes": ["registry:pull"], "csrf_token": csrf},
    )
    assert made.status_code == 200, made.text
    secret = html.unescape(re.search(r'<code id="new-secret">([^<]+)</code>', made.text)[1])
    command = html.unescape(
        re.search(r'<code id="docker-login-command">([^<]+)</code>', made.text)[1]
    )
    assert command == f"docker login {dtr.host} -u writer --password-stdin"
    result = run(["sh", "-c", command], env=docker.env, input=secret + "\n")
    assert "Login Succeeded" in result.stdout
    assert dtr.host in docker.auths()
    repo = make_repo(namespace="writer")  # private: pulling it needs the login
    registry_client(dtr).push_image(repo, "1", simple_image("from-the-page", docker=True))
    docker("pull", f"{dtr.host}/{repo}:1")
