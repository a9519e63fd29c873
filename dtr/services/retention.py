"""Retention policies: which tags of a repository (or of every repository of a namespace) are
kept; the others are deleted when the policy runs (Harbor's semantics: a tag is retained when
any rule retains it).

A policy's `rules` (at most 10), each with `tags`, a glob the tag must match (default `*`),
and optionally `exclude`, a glob it must not:
- `{"keep": "mostRecent", "count": N}`: the N most recently pushed of the tags it matches;
- `{"keep": "pushedOrPulledWithinDays", "days": D}`: the tags it matches that were pushed or
  pulled (services/pull_statistics.py) within D days.

A policy may have a cron `schedule` (UTC; the garbage collection schedule's forms): the
scheduler runs it at those times, once across replicas. Never deleted, whatever the rules:
immutable tags (services/immutable_tags.py), and cosign's tag-scheme signatures,
attestations and SBOMs (`sha256-<hex>.sig|.att|.sbom`), which go with their image when
garbage collection collects it. Retention deletes tags only: an index's children and an
image's referrers (signatures, SBOMs) are kept by garbage collection while the index or
image is, so a kept multi-arch release never loses a platform. Deleted tags stay restorable
for the restore window (services/tag_restore.py).

A repository's own policy replaces its namespace's. A run (or a dry run, which deletes
nothing) reports each repository's deleted and kept tags and is kept as history. Policies are
managed by the admins of their repository or namespace.
"""

import fnmatch
import json
import re
from datetime import timedelta

from sqlalchemy import select

from ..database import db
from ..errors import InvalidInput, NameUnknown
from ..models import Account, Repository, RetentionPolicy, RetentionRun, Tag, utcnow
from . import audit, immutable_tags
from .deletion import delete_reference
from .field_checks import checked_whole_number
from .gc_settings import parse_schedule
from .namespace_scopes import AdministeredScope, of_scope
from .periodic_jobs import take_scheduled_time
from .repositories import RepositoryRef

KEEPS = {"mostRecent": "count", "pushedOrPulledWithinDays": "days"}
MAX_RULES = 10
MAX_NUMBER = 100_000
ATTACHED_TAG = re.compile(r"^sha256-[a-f0-9]{64}\.(sig|att|sbom)$")
PATTERN = re.compile(r"^[A-Za-z0-9_.*?\[\]!-]{1,128}\Z")
ACTOR = "retention"


class Scope(AdministeredScope):
    MANAGING = "the retention policy"

    def policy(self) -> RetentionPolicy | None:
        return db.session.scalar(
            select(RetentionPolicy).where(
                of_scope(RetentionPolicy, self.namespace_id, self.repository_id)
            )
        )

    def existing_policy(self) -> RetentionPolicy:
        policy = self.policy()
        if policy is None:
            raise NameUnknown(f"{self.target} has no retention policy", {"name": self.target})
        return policy


def check_rules(rules) -> list[dict]:
    """The rules, checked; InvalidInput naming the first wrong one."""
    if not isinstance(rules, list) or not 1 <= len(rules) <= MAX_RULES:
        raise _invalid("rules", f"a list of 1 to {MAX_RULES} rules")
    checked = []
    for index, rule in enumerate(rules):
        where = f"rules[{index}]"
        if not isinstance(rule, dict):
            raise _invalid(where, "an object")
        keep = rule.get("keep")
        if keep not in KEEPS:
            raise _invalid(f"{where}.keep", f"one of {', '.join(KEEPS)}")
        number_field = KEEPS[keep]
        unknown = set(rule) - {"keep", number_field, "tags", "exclude"}
        if unknown:
            raise _invalid(f"{where}.{sorted(unknown)[0][:64]}", "not a field of this rule")
        number = checked_whole_number(
            rule.get(number_field), f"{where}.{number_field}", 1, MAX_NUMBER, field="rules"
        )
        patterns = {"tags": rule.get("tags", "*"), "exclude": rule.get("exclude")}
        for name, pattern in patterns.items():
            if pattern is not None and (not isinstance(pattern, str) or not PATTERN.match(pattern)):
                raise _invalid(f"{where}.{name}", immutable_tags.PATTERN_RULE)
        checked.append({"keep": keep, number_field: number, **_present(patterns)})
    return checked


