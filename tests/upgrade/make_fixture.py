"""Make the upgrade fixtures of DTR 0.13.0, the oldest release an upgrade may start from (run
by hand, never by CI; the outputs are committed):

    .venv/bin/python -m tests.upgrade.make_fixture

It checks out the release (commit eebcd93, schema revision b8d4f0a2c6e1) in a temporary git
worktree, runs THAT code's server (`app.py serve --http`, with this repository's virtualenv)
on a fresh instance, fills it through the old server's API and registry as people would
(users of every role, an organization with teams and members, grants, private and public
repositories, tags of every manifest kind, a signature and an SBOM attached as referrers, a
trusted key, Docker Content Trust data, an immutable tag rule, a quota, a webhook, a deleted
tag, a garbage collection run, changed settings, an access token, a robot, a registry
refresh token), stops it, starts it again and records what it then answers. It does so
twice: on SQLite (the instance's dtr.db) and on PostgreSQL (a private cluster,
tests/support/postgres.py). Written under tests/upgrade/fixtures/:

- dtr-0.13.0-sqlite.tar.gz: `instance/`, the whole instance folder but its logs;
- dtr-0.13.0-postgresql.tar.gz: `instance/` (blobs, certificate) and `database.sql`, a
  plain-SQL `pg_dump --no-owner --no-privileges` of its database;
- expected-0.13.0.json: per database, what the upgrade test must find again (see `fill` and
  `snapshot`): passwords and secrets, every tag's manifest digest and media type and the
  blobs it needs, the referrers, the deleted tags, settings, and `api`: the old server's
  answers (as admin, or as the user named) to the GET requests listed in `snapshot`.

The content pushed is the same on both databases (the same bytes, made once per run: the
signature's ECDSA key is new each run); names, ids, secrets and times are each instance's.
"""

import gzip
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import requests

from tests.support.client import RegistryClient
from tests.support.images import DOCKER_LIST, OCI_INDEX, index_of, sha256, simple_image
from tests.support.postgres import Postgres, _binary
from tests.support.server import RELAXED_THROTTLE, ROOT, USERS, free_port, stop_process
from tests.support.signing import (
    COSIGN_SIGNATURE_TYPE,
    CosignSignature,
    artifact,
    ec_key,
    public_pem,
)
from tests.support.tuf_client import TrustClient

RELEASE = "0.13.0"
COMMIT = "eebcd93"
REVISION = "b8d4f0a2c6e1"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXPECTED = FIXTURES / f"expected-{RELEASE}.json"
DATABASES = ("sqlite", "postgresql")
DOMAIN = "dtr.example.test"  # set, so that tokens do not name the machine that made them
ORG = "acme"
APP, SITE, TOOLS, PUSHED = "acme/app", "acme/site", "writer/tools", "writer/pushed"
# users made through the API (USERS come from `app.py import-users`); name: (password, role)
API_USERS = {"alice": ("alice-password-1", "none"), "bob": ("bob-password-123", "read-only")}
TEAMS = {  # name: (description, members); `owners` exists with the organization
    "developers": ("Builds and ships the apps", ["alice", "reader"]),
    "auditors": ("Reads everything", ["bob"]),
}
SBOM_TYPE = "application/spdx+json"
WEBHOOK_SECRET = "fixture-webhook-secret-0013"
# the old server's environment: refresh tokens that outlive the fixture (docker login's
# identity token of 0.13.0 is exchanged after the upgrade)
OLD_ENV = {**RELAXED_THROTTLE, "DTR_REFRESH_TOKEN_LIFETIME": str(20 * 365 * 86400)}


def archive_path(database) -> Path:
    return FIXTURES / f"dtr-{RELEASE}-{database}.tar.gz"


