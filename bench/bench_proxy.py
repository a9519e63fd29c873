#!/usr/bin/env python3
"""Benchmark the pull-through cache (proxy namespaces) against its upstream, in one run.

Starts Debian's docker-registry (CNCF distribution) as the upstream and one DTR (SQLite,
filesystem, `serve --http`), pushes an image to the upstream and the same image to a local
DTR repository, then measures pulls by a streaming HTTP client (manifest, then every blob
read to the end and discarded; the docker CLI would add its own extraction):

1. the first pull through a proxy namespace (cold cache: DTR fetches, stores and verifies
   while it streams) against a pull straight from the upstream;
2. a cached pull through the proxy namespace against a pull of the local repository;
3. time to the first byte, and to the last, of one large layer on a cold cache, through
   DTR and straight from the upstream; DTR's peak resident memory (VmHWM) after it.

Each pull is repeated `--rounds` times, each round with new random layers (so that the
first pull through the proxy finds nothing stored), and the median is reported.

    .venv/bin/python bench/bench_proxy.py [--layers 4] [--layer-mib 16] [--big-mib 512]
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

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.server import USERS, DTRProcess  # noqa: E402
from tests.support.upstream_registry import (  # noqa: E402
    ReferenceRegistry,
    UpstreamClient,
    layered_image,
)

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
ADMIN = ("admin", USERS["admin"][0])


def pull(client, name, reference):
    """Seconds to GET the manifest and read every blob to its end."""
    started = time.perf_counter()
    response = client.request(
        "GET", f"/v2/{name}/manifests/{reference}", headers={"Accept": MANIFEST_TYPES}
    )
    response.raise_for_status()
    manifest = response.json()
    for descriptor in [manifest["config"], *manifest["layers"]]:
        read_blob(client, name, descriptor["digest"])
    return time.perf_counter() - started


def read_blob(client, name, digest):
    """(seconds to the first byte, seconds to the last) of one blob GET."""
    started = time.perf_counter()
    first = None
    response = client.request("GET", f"/v2/{name}/blobs/{digest}", stream=True)
    response.raise_for_status()
    for chunk in response.iter_content(1024 * 1024):
        if first is None and chunk:
            first = time.perf_counter() - started
    return first, time.perf_counter() - started


def new_proxy(dtr, name, upstream_url):
    response = requests.post(
        f"{dtr.url}/api/v0/admin/proxies",
        json={"name": name, "upstreamUrl": upstream_url},
        auth=ADMIN,
        timeout=30,
    )
    response.raise_for_status()


def peak_memory_mib(pid):
    """The peak resident memory of DTR's worker processes (gunicorn's children too)."""
    peak = 0
    for candidate in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{candidate}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return peak / 1024


def children(pid):
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    found = [int(child) for child in text.split()]
    return found + [grandchild for child in found for grandchild in children(child)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--layer-mib", type=int, default=16)
    parser.add_argument("--big-mib", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    options = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    figures = {}
    with ReferenceRegistry(folder / "upstream") as upstream:
        dtr = DTRProcess(folder / "instance")
        dtr.create_users()
        dtr.start()
        try:
            figures = measure(options, upstream, dtr)
            figures["dtrPeakMemoryMiB"] = round(peak_memory_mib(dtr.process.pid), 1)
        finally:
            dtr.stop()
    for key, value in figures.items():
        print(f"{key}: {value}")
    if options.json:
        Path(options.json).write_text(json.dumps(figures, indent=2))


def measure(options, upstream, dtr):
    from tests.support.client import RegistryClient

    direct = RegistryClient(upstream.url)
    through = RegistryClient(dtr.url, *ADMIN)
    dtr.cli("create-repo", "admin/app")
    cold, straight, cached, local = [], [], [], []
    for round_number in range(options.rounds):  # new content each round: a cold cache
        layers = [os.urandom(options.layer_mib * 1024 * 1024) for _ in range(options.layers)]
        image = layered_image(layers)
        name = f"team/app{round_number}"
        UpstreamClient(upstream.url).push_image(name, "1", image)
        straight.append(pull(direct, name, "1"))
        new_proxy(dtr, f"cold{round_number}", upstream.url)
        cold.append(pull(through, f"cold{round_number}/{name}", "1"))
        cached.append(pull(through, f"cold{round_number}/{name}", "1"))
        RegistryClient(dtr.url, *ADMIN).push_image("admin/app", str(round_number), image)
        local.append(pull(through, "admin/app", str(round_number)))
    size_mib = options.layers * options.layer_mib

    big = os.urandom(options.big_mib * 1024 * 1024)
    big_image = layered_image([big])
    manifest = json.loads(big_image.manifest)
    big_digest = manifest["layers"][0]["digest"]
    UpstreamClient(upstream.url).push_image("team/big", "1", big_image)
    del big
    new_proxy(dtr, "bigcold", upstream.url)
    response = through.request(
        "GET", "/v2/bigcold/team/big/manifests/1", headers={"Accept": MANIFEST_TYPES}
    )
    response.raise_for_status()
    first_byte, last_byte = read_blob(through, "bigcold/team/big", big_digest)
    direct_first, direct_last = read_blob(direct, "team/big", big_digest)

    def median(values):
        return round(statistics.median(values), 3)

    return {
        "imageMiB": size_mib,
        "firstPullThroughProxySeconds": median(cold),
        "pullFromUpstreamSeconds": median(straight),
        "cachedPullThroughProxySeconds": median(cached),
        "localRepositoryPullSeconds": median(local),
        "bigLayerMiB": options.big_mib,
        "bigLayerColdFirstByteSeconds": round(first_byte, 3),
        "bigLayerColdLastByteSeconds": round(last_byte, 3),
        "bigLayerUpstreamFirstByteSeconds": round(direct_first, 3),
        "bigLayerUpstreamLastByteSeconds": round(direct_last, 3),
    }


if __name__ == "__main__":
    main()
