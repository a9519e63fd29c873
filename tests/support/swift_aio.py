"""A real, private OpenStack Swift "all in one" for tests: the `swift_server` and `swift_driver`
fixtures.

`SwiftAIO(folder).start()` runs Swift from PyPI (the `swift` package in the project's venv) on
loopback, as the current user, with everything in `folder`:

    swift.conf          hash prefix/suffix and one storage policy (swift_dir = folder)
    *.ring.gz           account, container and object rings: one replica, one device (d1),
                        built with the RingBuilder that `swift-ring-builder` runs, in one
                        subprocess (three `swift-ring-builder` runs take ~4 s, this ~0.5 s)
    devices/d1          the only device; mount_check = false. Swift keeps metadata in user
                        xattrs: the folder must be on a filesystem that has them (ext4 /tmp does)
    *-server.conf       one per server, workers = 0 (one process each, no forking)

Four servers (account, container, object, proxy) and the memcached that tempauth keeps its
tokens in. Each is the leader of its own process group (Swift's servers call setsid(), which
fails harmlessly for a group leader and would otherwise take them out of our group), so `stop()`
kills each group. Logs go to UDP on an unused loopback port (there is no syslog here); stdout
and stderr of each process go to `folder/<name>.log`.

The proxy pipeline has tempauth (account AUTH_test; users test:tester (.admin) and
test:reader (no rights on containers it was not granted)), tempurl, slo and the middlewares
those need. `auth_url` is the v1 auth endpoint.
"""

import getpass
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests

from tests.support.child_server import die_with_parent
from tests.support.server import free_port

ADMIN = ("test:tester", "testing")
READER = ("test:reader", "reading")
SERVERS = ("account", "container", "object", "proxy")
_BIN = Path(sys.executable).parent
_containers = itertools.count()

_RINGS_SCRIPT = """
import sys
from swift.common.ring import RingBuilder

folder = sys.argv[1]
for kind, port in zip(("account", "container", "object"), sys.argv[2:]):
    builder = RingBuilder(6, 1, 1)  # 2**6 partitions, one replica, moved at most once an hour
    builder.add_dev({"region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port),
                     "device": "d1", "weight": 1})
    builder.rebalance()
    builder.save(f"{folder}/{kind}.builder")
    builder.get_ring().save(f"{folder}/{kind}.ring.gz")
"""

_PROXY_PIPELINE = (
    "catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl "
    "tempauth copy slo dlo proxy-logging proxy-server"
)


