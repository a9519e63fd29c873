#!/usr/bin/env python3
"""Benchmark an OCI Distribution v2 registry (DTR), optionally side by side
with the CNCF reference registry (Debian's ``docker-registry``).

Measures blob upload/download throughput, manifest/blob-HEAD request rate and
latency (via ``wrk`` or a Python fallback), small-blob push rate, tags-list and
catalog listing times, and the server's peak RSS.  See bench/README.md.

Only the standard library and ``requests`` are used.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import contextlib
import ctypes
import dataclasses
import datetime
import hashlib
import http.client
import json
import math
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Self
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

MiB = 1024 * 1024
MB = 1_000_000
IO_BLOCK = 1 * MiB  # socket send/recv and file read block size

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MANIFEST_ACCEPT = f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"
OCTET = "application/octet-stream"
EMPTY_DIGEST = "sha256:" + hashlib.sha256(b"").hexdigest()

TIMEOUT = (10, 600)  # (connect, read) seconds
DEFAULT_REFERENCE_BINARY = "/usr/bin/docker-registry"

# Sizes per profile; any of these can be overridden on the command line.
PROFILES: dict[str, dict[str, float]] = {
    "full": {
        "blob_mib": 256,
        "chunk_mib": 16,
        "clients": 8,
        "small_blobs": 500,
        "small_size": 1024,
        "tags": 5000,
        "repos": 1000,
        "page_size": 100,
        "duration": 10,
        "repeat": 5,
    },
    "quick": {
        "blob_mib": 16,
        "chunk_mib": 4,
        "clients": 8,
        "small_blobs": 50,
        "small_size": 1024,
        "tags": 200,
        "repos": 50,
        "page_size": 20,
        "duration": 2,
        "repeat": 3,
    },
}

MEASUREMENTS = (
    "mono",
    "chunked",
    "get",
    "latency",
    "small",
    "tags",
    "catalog",
    "big",
)


class BenchError(Exception):
    """A registry answered something the benchmark cannot continue with."""


# Failures that end one measurement but not the run.
STEP_ERRORS = (BenchError, requests.RequestException, OSError, ValueError, KeyError)


def log(msg: str) -> None:
    """Progress output (stderr, timestamped)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Metric:
    """One measured value; ``better`` is "higher", "lower" or "" (info)."""

    key: str
    label: str
    value: float | None
    unit: str
    better: str
    note: str = ""


class Results:
    """Ordered collection of metrics for one registry."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.metrics: dict[str, Metric] = {}
        self.info: list[str] = []

    def add(self, key, label, value, unit, better, note="") -> None:
        """Record a metric and log it."""
        self.metrics[key] = Metric(key, label, value, unit, better, note)
        shown = "n/a" if value is None else fmt(value)
        log(f"  {self.name}: {label}: {shown} {unit}" + (f" ({note})" if note else ""))

    def error(self, key: str, label: str, unit: str, better: str, exc: Exception):
        """Record a failed measurement."""
        self.metrics[key] = Metric(key, label, None, unit, better, f"error: {exc}")
        log(f"  {self.name}: {label}: FAILED: {exc}")


def fmt(value: float | None) -> str:
    """Human-friendly number formatting."""
    if value is None:
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


# --------------------------------------------------------------------------
# Registry client with Docker token auth
# --------------------------------------------------------------------------

_SCOPE_PATH = re.compile(
    r"^/v2/(.+)/(?:blobs/uploads(?:/[^/]*)?|blobs/[^/]+|manifests/[^/]+|tags/list)$"
)
_CHALLENGE_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')


def scope_for(path: str) -> str:
    """Token scope the benchmark wants for a request path ("" if none)."""
    if path.startswith("/v2/_catalog"):
        return "registry:catalog:*"
    m = _SCOPE_PATH.match(path)
    return f"repository:{m.group(1)}:pull,push" if m else ""


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Split a WWW-Authenticate header into (scheme, params)."""
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): q or u for k, q, u in _CHALLENGE_PARAM.findall(rest)}
    return scheme.lower(), params


def merge_scopes(challenge: str, wanted: str) -> list[str]:
    """Scopes to request: the challenge's, widened with the actions we want."""
    scopes = challenge.split() if challenge else []
    if not wanted:
        return scopes
    w_res, _, w_act = wanted.rpartition(":")
    out, covered = [], False
    for s in scopes:
        res, _, act = s.rpartition(":")
        if res == w_res:
            acts = act.split(",")
            acts += [a for a in w_act.split(",") if a not in acts]
            s, covered = f"{res}:{','.join(acts)}", True
        out.append(s)
    if not covered:
        out.append(wanted)
    return out


