"""Settings > Storage: choose the backend and fill its options (the options of every backend
are on the page, those of the chosen one show), Test connection (an HTMX fragment, nothing
saved) and Save (probed first, then in force at once). Secrets are never shown back: an empty
secret input keeps the stored one. Verify: a storage verification (services/
storage_verification.py) in the background, a progress fragment that polls while it runs,
and the recent runs with the damaged blobs each found."""

from flask import request

from ..errors import DomainError, InvalidInput
from ..services import storage_settings, storage_verification
from ..storage import BACKENDS, backend_fields
from .navigation import settings_tabs
from .rendering import go, htmx_target, page

LABELS = {
    "filesystem": "Filesystem",
    "s3": "Amazon S3 (or S3-compatible)",
    "azure": "Azure Blob storage",
    "swift": "OpenStack Swift",
}


def storage_tab(me, error=None, form=None, result=None):
    described = storage_settings.describe(me)
    values = {
        backend: {field["name"]: field["default"] for field in fields}
        for backend, fields in described["fields"].items()
    }
    values[described["backend"]].update(described["options"])
    chosen = described["backend"]
    if form is not None and form.get("backend") in BACKENDS:
        chosen = form["backend"]
        values[chosen].update(_shown_back(chosen, form))
    return page(
        "settings/storage.html",
        400 if error else 200,
        tab="storage",
        tabs=settings_tabs(),
        labels=LABELS,
        active=described,
        fields=described["fields"],
        values=values,
        chosen=chosen,
        migrate_command=described["migrateCommand"],
        error=error,
        result=result,
        verifying=storage_verification.current_verification(),
        verifications=storage_verification.verification_history(limit=10),
        report_of=storage_verification.report_of,
        errors_of=storage_verification.errors_of,
    )


def _shown_back(backend, form) -> dict:
    """What the person typed, to show again after a refusal (never a secret)."""
    values = {}
    for field in backend_fields(backend):
        key = f"{backend}.{field.name}"
        if field.kind == "bool":
            values[field.name] = form.get(key) == "on"
        elif field.kind != "secret":
            values[field.name] = form.get(key, "")
    return values


def body_from_form(form) -> dict:
    """The form as the body of PUT /api/v0/admin/settings/storage."""
    backend = form.get("backend", "")
    if backend not in BACKENDS:
        raise InvalidInput("Choose a storage backend.")
    options = {}
    for field in backend_fields(backend):
        key = f"{backend}.{field.name}"
        raw = form.get(key, "").strip()
        if field.kind == "bool":
            options[field.name] = form.get(key) == "on"
        elif field.kind == "secret":
            if form.get(f"{key}.clear") == "on":
                options[field.name] = None
            elif raw:
                options[field.name] = form.get(key)
        elif raw and field.kind == "int":
            if not raw.isdecimal():
                raise InvalidInput(f"{field.label}: a whole number")
            options[field.name] = int(raw)
        elif raw:
            options[field.name] = raw
    return {"backend": backend, "options": options}


def save_storage():
    from .settings_pages import admin

    me = admin()
    try:
        body = body_from_form(request.form)
        storage_settings.update(me, body)
    except DomainError as failure:
        return storage_tab(me, failure.message, request.form)
    message = (
        f"Storage saved: blobs are now stored and served on {LABELS[body['backend']]}. "
        "Blobs pushed before stay on the previous storage unless they were migrated."
    )
    return go("web.settings_tab", message, tab="storage")


def test_storage():
    """The outcome in place (HTMX), or the page with it (without JavaScript)."""
    from .settings_pages import admin

    me = admin()
    try:
        result = storage_settings.try_connection(me, body_from_form(request.form))
    except DomainError as failure:
        result = {"ok": False, "message": failure.message}
    if request.headers.get("HX-Request") == "true":
        return page("settings/_storage_test.html", result=result)
    return storage_tab(me, form=request.form, result=result)


def verify_storage():
    """Start a verification (Settings > Storage > Verify)."""
    from .settings_pages import admin

    me = admin()
    try:
        storage_verification.start_verification(f"web:{me.name}", actor=me.name)
    except DomainError as failure:
        return go("web.settings_tab", failure.message, "error", tab="storage")
    return go("web.settings_tab", "Storage verification started.", tab="storage")


def verify_progress():
    """The fragment that polls while a verification runs; once it ends, the page reloads to
    show its report."""
    from .settings_pages import admin

    admin()
    running = storage_verification.current_verification()
    if running is None and htmx_target() == "verify-progress":
        return "", 200, {"HX-Refresh": "true"}
    return page("settings/_verify_progress.html", verifying=running)