def _unused_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SwiftAIO:
    """A private single-node Swift: `auth_url` (v1 tempauth), `proxy_url`, `log_text(name)`."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.ports = {name: free_port() for name in SERVERS}
        self.memcached_port = free_port()
        self.proxy_url = f"http://127.0.0.1:{self.ports['proxy']}"
        self.auth_url = f"{self.proxy_url}/auth/v1.0"
        self.processes = {}
        self.started_in = None

    # configuration

    def _common(self, name):
        return textwrap.dedent(f"""\
            [DEFAULT]
            bind_ip = 127.0.0.1
            bind_port = {self.ports[name]}
            workers = 0
            user = {getpass.getuser()}
            swift_dir = {self.folder}
            devices = {self.folder}/devices
            mount_check = false
            disable_fallocate = true
            log_name = {name}-server
            log_udp_host = 127.0.0.1
            log_udp_port = {self.log_port}
            """)

    def _backend_conf(self, name):
        app = f"[app:{name}-server]\nuse = egg:swift#{name}\n"
        return self._common(name) + f"\n[pipeline:main]\npipeline = {name}-server\n\n{app}"

    def _proxy_conf(self):
        filters = {
            "catch_errors": "",
            "gatekeeper": "",
            "healthcheck": "",
            "proxy-logging": "",
            "cache": f"memcache_servers = 127.0.0.1:{self.memcached_port}",
            "listing_formats": "",
            "bulk": "",
            "tempurl": "",
            "tempauth": f"user_{ADMIN[0].replace(':', '_')} = {ADMIN[1]} .admin\n"
            f"user_{READER[0].replace(':', '_')} = {READER[1]}",
            "copy": "",
            "slo": "",
            "dlo": "",
        }
        egg = {"cache": "memcache"}
        sections = "".join(
            f"\n[filter:{name}]\nuse = egg:swift#{egg.get(name, name.replace('-', '_'))}\n"
            + (options + "\n" if options else "")
            for name, options in filters.items()
        )
        return (
            self._common("proxy")
            + textwrap.dedent(f"""
            [pipeline:main]
            pipeline = {_PROXY_PIPELINE}

            [app:proxy-server]
            use = egg:swift#proxy
            account_autocreate = true
            allow_account_management = true
            node_timeout = 30
            """)
            + sections
        )

    def setup(self):
        self.log_port = _unused_udp_port()
        (self.folder / "devices" / "d1").mkdir(parents=True)
        self._check_xattrs()
        (self.folder / "swift.conf").write_text(
            "[swift-hash]\nswift_hash_path_suffix = dtr-test\nswift_hash_path_prefix = dtr\n\n"
            "[storage-policy:0]\nname = only\ndefault = yes\n"
        )
        for name in ("account", "container", "object"):
            (self.folder / f"{name}-server.conf").write_text(self._backend_conf(name))
        (self.folder / "proxy-server.conf").write_text(self._proxy_conf())
        ports = [str(self.ports[name]) for name in ("account", "container", "object")]
        result = subprocess.run(
            [sys.executable, "-c", _RINGS_SCRIPT, str(self.folder), *ports],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"building the Swift rings failed: {result.stderr}")
        return self

    def _check_xattrs(self):
        probe = self.folder / "devices" / "d1" / ".xattr-probe"
        probe.touch()
        try:
            os.setxattr(probe, "user.swift.probe", b"1")
        except OSError as error:
            raise RuntimeError(
                f"{self.folder} is on a filesystem without user xattrs, which Swift's object "
                f"server needs ({error}): put the test folder on ext4/xfs"
            ) from error
        finally:
            probe.unlink()

    # processes

    def _spawn(self, name, command):
        log = open(self.folder / f"{name}.log", "ab")
        try:
            self.processes[name] = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                process_group=0,
                preexec_fn=die_with_parent,
            )
        finally:
            log.close()

    def start(self, timeout=30):
        began = time.monotonic()
        self.setup()
        memcached = shutil.which("memcached") or shutil.which("memcached", path="/usr/bin")
        if not memcached:
            raise RuntimeError("memcached is not installed: run scripts/install-system-deps.sh")
        self._spawn(
            "memcached",
            [memcached, "-l", "127.0.0.1", "-p", str(self.memcached_port), "-U", "0", "-u",
             getpass.getuser(), "-m", "16"],
        )  # fmt: skip
        for name in SERVERS:
            conf = self.folder / f"{name}-server.conf"
            self._spawn(name, [str(_BIN / f"swift-{name}-server"), str(conf)])
        try:
            self._wait_until_ready(began + timeout)
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began
        return self

    def _wait_until_ready(self, deadline):
        while True:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"swift {name} exited: {self.log_text(name)}")
            try:
                token, storage_url = self.auth(*ADMIN)
                # a container and an object round trip: every server answers
                container, probe = f"{storage_url}/aio-probe", f"{storage_url}/aio-probe/o"
                for method, url in [
                    ("PUT", container), ("PUT", probe), ("DELETE", probe), ("DELETE", container)
                ]:  # fmt: skip
                    response = requests.request(
                        method, url, headers={"X-Auth-Token": token}, timeout=5
                    )
                    response.raise_for_status()
                return
            except (requests.RequestException, KeyError):
                if time.monotonic() > deadline:
                    logs = "\n".join(self.log_text(name) for name in self.processes)
                    raise RuntimeError(f"swift did not start in time: {logs}") from None
                time.sleep(0.05)

    def auth(self, user, key):
        """(token, storage URL) from tempauth."""
        response = requests.get(
            self.auth_url, headers={"X-Auth-User": user, "X-Auth-Key": key}, timeout=5
        )
        response.raise_for_status()
        return response.headers["X-Auth-Token"], response.headers["X-Storage-Url"]

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes = {}

    def log_text(self, name):
        path = self.folder / f"{name}.log"
        return f"--- {name}\n" + (path.read_text(errors="replace") if path.exists() else "")

    def new_container_name(self):
        return f"dtr-test-{os.getpid()}-{next(_containers)}"


@pytest.fixture(scope="session")
def swift_server(tmp_path_factory):
    """One running Swift all-in-one (tempauth v1, tempurl, slo) on loopback."""
    server = SwiftAIO(tmp_path_factory.mktemp("swift")).start()
    yield server
    server.stop()


def swift_options(server, container, **more):
    """Driver options (as an admin would enter them) for `container` on `server`."""
    options = {
        "authUrl": server.auth_url,
        "username": ADMIN[0],
        "password": ADMIN[1],
        "container": container,
        "segmentSizeMiB": 1,
    }
    options.update(more)
    return options


@pytest.fixture
def swift_driver(swift_server):
    """A SwiftDriver on a fresh container (created by the driver). 4 MiB segments: the generic
    suite's blobs of 3 to 12 MiB span segments, its 1 GiB blob folds 8 sub-manifests, and that
    takes a third of the time 1 MiB segments take (Swift's cost is mostly per request)."""
    from dtr.storage.swift import from_settings

    driver = from_settings(
        swift_options(swift_server, swift_server.new_container_name(), segmentSizeMiB=4)
    )
    yield driver
    driver.close()
