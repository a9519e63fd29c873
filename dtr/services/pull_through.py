"""The pull-through cache: a repository of a proxy namespace (`proxy_caches.py`) is filled
by pulls, from its upstream.

- A manifest by digest is served from the cache once there, never asked again.
- A manifest by tag is asked again (a HEAD, which Docker Hub does not count) once the
  proxy's `tag_check_seconds` have passed since the upstream last confirmed it; within them
  no request goes upstream.
- When the upstream fails (down, slow, 429, 5xx), what is cached is served, marked stale
  (`STALE_HEADER`) and logged; only what was never cached fails, naming the upstream's
  answer: TOOMANYREQUESTS for a 429, else MANIFEST_UNKNOWN, whose message the docker CLI
  shows (it shows none of a 5xx).
- A blob streams to the client while it is written to storage, its digest verified before
  it is kept; concurrent pulls of one blob in this process fetch it once (the others wait
  for it, then read it from storage).
"""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update

from ..database import db, write_transaction
from ..errors import BlobUnknown, DomainError, ManifestUnknown, NameTaken
from ..models import Blob, Repository, Tag, utcnow
from ..names import check_digest, is_digest, split_repository_name
from . import blobs, deletion, manifests, proxy_caches
from .blob_downloads import VerifiedDownload
from .repositories import create_repository, lookup_repository
from .upstream_registry import UpstreamFailed, verified_digest

log = logging.getLogger("dtr.registry")
STALE_HEADER = "X-DTR-Proxy-Stale"  # the upstream's failure, on an answer from the cache
MIRROR_ACTOR = "proxy"  # who "pushed" what a pull brought
WAIT_SECONDS = 600  # the longest a pull waits for another's fetch of the same blob


@dataclass(frozen=True)
class Served:
    content: manifests.ManifestContent
    stale: str | None  # why the upstream was not asked, when it failed


# Manifests


def fetch_manifest(proxy, repository, full_name, reference, head=False) -> Served:
    """The manifest `reference` names, from the cache or the upstream (then cached).
    `repository`: a RepositoryRef, `id` None when nothing was pulled into it yet."""
    local = _cached(repository, reference)
    upstream_name = split_repository_name(full_name)[1]
    if is_digest(reference):
        check_digest(reference)
        if local is not None:
            return Served(local, None)
    elif local is not None and _fresh(proxy, repository, reference):
        return Served(local, None)
    try:
        if local is not None:  # a tag: did it move upstream?
            answer = proxy.upstream.manifest(upstream_name, reference, head=True)
            if answer.digest == local.digest:
                _confirmed(repository, reference)
                proxy_caches.record_success(proxy)
                return Served(local, None)
        answer = proxy.upstream.manifest(upstream_name, reference)
    except UpstreamFailed as failure:
        proxy_caches.record_failure(proxy, failure)
        if local is None:
            if failure.status == 429:  # TOOMANYREQUESTS with the upstream's Retry-After
                raise
            # MANIFEST_UNKNOWN (unknown here) rather than a 5xx: docker shows its message
            raise ManifestUnknown(
                f"manifest unknown: not cached, and {failure.message}",
                {"reference": reference, **failure.detail},
            ) from None
        log.warning("%s:%s served from the cache (stale): %s", full_name, reference, failure)
        return Served(local, failure.message)
    proxy_caches.record_success(proxy)
    content = _keep(proxy, repository, full_name, reference, answer)
    return Served(content, None)


def _cached(repository, reference):
    return None if repository.id is None else manifests.stored_manifest(repository, reference)


_checked = {}  # (repository id, tag) -> monotonic time the upstream last confirmed it
_checked_lock = threading.Lock()


def _fresh(proxy, repository, tag) -> bool:
    """Confirmed by the upstream within the proxy's interval (this process remembers; the
    database tells another process or after a restart)."""
    key = (repository.id, tag)
    with _checked_lock:
        at = _checked.get(key)
    if at is not None:
        return time.monotonic() - at < proxy.tag_check_seconds
    checked_at = db.session.scalar(
        select(Tag.upstream_checked_at).where(Tag.repository_id == repository.id, Tag.name == tag)
    )
    if checked_at is None:
        return False
    age = (utcnow() - checked_at).total_seconds()
    _remember_check(key, time.monotonic() - max(age, 0))
    return age < proxy.tag_check_seconds


def _remember_check(key, at):
    with _checked_lock:
        if len(_checked) > 100_000:
            _checked.clear()
        _checked[key] = at


def _confirmed(repository, tag):
    _remember_check((repository.id, tag), time.monotonic())
    with write_transaction():
        db.session.execute(
            update(Tag)
            .where(Tag.repository_id == repository.id, Tag.name == tag)
            .values(upstream_checked_at=utcnow())
        )


def _keep(proxy, repository, full_name, reference, answer):
    """Store what the upstream gave (its digest checked) under the tag."""
    digest = verified_digest(f"upstream {proxy.upstream_url}", answer, reference)
    repository = ensure_repository(proxy, repository, full_name)
    tag = None if is_digest(reference) else reference
    media_type = manifests.store_mirrored_manifest(
        repository, tag, digest, answer.payload, answer.media_type, MIRROR_ACTOR
    )
    if tag is not None:
        _remember_check((repository.id, tag), time.monotonic())
    return manifests.ManifestContent(digest, media_type, answer.payload)


def ensure_repository(proxy, repository, full_name):
    """The repository, created (with the proxy's visibility) by the first pull into it."""
    if repository.id is not None:
        return repository
    try:
        create_repository(None, full_name, public=proxy.visibility == "public")
    except NameTaken:  # another pull created it meanwhile
        pass
    return lookup_repository(full_name)


