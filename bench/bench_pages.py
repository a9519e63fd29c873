#!/usr/bin/env python3
"""Benchmark the two portal pages that grow with a registry: a repository page with many
tags and the repository list with many repositories (targets of the portal issue: each
under 300 ms p50 at 10,000 rows on SQLite, and no growth with the number of rows beyond the
page shown).

Starts a real DTR (`python app.py serve --http`, gunicorn) in a temporary instance, pushes a
few small images through the registry API, then adds rows in bulk straight into its SQLite
database (tags pointing at those images, empty repositories), and times page loads of a
logged-in admin's browser session (requests, one connection, sequential):

- repository page: first page by name, newest first, the last page, a filter, for a
  repository of 100 tags and one of `--tags` (default 10,000);
- repository list: first page, the last page, a search, with 100 and with `--repositories`
  (default 10,000) repositories.

    .venv/bin/python bench/bench_pages.py [--tags 10000] [--repositories 10000] [--runs 40]
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from bench import Registry, push_tiny_image  # noqa: E402
from tests.support.server import DTRProcess  # noqa: E402

PASSWORD = "bench-pages-password"
ORG = "benchorg"
IMAGES = 5  # distinct images the tags point at


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def api(process, method, path, **kwargs):
    response = requests.request(
        method, f"{process.url}/api/v0{path}", auth=("bench", PASSWORD), **kwargs
    )
    response.raise_for_status()
    return response.json() if response.content else None


def repository_with_tags(process, name, count):
    """benchorg/NAME with IMAGES images pushed, and `count` tags in all (added in bulk)."""
    api(process, "POST", f"/repositories/{ORG}", json={"name": name, "visibility": "private"})
    registry = Registry(process.url, "bench", PASSWORD)
    for number in range(IMAGES):
        push_tiny_image(registry, f"{ORG}/{name}", f"pushed-{number}", salt=f"{name}{number}")
    with sqlite3.connect(process.instance / "dtr.db") as database:
        repository_id, manifests = _repository_rows(database, name)
        start = datetime(2026, 1, 1)
        rows = [
            (
                repository_id,
                f"v{number // 100}.{number % 100}.{number:05d}",
                manifests[number % len(manifests)],
                "bench",
                start + timedelta(minutes=number),
            )
            for number in range(count - IMAGES)
        ]
        database.executemany(
            "INSERT INTO tags (repository_id, name, manifest_id, pushed_by, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            rows,
        )


def _repository_rows(database, name):
    (org_id,) = database.execute("SELECT id FROM accounts WHERE name = ?", (ORG,)).fetchone()
    (repository_id,) = database.execute(
        "SELECT id FROM repositories WHERE namespace_id = ? AND name = ?", (org_id, name)
    ).fetchone()
    manifests = [
        row[0]
        for row in database.execute(
            "SELECT id FROM manifests WHERE repository_id = ?", (repository_id,)
        )
    ]
    return repository_id, manifests


def add_repositories(process, count, prefix):
    """`count` empty private repositories benchorg/PREFIX-NNNNN, added in bulk."""
    with sqlite3.connect(process.instance / "dtr.db") as database:
        (org_id,) = database.execute("SELECT id FROM accounts WHERE name = ?", (ORG,)).fetchone()
        now = datetime(2026, 1, 1)
        database.executemany(
            "INSERT INTO repositories (namespace_id, name, visibility, pull_only_signed,"
            " short_description, long_description, created_at) VALUES (?, ?, ?, 0, ?, '', ?)",
            [
                (org_id, f"{prefix}-{n:05d}", "private", f"repository number {n}", now)
                for n in range(count)
            ],
        )


def browser_session(process):
    """A logged-in admin's browser: the login form with its CSRF token."""
    session = requests.Session()
    session.trust_env = False
    page = session.get(f"{process.url}/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = session.post(
        f"{process.url}/login",
        data={"username": "bench", "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert answer.status_code == 303, answer.status_code
    return session


TAG_ROW = '<tr id="tag-'
REPOSITORY_ROW = '<td><a href="/repositories/'


def timed(session, url, runs, row, rows):
    """p50 and p95 in ms of `runs` GETs of url (after 3 unmeasured), each showing `rows`
    rows (a page of 50, or what the last page or a filter leaves)."""
    times = []
    for run in range(runs + 3):
        began = time.perf_counter()
        answer = session.get(url)
        elapsed = time.perf_counter() - began
        assert answer.status_code == 200, (url, answer.status_code)
        assert answer.text.count(row) == rows, (url, answer.text.count(row), rows)
        if run >= 3:
            times.append(elapsed * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def timed_views(session, url, views, runs, row):
    """(label, p50, p95) of each view: (label, query string, rows it shows)."""
    return [(label, *timed(session, url + query, runs, row, rows)) for label, query, rows in views]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tags", type=int, default=10_000)
    parser.add_argument("--repositories", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dtr-bench-pages-") as folder:
        process = DTRProcess(Path(folder) / "instance")
        process.create_users({"bench": (PASSWORD, "admin")})
        process.start()
        try:
            run(process, args)
        finally:
            process.stop()


def run(process, args):
    api(process, "POST", "/accounts", json={"type": "organization", "name": ORG})
    log(f"a repository of 100 tags and one of {args.tags:,}")
    repository_with_tags(process, "small", 100)
    repository_with_tags(process, "big", args.tags)
    session = browser_session(process)
    base = f"{process.url}/repositories/{ORG}"
    results = []
    last = -(-args.tags // 50)
    for name, count, last_page in (("small", 100, 2), ("big", args.tags, last)):
        matching = sum(1 for n in range(count - IMAGES) if f".{n // 100}.{n % 100}.".count(".42."))
        views = (
            ("first page, by name", "", 50),
            ("newest first", "?sort=-pushed", 50),
            ("last page", f"?page={last_page}", count - (last_page - 1) * 50),
            ("filter '.42.'", "?q=.42.", min(50, matching)),
        )
        measure = (session, f"{base}/{name}", views, args.runs, TAG_ROW)
        results += [("repository page", f"{count:,} tags", *row) for row in timed_views(*measure)]
    log("repository list: 100 repositories, then more")
    add_repositories(process, 100 - 2, "few")
    for count in (100, args.repositories):
        if count != 100:
            add_repositories(process, count - 100, "many")
        last = -(-count // 50)
        names = [f"few-{n:05d}" for n in range(98)] + [f"many-{n:05d}" for n in range(count - 100)]
        searched = sum(1 for name in names if "-0004" in name)
        views = (
            ("first page", "", 50),
            ("last page", f"?page={last}", count - (last - 1) * 50),
            ("search '-0004'", "?q=-0004", min(50, searched)),
        )
        measure = (session, f"{process.url}/repositories", views, args.runs, REPOSITORY_ROW)
        label = f"{count:,} repositories"
        results += [("repository list", label, *row) for row in timed_views(*measure)]
    print("| page | rows | view | p50 ms | p95 ms |")
    print("|---|---:|---|---:|---:|")
    for page, rows, label, p50, p95 in results:
        print(f"| {page} | {rows} | {label} | {p50:.1f} | {p95:.1f} |")


if __name__ == "__main__":
    main()
