"""Upgrading from DTR 0.13.0, the oldest release an upgrade may start from (commit eebcd93,
schema revision b8d4f0a2c6e1): an instance that release made and filled still has everything
and works once the current code (`app.py serve`, which migrates the database to the head
revision at start) runs on it, on SQLite and on PostgreSQL.

The fixtures in tests/upgrade/fixtures/ were made by 0.13.0 itself, through its API and
registry (tests/upgrade/make_fixture.py says what is in them):

- dtr-0.13.0-sqlite.tar.gz: `instance/`, its whole instance folder (dtr.db, blobs,
  certificate) without the logs;
- dtr-0.13.0-postgresql.tar.gz: `instance/` and `database.sql`, a plain-SQL
  `pg_dump --no-owner --no-privileges` of its PostgreSQL database, loaded here with psql
  into a fresh database of a private cluster;
- expected-0.13.0.json: per database, what must be found again: passwords and secrets, every
  tag's manifest digest and media type and the blobs it needs, referrers, deleted tags,
  settings, and `api`, the answers 0.13.0 gave to GET requests (compared with the upgraded
  server's first answers: every field 0.13.0 answered must come back the same; fields added
  since may be added).

Regenerate them (by hand, never in CI; it checks out eebcd93 in a temporary git worktree and
runs that release's server) with:

    .venv/bin/python -m tests.upgrade.make_fixture
"""

import json
import subprocess
import tarfile
import time
from pathlib import Path

import jwt
import pytest
import requests
from alembic.script import ScriptDirectory

from dtr import __version__
from tests.support.client import RegistryClient
from tests.support.images import OCI_INDEX, sha256, simple_image
from tests.support.postgres import _binary
from tests.support.server import ROOT, DTRProcess
from tests.upgrade.make_fixture import EXPECTED, archive_path

HEAD = ScriptDirectory(str(ROOT / "dtr" / "migrations")).get_current_head()
FIXTURE = json.loads(EXPECTED.read_text())
# the fixture's deleted tags stay restorable however old it gets (14 days by default)
ENV = {"DTR_TAG_RESTORE_DAYS": "36500"}


class Upgraded:
    """The current server on the release's upgraded instance."""

    def __init__(self, dtr: DTRProcess, database: str, facts: dict, migrated_in: float):
        self.dtr = dtr
        self.database = database
        self.facts = facts
        self.migrated_in = migrated_in
        self.url = dtr.url
        # the snapshot's requests, answered before any test ran: (status, body)
        self.first_answers = {}

    def password(self, user):
        return self.facts["users"][user]["password"]

    def api(self, user="admin"):
        session = requests.Session()
        session.auth = (user, self.password(user))
        return session

    def get(self, path, user="admin"):
        response = self.api(user).get(f"{self.url}/api/v0{path}", timeout=60)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    def registry(self, user="admin", secret=None):
        if user is None:
            return RegistryClient(self.url)
        return RegistryClient(self.url, user, secret or self.password(user))

    def token(self, user, secret, scope=None):
        params = {"service": FIXTURE["domainName"], **({"scope": scope} if scope else {})}
        return requests.get(
            f"{self.url}/auth/token", params=params, auth=(user, secret), timeout=60
        )


def unpack(archive: Path, folder: Path):
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")


