"""The walk-through of SCENARIO.md (sections 2.1, 3 and 4), end to end on a fresh DTR.

Set-up and organization through /api/v0 (the first admin created on the fresh install,
users of each global role, an organization with two teams, private repositories granted
to one team each, a public repository), then push and pull with the real docker CLI as
each user, every allowed and every refused outcome checked in docker's output and in
what the registry stored, and the audit log of the set-up.
"""

import re

import pytest
import requests

from tests.support.client import RegistryClient
from tests.support.images import sha256, simple_image
from tests.support.server import DTRProcess

from .conftest import tags_of

pytestmark = pytest.mark.e2e

DENIED = ("denied", "unauthorized")
ORG = "engineering"
BARCA, MADRID, PUBLIC = f"{ORG}/barca", f"{ORG}/madrid", f"{ORG}/public-demo"
PASSWORDS = {
    "gordon": "gordon-password-1-0",
    "orca": "orca-password-1-1",
    "moby": "moby-password-1-2",
    "ahab": "ahab-password-1-3",
}
ROLES = {"orca": "read-write", "moby": "read-only", "ahab": "none"}
TEAMS = {"core": ["gordon", "orca"], "frontend": ["gordon", "moby", "ahab"]}


@pytest.fixture(scope="module")
def fresh_dtr(tmp_path_factory):
    """A DTR just installed: no users, auth mode None (plain HTTP on loopback)."""
    server = DTRProcess(tmp_path_factory.mktemp("scenario") / "instance")
    server.start()
    yield server
    server.stop()


class Api:
    """/api/v0 of a server; `user` None is anonymous."""

    def __init__(self, server):
        self.base = f"{server.url}/api/v0"
        self.session = requests.Session()

    def __call__(self, method, path, user=None, expect=200, **kwargs):
        auth = (user, PASSWORDS[user]) if user else None
        response = self.session.request(method, self.base + path, auth=auth, timeout=30, **kwargs)
        assert response.status_code == expect, (
            f"{method} {path} as {user}: {response.status_code} {response.text}"
        )
        return response.json() if response.content else None


def registry_as(server, user):
    return RegistryClient(server.url, user, PASSWORDS[user])


def refused(result):
    """A docker command failed with an authorization error, without retrying."""
    message = result.stderr.lower()
    assert any(word in message for word in DENIED), result.stderr
    assert "Retrying in" not in result.stdout, result.stdout


def pushed_digest(output, tag):
    match = re.search(
        rf"^{re.escape(tag)}: digest: (sha256:[0-9a-f]{{64}}) size: \d+$", output, re.M
    )
    assert match, output
    return match[1]


def blob_stored(client, repo, digest):
    status = client.request("HEAD", f"/v2/{repo}/blobs/{digest}").status_code
    assert status in (200, 404), status
    return status == 200


def nothing_stored(client, repo, digests, manifest_digest=None):
    """None of the blobs `digests` is linked in `repo`, nor the manifest `manifest_digest`."""
    assert [d for d in digests if blob_stored(client, repo, d)] == []
    if manifest_digest:
        response = client.request("GET", f"/v2/{repo}/manifests/{manifest_digest}")
        assert response.status_code == 404, response.text


def blobs_of(client, repo, tag):
    """The config and layer digests of a stored manifest (as docker pushed them)."""
    response = client.get_manifest(repo, tag)
    assert response.status_code == 200, response.text
    manifest = response.json()
    return [manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]


def full_names(listing):
    return {r["fullName"] for r in listing["repositories"]}


# --- the steps ----------------------------------------------------------------------------


def set_up_auth(api):
    """2.1: on the fresh install the first admin is created through the API, which switches
    the auth mode to Managed; then the other users, as that admin."""
    not_set_up = api("GET", "/admin/settings/auth", expect=409)
    assert not_set_up["errors"][0]["code"] == "NOT_SET_UP"
    api("GET", "/repositories", expect=409)
    # only an admin can be the first account
    body = {"name": "orca", "password": PASSWORDS["orca"], "role": "read-write"}
    api("POST", "/accounts", json=body, expect=409)

    body = {"name": "gordon", "password": PASSWORDS["gordon"], "role": "admin"}
    gordon = api("POST", "/accounts", json=body, expect=201)
    assert gordon["name"] == "gordon" and gordon["isAdmin"] and gordon["type"] == "user"
    assert api("GET", "/admin/settings/auth", "gordon")["mode"] == "managed"
    # set up once: no more anonymous admins
    body = {"name": "intruder", "password": "x" * 12, "role": "admin"}
    api("POST", "/accounts", json=body, expect=401)

    for name, role in ROLES.items():
        body = {"name": name, "password": PASSWORDS[name], "role": role}
        created = api("POST", "/accounts", "gordon", json=body, expect=201)
        assert (created["name"], created["role"], created["isAdmin"]) == (name, role, False)
    # only admins manage users and auth settings
    api("POST", "/accounts", "orca", json={"name": "x1", "password": "x" * 12}, expect=403)
    api("GET", "/admin/settings/auth", "orca", expect=403)
    names = {a["name"]: a.get("role") for a in api("GET", "/accounts", "gordon")["accounts"]}
    assert names == {"gordon": "admin", **ROLES}


