"""Retention in the portal: a repository's own policy (its Settings > Retention) and an
organization's (its Retention tab), edited as rows of rules (kind, number, tag pattern,
exclusion) and a schedule, saved or removed; and a dry run or a run of the policy that
applies. For the admins of the repository or the organization, as the API
(services/retention.py).

The same views serve both places: a repository's are given its `namespace` and `name` in the
path, an organization's its `org`; an organization's endpoints have the prefix
`organization_`."""

import re

from flask import request

from .. import access
from ..errors import DomainError
from ..services import repositories, retention
from .credential_forms import refusal_status, whole_number
from .rendering import FormError, form_error, go
from .repository_pages import logged_in, settings_page

FORM = "retention-policy"
ORGANIZATION = "organization_"  # the endpoint prefix of an organization's views
BLANK_ROWS = 2  # empty rows shown after the rules, to add some
_RULE_FIELD = re.compile(r"^rules\[(\d+)\](?:\.(\w+))?: ")


def _of_repository(path) -> bool:
    return "name" in path


def _scope(path):
    me = logged_in()
    if _of_repository(path):
        return me, retention.Scope.of_repository(me, f"{path['namespace']}/{path['name']}")
    return me, retention.Scope.of_namespace(me, path["org"])


def retention_view(scope: retention.Scope, path, typed) -> dict:
    """The policy that applies (for a repository its own or its namespace's, or None), its
    rules, its latest runs, and the rows of the form editing the scope's own policy: what was
    typed (after a refusal), else its rules, then blank rows; at most MAX_RULES."""
    policy = retention.applying_policy(scope)
    own = policy if policy is not None and policy.repository_id == scope.repository_id else None
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
        "of_repository": _of_repository(path),
        "target": scope.target,
        "policy_namespace": scope.target.split("/")[0],
        "path": path,
        "prefix": "" if _of_repository(path) else ORGANIZATION,
    }


def _page_address(path) -> tuple[str, dict]:
    """(endpoint, values) of the page showing the policy."""
    if _of_repository(path):
        return "web.repository_settings", {**path, "_anchor": "retention"}
    return "web.organization", {"org": path["org"], "tab": "retention"}


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


def save_policy(**path):
    me, scope = _scope(path)
    rules, schedule = _typed_rows(request.form), request.form.get("schedule", "").strip()
    if not rules:
        message = "Fill in at least one rule (to keep every tag, remove the policy)."
        return _refused(me, scope, path, FormError(message, FORM, "rules"), 400, rules, schedule)
    try:
        retention.set_policy(me, scope, rules, schedule)
    except DomainError as failure:
        error = form_error(_person_message(failure), FORM, ("rules", "schedule"), "rules")
        return _refused(me, scope, path, error, refusal_status(failure), rules, schedule)
    endpoint, values = _page_address(path)
    return go(endpoint, "Retention policy saved.", **values)


def _refused(me, scope, path, error, status, rules, schedule):
    typed = {"retention_rows": rules, "schedule": schedule}
    if not _of_repository(path):
        from .organization_pages import organization_page

        return organization_page(me, path["org"], "retention", status, error=error, typed=typed)
    found = repositories.visible_repository(me, scope.target, access.ADMIN)
    return settings_page(me, found, scope.target, error, status, typed)


def remove_policy(**path):
    me, scope = _scope(path)
    retention.remove_policy(me, scope)
    endpoint, values = _page_address(path)
    return go(endpoint, "Retention policy removed.", **values)


def run_retention(**path):
    """A dry run or a run of the policy that applies, on this repository or on every
    repository of the organization; what it deleted (or would) is said at the top of the
    page."""
    me, scope = _scope(path)
    dry_run = request.form.get("dryRun") == "true"
    endpoint, values = _page_address(path)
    try:
        if _of_repository(path):
            _, deleted = retention.run_for_repository(me, scope.target, dry_run)
        else:
            deleted = retention.deleted_by(retention.run(me, scope, dry_run))
    except DomainError as failure:
        return go(endpoint, failure.message, "error", **values)
    verb = "would delete" if dry_run else "deleted"
    listed = ", ".join(deleted[:20]) + (" …" if len(deleted) > 20 else "")
    message = f"Retention {verb} {len(deleted)} tag{'s' if len(deleted) != 1 else ''}"
    return go(endpoint, message + (f": {listed}." if deleted else "."), **values)
