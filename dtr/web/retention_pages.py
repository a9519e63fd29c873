"""Repository settings > Retention: the repository's own policy edited as rows of rules (kind,
number, tag pattern, exclusion) and a schedule, saved or removed; and a dry run or a run of
the policy that applies. For the repository's admins, as the API (services/retention.py)."""

import re

from flask import request

from .. import access
from ..errors import DomainError
from ..services import repositories, retention
from .credential_forms import refusal_status, whole_number
from .rendering import FormError, form_error, go
from .repository_pages import logged_in, settings_page

FORM = "retention-policy"
BLANK_ROWS = 2  # empty rows shown after the rules, to add some
_RULE_FIELD = re.compile(r"^rules\[(\d+)\](?:\.(\w+))?: ")


def retention_view(found, full_name, typed) -> dict:
    """The policy that applies (the repository's or its namespace's, or None), its rules,
    its latest runs, and the rows of the form editing the repository's own policy: what was
    typed (after a refusal), else its rules, then blank rows; at most MAX_RULES."""
    scope = retention.Scope(found.namespace_id, found.id, full_name)
    policy = retention.applying_policy(scope)
    own = policy if policy is not None and policy.repository_id is not None else None
    rows = typed.get("retention_rows")
    rows = [dict(row) for row in (rows if rows is not None else retention.rules_of(own))]
    return {
        "policy": policy,
        "own": own,
        "rules": retention.rules_of(policy),
        "runs": retention.runs_of(policy, 5) if policy is not None else [],
        "rows": (rows + [{} for _ in range(BLANK_ROWS)])[: retention.MAX_RULES],
        "schedule": typed.get("schedule", own.schedule if own is not None else ""),
        "keeps": retention.KEEPS,
    }


def _typed_rows(form) -> list[dict]:
    """The filled rows of the form, as rules for the service (numbers as ints when they are)."""
    rows = []
    for index in range(retention.MAX_RULES):
        keep = form.get(f"keep-{index}", "")
        number = form.get(f"number-{index}", "").strip()
        tags = form.get(f"tags-{index}", "").strip()
        exclude = form.get(f"exclude-{index}", "").strip()
        if not (keep or number or (tags and tags != "*") or exclude):
            continue
        rule = {"keep": keep}
        rule[retention.KEEPS.get(keep, "count")] = whole_number(number)
        if tags:
            rule["tags"] = tags
        if exclude:
            rule["exclude"] = exclude
        rows.append(rule)
    return rows


def _person_message(failure: DomainError) -> DomainError:
    """`rules[1].count: ...` as a person counts rows: `Rule 2, count: ...`."""
    found = _RULE_FIELD.match(failure.message)
    if found:
        named = f"Rule {int(found[1]) + 1}" + (f", {found[2]}" if found[2] else "")
        failure.message = f"rules: {named}: {failure.message[found.end() :]}"
    return failure


def save_policy(namespace, name):
    me = logged_in()
    full_name = f"{namespace}/{name}"
    scope = retention.Scope.of_repository(me, full_name)
    rules, schedule = _typed_rows(request.form), request.form.get("schedule", "").strip()
    if not rules:
        message = "Fill in at least one rule (to keep every tag, remove the policy)."
        return _refused(me, full_name, FormError(message, FORM, "rules"), 400, rules, schedule)
    try:
        retention.set_policy(me, scope, rules, schedule)
    except DomainError as failure:
        error = form_error(_person_message(failure), FORM, ("rules", "schedule"), "rules")
        return _refused(me, full_name, error, refusal_status(failure), rules, schedule)
    return go(
        "web.repository_settings",
        "Retention policy saved.",
        namespace=namespace,
        name=name,
        _anchor="retention",
    )


def _refused(me, full_name, error, status, rules, schedule):
    found = repositories.visible_repository(me, full_name, access.ADMIN)
    typed = {"retention_rows": rules, "schedule": schedule}
    return settings_page(me, found, full_name, error, status, typed)


def remove_policy(namespace, name):
    me = logged_in()
    retention.remove_policy(me, retention.Scope.of_repository(me, f"{namespace}/{name}"))
    return go(
        "web.repository_settings",
        "Retention policy removed.",
        namespace=namespace,
        name=name,
        _anchor="retention",
    )


def run_retention(namespace, name):
    """A dry run or a run of the policy that applies, on this repository; what it deleted (or
    would) is said at the top of the page."""
    me = logged_in()
    retention.Scope.of_repository(me, f"{namespace}/{name}")  # else 404/403
    dry_run = request.form.get("dryRun") == "true"
    try:
        _, deleted = retention.run_for_repository(me, f"{namespace}/{name}", dry_run)
    except DomainError as failure:
        return go(
            "web.repository_settings", failure.message, "error", namespace=namespace, name=name
        )
    verb = "would delete" if dry_run else "deleted"
    listed = ", ".join(deleted[:20]) + (" …" if len(deleted) > 20 else "")
    message = f"Retention {verb} {len(deleted)} tag{'s' if len(deleted) != 1 else ''}"
    return go(
        "web.repository_settings",
        message + (f": {listed}." if deleted else "."),
        namespace=namespace,
        name=name,
    )