def set_up_organization(api):
    """3: organization engineering, teams core and frontend, barca (core: read-only),
    madrid (frontend: read-write), and a public repository."""
    org = api("POST", "/accounts", "gordon", json={"type": "organization", "name": ORG}, expect=201)
    assert (org["name"], org["type"]) == (ORG, "organization")
    for team, members in TEAMS.items():
        created = api("POST", f"/accounts/{ORG}/teams", "gordon", json={"name": team}, expect=201)
        assert (created["name"], created["organization"]) == (team, ORG)
        for member in members:
            api("PUT", f"/accounts/{ORG}/teams/{team}/members/{member}", "gordon", expect=201)
        listed = api("GET", f"/accounts/{ORG}/teams/{team}/members", "gordon")["members"]
        assert sorted(m["name"] for m in listed) == sorted(members)
    api("GET", f"/accounts/{ORG}/teams/core/members/ahab", "gordon", expect=404)

    # only admins and the organization's owners create repositories in it
    api("POST", f"/repositories/{ORG}", "orca", json={"name": "rogue"}, expect=403)
    for repo, visibility in ((BARCA, "private"), (MADRID, "private"), (PUBLIC, "public")):
        body = {"name": repo.split("/")[1], "visibility": visibility}
        created = api("POST", f"/repositories/{ORG}", "gordon", json=body, expect=201)
        assert (created["fullName"], created["visibility"]) == (repo, visibility)
        assert created["namespaceType"] == "organization"
    for repo, team, level in ((BARCA, "core", "read-only"), (MADRID, "frontend", "read-write")):
        body = {"accessLevel": level}
        granted = api("PUT", f"/repositories/{repo}/teamAccess/{team}", "gordon", json=body)
        assert (granted["team"]["name"], granted["accessLevel"]) == (team, level)
        found = api("GET", f"/repositories/{repo}/teamAccess", "gordon")["teamAccessList"]
        assert [(g["team"]["name"], g["accessLevel"]) for g in found] == [(team, level)]


def check_visibility(api):
    """3 and 4.4: a global role sees every repository; ahab only madrid (his team's) and
    the public one; anonymous only the public one."""
    everything = {BARCA, MADRID, PUBLIC}
    for user in ("gordon", "orca", "moby"):
        assert full_names(api("GET", "/repositories", user)) == everything
    assert full_names(api("GET", "/repositories", "ahab")) == {MADRID, PUBLIC}
    assert full_names(api("GET", f"/repositories/{ORG}", "ahab")) == {MADRID, PUBLIC}
    found = api("GET", "/index/search", "ahab", params={"q": ORG})
    assert {r["fullName"] for r in found["repositoryResults"]} == {MADRID, PUBLIC}
    assert found["numRepositoryResults"] == 2
    for user, names in (("moby", [BARCA]), ("ahab", []), (None, [])):
        found = api("GET", "/index/search", user, params={"q": "barca"})
        assert [r["fullName"] for r in found["repositoryResults"]] == names, user
    api("GET", f"/repositories/{BARCA}", "ahab", expect=404)
    assert api("GET", f"/repositories/{MADRID}", "ahab")["fullName"] == MADRID
    assert full_names(api("GET", "/repositories")) == {PUBLIC}


def check_audit(api):
    """4 (and 2-3): the audit log recorded every creation; only admins read it."""
    api("GET", "/admin/audit", expect=401)
    api("GET", "/admin/audit", "orca", expect=403)
    events = api("GET", "/admin/audit", "gordon", params={"limit": 1000})["events"]
    seen = {(e["actor"], e["action"], e["target"]) for e in events}
    expected = {(None, "account.create", "gordon")}
    expected |= {("gordon", "account.create", name) for name in ROLES}
    expected.add(("gordon", "organization.create", ORG))
    expected |= {("gordon", "team.create", f"{ORG}/{team}") for team in TEAMS}
    expected |= {("gordon", "repository.create", repo) for repo in (BARCA, MADRID, PUBLIC)}
    expected |= {("gordon", "grant.team", repo) for repo in (BARCA, MADRID)}
    expected |= {("gordon", "team.member.add", f"{ORG}/{team}") for team in TEAMS}
    missing = expected - seen
    assert not missing, (missing, events)
    details = {
        (e["action"], e["target"], json_key(e["detail"]))
        for e in events
        if e["action"] in ("account.create", "grant.team", "team.member.add")
    }
    assert ("account.create", "gordon", (("role", "admin"),)) in details
    for name, role in ROLES.items():
        assert ("account.create", name, (("role", role),)) in details
    assert ("grant.team", BARCA, (("level", "read-only"), ("team", "core"))) in details
    assert ("grant.team", MADRID, (("level", "read-write"), ("team", "frontend"))) in details
    for team, members in TEAMS.items():
        for member in members:
            assert ("team.member.add", f"{ORG}/{team}", (("member", member),)) in details
    # nothing was recorded for refused requests (the rogue repository, the intruder)
    assert not [e for e in events if e["target"] in (f"{ORG}/rogue", "intruder", "x1")]


