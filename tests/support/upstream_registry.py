"""Upstream registries for pull-through-cache tests: real servers on loopback, no mocks.

- `ReferenceRegistry`: Debian's CNCF distribution 2.8 (`docker-registry serve CONFIG.yml`) on a
  free loopback port, filesystem storage in a folder of its own, deletes enabled; stopped and
  started again on the same port and data. With `token_auth=True` it trusts a `TokenServer`.
- `TokenServer`: the Docker token protocol (GET /token with HTTP Basic or anonymous, and the
  OAuth2 password grant by POST /token), RS256 JWTs whose `x5c` header carries the
  self-signed certificate that the registry's `rootcertbundle` holds.
- `FaultyFront`: a streaming reverse proxy in front of any upstream URL that counts what it
  sees and, by `mode`, passes, answers 429 or 503, drops the connection or waits first.
- `push_image`, `push_index`, `push_referrer`: push small images (the real docker CLI pulls
  them) with tests/support/images.py's builders and client.py's token-speaking client.
"""

import base64
import datetime
import http.client
import json
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import jwt
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from tests.support.child_server import ChildServer
from tests.support.client import RegistryClient
from tests.support.images import (
    OCI_INDEX,
    OCI_MANIFEST,
    Image,
    blob_descriptor,
    index_of,
    sha256,
    simple_image,
)
from tests.support.server import free_port
from tests.support.signing import artifact, rsa_key

REGISTRY_BINARY = "/usr/bin/docker-registry"
SERVICE = "upstream-registry"
ISSUER = "upstream-token-issuer"
CHUNK = 64 * 1024
PAYLOAD_TYPE = "application/octet-stream"
SIGNATURE_ARTIFACT = "application/vnd.dtr.test.signature.v1"
RATE_LIMITED = json.dumps({"errors": [{"code": "TOOMANYREQUESTS", "message": "rate limited"}]})
UNAVAILABLE = json.dumps({"errors": [{"code": "UNAVAILABLE", "message": "service unavailable"}]})

CONFIG = """\
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: upstream-registry-secret
"""

TOKEN_AUTH = """\
auth:
  token:
    realm: {realm}
    service: {service}
    issuer: {issuer}
    rootcertbundle: {bundle}
"""


# --------------------------------------------------------------------------------------------
# In-process HTTP servers (the token server, the faulty front)
# --------------------------------------------------------------------------------------------


class _LoopbackServer(ThreadingHTTPServer):
    """A threaded HTTP server on a free loopback port, serving in a thread of its own from
    the start; `owner` is the object its handlers work for. `close()` also ends the
    keep-alive connections still open, whose threads would otherwise go on serving."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, handler, owner):
        super().__init__(("127.0.0.1", 0), handler)
        self.owner = owner
        self.port = self.server_address[1]
        self.open_connections = set()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.shutdown()
        with self.lock:
            connections = list(self.open_connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.server_close()
        self.thread.join(5)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as registry clients expect

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.open_connections.add(self.connection)

    def finish(self):
        with self.server.lock:
            self.server.open_connections.discard(self.connection)
        super().finish()

    def log_message(self, format, *args):
        pass

    def reply(self, status, body=b"", headers=None, content_type="application/json"):
        body = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        for name, value in {"Content-Type": content_type, **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body_chunks(self):
        """The request body, in pieces as they arrive: Content-Length or chunked."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                yield self.rfile.read(size)
                self.rfile.readline()  # the CRLF after the chunk
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            chunk = self.rfile.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


# --------------------------------------------------------------------------------------------
# Token server
# --------------------------------------------------------------------------------------------


def _signing_key_and_certificate(issuer):
    """A fresh RSA key and a self-signed certificate of it (valid from an hour ago)."""
    key = rsa_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def _parse_scope(scope):
    """ "repository:NAME:pull,push" -> ("repository", NAME, ["pull", "push"]); None if odd."""
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if not kind or not name:
        return None
    return kind, name, [action for action in actions.split(",") if action]


