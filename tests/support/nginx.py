"""Debian's nginx in front of a DTRProcess, running the README's reverse proxy block (the one
```nginx block of README.md, with this test's ports and certificate put in), so the documented
configuration is the tested one. nginx serves HTTPS on a loopback port with a certificate
made for 127.0.0.1; DTR serves plain HTTP on loopback, as the README runs it."""

import contextlib
import os
import re
import shutil
import subprocess
import time

import requests
import urllib3

from dtr.tls import certificate_paths, new_certificate, subject_names, write_certificate_files
from tests.support.server import ROOT, free_port, stop_process

README = ROOT / "README.md"
# The README's command for DTR behind the proxy, and its place-holders that a test replaces.
DOCUMENTED_COMMAND = (
    "DTR_TRUSTED_PROXIES=127.0.0.1 .venv/bin/python app.py serve --http --bind 127.0.0.1:8080"
)
DOCUMENTED_UPSTREAM = "proxy_pass http://127.0.0.1:8080;"
DOCUMENTED_LISTEN = "listen 443 ssl;"
DOCUMENTED_CERTIFICATE = "/etc/ssl/registry.example.com/fullchain.pem"
DOCUMENTED_KEY = "/etc/ssl/registry.example.com/privkey.pem"

MAIN_CONFIG = """\
daemon off;
{user}
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/dtr.conf;
}}
"""


def documented_server_block() -> str:
    """The README's nginx configuration (its only ```nginx block), and a check that its
    command for DTR is the one the tests run."""
    text = README.read_text()
    blocks = re.findall(r"^```nginx\n(.*?)^```$", text, re.S | re.M)
    assert len(blocks) == 1, "README.md must have exactly one ```nginx block"
    assert DOCUMENTED_COMMAND in text, "README.md: the command running DTR behind nginx"
    return blocks[0]


def server_block_for(listen_port, upstream_port, certificate, key) -> str:
    """The README's block with this test's ports and certificate (each place-holder exactly
    once, so a README that changes them breaks this test rather than going untested)."""
    block = documented_server_block()
    for old, new in [
        (DOCUMENTED_LISTEN, f"listen 127.0.0.1:{listen_port} ssl;"),
        (DOCUMENTED_UPSTREAM, f"proxy_pass http://127.0.0.1:{upstream_port};"),
        (DOCUMENTED_CERTIFICATE, str(certificate)),
        (DOCUMENTED_KEY, str(key)),
    ]:
        assert block.count(old) == 1, f"README.md's nginx block: expected {old!r} once"
        block = block.replace(old, new)
    return block


class Nginx:
    """nginx proxying to `upstream_port` on loopback; `url`/`host` are the proxy's."""

    def __init__(self, folder, upstream_port):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"https://{self.host}"
        self.upstream_port = upstream_port
        self.process = None

    def start(self):
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        assert os.path.exists(binary), "nginx is not installed (make system-deps)"
        pair = new_certificate(subject_names("127.0.0.1"))  # the proxy's own, no database
        write_certificate_files(self.folder / "tls", pair)
        self.certificate, key = certificate_paths(self.folder / "tls")
        (self.folder / "dtr.conf").write_text(
            server_block_for(self.port, self.upstream_port, self.certificate, key)
        )
        # as root, nginx's workers would run as nobody, who cannot enter pytest's folders
        user = "user root;" if os.geteuid() == 0 else ""
        config = self.folder / "nginx.conf"
        config.write_text(MAIN_CONFIG.format(folder=self.folder, user=user))
        self.log = open(self.folder / "nginx.out", "wb")
        self.process = subprocess.Popen(
            [binary, "-p", str(self.folder), "-c", str(config)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.log_text()}")
            try:
                with quiet_insecure_warnings():
                    requests.get(f"{self.url}/health", verify=False, timeout=1)
                return self
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"nginx did not start: {self.log_text()}")

    def log_text(self):
        parts = []
        for name in ("nginx.out", "error.log"):
            path = self.folder / name
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)

    def stop(self):
        stop_process(self.process, getattr(self, "log", None))


@contextlib.contextmanager
def nginx_in_front(dtr, folder):
    """A started Nginx in front of the DTRProcess `dtr`; stopped at the end."""
    proxy = Nginx(folder, dtr.port).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@contextlib.contextmanager
def quiet_insecure_warnings():
    """requests with verify=False to the proxy's test certificate."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        yield
