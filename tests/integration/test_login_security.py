"""Logins nobody can abuse, against DTR under its production server: registry tokens are no
API credential, password checks are bounded, guessing is throttled on every password path
(shared by processes), credentials changes reach tokens at once, token requests are capped,
passwords have a minimum length, and a fresh install needs its set-up code from elsewhere."""

import concurrent.futures
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
import requests

from tests.integration.test_ldap_auth import ldap_password, ldap_settings
from tests.support.client import RegistryClient
from tests.support.images import simple_image
from tests.support.server import USERS, DTRProcess, free_port

ADMIN = ("admin", USERS["admin"][0])


def start(tmp_path, users=USERS, **env):
    server = DTRProcess(
        tmp_path / "instance", throttle=True, env={k: str(v) for k, v in env.items()}
    )
    server.create_users(users)
    return server.start()


@pytest.fixture
def servers():
    started = []
    yield started
    for server in started:
        server.stop()


def token(server, user, password, scope=None):
    params = {"service": "x", **({"scope": scope} if scope else {})}
    return requests.get(f"{server.url}/auth/token", params=params, auth=(user, password))


def claims(response):
    assert response.status_code == 200, response.text
    return jwt.decode(response.json()["token"], options={"verify_signature": False})


def bearer(response):
    return {"Authorization": f"Bearer {response.json()['token']}"}


# --- 1. registry tokens are not API credentials ------------------------------------------------


def test_a_registry_token_is_not_an_api_credential(dtr, admin, repo, public_repo):
    """Defect: an admin's token scoped to pull a public repository created an admin through
    the API; an unscoped one deactivated users; a read-write user's token scoped to pull their
    own repository deleted another repository's tag."""
    api = f"{dtr.url}/api/v0"
    pull_public = bearer(token(dtr, *ADMIN, f"repository:{public_repo}:pull"))
    body = {"name": "intruder-admin", "password": "long-enough-password", "role": "admin"}
    made = requests.post(f"{api}/accounts", json=body, headers=pull_public)
    assert made.status_code == 401
    assert "registry tokens are for /v2 only" in made.json()["errors"][0]["message"]
    assert requests.get(f"{api}/accounts/intruder-admin", auth=ADMIN).status_code == 404

    unscoped = bearer(token(dtr, *ADMIN))
    assert requests.put(f"{api}/accounts/reader/deactivate", headers=unscoped).status_code == 401
    assert requests.get(f"{api}/accounts/reader", auth=ADMIN).json()["isActive"] is True

    admin.push_image(repo, "keep", simple_image("keep"))
    writer = ("writer", USERS["writer"][0])
    assert requests.post(
        f"{api}/repositories/writer", json={"name": "own"}, auth=writer
    ).status_code in (201, 409)
    own_pull = bearer(token(dtr, *writer, "repository:writer/own:pull"))
    deleted = requests.delete(f"{api}/repositories/{repo}/tags/keep", headers=own_pull)
    assert deleted.status_code == 401
    assert admin.get_manifest(repo, "keep").status_code == 200


# --- 2. password checks are bounded -------------------------------------------------------------


def worker_pid(server):
    """The gunicorn worker of a server (the child of its master process)."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


FLOOD = """
import json, sys, threading, time, requests
url, clients, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
deadline, answers, lock = time.monotonic() + seconds, {}, threading.Lock()
def ghost(number):
    session = requests.Session()
    while time.monotonic() < deadline:
        status = session.get(url, auth=(f"ghost{number}", "x")).status_code
        with lock:
            answers[status] = answers.get(status, 0) + 1
