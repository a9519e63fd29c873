#!/usr/bin/env python3
"""Benchmark single sign-on: what a sign-in costs, and what floods of the two public OIDC
endpoints cost.

Starts a real DTR (`python app.py serve --http`, gunicorn) in auth mode OIDC with a real
OpenID provider (oidc-provider under Node, tests/support/oidc_provider.py), then measures:

1. A whole sign-in, as a browser makes it (requests, no browser): DTR's /login/oidc, the
   provider's login form, the code back to DTR's callback (code exchange, ID token
   verification, userinfo, the account and its teams brought in step). Median and p95 of
   `--sign-ins` sign-ins, first sign-in (account created) apart; and the part DTR's callback
   takes.
2. A flood of `GET /login/oidc` (sign-in starts) with wrk: requests per second, and how many
   discovery documents the provider was asked for meanwhile (at most one per 2 s).
3. A flood of unsolicited callbacks (`/login/oidc/callback?code=x&state=y`, no sign-in
   started): requests per second, and the audit rows they wrote (none).

    .venv/bin/python bench/bench_oidc.py [--sign-ins 50] [--duration 10] [--clients 8]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from bench import run_wrk  # noqa: E402
from tests.support.oidc_provider import OidcProvider  # noqa: E402
from tests.support.server import DTRProcess  # noqa: E402

ADMIN = ("admin", "bench-admin-password")
FORM_ACTION = re.compile(r'action="([^"]+)"')


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def sign_in(dtr, login, password):
    """One whole sign-in; seconds in all, and seconds of DTR's callback."""
    session = requests.Session()
    started = time.perf_counter()
    form = session.get(f"{dtr.url}/login/oidc")  # DTR -> provider -> its login form
    action = FORM_ACTION.search(form.text).group(1)
    provider = form.url.split("/interaction/")[0]
    answer = session.post(
        provider + action, data={"login": login, "password": password}, allow_redirects=False
    )
    while not answer.headers["Location"].startswith(dtr.url):
        answer = session.get(
            requests.compat.urljoin(provider, answer.headers["Location"]), allow_redirects=False
        )
    callback_started = time.perf_counter()
    done = session.get(answer.headers["Location"], allow_redirects=False)
    finished = time.perf_counter()
    if done.status_code != 303:
        raise RuntimeError(f"sign-in failed: {done.status_code} {done.text[:300]}")
    return finished - started, finished - callback_started


def audit_rows(dtr):
    """Events in the audit log (up to 1000)."""
    answer = requests.get(f"{dtr.url}/api/v0/admin/audit?limit=1000", auth=ADMIN, timeout=30)
    return len(answer.json()["events"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sign-ins", type=int, default=50)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is needed (apt-get install wrk)")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-oidc-") as tmp:
        tmp = Path(tmp)
        dtr = DTRProcess(tmp / "instance")
        provider = OidcProvider(tmp / "provider")
        provider.add_client("dtr", "bench-secret", [f"{dtr.url}/login/oidc/callback"])
        provider.set_user("ada", "ada-password", groups=["devs"])
        provider.start()
        dtr.create_users({ADMIN[0]: (ADMIN[1], "admin")})
        dtr.start()
        try:
            settings = {"issuer": provider.issuer, "client_id": "dtr"}
            settings["client_secret"] = "bench-secret"
            body = {"mode": "oidc", "oidc": settings}
            url = f"{dtr.url}/api/v0/admin/settings/auth"
            requests.put(url, json=body, auth=ADMIN, timeout=30).raise_for_status()
            org = {"name": "acme", "type": "organization"}
            requests.post(f"{dtr.url}/api/v0/accounts", json=org, auth=ADMIN).raise_for_status()
            team = {"name": "devs", "oidcGroup": "devs"}
            teams = f"{dtr.url}/api/v0/accounts/acme/teams"
            requests.post(teams, json=team, auth=ADMIN).raise_for_status()

            first, first_callback = sign_in(dtr, "ada", "ada-password")
            log(f"first sign-in (account created): {first * 1000:.1f} ms")
            totals, callbacks = [], []
            for _ in range(args.sign_ins):
                total, callback = sign_in(dtr, "ada", "ada-password")
                totals.append(total)
                callbacks.append(callback)
            quantiles = statistics.quantiles(totals, n=20)
            results["sign_in"] = {
                "first_ms": round(first * 1000, 1),
                "first_callback_ms": round(first_callback * 1000, 1),
                "median_ms": round(statistics.median(totals) * 1000, 1),
                "p95_ms": round(quantiles[18] * 1000, 1),
                "callback_median_ms": round(statistics.median(callbacks) * 1000, 1),
                "count": args.sign_ins,
            }
            log(f"sign-ins: {results['sign_in']}")

            fetched = provider.log_text().count("openid-configuration")
            starts = run_wrk(
                wrk, f"{dtr.url}/login/oidc", "GET", {}, args.duration, 2, args.clients, tmp
            )
            discovery = provider.log_text().count("openid-configuration") - fetched
            results["sign_in_starts"] = {
                "requests_per_second": round(starts.rps, 1),
                "discovery_fetches": discovery,
                "seconds": args.duration,
            }
            log(f"sign-in starts: {results['sign_in_starts']}")

            rows = audit_rows(dtr)
            unsolicited = run_wrk(
                wrk,
                f"{dtr.url}/login/oidc/callback?code=x&state=y",
                "GET",
                {},
                args.duration,
                2,
                args.clients,
                tmp,
            )
            results["unsolicited_callbacks"] = {
                "requests_per_second": round(unsolicited.rps, 1),
                "audit_rows_written": audit_rows(dtr) - rows,
            }
            log(f"unsolicited callbacks: {results['unsolicited_callbacks']}")
        finally:
            dtr.stop()
            provider.stop()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
