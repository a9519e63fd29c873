"""Debian's HAProxy in front of several DTR replicas (DTRProcess on one database and one
storage): plain HTTP on a loopback port, `balance roundrobin` decided for each request (also
the requests of one keep-alive client connection: HAProxy 2.x balances every HTTP request on
its own unless `option prefer-last-server`), a replica health-checked on GET /health every
250 ms and out of the rotation after two failed checks, in again after two good ones.

Everything HAProxy writes stays in the fixture's folder (its configuration, its log on
standard output) and in a short temporary folder of its own (its admin socket).
`server_states()` reads the admin socket (`show stat`) to say which replicas HAProxy
considers up; `wait_for_state()` waits for one to change.
"""

import contextlib
import csv
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from tests.support.server import free_port, stop_process

CHECK_INTERVAL_MS = 250
CHECK_FALL = 2  # failed checks before a replica is out: ~0.5-1 s after it died
CHECK_RISE = 2

CONFIG = """\
global
    maxconn 1024
    stats socket {runtime}/admin.sock mode 600 level admin
    log stdout format raw daemon

defaults
    mode http
    log global
    option httplog
    option forwardfor
    option redispatch
    retries 2
    timeout connect 2s
    timeout client 5m
    timeout server 5m
    timeout http-request 30s
    timeout http-keep-alive 30s
    timeout queue 30s
    timeout check 1s

frontend dtr
    bind 127.0.0.1:{port}
    # large manifests and layers: no body limit, the timeouts above for slow uploads
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
    default-server inter {inter}ms fastinter {inter}ms downinter {inter}ms fall {fall} rise {rise}
{servers}
"""


class HAProxy:
    """HAProxy balancing over `backends` (["127.0.0.1:PORT", ...], named r0, r1, ... in that
    order); `url`/`host` are the proxy's."""

    def __init__(self, folder, backends):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.backends = list(backends)
        self.names = {address: f"r{index}" for index, address in enumerate(self.backends)}
        # the admin socket: a short path of its own (a unix socket's path has 107 bytes)
        self.runtime = Path(tempfile.mkdtemp(prefix="hap", dir="/tmp"))
        self.process = None

    def config_text(self):
        servers = "\n".join(
            f"    server {name} {address} check" for address, name in self.names.items()
        )
        return CONFIG.format(
            runtime=self.runtime,
            port=self.port,
            inter=CHECK_INTERVAL_MS,
            fall=CHECK_FALL,
            rise=CHECK_RISE,
            servers=servers,
        )

    def start(self):
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        assert os.path.exists(binary), "haproxy is not installed (make system-deps)"
        config = self.folder / "haproxy.cfg"
        config.write_text(self.config_text())
        check = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True)
        assert check.returncode == 0, f"haproxy -c: {check.stdout}{check.stderr}"
        self.log = open(self.folder / "haproxy.log", "wb")
        # -db: in the foreground, no daemon, no pidfile; stopped by SIGTERM (stop_process)
        self.process = subprocess.Popen(
            [binary, "-db", "-f", str(config)], stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"haproxy exited: {self.log_text()}")
            try:
                # every replica up (its first checks passed), so the rotation is complete
                if all(state == "UP" for state in self.server_states().values()):
                    requests.get(f"{self.url}/health", timeout=1)
                    return self
            except (OSError, requests.RequestException):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"haproxy did not start: {self.log_text()}")

    def admin(self, command) -> str:
        """One command on the admin socket; its answer."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(self.runtime / "admin.sock"))
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def server_states(self) -> dict:
        """{"127.0.0.1:PORT": "UP" | "DOWN" | ...} of the backends, as HAProxy sees them
        (a transition shows as e.g. "UP 1/2": the first word counts)."""
        rows = csv.DictReader(self.admin("show stat").lstrip("# ").splitlines())
        by_name = {row["svname"]: row["status"] for row in rows if row["pxname"] == "replicas"}
        return {address: by_name[name].split()[0] for address, name in self.names.items()}

    def wait_for_state(self, address, state, timeout=10.0) -> float:
        """Wait until HAProxy says the backend `address` is `state`; the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.server_states()[address] == state:
                return time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(f"{address} not {state} after {timeout} s: {self.server_states()}")

    def log_text(self):
        path = self.folder / "haproxy.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self):
        stop_process(self.process, getattr(self, "log", None))
        shutil.rmtree(self.runtime, ignore_errors=True)


@contextlib.contextmanager
def haproxy_in_front(replicas, folder):
    """A started HAProxy balancing over the DTRProcess `replicas`; stopped at the end."""
    proxy = HAProxy(folder, [replica.host for replica in replicas]).start()
    try:
        yield proxy
    finally:
        proxy.stop()