threads = [threading.Thread(target=ghost, args=(n,)) for n in range(clients)]
[t.start() for t in threads]
[t.join() for t in threads]
print(json.dumps(answers))
"""


def test_a_flood_of_bad_logins_costs_bounded_memory_and_never_slows_tokens(tmp_path, servers):
    """Defect: 32 concurrent logins of unknown users took the worker from ~146 MiB to ~2 GiB
    (argon2 uses 64 MiB per check) and slowed pulls to 2.5 s. Password checks now run a few at
    a time; requests with a token never wait for them."""
    server = start(
        tmp_path, DTR_LOGIN_ADDRESS_FREE_FAILURES=10**6, DTR_LOGIN_NAME_FREE_FAILURES=10**6
    )
    servers.append(server)
    client = RegistryClient(server.url, *ADMIN)
    server.cli("create-repo", "admin/flood")
    client.push_image("admin/flood", "1", simple_image("flood"))
    pull = bearer(token(server, *ADMIN, "repository:admin/flood:pull"))
    manifest_url = f"{server.url}/v2/admin/flood/manifests/1"
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json", **pull}
    assert requests.get(manifest_url, headers=accept).status_code == 200
    pid = worker_pid(server)
    before = rss_mib(pid)
    # 32 clients logging in as unknown users, in a process of their own (so that their
    # threads do not share an interpreter with the measuring loop)
    flood = subprocess.Popen(
        [sys.executable, "-c", FLOOD, f"{server.url}/v2/", "32", "10"],
        stdout=subprocess.PIPE,
        text=True,
    )
    peak, latencies = before, []
    session = requests.Session()
    time.sleep(0.5)
    while flood.poll() is None:
        started = time.perf_counter()
        assert session.get(manifest_url, headers=accept).status_code == 200
        latencies.append(time.perf_counter() - started)
        peak = max(peak, rss_mib(pid))
        time.sleep(0.02)
    answers = {int(status): count for status, count in json.loads(flood.stdout.read()).items()}
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"\nFLOOD: RSS {before:.0f} -> peak {peak:.0f} MiB; manifest GET with a token: "
        f"{len(latencies)} requests, p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms; bad logins answered {answers}"
    )
    assert peak < 300
    assert set(answers) <= {401, 429} and answers.get(401, 0) > 0
    assert p99 < 1.0  # the bench measures it under a steady load (target: 100 ms)


def test_password_checks_beyond_the_bound_answer_429(tmp_path, servers):
    server = start(
        tmp_path,
        DTR_PASSWORD_HASH_SLOTS=1,
        DTR_PASSWORD_HASH_QUEUE=1,
        DTR_PASSWORD_HASH_WAIT_SECONDS=1,
        DTR_LOGIN_ADDRESS_FREE_FAILURES=10**6,
        DTR_LOGIN_NAME_FREE_FAILURES=10**6,
    )
    servers.append(server)

    def attempt(number):
        return requests.get(f"{server.url}/v2/", auth=(f"ghost{number}", "x"))

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(attempt, range(48)))
    busy = [r for r in responses if r.status_code == 429]
    assert busy, [r.status_code for r in responses]
    assert {r.status_code for r in responses} <= {401, 429}
    assert busy[0].headers["Retry-After"] == "1"
    assert busy[0].json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert token(server, *ADMIN).status_code == 200  # the right password still works after


# --- 3. one throttle for every password path ------------------------------------------------


def web_login(server, user, password):
    session = requests.Session()
    page = session.get(f"{server.url}/login").text
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    return session.post(
        f"{server.url}/login",
        data={"username": user, "password": password, "csrf_token": csrf},
        allow_redirects=False,
    )


PATHS = {
    "token GET": lambda s, u, p: token(s, u, p),
    "token POST": lambda s, u, p: requests.post(
        f"{s.url}/auth/token",
        data={"grant_type": "password", "username": u, "password": p, "service": "x"},
    ),
    "/v2 Basic": lambda s, u, p: requests.get(f"{s.url}/v2/", auth=(u, p)),
    "/api/v0 Basic": lambda s, u, p: requests.get(f"{s.url}/api/v0/accounts", auth=(u, p)),
    "web form": web_login,
}
OK = {"token GET": 200, "token POST": 200, "/v2 Basic": 200, "/api/v0 Basic": 200, "web form": 303}
PEOPLE = {f"person{n}": (f"person{n}-password", "read-write") for n in range(len(PATHS))}


@pytest.fixture(scope="module")
def throttled(tmp_path_factory):
    """The throttle's defaults, but a 3-second name lock (not 30) and no address limit: the
    per-name behaviour of every path, one person per path."""
    server = DTRProcess(
        tmp_path_factory.mktemp("throttled") / "instance",
        throttle=True,
        env={"DTR_LOGIN_NAME_LOCK_SECONDS": "3", "DTR_LOGIN_ADDRESS_FREE_FAILURES": "1000000"},
    )
    server.create_users({**PEOPLE, "admin": USERS["admin"]})
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("path", list(PATHS))
def test_guessing_a_password_is_throttled_on_every_path(throttled, path):
    """Defect: only the web form was throttled, ~8 guesses/s per connection elsewhere."""
    user = f"person{list(PATHS).index(path)}"
    attempt = PATHS[path]
    statuses = [attempt(throttled, user, f"guess-{n}").status_code for n in range(30)]
    assert statuses[:5] == [401] * 5, statuses
    assert set(statuses[5:]) == {429}, statuses
    right = attempt(throttled, user, PEOPLE[user][0])
    assert right.status_code == 429  # the right password waits too
    if path != "web form":
        assert 1 <= int(right.headers["Retry-After"]) <= 3
        message = right.json()["errors"][0]["message"]
        assert message.startswith("too many failed logins: try again in")
    else:
        assert "Too many failed logins. Try again in" in right.text
    time.sleep(3.2)  # the lock of a name is short: its owner is back in seconds
    assert attempt(throttled, user, PEOPLE[user][0]).status_code == OK[path]


def test_a_lock_from_one_path_holds_on_every_other(throttled):
    """Defect: while the web form was locked for a name, /auth/token still accepted it."""
    user = "person0"
    time.sleep(3.2)  # whatever an earlier test left
    for n in range(5):
        assert web_login(throttled, user, f"nope-{n}").status_code == 401
    for path, attempt in PATHS.items():
        assert attempt(throttled, user, PEOPLE[user][0]).status_code == 429, path
    events = requests.get(
        f"{throttled.url}/api/v0/admin/audit", params={"limit": 1000}, auth=ADMIN
    ).json()["events"]
    failed = [e for e in events if e["action"] == "login.failed" and e["target"] == user]
    assert len(failed) >= 5 and failed[0]["detail"]["via"] == "web"
    logged = requests.get(
        f"{throttled.url}/api/v0/admin/logs",
        params={"component": "auth", "q": "login failed", "limit": 500},
        auth=ADMIN,
    ).json()
    assert any(user in line["message"] for line in logged["lines"])


def test_an_access_token_works_while_its_owners_name_is_locked(throttled):
    """Tokens cannot be guessed, so the name's lock does not hold them: an attacker who locks
    a name does not stop its owner's CI."""
    user = "person1"
    time.sleep(3.2)  # whatever an earlier test left
    made = requests.post(
        f"{throttled.url}/api/v0/accounts/{user}/tokens",
        json={"name": "ci", "scopes": ["registry:pull"]},
        auth=(user, PEOPLE[user][0]),
    )
    assert made.status_code == 201, made.text
    for n in range(6):
        token(throttled, user, f"nope-{n}")
    assert token(throttled, user, PEOPLE[user][0]).status_code == 429
    assert token(throttled, user, made.json()["token"]).status_code == 200