def json_key(detail):
    return tuple(sorted((detail or {}).items()))


# --- the walk-through ---------------------------------------------------------------------


def test_scenario_walk_through(fresh_dtr, docker, tmp_path):
    server, api = fresh_dtr, Api(fresh_dtr)
    host = server.host
    set_up_auth(api)
    set_up_organization(api)
    check_visibility(api)
    gordon = registry_as(server, "gordon")

    # the public repository, pushed by gordon
    public_image = simple_image("scenario-public", docker=True)
    public_ref = f"{host}/{PUBLIC}:v1"
    docker.load(public_image, public_ref, tmp_path)
    docker.login(server, "gordon", PASSWORDS["gordon"])
    public_digest = pushed_digest(docker("push", public_ref).stdout, "v1")
    docker("rmi", public_ref)

    # 4.1-4.2: orca (global read-write) pushes barca:lona
    lona_image = simple_image("scenario-lona", docker=True)
    lona = f"{host}/{BARCA}:lona"
    docker.load(lona_image, lona, tmp_path)
    assert "Login Succeeded" in docker.login(server, "orca", PASSWORDS["orca"]).stdout
    assert host in docker.auths()
    lona_digest = pushed_digest(docker("push", lona).stdout, "lona")
    assert tags_of(gordon, BARCA) == ["lona"]
    assert gordon.get_manifest(BARCA, "lona").headers["Docker-Content-Digest"] == lona_digest
    tags = api("GET", f"/repositories/{BARCA}/tags", "gordon")["tags"]
    assert [(t["name"], t["digest"], t["pushedBy"]) for t in tags] == [
        ("lona", lona_digest, "orca")
    ]

    # 4.3: moby (global read-only) pulls barca:lona; his push to barca:latest is refused
    docker.login(server, "moby", PASSWORDS["moby"])
    docker("rmi", lona)
    docker("image", "inspect", lona, ok=False)
    pulled = docker("pull", lona)
    assert f"Digest: {lona_digest}" in pulled.stdout
    assert docker.image_id(lona) == sha256(lona_image.config)
    moby_image = simple_image("scenario-moby", docker=True)
    barca_latest = f"{host}/{BARCA}:latest"
    docker.load(moby_image, barca_latest, tmp_path)
    refused(docker("push", barca_latest, ok=False))
    # ... and the lona image re-tagged (layers already there): still refused
    docker("tag", lona, barca_latest)
    refused(docker("push", barca_latest, ok=False))
    assert tags_of(gordon, BARCA) == ["lona"]
    nothing_stored(gordon, BARCA, [sha256(moby_image.config)])
    assert gordon.get_manifest(BARCA, "lona").headers["Docker-Content-Digest"] == lona_digest

    # 4.5: ahab pushes and pulls madrid:latest (frontend: read-write) ...
    docker.login(server, "ahab", PASSWORDS["ahab"])
    madrid_image = simple_image("scenario-madrid", docker=True)
    madrid = f"{host}/{MADRID}:latest"
    docker.load(madrid_image, madrid, tmp_path)
    madrid_digest = pushed_digest(docker("push", madrid).stdout, "latest")
    docker("rmi", madrid)
    docker("image", "inspect", madrid, ok=False)
    assert f"Digest: {madrid_digest}" in docker("pull", madrid).stdout
    assert docker.image_id(madrid) == sha256(madrid_image.config)
    assert tags_of(gordon, MADRID) == ["latest"]
    tags = api("GET", f"/repositories/{MADRID}/tags", "ahab")["tags"]
    assert [(t["name"], t["digest"], t["pushedBy"]) for t in tags] == [
        ("latest", madrid_digest, "ahab")
    ]
    # ... but neither pushes to nor pulls from barca: he is not in core
    docker("rmi", lona)
    docker("tag", madrid, lona)
    refused(docker("push", lona, ok=False))
    docker("rmi", lona)
    refused(docker("pull", lona, ok=False))
    docker("image", "inspect", lona, ok=False)
    assert tags_of(gordon, BARCA) == ["lona"]
    assert gordon.get_manifest(BARCA, "lona").headers["Docker-Content-Digest"] == lona_digest
    # not even mounted from madrid: none of its blobs is linked in barca
    nothing_stored(gordon, BARCA, blobs_of(gordon, MADRID, "latest"), madrid_digest)

    # 4.6: logged out, only the public repository can be pulled
    assert "Removing login credentials" in docker("logout", host).stdout
    assert host not in docker.auths()
    docker("rmi", madrid)
    for reference in (lona, madrid):
        refused(docker("pull", reference, ok=False))
        docker("image", "inspect", reference, ok=False)
    assert f"Digest: {public_digest}" in docker("pull", public_ref).stdout
    assert docker.image_id(public_ref) == sha256(public_image.config)

    # what the registry holds in the end; the audit log of the set-up
    assert tags_of(gordon, BARCA) == ["lona"]
    assert tags_of(gordon, MADRID) == ["latest"]
    assert tags_of(gordon, PUBLIC) == ["v1"]
    check_audit(api)
