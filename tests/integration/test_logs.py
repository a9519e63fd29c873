"""The logs of a running server: a file per component, request lines with their fields and
no secrets, GET /api/v0/admin/logs (admins), the Logs page and its live stream of
server-sent events, and the cap on concurrent streams."""

import re
import time
import uuid

import pytest
import requests

from tests.support.server import USERS

COMPONENTS = ("auth", "registry", "storage", "database", "api", "web", "gc", "scheduler")
ADMIN = ("admin", USERS["admin"][0])
WRITER = ("writer", USERS["writer"][0])


def api_logs(dtr, auth=ADMIN, **params):
    response = requests.get(f"{dtr.url}/api/v0/admin/logs", params=params, auth=auth, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def web_session(server, user="admin"):
    """A browser-like session logged in through the /login form."""
    session = requests.Session()
    form = session.get(f"{server.url}/login", timeout=10)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    response = session.post(
        f"{server.url}/login",
        data={"csrf_token": csrf, "username": user, "password": USERS[user][0]},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 303, response.text
    return session


def open_stream(session, server, headers=None, **params):
    return session.get(
        f"{server.url}/logs/stream",
        params=params,
        headers=headers,
        stream=True,
        timeout=(5, 30),
        allow_redirects=False,
    )


def read_events(response, until, seconds=20):
    """Events ({"event", "id", "data"}) of an SSE response until `until(event)` is true."""
    deadline = time.monotonic() + seconds
    events, current = [], {}
    for line in response.iter_lines(decode_unicode=True):
        if time.monotonic() > deadline:
            break
        if line == "":
            if current:
                events.append(current)
                if until(current):
                    return events
            current = {}
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            current["data"] = current["data"] + "\n" + value if "data" in current else value
        elif field:
            current[field] = value
    raise AssertionError(f"the awaited event did not come: {events}")


def registry_get(dtr, path, auth=ADMIN):
    return requests.get(f"{dtr.url}{path}", auth=auth, timeout=10)


def run_dry_gc(dtr):
    for _ in range(100):
        started = requests.post(
            f"{dtr.url}/api/v0/admin/jobs",
            json={"job": "registryGC", "dryRun": True},
            auth=ADMIN,
            timeout=10,
        )
        if started.status_code == 202:
            break
        assert started.status_code == 409, started.text  # another run: wait for it
        time.sleep(0.1)
    job_url = f"{dtr.url}/api/v0/admin/jobs/{started.json()['id']}"
    for _ in range(300):
        if requests.get(job_url, auth=ADMIN, timeout=10).json()["state"] != "running":
            return
        time.sleep(0.1)
    raise AssertionError("the garbage collection did not finish")


# --- files ------------------------------------------------------------------------------------


def test_every_component_has_its_file_and_activity_fills_them(dtr):
    registry_get(dtr, "/v2/")
    registry_get(dtr, "/api/v0/accounts")
    requests.get(f"{dtr.url}/login", timeout=10)
    requests.get(f"{dtr.url}/auth/token", params={"service": "x"}, auth=ADMIN, timeout=10)
    run_dry_gc(dtr)
    folder = dtr.instance / "logs"
    for component in COMPONENTS:
        assert (folder / f"{component}.log").exists(), component
    for component in ("auth", "registry", "database", "api", "web", "gc"):
        assert (folder / f"{component}.log").stat().st_size > 0, component
    registry_lines = (folder / "registry.log").read_text().splitlines()
    assert any(" INFO registry: GET /v2/ 200 " in line for line in registry_lines)
    assert "token issued to admin" in (folder / "auth.log").read_text()
    assert "garbage collection" in (folder / "gc.log").read_text()


# --- request lines and secrets ------------------------------------------------------------------


def test_request_lines_carry_method_path_status_bytes_duration_user_and_client(dtr):
    marker = uuid.uuid4().hex
    response = registry_get(dtr, f"/api/v0/accounts?limit=5&start=0&tag={marker}")
    assert response.status_code == 200
    (line,) = api_logs(dtr, component="api", q="/api/v0/accounts?limit&start&tag")["lines"][-1:]
    assert line["component"] == "api" and line["level"] == "INFO"
    assert line["method"] == "GET" and line["status"] == 200
    assert line["path"] == "/api/v0/accounts?limit&start&tag"  # no query values
    assert marker not in str(line)
    assert line["bytes"] == len(response.content)
    assert isinstance(line["durationMs"], float | int) and line["durationMs"] >= 0
    assert line["user"] == "admin" and line["client"] == "127.0.0.1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    registry_get(dtr, "/v2/", auth=WRITER)
    (line,) = api_logs(dtr, component="registry", q="GET /v2/ ")["lines"][-1:]
    assert line["user"] == "writer" and line["status"] == 200


def test_the_logs_never_hold_a_password_a_token_or_a_cookie(dtr):
    password = USERS["admin"][0]
    wrong = f"wrong-{uuid.uuid4().hex}"
    # registry token with Basic, then the token used against the registry and the API
    token = requests.get(
        f"{dtr.url}/auth/token",
        params={"service": "dtr", "scope": "repository:admin/x:pull", "account": "admin"},
        auth=ADMIN,
        timeout=10,
    ).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{dtr.url}/v2/", headers=bearer, timeout=10).status_code == 200
    api = requests.get(f"{dtr.url}/api/v0/accounts", headers=bearer, timeout=10)
    assert api.status_code == 401  # registry tokens are for /v2 only
    # docker login's OAuth form, with a refresh token
    oauth = requests.post(
        f"{dtr.url}/auth/token",
        data={
            "grant_type": "password",
            "username": "admin",
            "password": password,
            "service": "dtr",
            "access_type": "offline",
        },
        timeout=10,
    ).json()
    # a wrong password, and a web login (its session cookie)
    assert registry_get(dtr, "/v2/", auth=("admin", wrong)).status_code == 401
    session = web_session(dtr)
    assert session.get(f"{dtr.url}/settings/logs", timeout=10).status_code == 200
    cookie = session.cookies.get("dtr_session")
    secrets = {
        "password": password,
        "wrong password": wrong,
        "token": token,
        "access token of the form": oauth["access_token"],
        "refresh token": oauth["refresh_token"],
        "session cookie": cookie,
    }
    texts = {path.name: path.read_text() for path in (dtr.instance / "logs").glob("*.log*")}
    texts["api"] = requests.get(
        f"{dtr.url}/api/v0/admin/logs", params={"limit": 5000}, auth=ADMIN, timeout=10
    ).text
    for name, text in texts.items():
        for what, secret in secrets.items():
            assert secret and secret not in text, f"{what} in {name}"
        assert "Authorization" not in text and "Bearer " not in text, name
    auth_lines = api_logs(dtr, component="auth", limit=50)["lines"]
    failed = [line for line in auth_lines if line["message"].startswith("login failed for 'admin'")]
    assert failed
    failure = failed[-1]
    assert failure["level"] == "WARNING" and failure["client"] == "127.0.0.1"


# --- GET /api/v0/admin/logs -----------------------------------------------------------------


def test_api_filters_by_component_level_text_since_and_limit(dtr):
    marker = uuid.uuid4().hex
    start = api_logs(dtr, limit=1)["last"]
    registry_get(dtr, f"/v2/admin/{marker}/tags/list")
    registry_get(dtr, "/v2/", auth=(f"nobody-{marker}", "wrong"))  # a failed login: WARNING
    everything = api_logs(dtr, since=start)
    seqs = [line["seq"] for line in everything["lines"]]
    assert seqs == sorted(seqs) and seqs[0] > start
    assert everything["last"] >= seqs[-1]
    components = {line["component"] for line in everything["lines"]}
    assert {"registry", "auth", "api"} <= components
    registry = api_logs(dtr, component="registry", since=start)["lines"]
    assert registry and {line["component"] for line in registry} == {"registry"}
    assert any(marker in line["path"] for line in registry)
    warnings = api_logs(dtr, level="warning", since=start)["lines"]
    assert warnings and {line["level"] for line in warnings} <= {"WARNING", "ERROR", "CRITICAL"}
    assert any(f"nobody-{marker}" in line["message"] for line in warnings)
    found = api_logs(dtr, q=marker.upper(), since=start)["lines"]
    assert found and all(marker in str(line).lower() for line in found)
    one = api_logs(dtr, since=start, limit=1)
    assert [line["seq"] for line in one["lines"]] == seqs[:1] and one["last"] == seqs[0]
    newest = api_logs(dtr, limit=2)
    assert len(newest["lines"]) == 2 and newest["lines"][0]["seq"] < newest["lines"][1]["seq"]
    later = api_logs(dtr, since=newest["last"], component="gc")
    assert later["lines"] == []  # nothing in gc since


@pytest.mark.parametrize(
    "params", [{"component": "kernel"}, {"level": "loud"}, {"since": "x"}, {"limit": "0"}]
)
def test_api_refuses_bad_parameters(dtr, params):
    response = requests.get(f"{dtr.url}/api/v0/admin/logs", params=params, auth=ADMIN, timeout=10)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "INVALID_INPUT"


def test_api_is_for_admins_only(dtr):
    anonymous = requests.get(f"{dtr.url}/api/v0/admin/logs", timeout=10)
    assert anonymous.status_code == 401
    writer = requests.get(f"{dtr.url}/api/v0/admin/logs", auth=WRITER, timeout=10)
    assert writer.status_code == 403
    assert writer.json()["errors"][0]["code"] == "NOT_AUTHORIZED"


# --- the Logs page and the live stream ------------------------------------------------------------


def test_logs_page_shows_filtered_lines_and_connects_its_stream(dtr):
    marker = uuid.uuid4().hex
    registry_get(dtr, f"/v2/admin/{marker}/tags/list")
    session = web_session(dtr)
    page = session.get(
        f"{dtr.url}/settings/logs", params={"component": "registry", "q": marker}, timeout=10
    )
    assert page.status_code == 200
    html = page.text
    assert 'hx-ext="sse"' in html and 'sse-swap="line"' in html
    assert re.search(r'sse-connect="/logs/stream\?since=\d+&amp;component=registry&amp;q=', html)
    assert f"/v2/admin/{marker}/tags/list" in html
    assert html.count('class="log-line ') == 1  # only the matching line
    assert 'href="/settings/logs"' in html  # the tab
    assert "vendor/htmx-sse.min.js" in html
    fragment = session.get(
        f"{dtr.url}/settings/logs",
        params={"component": "auth"},
        headers={"HX-Request": "true", "HX-Target": "log-view"},
        timeout=10,
    )
    assert fragment.text.lstrip().startswith('<section id="log-view"')
    assert "<html" not in fragment.text


def test_logs_page_and_stream_are_for_admins(dtr):
    writer = web_session(dtr, "writer")
    assert writer.get(f"{dtr.url}/settings/logs", timeout=10).status_code == 403
    assert open_stream(writer, dtr).status_code == 403
    anonymous = open_stream(requests.Session(), dtr)
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["Location"]


def test_a_stream_receives_a_line_logged_after_it_connected(dtr):
    session = web_session(dtr)
    marker = uuid.uuid4().hex
    with open_stream(session, dtr, component="registry", q=marker) as stream:
        assert stream.status_code == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        registry_get(dtr, f"/v2/admin/{marker}/manifests/latest")
        events = read_events(stream, lambda event: marker in event.get("data", ""))
    line = events[-1]
    assert line["event"] == "line" and line["id"].isdigit()
    assert line["data"].startswith('<div class="log-line info"')
    assert f"GET /v2/admin/{marker}/manifests/latest 404" in line["data"]
    assert "user=admin" in line["data"]
    # a reconnection with Last-Event-ID gets what came after, even when logged before it
    registry_get(dtr, f"/v2/admin/{marker}/tags/list")
    again = {"Last-Event-ID": line["id"]}
    with open_stream(session, dtr, headers=again, component="registry", q=marker) as stream:
        events = read_events(stream, lambda event: "event" in event)
    assert f"/v2/admin/{marker}/tags/list" in events[-1]["data"]
    assert int(events[-1]["id"]) > int(line["id"])


def test_html_in_a_line_is_escaped_in_the_stream(dtr):
    session = web_session(dtr)
    marker = uuid.uuid4().hex
    with open_stream(session, dtr, component="auth", q=marker) as stream:
        registry_get(dtr, "/v2/", auth=(f"<b>{marker}</b>", "wrong"))
        events = read_events(stream, lambda event: marker in event.get("data", ""))
    assert f"&lt;b&gt;{marker}&lt;/b&gt;" in events[-1]["data"]
    assert f"<b>{marker}" not in events[-1]["data"]


def test_streams_beyond_the_cap_get_503_and_a_closed_one_frees_its_place(dtr):
    """The server allows 8 streams (LOG_STREAM_LIMIT); one whose browser left ends within
    seconds, though its next heartbeat is 15 s away."""
    session = web_session(dtr)
    streams = []
    try:
        deadline = time.monotonic() + 5  # streams of earlier tests may still be ending
        while len(streams) < 8:
            stream = open_stream(session, dtr)
            if stream.status_code == 200:
                streams.append(stream)
                continue
            assert stream.status_code == 503 and time.monotonic() < deadline
            time.sleep(0.2)
        refused = open_stream(session, dtr)
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "30"
        assert "Too many live log streams" in refused.text
        streams.pop().close()
        closed = time.monotonic()
        while True:
            stream = open_stream(session, dtr)
            if stream.status_code == 200:
                streams.append(stream)
                break
            assert stream.status_code == 503 and time.monotonic() - closed < 3.5
            time.sleep(0.2)
    finally:
        for stream in streams:
            stream.close()
