"""Proxy namespaces: organizations that mirror an upstream registry (the pull-through cache
of `pull_through.py`). Created, changed and removed by admins; looked up on every registry
request through a snapshot a few seconds old at most; the upstream's health recorded as
requests find it."""

import threading
import time
import urllib.parse
from dataclasses import dataclass

from flask import has_app_context
from sqlalchemy import select, update

from .. import names
from ..database import db, write_transaction
from ..errors import InvalidInput, NameUnknown
from ..models import Account, ProxyCache, utcnow
from ..names import split_repository_name
from . import audit, lookup_caches
from .accounts import find_account, new_organization
from .callers import require_admin
from .field_checks import (
    checked_flag,
    checked_optional_string,
    checked_registry_url,
    checked_whole_number,
    refuse_unknown_fields,
)
from .upstream_registry import DOCKER_HUB_HOSTS, UpstreamFailed, UpstreamRegistry

DOCKER_HUB_URL = "https://registry-1.docker.io"
SNAPSHOT_SECONDS = 2.0
VISIBILITIES = ("public", "private")
FIELDS = (
    "upstreamUrl",
    "username",
    "password",
    "verifyTls",
    "visibility",
    "hosts",
    "defaultMirror",
    "tagCheckSeconds",
    "evictAfterDays",
)


@dataclass(frozen=True)
class Proxy:
    """What a registry request needs of a proxy namespace; safe to share between threads."""

    id: int
    namespace: str
    namespace_id: int
    upstream_url: str
    visibility: str
    hosts: tuple
    default_mirror: bool
    tag_check_seconds: int
    evict_after_days: int
    upstream: UpstreamRegistry


_lock = threading.Lock()
_snapshot = {"at": -1e9, "by_name": {}}
_clients = {}  # (id, url, username, password, verify) -> UpstreamRegistry, keeps its tokens


def proxies() -> dict:
    """Namespace name -> Proxy, at most SNAPSHOT_SECONDS old."""
    now = time.monotonic()
    with _lock:
        if now - _snapshot["at"] < SNAPSHOT_SECONDS:
            return _snapshot["by_name"]
    rows = db.session.execute(
        select(ProxyCache, Account.name).join(Account, Account.id == ProxyCache.namespace_id)
    ).all()
    by_name = {name: _proxy(row, name) for row, name in rows}
    with _lock:
        _snapshot.update(at=now, by_name=by_name)
    return by_name


def _proxy(row, name) -> Proxy:
    key = (row.id, row.upstream_url, row.username, row.password, row.verify_tls)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = UpstreamRegistry(
                row.upstream_url, row.username, row.password, row.verify_tls
            )
    hosts = tuple(h for h in row.hosts.split(",") if h)
    return Proxy(
        row.id,
        name,
        row.namespace_id,
        row.upstream_url,
        row.visibility,
        hosts,
        row.default_mirror,
        row.tag_check_seconds,
        row.evict_after_days,
        client,
    )


def _is_proxy_namespace(namespace) -> bool:
    """Outside an application (a pure name check) no namespace is a proxy."""
    return has_app_context() and namespace in proxies()


names.has_nested_names = _is_proxy_namespace


def forget_snapshot():
    with _lock:
        _snapshot["at"] = -1e9


def proxy_of(full_name) -> Proxy | None:
    """The proxy namespace a repository name is in, if any."""
    namespace, _ = split_repository_name(full_name)
    return proxies().get(namespace)


def proxy_visibility(namespace_id) -> str:
    for proxy in proxies().values():
        if proxy.namespace_id == namespace_id:
            return proxy.visibility
    return "private"


def mirror_route(name, ns=None) -> str:
    """The repository a request names: `name` itself, or, when `name` is outside every
    namespace here and a proxy answers for it (docker's `registry-mirrors`: the default
    mirror; containerd's `?ns=<host>`: the proxy bound to that host), that proxy's copy."""
    known = proxies()
    if not known:
        return name
    namespace = name.split("/", 1)[0]
    if namespace in known:
        return name
    chosen = None
    for proxy in known.values():
        if ns and ns in proxy.hosts:
            chosen = proxy
            break
        if proxy.default_mirror and chosen is None and not ns:
            chosen = proxy
    if chosen is None:
        return name
    if "/" in name and find_account(namespace) is not None:
        return name  # a local namespace of that name keeps its names
    return f"{chosen.namespace}/{chosen.upstream.upstream_name(name)}"


# Health: what the last requests to the upstream found.


def record_success(proxy: Proxy):
    _record(proxy, last_success_at=utcnow())


def record_failure(proxy: Proxy, failure: UpstreamFailed):
    _record(proxy, last_failure_at=utcnow(), last_failure=failure.message[:1000])


def health_state(row) -> str:
    """healthy: the last request to the upstream worked; unhealthy: it failed; unknown:
    none was made yet."""
    success, failure = row.last_success_at, row.last_failure_at
    if success is None and failure is None:
        return "unknown"
    return "healthy" if failure is None or (success and success > failure) else "unhealthy"


_RECORD_EVERY = 10.0
_recorded = {}  # proxy id -> (outcome, monotonic time) of the last write


