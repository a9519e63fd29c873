#!/usr/bin/env python3
"""Benchmark replication against Debian's docker-registry (CNCF distribution), in one run.

Starts the reference registry and one DTR (SQLite, filesystem, `serve --http`), then, for an
image of `--layers` random layers of `--layer-mib` each (new content each round):

1. push replication: a push rule's run (Run now, until the run has finished) that copies the
   image from DTR to the registry, against a client pushing the same image straight to it;
2. the same run again, when the registry has everything (every artifact skipped);
3. pull replication: a pull rule's run that brings another image (layers DTR does not have)
   from the registry into a DTR mirror, against a streaming client pulling it straight from
   the registry;
4. one `--big-mib` layer replicated by a push rule, and DTR's peak resident memory after it.

Medians of `--rounds` rounds.

    .venv/bin/python bench/bench_replication.py [--layers 4] [--layer-mib 16] [--big-mib 512]
        [--rounds 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_proxy import ADMIN, peak_memory_mib, pull  # noqa: E402 - beside this script

from tests.support.client import RegistryClient  # noqa: E402
from tests.support.server import DTRProcess  # noqa: E402
from tests.support.upstream_registry import (  # noqa: E402
    ReferenceRegistry,
    UpstreamClient,
    layered_image,
)

FAST = {"DTR_REPLICATION_POLL_SECONDS": "1"}


def api(dtr, method, path, **kwargs):
    import requests

    response = requests.request(method, f"{dtr.url}/api/v0{path}", auth=ADMIN, timeout=30, **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


def timed_run(dtr, rule):
    """Seconds from Run now to the run's end; the run."""
    started = time.perf_counter()
    run = api(dtr, "POST", f"/admin/replication/{rule}/run")
    while run["state"] in ("queued", "running"):
        time.sleep(0.02)
        run = api(dtr, "GET", f"/admin/replication-runs/{run['id']}")
    elapsed = time.perf_counter() - started
    if run["state"] != "succeeded":
        raise RuntimeError(f"run of {rule} ended {run['state']}: {run}")
    return elapsed, run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--layer-mib", type=int, default=16)
    parser.add_argument("--big-mib", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    options = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-replication-"))
    with ReferenceRegistry(folder / "registry") as registry:
        dtr = DTRProcess(folder / "instance", env=FAST)
        dtr.create_users()
        dtr.start()
        try:
            figures = measure(options, registry, dtr)
            figures["dtrPeakMemoryMiB"] = round(peak_memory_mib(dtr.process.pid), 1)
        finally:
            dtr.stop()
    for key, value in figures.items():
        print(f"{key}: {value}")
    if options.json:
        Path(options.json).write_text(json.dumps(figures, indent=2))


def measure(options, registry, dtr):
    direct = UpstreamClient(registry.url)
    local = RegistryClient(dtr.url, *ADMIN)
    pushed, straight_push, skipped, mirrored, straight_pull = [], [], [], [], []
    for number in range(options.rounds):
        layers = [os.urandom(options.layer_mib * 1024 * 1024) for _ in range(options.layers)]
        image = layered_image(layers)
        dtr.cli("create-repo", f"admin/app{number}")
        local.push_image(f"admin/app{number}", "1", image)
        rule = f"push{number}"
        body = {"name": rule, "url": registry.url, "repositories": [f"admin/app{number}"]}
        api(dtr, "POST", "/admin/replication", json={**body, "onPush": False})
        seconds, _ = timed_run(dtr, rule)
        pushed.append(seconds)
        skipped.append(timed_run(dtr, rule)[0])
        started = time.perf_counter()
        direct.push_image(f"direct/app{number}", "1", image)
        straight_push.append(time.perf_counter() - started)

        fresh = [os.urandom(options.layer_mib * 1024 * 1024) for _ in range(options.layers)]
        direct.push_image(f"upstream/app{number}", "1", layered_image(fresh))  # none in DTR
        mirror = {
            "name": f"pull{number}",
            "direction": "pull",
            "url": registry.url,
            "remoteRepository": f"upstream/app{number}",
            "localRepository": f"admin/mirror{number}",
        }
        api(dtr, "POST", "/admin/replication", json=mirror)
        mirrored.append(timed_run(dtr, f"pull{number}")[0])
        straight_pull.append(pull(direct, f"upstream/app{number}", "1"))

    big = layered_image([os.urandom(options.big_mib * 1024 * 1024)])
    dtr.cli("create-repo", "admin/big")
    local.push_image("admin/big", "1", big)
    del big
    body = {"name": "big", "url": registry.url, "repositories": ["admin/big"], "onPush": False}
    api(dtr, "POST", "/admin/replication", json=body)
    big_seconds, big_run = timed_run(dtr, "big")

    def median(values):
        return round(statistics.median(values), 3)

    return {
        "imageMiB": options.layers * options.layer_mib,
        "pushReplicationRunSeconds": median(pushed),
        "directPushSeconds": median(straight_push),
        "pushReplicationAllSkippedSeconds": median(skipped),
        "pullReplicationRunSeconds": median(mirrored),
        "directPullSeconds": median(straight_pull),
        "bigLayerMiB": options.big_mib,
        "bigLayerPushReplicationSeconds": round(big_seconds, 3),
        "bigLayerBytesSent": big_run["bytes"],
    }


if __name__ == "__main__":
    main()