class OldDTR:
    """The release's server: `<source>/app.py` run with this repository's Python, cwd the
    worktree (so that its `dtr` package is the one imported)."""

    def __init__(self, source: Path, instance: Path, database_url=None):
        self.source = source
        self.instance = instance
        self.env = {**os.environ, **OLD_ENV}
        self.env.pop("DTR_TEST_DATABASE", None)
        if database_url:
            self.env["DATABASE_URL"] = database_url
        self.process = None

    def cli(self, *args, stdin=None):
        result = subprocess.run(
            [sys.executable, "app.py", *args, "--instance", str(self.instance)],
            cwd=self.source,
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=300,
        )
        assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
        return result.stdout

    def start(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.instance.parent / f"dtr-{self.port}.log"
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "app.py", "serve", "--http", "--bind", f"127.0.0.1:{self.port}"]
            + ["--instance", str(self.instance)],
            cwd=self.source,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"DTR {RELEASE} exited: {self.log_path.read_text()}")
            try:
                requests.get(f"{self.url}/health", timeout=1)
                return self
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"DTR {RELEASE} did not start: {self.log_path.read_text()}")

    def stop(self):
        stop_process(self.process, self.log, wait=30)
        self.process = None


class Api:
    """/api/v0 as one user; every answer must have an expected status."""

    def __init__(self, url, user):
        self.url = url + "/api/v0"
        self.session = requests.Session()
        self.session.auth = (user, password_of(user))

    def call(self, method, path, expect=(200, 201, 202, 204), **kwargs):
        response = self.session.request(method, self.url + path, timeout=120, **kwargs)
        assert response.status_code in expect, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def get(self, path):
        return self.call("GET", path, expect=(200,))


def password_of(user):
    return {**USERS, **API_USERS}[user][0]


class Content:
    """What is pushed: the same bytes on both databases."""

    def __init__(self):
        self.images = {  # name: image
            "1.0": simple_image("app-1.0"),
            "docker": simple_image("app-docker", docker=True),
            "amd64": simple_image("app-multi-amd64", layers=1, arch="amd64"),
            "arm64": simple_image("app-multi-arm64", layers=1, arch="arm64"),
            "docker-arm64": simple_image("app-docker-arm64", docker=True, layers=1, arch="arm64"),
            "release-1": simple_image("app-release-1", layers=1),
            "old": simple_image("app-old", layers=1),
            "scratch": simple_image("app-scratch", layers=1),
            "stable": simple_image("site-stable"),
            "v1": simple_image("tools-v1", layers=1),
            "pushed": simple_image("pushed-1", layers=1),
        }
        images = self.images
        self.index = index_of([(images["amd64"], "amd64"), (images["arm64"], "arm64")])
        self.docker_list = index_of(
            [(images["docker"], "amd64"), (images["docker-arm64"], "arm64")], docker=True
        )
        self.key = ec_key()
        signed = images["1.0"]
        self.signature = CosignSignature(
            signed.digest, len(signed.manifest), [(self.key, None)], reference=f"{DOMAIN}/{APP}"
        )
        sbom = json.dumps({"spdxVersion": "SPDX-2.3", "name": "app 1.0"}).encode()
        self.sbom, self.sbom_blobs = artifact(
            signed.digest, len(signed.manifest), SBOM_TYPE, sbom, SBOM_TYPE
        )


def push_index(client, repo, tag, children, body, media_type):
    for image in children:
        for blob in image.blobs:
            client.push_blob(repo, blob)
        response = client.push_manifest(repo, image.digest, image.manifest, image.media_type)
        assert response.status_code == 201, response.text
    response = client.push_manifest(repo, tag, body, media_type)
    assert response.status_code == 201, response.text
    return response.headers["Docker-Content-Digest"]


def manifest_facts(body: bytes, media_type: str) -> dict:
    """digest, media type and what a pull of it fetches next: blobs, or child manifests."""
    document = json.loads(body)
    facts = {"digest": sha256(body), "mediaType": media_type, "size": len(body)}
    if "manifests" in document:
        facts["manifests"] = [
            {"digest": child["digest"], "mediaType": child["mediaType"]}
            for child in document["manifests"]
        ]
    else:
        facts["blobs"] = [document["config"]["digest"]] + [
            layer["digest"] for layer in document["layers"]
        ]
    return facts


def wait_for_job(admin, job_id):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = admin.get(f"/admin/jobs/{job_id}")
        if job["state"] not in ("queued", "running"):
            assert job["state"] == "done", job
            return job
        time.sleep(0.2)
    raise RuntimeError(f"garbage collection {job_id} did not finish")


