"""Replication rules (admins only): what is copied to (push) or from (pull) another
registry, and when. The copying is `replication_runs.py`'s.

- **push**: local repositories whose full names match one of `repositories` (glob patterns:
  `*` within one name component, `**` across them) are copied to the remote, under
  `remotePrefix/` when set; on each push (`onPush`) and/or on the cron `schedule`.
- **pull**: the local repository `localRepository` is kept in sync with
  `remoteRepository` of the remote on the `schedule`; it is read-only here (nobody pushes
  to it) until the rule is deleted.

Either copies only the tags matching one of `tags` (default `*`). The remote's `password`
is a secret: stored, never shown back.
"""

import re
from dataclasses import dataclass
from functools import lru_cache

from flask import current_app
from sqlalchemy import select, update

from ..database import db
from ..errors import InvalidInput, NameInvalid, NameTaken, NameUnknown
from ..models import ReplicationRule, Repository, utcnow
from ..names import REPOSITORY_NAME, check_account_name, split_repository_name
from . import audit, lookup_caches
from .accounts import find_account
from .callers import require_admin
from .field_checks import (
    checked_flag,
    checked_optional_string,
    checked_registry_url,
    refuse_unknown_fields,
)
from .gc_settings import parse_schedule
from .repositories import create_repository, find_repository
from .upstream_registry import UpstreamRegistry

PUSH, PULL = "push", "pull"
FIELDS = (
    "name",
    "direction",
    "url",
    "username",
    "password",
    "verifyTls",
    "repositories",
    "remotePrefix",
    "remoteRepository",
    "localRepository",
    "tags",
    "onPush",
    "schedule",
    "enabled",
)
ONE_DIRECTION = {
    "repositories": PUSH,
    "remotePrefix": PUSH,
    "onPush": PUSH,
    "remoteRepository": PULL,
    "localRepository": PULL,
}
MAX_PATTERNS = 50
PATTERN = re.compile(r"^[a-z0-9*][a-z0-9._/*-]{0,254}\Z")
TAG_PATTERN = re.compile(r"^[A-Za-z0-9_*][A-Za-z0-9._*-]{0,127}\Z")


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern:
    """`**` matches anything, `*` anything but a slash."""
    parts = (re.escape(piece).replace(r"\*", "[^/]*") for piece in pattern.split("**"))
    return re.compile("^" + ".*".join(parts) + r"\Z")


def matches(patterns: str, value: str) -> bool:
    """Whether `value` matches one of the patterns (one per line)."""
    return any(_compiled(p).match(value) for p in patterns.splitlines() if p)


def remote_name(rule, full_name: str) -> str:
    """The name a push rule gives a local repository on the remote."""
    return f"{rule.remote_prefix}/{full_name}" if rule.remote_prefix else full_name


def remote_of(rule) -> UpstreamRegistry:
    return UpstreamRegistry(rule.remote_url, rule.username, rule.password, rule.verify_tls)


@dataclass(frozen=True)
class PushRule:
    id: int
    repositories: str
    tags: str


_PUSH_RULES = "dtr_push_rules"  # the application's extensions: its push rules in memory


def push_rules() -> list[PushRule]:
    """The enabled push rules that pushes trigger, from the application's memory: a push's
    write transaction does not query them. Refreshed by each look of this process's worker
    (a rule changed in another process applies within REPLICATION_POLL_SECONDS) and by a
    change made here."""
    return current_app.extensions.get(_PUSH_RULES, [])


def refresh_push_rules():
    rows = db.session.execute(
        select(ReplicationRule.id, ReplicationRule.repositories, ReplicationRule.tags).where(
            ReplicationRule.direction == PUSH,
            ReplicationRule.enabled.is_(True),
            ReplicationRule.on_push.is_(True),
        )
    )
    current_app.extensions[_PUSH_RULES] = [PushRule(*row) for row in rows]
    db.session.rollback()


