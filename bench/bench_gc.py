#!/usr/bin/env python3
"""Benchmark garbage collection: a registry of N blobs (default 100,000) of which a share
(default half) is garbage, on the filesystem backend; how long a collection takes, and the
manifest GET latency that clients see during it against without it, while pushes go on.

The registry is made directly through the application's models and small files (not over
HTTP, which would take hours): repositories with tagged images (live), untagged images
older than the grace window and loose blobs no manifest names (garbage). Then a real DTR
(`python app.py serve --http`, gunicorn) serves it; client threads GET manifests by tag
(a bearer token, like docker) for a baseline, then during a collection started through
`POST /api/v0/admin/jobs` (in the server's process; `--cli` runs `python app.py gc` in
another process instead), while one more thread pushes small images.

    .venv/bin/python bench/bench_gc.py [--blobs 100000] [--garbage 0.5] [--clients 4]
        [--rate REQUESTS_PER_SECOND] [--cli]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
PASSWORD = "bench-gc-password"
BLOBS_PER_IMAGE = 5  # a config and four layers
REPOSITORIES = 20


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(media_type, digest, size):
    return {"mediaType": media_type, "digest": digest, "size": size}


# --- building the registry -------------------------------------------------------------------


def populate(instance, blob_count, garbage_share, seed):
    """Create the instance: returns (live tags as (repository, tag), expected counts)."""
    from flask_migrate import upgrade
    from sqlalchemy import insert

    from dtr import create_app
    from dtr.database import db
    from dtr.models import Blob, Manifest, ManifestReference, RepositoryBlob, Tag, utcnow
    from dtr.services.accounts import create_user
    from dtr.services.repositories import create_repository
    from dtr.storage.layout import blob_path

    rng = random.Random(seed)
    app = create_app(instance)
    storage_root = Path(app.config["STORAGE_ROOT"])
    garbage_blobs = int(blob_count * garbage_share)
    live_images = (blob_count - garbage_blobs) // BLOBS_PER_IMAGE
    untagged_images = garbage_blobs // 2 // BLOBS_PER_IMAGE  # half of the garbage
    loose = garbage_blobs - untagged_images * BLOBS_PER_IMAGE
    old = utcnow() - timedelta(days=2)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        create_user("admin", PASSWORD, "admin")
        repositories = [create_repository(None, f"admin/bench{i:02d}") for i in range(REPOSITORIES)]
        repository_ids = [r.id for r in repositories]
        names = {r.id: f"admin/bench{i:02d}" for i, r in enumerate(repositories)}
        blobs, links, manifests, references, tags = [], [], [], [], []
        made = 0
        started = time.perf_counter()

        def new_blob(repository_id):
            nonlocal made
            data = f"blob {made} {seed} ".encode() + rng.randbytes(rng.randint(32, 480))
            made += 1
            digest = digest_of(data)
            path = storage_root / blob_path(digest)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            blobs.append(
                {"digest": digest, "size": len(data), "created_at": old, "touched_at": old}
            )
            links.append({"repository_id": repository_id, "digest": digest, "created_at": old})
            return digest, len(data)

        manifest_id = 0
        live_tags = []
        for image in range(live_images + untagged_images):
            repository_id = repository_ids[image % REPOSITORIES]
            parts = [new_blob(repository_id) for _ in range(BLOBS_PER_IMAGE)]
            body = {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": descriptor(OCI_CONFIG, *parts[0]),
                "layers": [descriptor(OCI_LAYER, *part) for part in parts[1:]],
            }
            payload = json.dumps(body).encode()
            manifest_id += 1
            manifests.append(
                {
                    "id": manifest_id,
                    "repository_id": repository_id,
                    "digest": digest_of(payload),
                    "media_type": OCI_MANIFEST,
                    "size": len(payload),
                    "payload": payload,
                    "pushed_by": "admin",
                    "created_at": old,
                }
            )
            references += [
                {"manifest_id": manifest_id, "digest": digest, "kind": "blob"}
                for digest, _ in parts
            ]
            if image < live_images:
                tag = f"t{image}"
                tags.append(
                    {
                        "repository_id": repository_id,
                        "name": tag,
                        "manifest_id": manifest_id,
                        "pushed_by": "admin",
                        "updated_at": old,
                    }
                )
                live_tags.append((names[repository_id], tag))
        for i in range(loose):
            new_blob(repository_ids[i % REPOSITORIES])
        log(f"wrote {made} blob files in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        for model, rows in (
            (Blob, blobs),
            (RepositoryBlob, links),
            (Manifest, manifests),
            (ManifestReference, references),
            (Tag, tags),
        ):
            for start in range(0, len(rows), 5000):
                db.session.execute(insert(model), rows[start : start + 5000])
        db.session.commit()
        db.session.remove()
        raw = db.engine.raw_connection()  # outside a transaction: the WAL starts empty
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.close()
        log(f"inserted the rows in {time.perf_counter() - started:.1f} s")
    expected = {
        "blobs": made,
        "garbage_blobs": untagged_images * BLOBS_PER_IMAGE + loose,
        "garbage_manifests": untagged_images,
        "live_manifests": live_images,
    }
    return live_tags, expected


# --- the server and its clients --------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(instance, port):
    log_file = open(instance.parent / "server.log", "ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "app.py",
            "serve",
            "--http",
            "--bind",
            f"127.0.0.1:{port}",
            "--instance",
            str(instance),
        ],
        cwd=ROOT,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            requests.get(url + "/health", timeout=1)
            return process, url
        except requests.RequestException:
            if process.poll() is not None:
                raise RuntimeError("the server exited; see server.log") from None
            time.sleep(0.1)
    raise RuntimeError("the server did not start")


def token(url, repositories, actions="pull"):
    params = {
        "service": url.split("//", 1)[1],
        "scope": [f"repository:{r}:{actions}" for r in repositories],
    }
    response = requests.get(f"{url}/auth/token", params=params, auth=("admin", PASSWORD))
    response.raise_for_status()
    return response.json()["token"]


class Getters:
    """Threads that GET manifests by tag until stopped; latencies per phase."""

    def __init__(self, url, live_tags, clients, seed, rate=0):
        repositories = sorted({r for r, _ in live_tags})
        self.headers = {
            "Authorization": f"Bearer {token(url, repositories)}",
            "Accept": OCI_MANIFEST,
        }
        self.url = url
        self.live_tags = live_tags
        self.clients = clients
        self.seed = seed
        self.interval = clients / rate if rate else 0  # seconds between a thread's requests
        self.latencies = {}
        self.errors = {}
        self.phase = None
        self.stop = threading.Event()
        self.threads = []

    def start(self):
        for number in range(self.clients):
            thread = threading.Thread(target=self._run, args=(number,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _run(self, number):
        rng = random.Random(self.seed * 100 + number)
        session = requests.Session()
        next_start = time.perf_counter() + rng.random() * self.interval
        while not self.stop.is_set():
            repository, tag = rng.choice(self.live_tags)
            if self.interval:  # a steady rate: start on schedule, not when the last ended
                time.sleep(max(0.0, next_start - time.perf_counter()))
                next_start += self.interval
            started = time.perf_counter()
            response = session.get(
                f"{self.url}/v2/{repository}/manifests/{tag}", headers=self.headers
            )
            elapsed = time.perf_counter() - started
            phase = self.phase
            if phase is None:
                continue
            if response.status_code == 200:
                self.latencies.setdefault(phase, []).append(elapsed)
            else:
                self.errors[phase] = self.errors.get(phase, 0) + 1

    def finish(self):
        self.stop.set()
        for thread in self.threads:
            thread.join()


class Pusher:
    """One thread pushing small images (two blobs and a manifest) until stopped."""

    def __init__(self, url, repository):
        self.url = url
        self.repository = repository
        self.headers = {"Authorization": f"Bearer {token(url, [repository], 'pull,push')}"}
        self.pushed = 0
        self.clean_failures = 0
        self.other_failures = []
        self.latencies = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        session = requests.Session()
        base = f"{self.url}/v2/{self.repository}"
        number = 0
        while not self.stop.is_set():
            number += 1
            started = time.perf_counter()
            layer = f"pushed during gc {number} {time.time()}".encode()
            config = json.dumps({"architecture": "amd64", "os": "linux", "n": number}).encode()
            ok = True
            for blob in (layer, config):
                response = session.post(
                    f"{base}/blobs/uploads/",
                    params={"digest": digest_of(blob)},
                    data=blob,
                    headers=self.headers,
                )
                ok = ok and self._check(response, 201)
            manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": descriptor(OCI_CONFIG, digest_of(config), len(config)),
                    "layers": [descriptor(OCI_LAYER, digest_of(layer), len(layer))],
                }
            ).encode()
            if ok:
                response = session.put(
                    f"{base}/manifests/p{number}",
                    data=manifest,
                    headers={**self.headers, "Content-Type": OCI_MANIFEST},
                )
                if self._check(response, 201):
                    self.pushed += 1
                    self.latencies.append(time.perf_counter() - started)

    def _check(self, response, status):
        if response.status_code == status:
            return True
        try:
            code = response.json()["errors"][0]["code"]
        except (ValueError, KeyError, IndexError):
            code = None
        if code in ("MANIFEST_BLOB_UNKNOWN", "BLOB_UNKNOWN"):
            self.clean_failures += 1
        else:
            self.other_failures.append(f"{response.status_code} {response.text[:200]}")
        return False


def percentile(values, share):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def latency_row(name, values, errors):
    ms = [v * 1000 for v in values]
    return (
        f"| {name} | {len(ms):,} | {statistics.median(ms) if ms else float('nan'):.1f} | "
        f"{percentile(ms, 0.99):.1f} | {max(ms) if ms else float('nan'):.1f} | {errors} |"
    )


# --- the run ---------------------------------------------------------------------------------


def collect_through_api(url):
    headers = {"Content-Type": "application/json"}
    auth = ("admin", PASSWORD)
    settings = {"graceWindowMinutes": 60, "deleteUntaggedManifests": True}
    requests.put(
        f"{url}/api/v0/admin/settings/registry/garbageCollection", json=settings, auth=auth
    ).raise_for_status()
    started = time.perf_counter()
    response = requests.post(
        f"{url}/api/v0/admin/jobs", json={"job": "registryGC"}, auth=auth, headers=headers
    )
    response.raise_for_status()
    job_id = response.json()["id"]
    while True:
        job = requests.get(f"{url}/api/v0/admin/jobs/{job_id}", auth=auth).json()
        if job["state"] != "running":
            return job, time.perf_counter() - started
        time.sleep(0.2)


def collect_through_cli(instance):
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "app.py", "gc", "--instance", str(instance)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return {"summary": result.stdout.strip().splitlines()[-1]}, elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blobs", type=int, default=100_000)
    parser.add_argument("--garbage", type=float, default=0.5, help="share of garbage blobs")
    parser.add_argument("--clients", type=int, default=4, help="manifest GET threads")
    parser.add_argument(
        "--rate", type=float, default=0, help="manifest GETs per second in all (0: flat out)"
    )
    parser.add_argument("--baseline-seconds", type=float, default=10)
    parser.add_argument("--cli", action="store_true", help="collect with python app.py gc")
    parser.add_argument("--tmpdir", help="where the instance goes (default: system temp)")
    parser.add_argument("--keep", action="store_true", help="keep the instance afterwards")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="dtr-bench-gc.", dir=args.tmpdir))
    instance = work / "instance"
    server = None
    try:
        started = time.perf_counter()
        live_tags, expected = populate(instance, args.blobs, args.garbage, args.seed)
        built = time.perf_counter() - started
        log(
            f"registry of {expected['blobs']:,} blobs built in {built:.1f} s: "
            f"{expected['garbage_blobs']:,} garbage blobs, {expected['garbage_manifests']:,} "
            f"untagged manifests, {expected['live_manifests']:,} tagged"
        )
        os.sync()
        server, url = start_server(instance, free_port())
        getters = Getters(url, live_tags, args.clients, args.seed, args.rate)
        getters.start()
        time.sleep(1)  # warm up
        getters.phase = "without GC"
        time.sleep(args.baseline_seconds)
        pusher = Pusher(url, "admin/bench00")
        pusher.thread.start()
        getters.phase = "during GC"
        job, wall = collect_through_cli(instance) if args.cli else collect_through_api(url)
        getters.phase = None
        pusher.stop.set()
        pusher.thread.join()
        getters.finish()

        print()
        how = "python app.py gc (another process)" if args.cli else "POST /api/v0/admin/jobs"
        print(
            f"GC of {expected['blobs']:,} blobs ({args.garbage:.0%} garbage), filesystem "
            f"backend, {how}:"
        )
        if args.cli:
            print(f"- {job['summary']}; wall time {wall:.1f} s")
        else:
            seconds = _seconds(job["startedAt"], job["finishedAt"])
            print(
                f"- state {job['state']}: {job['blobsDeleted']:,} blobs, "
                f"{job['manifestsDeleted']:,} manifests, {job['bytesReclaimed']:,} bytes "
                f"deleted in {seconds:.1f} s "
                f"(server's clock; {wall:.1f} s from POST to seeing it done)"
            )
            assert job["blobsDeleted"] == expected["garbage_blobs"], job
            assert job["manifestsDeleted"] == expected["garbage_manifests"], job
        print(
            f"- pushes during GC: {pusher.pushed} images, {pusher.clean_failures} clean failures, "
            f"{len(pusher.other_failures)} other failures; push p99 "
            f"{percentile(pusher.latencies, 0.99) * 1000:.1f} ms"
        )
        print()
        pace = f"{args.rate:g} requests/s in all" if args.rate else "each as fast as it can"
        print(f"Manifest GET by tag, {args.clients} client threads ({pace}), bearer token:")
        print()
        print("| phase | requests | p50 ms | p99 ms | max ms | errors |")
        print("|---|---:|---:|---:|---:|---:|")
        for phase in ("without GC", "during GC"):
            print(
                latency_row(phase, getters.latencies.get(phase, []), getters.errors.get(phase, 0))
            )
        remaining = sum(1 for _ in (instance / "storage" / "blobs").rglob("*") if _.is_file())
        print()
        live = expected["blobs"] - expected["garbage_blobs"]
        print(
            f"blob files left: {remaining:,} (expected {live:,} + "
            f"{2 * pusher.pushed + pusher.clean_failures * 2} at most from the pushes)"
        )
        for failure in pusher.other_failures[:5]:
            print(f"push failure: {failure}")
        return 0 if not pusher.other_failures else 1
    finally:
        if server is not None:
            server.terminate()
            server.wait(15)
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _seconds(started, finished):
    from datetime import datetime

    parse = lambda text: datetime.fromisoformat(text.replace("Z", "+00:00"))  # noqa: E731
    return (parse(finished) - parse(started)).total_seconds()


if __name__ == "__main__":
    sys.exit(main())