# Blobs


class _Fetch:
    """One fetch of a blob from the upstream in this process; others wait for its end."""

    def __init__(self):
        self.done = threading.Event()
        self.kept = False


_fetches = {}  # digest -> _Fetch
_fetches_lock = threading.Lock()


def cached_blob(proxy, repository, full_name, digest) -> bool:
    """The repository has the blob, or has it now (it was stored for another)."""
    if repository.id is None:  # nothing pulled into it yet: created only for a stored blob
        row = db.session.get(Blob, digest)
        if row is None or row.quarantine is not None:
            return False
        repository = ensure_repository(proxy, repository, full_name)
    return blobs.usable_blob(repository, digest)


def blob_to_fetch(proxy, repository, full_name, digest):
    """None when the repository has the blob (served as any blob); else a `BlobFetch`
    streaming it from the upstream while it is stored. A pull that finds another fetching
    the same blob waits for it and then has it from storage."""
    check_digest(digest)
    for _ in range(3):
        if cached_blob(proxy, repository, full_name, digest):
            return None
        with _fetches_lock:
            fetch = _fetches.get(digest)
            leader = fetch is None
            if leader:
                fetch = _fetches[digest] = _Fetch()
        if leader:
            return _lead(proxy, repository, full_name, digest, fetch)
        fetch.done.wait(WAIT_SECONDS)
        db.session.commit()  # end the read that began before the blob was stored
    raise BlobUnknown("blob unknown: its fetch from the upstream failed", {"digest": digest})


def _lead(proxy, repository, full_name, digest, fetch):
    try:
        response = proxy.upstream.blob(split_repository_name(full_name)[1], digest)
    except UpstreamFailed as failure:
        _finish(digest, fetch)
        proxy_caches.record_failure(proxy, failure)
        if failure.status == 404:
            raise BlobUnknown(
                f"blob unknown: not cached, and {failure.message}", {"digest": digest}
            ) from None
        raise
    try:
        repository = ensure_repository(proxy, repository, full_name)
    except BaseException:
        response.close()
        _finish(digest, fetch)
        raise
    return BlobFetch(proxy, repository, digest, response, fetch)


class BlobFetch:
    """A blob coming from the upstream: `size` (None when the upstream did not say),
    `chunks()` its bytes, `close()` when the client's answer ends (whatever happened)."""

    def __init__(self, proxy, repository, digest, response, fetch):
        self.proxy, self.repository, self.digest = proxy, repository, digest
        self._response, self._fetch = response, fetch
        length = response.headers.get("Content-Length", "")
        self.size = int(length) if length.isdigit() else None
        self._chunks = None

    def chunks(self, chunk=1024 * 1024):
        """Yield the upstream's bytes while writing them aside; keep them as the blob when
        they are whole and their digest is the one asked for."""
        self._chunks = self._stream(chunk)
        return self._chunks

    def _stream(self, chunk):
        download = VerifiedDownload(self.repository, self.digest, self.proxy.upstream_url)
        try:
            yield from download.chunks(self._response.iter_content(chunk))
            if download.kept:
                self._fetch.kept = True
                proxy_caches.record_success(self.proxy)
        finally:
            self._chunks = None  # this generator ends: close() must not close it again
            self.close()

    def close(self):
        if self._chunks is not None:
            chunks, self._chunks = self._chunks, None
            chunks.close()
        self._response.close()
        _finish(self.digest, self._fetch)


def _finish(digest, fetch):
    with _fetches_lock:
        if _fetches.get(digest) is fetch:
            del _fetches[digest]
    fetch.done.set()


def upstream_blob_size(proxy, full_name, digest) -> int:
    """A HEAD of a blob not cached: the upstream's size of it."""
    check_digest(digest)
    try:
        size = proxy.upstream.blob_size(split_repository_name(full_name)[1], digest)
    except UpstreamFailed as failure:
        if failure.status == 404:
            raise BlobUnknown("blob unknown to registry", {"digest": digest}) from None
        raise
    if size is None:
        raise BlobUnknown("blob unknown to registry", {"digest": digest})
    return size


# Eviction


EVICTION_ACTOR = "proxy-eviction"


def evict_unpulled(now=None) -> int:
    """Delete the tags of proxy namespaces not pulled for their proxy's `evict_after_days`
    (never pulled: since they were cached); garbage collection then frees what only they
    used, and the next pull fetches them again. Returns how many tags went."""
    now = now or utcnow()
    evicted = 0
    for proxy in proxy_caches.proxies().values():
        if proxy.evict_after_days <= 0:
            continue
        cutoff = now - timedelta(days=proxy.evict_after_days)
        last_use = func.coalesce(Tag.last_pulled_at, Tag.updated_at)
        rows = db.session.execute(
            select(Repository, Tag.name)
            .join(Tag, Tag.repository_id == Repository.id)
            .where(Repository.namespace_id == proxy.namespace_id, last_use < cutoff)
        ).all()
        db.session.commit()
        for repository, tag in rows:
            try:
                deletion.delete_reference(repository, repository.full_name, tag, EVICTION_ACTOR)
            except DomainError as refused:  # pulled meanwhile and gone, or immutable
                db.session.rollback()
                log.info("not evicted: %s:%s (%s)", repository.full_name, tag, refused.message)
                continue
            evicted += 1
        if rows:
            log.info("evicted %d tags of proxy namespace %s", len(rows), proxy.namespace)
    return evicted