def add_query(url: str, **params: str) -> str:
    """Append query parameters to a URL that may already have some."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


class _BigBlockAdapter(HTTPAdapter):
    """HTTPAdapter that sends request bodies in 1 MiB blocks (default 16 KiB)."""

    def init_poolmanager(self, *args, **kwargs):
        kwargs["blocksize"] = IO_BLOCK
        super().init_poolmanager(*args, **kwargs)


class FileSlice:
    """Streams ``length`` bytes of a file from ``offset`` as a request body."""

    def __init__(self, path: Path, offset: int = 0, length: int | None = None):
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._f.seek(offset)
        size = os.fstat(self._f.fileno()).st_size
        self._len = size - offset if length is None else length
        self._left = self._len

    def __len__(self) -> int:
        return self._len

    def read(self, n: int = -1) -> bytes:
        """File-like read, bounded to the slice."""
        if self._left <= 0:
            return b""
        n = self._left if n is None or n < 0 else min(n, self._left)
        data = self._f.read(n)
        self._left -= len(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(IO_BLOCK):
            yield chunk

    def close(self) -> None:
        """Close the underlying file."""
        self._f.close()


class Registry:
    """Thread-safe v2 API client: per-thread keep-alive sessions, shared
    token cache (per scope, refreshed on expiry or 401), Basic fallback."""

    def __init__(self, url, user=None, password=None, verify=True) -> None:
        self.base = url.rstrip("/")
        self.creds = (user, password) if user else None
        self.verify = verify
        self._local = threading.local()
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float, float]] = {}  # tok, exp, life
        self._basic = False
        self.auth_mode = "none"

    @property
    def session(self) -> requests.Session:
        """This thread's keep-alive session."""
        s = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            s.trust_env = False  # no proxies / netrc for loopback benchmarking
            s.verify = self.verify
            adapter = _BigBlockAdapter(pool_connections=4, pool_maxsize=4)
            s.mount("http://", adapter)
            s.mount("https://", adapter)
            self._local.session = s
        return s

    def url(self, path_or_url: str) -> str:
        """Absolute URL for a path or a (possibly relative) Location."""
        return urljoin(self.base + "/", path_or_url)

    def auth_header(self, path: str) -> str | None:
        """Authorization header value currently used for ``path``."""
        if self._basic and self.creds:
            raw = f"{self.creds[0]}:{self.creds[1]}".encode()
            return "Basic " + base64.b64encode(raw).decode()
        with self._lock:
            tok = self._tokens.get(scope_for(path))
        return f"Bearer {tok[0]}" if tok and tok[1] > time.time() else None

    def token_lifetime(self, path: str) -> tuple[float, float] | None:
        """(seconds left, total lifetime) of the cached token for ``path``."""
        with self._lock:
            tok = self._tokens.get(scope_for(path))
        return (tok[1] - time.time(), tok[2]) if tok else None

    def forget_token(self, path: str) -> None:
        """Drop the cached token for ``path``'s scope."""
        with self._lock:
            self._tokens.pop(scope_for(path), None)

    def _fetch_token(self, params: dict[str, str], wanted: str) -> None:
        realm = params.get("realm")
        if not realm:
            raise BenchError("Bearer challenge without realm")
        query = [("service", params["service"])] if "service" in params else []
        if self.creds:
            query.append(("account", self.creds[0]))
        query += [("scope", s) for s in merge_scopes(params.get("scope", ""), wanted)]
        r = self.session.get(
            realm, params=query, auth=self.creds, timeout=TIMEOUT, verify=self.verify
        )
        if r.status_code != 200:
            raise BenchError(f"token endpoint {realm}: HTTP {r.status_code}")
        body = r.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise BenchError("token endpoint returned no token")
        life = float(body.get("expires_in") or 60)
        with self._lock:
            self._tokens[wanted] = (token, time.time() + life - 5, life)
        self.auth_mode = "bearer"

    def _handle_401(self, resp: requests.Response, path: str) -> None:
        scheme, params = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
        if scheme == "bearer":
            self._fetch_token(params, scope_for(path))
        elif scheme == "basic":
            if not self.creds:
                raise BenchError("registry wants Basic auth; pass --user/--password")
            self._basic = True
            self.auth_mode = "basic"
        else:
            raise BenchError(f"401 with unsupported challenge {scheme!r}")

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        body: bytes | Callable[[], FileSlice] | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        stream: bool = False,
        ok: tuple[int, ...] | None = None,
    ) -> requests.Response:
        """Send a request, authenticating on 401 and retrying once.

        ``body`` may be a callable returning a fresh FileSlice, so that a
        streamed body can be replayed after a 401.  ``ok`` lists accepted
        status codes (BenchError otherwise).
        """
        url = self.url(path_or_url)
        path = urlsplit(url).path
        for attempt in (1, 2):
            hdrs = dict(headers or {})
            auth = self.creds if (self._basic and self.creds) else None
            if not auth and (value := self.auth_header(path)):
                hdrs["Authorization"] = value
            data = body() if callable(body) else body
            try:
                resp = self.session.request(
                    method,
                    url,
                    data=data,
                    headers=hdrs,
                    params=params,
                    auth=auth,
                    stream=stream,
                    timeout=TIMEOUT,
                )
            finally:
                if isinstance(data, FileSlice):
                    data.close()
            if resp.status_code != 401 or attempt == 2:
                break
            resp.close()
            self.forget_token(path)
            self._handle_401(resp, path)
        if ok is not None and resp.status_code not in ok:
            text = "" if stream else resp.text[:300]
            resp.close()
            raise BenchError(f"{method} {path}: HTTP {resp.status_code} {text}")
        return resp

    # ---- v2 operations -------------------------------------------------

    def ping(self) -> None:
        """GET /v2/ (authenticates if needed)."""
        self.request("GET", "/v2/", ok=(200,)).close()

    def blob_exists(self, repo: str, digest: str) -> bool:
        """HEAD a blob."""
        r = self.request("HEAD", f"/v2/{repo}/blobs/{digest}", ok=(200, 404))
        return r.status_code == 200

    def start_upload(self, repo: str) -> str:
        """POST an upload session, return its Location."""
        r = self.request("POST", f"/v2/{repo}/blobs/uploads/", ok=(202,))
        return r.headers["Location"]

    def upload_monolithic(self, repo: str, path: Path, digest: str) -> None:
        """POST + single PUT with the whole file streamed."""
        loc = self.start_upload(repo)
        self.request(
            "PUT",
            add_query(self.url(loc), digest=digest),
            body=lambda: FileSlice(path),
            headers={"Content-Type": OCTET},
            ok=(201,),
        ).close()

    def upload_chunked(self, repo, path: Path, digest: str, chunk: int) -> int:
        """POST + PATCH chunks (following Location) + PUT; returns #chunks."""
        size = path.stat().st_size
        loc = self.start_upload(repo)
        n = 0
        for start in range(0, size, chunk):
            length = min(chunk, size - start)
            end = start + length - 1
            r = self.request(
                "PATCH",
                loc,
                body=lambda s=start, ln=length: FileSlice(path, s, ln),
                headers={"Content-Type": OCTET, "Content-Range": f"{start}-{end}"},
                ok=(202,),
            )
            loc = r.headers["Location"]
            got = r.headers.get("Range", "")
            if got and not got.endswith(f"-{end}"):
                raise BenchError(f"PATCH Range {got!r}, expected end {end}")
            r.close()
            n += 1
        self.request("PUT", add_query(self.url(loc), digest=digest), ok=(201,)).close()
        return n

    def push_small_blob(self, repo: str, data: bytes, digest: str, two_step=False) -> bool:
        """Single-request POST ?digest=; falls back to PUT on 202. two_step: an empty POST,
        then the PUT with the bytes (the same two requests on every registry).

        Returns True if the registry completed it in one request."""
        if two_step:
            r = self.request("POST", f"/v2/{repo}/blobs/uploads/", ok=(202,))
        else:
            r = self.request(
                "POST",
                f"/v2/{repo}/blobs/uploads/",
                params={"digest": digest},
                body=data,
                headers={"Content-Type": OCTET},
                ok=(201, 202),
            )
        r.close()
        if r.status_code == 201:
            return True
        self.request(
            "PUT",
            add_query(self.url(r.headers["Location"]), digest=digest),
            body=data,
            headers={"Content-Type": OCTET},
            ok=(201,),
        ).close()
        return False

    def put_manifest(self, repo: str, ref: str, manifest: bytes) -> None:
        """PUT an OCI image manifest."""
        self.request(
            "PUT",
            f"/v2/{repo}/manifests/{ref}",
            body=manifest,
            headers={"Content-Type": OCI_MANIFEST},
            ok=(201,),
        ).close()

    def list_paged(self, path: str, key: str, n: int | None) -> tuple[list[str], int]:
        """GET a list endpoint following Link headers; (entries, pages)."""
        items: list[str] = []
        pages = 0
        url: str | None = path
        params = {"n": str(n)} if n else None
        while url:
            r = self.request("GET", url, params=params, ok=(200, 404))
            pages += 1
            if r.status_code == 404:
                break
            items.extend(r.json().get(key) or [])
            nxt = r.links.get("next", {}).get("url")
            url, params = (nxt or None), None
        return items, pages