def publish_trust(client, manifest) -> dict:
    """Docker Content Trust data of APP (root, and targets naming tag 1.0), published as
    docker does under the GUN of the registry's domain name: {"gun", "files": {name: text}}."""
    gun = f"{DOMAIN}/{APP}"
    keys = {}
    for role in ("timestamp", "snapshot"):
        answer = client.request("GET", f"/v2/{gun}/_trust/tuf/{role}.key")
        assert answer.status_code == 200, answer.text
        keys[role] = answer.json()
    trust = TrustClient(gun, keys["timestamp"], keys["snapshot"])
    root, targets = trust.root(), trust.targets(tags={"1.0": manifest})
    parts = [("files", ("root", root)), ("files", ("targets", targets))]
    answer = client.request("POST", f"/v2/{gun}/_trust/tuf/", files=parts)
    assert answer.status_code == 200, answer.text
    return {"gun": gun, "files": {"root.json": root.decode(), "targets.json": targets.decode()}}


def fill(dtr: OldDTR, content: Content) -> dict:
    """Fill the running old server; the facts the upgrade test checks (besides `api`)."""
    admin, writer = Api(dtr.url, "admin"), Api(dtr.url, "writer")
    images = content.images
    for name, (password, role) in API_USERS.items():
        admin.call("POST", "/accounts", json={"name": name, "password": password, "role": role})

    general = {"domainName": DOMAIN, "createOnPush": True, "tokenLifetimeSeconds": 1200}
    admin.call("PUT", "/admin/settings/general", json=general)
    auth = {"passwordMinLength": 14, "tokenMaxLifetimeDays": 3650}
    admin.call("PUT", "/admin/settings/auth", json=auth)
    admin.call("PUT", "/admin/settings/registry/garbageCollection", json={"graceWindowMinutes": 0})

    admin.call("POST", "/accounts", json={"type": "organization", "name": ORG})
    admin.call("PUT", f"/accounts/{ORG}/teams/owners/members/writer")
    for team, (description, members) in TEAMS.items():
        body = {"name": team, "description": description}
        admin.call("POST", f"/accounts/{ORG}/teams", json=body)
        for member in members:
            admin.call("PUT", f"/accounts/{ORG}/teams/{team}/members/{member}")

    app = {
        "name": "app",
        "visibility": "private",
        "shortDescription": "The app",
        "longDescription": "# App\n\nBuilt by the *developers* team.",
    }
    admin.call("POST", f"/repositories/{ORG}", json=app)
    admin.call("POST", f"/repositories/{ORG}", json={"name": "site", "visibility": "public"})
    writer.call("POST", "/repositories/writer", json={"name": "tools", "visibility": "private"})

    level = {"developers": "read-write", "auditors": "read-only"}
    for team, access in level.items():
        admin.call("PUT", f"/repositories/{APP}/teamAccess/{team}", json={"accessLevel": access})
    admin.call(
        "PUT",
        f"/repositoryNamespaces/{ORG}/teamAccess/auditors",
        json={"accessLevel": "read-only"},
    )
    writer.call(
        "PUT", f"/repositories/{TOOLS}/userAccess/reader", json={"accessLevel": "read-only"}
    )

    key = {"name": "release", "pem": public_pem(content.key)}
    admin.call("POST", f"/repositories/{APP}/trustedKeys", json=key)
    admin.call("POST", f"/repositories/{APP}/immutableTagRules", json={"pattern": "release-*"})
    quota = {"quotaBytes": 1 << 30, "warningPercent": 80}
    admin.call("PUT", f"/repositoryNamespaces/{ORG}/quota", json=quota)
    webhook = {
        "url": "https://hooks.example.test/dtr",  # disabled: nothing is ever sent
        "events": ["tag.create", "tag.delete"],
        "secret": WEBHOOK_SECRET,
        "enabled": False,
    }
    admin.call("POST", f"/repositories/{APP}/webhooks", json=webhook)

    client = RegistryClient(dtr.url, "admin", password_of("admin"))
    for tag in ("1.0", "docker", "release-1", "old", "scratch"):
        client.push_image(APP, tag, images[tag])
    client.push_image(APP, "latest", images["1.0"])
    children = [images["amd64"], images["arm64"]]
    push_index(client, APP, "multi", children, content.index, OCI_INDEX)
    children = [images["docker"], images["docker-arm64"]]
    push_index(client, APP, "multi-docker", children, content.docker_list, DOCKER_LIST)
    content.signature.push(client, APP)
    for blob in content.sbom_blobs:
        client.push_blob(APP, blob)
    sbom_digest = sha256(content.sbom)
    response = client.push_manifest(APP, sbom_digest, content.sbom, images["1.0"].media_type)
    assert response.status_code == 201, response.text
    client.push_image(SITE, "stable", images["stable"])
    trust = publish_trust(client, images["1.0"].manifest)
    as_writer = RegistryClient(dtr.url, "writer", password_of("writer"))
    as_writer.push_image(TOOLS, "v1", images["v1"])
    as_writer.push_image(PUSHED, "1", images["pushed"])  # created on push

    # a deleted tag (restorable), and a manifest deleted by digest that GC then collects
    admin.call("DELETE", f"/repositories/{APP}/tags/old")
    admin.call("DELETE", f"/repositories/{APP}/manifests/{images['scratch'].digest}")
    started = admin.call("POST", "/admin/jobs", json={"job": "registryGC"})
    gc = wait_for_job(admin, started["id"])
    assert gc["blobsDeleted"] > 0, gc  # the deleted manifest's blobs

    token_body = {
        "name": "ci",
        "scopes": ["registry:pull", "registry:push", "api:read"],
        "expiresInDays": 3650,
    }
    token = writer.call("POST", "/accounts/writer/tokens", json=token_body)
    robot_body = {
        "name": "deployer",
        "description": "Pulls the app",
        "expiresInDays": 3650,
        "access": [{"repository": APP, "actions": ["pull"]}],
    }
    robot = admin.call("POST", f"/organizations/{ORG}/robots", json=robot_body)

    # pulls (counted), by a member of a team with access
    as_reader = RegistryClient(dtr.url, "reader", password_of("reader"))
    for _ in range(2):
        assert as_reader.get_manifest(APP, "1.0").status_code == 200
    # docker login's tokens: an access token (expires) and a refresh token (does not, here)
    login = requests.post(
        f"{dtr.url}/auth/token",
        data={
            "grant_type": "password",
            "username": "writer",
            "password": password_of("writer"),
            "service": DOMAIN,
            "access_type": "offline",
            "scope": f"repository:{APP}:pull",
        },
        timeout=60,
    )
    assert login.status_code == 200, login.text

    tags = {
        APP: {
            "1.0": manifest_facts(images["1.0"].manifest, images["1.0"].media_type),
            "latest": manifest_facts(images["1.0"].manifest, images["1.0"].media_type),
            "docker": manifest_facts(images["docker"].manifest, images["docker"].media_type),
            "release-1": manifest_facts(
                images["release-1"].manifest, images["release-1"].media_type
            ),
            "multi": manifest_facts(content.index, OCI_INDEX),
            "multi-docker": manifest_facts(content.docker_list, DOCKER_LIST),
        },
        SITE: {"stable": manifest_facts(images["stable"].manifest, images["stable"].media_type)},
        TOOLS: {"v1": manifest_facts(images["v1"].manifest, images["v1"].media_type)},
        PUSHED: {"1": manifest_facts(images["pushed"].manifest, images["pushed"].media_type)},
    }
    manifests = {  # manifests pulled by digest: index children and referrers
        image.digest: {"repository": APP, **manifest_facts(image.manifest, image.media_type)}
        for image in (images["amd64"], images["arm64"], images["docker"], images["docker-arm64"])
    }
    manifests[content.signature.digest] = {
        "repository": APP,
        **manifest_facts(content.signature.manifest, images["1.0"].media_type),
    }
    manifests[sbom_digest] = {
        "repository": APP,
        **manifest_facts(content.sbom, images["1.0"].media_type),
    }
    return {
        "users": {
            name: {"password": password, "role": role}
            for name, (password, role) in {**USERS, **API_USERS}.items()
        },
        "organizations": {
            ORG: {
                "teams": {
                    "owners": sorted(["admin", "writer"]),
                    **{team: sorted(members) for team, (_, members) in TEAMS.items()},
                }
            }
        },
        "repositories": {
            APP: {"visibility": "private"},
            SITE: {"visibility": "public"},
            TOOLS: {"visibility": "private"},
            PUSHED: {"visibility": "private"},
        },
        "teamAccess": {APP: level},
        "namespaceTeamAccess": {ORG: {"auditors": "read-only"}},
        "userAccess": {TOOLS: {"reader": "read-only"}},
        "tags": tags,
        "manifests": manifests,
        "referrers": {
            APP: {
                images["1.0"].digest: [
                    {"digest": content.signature.digest, "artifactType": COSIGN_SIGNATURE_TYPE},
                    {"digest": sbom_digest, "artifactType": SBOM_TYPE},
                ]
            }
        },
        "deletedTags": {APP: [{"tag": "old", "digest": images["old"].digest}]},
        "deletedManifest": {
            "repository": APP,
            "digest": images["scratch"].digest,
            "blobs": manifest_facts(images["scratch"].manifest, images["scratch"].media_type)[
                "blobs"
            ],
        },
        "oldManifest": manifest_facts(images["old"].manifest, images["old"].media_type),
        "settings": {"general": general, "auth": auth, "gc": {"graceWindowMinutes": 0}},
        "trustedKeys": {APP: [{"name": "release", "pem": key["pem"]}]},
        "contentTrust": trust,
        "immutableTagRules": {APP: ["release-*"]},
        "quota": {ORG: quota},
        "webhooks": {APP: {key: webhook[key] for key in ("url", "events", "enabled")}},
        "accessToken": {
            "user": "writer",
            "name": "ci",
            "id": token["id"],
            "secret": token["token"],
        },
        "robot": {"name": robot["name"], "secret": robot["secret"], "repository": APP},
        "registryTokens": {
            "user": "writer",
            "accessToken": login.json()["token"],
            "refreshToken": login.json()["refresh_token"],
        },
        "gc": {
            "runs": 1,
            "job": {key: gc[key] for key in ("id", "manifestsDeleted", "blobsDeleted")},
        },
    }


