#!/usr/bin/env python3
"""Benchmark DTR replicas behind HAProxy: what a second and a third replica add.

Starts a private PostgreSQL cluster and, for each case, DTR processes (`python app.py serve
--http`, gunicorn) on one new database and one storage folder (DTR_STORAGE_ROOT), with
Debian's HAProxy in front (tests/support/haproxy.py: round-robin per request, health checks),
then measures through HAProxy:

1. manifest GET by tag with a bearer token: `wrk -t2 -c32 -d10s --latency` (bench.py's
   `run_wrk`), requests/s and p50/p99;
2. a small-blob push: 1,000 random 4 KiB blobs plus a config, each one single-request
   `POST ?digest=` (bench.py's `Registry.push_small_blob`), from 8 client threads, then the
   manifest that names them all; blobs/s over the whole sequence.

Cases: 1, 2 and 3 replicas on PostgreSQL behind HAProxy; for reference, 1 DTR on PostgreSQL
without HAProxy and 1 DTR on SQLite (its default) without HAProxy, each also with 2 server
processes (`serve --workers 2`). Everything (wrk, the
pushing threads, HAProxy, PostgreSQL and the replicas) shares the machine's cores.

With `--storage s3` every case stores its blobs in a bucket of its own on moto's S3 server
(started as the tests start it, tests/support/moto_server.py), set in Settings › Storage
through the API once the case is up, instead of the shared folder.

    .venv/bin/python bench/bench_replicas.py [--duration 10] [--connections 32]
        [--clients 8] [--small-blobs 1000] [--small-size 4096] [--storage filesystem|s3]
        [--json FILE] [--only TEXT]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from bench import (  # noqa: E402
    OCI_LAYER,
    Registry,
    descriptor,
    image_config,
    image_manifest,
    parallel,
    push_tiny_image,
    run_wrk,
    sha256_digest,
    timed,
)
from tests.support.haproxy import HAProxy  # noqa: E402
from tests.support.moto_server import MotoServer  # noqa: E402
from tests.support.postgres import Postgres  # noqa: E402
from tests.support.server import DTRProcess  # noqa: E402

USER, PASSWORD = "bench", "bench-replicas-password"
REPOSITORY = "bench/bench"
ACCEPT = "application/vnd.oci.image.manifest.v1+json"


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Case:
    label: str
    replicas: int
    database: str  # "postgresql" or "sqlite"
    proxy: bool
    workers: int = 1  # server processes of each replica (serve --workers)


CASES = [
    Case("1 DTR, SQLite, direct (no HAProxy)", 1, "sqlite", False),
    Case("1 DTR, SQLite, 2 workers, direct", 1, "sqlite", False, workers=2),
    Case("1 DTR, PostgreSQL, direct (no HAProxy)", 1, "postgresql", False),
    Case("1 DTR, PostgreSQL, 2 workers, direct", 1, "postgresql", False, workers=2),
    Case("1 replica, PostgreSQL, HAProxy", 1, "postgresql", True),
    Case("2 replicas, PostgreSQL, HAProxy", 2, "postgresql", True),
    Case("3 replicas, PostgreSQL, HAProxy", 3, "postgresql", True),
]


class Deployment:
    """The case's DTR processes (and HAProxy): `url` is where clients go."""

    def __init__(self, case: Case, folder: Path, postgres: Postgres | None, s3_options=None):
        self.case = case
        self.folder = folder
        self.s3_options = s3_options  # the case's bucket, set once it is up
        url = postgres.new_database() if case.database == "postgresql" else None
        # replicas share a storage folder; SQLite (one process) keeps the instance's own
        env = {"DTR_STORAGE_ROOT": str(folder / "storage")} if url else {}
        env["DTR_WORKERS"] = str(case.workers)
        self.replicas = []
        for index in range(case.replicas):
            (folder / f"replica{index}").mkdir(parents=True)
            instance = folder / f"replica{index}" / "instance"
            self.replicas.append(DTRProcess(instance, env=env, database_url=url))
        self.proxy = None

    def __enter__(self):
        first = self.replicas[0]
        first.create_users({USER: (PASSWORD, "admin")})
        result = first.cli("create-repo", REPOSITORY)
        assert result.returncode == 0, result.stderr
        with ThreadPoolExecutor(len(self.replicas)) as pool:
            list(pool.map(DTRProcess.start, self.replicas))
        if self.case.proxy:
            backends = [replica.host for replica in self.replicas]
            self.proxy = HAProxy(self.folder / "haproxy", backends).start()
        if self.s3_options:
            response = requests.put(
                f"{self.url}/api/v0/admin/settings/storage",
                json={"backend": "s3", "options": self.s3_options},
                auth=(USER, PASSWORD),
                timeout=60,
            )
            assert response.status_code == 200, response.text
        return self

    @property
    def url(self):
        return (self.proxy or self.replicas[0]).url

    def __exit__(self, *exc):
        if self.proxy is not None:
            self.proxy.stop()
        for replica in self.replicas:
            replica.stop()


