#!/usr/bin/env python3
"""Benchmark logins: what a credential costs at the token endpoint, and what a flood of bad
logins costs everyone else.

Starts real DTR servers (`python app.py serve --http`, gunicorn) in temporary instances and
measures with wrk:

1. `GET /auth/token` requests per second with a password (remembered for
   CREDENTIAL_CACHE_SECONDS after a success, as docker's many logins of one push meet it),
   with a password checked every time (a second server with that cache off: an argon2 check
   per request), with a personal access token, and with a robot account's secret.
2. A manifest GET by tag with a bearer token (as docker pulls), p50/p99 and rate, alone and
   while `--flood` (default 32) connections log in as an unknown user as fast as they can;
   the worker's peak RSS during the flood. The throttle's limits are lifted on this server,
   so the flood meets the bounded password checks, not the address lock.
3. The throttle with its defaults: failures of a name before it locks and the lock's
   length; failures of an address before it locks and how its locks grow.

    .venv/bin/python bench/bench_auth.py [--duration 10] [--clients 8] [--flood 32]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from bench import Registry, RssMonitor, push_tiny_image, run_wrk  # noqa: E402
from tests.support.server import DTRProcess  # noqa: E402

PASSWORD = "bench-auth-password"
RELAXED = {"DTR_LOGIN_NAME_FREE_FAILURES": "1000000", "DTR_LOGIN_ADDRESS_FREE_FAILURES": "1000000"}


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def basic(user, secret):
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def server(folder, env=None, throttle=False):
    process = DTRProcess(folder / "instance", env={**(env or {})}, throttle=throttle)
    if not throttle:
        process.env.update(RELAXED)
    process.create_users({"bench": (PASSWORD, "admin")})
    return process.start()


def api(process, method, path, **kwargs):
    response = requests.request(
        method, f"{process.url}/api/v0{path}", auth=("bench", PASSWORD), **kwargs
    )
    response.raise_for_status()
    return response.json() if response.content else None


def token_rates(args, main, uncached, tmp):
    """GET /auth/token per second with each kind of credential."""
    token = api(
        main, "POST", "/accounts/bench/tokens", json={"name": "bench", "scopes": ["registry:pull"]}
    )["token"]
    api(main, "POST", "/accounts", json={"type": "organization", "name": "benchorg"})
    api(main, "POST", "/repositories/benchorg", json={"name": "app"})
    robot = api(
        main,
        "POST",
        "/organizations/benchorg/robots",
        json={"name": "ci", "access": [{"repository": "benchorg/app", "actions": ["pull"]}]},
    )
    cores = os.cpu_count() or 2
    cases = [
        ("password (remembered after a success)", main, basic("bench", PASSWORD), args.clients),
        # as many connections as hashing slots: more would only meet 429s
        ("password (an argon2 check each time)", uncached, basic("bench", PASSWORD), cores),
        ("personal access token", main, basic("bench", token), args.clients),
        ("robot account", main, basic(robot["name"], robot["secret"]), args.clients),
    ]
    rows = []
    for label, process, headers, connections in cases:
        url = f"{process.url}/auth/token?service=bench&scope=repository:bench/bench:pull"
        assert requests.get(url, headers=headers).status_code == 200, label
        result = run_wrk("wrk", url, "GET", headers, args.duration, 2, connections, tmp)
        log(f"{label}: {result.rps:.0f} req/s, p99 {result.p99_ms:.1f} ms, {result.errors} errors")
        rows.append((f"{label}, {connections} connections", result))
    return rows


def flood(args, main, tmp):
    """Manifest GETs with a token, alone and during a flood of bad logins."""
    api(main, "POST", "/repositories/bench", json={"name": "bench"})
    registry = Registry(main.url, "bench", PASSWORD)
    push_tiny_image(registry, "bench/bench", "latest")
    token = requests.get(
        f"{main.url}/auth/token",
        params={"service": "bench", "scope": "repository:bench/bench:pull"},
        auth=("bench", PASSWORD),
    ).json()["token"]
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.oci.image.manifest.v1+json",
    }
    url = f"{main.url}/v2/bench/bench/manifests/latest"
    alone = run_wrk("wrk", url, "GET", headers, args.duration, 2, args.clients, tmp)
    log(f"manifest GET alone: {alone.rps:.0f} req/s, p99 {alone.p99_ms:.1f} ms")
    floods = {}
    for kind, headers_of_flood in (
        ("bad logins", ["-H", "Authorization: " + basic("ghost", "wrong")["Authorization"]]),
        ("anonymous requests (no login at all)", []),
    ):
        command = ["wrk", "-t2", f"-c{args.flood}", f"-d{args.duration + 4}s", "--latency"]
        with RssMonitor(main.process.pid) as rss:
            flooding = subprocess.Popen(
                [*command, *headers_of_flood, f"{main.url}/v2/"], stdout=subprocess.PIPE, text=True
            )
            time.sleep(2)
            during = run_wrk("wrk", url, "GET", headers, args.duration, 2, args.clients, tmp)
            output, _ = flooding.communicate()
        rate = output.split("Requests/sec:")[1].split()[0] if "Requests/sec:" in output else "?"
        log(f"manifest GET during {kind}: {during.rps:.0f} req/s, p99 {during.p99_ms:.1f} ms")
        floods[kind] = (during, rate, rss.peak_children_mib)
    return alone, floods


def throttle_behaviour(tmp):
    """Count attempts until the throttle answers 429, with its default limits."""
    process = server(tmp / "throttle", throttle=True)
    try:
        url = f"{process.url}/auth/token"
        attempts = 0
        while True:
            attempts += 1
            response = requests.get(url, auth=("bench", f"guess-{attempts}"))
            if response.status_code == 429:
                break
        name = (attempts - 1, int(response.headers["Retry-After"]))
        failures, waits, sprayed = attempts - 1, [], 0  # the name's failures count here too
        first_lock = None
        while len(waits) < 4:
            sprayed += 1
            response = requests.get(url, auth=(f"spray{sprayed}", "guess"))
            if response.status_code == 401:
                failures += 1
                continue
            first_lock = first_lock or failures
            waits.append(int(response.headers["Retry-After"]))
            time.sleep(waits[-1] + 0.1)
        return name, first_lock, waits
    finally:
        process.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--clients", type=int, default=8, help="connections of each load")
    parser.add_argument("--flood", type=int, default=32, help="connections of bad logins")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dtr-bench-auth"))
    main_server = server(tmp / "main")
    uncached = server(tmp / "uncached", {"DTR_CREDENTIAL_CACHE_SECONDS": "0"})
    try:
        rates = token_rates(args, main_server, uncached, tmp)
        alone, floods = flood(args, main_server, tmp)
    finally:
        main_server.stop()
        uncached.stop()
    (name_failures, name_lock), address_failures, address_waits = throttle_behaviour(tmp)
    cores = os.cpu_count()
    print(f"\n## Logins ({cores} cores, {args.clients} connections, {args.duration} s each)\n")
    print("| GET /auth/token with | requests/s | non-2xx | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|")
    for label, result in rates:
        print(
            f"| {label} | {result.rps:,.0f} | {result.errors} | {result.p50_ms:.1f} | "
            f"{result.p99_ms:.1f} |"
        )
    print("\n| manifest GET by tag, bearer token | requests/s | p50 ms | p99 ms | worker RSS |")
    print("|---|---:|---:|---:|---:|")
    print(f"| alone | {alone.rps:,.0f} | {alone.p50_ms:.1f} | {alone.p99_ms:.1f} | |")
    for kind, (during, rate, peak) in floods.items():
        print(
            f"| during {args.flood} connections of {kind}, {rate} answered/s | "
            f"{during.rps:,.0f} | {during.p50_ms:.1f} | {during.p99_ms:.1f} | {peak:.0f} MiB |"
        )
    waits = ", ".join(map(str, address_waits))
    print(
        f"Throttle (defaults): a name locks after {name_failures} failures for {name_lock} s; "
        f"an address after {address_failures} failures, then for {waits} s."
    )
    if args.json:
        figures = {
            "token_rates": {label: r.__dict__ for label, r in rates},
            "manifest_alone": alone.__dict__,
            "manifest_during": {
                kind: {**during.__dict__, "flood_rate": rate, "peak_worker_rss_mib": peak}
                for kind, (during, rate, peak) in floods.items()
            },
            "throttle": {
                "name_failures": name_failures,
                "name_lock_seconds": name_lock,
                "address_failures": address_failures,
                "address_waits": address_waits,
            },
        }
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
