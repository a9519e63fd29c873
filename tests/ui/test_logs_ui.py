"""Settings > Logs in a real browser: the htmx SSE extension appends lines logged after the
page loaded, each led by its replica's name, and changing a filter reconnects the stream with
the new query."""

import re
import socket

import pytest
import requests

from tests.support.server import USERS, DTRProcess

ADMIN = ("admin", USERS["admin"][0])


@pytest.fixture(scope="module")
def https_dtr(tmp_path_factory):
    server = DTRProcess(tmp_path_factory.mktemp("logs-ui") / "instance", http=False)
    server.create_users({"admin": USERS["admin"]})
    server.start()
    yield server
    server.stop()


def registry_get(server, path, auth=ADMIN):
    requests.get(f"{server.url}{path}", auth=auth, verify=False, timeout=10)


def wait_until_streaming(page):
    """The SSE extension has opened the view's EventSource."""
    page.wait_for_function(
        "() => { const e = document.querySelector('.log-lines');"
        " const d = e && e['htmx-internal-data'];"
        " return d && d.sseEventSource && d.sseEventSource.readyState === 1; }"
    )


def test_logs_tab_follows_new_lines_and_filters_reconnect(https_dtr, page):
    base = https_dtr.url
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/repositories$"))
    page.get_by_role("link", name="Settings").click()  # boosted navigation, as people do
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Logs").click()
    page.wait_for_url(re.compile(r"/settings/logs$"))
    wait_until_streaming(page)

    registry_get(https_dtr, "/v2/admin/live-line/tags/list")
    line = page.locator(".log-line", has_text="GET /v2/admin/live-line/tags/list 404")
    line.wait_for()
    assert page.locator(".log-lines > .log-line").first.inner_text() == line.inner_text()
    # each line is led by its replica's name (the host name: REPLICA_NAME is not set), which
    # the Replica filter offers
    assert line.locator(".log-replica").inner_text() == socket.gethostname()
    assert line.inner_text().startswith(f"{socket.gethostname()} ")
    replica = page.get_by_label("Replica")
    assert replica.locator("option").all_inner_texts() == ["All replicas", socket.gethostname()]

    page.get_by_label("Component").select_option("auth")
    page.wait_for_url(re.compile(r"component=auth"))
    wait_until_streaming(page)
    texts = page.locator(".log-line").all_inner_texts()
    assert texts and all(" auth: " in text for text in texts)
    registry_get(https_dtr, "/v2/admin/not-for-auth/tags/list")
    registry_get(https_dtr, "/v2/", auth=("ghost", "wrong"))
    page.locator(".log-line", has_text="login failed for 'ghost'").wait_for()
    assert page.locator(".log-line", has_text="not-for-auth").count() == 0

    page.get_by_label("Text in the line").fill("ghost")
    page.wait_for_url(re.compile(r"q=ghost"))
    wait_until_streaming(page)
    assert page.locator(".log-line").count() == 1