def _present(values):
    return {key: value for key, value in values.items() if value is not None}


def _invalid(name, message):
    return InvalidInput(f"{name}: {message}", {"field": name.split("[", 1)[0]})


def set_policy(identity, scope: Scope, rules, schedule="") -> RetentionPolicy:
    checked, schedule = check_rules(rules), parse_schedule(schedule)
    policy = scope.policy() or RetentionPolicy(
        namespace_id=scope.namespace_id, repository_id=scope.repository_id
    )
    policy.rules, policy.schedule = json.dumps(checked), schedule
    policy.updated_by, policy.updated_at = identity.name, utcnow()
    db.session.add(policy)
    detail = {"rules": checked, "schedule": schedule}
    audit.record(identity.name, "retention.set", scope.target, detail)
    db.session.commit()
    return policy


def remove_policy(identity, scope: Scope):
    policy = scope.existing_policy()
    audit.record(identity.name, "retention.delete", scope.target)
    db.session.delete(policy)
    db.session.commit()


def history(scope: Scope, limit=20) -> list[RetentionRun]:
    return runs_of(scope.existing_policy(), limit)


def rules_of(policy) -> list[dict]:
    return json.loads(policy.rules) if policy is not None else []


def runs_of(policy, limit=20) -> list[RetentionRun]:
    return list(
        db.session.scalars(
            select(RetentionRun)
            .where(RetentionRun.policy_id == policy.id)
            .order_by(RetentionRun.id.desc())
            .limit(limit)
        )
    )


def run(identity, scope: Scope, dry_run) -> RetentionRun:
    """Apply the scope's policy now (or only say what it would delete)."""
    return _apply(scope.existing_policy(), scope, dry_run, identity.name, f"api:{identity.name}")


def applying_policy(scope: Scope) -> RetentionPolicy | None:
    """The policy that applies to a repository's scope: its own, else its namespace's."""
    own = scope.policy()
    if own is not None or scope.repository_id is None:
        return own
    return Scope(scope.namespace_id, None, scope.target).policy()


def run_for_repository(identity, full_name, dry_run) -> tuple[RetentionRun, list[str]]:
    """Apply the policy that applies to one repository (its own or its namespace's) to it
    alone (the repository page's buttons); (the run, the tags deleted or that would be)."""
    scope = Scope.of_repository(identity, full_name)
    policy = applying_policy(scope)
    if policy is None:
        raise NameUnknown(f"no retention policy applies to {full_name}", {"name": full_name})
    record = _apply(policy, scope, dry_run, identity.name, f"web:{identity.name}")
    return record, json.loads(record.report).get(full_name, {}).get("deleted", [])


def deleted_by(run: RetentionRun) -> list[str]:
    """`repository:tag` of every tag a run deleted (or, a dry run, would delete)."""
    return [
        f"{name}:{tag}"
        for name, outcome in json.loads(run.report).items()
        for tag in outcome["deleted"]
    ]


def _apply(policy, scope, dry_run, actor, triggered_by) -> RetentionRun:
    rules = json.loads(policy.rules)
    started = utcnow()
    report, kept, deleted = {}, 0, 0
    for repository, full_name in _repositories(scope):
        going, staying = _judge(repository, rules, started)
        if not dry_run:
            for tag in going:
                delete_reference(repository, full_name, tag, ACTOR)
        report[full_name] = {"deleted": going, "kept": staying}
        kept, deleted = kept + len(staying), deleted + len(going)
    record = RetentionRun(
        policy_id=policy.id,
        triggered_by=triggered_by,
        dry_run=dry_run,
        started_at=started,
        finished_at=utcnow(),
        tags_kept=kept,
        tags_deleted=deleted,
        report=json.dumps(report),
    )
    db.session.add(record)
    audit.record(
        actor,
        "retention.run",
        scope.target,
        {"dryRun": dry_run, "tagsDeleted": deleted, "tagsKept": kept},
    )
    db.session.commit()
    return record


