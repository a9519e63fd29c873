"""Settings › Replication (admins): the rules that copy images to (push) or from (pull)
another registry, each with its last run; a rule's history page lists its runs and the
items of one of them. The same services as the API (services/replication_rules.py,
services/replication_runs.py)."""

from flask import abort, request

from ..errors import DomainError, JobUnknown
from ..services import replication_rules, replication_runs
from .navigation import settings_tabs
from .rendering import form_error, go, page
from .settings_pages import admin

FORM_FIELDS = tuple(field for field in replication_rules.FIELDS if field != "enabled")
# The fields only one direction takes: the other's are not sent (the service refuses them).
DIRECTION_FIELDS = {
    replication_rules.PUSH: ("repositories", "remotePrefix"),
    replication_rules.PULL: ("remoteRepository", "localRepository"),
}
LISTS = ("repositories", "tags")  # space- or comma-separated in the form
UNFINISHED = ("queued", "running")


def replication_tab(me, error=None, typed=None, status=200):
    rules = replication_rules.list_rules(me)
    last = replication_runs.last_runs(rule.id for rule in rules)
    return page(
        "settings/replication.html",
        status,
        tab="replication",
        tabs=settings_tabs(),
        rules=[(rule, last.get(rule.id)) for rule in rules],
        error=error,
        typed=typed or {},
    )


def create_rule():
    me = admin()
    form = request.form
    try:
        rule = replication_rules.create_rule(me, _body(form))
    except DomainError as failure:
        typed = {**form, "password": ""}
        error = form_error(failure, "new-rule", FORM_FIELDS, default="name")
        return replication_tab(me, error, typed, 400)
    return go("web.settings_tab", f"Replication rule {rule.name} created.", tab="replication")


def _body(form) -> dict:
    """The service's body from the form: the chosen direction's non-empty fields only."""
    direction = form.get("direction", replication_rules.PUSH)
    body = {
        "name": form.get("name", "").strip(),
        "direction": direction,
        "url": form.get("url", "").strip(),
        "username": form.get("username", "").strip() or None,
        "password": form.get("password") or None,
        "verifyTls": form.get("verifyTls") == "on",
        "schedule": form.get("schedule", ""),
    }
    if tags := _list(form.get("tags", "")):
        body["tags"] = tags
    for field in DIRECTION_FIELDS.get(direction, ()):
        value = _list(form.get(field, "")) if field in LISTS else form.get(field, "").strip()
        if value:
            body[field] = value
    if direction == replication_rules.PUSH:
        body["onPush"] = form.get("onPush") == "on"
    return body


def _list(text) -> list[str]:
    return text.replace(",", " ").split()


def run_rule(name):
    me = admin()
    run = replication_runs.run_now(me, name)
    return go("web.replication_rule", f"Run {run.id} of {name} queued.", name=name, run=run.id)


def delete_rule(name):
    me = admin()
    replication_rules.delete_rule(me, name)
    message = f"Replication rule {name} deleted, with its history."
    return go("web.settings_tab", message, tab="replication")


def retry_run(run_id):
    """Queue again what a finished run covered; refused for one still queued or running."""
    me = admin()
    try:
        run = replication_runs.get_run(me, run_id)
    except JobUnknown:
        abort(404)
    name = replication_runs.rule_of(run).name
    try:
        again = replication_runs.retry_run(me, run_id)
    except DomainError as failure:
        return go("web.replication_rule", failure.message, "error", name=name, run=run.id)
    message = f"Run {run.id} queued again as run {again.id}."
    return go("web.replication_rule", message, name=name, run=again.id)


def rule_history(name):
    """A rule's runs, newest first, and the items of the run `?run=` (default: the latest);
    while a run waits or runs, the history polls (hx-select of this same page)."""
    me = admin()
    rule = replication_rules.get_rule(me, name)
    runs = replication_runs.list_runs(me, name)
    chosen = _chosen_run(me, rule, runs)
    return page(
        "settings/replication_rule.html",
        rule=rule,
        runs=runs,
        chosen=chosen,
        items=replication_runs.run_items(chosen) if chosen else [],
        busy=any(run.state in UNFINISHED for run in runs),
        unfinished=UNFINISHED,
    )


def _chosen_run(me, rule, runs):
    wanted = request.args.get("run")
    if wanted is None:
        return runs[0] if runs else None
    try:
        run = replication_runs.get_run(me, wanted)
    except JobUnknown:
        abort(404)
    if run.rule_id != rule.id:
        abort(404)
    return run