def test_a_revoked_token_retried_does_not_lock_its_owners_password(throttled):
    """Defect: a CI job retrying a revoked access token counted failures against its
    owner's name, and the owner's right password then got 429."""
    user = "person2"
    time.sleep(3.2)  # whatever an earlier test left
    password = PEOPLE[user][0]
    made = requests.post(
        f"{throttled.url}/api/v0/accounts/{user}/tokens",
        json={"name": "stale", "scopes": ["registry:pull"]},
        auth=(user, password),
    )
    assert made.status_code == 201, made.text
    revoked = requests.delete(
        f"{throttled.url}/api/v0/accounts/{user}/tokens/{made.json()['id']}",
        auth=(user, password),
    )
    assert revoked.status_code == 204, revoked.text
    for _ in range(6):
        assert token(throttled, user, made.json()["token"]).status_code == 401
    assert token(throttled, user, password).status_code == 200


def test_an_address_backs_off_more_and_more(tmp_path, servers):
    """Many names from one address: after 20 failures, each failure locks the address twice
    as long as the one before (everyone behind it waits, right passwords too)."""
    server = start(tmp_path, {"admin": USERS["admin"]}, DTR_LOGIN_ADDRESS_MAX_LOCK_SECONDS=8)
    servers.append(server)
    for n in range(20):
        assert token(server, f"sprayed{n}", "guess").status_code == 401
    waits = []
    for n in range(3):
        refused = token(server, *ADMIN)
        assert refused.status_code == 429
        waits.append(int(refused.headers["Retry-After"]))
        time.sleep(waits[-1] + 0.2)
        assert token(server, f"more{n}", "guess").status_code == 401
    assert waits == [1, 2, 4]
    time.sleep(8.3)
    assert token(server, *ADMIN).status_code == 200


