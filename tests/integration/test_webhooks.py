"""Webhooks against a real HTTP receiver started by the test: DTR (its production server)
POSTs signed deliveries of pushes and deletions, retries a receiver that answers 500 or is
down, keeps its queue through a restart without sending anything twice, redelivers, tests,
and shows webhooks only to the admins of their repository or namespace."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.integration.test_api import Api
from tests.support.client import RegistryClient
from tests.support.images import simple_image
from tests.support.server import USERS, DTRProcess, free_port

FAST_RETRIES = {"DTR_WEBHOOK_RETRY_SECONDS": "1", "DTR_WEBHOOK_POLL_SECONDS": "1"}
RECEIVERS_HERE = {"DTR_WEBHOOK_ALLOW_LOCAL": "1"}  # the test's receivers listen on loopback
SECRET = "a-secret-of-the-receiver"


class Receiver:
    """An HTTP server recording every POST; `answers` is the status codes to give, in order
    (200 once they run out)."""

    def __init__(self, port=None, answers=(), delay=0.0):
        self.port = port or free_port()
        self.delay = delay  # seconds before each answer
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.answers = list(answers)
        self.received = []
        self.lock = threading.Lock()
        self.server = None

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(receiver.delay)
                with receiver.lock:
                    receiver.received.append((dict(self.headers), body))
                    status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.received)} deliveries arrived, not {count}")

    def payloads(self):
        with self.lock:
            return [json.loads(body) for _, body in self.received]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = DTRProcess(
        tmp_path_factory.mktemp("webhooks") / "instance", env=FAST_RETRIES | RECEIVERS_HERE
    )
    process.create_users()
    process.start()
    yield process
    process.stop()


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def admin_api(server):
    return Api(server.url, "admin", USERS["admin"][0])


_count = iter(range(10**6))


@pytest.fixture
def repo(server):
    name = f"admin/hooked{next(_count)}"
    assert server.cli("create-repo", name).returncode == 0
    return name


def add_webhook(api, repo, url, events=("manifest.push", "tag.create"), **extra):
    body = {"url": url, "events": list(events), "secret": SECRET, **extra}
    response = api.post(f"/repositories/{repo}/webhooks", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def deliveries(api, repo, webhook_id):
    response = api.get(f"/repositories/{repo}/webhooks/{webhook_id}/deliveries")
    assert response.status_code == 200, response.text
    return response.json()["deliveries"]


def wait_until(condition, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def push(server, repo, tag, seed):
    image = simple_image(seed)
    RegistryClient(server.url, "admin", USERS["admin"][0]).push_image(repo, tag, image)
    return image


def test_a_push_is_delivered_signed_with_what_happened(server, admin_api, repo, receiver):
    created = add_webhook(admin_api, repo, receiver.url)
    assert created["secret"] == SECRET and created["events"] == ["manifest.push", "tag.create"]
    image = push(server, repo, "v1", "hook-signed")
    received = receiver.wait_for(2)
    events = {}
    for headers, body in received:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-DTR-Signature"] == expected
        assert headers["Content-Type"] == "application/json"
        payload = json.loads(body)
        assert headers["X-DTR-Event"] == payload["event"]
        events[payload["event"]] = payload
    assert set(events) == {"manifest.push", "tag.create"}
    tag = events["tag.create"]
    assert (tag["repository"], tag["tag"], tag["digest"]) == (repo, "v1", image.digest)
    assert tag["actor"] == "admin" and tag["size"] == len(image.manifest)
    assert tag["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    history = wait_until(
        lambda: [d for d in deliveries(admin_api, repo, created["id"]) if d["state"] != "pending"]
    )
    assert {d["state"] for d in history} == {"delivered"}
    assert history[0]["lastAttempts"][0]["statusCode"] == 200
    listed = admin_api.get(f"/repositories/{repo}/webhooks").json()["webhooks"]
    assert [hook["id"] for hook in listed] == [created["id"]]
    assert "secret" not in listed[0]


def test_a_receiver_answering_500_is_retried_with_the_same_delivery_id(server, admin_api, repo):
    from tests.integration.test_metrics import scrape, value

    before = value(scrape(server), "dtr_webhook_deliveries_total", outcome="retrying")
    receiver = Receiver(answers=[500, 503]).start()
    try:
        created = add_webhook(admin_api, repo, receiver.url, events=["tag.create"])
        push(server, repo, "v1", "hook-retried")
        received = receiver.wait_for(3)
    finally:
        receiver.stop()
    assert len({headers["X-DTR-Delivery"] for headers, _ in received}) == 1
    assert len({body for _, body in received}) == 1
    delivery = wait_until(
        lambda: [d for d in deliveries(admin_api, repo, created["id"]) if d["state"] != "pending"]
    )[0]
    assert delivery["state"] == "delivered" and delivery["attempts"] == 3
    assert [a["statusCode"] for a in delivery["lastAttempts"]] == [200, 503, 500]
    after = value(scrape(server), "dtr_webhook_deliveries_total", outcome="retrying")
    assert after - before == 2  # the metric of each failed attempt


def test_a_receiver_that_is_down_gets_the_delivery_once_it_is_up(server, admin_api, repo):
    port = free_port()
    created = add_webhook(admin_api, repo, f"http://127.0.0.1:{port}/hook", ["tag.create"])
    push(server, repo, "v1", "hook-down")
    failed = wait_until(
        lambda: [d for d in deliveries(admin_api, repo, created["id"]) if d["attempts"] >= 1]
    )[0]
    assert failed["state"] == "pending" and failed["lastAttempts"][0]["statusCode"] is None
    assert "Connection" in failed["lastAttempts"][0]["error"]
    receiver = Receiver(port=port).start()
    try:
        (headers, body), *_ = receiver.wait_for(1)
    finally:
        receiver.stop()
    assert json.loads(body)["tag"] == "v1"
    assert headers["X-DTR-Delivery"] == str(failed["id"])


def test_the_queue_survives_a_restart_and_nothing_arrives_twice(tmp_path):
    """Deliveries queued while the receiver is down are kept through a restart of DTR and
    each arrives once when it comes back."""
    port = free_port()
    process = DTRProcess(tmp_path / "instance", env=FAST_RETRIES | RECEIVERS_HERE)
    process.create_users()
    assert process.cli("create-repo", "admin/restarted").returncode == 0
    process.start()
    try:
        api = Api(process.url, "admin", USERS["admin"][0])
        add_webhook(api, "admin/restarted", f"http://127.0.0.1:{port}/hook", ["tag.create"])
        for number in range(3):
            push(process, "admin/restarted", f"v{number}", f"hook-restart-{number}")
        wait_until(lambda: process.sql("SELECT min(attempts) FROM webhook_deliveries")[0][0])
        process.stop()
        process.start()
        receiver = Receiver(port=port).start()
        try:
            receiver.wait_for(3)
            time.sleep(3)  # time for a duplicate to arrive, if one would
            payloads = receiver.payloads()
            ids = [headers["X-DTR-Delivery"] for headers, _ in receiver.received]
        finally:
            receiver.stop()
    finally:
        process.stop()
    assert sorted(p["tag"] for p in payloads) == ["v0", "v1", "v2"]
    assert len(ids) == len(set(ids)) == 3


def test_redeliver_sends_the_same_body_under_a_new_delivery_id(server, admin_api, repo, receiver):
    created = add_webhook(admin_api, repo, receiver.url, ["tag.create"])
    push(server, repo, "v1", "hook-redeliver")
    (first_headers, first_body), *_ = receiver.wait_for(1)
    first = first_headers["X-DTR-Delivery"]
    path = f"/repositories/{repo}/webhooks/{created['id']}/deliveries/{first}/redeliver"
    again = admin_api.post(path)
    assert again.status_code == 202, again.text
    assert again.json()["redeliveryOf"] == int(first)
    (_, _), (headers, body) = receiver.wait_for(2)
    assert body == first_body and headers["X-DTR-Delivery"] == str(again.json()["id"]) != first


def test_the_test_button_sends_a_test_event_even_when_disabled(server, admin_api, repo, receiver):
    created = add_webhook(admin_api, repo, receiver.url, enabled=False)
    push(server, repo, "v1", "hook-disabled")
    tested = admin_api.post(f"/repositories/{repo}/webhooks/{created['id']}/test")
    assert tested.status_code == 202, tested.text
    (headers, body), *_ = receiver.wait_for(1)
    assert headers["X-DTR-Event"] == "webhook.test"
    assert json.loads(body)["repository"] == repo
    time.sleep(1.5)
    assert len(receiver.received) == 1  # the disabled webhook got no push events


def test_a_namespace_webhook_hears_every_repository_of_it(server, admin_api, receiver):
    org = f"hookorg{next(_count)}"
    created = admin_api.post("/accounts", json={"type": "organization", "name": org})
    assert created.status_code == 201, created.text
    body = {"url": receiver.url, "events": ["repository.create", "tag.delete"]}
    hook = admin_api.post(f"/repositoryNamespaces/{org}/webhooks", json=body)
    assert hook.status_code == 201, hook.text
    assert len(hook.json()["secret"]) >= 32  # generated
    for name in ("one", "two"):
        made = admin_api.post(f"/repositories/{org}", json={"name": name})
        assert made.status_code == 201, made.text
    push(server, f"{org}/one", "gone", "hook-ns")
    assert admin_api.delete(f"/repositories/{org}/one/tags/gone").status_code == 204
    received = receiver.wait_for(3)
    seen = sorted((p["event"], p["repository"]) for p in receiver.payloads())
    assert seen == [
        ("repository.create", f"{org}/one"),
        ("repository.create", f"{org}/two"),
        ("tag.delete", f"{org}/one"),
    ]
    secret = hook.json()["secret"].encode()
    for headers, data in received:
        expected = hmac.new(secret, data, hashlib.sha256).hexdigest()
        assert headers["X-DTR-Signature"] == "sha256=" + expected


def test_webhooks_are_only_for_the_admins_of_their_scope(server, admin_api, repo, receiver):
    created = add_webhook(admin_api, repo, receiver.url)
    one = f"/repositories/{repo}/webhooks/{created['id']}"
    writer = Api(server.url, "writer", USERS["writer"][0])
    nobody = Api(server.url, "nobody", USERS["nobody"][0])
    assert writer.get(f"/repositories/{repo}/webhooks").status_code == 403  # sees it, no admin
    assert nobody.get(f"/repositories/{repo}/webhooks").status_code == 404  # private
    assert nobody.get(one).status_code == 404
    assert nobody.delete(one).status_code == 404
    assert requests.get(server.url + "/api/v0" + one).status_code == 404  # anonymous
    # another repository's id is no webhook of this one
    other = f"admin/other{next(_count)}"
    assert server.cli("create-repo", other).returncode == 0
    assert admin_api.get(f"/repositories/{other}/webhooks/{created['id']}").status_code == 404
    assert admin_api.get(f"/repositoryNamespaces/admin/webhooks/{created['id']}").status_code == 404
    assert writer.get("/repositoryNamespaces/admin/webhooks").status_code == 403
    assert admin_api.get(one).json()["url"] == receiver.url


@pytest.mark.parametrize(
    "body, field",
    [
        ({"url": "ftp://x/y", "events": ["tag.create"]}, "url"),
        ({"url": "http:///nohost", "events": ["tag.create"]}, "url"),
        ({"url": "http://x:99999999/", "events": ["tag.create"]}, "url"),
        ({"url": "http://x/" + "a" * 3000, "events": ["tag.create"]}, "url"),
        ({"url": "http://x/a b", "events": ["tag.create"]}, "url"),
        ({"url": ["http://x/"], "events": ["tag.create"]}, "url"),
        ({"url": "http://x/", "events": []}, "events"),
        ({"url": "http://x/", "events": ["push"]}, "events"),
        ({"url": "http://x/", "events": "tag.create"}, "events"),
        ({"url": "http://x/", "events": [{"a": 1}]}, "events"),
        ({"url": "http://x/", "events": ["tag.create"], "secret": "short"}, "secret"),
        ({"url": "http://x/", "events": ["tag.create"], "secret": 12345678901234567}, "secret"),
        ({"url": "http://x/", "events": ["tag.create"], "enabled": "yes"}, "enabled"),
        ({"url": "http://x/", "events": ["tag.create"], "owner": "me"}, "owner"),
        ({"url": "http://x/\x00", "events": ["tag.create"]}, "url"),
    ],
)
def test_a_bad_webhook_is_refused_naming_the_field_and_nothing_is_kept(
    server, admin_api, repo, body, field
):
    response = admin_api.post(f"/repositories/{repo}/webhooks", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["message"].startswith(f"{field}:"), error
    assert admin_api.get(f"/repositories/{repo}/webhooks").json()["webhooks"] == []


def test_changing_a_webhook_keeps_what_is_not_given(server, admin_api, repo, receiver):
    created = add_webhook(admin_api, repo, receiver.url)
    one = f"/repositories/{repo}/webhooks/{created['id']}"
    changed = admin_api.patch(one, json={"events": ["tag.delete"], "enabled": False})
    assert changed.status_code == 200, changed.text
    assert changed.json()["events"] == ["tag.delete"] and changed.json()["url"] == receiver.url
    refused = admin_api.patch(one, json={"url": "nope"})
    assert refused.status_code == 400
    assert admin_api.get(one).json()["url"] == receiver.url
    assert admin_api.delete(one).status_code == 204
    assert admin_api.get(one).status_code == 404
    audit = admin_api.get("/admin/audit?limit=20").json()
    actions = [event["action"] for event in audit["events"] if event["target"] == repo]
    assert {"webhook.create", "webhook.update", "webhook.delete"} <= set(actions)


def test_a_registry_webhook_hears_every_repository_and_the_registry_jobs(
    server, admin_api, repo, receiver
):
    kinds = ["manifest.push", "gc.finish", "storage.verified"]
    made = admin_api.post("/admin/webhooks", json={"url": receiver.url, "events": kinds})
    assert made.status_code == 201, made.text
    hook = made.json()
    try:
        assert (hook["scope"], hook["events"]) == ("registry", kinds)
        image = push(server, repo, "reg", "hook-registry")
        collected = admin_api.post("/admin/jobs", json={"job": "registryGC", "dryRun": True})
        assert collected.status_code == 202, collected.text
        payloads = {}
        wait_until(
            lambda: (
                payloads.update({p["event"]: p for p in receiver.payloads()})
                or ({"manifest.push", "gc.finish"} <= set(payloads))
            )
        )
        verified = admin_api.post("/admin/storage/verifications")
        assert verified.status_code == 202, verified.text
        wait_until(
            lambda: (
                payloads.update({p["event"]: p for p in receiver.payloads()})
                or ("storage.verified" in payloads)
            )
        )
        pushed = payloads["manifest.push"]
        assert (pushed["repository"], pushed["digest"]) == (repo, image.digest)
        gc = payloads["gc.finish"]
        assert "repository" not in gc and "actor" not in gc  # the registry did it
        outcome = gc["outcome"]
        assert outcome["job"] == collected.json()["id"] and outcome["state"] == "done"
        assert outcome["dryRun"] is True and outcome["triggeredBy"] == "api:admin"
        assert {"manifestsDeleted", "blobsDeleted", "bytesReclaimed"} <= set(outcome)
        checked = payloads["storage.verified"]
        assert checked["actor"] == "admin"
        assert checked["outcome"]["job"] == verified.json()["id"]
        assert checked["outcome"]["blobsChecked"] >= 2  # at least the image's config and layer
        assert checked["outcome"]["corrupt"] == checked["outcome"]["missing"] == 0
        audited = admin_api.get("/admin/audit").json()["events"]
        finished = [e for e in audited if e["action"] == "gc.finish"]
        assert finished[0]["target"] == "garbageCollection"
        assert finished[0]["detail"]["job"] == outcome["job"]
    finally:
        admin_api.delete(f"/admin/webhooks/{hook['id']}")


def test_only_administrators_have_registry_webhooks_and_jobs_only_reach_them(
    server, admin_api, repo
):
    writer = Api(server.url, "writer", USERS["writer"][0])
    body = {"url": "http://127.0.0.1:9/hook", "events": ["gc.finish"]}
    assert writer.get("/admin/webhooks").status_code == 403
    assert writer.post("/admin/webhooks", json=body).status_code == 403
    assert requests.get(server.url + "/api/v0/admin/webhooks").status_code == 401
    refused = admin_api.post(f"/repositories/{repo}/webhooks", json=body)
    assert refused.status_code == 400 and refused.json()["errors"][0]["message"].startswith(
        "events:"
    )
    refused = admin_api.post("/repositoryNamespaces/admin/webhooks", json=body)
    assert refused.status_code == 400
    made = admin_api.post("/admin/webhooks", json=body)
    assert made.status_code == 201, made.text
    one = f"/admin/webhooks/{made.json()['id']}"
    # not reachable through a namespace or a repository
    assert (
        admin_api.get(f"/repositoryNamespaces/admin/webhooks/{made.json()['id']}").status_code
        == 404
    )
    assert admin_api.get(f"/repositories/{repo}/webhooks/{made.json()['id']}").status_code == 404
    assert writer.delete(one).status_code == 403
    assert admin_api.delete(one).status_code == 204
    assert admin_api.get(one).status_code == 404


def test_pulls_are_delivered_by_the_worker_not_by_the_pull(server, admin_api, repo, receiver):
    hook = add_webhook(admin_api, repo, receiver.url, events=("pull",))
    assert hook["events"] == ["pull"]
    image = push(server, repo, "pulled", "hook-pull")
    client = RegistryClient(server.url, "admin", USERS["admin"][0])
    assert client.get_manifest(repo, "pulled").status_code == 200
    assert client.get_manifest(repo, image.digest).status_code == 200
    client.request("HEAD", f"/v2/{repo}/manifests/pulled")  # not a pull
    receiver.wait_for(2)
    time.sleep(1.5)  # a worker round more: nothing else arrives
    pulls = receiver.payloads()
    assert [p["event"] for p in pulls] == ["pull", "pull"]
    assert {(p.get("tag"), p["digest"], p["actor"]) for p in pulls} == {
        ("pulled", image.digest, "admin"),
        (None, image.digest, "admin"),
    }
    assert all(p["repository"] == repo for p in pulls)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """A DTR with the default: no webhooks to loopback or link-local addresses."""
    process = DTRProcess(tmp_path_factory.mktemp("webhooks-guarded") / "instance", env=FAST_RETRIES)
    process.create_users()
    process.start()
    yield process
    process.stop()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://127.9.9.9/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://[fe80::1]/hook",
    ],
)
def test_webhooks_to_this_machine_or_link_local_addresses_are_refused(guarded, url):
    api = Api(guarded.url, "admin", USERS["admin"][0])
    refused = api.post(
        "/repositoryNamespaces/admin/webhooks", json={"url": url, "events": ["tag.create"]}
    )
    assert refused.status_code == 400, refused.text
    message = refused.json()["errors"][0]["message"]
    assert message.startswith("url: ") and "WEBHOOK_ALLOW_LOCAL" in message
    assert api.get("/repositoryNamespaces/admin/webhooks").json()["webhooks"] == []


def test_a_name_that_resolves_to_this_machine_is_not_sent_to(guarded, receiver):
    api = Api(guarded.url, "admin", USERS["admin"][0])
    private = {"url": "http://10.1.2.3/hook", "events": ["tag.create"], "enabled": False}
    assert api.post("/admin/webhooks", json=private).status_code == 201  # a team's network
    by_name = receiver.url.replace("127.0.0.1", "localhost")
    made = api.post("/admin/webhooks", json={"url": by_name, "events": ["tag.create"]})
    assert made.status_code == 201, made.text  # a name: checked when sending
    hook = made.json()["id"]
    assert api.post(f"/admin/webhooks/{hook}/test").status_code == 202

    def tried():
        listed = api.get(f"/admin/webhooks/{hook}/deliveries").json()["deliveries"]
        return listed and listed[0]["lastAttempts"] and listed[0]

    delivery = wait_until(tried)
    error = delivery["lastAttempts"][0]["error"]
    assert error.startswith("not sent: localhost resolves to ") and "loopback" in error
    assert delivery["lastAttempts"][0]["statusCode"] is None
    assert receiver.received == []


def test_a_slow_receiver_delays_only_its_own_deliveries(server, admin_api, repo, receiver):
    slow = Receiver(delay=4).start()
    try:
        add_webhook(admin_api, repo, slow.url, events=("tag.create",))
        add_webhook(admin_api, repo, receiver.url, events=("tag.create",))
        for number in range(3):
            push(server, repo, f"t{number}", f"hook-slow-{number}")
        started = time.monotonic()
        receiver.wait_for(3, seconds=3)  # the slow one holds its first for 4 s
        assert time.monotonic() - started < 3
        assert [p["tag"] for p in receiver.payloads()] == ["t0", "t1", "t2"]  # in order
        slow.wait_for(3, seconds=30)
        assert [p["tag"] for p in slow.payloads()] == ["t0", "t1", "t2"]
    finally:
        slow.stop()