def snapshot(dtr: OldDTR, facts: dict) -> dict:
    """The old server's answers to GET requests: {"user path": answer}."""
    apis = {user: Api(dtr.url, user) for user in ("admin", "writer")}
    paths = [("admin", "/accounts?limit=1000")]
    for user in facts["users"]:
        paths += [("admin", f"/accounts/{user}"), ("admin", f"/accounts/{user}/organizations")]
    paths += [("admin", f"/accounts/{ORG}"), ("admin", f"/accounts/{ORG}/teams")]
    for team in facts["organizations"][ORG]["teams"]:
        base = f"/accounts/{ORG}/teams/{team}"
        paths += [
            ("admin", base),
            ("admin", f"{base}/members"),
            ("admin", f"{base}/repositoryAccess"),
        ]
    paths += [
        ("writer", "/accounts/writer/tokens"),
        ("admin", f"/organizations/{ORG}/robots"),
        ("admin", f"/organizations/{ORG}/robots/deployer"),
        ("admin", "/repositories?limit=1000"),
    ]
    for repo in facts["repositories"]:
        base = f"/repositories/{repo}"
        for suffix in ("", "/tags", "/userAccess", "/trustedKeys", "/immutableTagRules"):
            paths.append(("admin", base + suffix))
        for suffix in ("/deletedTags", "/webhooks", "/usage"):
            paths.append(("admin", base + suffix))
        if repo.startswith(f"{ORG}/"):
            paths.append(("admin", base + "/teamAccess"))
    for namespace in (ORG, "writer"):
        base = f"/repositoryNamespaces/{namespace}"
        paths += [("admin", f"{base}/usage"), ("admin", f"{base}/immutableTagRules")]
        paths += [("admin", f"{base}/trustedKeys"), ("admin", f"{base}/webhooks")]
    paths += [("admin", f"/repositoryNamespaces/{ORG}/teamAccess")]
    gc = "/admin/settings/registry/garbageCollection"
    paths += [
        ("admin", "/admin/settings/general"),
        ("admin", "/admin/settings/auth"),
        ("admin", gc),
        ("admin", f"{gc}/schedule"),
        ("admin", f"{gc}/lastSavings"),
        ("admin", "/admin/jobs"),
        ("admin", f"/admin/jobs/{facts['gc']['job']['id']}"),
        ("admin", "/admin/usage"),
        ("admin", "/admin/webhooks"),
        ("admin", "/admin/audit?limit=1000"),
    ]
    return {f"{user} {path}": apis[user].get(path) for user, path in paths}


