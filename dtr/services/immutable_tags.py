"""Immutable tags: rules by tag pattern (`v*`, `release-*`) of a repository or of a whole
namespace. A tag one of them matches, once it exists, is never moved to another manifest nor
deleted, by anyone (administrators included): the push or delete is refused with DENIED
naming the rule. Pushing the same manifest again under it is fine, and so is creating it.

Patterns are globs (`*` any run of characters, `?` one, `[...]` a set), matched case-
sensitively against the whole tag. Repository rules are managed by those with admin level on
the repository, namespace rules as the namespace's trusted keys are
(`repositories.administered_namespace`); anyone who may see the repository may list them.
Every change is audited.
"""

import fnmatch
import re

from sqlalchemy import bindparam, select

from .. import access
from ..database import db
from ..errors import Denied, InvalidInput, NameTaken, NameUnknown
from ..models import ImmutableTagRule
from ..names import row_id
from . import audit
from .callers import require_logged_in
from .namespace_scopes import applying_to, of_scope, own_first
from .repositories import administered_namespace, namespace_or_404, visible_repository

PATTERN = re.compile(r"^[A-Za-z0-9_.*?\[\]!-]{1,128}\Z")
PATTERN_RULE = "1 to 128 of: letters, digits, _ . - and the glob characters * ? [ ] !"
_RULES_OF_REPOSITORY = select(ImmutableTagRule.pattern, ImmutableTagRule.repository_id).where(
    applying_to(ImmutableTagRule, bindparam("namespace_id"), bindparam("repository_id"))
)


class ImmutableTag(Denied):
    """A change refused by an immutability rule."""


def list_repository_rules(identity, full_name) -> list[ImmutableTagRule]:
    """The repository's own rules, then its namespace's (which apply to it too)."""
    repository = visible_repository(identity, full_name)
    return list(
        db.session.scalars(
            select(ImmutableTagRule)
            .where(applying_to(ImmutableTagRule, repository.namespace_id, repository.id))
            .order_by(own_first(ImmutableTagRule), ImmutableTagRule.pattern)
        )
    )


def list_namespace_rules(identity, namespace) -> list[ImmutableTagRule]:
    require_logged_in(identity)
    account = namespace_or_404(namespace)
    return list(
        db.session.scalars(
            select(ImmutableTagRule)
            .where(of_scope(ImmutableTagRule, account.id, None))
            .order_by(ImmutableTagRule.pattern)
        )
    )


def add_repository_rule(identity, full_name, pattern) -> ImmutableTagRule:
    repository = visible_repository(identity, full_name, access.ADMIN)
    return _add(identity, full_name, repository.namespace_id, repository.id, pattern)


def add_namespace_rule(identity, namespace, pattern) -> ImmutableTagRule:
    account = administered_namespace(identity, namespace, "the immutable tags")
    return _add(identity, namespace, account.id, None, pattern)


def delete_repository_rule(identity, full_name, rule_id):
    repository = visible_repository(identity, full_name, access.ADMIN)
    _delete(identity, full_name, _rule(rule_id, repository.namespace_id, repository.id))


def delete_namespace_rule(identity, namespace, rule_id):
    account = administered_namespace(identity, namespace, "the immutable tags")
    _delete(identity, namespace, _rule(rule_id, account.id, None))


def check_pattern(pattern) -> str:
    if not isinstance(pattern, str) or not PATTERN.match(pattern):
        raise InvalidInput(f"pattern: {PATTERN_RULE}", {"field": "pattern"})
    return pattern


def _add(identity, target, namespace_id, repository_id, pattern) -> ImmutableTagRule:
    check_pattern(pattern)
    existing = db.session.scalar(
        select(ImmutableTagRule.id).where(
            of_scope(ImmutableTagRule, namespace_id, repository_id),
            ImmutableTagRule.pattern == pattern,
        )
    )
    if existing is not None:
        raise NameTaken(f"the rule {pattern!r} exists already", {"pattern": pattern})
    rule = ImmutableTagRule(
        namespace_id=namespace_id,
        repository_id=repository_id,
        pattern=pattern,
        created_by=identity.name,
    )
    db.session.add(rule)
    audit.record(identity.name, "immutableTagRule.add", target, {"pattern": pattern})
    db.session.commit()
    return rule


def _rule(rule_id, namespace_id, repository_id) -> ImmutableTagRule:
    number = row_id(rule_id)
    rule = db.session.get(ImmutableTagRule, number) if number is not None else None
    if rule is None or rule.namespace_id != namespace_id or rule.repository_id != repository_id:
        raise NameUnknown("no such immutable tag rule here", {"rule": str(rule_id)[:20]})
    return rule


def _delete(identity, target, rule):
    audit.record(identity.name, "immutableTagRule.delete", target, {"pattern": rule.pattern})
    db.session.delete(rule)
    db.session.commit()


def rules_for(repository) -> list[tuple[str, bool]]:
    """(pattern, whether it is the namespace's) of every rule that applies to `repository`
    (a Repository or a RepositoryRef)."""
    values = {"namespace_id": repository.namespace_id, "repository_id": repository.id}
    rows = db.session.execute(_RULES_OF_REPOSITORY, values)
    return [(pattern, repository_id is None) for pattern, repository_id in rows]


def matching_rule(rules, tag) -> tuple[str, bool] | None:
    for rule in rules:
        if fnmatch.fnmatchcase(tag, rule[0]):
            return rule
    return None


def refuse(full_name, tag, rule, doing):
    """ImmutableTag: `doing` (what was refused, e.g. "moved") to `tag` by `rule`."""
    pattern, of_namespace = rule
    where = "its namespace" if of_namespace else "the repository"
    raise ImmutableTag(
        f"tag {tag!r} of {full_name} is immutable (rule {pattern!r} of {where}): it cannot "
        f"be {doing}",
        {"tag": tag, "rule": pattern},
    )


def check_deletable(repository, full_name, tags):
    """Before deleting `tags` (by hand, by retention): ImmutableTag when a rule covers one."""
    rules = rules_for(repository) if tags else []
    for tag in tags:
        rule = matching_rule(rules, tag)
        if rule is not None:
            refuse(full_name, tag, rule, "deleted")