# --------------------------------------------------------------------------
# Test data
# --------------------------------------------------------------------------


def sha256_digest(data: bytes) -> str:
    """OCI digest string of bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclasses.dataclass
class Blob:
    """A random blob stored in a temp file."""

    path: Path
    size: int
    digest: str


class TestData:
    """Generates random blob files once (streaming, digest computed on write)."""

    def __init__(self, tmp: Path) -> None:
        self.dir = tmp / "data"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._blobs: dict[tuple[str, int], Blob] = {}

    def blob(self, name: str, size: int) -> Blob:
        """Return (creating on first use) random blob ``name`` of ``size`` bytes."""
        key = (name, size)
        if key not in self._blobs:
            path = self.dir / f"{name}-{size}.bin"
            h = hashlib.sha256()
            t0 = time.perf_counter()
            with open(path, "wb") as f:
                left = size
                while left:
                    chunk = os.urandom(min(4 * MiB, left))
                    h.update(chunk)
                    f.write(chunk)
                    left -= len(chunk)
            log(f"generated {size / MiB:.0f} MiB blob in {time.perf_counter() - t0:.1f}s")
            self._blobs[key] = Blob(path, size, "sha256:" + h.hexdigest())
        return self._blobs[key]

    def fresh(self, name: str, size: int) -> Blob:
        """Like blob() but always new random content (new digest)."""
        old = self._blobs.pop((name, size), None)
        if old:
            old.path.unlink(missing_ok=True)
        return self.blob(name, size)


def descriptor(media_type: str, data: bytes) -> dict:
    """OCI content descriptor for bytes."""
    return {"mediaType": media_type, "digest": sha256_digest(data), "size": len(data)}


def image_config(layer_digests: list[str]) -> bytes:
    """A minimal but valid-looking OCI image config."""
    cfg = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": layer_digests},
    }
    return json.dumps(cfg, separators=(",", ":")).encode()


def image_manifest(config: bytes, layers: list[dict]) -> bytes:
    """OCI image manifest bytes."""
    m = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": layers,
    }
    return json.dumps(m, indent=1).encode()


def push_tiny_image(reg: Registry, repo: str, tag: str, salt: str = "") -> bytes:
    """Push a config + one tiny layer + manifest; returns the manifest bytes."""
    layer = f"tiny layer {salt}".encode()
    config = image_config([sha256_digest(layer)])
    for blob in (layer, config):
        reg.push_small_blob(repo, blob, sha256_digest(blob))
    manifest = image_manifest(config, [descriptor(OCI_LAYER, layer)])
    reg.put_manifest(repo, tag, manifest)
    return manifest


# --------------------------------------------------------------------------
# Server RSS monitor
# --------------------------------------------------------------------------


def _descendants(root: int) -> list[int]:
    """``root`` and all its descendant pids (scans /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rpartition(b")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _rss_bytes(pids: list[int]) -> int:
    """Sum of resident set sizes (statm) of ``pids``; vanished pids count 0."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                total += int(f.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            pass
    return total


def rss_mib(pid: int) -> float:
    """Current RSS (MiB) of pid plus descendants."""
    return _rss_bytes(_descendants(pid)) / MiB


class RssMonitor:
    """Polls the RSS of a process tree every 50 ms in a thread; tracks peak.

    Descendants are re-discovered every second (gunicorn workers etc.)."""

    def __init__(self, pid: int | None, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.peak_children = 0  # the tree without its root: gunicorn's worker(s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        if self.pid:
            if not Path(f"/proc/{self.pid}").exists():
                raise BenchError(f"server pid {self.pid} does not exist")
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _run(self) -> None:
        pids, rescan = [], 0.0
        while True:
            now = time.monotonic()
            if now >= rescan:
                pids, rescan = _descendants(self.pid), now + 1.0
            self._sample(pids)
            if self._stop.wait(self.interval):
                break
        self._sample(pids)

    def _sample(self, pids: list[int]) -> None:
        children = _rss_bytes(pids[1:])
        self.peak = max(self.peak, _rss_bytes(pids[:1]) + children)
        self.peak_children = max(self.peak_children, children)

    @property
    def peak_mib(self) -> float | None:
        """Peak RSS in MiB (None without a pid)."""
        return self.peak / MiB if self.pid else None

    @property
    def peak_children_mib(self) -> float | None:
        """Peak RSS of the descendants alone (the worker under a gunicorn master), MiB."""
        return self.peak_children / MiB if self.pid else None


# --------------------------------------------------------------------------
# Load generation (wrk or Python fallback)
# --------------------------------------------------------------------------


@dataclasses.dataclass
class LoadResult:
    """Outcome of a fixed-duration request-rate run."""

    tool: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def parse_wrk(output: str) -> LoadResult:
    """Parse ``wrk --latency`` output."""
    pct = {
        m.group(1): float(m.group(2)) * _WRK_UNITS[m.group(3)]
        for m in re.finditer(
            r"^\s*(\d+)(?:\.\d+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.MULTILINE
        )
    }
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if not (rps and total and "99" in pct):
        raise BenchError(f"cannot parse wrk output:\n{output}")
    if int(total.group(1)) == 0:
        raise BenchError(f"wrk completed no request:\n{output}")
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        errors += int(m.group(1))
    if m := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        errors += sum(int(g) for g in m.groups())
    return LoadResult("wrk", float(rps.group(1)), pct["50"], pct["99"], int(total.group(1)), errors)


def _lua_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_wrk(wrk, url, method, headers, duration, threads, conns, tmp) -> LoadResult:
    """Run wrk with a generated Lua script setting method and headers."""
    lines = [f"wrk.method = {_lua_str(method)}"]
    lines += [f"wrk.headers[{_lua_str(k)}] = {_lua_str(v)}" for k, v in headers.items()]
    script = Path(tmp) / f"wrk-{method.lower()}.lua"
    script.write_text("\n".join(lines) + "\n")
    cmd = [
        wrk,
        f"-t{threads}",
        f"-c{conns}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
    if out.returncode != 0:
        raise BenchError(f"wrk failed ({out.returncode}): {out.stderr or out.stdout}")
    return parse_wrk(out.stdout)


def run_python_load(url, method, headers, duration, conns, verify=True) -> LoadResult:
    """Threaded fallback load generator: one keep-alive http.client
    connection per thread (lighter than requests, still GIL-bound)."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    ctx = None
    if parts.scheme == "https":
        ctx = ssl.create_default_context()
        if not verify:
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    deadline = time.perf_counter() + duration
    lats: list[list[float]] = [[] for _ in range(conns)]
    errors = [0] * conns

    def worker(i: int) -> None:
        if ctx:
            conn = http.client.HTTPSConnection(
                parts.hostname, parts.port or 443, timeout=30, context=ctx
            )
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=30)
        while (t0 := time.perf_counter()) < deadline:
            try:
                conn.request(method, target, headers=headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status >= 400:
                    errors[i] += 1
            except (OSError, http.client.HTTPException):
                errors[i] += 1
                conn.close()  # reconnects on the next request
            lats[i].append(time.perf_counter() - t0)
        conn.close()

    t_start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(conns) as pool:
        list(pool.map(worker, range(conns)))
    elapsed = time.perf_counter() - t_start
    all_lat = sorted(x for lst in lats for x in lst)
    n = len(all_lat)
    if not n:
        raise BenchError("python load generator completed no request")

    def pct(p: float) -> float:
        return all_lat[max(0, math.ceil(p * n) - 1)] * 1e3

    return LoadResult("python", n / elapsed, pct(0.50), pct(0.99), n, sum(errors))


# --------------------------------------------------------------------------
# The measurements
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Target:
    """A registry under test."""

    name: str
    url: str
    user: str | None = None
    password: str | None = None
    pid: int | None = None
    repo: str | None = None  # default: --repo
    steps: frozenset[str] | None = None  # measurements to run (default: all not skipped)


def mbps(size: int, seconds: float) -> float:
    """Throughput in MB/s (10^6 bytes)."""
    return size / seconds / MB


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """(elapsed seconds, result) of fn()."""
    t0 = time.perf_counter()
    res = fn()
    return time.perf_counter() - t0, res


def stream_blob(reg: Registry, repo: str, blob: Blob) -> int:
    """GET a blob, reading and discarding it; returns bytes read."""
    r = reg.request("GET", f"/v2/{repo}/blobs/{blob.digest}", stream=True, ok=(200,))
    n = 0
    with r:
        while chunk := r.raw.read(IO_BLOCK, decode_content=False):
            n += len(chunk)
    if n != blob.size:
        raise BenchError(f"blob GET returned {n} bytes, expected {blob.size}")
    return n


def settle() -> None:
    """Flush dirty pages so one step's writeback does not slow the next."""
    os.sync()
    time.sleep(0.5)


def parallel(threads: int, fn: Callable, items) -> list:
    """Run fn over items on a thread pool, re-raising the first error."""
    with concurrent.futures.ThreadPoolExecutor(max(1, threads)) as pool:
        return list(pool.map(fn, items))


class Suite:
    """Runs the selected measurements against one registry."""

    def __init__(self, target: Target, data: TestData, args, tmp: Path) -> None:
        self.t = target
        self.data = data
        self.a = args
        self.tmp = tmp
        self.repo = target.repo or args.repo
        self.reg = Registry(target.url, target.user, target.password, not args.insecure)
        self.res = Results(target.name)
        self.pushed: list[tuple[str, str]] = []  # (repo, digest) for --cleanup

    def run(self) -> Results:
        """Run every measurement not in --skip; failures are recorded."""
        a, res = self.a, self.res
        log(f"=== {self.t.name}: {self.t.url} (repo {self.repo}) ===")
        self.reg.ping()
        res.info.append(f"auth: {self.reg.auth_mode}")
        if self.t.pid:
            res.add("rss_idle", "Server RSS at start", rss_mib(self.t.pid), "MiB", "lower")
        steps = [
            ("uploads", self.uploads),
            ("get", self.downloads),
            ("latency", self.latency),
            ("small", self.small_blobs),
            ("tags", self.tags),
            ("catalog", self.catalog),
            ("big", self.big_upload),
        ]
        for name, fn in steps:
            if name == "uploads" and {"mono", "chunked"} <= a.skip:
                continue
            if name in a.skip or (name == "big" and not a.big_upload_gib):
                continue
            if self.t.steps is not None and name not in self.t.steps:
                continue
            settle()
            try:
                fn()
            except STEP_ERRORS as exc:
                if a.fail_fast:
                    raise
                log(f"  {self.t.name}: step {name!r} failed: {exc!r}")
                res.info.append(f"step {name} failed: {exc}")
        if a.cleanup:
            self.cleanup()
        return res

    # ---- 1, 2, 8: uploads with RSS ---------------------------------------

    def uploads(self) -> None:
        """Monolithic and chunked upload of the big blob, with peak RSS."""
        a, size = self.a, int(self.a.blob_mib * MiB)
        mib = f"{a.blob_mib:g} MiB"
        with RssMonitor(self.t.pid) as mon:
            if "mono" not in a.skip:
                self._upload("upload_mono", f"Monolithic upload {mib}", "mono", size, None)
            if "chunked" not in a.skip:
                label = f"Chunked upload {mib} ({a.chunk_mib:g} MiB PATCHes)"
                self._upload("upload_chunked", label, "chunked", size, a.chunk_mib)
        if self.t.pid:
            label = f"Server peak RSS during {mib} uploads"
            self.res.add("rss_upload", label, mon.peak_mib, "MiB", "lower")

    def _upload(self, key, label, name, size, chunk_mib) -> None:
        """Time one upload of fresh random data (chunked if chunk_mib)."""
        blob = self.data.fresh(name, size)
        settle()
        note = ""
        try:
            t0 = time.perf_counter()
            if chunk_mib:
                chunk = int(chunk_mib * MiB)
                n = self.reg.upload_chunked(self.repo, blob.path, blob.digest, chunk)
                note = f"{n} chunks"
            else:
                self.reg.upload_monolithic(self.repo, blob.path, blob.digest)
            dt = time.perf_counter() - t0
        except STEP_ERRORS as exc:
            if self.a.fail_fast:
                raise
            self.res.error(key, label, "MB/s", "higher", exc)
            return
        self.pushed.append((self.repo, blob.digest))
        self.res.add(key, label, mbps(size, dt), "MB/s", "higher", note)

    # ---- 3: blob GET -----------------------------------------------------

    def downloads(self) -> None:
        """Blob GET: one client, then N concurrent clients (aggregate)."""
        a, size = self.a, int(self.a.blob_mib * MiB)
        blob = self.data.blob("mono", size)
        if not self.reg.blob_exists(self.repo, blob.digest):
            log("  uploading the GET test blob (not measured)")
            self.reg.upload_monolithic(self.repo, blob.path, blob.digest)
            self.pushed.append((self.repo, blob.digest))
        mib = f"{a.blob_mib:g} MiB"
        dt, _ = timed(lambda: stream_blob(self.reg, self.repo, blob))
        self.res.add("get_1", f"Blob GET {mib}, 1 client", mbps(size, dt), "MB/s", "higher")

        barrier = threading.Barrier(a.clients)

        def client(_: int) -> int:
            barrier.wait()
            return stream_blob(self.reg, self.repo, blob)

        with RssMonitor(self.t.pid) as mon:
            dt, counts = timed(lambda: parallel(a.clients, client, range(a.clients)))
        label = f"Blob GET {mib}, {a.clients} clients (aggregate)"
        self.res.add("get_n", label, mbps(sum(counts), dt), "MB/s", "higher")
        if self.t.pid:
            label = f"Server peak RSS during {a.clients}-client GET"
            self.res.add("rss_get", label, mon.peak_mib, "MiB", "lower")

    # ---- 4: manifest GET / blob HEAD rate and latency ---------------------

    def latency(self) -> None:
        """Manifest GET by tag and blob HEAD: req/s, p50, p99."""
        repo = self.repo
        manifest = push_tiny_image(self.reg, repo, "bench-latency", salt=repo)
        tool = self._load_tool()
        self._load_case(
            "manifest",
            "Manifest GET by tag",
            "GET",
            f"/v2/{repo}/manifests/bench-latency",
            {"Accept": MANIFEST_ACCEPT},
            tool,
        )
        # wrk cannot parse HEAD responses announcing a body (wg/wrk#198: it
        # waits for Content-Length bytes), so wrk HEADs the zero-length blob.
        head_digest = json.loads(manifest)["config"]["digest"]
        head_tool, note = tool, ""
        if tool != "python":
            head_tool, note = "python", "python: no zero-length blob HEAD for wrk"
            with contextlib.suppress(*STEP_ERRORS):
                self.reg.push_small_blob(repo, b"", EMPTY_DIGEST)
                r = self.reg.request("HEAD", f"/v2/{repo}/blobs/{EMPTY_DIGEST}")
                if r.status_code == 200 and r.headers.get("Content-Length") == "0":
                    head_digest, head_tool = EMPTY_DIGEST, tool
                    note = "zero-length blob (wrk limitation)"
        path = f"/v2/{repo}/blobs/{head_digest}"
        self._load_case("head", "Blob HEAD", "HEAD", path, {}, head_tool, note)

    def _load_case(self, key, label, method, path, headers, tool, note="") -> None:
        """One fixed-duration load run with the current auth header."""
        a = self.a
        headers = dict(headers)
        self.reg.request(method, path, headers=headers, ok=(200,)).close()
        life = self.reg.token_lifetime(path)
        if life and life[0] < a.duration + 30:
            self.reg.forget_token(path)  # start the run with a fresh token
            self.reg.request(method, path, headers=headers, ok=(200,)).close()
            life = self.reg.token_lifetime(path)
            if life and life[1] < a.duration + 5:
                log(f"  WARNING: token lifetime {life[1]:.0f}s < run duration")
        if auth := self.reg.auth_header(path):
            headers["Authorization"] = auth
        url = self.reg.url(path)
        if tool == "python":
            r = run_python_load(url, method, headers, a.duration, a.connections, not a.insecure)
        else:
            r = run_wrk(
                tool,
                url,
                method,
                headers,
                a.duration,
                a.wrk_threads,
                a.connections,
                self.tmp,
            )
        note = ", ".join(
            x
            for x in (
                f"{r.tool} {a.duration:g}s x {a.connections} conns",
                f"{r.requests} requests",
                note,
                f"{r.errors} ERRORS" if r.errors else "",
            )
            if x
        )
        if r.errors:
            log(f"  WARNING: {r.errors} failed requests in {label}")
        self.res.add(f"{key}_rps", label, r.rps, "req/s", "higher", note)
        self.res.add(f"{key}_p50", f"{label} p50 latency", r.p50_ms, "ms", "lower")
        self.res.add(f"{key}_p99", f"{label} p99 latency", r.p99_ms, "ms", "lower")

    def _load_tool(self) -> str:
        """wrk path, or "python" if wrk is absent or not wanted."""
        if self.a.load_tool == "python":
            return "python"
        wrk = shutil.which("wrk") or ("/usr/bin/wrk" if os.path.exists("/usr/bin/wrk") else None)
        if wrk:
            return wrk
        if self.a.load_tool == "wrk":
            raise BenchError("wrk not found (apt-get install wrk)")
        log("  wrk not found: using the Python threaded load generator")
        return "python"

    # ---- 5: many small blobs ----------------------------------------------

    def small_blobs(self) -> None:
        """Push N small random blobs + config + manifest; blobs/s overall."""
        a, repo = self.a, self.repo
        blobs = [os.urandom(a.small_size) for _ in range(a.small_blobs)]
        digests = [sha256_digest(b) for b in blobs]
        config = image_config(digests)
        items = [(config, sha256_digest(config))] + list(zip(blobs, digests, strict=True))
        manifest = image_manifest(config, [descriptor(OCI_LAYER, b) for b in blobs])
        self.reg.blob_exists(repo, digests[0])  # warm auth outside the timing

        def push(item: tuple[bytes, str]) -> bool:
            return self.reg.push_small_blob(repo, *item, two_step=a.small_two_step)

        def run() -> list[bool]:
            singles = parallel(a.threads, push, items)
            self.reg.put_manifest(repo, "bench-small", manifest)
            return singles

        dt, singles = timed(run)
        mode = "single POST" if all(singles) else "POST+PUT (no single-POST upload)"
        if a.small_two_step:
            mode = "POST+PUT asked of both"
        label = f"Push {a.small_blobs}+1 x {a.small_size} B blobs + manifest ({a.threads} threads)"
        self.res.add("small_push", label, len(items) / dt, "blobs/s", "higher", mode)

    # ---- 6: tags list -------------------------------------------------------

    def tags(self) -> None:
        """Tags list of a repo with many tags: full and paginated."""
        a = self.a
        repo = f"{self.repo}-tags"
        want = [f"t{i:05d}" for i in range(a.tags)]
        have, _ = self.reg.list_paged(f"/v2/{repo}/tags/list", "tags", 1000)
        missing = sorted(set(want) - set(have))
        if missing:
            log(f"  setup: tagging {len(missing)} tags in {repo}")
            manifest = push_tiny_image(self.reg, repo, want[0], salt="tags")
            dt, _ = timed(
                lambda: parallel(
                    a.threads,
                    lambda t: self.reg.put_manifest(repo, t, manifest),
                    missing,
                )
            )
            log(f"  setup done in {dt:.1f}s")
            label = f"Tag creation ({len(missing)} manifest PUTs, {a.threads} threads)"
            self.res.add("tag_create", label, len(missing) / dt, "tags/s", "higher")
        self._list_metrics(
            "tags",
            f"Tags list ({a.tags} tags)",
            f"/v2/{repo}/tags/list",
            "tags",
            a.tags,
        )

    # ---- 7: catalog -----------------------------------------------------------

    def catalog(self) -> None:
        """Catalog with many repositories: full and paginated."""
        a = self.a
        want = [f"{a.catalog_prefix}/r{i:04d}" for i in range(a.repos)]
        have, _ = self.reg.list_paged("/v2/_catalog", "repositories", 1000)
        missing = sorted(set(want) - set(have))
        if missing:
            log(f"  setup: pushing {len(missing)} repositories (not measured)")
            dt, _ = timed(
                lambda: parallel(
                    a.threads, lambda r: push_tiny_image(self.reg, r, "latest"), missing
                )
            )
            log(f"  setup done in {dt:.1f}s")
        self._list_metrics(
            "catalog",
            f"Catalog ({a.repos} repos)",
            "/v2/_catalog",
            "repositories",
            a.repos,
        )

    def _list_metrics(self, key: str, label: str, path: str, field: str, expect: int):
        """Median time of full and paginated listing (following Link)."""
        a = self.a
        for suffix, n, what in (
            ("full", None, "full list"),
            ("paged", a.page_size, f"n={a.page_size} pages"),
        ):
            times, count, pages = [], 0, 0
            for _ in range(a.repeat):
                dt, (items, pages) = timed(lambda n=n: self.reg.list_paged(path, field, n))
                times.append(dt * 1e3)
                count = len(items)
            note = f"{count} entries, {pages} request(s), median of {a.repeat}"
            if n and pages == 1 and count > n:
                note += f", server ignored n={n}"
            if count < expect:
                note += f", EXPECTED >= {expect}"
            self.res.add(
                f"{key}_{suffix}",
                f"{label}, {what}",
                statistics.median(times),
                "ms",
                "lower",
                note,
            )

    # ---- 8b: big upload ---------------------------------------------------

    def big_upload(self) -> None:
        """Monolithic upload of --big-upload-gib GiB with peak RSS."""
        size = int(self.a.big_upload_gib * 1024 * MiB)
        blob = self.data.fresh("big", size)
        settle()
        gib = f"{self.a.big_upload_gib:g} GiB"
        with RssMonitor(self.t.pid) as mon:
            dt, _ = timed(lambda: self.reg.upload_monolithic(self.repo, blob.path, blob.digest))
        self.pushed.append((self.repo, blob.digest))
        self.res.add("upload_big", f"Monolithic upload {gib}", mbps(size, dt), "MB/s", "higher")
        if self.t.pid:
            label = f"Server peak RSS during {gib} upload"
            self.res.add("rss_big", label, mon.peak_mib, "MiB", "lower")
            if mon.peak_children:  # a gunicorn master: its worker alone too
                label = f"Worker peak RSS during {gib} upload (master excluded)"
                self.res.add("rss_big_worker", label, mon.peak_children_mib, "MiB", "lower")

    def cleanup(self) -> None:
        """Best-effort DELETE of the large blobs this run uploaded."""
        done = 0
        for repo, digest in self.pushed:
            with contextlib.suppress(*STEP_ERRORS):
                r = self.reg.request("DELETE", f"/v2/{repo}/blobs/{digest}")
                r.close()
                done += r.status_code == 202
        log(f"  cleanup: deleted {done} of {len(self.pushed)} big blobs")


# --------------------------------------------------------------------------
# Storage backends (--storage): DTR switched live from one to the next
# --------------------------------------------------------------------------

STORAGE_BACKENDS = ("filesystem", "s3", "azure", "swift")
STORAGE_STEPS = frozenset({"uploads", "get", "big"})  # what depends on where blobs live
STORAGE_API = "/api/v0/admin/settings/storage"


class StorageServers:
    """Test servers of the storage backends, started on demand as DTR's test fixtures start
    them (tests/support: moto, Azurite, Swift all-in-one) and stopped at the end. Options
    are the drivers' defaults (16 MiB S3 parts, 8 MiB Azure blocks, 16 MiB Swift segments)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.running: list = []
        root = Path(__file__).resolve().parents[1]
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))  # tests.support, dtr

    def config(self, backend: str, filesystem_root: str) -> dict:
        """{"backend", "options"} of an empty place on the backend's server."""
        if backend == "filesystem":
            return {"backend": backend, "options": {"rootDirectory": filesystem_root}}
        folder = self.tmp / f"storage-{backend}"
        folder.mkdir()
        if backend == "s3":
            from tests.support.moto_server import MotoServer

            os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
            moto = self._start(MotoServer(folder))
            moto.client().create_bucket(Bucket="dtr-bench")
            options = moto.driver_options(bucket="dtr-bench", partSizeMiB=16)
        elif backend == "azure":
            from tests.support.azurite import Azurite

            azurite = self._start(Azurite(folder))
            options = azurite.options(azurite.new_container(), blockSizeMiB=8)
        else:
            from tests.support.swift_aio import SwiftAIO, swift_options

            swift = self._start(SwiftAIO(folder))
            options = swift_options(swift, "dtr-bench", segmentSizeMiB=16)
        return {"backend": backend, "options": options}

    def _start(self, server):
        log(f"  starting {type(server).__name__} (storage test server)")
        self.running.append(server.start())
        return server

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        for server in reversed(self.running):
            with contextlib.suppress(Exception):
                server.stop()


def storage_request(a, method: str, config: dict | None = None) -> dict:
    """GET or PUT DTR's storage settings (an admin's --user/--password)."""
    r = requests.request(
        method,
        a.url.rstrip("/") + STORAGE_API,
        json=config,
        auth=(a.user, a.password) if a.user else None,
        verify=not a.insecure,
        timeout=TIMEOUT,
    )
    if r.status_code != 200:
        what = f"switching DTR's storage to {config['backend']}" if config else "storage settings"
        raise BenchError(f"{what}: HTTP {r.status_code} {r.text[:400]}")
    return r.json()


def _option(text: str) -> tuple[str, object]:
    """KEY=VALUE of --storage-option; VALUE as JSON when it parses (8, true), else text."""
    key, _, value = text.partition("=")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def storage_runs(a, data: TestData, tmp: Path) -> list[Results]:
    """The transfer measurements on each --storage backend, switching DTR live between them;
    the storage in force before is put back at the end when it had no secrets."""
    before = storage_request(a, "GET")
    root = before["options"].get("rootDirectory") or str(tmp / "filesystem-root")
    overrides = dict(_option(text) for text in a.storage_option)
    configs = [(name, None) for name in a.storage]
    if a.storage_config:
        given = json.loads(Path(a.storage_config).read_text())
        configs.append((f"{given['backend']} (given)", given))
    results = []
    with StorageServers(tmp) as servers:
        try:
            for name, config in configs:
                if config is None:
                    config = servers.config(name, root)
                    known = {field["name"] for field in before["fields"][name]}
                    config["options"].update((k, v) for k, v in overrides.items() if k in known)
                log(f"=== DTR storage: {name} ===")
                storage_request(a, "PUT", config)
                repo = f"{a.repo}-{name.split()[0]}"  # the blobs of each backend in its own
                target = Target(
                    f"DTR {name}", a.url, a.user, a.password, a.server_pid, repo, STORAGE_STEPS
                )
                results.append(Suite(target, data, a, tmp).run())
        finally:
            if not any(before["secrets"].values()):
                restore = {"backend": before["backend"], "options": before["options"]}
                with contextlib.suppress(BenchError, requests.RequestException):
                    storage_request(a, "PUT", restore)
                    log(f"  storage back to {before['backend']}")
    return results


# --------------------------------------------------------------------------
# Reference registry (CNCF distribution via Debian's docker-registry)
# --------------------------------------------------------------------------

REFERENCE_CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: dtr-bench-secret
"""


def free_port() -> int:
    """A currently free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the benchmark process dies (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PDEATHSIG


def ensure_reference_binary(binary: str) -> str:
    """Return the docker-registry binary, apt-installing it if missing."""
    if os.path.exists(binary) or shutil.which(binary):
        return shutil.which(binary) or binary
    if os.geteuid() != 0:
        raise BenchError(f"{binary} missing; apt-get install docker-registry")
    log("installing docker-registry with apt-get (waits for the dpkg lock)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = [
        "apt-get",
        "-o",
        "DPkg::Lock::Timeout=900",
        "install",
        "-y",
        "docker-registry",
    ]
    subprocess.run(cmd, check=True, env=env)
    if not os.path.exists(binary):
        raise BenchError(f"{binary} still missing after install")
    return binary


class ReferenceRegistry:
    """Runs docker-registry on a free loopback port with a temp config."""

    def __init__(self, binary: str, tmp: Path) -> None:
        self.binary = ensure_reference_binary(binary)
        self.dir = Path(tempfile.mkdtemp(prefix="reference-", dir=tmp))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Self:
        root = self.dir / "storage"
        root.mkdir()
        config = self.dir / "config.yml"
        config.write_text(REFERENCE_CONFIG.format(root=root, port=self.port))
        self._log = open(self.dir / "registry.log", "wb")
        self.proc = subprocess.Popen(
            [self.binary, "serve", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"docker-registry exited: {self.log_tail()}")
            with contextlib.suppress(requests.RequestException):
                r = requests.get(self.url + "/v2/", timeout=1)
                if r.status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"docker-registry not ready: {self.log_tail()}")
            time.sleep(0.1)
        log(f"reference registry pid {self.proc.pid} on {self.url}")
        return self

    def log_tail(self) -> str:
        """Last lines of the registry's log."""
        with contextlib.suppress(OSError):
            return (self.dir / "registry.log").read_text(errors="replace")[-2000:]
        return ""

    @property
    def pid(self) -> int:
        """Process id of the running registry."""
        assert self.proc
        return self.proc.pid

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        log("reference registry stopped and removed")


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def report_rows(results: list[Results]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the comparison table."""
    names = [r.name for r in results]
    keys: dict[str, Metric] = {}
    for r in results:
        for k, m in r.metrics.items():
            keys.setdefault(k, m)
    header = ["metric", *names]
    if len(results) == 2:
        header.append(f"ratio {names[0]}/{names[1]}")
    rows = []
    for k, m in keys.items():
        hint = f", {m.better} is better" if m.better else ""
        row = [f"{m.label} [{m.unit}{hint}]"]
        vals = []
        for r in results:
            got = r.metrics.get(k)
            vals.append(got.value if got else None)
            row.append("error" if got and got.value is None and got.note else fmt(vals[-1]))
        if len(results) == 2:
            a, b = vals
            row.append(f"{a / b:.2f}x" if a is not None and b else "n/a")
        rows.append(row)
    return header, rows


def render_text(header: list[str], rows: list[list[str]]) -> str:
    """Plain aligned table."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def render_markdown(header, rows, results: list[Results], meta: list[str]) -> str:
    """Markdown table with notes."""
    out = ["| " + " | ".join(header) + " |"]
    out.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    out += ["| " + " | ".join(row) + " |" for row in rows]
    out.append("")
    out += [f"- {m}" for m in meta]
    for r in results:
        notes = [f"{m.label}: {m.note}" for m in r.metrics.values() if m.note]
        for line in r.info + notes:
            out.append(f"- {r.name}: {line}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line; sizes default from the full or --quick profile."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="registry base URL, e.g. http://127.0.0.1:5000")
    p.add_argument("--user", help="username for token/Basic auth")
    p.add_argument(
        "--password",
        default=os.environ.get("BENCH_PASSWORD"),
        help="password (default: $BENCH_PASSWORD)",
    )
    p.add_argument("--repo", default="bench/bench", help="repository (default bench/bench)")
    p.add_argument("--server-pid", type=int, help="registry pid for RSS (children summed)")
    p.add_argument("--reference", action="store_true", help="also benchmark docker-registry")
    p.add_argument("--only-reference", action="store_true", help="benchmark only docker-registry")
    p.add_argument("--reference-binary", default=DEFAULT_REFERENCE_BINARY)
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        help=f"comma-separated measurements to skip: {','.join(MEASUREMENTS)}",
    )
    p.add_argument("--quick", action="store_true", help="small smoke-test sizes")
    p.add_argument("--blob-mib", type=float, help="big blob size (256; quick 16)")
    p.add_argument("--chunk-mib", type=float, help="PATCH chunk size (16; quick 4)")
    p.add_argument("--clients", type=int, help="concurrent GET clients (8)")
    p.add_argument("--small-blobs", type=int, help="number of small blobs (500; quick 50)")
    p.add_argument("--small-size", type=int, help="small blob size in bytes (1024)")
    p.add_argument(
        "--small-two-step",
        action="store_true",
        help="push small blobs as an empty POST then a PUT, on both registries",
    )
    p.add_argument("--threads", type=int, default=4, help="threads for pushes (4)")
    p.add_argument("--tags", type=int, help="tags in the tags-list repo (5000; quick 200)")
    p.add_argument("--repos", type=int, help="repositories for the catalog (1000; quick 50)")
    p.add_argument("--catalog-prefix", default="bench-cat", help="catalog repo namespace")
    p.add_argument("--page-size", type=int, help="n= for paginated lists (100; quick 20)")
    p.add_argument("--repeat", type=int, help="repetitions of list timings (5; quick 3)")
    p.add_argument("--duration", type=int, help="seconds per load run (10; quick 2)")
    p.add_argument("--wrk-threads", type=int, default=2)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--load-tool", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--big-upload-gib", type=float, default=0, help="also a GiB-sized upload (RSS)")
    p.add_argument(
        "--storage",
        help="comma-separated storage backends (filesystem,s3,azure,swift): DTR's storage is "
        "switched to each in turn (admin --user) and the transfer measurements run on each; "
        "s3, azure and swift start their test servers (moto, Azurite, Swift all-in-one)",
    )
    p.add_argument(
        "--storage-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option for the started backends that have it, e.g. partSizeMiB=8",
    )
    p.add_argument(
        "--storage-config",
        help='a JSON file {"backend": ..., "options": {...}} of a real store to measure too',
    )
    p.add_argument("--markdown", help="write the result table as Markdown to FILE")
    p.add_argument("--json", help="write raw results as JSON to FILE")
    p.add_argument("--tmpdir", help="where to put temp data (default: system temp)")
    p.add_argument("--cleanup", action="store_true", help="DELETE the big blobs after")
    p.add_argument("--insecure", action="store_true", help="skip TLS verification")
    p.add_argument("--fail-fast", action="store_true", help="abort on the first error")
    a = p.parse_args(argv)
    for key, value in PROFILES["quick" if a.quick else "full"].items():
        if getattr(a, key) is None:
            setattr(a, key, type(value)(value))
    a.skip = {s.strip() for item in a.skip for s in item.split(",") if s.strip()}
    if unknown := a.skip - set(MEASUREMENTS):
        p.error(f"unknown --skip names: {', '.join(sorted(unknown))}")
    if not a.only_reference and not a.url:
        p.error("--url is required unless --only-reference")
    a.storage = [x.strip() for x in (a.storage or "").split(",") if x.strip()]
    if unknown := set(a.storage) - set(STORAGE_BACKENDS):
        p.error(f"unknown --storage backends: {', '.join(sorted(unknown))}")
    if (a.storage or a.storage_config) and (a.only_reference or not a.user):
        p.error("--storage needs DTR (--url) and an admin --user")
    if a.only_reference:
        a.reference = True
    for key in ("clients", "small_blobs", "tags", "repos", "page_size", "repeat"):
        setattr(a, key, int(getattr(a, key)))
    return a


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    a = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the reference registry is cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: list[Results] = []
    with tempfile.TemporaryDirectory(prefix="dtr-bench-", dir=a.tmpdir) as tmp_s:
        tmp = Path(tmp_s)
        data = TestData(tmp)
        if a.storage or a.storage_config:
            results += storage_runs(a, data, tmp)
        elif not a.only_reference:
            target = Target("DTR", a.url, a.user, a.password, a.server_pid)
            results.append(Suite(target, data, a, tmp).run())
        if a.reference:
            with ReferenceRegistry(a.reference_binary, tmp) as ref:
                steps = STORAGE_STEPS if a.storage or a.storage_config else None
                target = Target("reference", ref.url, pid=ref.pid, steps=steps)
                results.append(Suite(target, data, a, tmp).run())

    header, rows = report_rows(results)
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    profile = "quick" if a.quick else "full"
    cpus = os.cpu_count()
    meta = [f"run {now}, profile {profile}, {cpus} CPUs, MB = 10^6 bytes"]
    if a.reference:
        meta.append(f"reference: {reference_version(a.reference_binary)}")
    print()
    print(render_text(header, rows))
    for r in results:
        for line in r.info:
            print(f"{r.name}: {line}")
    if a.markdown:
        Path(a.markdown).write_text(render_markdown(header, rows, results, meta))
        log(f"wrote {a.markdown}")
    if a.json:
        raw = {
            r.name: {
                "info": r.info,
                "metrics": [dataclasses.asdict(m) for m in r.metrics.values()],
            }
            for r in results
        }
        Path(a.json).write_text(json.dumps({"meta": meta, "results": raw}, indent=2))
        log(f"wrote {a.json}")
    failed = any(m.value is None and m.note for r in results for m in r.metrics.values())
    failed = failed or any("failed" in line for r in results for line in r.info)
    return 1 if failed else 0


def reference_version(binary: str) -> str:
    """`docker-registry --version` output, or the binary name."""
    with contextlib.suppress(Exception):
        out = subprocess.run(
            [binary, "--version"],
            check=False,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() or binary
    return binary


if __name__ == "__main__":
    sys.exit(main())
