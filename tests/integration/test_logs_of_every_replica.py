"""Two DTR processes (replicas named east and west) sharing one database (a SQLite file; a
PostgreSQL database): each one's admin logs API, Logs page and live stream show the lines of
both, in one order, each tagged with the replica that logged it (dtr/log_shipper.py,
dtr/log_queries.py); each keeps its own lines only in its files."""

import time
import uuid

import pytest
import requests

from tests.integration.test_logs import open_stream, read_events, web_session
from tests.support.server import USERS, DTRProcess

ADMIN = ("admin", USERS["admin"][0])
SHIPPED_WITHIN = 5  # seconds


@pytest.fixture(scope="module")
def pair(shared_database):
    folder, url = shared_database
    east = DTRProcess(folder / "east", database_url=url, env={"DTR_REPLICA_NAME": "east"})
    west = DTRProcess(folder / "west", database_url=url, env={"DTR_REPLICA_NAME": "west"})
    east.create_users()
    east.start()
    west.start()
    yield east, west
    east.stop()
    west.stop()


def api_logs(server, **params):
    response = requests.get(
        f"{server.url}/api/v0/admin/logs", params=params, auth=ADMIN, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_lines(server, seconds=SHIPPED_WITHIN, **params):
    """The lines `server`'s API answers for `params`, once there are any."""
    deadline = time.monotonic() + seconds
    while True:
        lines = api_logs(server, **params)["lines"]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def test_a_request_to_each_shows_in_the_logs_of_the_other_tagged_with_its_replica(pair):
    east, west = pair
    for served_by, read_from in ((east, west), (west, east)):
        marker = uuid.uuid4().hex
        requests.get(f"{served_by.url}/v2/admin/{marker}/tags/list", auth=ADMIN, timeout=10)
        started = time.monotonic()
        lines = wait_for_lines(read_from, component="registry", q=marker)
        assert lines, f"{served_by.env['DTR_REPLICA_NAME']}'s line not seen by the other"
        assert time.monotonic() - started < SHIPPED_WITHIN
        (line,) = lines
        assert line["replica"] == served_by.env["DTR_REPLICA_NAME"]
        assert line["path"] == f"/v2/admin/{marker}/tags/list" and line["status"] == 404
        assert line["user"] == "admin"
        own_file = (served_by.instance / "logs" / "registry.log").read_text()
        assert marker in own_file
        assert marker not in (read_from.instance / "logs" / "registry.log").read_text()


def test_lines_of_both_are_in_one_order_and_filtered_by_replica(pair):
    east, west = pair
    marker = uuid.uuid4().hex
    start = api_logs(east, limit=1)["last"]
    for round in range(3):
        for server in (east, west):
            requests.get(f"{server.url}/v2/admin/{marker}-{round}/tags/list", timeout=10)
            time.sleep(0.05)
    deadline = time.monotonic() + SHIPPED_WITHIN
    while len(lines := api_logs(west, since=start, q=marker)["lines"]) < 6:
        assert time.monotonic() < deadline, lines
        time.sleep(0.1)
    seqs = [line["seq"] for line in lines]
    assert seqs == sorted(seqs) and len(set(seqs)) == 6
    assert {line["replica"] for line in lines} == {"east", "west"}
    same = api_logs(east, since=start, q=marker)["lines"]
    assert [line["seq"] for line in same] == seqs  # one sequence, whoever answers
    only_west = api_logs(east, since=start, q=marker, replica="west")["lines"]
    assert len(only_west) == 3 and {line["replica"] for line in only_west} == {"west"}
    assert api_logs(east, q=marker, replica="north")["lines"] == []


def test_a_live_stream_on_one_receives_the_lines_of_the_other(pair):
    east, west = pair
    session = web_session(east)
    marker = uuid.uuid4().hex
    with open_stream(session, east, component="registry", q=marker) as stream:
        assert stream.status_code == 200
        requests.get(f"{west.url}/v2/admin/{marker}/manifests/latest", timeout=10)
        events = read_events(stream, lambda event: marker in event.get("data", ""))
    data = events[-1]["data"]
    assert data.startswith('<div class="log-line info"')
    assert '<span class="log-replica">west</span>' in data
    assert f"GET /v2/admin/{marker}/manifests/latest 401" in data


def test_the_logs_page_names_the_replicas(pair):
    east, west = pair
    marker = uuid.uuid4().hex
    for server in (east, west):
        requests.get(f"{server.url}/v2/admin/{marker}/tags/list", timeout=10)
    deadline = time.monotonic() + SHIPPED_WITHIN
    while len(api_logs(west, q=marker)["lines"]) < 2:
        assert time.monotonic() < deadline, "a replica's line did not arrive"
        time.sleep(0.1)
    session = web_session(west)
    page = session.get(f"{west.url}/settings/logs", params={"q": marker}, timeout=10)
    assert page.status_code == 200
    html = page.text
    assert '<option value="east"' in html and '<option value="west"' in html
    assert html.count('<span class="log-replica">east</span>') == 1
    assert html.count('<span class="log-replica">west</span>') == 1
    page = session.get(
        f"{west.url}/settings/logs", params={"q": marker, "replica": "east"}, timeout=10
    )
    assert page.text.count('class="log-line ') == 1
    assert '<option value="east" selected>' in page.text