class TokenServer:
    """The Docker token protocol on a loopback port: `realm` is its /token URL.

    A user of `users` ({name: password}) with the right password gets every action asked for
    (pull, push, delete, ...); a wrong password or an unknown user is answered 401; anonymous
    requests get pull only when `anonymous_pull`, else a token that grants nothing (the
    registry then answers 401 insufficient_scope, as Docker Hub does for private repositories).
    `users` and `anonymous_pull` may be changed while it runs. `issued` lists
    (user or None, [scope, ...]) of each token handed out, `refused` the names refused."""

    def __init__(self, users=None, anonymous_pull=False, service=SERVICE, issuer=ISSUER):
        self.users = dict(users or {})
        self.anonymous_pull = anonymous_pull
        self.service = service
        self.issuer = issuer
        self.lifetime = 300
        self.issued = []
        self.refused = []
        self.key, self.certificate = _signing_key_and_certificate(issuer)
        self.certificate_pem = self.certificate.public_bytes(serialization.Encoding.PEM)
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        self.x5c = [base64.b64encode(der).decode()]
        self.server = _LoopbackServer(_TokenHandler, self)
        self.url = f"http://127.0.0.1:{self.server.port}"
        self.realm = f"{self.url}/token"

    def write_bundle(self, path):
        """The registry's rootcertbundle: the signing certificate."""
        Path(path).write_bytes(self.certificate_pem)
        return path

    def grant(self, user, password, scopes):
        """The access list for these credentials (user None: anonymous); None: refused."""
        if user is not None and self.users.get(user) != password:
            self.refused.append(user)
            return None
        access = []
        for scope in scopes:
            parsed = _parse_scope(scope)
            if parsed is None:
                continue
            kind, name, actions = parsed
            if user is None:
                actions = ["pull"] if self.anonymous_pull and "pull" in actions else []
            access.append({"type": kind, "name": name, "actions": actions})
        self.issued.append((user, list(scopes)))
        return access

    def token(self, subject, access):
        """An RS256 JWT as distribution verifies it: x5c chain, iss, aud = service, access."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject or "",
            "aud": self.service,
            "exp": now + self.lifetime,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"x5c": self.x5c})

    def answer(self, user, password, scopes):
        """(status, JSON body) of a token request."""
        access = self.grant(user, password, scopes)
        if access is None:
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "wrong credentials"}]}
        token = self.token(user, access)
        issued_at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 200, {
            "token": token,
            "access_token": token,
            "expires_in": self.lifetime,
            "issued_at": issued_at,
        }

    def close(self):
        self.server.close()


class _TokenHandler(_Handler):
    def do_GET(self):
        url = urlsplit(self.path)
        if url.path != "/token":
            return self.reply(404, '{"errors":[{"code":"NOT_FOUND"}]}')
        user = password = None
        authorization = self.headers.get("Authorization", "")
        if authorization.lower().startswith("basic "):
            decoded = base64.b64decode(authorization[6:].strip()).decode(errors="replace")
            user, _, password = decoded.partition(":")
        scopes = parse_qs(url.query).get("scope", [])
        self.answer(user, password, scopes)

    def do_POST(self):
        """The OAuth2 password grant (containerd tries it before GET when it has a secret)."""
        if urlsplit(self.path).path != "/token":
            return self.reply(404, '{"errors":[{"code":"NOT_FOUND"}]}')
        form = parse_qs(b"".join(self.body_chunks()).decode())
        if form.get("grant_type") != ["password"]:
            return self.reply(400, '{"error":"unsupported_grant_type"}')
        scopes = " ".join(form.get("scope", [])).split()
        user = form.get("username", [""])[0]
        self.answer(user, form.get("password", [""])[0], scopes)

    def answer(self, user, password, scopes):
        status, body = self.server.owner.answer(user, password, scopes)
        headers = {"WWW-Authenticate": 'Basic realm="upstream"'} if status == 401 else {}
        self.reply(status, json.dumps(body), headers)


# --------------------------------------------------------------------------------------------
# The reference registry
# --------------------------------------------------------------------------------------------


class ReferenceRegistry(ChildServer):
    """CNCF distribution on a free loopback port; `url` is http://127.0.0.1:PORT.

    Storage, configuration and log live in `folder` (a temporary folder, removed by
    `close()`, when none is given). `stop()` ends the process and `start()` runs it again on
    the same port and data. With `token_auth`, a `TokenServer` (`token_server`) of `users`
    ({name: password}) runs beside it, on until `close()`. A context manager: started on
    entry, closed on exit."""

    stop_wait = 15

    def __init__(
        self, folder=None, token_auth=False, users=None, anonymous_pull=False, binary=None
    ):
        self.owns_folder = folder is None
        self.folder = Path(folder or tempfile.mkdtemp(prefix="upstream-registry-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.storage = self.folder / "storage"
        self.binary = binary or shutil.which("docker-registry") or REGISTRY_BINARY
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.token_auth = token_auth
        self.users = users
        self.anonymous_pull = anonymous_pull
        self.token_server = None
        self.log_path = self.folder / "registry.log"

    def config_text(self):
        text = CONFIG.format(root=self.storage, port=self.port)
        if self.token_server:
            bundle = self.token_server.write_bundle(self.folder / "token-signer.pem")
            text += TOKEN_AUTH.format(
                realm=self.token_server.realm,
                service=self.token_server.service,
                issuer=self.token_server.issuer,
                bundle=bundle,
            )
        return text

    def start(self, timeout=20):
        if not Path(self.binary).exists():
            raise RuntimeError(f"{self.binary} is missing: apt-get install docker-registry")
        if self.token_auth and self.token_server is None:
            self.token_server = TokenServer(self.users, self.anonymous_pull)
        self.storage.mkdir(exist_ok=True)
        config = self.folder / "config.yml"
        config.write_text(self.config_text())
        self.spawn([self.binary, "serve", str(config)], self.log_path, stdin=subprocess.DEVNULL)
        return self.wait_until_answering(
            "docker-registry",
            # 401 when token auth is on: it answers, so it is ready
            lambda: requests.get(f"{self.url}/v2/", timeout=1).status_code in (200, 401),
            timeout,
            errors=(requests.RequestException,),
        )

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def close(self):
        """Stop everything; remove the folder when it was made here."""
        self.stop()
        if self.token_server:
            self.token_server.close()
            self.token_server = None
        if self.owns_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def client(self, user=None, password=None):
        """An UpstreamClient of this registry (user None: anonymous)."""
        if user is not None and password is None and self.users:
            password = self.users[user]
        return UpstreamClient(self.url, user, password)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------------------------
# The faulty front
# --------------------------------------------------------------------------------------------

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


class FaultyFront:
    """A reverse proxy on a free loopback port (`url`) in front of `upstream_url` (plain
    HTTP). It forwards every method with its headers and body, both ways in chunks as they
    come, with the upstream's Host; a `Location` or `WWW-Authenticate` naming the upstream
    names the front instead. An unreachable upstream is answered 502.

    `mode` decides each request as it comes: "pass" forwards; "429" answers 429 with
    Retry-After: 60 and an OCI error body; "503" answers 503; "down" drops the connection
    without an answer; "slow" waits `delay` seconds, then forwards. `fault_path`, when set,
    limits the faults to paths containing it (the others pass). `requests` lists
    (method, path) of every request seen, faulted ones included."""

    MODES = ("pass", "429", "503", "down", "slow")

    def __init__(self, upstream_url, mode="pass", delay=2.0, timeout=60):
        self.upstream_url = upstream_url.rstrip("/")
        upstream = urlsplit(self.upstream_url)
        if upstream.scheme != "http":
            raise ValueError("FaultyFront forwards plain HTTP only")
        self.upstream_host = upstream.netloc
        self.upstream_address = (upstream.hostname, upstream.port or 80)
        self.mode = mode
        self.delay = delay
        self.timeout = timeout
        self.fault_path = None
        self.requests = []
        self.lock = threading.Lock()
        self.server = _LoopbackServer(_FrontHandler, self)
        self.port = self.server.port
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"

    @property
    def mode(self):
        return self._mode

    @mode.setter
    def mode(self, value):
        if value not in self.MODES:
            raise ValueError(f"mode {value!r}: one of {self.MODES}")
        self._mode = value

    def record(self, method, path):
        with self.lock:
            self.requests.append((method, path))

    def count(self, method=None, path_substring=""):
        """How many requests of `method` (None: any) had a path containing the substring."""
        with self.lock:
            seen = list(self.requests)
        return sum(
            1
            for seen_method, path in seen
            if (method is None or seen_method == method) and path_substring in path
        )

    def counts(self):
        """Counter of (method, path) seen."""
        with self.lock:
            return Counter(self.requests)

    def reset(self):
        with self.lock:
            self.requests.clear()

    def mode_for(self, path):
        if self.fault_path is not None and self.fault_path not in path:
            return "pass"
        return self.mode

    def rewrite(self, value):
        return value.replace(self.upstream_url, self.url)

    def close(self):
        self.server.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _FrontHandler(_Handler):
    def proxy(self):
        front = self.server.owner
        front.record(self.command, self.path)
        mode = front.mode_for(self.path)
        if mode == "down":
            # no answer: reset the connection (SO_LINGER 0) without reading on
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if mode in ("429", "503"):
            for _ in self.body_chunks():  # read, so that the client hears the answer
                pass
            if mode == "429":
                return self.reply(429, RATE_LIMITED, {"Retry-After": "60"})
            return self.reply(503, UNAVAILABLE)
        if mode == "slow":
            time.sleep(front.delay)
        self.forward(front)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = proxy

    def forward(self, front):
        upstream = http.client.HTTPConnection(*front.upstream_address, timeout=front.timeout)
        try:
            response = self.send_upstream(upstream, front)
        except OSError as error:
            upstream.close()
            self.close_connection = True
            message = json.dumps({"errors": [{"code": "UNAVAILABLE", "message": str(error)}]})
            return self.reply(502, message)
        try:
            self.relay(response, front)
        finally:
            upstream.close()

    def send_upstream(self, upstream, front):
        chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
        upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in HOP_BY_HOP and name.lower() != "host":
                upstream.putheader(name, value)
        upstream.putheader("Host", front.upstream_host)
        if chunked:
            upstream.putheader("Transfer-Encoding", "chunked")
        upstream.endheaders()
        for chunk in self.body_chunks():
            upstream.send(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
        if chunked:
            upstream.send(b"0\r\n\r\n")
        return upstream.getresponse()

    def relay(self, response, front):
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            lower = name.lower()
            if lower in HOP_BY_HOP:
                continue
            if lower in ("location", "www-authenticate"):
                value = front.rewrite(value)
            self.send_header(name, value)
        bodiless = self.command == "HEAD" or response.status in (204, 304)
        length = response.getheader("Content-Length")
        chunked = not bodiless and length is None and self.request_version == "HTTP/1.1"
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif not bodiless and length is None:
            self.send_header("Connection", "close")  # the end of the body: the close
        self.end_headers()
        if bodiless:
            return
        while chunk := response.read1(CHUNK):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")


# --------------------------------------------------------------------------------------------
# Pushing test content
# --------------------------------------------------------------------------------------------


class UpstreamClient(RegistryClient):
    """client.py's RegistryClient (Bearer challenges answered with its Basic credentials),
    uploading blobs the way distribution takes them: POST, then PUT ?digest= with the whole
    blob (distribution 2.8 ignores a body on the POST)."""

    def push_blob(self, repo, data: bytes):
        digest = sha256(data)
        started = self.request("POST", f"/v2/{repo}/blobs/uploads/")
        assert started.status_code == 202, f"{started.status_code} {started.text}"
        location = urljoin(self.url + "/", started.headers["Location"])
        done = self.request(
            "PUT",
            location,
            params={"digest": digest},
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201, f"{done.status_code} {done.text}"
        return digest

    def put_manifest(self, repo, reference, manifest: bytes, media_type):
        """push_manifest, asserted 201; the digest the registry says."""
        response = self.push_manifest(repo, reference, manifest, media_type)
        assert response.status_code == 201, f"{response.status_code} {response.text}"
        return response.headers["Docker-Content-Digest"]

    def push_index(self, repo, tag, images):
        """An OCI index of [(Image, arch), ...], its images pushed by digest first."""
        for image, _ in images:
            for blob in image.blobs:
                self.push_blob(repo, blob)
            self.put_manifest(repo, image.digest, image.manifest, image.media_type)
        return self.put_manifest(repo, tag, index_of(images), OCI_INDEX)

    def push_referrer(self, repo, subject_digest, artifact_type, payload, tag_fallback=True):
        """An OCI 1.1 artifact manifest whose `subject` is the manifest `subject_digest`;
        with `tag_fallback`, also the referrers tag schema (index at tag sha256-HEX), as
        cosign and notation keep it on registries without the referrers API (2.8)."""
        subject = self.get_manifest(repo, subject_digest)
        assert subject.status_code == 200, f"{subject.status_code} {subject.text}"
        manifest, blobs = artifact(
            subject_digest, len(subject.content), artifact_type, payload, PAYLOAD_TYPE
        )
        document = json.loads(manifest)  # artifact() takes the subject for an image manifest
        document["subject"]["mediaType"] = subject.headers["Content-Type"].split(";")[0]
        document["annotations"] = {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"}
        manifest = json.dumps(document).encode()
        for blob in blobs:
            self.push_blob(repo, blob)
        digest = self.put_manifest(repo, sha256(manifest), manifest, OCI_MANIFEST)
        if tag_fallback:
            self.add_to_referrers_tag(repo, subject_digest, manifest, artifact_type)
        return digest

    def add_to_referrers_tag(self, repo, subject_digest, manifest, artifact_type):
        tag = subject_digest.replace(":", "-")
        existing = self.get_manifest(repo, tag, accept=OCI_INDEX)
        if existing.status_code == 200:
            index = existing.json()
        else:
            index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        descriptor = blob_descriptor(OCI_MANIFEST, manifest, artifactType=artifact_type)
        if descriptor not in index["manifests"]:
            index["manifests"].append(descriptor)
        self.put_manifest(repo, tag, json.dumps(index).encode(), OCI_INDEX)


def _client(registry_url, auth):
    return UpstreamClient(registry_url, *(auth or (None, None)))


def layered_image(layers, arch="amd64", docker=True) -> Image:
    """An image of one gzip'd tar layer per bytes of `layers` (a file layerN.bin each);
    Docker v2 media types by default, as the docker CLI pulls them."""
    files = [{f"layer{index}.bin": data} for index, data in enumerate(layers)]
    return Image(files, docker=docker, arch=arch)


def push_image(registry_url, name, tag, layers=None, auth=None) -> str:
    """Push a Docker v2 image (`layers`: [bytes, ...], by default one made of name:tag) to
    name:tag; auth (user, password) answers a Bearer challenge. The manifest digest."""
    image = layered_image(layers or [f"{name}:{tag}\n".encode()])
    return _client(registry_url, auth).push_image(name, tag, image)


def push_index(registry_url, name, tag, auth=None, marker=None) -> str:
    """Push an OCI index of two small OCI images (linux/amd64, linux/arm64) to name:tag;
    the index digest."""
    marker = marker or f"{name}-{tag}"
    images = [(simple_image(f"{marker}-{arch}", arch=arch), arch) for arch in ("amd64", "arm64")]
    return _client(registry_url, auth).push_index(name, tag, images)


def push_referrer(
    registry_url,
    name,
    subject_digest,
    auth=None,
    artifact_type=SIGNATURE_ARTIFACT,
    payload=b"signature",
    tag_fallback=True,
) -> str:
    """Push an OCI artifact manifest whose `subject` is the manifest `subject_digest` in
    `name` (and the sha256-HEX referrers tag with `tag_fallback`); the artifact's digest."""
    return _client(registry_url, auth).push_referrer(
        name, subject_digest, artifact_type, payload, tag_fallback
    )