def manifest_gets(deployment, args, tmp):
    """wrk: manifest GET by tag with a bearer token, through the deployment's URL."""
    registry = Registry(deployment.url, USER, PASSWORD)
    push_tiny_image(registry, REPOSITORY, "latest")
    token = requests.get(
        f"{deployment.url}/auth/token",
        params={"service": "bench", "scope": f"repository:{REPOSITORY}:pull"},
        auth=(USER, PASSWORD),
        timeout=30,
    ).json()["token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": ACCEPT}
    url = f"{deployment.url}/v2/{REPOSITORY}/manifests/latest"
    assert requests.get(url, headers=headers, timeout=30).status_code == 200
    return run_wrk("wrk", url, "GET", headers, args.duration, 2, args.connections, tmp)


def small_push(deployment, args):
    """bench.py's small-blob push: blobs/s over the blobs, their config and the manifest."""
    registry = Registry(deployment.url, USER, PASSWORD)
    blobs = [os.urandom(args.small_size) for _ in range(args.small_blobs)]
    digests = [sha256_digest(blob) for blob in blobs]
    config = image_config(digests)
    items = [(config, sha256_digest(config)), *zip(blobs, digests, strict=True)]
    manifest = image_manifest(config, [descriptor(OCI_LAYER, blob) for blob in blobs])
    registry.blob_exists(REPOSITORY, digests[0])  # the token, outside the timing

    def push(item):
        return registry.push_small_blob(REPOSITORY, *item)

    def run():
        singles = parallel(args.clients, push, items)
        registry.put_manifest(REPOSITORY, "small", manifest)
        return singles

    seconds, singles = timed(run)
    assert all(singles), "a registry without single-request uploads"
    return len(items) / seconds


def requests_per_replica(deployment):
    """Registry requests each replica logged (its registry.log): how HAProxy spread them."""
    counts = []
    for replica in deployment.replicas:
        path = replica.instance / "logs" / "registry.log"
        counts.append(path.read_text().count(" registry: ") if path.exists() else 0)
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk (10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--clients", type=int, default=8, help="pushing threads (8)")
    parser.add_argument("--small-blobs", type=int, default=1000, help="blobs pushed (1000)")
    parser.add_argument("--small-size", type=int, default=4096, help="bytes per blob (4096)")
    parser.add_argument("--storage", choices=("filesystem", "s3"), default="filesystem")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--only", help="the cases whose label contains this text")
    args = parser.parse_args()
    assert shutil.which("wrk"), "wrk is not installed (make system-deps)"
    tmp = Path(tempfile.mkdtemp(prefix="dtr-bench-replicas"))
    postgres = Postgres().start()
    (tmp / "moto").mkdir()
    moto = MotoServer(tmp / "moto").start() if args.storage == "s3" else None
    rows = []
    try:
        for number, case in enumerate(CASES):
            if args.only and args.only not in case.label:
                continue
            log(f"{case.label}: starting")
            s3_options = None
            if moto is not None:
                s3_options = moto.driver_options(bucket=f"bench-case-{number}")
                moto.client().create_bucket(Bucket=s3_options["bucket"])
            folder = tmp / f"case{number}"
            with Deployment(case, folder, postgres, s3_options) as deployment:
                gets = manifest_gets(deployment, args, tmp)
                log(
                    f"{case.label}: manifest GET {gets.rps:,.0f} req/s, p50 {gets.p50_ms:.1f}"
                    f" ms, p99 {gets.p99_ms:.1f} ms, {gets.errors} errors"
                )
                os.sync()
                blobs_per_second = small_push(deployment, args)
                log(f"{case.label}: small push {blobs_per_second:,.0f} blobs/s")
                spread = requests_per_replica(deployment)
            rows.append((case, gets, blobs_per_second, spread))
    finally:
        if moto is not None:
            moto.stop()
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    cores = os.cpu_count()
    print(
        f"\n## Replicas, storage {args.storage} ({cores} cores; manifest GET: wrk -t2 "
        f"-c{args.connections} -d{args.duration}s; push: {args.small_blobs}+1 x "
        f"{args.small_size} B blobs + manifest, {args.clients} threads)\n"
    )
    print(
        "| deployment | manifest GET req/s | p50 ms | p99 ms | non-2xx | small push blobs/s "
        "| registry requests per replica |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for case, gets, blobs_per_second, spread in rows:
        print(
            f"| {case.label} | {gets.rps:,.0f} | {gets.p50_ms:.1f} | {gets.p99_ms:.1f} | "
            f"{gets.errors} | {blobs_per_second:,.0f} | {' / '.join(f'{n:,}' for n in spread)} |"
        )
    if args.json:
        figures = [
            {
                "deployment": case.label,
                "replicas": case.replicas,
                "database": case.database,
                "haproxy": case.proxy,
                "manifest_get": gets.__dict__,
                "small_push_blobs_per_second": blobs_per_second,
                "registry_requests_per_replica": spread,
            }
            for case, gets, blobs_per_second, spread in rows
        ]
        Path(args.json).write_text(json.dumps({"cores": cores, "cases": figures}, indent=2))


if __name__ == "__main__":
    main()