def stored_revision(instance: Path, database_url) -> str:
    query = "SELECT version_num FROM alembic_version"
    if database_url is None:
        with sqlite3.connect(instance / "dtr.db") as db:
            (revision,) = db.execute(query).fetchone()
        db.close()
        return revision
    import psycopg

    with psycopg.connect(database_url) as connection:
        return connection.execute(query).fetchone()[0]


def checkpoint_sqlite(instance: Path):
    """Fold the write-ahead log into dtr.db (the server's pool never closed it), so that the
    archive holds one file."""
    with sqlite3.connect(instance / "dtr.db") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    for suffix in ("-wal", "-shm"):
        path = instance / f"dtr.db{suffix}"
        if path.exists():
            assert suffix == "-shm" or path.stat().st_size == 0, path
            path.unlink()


def write_archive(target: Path, instance: Path, extra: dict):
    """instance/ (without logs/) and extra {name: bytes}, as a gzip'd tar with fixed times."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(instance.rglob("*")):
            relative = path.relative_to(instance)
            if relative.parts[0] == "logs":
                continue
            tar.add(path, arcname=str(Path("instance") / relative), recursive=False)
        for name, data in extra.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    target.write_bytes(gzip.compress(buffer.getvalue(), compresslevel=9, mtime=0))


def make(database: str, source: Path, work: Path, content: Content) -> dict:
    instance = work / database / "instance"
    instance.mkdir(parents=True)
    postgres = database_url = None
    if database == "postgresql":
        postgres = Postgres().start()
        database_url = postgres.new_database("dtr013")
    try:
        dtr = OldDTR(source, instance, database_url)
        users = "".join(f"{name},{password},{role}\n" for name, (password, role) in USERS.items())
        dtr.cli("import-users", "-", stdin=users)
        dtr.start()
        try:
            facts = fill(dtr, content)
        finally:
            dtr.stop()
        dtr.start()  # what the release reads back from what it stored
        try:
            facts["api"] = snapshot(dtr, facts)
        finally:
            dtr.stop()
        extra = {}
        assert stored_revision(instance, database_url) == REVISION
        if postgres is None:
            checkpoint_sqlite(instance)
        else:
            dump = subprocess.run(
                [_binary("pg_dump"), "--no-owner", "--no-privileges", database_url],
                capture_output=True,
                timeout=120,
            )
            assert dump.returncode == 0, dump.stderr.decode()
            extra["database.sql"] = dump.stdout
    finally:
        if postgres is not None:
            postgres.stop()
    write_archive(archive_path(database), instance, extra)
    return facts


def main():
    FIXTURES.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="dtr-upgrade-fixture-"))
    source = work / "source"
    added = subprocess.run(
        ["git", "worktree", "add", "--detach", str(source), COMMIT],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert added.returncode == 0, added.stderr
    try:
        version = subprocess.run(
            [sys.executable, "app.py", "--version"], cwd=source, capture_output=True, text=True
        )
        assert RELEASE in version.stdout, version.stdout + version.stderr
        content = Content()
        expected = {
            "release": RELEASE,
            "commit": COMMIT,
            "schemaRevision": REVISION,
            "domainName": DOMAIN,
            "databases": {},
        }
        for database in DATABASES:
            started = time.monotonic()
            expected["databases"][database] = make(database, source, work, content)
            size = archive_path(database).stat().st_size
            print(
                f"{database}: {archive_path(database).name} {size} bytes, "
                f"{time.monotonic() - started:.0f} s"
            )
        EXPECTED.write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
        print(f"wrote {EXPECTED.relative_to(ROOT)}")
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(source)], cwd=ROOT, capture_output=True
        )
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
