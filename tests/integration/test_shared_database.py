"""Two DTR processes sharing one database (SQLite file; a PostgreSQL database): what one
writes, the very next request to the other sees, whatever the other had cached.

Each process caches repositories, manifests by tag, credentials and settings; a write moves a
generation number that the other compares at each request (dtr/services/change_signals.py).
The checks run in tight loops, well within the caches' lifetimes, so an answer from a stale
cache fails them.
"""

import pytest
import requests

from tests.support.client import RegistryClient
from tests.support.images import simple_image
from tests.support.server import USERS, DTRProcess

ADMIN = ("admin", USERS["admin"][0])
ROUNDS = 8


@pytest.fixture(scope="module")
def pair(shared_database):
    folder, url = shared_database
    one = DTRProcess(folder / "one", database_url=url)
    other = DTRProcess(folder / "other", database_url=url)
    one.create_users()
    assert one.cli("create-repo", "admin/shared").returncode == 0
    one.start()
    other.start()
    yield one, other
    one.stop()
    other.stop()


def api(server, method, path, **kwargs):
    return requests.request(method, f"{server.url}/api/v0{path}", auth=ADMIN, timeout=30, **kwargs)


def test_a_tag_moved_through_one_is_served_at_once_by_the_other(pair):
    one, other = pair
    writer = RegistryClient(one.url, *ADMIN)
    reader = RegistryClient(other.url, *ADMIN)
    for round in range(ROUNDS):
        pushed = writer.push_image("admin/shared", "moving", simple_image(f"moving-{round}"))
        served = reader.get_manifest("admin/shared", "moving")  # cached by the other now
        assert served.status_code == 200, served.text
        assert served.headers["Docker-Content-Digest"] == pushed, f"round {round}: stale"
    deleted = writer.request("DELETE", f"/v2/admin/shared/manifests/{pushed}")
    assert deleted.status_code == 202, deleted.text
    assert reader.get_manifest("admin/shared", "moving").status_code == 404


def test_visibility_changed_through_one_applies_at_once_on_the_other(pair):
    one, other = pair
    image = simple_image("visibility")
    RegistryClient(one.url, *ADMIN).push_image("admin/shared", "seen", image)
    for round in range(ROUNDS):
        # a new client: a token carries what was granted when it was issued (for its few
        # minutes), the other's token service decides from its repository lookups now
        primed = RegistryClient(other.url).get_manifest("admin/shared", "seen")  # cached there
        assert primed.status_code in (200, 401)
        public = round % 2 == 0
        body = {"visibility": "public" if public else "private"}
        changed = api(one, "PATCH", "/repositories/admin/shared", json=body)
        assert changed.status_code == 200, changed.text
        status = RegistryClient(other.url).get_manifest("admin/shared", "seen").status_code
        assert (status == 200) == public, f"round {round}: {status} while {body}"


def test_a_token_revoked_through_one_is_refused_at_once_by_the_other(pair):
    one, other = pair
    for round in range(ROUNDS):
        body = {"name": f"ci-{round}", "scopes": ["registry:pull"]}
        created = api(one, "POST", "/accounts/admin/tokens", json=body)
        assert created.status_code == 201, created.text
        secret, token_id = created.json()["token"], created.json()["id"]
        auth = ("admin", secret)
        url = f"{other.url}/auth/token?service=x"
        assert requests.get(url, auth=auth, timeout=30).status_code == 200  # now cached there
        revoked = api(one, "DELETE", f"/accounts/admin/tokens/{token_id}")
        assert revoked.status_code in (200, 204), revoked.text
        refused = requests.get(url, auth=auth, timeout=30)
        assert refused.status_code == 401, f"round {round}: {refused.status_code}"


def test_a_password_changed_through_one_is_refused_at_once_by_the_other(pair):
    one, other = pair
    created = api(
        one,
        "POST",
        "/accounts",
        json={"type": "user", "name": "mover", "password": "first-password-1"},
    )
    assert created.status_code == 201, created.text
    url = f"{other.url}/auth/token?service=x"
    old, new = "first-password-1", "second-password-2"
    for round in range(3):  # a password check costs an argon2 hash: few rounds
        assert requests.get(url, auth=("mover", old), timeout=30).status_code == 200
        body = {"newPassword": new}  # set by an admin: no old password asked
        changed = api(one, "POST", "/accounts/mover/changePassword", json=body)
        assert changed.status_code in (200, 204), changed.text
        assert requests.get(url, auth=("mover", old), timeout=30).status_code == 401, round
        assert requests.get(url, auth=("mover", new), timeout=30).status_code == 200, round
        old, new = new, old


def test_a_tag_deleted_through_the_api_of_one_is_gone_at_once_on_the_other(pair):
    one, other = pair
    writer = RegistryClient(one.url, *ADMIN)
    reader = RegistryClient(other.url, *ADMIN)
    for round in range(ROUNDS // 2):
        writer.push_image("admin/shared", "doomed", simple_image(f"doomed-{round}"))
        assert reader.get_manifest("admin/shared", "doomed").status_code == 200  # cached
        deleted = api(one, "DELETE", "/repositories/admin/shared/tags/doomed")
        assert deleted.status_code == 204, deleted.text
        status = reader.get_manifest("admin/shared", "doomed").status_code
        assert status == 404, f"round {round}: the other still serves the deleted tag"
