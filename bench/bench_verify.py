#!/usr/bin/env python3
"""Benchmark storage verification (`python app.py storage verify`): throughput (GB/s of
blobs read back and hashed) and the peak RSS of the process, on the filesystem backend.

The registry is made directly (not over HTTP): blob files of --blob-mib each, --gib in all
(default 10 GiB), written under a fresh instance's storage with their rows, plus a few bad
ones (one corrupt, one missing) so that the run also quarantines. Then the command runs once
per --jobs value, in a process of its own: its wall time, the time the run itself reports,
and its peak RSS (from wait4). With --cold (root), the page cache is dropped before each run,
so the bytes come from the disk; otherwise they may come from memory.

    .venv/bin/python bench/bench_verify.py [--gib 10] [--blob-mib 64] [--jobs 1,2,4]
        [--cold] [--tmpdir /tmp] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MiB = 1024 * 1024
GiB = 1024 * MiB


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def populate(instance, total_bytes, blob_bytes):
    """Blob files and rows: distinct content per blob (a random block with the blob's number
    in front), written a MiB at a time and hashed on the way. Returns (blobs, bytes)."""
    from flask_migrate import upgrade
    from sqlalchemy import insert

    from dtr import create_app
    from dtr.database import db
    from dtr.models import Blob, utcnow
    from dtr.storage.layout import blob_path

    app = create_app(instance)
    storage = Path(app.config["STORAGE_ROOT"])
    block = os.urandom(MiB)
    rows, written = [], 0
    count = max(1, total_bytes // blob_bytes)
    for number in range(count):
        state = hashlib.sha256()
        temporary = storage / f"tmp-{number}"
        temporary.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as file:
            left = blob_bytes
            first = True
            while left:
                data = block[: min(MiB, left)]
                if first:
                    data = number.to_bytes(8, "big") + data[8:]
                    first = False
                file.write(data)
                state.update(data)
                left -= len(data)
        digest = "sha256:" + state.hexdigest()
        target = storage / blob_path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary.rename(target)
        rows.append({"digest": digest, "size": blob_bytes})
        written += blob_bytes
        if number % 20 == 0:
            log(f"written {number + 1} of {count} blobs ({written / GiB:.1f} GiB)")
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        now = utcnow()
        db.session.execute(
            insert(Blob), [{**row, "created_at": now, "touched_at": now} for row in rows]
        )
        db.session.commit()
    # one corrupt (a byte flipped), one missing
    corrupt = storage / blob_path(rows[0]["digest"])
    with open(corrupt, "r+b") as file:
        file.seek(100)
        byte = file.read(1)
        file.seek(100)
        file.write(bytes([byte[0] ^ 0xFF]))
    if len(rows) > 1:
        (storage / blob_path(rows[1]["digest"])).unlink()
    return len(rows), written


def drop_caches():
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def verify(instance, jobs):
    """(wall seconds, the run's own seconds, peak RSS in bytes, output) of one run."""
    command = [
        sys.executable,
        str(ROOT / "app.py"),
        "storage",
        "verify",
        "--jobs",
        str(jobs),
        "--instance",
        instance,
    ]
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = b""
    while chunk := process.stdout.read(65536):
        output += chunk[-65536:]
        output = output[-200_000:]
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    text = output.decode(errors="replace")
    found = re.search(r"storage verification \d+ (\w+) in ([\d.]+) s", text)
    if found is None or found[1] != "done":
        raise RuntimeError(f"the verification failed (status {status}):\n{text[-3000:]}")
    return wall, float(found[2]), usage.ru_maxrss * 1024, text


def hash_ceiling(seconds=2.0):
    """GB/s of one thread hashing data already in memory: the most one job can do."""
    data = os.urandom(MiB)
    state = hashlib.sha256()
    done, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        state.update(data)
        done += MiB
    return done / (time.monotonic() - started) / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gib", type=float, default=10.0, help="bytes of blobs in all")
    parser.add_argument("--blob-mib", type=int, default=64, help="size of each blob")
    parser.add_argument("--jobs", default="1,2,4", help="--jobs values to run with")
    parser.add_argument("--cold", action="store_true", help="drop the page cache first (root)")
    parser.add_argument("--tmpdir", default=tempfile.gettempdir())
    parser.add_argument("--keep", action="store_true", help="keep the instance folder")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="dtr-bench-verify-", dir=args.tmpdir))
    instance = str(folder / "instance")
    free = shutil.disk_usage(folder).free
    if free < args.gib * GiB * 1.1:
        raise SystemExit(f"{folder}: {free / GiB:.1f} GiB free, {args.gib} GiB needed")
    try:
        log(f"writing {args.gib} GiB of {args.blob_mib} MiB blobs under {folder}")
        blobs, stored = populate(instance, int(args.gib * GiB), args.blob_mib * MiB)
        size = stored - (args.blob_mib * MiB if blobs > 1 else 0)  # read back: not the missing
        ceiling = hash_ceiling()
        print(f"\n{blobs} blobs, {size / GiB:.2f} GiB ({size / 1e9:.2f} GB) to read, filesystem")
        print(f"sha256 of data in memory, one thread: {ceiling:.2f} GB/s ({os.cpu_count()} CPUs)")
        print(f"page cache: {'dropped before each run' if args.cold else 'warm (as written)'}\n")
        print("| --jobs | run (s) | GB/s | GiB/s | wall with start-up (s) | peak RSS (MiB) |")
        print("|---:|---:|---:|---:|---:|---:|")
        for jobs in [int(j) for j in args.jobs.split(",")]:
            if args.cold:
                drop_caches()
            wall, run, rss, text = verify(instance, jobs)
            if "1 corrupt, 1 missing" not in text and blobs > 1:
                raise RuntimeError(f"the damaged blobs were not found:\n{text[-2000:]}")
            print(
                f"| {jobs} | {run:.1f} | {size / run / 1e9:.2f} | {size / run / GiB:.2f} "
                f"| {wall:.1f} | {rss / MiB:.0f} |",
                flush=True,
            )
    finally:
        if args.keep:
            log(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