def _record(proxy, **values):
    """A change of outcome is written at once; the same outcome again at most every few
    seconds: a busy mirror does not queue for the writer lock on every pull."""
    outcome = "success" if "last_success_at" in values else "failure"
    now = time.monotonic()
    with _lock:
        last, at = _recorded.get(proxy.id, (None, -1e9))
        if last == outcome and now - at < _RECORD_EVERY:
            return
        _recorded[proxy.id] = (outcome, now)
    with write_transaction():
        db.session.execute(update(ProxyCache).where(ProxyCache.id == proxy.id).values(**values))


# Administration (admins only).


def list_proxies(actor) -> list[tuple[ProxyCache, str]]:
    require_admin(actor, "see proxy namespaces")
    return db.session.execute(
        select(ProxyCache, Account.name)
        .join(Account, Account.id == ProxyCache.namespace_id)
        .order_by(Account.name)
    ).all()


def get_proxy(actor, name) -> tuple[ProxyCache, str]:
    require_admin(actor, "see proxy namespaces")
    row = db.session.execute(
        select(ProxyCache, Account.name)
        .join(Account, Account.id == ProxyCache.namespace_id)
        .where(Account.name == name)
    ).first()
    if row is None:
        raise NameUnknown(f"there is no proxy namespace named {name!r}", {"name": name})
    return row


def create_proxy(actor, name, body: dict) -> tuple[ProxyCache, str]:
    """A new organization `name` mirroring `body["upstreamUrl"]` (Docker Hub by default)."""
    require_admin(actor, "create proxy namespaces")
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    refuse_unknown_fields(body, FIELDS, "not a field of a proxy namespace")
    values = _checked({"upstreamUrl": DOCKER_HUB_URL, **body})
    organization = new_organization(name, actor, audited="proxy.create")
    organization.is_proxy = True
    row = ProxyCache(namespace_id=organization.id, created_by=actor.name, **values)
    row.hosts = row.hosts or _host_of(row.upstream_url)
    db.session.add(row)
    _one_default_mirror(row)
    db.session.commit()
    _changed(name)
    return row, name


def update_proxy(actor, name, body: dict) -> tuple[ProxyCache, str]:
    row, name = get_proxy(actor, name)
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    refuse_unknown_fields(body, FIELDS, "not a field of a proxy namespace")
    for key, value in _checked(body).items():
        setattr(row, key, value)
    _one_default_mirror(row)
    audit.record(actor.name, "proxy.update", name, {"fields": sorted(body)})
    db.session.commit()
    _changed(name)
    return row, name


def delete_proxy(actor, name):
    """The proxy namespace stops mirroring; the organization and what it cached stay (an
    admin deletes them like any organization's)."""
    row, name = get_proxy(actor, name)
    db.session.execute(update(Account).where(Account.id == row.namespace_id).values(is_proxy=False))
    db.session.delete(row)
    audit.record(actor.name, "proxy.delete", name)
    db.session.commit()
    _changed(name)


def check_upstream(actor, name) -> str | None:
    """Reach the upstream now: None when it answers, else what failed."""
    require_admin(actor, "check proxy namespaces")
    proxy = proxies().get(name) or _proxy(*get_proxy(actor, name))
    try:
        proxy.upstream.check()
    except UpstreamFailed as failure:
        record_failure(proxy, failure)
        return failure.message
    record_success(proxy)
    return None


def _one_default_mirror(row):
    if row.default_mirror:
        db.session.flush()
        db.session.execute(
            update(ProxyCache).where(ProxyCache.id != row.id).values(default_mirror=False)
        )


def _changed(name):
    forget_snapshot()
    lookup_caches.forget_all()  # repositories' `proxied` and prospects' visibility


def _host_of(url):
    host = urllib.parse.urlsplit(url).hostname or ""
    return "docker.io" if host in DOCKER_HUB_HOSTS else host


def _checked(body) -> dict:
    """Column values from the client's fields, each checked."""
    values = {}
    if "upstreamUrl" in body:
        values["upstream_url"] = checked_registry_url(body["upstreamUrl"], "upstreamUrl")
    for field, column, limit in (("username", "username", 255), ("password", "password", 1024)):
        if field in body:
            values[column] = checked_optional_string(body[field], field, limit)
    for field, column in (("verifyTls", "verify_tls"), ("defaultMirror", "default_mirror")):
        if field in body:
            values[column] = checked_flag(body[field], field)
    if "visibility" in body:
        if body["visibility"] not in VISIBILITIES:
            raise InvalidInput("visibility: public or private", {"field": "visibility"})
        values["visibility"] = body["visibility"]
    if "hosts" in body:
        hosts = body["hosts"]
        if not isinstance(hosts, list) or len(hosts) > 20 or not all(_is_host(h) for h in hosts):
            raise InvalidInput(
                "hosts: a list of at most 20 host names (what containerd's ns= names)",
                {"field": "hosts"},
            )
        values["hosts"] = ",".join(dict.fromkeys(h.lower() for h in hosts))
    if "tagCheckSeconds" in body:
        values["tag_check_seconds"] = checked_whole_number(
            body["tagCheckSeconds"], "tagCheckSeconds", 0, 7 * 86400
        )
    if "evictAfterDays" in body:
        values["evict_after_days"] = checked_whole_number(
            body["evictAfterDays"], "evictAfterDays", 0, 3650
        )
    return values


def _is_host(value):
    if not isinstance(value, str) or not 0 < len(value) <= 253:
        return False
    host, _, port = value.partition(":")
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789.-")
    return bool(host) and set(host.lower()) <= allowed and (not port or port.isdecimal())
