"""A client of an upstream registry (Docker Hub or any OCI registry) for the pull-through
cache: manifests and blobs by repository, with the upstream's authentication (a Docker
token from its realm, or HTTP Basic) done as its challenge asks. Every failure is an
`UpstreamFailed` that says what the upstream answered."""

import threading
import time
import urllib.parse
from dataclasses import dataclass

import requests

from ..errors import DomainError

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
CONNECT_SECONDS = 5
READ_SECONDS = 30
DOCKER_HUB_HOSTS = ("registry-1.docker.io", "docker.io")


class UpstreamFailed(DomainError):
    """The upstream did not give what was asked: `status` its HTTP answer (None when it
    could not be reached), `retry_after` what a 429 said to wait."""

    def __init__(self, url, status=None, reason="", retry_after=None):
        answer = f"answered {status}" if status is not None else f"could not be reached: {reason}"
        super().__init__(f"upstream {url} {answer}", {"upstream": url, "status": status})
        self.status, self.retry_after = status, retry_after
        self.summary = f"HTTP {status}" if status is not None else "unreachable"


@dataclass(frozen=True)
class Answer:
    """A manifest the upstream gave (or, for a HEAD, only its digest)."""

    digest: str | None
    media_type: str | None
    payload: bytes | None


class UpstreamRegistry:
    """One upstream; thread-safe (a `requests.Session` per thread, tokens shared)."""

    def __init__(self, url, username=None, password=None, verify_tls=True):
        self.url = url.rstrip("/")
        self._basic = (username, password) if username else None
        self._verify = verify_tls
        self._tokens = {}  # repository -> (token, expiry)
        self._lock = threading.Lock()
        self._local = threading.local()

    def upstream_name(self, name):
        """Docker Hub keeps official images under `library/`."""
        if "/" not in name and urllib.parse.urlsplit(self.url).hostname in DOCKER_HUB_HOSTS:
            return f"library/{name}"
        return name

    def manifest(self, name, reference, head=False) -> Answer:
        response = self._request(
            "HEAD" if head else "GET",
            name,
            f"manifests/{reference}",
            headers={"Accept": MANIFEST_TYPES},
        )
        with response:
            payload = None if head else _bounded(response, self.url)
            media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            return Answer(response.headers.get("Docker-Content-Digest"), media_type, payload)

    def blob(self, name, digest) -> requests.Response:
        """The blob's streaming response (the caller closes it); redirects followed."""
        return self._request("GET", name, f"blobs/{digest}", stream=True)

    def blob_size(self, name, digest) -> int | None:
        with self._request("HEAD", name, f"blobs/{digest}") as response:
            length = response.headers.get("Content-Length", "")
            return int(length) if length.isdigit() else None

    def check(self):
        """Reach /v2/ (any answer but a 5xx or none: a 401 is a registry asking for a
        token). Raises UpstreamFailed."""
        try:
            response = self._session().get(f"{self.url}/v2/", timeout=CONNECT_SECONDS)
        except requests.RequestException as error:
            raise UpstreamFailed(self.url, reason=_reason(error)) from None
        response.close()
        if response.status_code >= 500 or response.status_code == 429:
            raise UpstreamFailed(self.url, response.status_code)

    def _session(self):
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.verify = self._verify
        return session

    def _request(self, method, name, path, headers=None, stream=False):
        url = f"{self.url}/v2/{self.upstream_name(name)}/{path}"
        headers = dict(headers or {})
        for attempt in range(2):
            auth = self._authorization(name)
            if auth:
                headers["Authorization"] = auth
            try:
                response = self._session().request(
                    method,
                    url,
                    headers=headers,
                    stream=stream or method == "GET",
                    timeout=(CONNECT_SECONDS, READ_SECONDS),
                )
            except requests.RequestException as error:
                raise UpstreamFailed(self.url, reason=_reason(error)) from None
            if response.status_code == 401 and attempt == 0:
                challenge = response.headers.get("WWW-Authenticate", "")
                response.close()
                self._authenticate(name, challenge)
                continue
            if response.status_code >= 300:
                response.close()
                retry = response.headers.get("Retry-After", "")
                wait = int(retry) if retry.isdigit() else None
                raise UpstreamFailed(self.url, response.status_code, retry_after=wait)
            return response
        raise UpstreamFailed(self.url, 401)

    def _authorization(self, name):
        with self._lock:
            token, expiry = self._tokens.get(name, (None, 0))
        if token is not None and time.monotonic() < expiry:
            return token
        return None

    def _authenticate(self, name, challenge):
        """Answer a 401's challenge: a token from the realm for pulling `name`, or Basic."""
        scheme, _, parameters = challenge.partition(" ")
        if scheme.lower() == "basic" and self._basic:
            value = requests.auth._basic_auth_str(*self._basic)
            self._remember(name, value, 3600)
            return
        if scheme.lower() != "bearer":
            raise UpstreamFailed(self.url, 401)
        fields = _challenge_fields(parameters)
        realm = fields.get("realm")
        if not realm:
            raise UpstreamFailed(self.url, 401)
        query = {"scope": f"repository:{self.upstream_name(name)}:pull"}
        if fields.get("service"):
            query["service"] = fields["service"]
        try:
            answer = self._session().get(
                realm, params=query, auth=self._basic, timeout=(CONNECT_SECONDS, READ_SECONDS)
            )
        except requests.RequestException as error:
            raise UpstreamFailed(realm, reason=_reason(error)) from None
        if answer.status_code != 200:
            raise UpstreamFailed(realm, answer.status_code)
        try:
            body = answer.json()
            token = body.get("token") or body.get("access_token")
            lifetime = int(body.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError):
            token = None
        if not isinstance(token, str):
            raise UpstreamFailed(realm, reason="its token service gave no token")
        self._remember(name, f"Bearer {token}", lifetime)

    def _remember(self, name, value, lifetime):
        with self._lock:
            self._tokens[name] = (value, time.monotonic() + max(lifetime - 10, 5))


def _challenge_fields(parameters):
    """realm="...",service="...",scope="..." -> dict."""
    fields = {}
    for part in parameters.split('",'):
        key, _, value = part.partition("=")
        fields[key.strip().lower()] = value.strip().strip('"')
    return fields


MAX_MANIFEST_BYTES = 4 * 1024 * 1024


def _bounded(response, url):
    """A manifest body; an upstream sending more than any manifest needs is refused."""
    payload = response.raw.read(MAX_MANIFEST_BYTES + 1, decode_content=True)
    if len(payload) > MAX_MANIFEST_BYTES:
        raise UpstreamFailed(url, reason="it sent a manifest larger than 4 MiB")
    return payload


def _reason(error):
    text = str(error)
    return text if len(text) < 300 else text[:300] + "..."
