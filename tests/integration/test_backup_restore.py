"""`app.py backup` while DTR serves pushes, `backup --verify`, and `app.py restore` into an
empty instance, on SQLite and on PostgreSQL, with real servers: every tag of the backup pulls
byte-identical from the restored DTR, users, teams, grants, settings and signatures are back,
a registry token and an access token made before the backup still work; a damaged backup is
refused, and so is a restore into an instance that is not empty. Content trust data is
published before the backup and read back after the restore."""

import json
import shutil
import threading
from types import SimpleNamespace

import pytest
import requests

from tests.support.client import RegistryClient
from tests.support.images import sha256, simple_image
from tests.support.server import USERS, DTRProcess, run_cli
from tests.support.signing import CosignSignature, ec_key
from tests.support.tuf_client import TrustClient

from .test_content_trust import post_update, server_key, trust_path

ADMIN = ("admin", USERS["admin"][0])
DOMAIN = "registry.example.test"
AT_DOMAIN = SimpleNamespace(host=DOMAIN)  # for trust_path: the GUN starts with the domain


def api(server, method, path, auth=ADMIN, **kwargs):
    return requests.request(method, f"{server.url}/api/v0{path}", auth=auth, timeout=60, **kwargs)


def database_url(kind, folder, postgres):
    return f"sqlite:///{folder / 'dtr.db'}" if kind == "sqlite" else postgres.new_database()


@pytest.fixture(scope="module")
def postgres(request):
    return request.getfixturevalue("private_postgres")


def fill(dtr):
    """Users, an organization, a team with a grant, images (one signed) and settings; what
    was pushed: {(repo, tag): image}."""
    assert api(dtr, "POST", "/accounts", json={"name": "acme", "type": "organization"}).ok
    assert api(dtr, "POST", "/accounts/acme/teams", json={"name": "devs"}).status_code == 201
    assert api(dtr, "PUT", "/accounts/acme/teams/devs/members/reader").ok
    assert api(dtr, "POST", "/repositories/acme", json={"name": "app"}).status_code == 201
    grant = {"accessLevel": "read-only"}
    assert api(dtr, "PUT", "/repositories/acme/app/teamAccess/devs", json=grant).ok
    general = {"createOnPush": True, "tokenLifetimeSeconds": 1200, "domainName": DOMAIN}
    assert api(dtr, "PUT", "/admin/settings/general", json=general).ok
    admin = RegistryClient(dtr.url, *ADMIN)
    pushed = {}
    for tag in ("1", "2"):
        image = simple_image(f"backup-app-{tag}")
        admin.push_image("acme/app", tag, image)
        pushed["acme/app", tag] = image
    signed = pushed["acme/app", "1"]
    signature = CosignSignature(sha256(signed.manifest), len(signed.manifest), [(ec_key(), None)])
    for blob in (signature.config, *(data for data, _ in signature.layers)):
        admin.push_blob("acme/app", blob)
    put = admin.push_manifest(
        "acme/app",
        signature.digest,
        signature.manifest,
        "application/vnd.oci.image.manifest.v1+json",
    )
    assert put.status_code == 201, put.text
    # Docker Content Trust data of acme/app, as docker publishes it
    trust = TrustClient(
        f"{DOMAIN}/acme/app",
        server_key(admin, AT_DOMAIN, "acme/app", "timestamp"),
        server_key(admin, AT_DOMAIN, "acme/app", "snapshot"),
    )
    root, targets = trust.root(), trust.targets(tags={"1": signed.manifest})
    published = post_update(admin, AT_DOMAIN, "acme/app", {"root": root, "targets": targets})
    assert published.status_code == 200, published.text
    return pushed, signature, {"root.json": root, "targets.json": targets}