def test_two_processes_share_the_throttle(tmp_path, servers):
    first = start(tmp_path, {"admin": USERS["admin"]})
    servers.append(first)
    second = DTRProcess(tmp_path / "instance", throttle=True, database_url=first.database_url)
    servers.append(second.start())
    for n in range(5):
        assert token(first, "admin", f"guess-{n}").status_code == 401
    assert token(second, *ADMIN).status_code == 429


def test_ldap_logins_are_throttled_too(tmp_path, servers, slapd):
    server = start(tmp_path, {"admin": USERS["admin"]})
    servers.append(server)
    saved = requests.put(
        f"{server.url}/api/v0/admin/settings/auth",
        json={"mode": "ldap", "ldap": ldap_settings(slapd)},
        auth=ADMIN,
    )
    assert saved.status_code == 200, saved.text
    assert token(server, "orca", ldap_password("orca")).status_code == 200
    for n in range(5):
        assert token(server, "orca", f"guess-{n}").status_code == 401
    assert token(server, "orca", ldap_password("orca")).status_code == 429


# --- 4 and 5. credential changes reach every token at once ---------------------------------


def refresh_token(server, user, password):
    response = requests.post(
        f"{server.url}/auth/token",
        data={
            "grant_type": "password",
            "username": user,
            "password": password,
            "service": "x",
            "access_type": "offline",
            "client_id": "docker",
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["refresh_token"]


def refreshed(server, refresh):
    return requests.post(
        f"{server.url}/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh, "service": "x"},
    )


CHANGES = {
    "password change": ("POST", "/changePassword", {"newPassword": "another-long-password"}),
    "deactivation": ("PUT", "/deactivate", None),
    "role change": ("PATCH", "", {"role": "read-only"}),
    "deletion": ("DELETE", "", None),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_refresh_tokens_die_with_a_credential_change(dtr, change):
    """Defect: docker login's identity token survived a password change for 30 days."""
    name, password = f"refresh{list(CHANGES).index(change)}{os.getpid()}", "refresh-password-1"
    made = requests.post(
        f"{dtr.url}/api/v0/accounts",
        json={"name": name, "password": password, "role": "read-write"},
        auth=ADMIN,
    )
    assert made.status_code == 201, made.text
    refresh = refresh_token(dtr, name, password)
    access = requests.post(
        f"{dtr.url}/auth/token",
        data={"grant_type": "password", "username": name, "password": password, "service": "x"},
    )
    assert refreshed(dtr, refresh).status_code == 200
    method, suffix, body = CHANGES[change]
    changed = requests.request(
        method, f"{dtr.url}/api/v0/accounts/{name}{suffix}", json=body, auth=ADMIN
    )
    assert changed.status_code in (200, 204), changed.text
    gone = refreshed(dtr, refresh)
    assert gone.status_code == 401
    assert "log in again" in gone.json()["errors"][0]["message"] or change == "deletion"
    v2 = requests.get(f"{dtr.url}/v2/", headers=bearer(access))
    assert v2.status_code == 401 and 'error="invalid_token"' in v2.headers["WWW-Authenticate"]
    if change == "deactivation":  # and reactivating does not bring old tokens back
        requests.put(f"{dtr.url}/api/v0/accounts/{name}/activate", auth=ADMIN)
        assert refreshed(dtr, refresh).status_code == 401


def test_deactivation_reaches_a_bearer_in_another_process_within_seconds(tmp_path, servers):
    """Defect: a deactivated user's bearer pulled and pushed until it expired (15 min)."""
    users = {"admin": USERS["admin"], "dev": ("dev-password-123", "read-write")}
    first = start(tmp_path, users)
    servers.append(first)
    second = DTRProcess(tmp_path / "instance", throttle=True, database_url=first.database_url)
    servers.append(second.start())
    first.cli("create-repo", "dev/app")
    client = RegistryClient(first.url, "dev", "dev-password-123")
    client.push_image("dev/app", "1", simple_image("dev"))
    pull = bearer(token(second, "dev", "dev-password-123", "repository:dev/app:pull,push"))
    tags = f"{second.url}/v2/dev/app/tags/list"
    assert requests.get(tags, headers=pull).status_code == 200
    done = requests.put(f"{first.url}/api/v0/accounts/dev/deactivate", auth=ADMIN)
    assert done.status_code == 200
    started = time.monotonic()
    while requests.get(tags, headers=pull).status_code == 200:
        assert time.monotonic() - started < 5, "still pulling 5 s after the deactivation"
        time.sleep(0.2)
    assert requests.get(tags, headers=pull).status_code == 401


def test_a_downgrade_takes_push_away_at_once(dtr, repo):
    name, password = f"down{os.getpid()}", "downgraded-password"
    requests.post(
        f"{dtr.url}/api/v0/accounts",
        json={"name": name, "password": password, "role": "read-write"},
        auth=ADMIN,
    ).raise_for_status()
    push = bearer(token(dtr, name, password, f"repository:{repo}:pull,push"))
    start_upload = f"{dtr.url}/v2/{repo}/blobs/uploads/"
    assert requests.post(start_upload, headers=push).status_code == 202
    requests.patch(
        f"{dtr.url}/api/v0/accounts/{name}", json={"role": "read-only"}, auth=ADMIN
    ).raise_for_status()
    assert requests.post(start_upload, headers=push).status_code == 401
    assert claims(token(dtr, name, password, f"repository:{repo}:pull,push"))["access"][0][
        "actions"
    ] == ["pull"]


# --- 6. token requests are capped ----------------------------------------------------------


def test_token_requests_are_capped(dtr):
    """Defect: one request with 20,000 scopes cost 9 s of CPU and returned a 4.3 MB token."""
    scopes = " ".join(f"repository:admin/r{n}:pull" for n in range(20000))
    started = time.perf_counter()
    huge = requests.post(
        f"{dtr.url}/auth/token",
        data={"grant_type": "password", "username": "admin", "password": ADMIN[1], "scope": scopes},
    )
    assert huge.status_code == 400 and time.perf_counter() - started < 2
    assert "too large" in huge.json()["errors"][0]["message"]
    many = [("scope", f"repository:admin/r{n}:pull") for n in range(65)]
    refused = requests.get(f"{dtr.url}/auth/token", params=[("service", "x"), *many], auth=ADMIN)
    assert refused.status_code == 400
    assert "too many scopes in one token request: 65 (at most 64)" in refused.text
    fine = requests.get(f"{dtr.url}/auth/token", params=[("service", "x"), *many[:64]], auth=ADMIN)
    assert fine.status_code == 200


# --- 7. passwords have a minimum length ----------------------------------------------------


def test_short_passwords_are_refused_everywhere(dtr):
    short = "x" * 11
    cli = dtr.cli("create-user", "shorty", "--role", "none", "--password-stdin", stdin=short + "\n")
    assert cli.returncode != 0
    assert "password: too short (11 characters): at least 12 characters" in cli.stderr
    api = requests.post(
        f"{dtr.url}/api/v0/accounts", json={"name": "shorty", "password": short}, auth=ADMIN
    )
    assert api.status_code == 400 and "at least 12" in api.json()["errors"][0]["message"]
    change = requests.post(
        f"{dtr.url}/api/v0/accounts/writer/changePassword",
        json={"newPassword": short},
        auth=ADMIN,
    )
    assert change.status_code == 400
    assert change.json()["errors"][0]["message"].startswith("newPassword: too short")
    try:
        settings = requests.put(
            f"{dtr.url}/api/v0/admin/settings/auth", json={"passwordMinLength": 16}, auth=ADMIN
        )
        assert settings.status_code == 200 and settings.json()["passwordMinLength"] == 16
        fifteen = requests.post(
            f"{dtr.url}/api/v0/accounts",
            json={"name": "shorty", "password": "y" * 15},
            auth=ADMIN,
        )
        assert "at least 16" in fifteen.json()["errors"][0]["message"]
        for bad in (7, 129, "12", None, True):
            refused = requests.put(
                f"{dtr.url}/api/v0/admin/settings/auth", json={"passwordMinLength": bad}, auth=ADMIN
            )
            assert refused.status_code == 400, bad
    finally:
        requests.put(
            f"{dtr.url}/api/v0/admin/settings/auth", json={"passwordMinLength": 12}, auth=ADMIN
        )
    like_a_token = requests.post(
        f"{dtr.url}/api/v0/accounts",
        json={"name": "shorty", "password": "dtr_pat_" + "x" * 20},
        auth=ADMIN,
    )
    assert like_a_token.status_code == 400  # it could never log in: it reads as a token
    assert "must not start with dtr_pat_" in like_a_token.json()["errors"][0]["message"]
    assert requests.get(f"{dtr.url}/api/v0/accounts/shorty", auth=ADMIN).status_code == 404


# --- 8. a fresh install is claimed with its set-up code -----------------------------------------


def outside_address():
    """An address of this host that is not loopback (connections from it are not local)."""
    found = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True
    ).stdout.split()
    for n, word in enumerate(found):
        if word == "inet":
            return found[n + 1].split("/")[0]
    pytest.fail("this host has no non-loopback IPv4 address to test remote set-up from")


def test_a_fresh_install_needs_the_set_up_code_from_elsewhere(tmp_path, servers):
    """Defect: `serve` listens on 0.0.0.0 and the first visitor became admin."""
    address = outside_address()
    server = DTRProcess(tmp_path / "instance", throttle=True)
    server.port = free_port()
    server.host = f"0.0.0.0:{server.port}"
    server.url = f"http://127.0.0.1:{server.port}"
    servers.append(server.start())
    code = (server.instance / "setup_code").read_text().strip()
    assert oct((server.instance / "setup_code").stat().st_mode)[-3:] == "600"
    assert code in server.log_text()  # printed by serve
    remote = f"http://{address}:{server.port}/api/v0/accounts"
    body = {"name": "first", "password": "first-admin-password", "role": "admin"}
    refused = requests.post(remote, json=body)
    assert refused.status_code == 403
    assert "set-up code" in refused.json()["errors"][0]["message"]
    wrong = requests.post(remote, json={**body, "setupCode": "0000-0000"})
    assert wrong.status_code == 403
    proxied = requests.post(
        f"{server.url}/api/v0/accounts", json=body, headers={"X-Forwarded-For": "203.0.113.9"}
    )
    assert proxied.status_code == 403  # a proxy on the host does not make everyone local
    page = requests.get(f"http://{address}:{server.port}/setup").text
    assert 'name="setup_code"' in page
    assert 'name="setup_code"' not in requests.get(f"{server.url}/setup").text
    made = requests.post(remote, json={**body, "setupCode": code})
    assert made.status_code == 201, made.text
    assert not (server.instance / "setup_code").exists()
    again = requests.post(remote, json={**body, "name": "second", "setupCode": code})
    assert again.status_code == 401  # set up now: only admins create users