def _repositories(scope):
    """(RepositoryRef, full name) of what the policy applies to: its repository, or those of
    its namespace without a policy of their own."""
    query = (
        select(Repository.id, Repository.namespace_id, Repository.name, Account.name)
        .join(Account, Account.id == Repository.namespace_id)
        .order_by(Repository.name)
    )
    if scope.repository_id is not None:
        query = query.where(Repository.id == scope.repository_id)
    else:
        own = select(RetentionPolicy.repository_id).where(
            RetentionPolicy.repository_id.is_not(None)
        )
        query = query.where(
            Repository.namespace_id == scope.namespace_id, Repository.id.not_in(own)
        )
    rows = db.session.execute(query).all()
    return [
        (RepositoryRef(id_, namespace_id, name, "private"), f"{namespace}/{name}")
        for id_, namespace_id, name, namespace in rows
    ]


def _judge(repository, rules, now) -> tuple[list[str], list[str]]:
    """(tags to delete, tags kept), by name."""
    tags = db.session.execute(
        select(Tag.name, Tag.updated_at, Tag.last_pulled_at)
        .where(Tag.repository_id == repository.id)
        .order_by(Tag.updated_at.desc(), Tag.name.desc())
    ).all()
    immutable = immutable_tags.rules_for(repository)
    kept = {
        tag.name
        for tag in tags
        if ATTACHED_TAG.match(tag.name) or immutable_tags.matching_rule(immutable, tag.name)
    }
    for rule in rules:  # signature tags are kept anyway: they take no rule's places
        matched = [t for t in tags if not ATTACHED_TAG.match(t.name) and _matches(rule, t.name)]
        if rule["keep"] == "mostRecent":
            kept |= {tag.name for tag in matched[: rule["count"]]}
        else:
            since = now - timedelta(days=rule["days"])
            kept |= {
                tag.name
                for tag in matched
                if tag.updated_at >= since
                or (tag.last_pulled_at is not None and tag.last_pulled_at >= since)
            }
    going = sorted(tag.name for tag in tags if tag.name not in kept)
    return going, sorted(kept & {tag.name for tag in tags})


def _matches(rule, name) -> bool:
    if not fnmatch.fnmatchcase(name, rule.get("tags", "*")):
        return False
    return "exclude" not in rule or not fnmatch.fnmatchcase(name, rule["exclude"])


def run_scheduled(now) -> int:
    """A scheduler tick at `now` (naive UTC): run each policy whose cron schedule's latest time
    has come since it last ran on schedule (and since it was set), once across every process
    and replica (a lease per policy until its next time). How many ran."""
    ran = 0
    policies = db.session.execute(
        select(RetentionPolicy, Account.name, Repository.name)
        .join(Account, Account.id == RetentionPolicy.namespace_id)
        .outerjoin(Repository, Repository.id == RetentionPolicy.repository_id)
        .where(RetentionPolicy.schedule != "")
    ).all()
    for policy, namespace, name in policies:
        last = db.session.scalar(
            select(RetentionRun.started_at)
            .where(
                RetentionRun.policy_id == policy.id, RetentionRun.triggered_by.like("schedule:%")
            )
            .order_by(RetentionRun.id.desc())
            .limit(1)
        )
        lease = f"retention:{policy.id}"
        due = take_scheduled_time(lease, policy.schedule, now, last, policy.updated_at)
        if due is None:
            continue
        target = f"{namespace}/{name}" if name else namespace
        scope = Scope(policy.namespace_id, policy.repository_id, target)
        _apply(policy, scope, False, ACTOR, f"schedule:{due.isoformat()}Z")
        ran += 1
    db.session.commit()
    return ran