def load_dump(sql: Path, url: str):
    result = subprocess.run(
        [_binary("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(sql), url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def upgraded(request, tmp_path_factory):
    database = request.param
    folder = tmp_path_factory.mktemp(f"upgrade-{database}")
    unpack(archive_path(database), folder)
    instance = folder / "instance"
    if database == "sqlite":
        url = f"sqlite:///{instance / 'dtr.db'}"
    else:
        url = request.getfixturevalue("private_postgres").new_database("upgrade")
        load_dump(folder / "database.sql", url)
    dtr = DTRProcess(instance, database_url=url, env=ENV)
    assert dtr.sql("SELECT version_num FROM alembic_version") == [(FIXTURE["schemaRevision"],)]
    started = time.monotonic()
    dtr.start()  # `app.py serve`: migrates to the head revision, then serves
    server = Upgraded(dtr, database, FIXTURE["databases"][database], time.monotonic() - started)
    try:
        for key in server.facts["api"]:
            user, path = key.split(" ", 1)
            response = server.api(user).get(f"{server.url}/api/v0{path}", timeout=60)
            server.first_answers[key] = (response.status_code, response.text)
        yield server
    finally:
        dtr.stop()


# --- comparing answers ------------------------------------------------------------------------


def differences(old, new, where=""):
    """What of `old` (an answer of 0.13.0) `new` lost or changed; keys `new` adds are fine."""
    if isinstance(old, dict):
        if not isinstance(new, dict):
            return [f"{where}: {old!r} became {new!r}"]
        found = []
        for key, value in old.items():
            if key not in new:
                found.append(f"{where}.{key}: gone (was {value!r})")
            else:
                found += differences(value, new[key], f"{where}.{key}")
        return found
    if isinstance(old, list):
        if not isinstance(new, list) or len(old) != len(new):
            return [f"{where}: {old!r} became {new!r}"]
        return [
            d
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for d in differences(a, b, f"{where}[{i}]")
        ]
    return [] if old == new else [f"{where}: {old!r} became {new!r}"]


def audit_differences(old, new):
    """Every event of 0.13.0's audit log is still there, the same (new ones may come)."""
    now = {event["id"]: event for event in new["events"]}
    found = []
    for event in old["events"]:
        if event["id"] not in now:
            found.append(f"audit event {event['id']} ({event['action']}): gone")
        else:
            found += differences(event, now[event["id"]], f"audit event {event['id']}")
    return found


def test_the_schema_is_migrated_to_head(upgraded):
    answer = requests.get(f"{upgraded.url}/api/v0/version", timeout=30)
    assert answer.status_code == 200
    assert answer.json() == {"version": __version__, "schemaRevision": HEAD}
    assert upgraded.dtr.sql("SELECT version_num FROM alembic_version") == [(HEAD,)]
    assert upgraded.migrated_in < 30, f"migrating and starting took {upgraded.migrated_in:.1f} s"


def test_every_answer_of_0_13_0_comes_back_the_same(upgraded):
    lost = []
    for key, old in upgraded.facts["api"].items():
        status, text = upgraded.first_answers[key]
        if status != 200:
            lost.append(f"{key}: {status} {text.strip()}")
            continue
        new = json.loads(text)
        if key.startswith("admin /admin/audit"):
            lost += audit_differences(old, new)
        else:
            lost += differences(old, new, key)
    assert not lost, "0.13.0's data not found after the upgrade:\n" + "\n".join(lost)


# --- accounts, organizations, grants ----------------------------------------------------------


def test_every_user_logs_in_and_keeps_their_role(upgraded):
    for user, expected in upgraded.facts["users"].items():
        response = upgraded.token(user, expected["password"])
        assert response.status_code == 200, (user, response.text)
        assert upgraded.get(f"/accounts/{user}")["role"] == expected["role"], user
        assert upgraded.get(f"/accounts/{user}", user)["name"] == user  # the API, as them
    assert upgraded.token("writer", "not-the-password").status_code == 401


def granted(response, repository):
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    return sorted(a for e in claims["access"] if e["name"] == repository for a in e["actions"])


def test_organizations_teams_members_and_grants(upgraded):
    for org, expected in upgraded.facts["organizations"].items():
        teams = {team["name"] for team in upgraded.get(f"/accounts/{org}/teams")["teams"]}
        assert teams == set(expected["teams"])
        for team, members in expected["teams"].items():
            found = upgraded.get(f"/accounts/{org}/teams/{team}/members")["members"]
            assert sorted(member["name"] for member in found) == members, team
    for repo, levels in upgraded.facts["teamAccess"].items():
        found = upgraded.get(f"/repositories/{repo}/teamAccess")["teamAccessList"]
        assert {grant["team"]["name"]: grant["accessLevel"] for grant in found} == levels
    for namespace, levels in upgraded.facts["namespaceTeamAccess"].items():
        found = upgraded.get(f"/repositoryNamespaces/{namespace}/teamAccess")["teamAccessList"]
        assert {grant["team"]["name"]: grant["accessLevel"] for grant in found} == levels
    for repo, levels in upgraded.facts["userAccess"].items():
        found = upgraded.get(f"/repositories/{repo}/userAccess")["userAccessList"]
        assert {grant["user"]["name"]: grant["accessLevel"] for grant in found} == levels
    for repo, expected in upgraded.facts["repositories"].items():
        assert upgraded.get(f"/repositories/{repo}")["visibility"] == expected["visibility"]

    # and the grants still decide: what each user's registry token grants
    def actions(user, repo):
        scope = f"repository:{repo}:pull,push"
        return granted(upgraded.token(user, upgraded.password(user), scope), repo)

    assert actions("reader", "acme/app") == ["pull", "push"]  # developers: read-write
    assert actions("alice", "acme/app") == ["pull", "push"]
    assert actions("bob", "acme/app") == ["pull"]  # auditors: read-only
    assert actions("nobody", "acme/app") == []
    assert actions("reader", "writer/tools") == ["pull"]  # the user grant
    assert actions("nobody", "writer/tools") == []
    assert actions("writer", "acme/app") == ["pull", "push"]  # an owner


# --- content ----------------------------------------------------------------------------------


def check_manifest(client, repo, reference, facts):
    """The manifest, byte-identical, and everything a pull of it fetches next."""
    response = client.get_manifest(repo, reference, accept=facts["mediaType"])
    where = f"{repo}:{reference}"
    assert response.status_code == 200, (where, response.status_code, response.text)
    assert sha256(response.content) == facts["digest"], where
    assert response.headers["Docker-Content-Digest"] == facts["digest"], where
    assert response.headers["Content-Type"] == facts["mediaType"], where
    for blob in facts.get("blobs", []):
        got = client.request("GET", f"/v2/{repo}/blobs/{blob}")
        assert got.status_code == 200, (where, blob, got.status_code)
        assert sha256(got.content) == blob, (where, blob)
    return json.loads(response.content)


def check_all_content(upgraded, client):
    manifests = upgraded.facts["manifests"]
    for repo, tags in upgraded.facts["tags"].items():
        for tag, facts in tags.items():
            check_manifest(client, repo, tag, facts)
            for child in facts.get("manifests", []):
                assert manifests[child["digest"]]["mediaType"] == child["mediaType"]
                check_manifest(client, repo, child["digest"], manifests[child["digest"]])
    for digest, facts in manifests.items():
        check_manifest(client, facts["repository"], digest, facts)


def test_every_tag_pulls_byte_identical(upgraded):
    check_all_content(upgraded, upgraded.registry("admin"))
    # the public repository, anonymously
    site = upgraded.facts["tags"]["acme/site"]["stable"]
    check_manifest(upgraded.registry(None), "acme/site", "stable", site)
    assert upgraded.registry(None).get_manifest("acme/app", "1.0").status_code == 401
    # what garbage collection took before the upgrade stays gone
    gone = upgraded.facts["deletedManifest"]
    client = upgraded.registry("admin")
    assert client.get_manifest(gone["repository"], gone["digest"]).status_code == 404
    for blob in gone["blobs"]:
        assert client.request("GET", f"/v2/{gone['repository']}/blobs/{blob}").status_code == 404


def test_referrers_are_listed_with_their_subject(upgraded):
    client = upgraded.registry("admin")
    for repo, subjects in upgraded.facts["referrers"].items():
        for subject, referrers in subjects.items():
            response = client.request("GET", f"/v2/{repo}/referrers/{subject}")
            assert response.status_code == 200, response.text
            assert response.headers["Content-Type"].startswith(OCI_INDEX)
            listed = {m["digest"]: m.get("artifactType") for m in response.json()["manifests"]}
            assert listed == {r["digest"]: r["artifactType"] for r in referrers}
            for referrer in referrers:
                body = check_manifest(
                    client,
                    repo,
                    referrer["digest"],
                    upgraded.facts["manifests"][referrer["digest"]],
                )
                assert body["subject"]["digest"] == subject
    tag = next(t for t in upgraded.get("/repositories/acme/app/tags")["tags"] if t["name"] == "1.0")
    assert tag["signed"] is True and tag["signatures"][0]["signer"] == "release"


def test_content_trust_data_reads_back_byte_identical(upgraded):
    trust = upgraded.facts["contentTrust"]
    reader = RegistryClient(upgraded.url, "reader", upgraded.facts["users"]["reader"]["password"])
    for name, text in trust["files"].items():
        answer = reader.request("GET", f"/v2/{trust['gun']}/_trust/tuf/{name}")
        assert answer.status_code == 200, (name, answer.text)
        assert answer.content == text.encode()
    timestamp = reader.request("GET", f"/v2/{trust['gun']}/_trust/tuf/timestamp.json")
    assert timestamp.status_code == 200  # signed again by the restored server key


def test_deleted_tags_are_listed_and_restore(upgraded):
    for repo, deleted in upgraded.facts["deletedTags"].items():
        listed = upgraded.get(f"/repositories/{repo}/deletedTags")["deletedTags"]
        assert [{"tag": d["tag"], "digest": d["digest"]} for d in listed] == deleted
    old = next(d for d in listed if d["tag"] == "old")
    session = upgraded.api("writer")  # an owner of acme
    restored = session.post(
        f"{upgraded.url}/api/v0/repositories/acme/app/deletedTags/{old['id']}/restore", timeout=60
    )
    assert restored.status_code == 200, restored.text
    assert restored.json() == {"tag": "old", "digest": upgraded.facts["oldManifest"]["digest"]}
    check_manifest(upgraded.registry("admin"), "acme/app", "old", upgraded.facts["oldManifest"])


# --- settings, credentials, jobs --------------------------------------------------------------


def test_settings_are_kept_and_apply(upgraded):
    settings = upgraded.facts["settings"]
    general = upgraded.get("/admin/settings/general")
    assert {key: general[key] for key in settings["general"]} == settings["general"]
    auth = upgraded.get("/admin/settings/auth")
    assert {key: auth[key] for key in settings["auth"]} == settings["auth"]
    assert auth["mode"] == "managed"
    gc = upgraded.get("/admin/settings/registry/garbageCollection")
    assert gc["graceWindowMinutes"] == settings["gc"]["graceWindowMinutes"]
    storage = upgraded.get("/admin/settings/storage")
    assert storage["backend"] == "filesystem"
    root = Path(storage["options"]["rootDirectory"]).resolve()
    assert root == (upgraded.dtr.instance / "storage").resolve()  # where the folder is now
    for namespace, quota in upgraded.facts["quota"].items():
        usage = upgraded.get(f"/repositoryNamespaces/{namespace}/usage")
        assert {key: usage[key] for key in quota} == quota
    for repo, webhook in upgraded.facts["webhooks"].items():
        (found,) = upgraded.get(f"/repositories/{repo}/webhooks")["webhooks"]
        assert {key: found[key] for key in webhook} == webhook
    for repo, keys in upgraded.facts["trustedKeys"].items():
        found = upgraded.get(f"/repositories/{repo}/trustedKeys")["trustedKeys"]
        assert [{"name": k["name"], "pem": k["pem"]} for k in found] == keys
    for repo, patterns in upgraded.facts["immutableTagRules"].items():
        found = upgraded.get(f"/repositories/{repo}/immutableTagRules")
        assert [rule["pattern"] for rule in found["immutableTagRules"]] == patterns

    # they still apply: the token lifetime, the password rule, the immutable tag
    response = upgraded.token("writer", upgraded.password("writer"))
    assert response.json()["expires_in"] == settings["general"]["tokenLifetimeSeconds"]
    short = {"name": "shortpw", "password": "a" * (settings["auth"]["passwordMinLength"] - 1)}
    created = upgraded.api().post(f"{upgraded.url}/api/v0/accounts", json=short, timeout=60)
    assert created.status_code == 400, created.text
    client = upgraded.registry("admin")
    other = simple_image("after-upgrade-release-1", layers=1)
    for blob in other.blobs:
        client.push_blob("acme/app", blob)
    moved = client.push_manifest("acme/app", "release-1", other.manifest, other.media_type)
    assert moved.status_code != 201, "an immutable tag was moved"
    release = upgraded.facts["tags"]["acme/app"]["release-1"]
    check_manifest(client, "acme/app", "release-1", release)


def test_access_token_robot_and_registry_tokens_still_work(upgraded):
    token = upgraded.facts["accessToken"]
    response = upgraded.token(token["user"], token["secret"], "repository:writer/tools:pull,push")
    assert granted(response, "writer/tools") == ["pull", "push"]
    listed = upgraded.get(f"/accounts/{token['user']}/tokens", token["user"])["tokens"]
    assert [t["id"] for t in listed] == [token["id"]]
    robot = upgraded.facts["robot"]
    response = upgraded.token(
        robot["name"], robot["secret"], f"repository:{robot['repository']}:pull"
    )
    assert granted(response, robot["repository"]) == ["pull"]
    tag = upgraded.facts["tags"][robot["repository"]]["1.0"]
    check_manifest(
        upgraded.registry(robot["name"], robot["secret"]), robot["repository"], "1.0", tag
    )
    assert upgraded.token(robot["name"], robot["secret"] + "x").status_code == 401

    # docker login's refresh token of 0.13.0 is exchanged for a new access token
    old = upgraded.facts["registryTokens"]
    exchanged = requests.post(
        f"{upgraded.url}/auth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": old["refreshToken"],
            "service": FIXTURE["domainName"],
            "scope": "repository:acme/app:pull",
        },
        timeout=60,
    )
    assert granted(exchanged, "acme/app") == ["pull"]
    # 0.13.0's signing key still signs: new tokens name the key the old ones were signed with
    new_kid = jwt.get_unverified_header(exchanged.json()["token"])["kid"]
    assert new_kid == jwt.get_unverified_header(old["accessToken"])["kid"]
    # its access token (20 minutes) is accepted until it expires, refused after
    claims = jwt.decode(old["accessToken"], options={"verify_signature": False})
    bearer = {"Authorization": f"Bearer {old['accessToken']}"}
    pulled = requests.get(f"{upgraded.url}/v2/acme/app/manifests/1.0", headers=bearer, timeout=60)
    assert pulled.status_code == (200 if claims["exp"] > time.time() + 5 else 401), pulled.text


def test_garbage_collection_history_is_kept(upgraded):
    expected = upgraded.facts["gc"]
    jobs = upgraded.get("/admin/jobs")
    assert jobs["total"] >= expected["runs"]
    job = upgraded.get(f"/admin/jobs/{expected['job']['id']}")
    assert {key: job[key] for key in expected["job"]} == expected["job"]
    assert job["state"] == "done" and job["report"]["blobs"]
    savings = upgraded.get("/admin/settings/registry/garbageCollection/lastSavings")
    assert savings["jobId"] >= expected["job"]["id"]


def wait_for_job(upgraded, job_id):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = upgraded.get(f"/admin/jobs/{job_id}")
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"garbage collection {job_id} did not finish")


def test_pushes_and_garbage_collection_work_after_the_upgrade(upgraded):
    # an owner pushes to the organization's repository, and pulls it back
    writer = upgraded.registry("writer")
    image = simple_image(f"after-upgrade-{upgraded.database}")
    digest = writer.push_image("acme/app", "after-upgrade", image)
    assert digest == image.digest
    facts = {
        "digest": image.digest,
        "mediaType": image.media_type,
        "blobs": [sha256(b) for b in image.blobs],
    }
    check_manifest(upgraded.registry("reader"), "acme/app", "after-upgrade", facts)
    # with 0.13.0's access token, and into a new repository (create on push)
    token = upgraded.facts["accessToken"]
    with_token = upgraded.registry(token["user"], token["secret"])
    with_token.push_image("writer/tools", "v2", image)
    with_token.push_image("writer/created-after-upgrade", "1", image)
    assert upgraded.get("/repositories/writer/created-after-upgrade")["visibility"] == "private"

    # a garbage collection keeps everything that is tagged, referred to or restorable
    session = upgraded.api()
    started = session.post(
        f"{upgraded.url}/api/v0/admin/jobs", json={"job": "registryGC"}, timeout=60
    )
    assert started.status_code == 202, started.text
    job = wait_for_job(upgraded, started.json()["id"])
    assert job["state"] == "done" and job["errors"] == [], job
    check_all_content(upgraded, upgraded.registry("admin"))
    check_manifest(upgraded.registry("reader"), "acme/app", "after-upgrade", facts)