def pull_identical(client, repo, tag, image):
    manifest = client.get_manifest(repo, tag)
    assert manifest.status_code == 200, (repo, tag, manifest.text)
    assert manifest.content == image.manifest
    for blob in image.blobs:
        got = client.request("GET", f"/v2/{repo}/blobs/{sha256(blob)}")
        assert got.status_code == 200 and got.content == blob, (repo, tag)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_backup_while_pushing_then_restore_into_an_empty_instance(tmp_path, kind, postgres):
    source_folder = tmp_path / "source"
    source = DTRProcess(
        source_folder / "instance",
        database_url=database_url(kind, source_folder / "instance", postgres),
    )
    (source_folder / "instance").mkdir(parents=True)
    source.create_users()
    source.start()
    try:
        pushed, signature, trust_files = fill(source)
        token = api(
            source,
            "POST",
            "/accounts/writer/tokens",
            auth=("writer", USERS["writer"][0]),
            json={"name": "ci", "scopes": ["registry:pull", "registry:push"]},
        ).json()["token"]
        registry_token = requests.get(
            f"{source.url}/auth/token",
            params={"scope": "repository:acme/app:pull"},
            auth=("reader", USERS["reader"][0]),
            timeout=30,
        ).json()["token"]
        # pushes go on while the backup is made
        stop, during = threading.Event(), {}
        pusher = RegistryClient(source.url, "writer", USERS["writer"][0])

        def keep_pushing():
            number = 0
            while not stop.is_set():
                image = simple_image(f"during-{kind}-{number}")
                pusher.push_image("writer/busy", str(number), image)
                during["writer/busy", str(number)] = image
                number += 1

        thread = threading.Thread(target=keep_pushing)
        thread.start()
        try:
            archive = tmp_path / "backup.tar.gz"
            made = source.cli("backup", "--to", str(archive), "--include-blobs")
        finally:
            stop.set()
            thread.join()
        assert made.returncode == 0, made.stderr
        assert "backup written to" in made.stdout and "included" in made.stdout
        assert len(during) >= 1
        listed = source.cli("backup", "--to", str(tmp_path / "listed"))  # blobs listed only
        assert listed.returncode == 0, listed.stderr
    finally:
        source.stop()

    verified = run_cli(tmp_path / "unused", "backup", "--verify", str(archive))
    assert verified.returncode == 0, verified.stderr
    assert (
        "is sound" in verified.stdout
        and f"{kind if kind == 'sqlite' else 'postgresql'} database" in verified.stdout
    )

    # restore into an empty instance (a new folder; on PostgreSQL a new, empty database)
    target_folder = tmp_path / "target" / "instance"
    target_url = database_url(kind, target_folder, postgres)
    env = {"DATABASE_URL": target_url}
    restored = run_cli(target_folder, "restore", "--from", str(archive), env=env)
    assert restored.returncode == 0, restored.stderr
    assert "restored" in restored.stdout
    # not twice: the instance is no longer empty
    again = run_cli(target_folder, "restore", "--from", str(archive), env=env)
    assert again.returncode != 0 and "not empty" in again.stderr

    target = DTRProcess(target_folder, database_url=target_url)
    target.start()
    try:
        reader = RegistryClient(target.url, "reader", USERS["reader"][0])
        admin = RegistryClient(target.url, *ADMIN)
        for (repo, tag), image in pushed.items():
            pull_identical(reader, repo, tag, image)
        tags = admin.request("GET", "/v2/writer/busy/tags/list").json().get("tags") or []
        for tag in tags:  # what the backup caught of the pushes under way: whole images
            pull_identical(admin, "writer/busy", tag, during["writer/busy", tag])
        # the trust data, under its GUN: the registry's address (its domain name), restored
        assert api(target, "GET", "/admin/settings/general").json()["domainName"] == DOMAIN
        for name, content in trust_files.items():
            got = reader.request("GET", trust_path(AT_DOMAIN, "acme/app", name))
            assert got.status_code == 200 and got.content == content, (name, got.text)
        referrers = admin.request("GET", f"/v2/acme/app/referrers/{signature.subject_digest}")
        assert [m["digest"] for m in referrers.json()["manifests"]] == [signature.digest]
        for name, (password, role) in USERS.items():
            assert requests.get(f"{target.url}/auth/token", auth=(name, password)).ok, name
            assert api(target, "GET", f"/accounts/{name}").json()["role"] == role
        members = api(target, "GET", "/accounts/acme/teams/devs/members").json()["members"]
        assert [m["name"] for m in members] == ["reader"]
        general = api(target, "GET", "/admin/settings/general").json()
        assert general["createOnPush"] is True and general["tokenLifetimeSeconds"] == 1200
        # credentials made before the backup: the registry token (signed by the instance
        # keys in the database) and the access token
        bearer = {"Authorization": f"Bearer {registry_token}"}
        assert requests.get(f"{target.url}/v2/acme/app/tags/list", headers=bearer).ok
        assert requests.get(f"{target.url}/auth/token", auth=("writer", token)).ok
        # and it goes on: a new push
        admin.push_image("acme/app", "after-restore", simple_image(f"after-{kind}"))
    finally:
        target.stop()

    # the backup without blobs restores only onto a storage that has them
    empty_folder = tmp_path / "empty" / "instance"
    empty_url = database_url(kind, empty_folder, postgres)
    lacking = run_cli(
        empty_folder, "restore", "--from", str(tmp_path / "listed"), env={"DATABASE_URL": empty_url}
    )
    assert (
        lacking.returncode != 0
        and "blobs the database references are not in the storage" in lacking.stderr
    )


def test_a_damaged_backup_is_refused(tmp_path):
    with_blobs = tmp_path / "backup"
    source = DTRProcess(
        tmp_path / "instance", database_url=f"sqlite:///{tmp_path / 'instance' / 'dtr.db'}"
    )
    (tmp_path / "instance").mkdir()
    source.create_users()
    assert source.cli("create-repo", "admin/app").returncode == 0
    source.start()
    try:
        RegistryClient(source.url, *ADMIN).push_image("admin/app", "1", simple_image("damaged"))
        made = source.cli("backup", "--to", str(with_blobs), "--include-blobs")
        assert made.returncode == 0, made.stderr
        exists = source.cli("backup", "--to", str(with_blobs))
        assert exists.returncode != 0 and "exists already" in exists.stderr
        nowhere = source.cli("backup", "--to", str(tmp_path / "no" / "such" / "b.tar.gz"))
        assert nowhere.returncode != 0 and "is not a folder: make it first" in nowhere.stderr
        assert "Traceback" not in nowhere.stderr
    finally:
        source.stop()
    description = json.loads((with_blobs / "dtr-backup.json").read_text())
    blob = next(name for name in description["files"] if name.startswith("blobs/"))
    for damaged, expected in [
        (blob, "its content changed"),
        ("database.sqlite", "its content changed"),
    ]:
        copy = tmp_path / f"copy-{damaged.replace('/', '-')}"
        shutil.copytree(with_blobs, copy)
        data = bytearray((copy / damaged).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (copy / damaged).write_bytes(bytes(data))
        verified = run_cli(tmp_path / "unused", "backup", "--verify", str(copy))
        assert verified.returncode != 0 and f"problem: {damaged}: {expected}" in verified.stdout
        refused = run_cli(
            tmp_path / f"restore-{damaged.replace('/', '-')}", "restore", "--from", str(copy)
        )
        assert refused.returncode != 0 and "the backup is damaged" in refused.stderr
        assert not (tmp_path / f"restore-{damaged.replace('/', '-')}" / "dtr.db").exists()
    not_a_backup = run_cli(tmp_path / "unused", "backup", "--verify", str(tmp_path))
    assert not_a_backup.returncode != 0 and "is not a DTR backup" in not_a_backup.stderr