def mirror_rule(repository) -> ReplicationRule | None:
    """The pull rule that keeps `repository` (a Repository) in sync, if one does."""
    if repository.mirror_rule_id is None:
        return None
    return db.session.get(ReplicationRule, repository.mirror_rule_id)


# Administration


def list_rules(actor) -> list[ReplicationRule]:
    require_admin(actor, "see replication rules")
    return list(db.session.scalars(select(ReplicationRule).order_by(ReplicationRule.name)))


def get_rule(actor, name) -> ReplicationRule:
    require_admin(actor, "see replication rules")
    rule = db.session.scalar(select(ReplicationRule).where(ReplicationRule.name == name))
    if rule is None:
        raise NameUnknown(f"there is no replication rule named {str(name)[:100]!r}")
    return rule


def create_rule(actor, body) -> ReplicationRule:
    require_admin(actor, "create replication rules")
    body = _object(body)
    name = body.get("name")
    if not isinstance(name, str):
        raise InvalidInput("name: required, the rule's name", {"field": "name"})
    check_account_name(name)
    if len(name) > 100:
        raise InvalidInput("name: at most 100 characters", {"field": "name"})
    direction = body.get("direction", PUSH)
    if direction not in (PUSH, PULL):
        raise InvalidInput("direction: push or pull", {"field": "direction"})
    if "url" not in body:
        raise InvalidInput("url: required, the other registry's URL", {"field": "url"})
    if db.session.scalar(select(ReplicationRule.id).where(ReplicationRule.name == name)):
        raise NameTaken(f"a replication rule named {name!r} exists", {"name": name})
    values = _checked(body, direction)
    rule = ReplicationRule(name=name, direction=direction, created_by=actor.name, **values)
    _require_scope(rule)
    mirror = _mirror_for(rule.local_repository, None, actor) if direction == PULL else None
    db.session.add(rule)
    db.session.flush()
    if mirror is not None:
        _bind(rule, mirror)
    audit.record(actor.name, "replication.create", name, {"direction": direction})
    db.session.commit()
    _changed()
    return rule


def update_rule(actor, name, body) -> ReplicationRule:
    rule = get_rule(actor, name)
    body = _object(body)
    for fixed in ("name", "direction"):
        if fixed in body and body[fixed] != getattr(rule, fixed):
            raise InvalidInput(f"{fixed}: cannot be changed; create another rule", {"field": fixed})
    values = _checked(body, rule.direction)
    mirror = None
    if "local_repository" in values and values["local_repository"] != rule.local_repository:
        mirror = _mirror_for(values["local_repository"], rule.id, actor)
        rule = get_rule(actor, name)  # loaded again after the repository's transaction
    for key, value in values.items():
        setattr(rule, key, value)
    _require_scope(rule)
    rule.updated_at = utcnow()
    if mirror is not None:
        _bind(rule, mirror)
    audit.record(actor.name, "replication.update", name, {"fields": sorted(body)})
    db.session.commit()
    _changed()
    return rule


def delete_rule(actor, name):
    """The rule and its history go; a pull rule's repository stays, writable again."""
    rule = get_rule(actor, name)
    db.session.execute(
        update(Repository).where(Repository.mirror_rule_id == rule.id).values(mirror_rule_id=None)
    )
    db.session.delete(rule)
    audit.record(actor.name, "replication.delete", name)
    db.session.commit()
    _changed()


def _changed():
    lookup_caches.forget_all()  # repositories' read-only flag (a pull rule's mirror)
    refresh_push_rules()


def _object(body) -> dict:
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    refuse_unknown_fields(body, FIELDS, "not a field of a replication rule")
    return body


