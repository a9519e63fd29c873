"""Settings > Garbage Collection: the schedule with its next run times, grace window and
untagged-manifest rule, Run now / Dry run, a progress fragment that polls while a
collection runs, and the history with what each run reclaimed."""

import json

from flask import request

from ..errors import DomainError
from ..services import gc_jobs, gc_settings
from .navigation import settings_tabs
from .rendering import form_error, go, htmx_target, page


def gc_tab(me, error=None, form=None):
    settings = gc_settings.gc_settings()
    schedule = form.get("schedule", settings.schedule) if form else settings.schedule
    try:
        upcoming = gc_settings.next_runs(gc_settings.parse_schedule(schedule))
    except DomainError:
        upcoming = []
    return page(
        "settings/garbage-collection.html",
        400 if error else 200,
        tab="garbage-collection",
        tabs=settings_tabs(),
        settings=settings,
        schedule=schedule,
        upcoming=upcoming,
        fields_help=gc_settings.FIELDS_HELP,
        running=gc_jobs.current_run(),
        history=gc_jobs.gc_history(limit=20),
        savings=gc_jobs.last_savings(),
        error=error,
    )


def save_gc_settings():
    from .settings_pages import admin

    me = admin()
    form = request.form
    grace = form.get("graceMinutes", "").strip()
    try:
        if not grace.isdecimal():
            raise DomainError("Grace window: whole minutes", {"field": "graceMinutes"})
        gc_settings.parse_schedule(form.get("schedule", ""))  # all checked before any is saved
        gc_settings.update_gc_settings(
            me.name, grace_minutes=int(grace), delete_untagged=form.get("deleteUntagged") == "on"
        )
        schedule = gc_settings.set_schedule(me.name, form.get("schedule", ""))
    except DomainError as failure:
        fields = {name: name for name in ("schedule", "graceMinutes")}
        fields["graceWindowMinutes"] = "graceMinutes"  # the service's name of it
        return gc_tab(me, form_error(failure, "gc-settings", fields), form)
    message = (
        f"Saved. Garbage collection runs on “{schedule}” (UTC)."
        if schedule
        else ("Saved. No schedule: garbage collection runs only when started.")
    )
    return go("web.settings_tab", message, tab="garbage-collection")


def run_gc():
    from .settings_pages import admin

    me = admin()
    dry_run = request.form.get("dryRun") == "true"
    try:
        gc_jobs.start_gc(f"web:{me.name}", dry_run=dry_run, actor=me.name)
    except DomainError as failure:
        return go("web.settings_tab", failure.message, "error", tab="garbage-collection")
    what = "A dry run" if dry_run else "Garbage collection"
    return go("web.settings_tab", f"{what} started.", tab="garbage-collection")


def gc_progress():
    """The fragment that polls while a collection runs; once it ends, the page reloads to
    show the new history row."""
    from .settings_pages import admin

    admin()
    running = gc_jobs.current_run()
    if running is None and htmx_target() == "gc-progress":
        return "", 200, {"HX-Refresh": "true"}
    return page("settings/_gc_progress.html", running=running)


def report_of(text) -> dict:
    """What a (dry) run deleted or would delete (GcRun.report, JSON)."""
    try:
        return json.loads(text or "{}")
    except ValueError:
        return {}


def errors_of(text) -> list:
    """The error messages of a run (GcRun.errors, JSON)."""
    try:
        return json.loads(text or "[]")
    except ValueError:
        return []
