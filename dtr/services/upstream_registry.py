"""A client of another registry (Docker Hub or any OCI registry): what the pull-through
cache reads from its upstream, and what replication reads from and writes to a remote
(manifests, blobs, tags, referrers, uploads and mounts), with the other side's
authentication (a Docker token from its realm, or HTTP Basic) done as its challenge asks.
Every failure is an `UpstreamFailed` that says what the other side answered."""

import hashlib
import threading
import time
import urllib.parse
from dataclasses import dataclass

import requests

from ..errors import DigestInvalid, DomainError

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


def verified_digest(url, answer: Answer, reference) -> str:
    """The digest of a manifest the other registry at `url` gave for `reference` (a tag or
    digest); DigestInvalid when it is not the digest asked for, or the one it said."""
    digest = "sha256:" + hashlib.sha256(answer.payload).hexdigest()
    expected = reference if reference.startswith("sha256:") else answer.digest
    if expected and expected.startswith("sha256:") and expected != digest:
        raise DigestInvalid(
            f"{url} sent a manifest whose digest is not {expected}",
            {"expected": expected, "actual": digest},
        )
    return digest


class UpstreamRegistry:
    """One upstream; thread-safe (a `requests.Session` per thread, tokens shared)."""

    def __init__(self, url, username=None, password=None, verify_tls=True):
        self.url = url.rstrip("/")
        self._basic = (username, password) if username else None
        self._verify = verify_tls
        self._tokens = {}  # (repository, scopes) -> (token, expiry)
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

    def has_manifest(self, name, digest) -> bool:
        return self._exists(name, f"manifests/{digest}", {"Accept": MANIFEST_TYPES})

    def has_blob(self, name, digest) -> bool:
        return self._exists(name, f"blobs/{digest}")

    def tags(self, name, page=1000) -> list[str]:
        """Every tag of the repository, following the `Link` of each page."""
        found, last = [], None
        while True:
            query = {"n": page, **({"last": last} if last else {})}
            with self._request("GET", name, "tags/list", params=query) as response:
                try:
                    listed = response.json().get("tags") or []
                except (ValueError, AttributeError):
                    raise UpstreamFailed(self.url, reason="its tag list is not JSON") from None
                more = "next" in response.links
            found += [tag for tag in listed if isinstance(tag, str)]
            if not more or not listed or len(found) > 100_000:
                return found
            last = listed[-1]

    def referrers(self, name, digest) -> list[dict]:
        """The referrers API's descriptors; [] from a registry without it."""
        try:
            response = self._request("GET", name, f"referrers/{digest}")
        except UpstreamFailed as failure:
            if failure.status in (404, 405):
                return []
            raise
        with response:
            try:
                manifests = response.json().get("manifests") or []
            except (ValueError, AttributeError):
                return []
        return [entry for entry in manifests if isinstance(entry, dict)]

    def put_manifest(self, name, reference, payload, media_type):
        headers = {"Content-Type": media_type}
        path = f"manifests/{reference}"
        self._request("PUT", name, path, headers=headers, data=payload, push=True).close()

    def mount_blob(self, name, digest, source) -> str | None:
        """Mount a blob the remote has in `source` into `name`: None when mounted, else
        the upload the remote started instead (its location)."""
        query = {"mount": digest, "from": source}
        extra = (f"repository:{self.upstream_name(source)}:pull",)
        with self._request(
            "POST", name, "blobs/uploads/", params=query, push=True, extra_scopes=extra
        ) as response:
            return None if response.status_code == 201 else self._location(response)

    def upload_blob(self, name, digest, size, reader, location=None):
        """Upload a blob in one streamed PUT (`reader`: a file-like object of `size` bytes)."""
        if location is None:
            with self._request("POST", name, "blobs/uploads/", push=True) as response:
                location = self._location(response)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        self._request(
            "PUT",
            name,
            location,
            headers=headers,
            data=_Sized(reader, size),
            params={"digest": digest},
            push=True,
        ).close()

    def _location(self, response):
        location = response.headers.get("Location")
        if not location:
            raise UpstreamFailed(self.url, reason="it started an upload without a Location")
        return urllib.parse.urljoin(f"{self.url}/", location)

    def _exists(self, name, path, headers=None) -> bool:
        try:
            self._request("HEAD", name, path, headers=headers).close()
        except UpstreamFailed as failure:
            if failure.status == 404:
                return False
            raise
        return True

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

    def _request(
        self,
        method,
        name,
        path,
        headers=None,
        stream=False,
        params=None,
        data=None,
        push=False,
        extra_scopes=(),
    ):
        """`path` below the repository, or an absolute URL (an upload's location). With
        `push`, the token asked for covers pushing to `name` (and `extra_scopes`)."""
        if path.startswith(("http://", "https://")):
            url = path
        else:
            url = f"{self.url}/v2/{self.upstream_name(name)}/{path}"
        headers = dict(headers or {})
        actions = "pull,push" if push else "pull"
        scopes = (f"repository:{self.upstream_name(name)}:{actions}", *extra_scopes)
        for attempt in range(2):
            auth = self._authorization(scopes)
            if auth:
                headers["Authorization"] = auth
            try:
                response = self._session().request(
                    method,
                    url,
                    headers=headers,
                    params=params,
                    data=data,
                    stream=stream or method == "GET",
                    allow_redirects=method in ("GET", "HEAD"),
                    timeout=(CONNECT_SECONDS, READ_SECONDS),
                )
            except requests.RequestException as error:
                raise UpstreamFailed(self.url, reason=_reason(error)) from None
            if response.status_code == 401 and attempt == 0:
                challenge = response.headers.get("WWW-Authenticate", "")
                response.close()
                self._authenticate(scopes, challenge)
                continue
            if response.status_code >= 300:
                response.close()
                retry = response.headers.get("Retry-After", "")
                wait = int(retry) if retry.isdigit() else None
                raise UpstreamFailed(self.url, response.status_code, retry_after=wait)
            return response
        raise UpstreamFailed(self.url, 401)

    def _authorization(self, scopes):
        with self._lock:
            token, expiry = self._tokens.get(scopes, (None, 0))
        if token is not None and time.monotonic() < expiry:
            return token
        return None

    def _authenticate(self, scopes, challenge):
        """Answer a 401's challenge: a token from the realm for these scopes, or Basic."""
        scheme, _, parameters = challenge.partition(" ")
        if scheme.lower() == "basic" and self._basic:
            value = requests.auth._basic_auth_str(*self._basic)
            self._remember(scopes, value, 3600)
            return
        if scheme.lower() != "bearer":
            raise UpstreamFailed(self.url, 401)
        fields = _challenge_fields(parameters)
        realm = fields.get("realm")
        if not realm:
            raise UpstreamFailed(self.url, 401)
        query = {"scope": list(scopes)}
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
        self._remember(scopes, f"Bearer {token}", lifetime)

    def _remember(self, scopes, value, lifetime):
        with self._lock:
            self._tokens[scopes] = (value, time.monotonic() + max(lifetime - 10, 5))


class _Sized:
    """A stream with a known length, which requests sends as a body of that length."""

    def __init__(self, reader, size):
        self._reader, self.len = reader, size

    def read(self, amount=-1):
        return self._reader.read(amount)


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