def _mirror_for(local_repository, rule_id, actor) -> Repository:
    """The repository a pull rule will keep in sync, created when missing (in a transaction
    of its own, before the rule's); one another rule mirrors, or of a proxy namespace, is
    refused."""
    repository = find_repository(local_repository)
    if repository is None:
        namespace, _ = split_repository_name(local_repository)
        if find_account(namespace) is None:
            raise InvalidInput(
                f"localRepository: there is no user or organization named {namespace!r}",
                {"field": "localRepository"},
            )
        return create_repository(actor, local_repository)
    if repository.mirror_rule_id not in (None, rule_id):
        raise InvalidInput(
            "localRepository: another replication rule mirrors this repository",
            {"field": "localRepository"},
        )
    if repository.proxied:
        raise InvalidInput(
            "localRepository: a repository of a proxy namespace", {"field": "localRepository"}
        )
    return repository


def _bind(rule, repository):
    """`repository` (alone) is the pull rule's read-only mirror."""
    db.session.execute(
        update(Repository)
        .where(Repository.mirror_rule_id == rule.id, Repository.id != repository.id)
        .values(mirror_rule_id=None)
    )
    repository.mirror_rule_id = rule.id


def _require_scope(rule):
    if rule.direction == PUSH and not rule.repositories:
        raise InvalidInput(
            "repositories: at least one pattern of local repository names",
            {"field": "repositories"},
        )
    if rule.direction == PULL and not (rule.remote_repository and rule.local_repository):
        field = "remoteRepository" if not rule.remote_repository else "localRepository"
        raise InvalidInput(f"{field}: required for a pull rule", {"field": field})


def _checked(body, direction) -> dict:
    """Column values from the client's fields, each checked."""
    values = {}
    if "url" in body:
        values["remote_url"] = checked_registry_url(body["url"], "url")
    for field, limit in (("username", 255), ("password", 1024)):
        if field in body:
            values[field] = checked_optional_string(body[field], field, limit)
    for field, column in (
        ("verifyTls", "verify_tls"),
        ("onPush", "on_push"),
        ("enabled", "enabled"),
    ):
        if field in body:
            values[column] = checked_flag(body[field], field)
    if "schedule" in body:
        values["schedule"] = parse_schedule(body["schedule"])
    if "tags" in body:
        values["tags"] = _patterns(body["tags"], "tags", TAG_PATTERN, "tag patterns")
    for field, wanted in ONE_DIRECTION.items():
        if field in body and direction != wanted:
            raise InvalidInput(f"{field}: only for a {wanted} rule", {"field": field})
    if "repositories" in body:
        values["repositories"] = _patterns(
            body["repositories"], "repositories", PATTERN, "repository name patterns"
        )
    if "remotePrefix" in body:
        prefix = body["remotePrefix"]
        if not isinstance(prefix, str) or (prefix and not _is_repository_name(prefix)):
            raise InvalidInput(
                "remotePrefix: a name path on the remote (lowercase components joined by /)",
                {"field": "remotePrefix"},
            )
        values["remote_prefix"] = prefix
    if "remoteRepository" in body:
        remote = body["remoteRepository"]
        if not isinstance(remote, str) or not _is_repository_name(remote):
            raise InvalidInput(
                "remoteRepository: a repository name on the remote (library/alpine)",
                {"field": "remoteRepository"},
            )
        values["remote_repository"] = remote
    if "localRepository" in body:
        local = body["localRepository"]
        try:
            split_repository_name(local if isinstance(local, str) else "")
        except NameInvalid:
            raise InvalidInput(
                "localRepository: a local repository name, NAMESPACE/NAME",
                {"field": "localRepository"},
            ) from None
        values["local_repository"] = local
    return values


def _is_repository_name(value):
    return len(value) <= 200 and REPOSITORY_NAME.match(value) is not None


def _patterns(value, field, grammar, what) -> str:
    if (
        not isinstance(value, list)
        or not 0 < len(value) <= MAX_PATTERNS
        or not all(isinstance(p, str) and grammar.match(p) for p in value)
    ):
        raise InvalidInput(
            f"{field}: a list of 1 to {MAX_PATTERNS} {what} (* within a name component, "
            "** across them)",
            {"field": field},
        )
    return "\n".join(dict.fromkeys(value))
