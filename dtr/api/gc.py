"""Garbage collection for administrators: jobs (run now, dry run, history), the cron
schedule, the last savings and the collection settings."""

import json

from ..errors import InvalidInput, JobUnknown
from ..services import gc_jobs, gc_settings
from ..services.callers import require_admin
from ..services.field_checks import refuse_unknown_fields
from .common import caller, field, json_body, listing, page
from .serialize import iso, job_fields

JOB = "registryGC"


def _admin():
    identity = caller()
    require_admin(identity, "manage garbage collection")
    return identity


def job(run, detail=False):
    body = {
        **job_fields(run, JOB),
        "dryRun": run.dry_run,
        "manifestsDeleted": run.manifests_deleted,
        "blobsDeleted": run.blobs_deleted,
        "bytesReclaimed": run.bytes_reclaimed,
        "uploadsDeleted": run.uploads_deleted,
        "errors": json.loads(run.errors or "[]"),
    }
    if detail:
        body["report"] = json.loads(run.report) if run.report else None
    return body


def start_job():
    identity = _admin()
    body = json_body()
    if field(body, "job") != JOB:
        raise InvalidInput(f"job: the only job is {JOB}", {"field": "job"})
    dry_run = field(body, "dryRun", bool, required=False, default=False)
    run = gc_jobs.start_gc(f"api:{identity.name}", dry_run, actor=identity.name)
    return job(run), 202


def list_jobs():
    _admin()
    start, limit = page()
    runs = gc_jobs.gc_history(limit, start)
    return listing("jobs", [job(run) for run in runs], gc_jobs.count_runs(), start, limit)


def get_job(id):
    _admin()
    if not id.isdecimal() or len(id) > 18:
        raise JobUnknown(f"no garbage collection job {id}", {"id": id})
    return job(gc_jobs.find_run(int(id)), detail=True)


def _schedule(schedule):
    return {"schedule": schedule, "nextRuns": [iso(t) for t in gc_settings.next_runs(schedule)]}


def get_schedule():
    _admin()
    return _schedule(gc_settings.gc_settings().schedule)


def set_schedule():
    identity = _admin()
    schedule = field(json_body(), "schedule")
    return _schedule(gc_settings.set_schedule(identity.name, schedule))


def last_savings():
    _admin()
    run = gc_jobs.last_savings()
    return {
        "jobId": run.id if run else None,
        "finishedAt": iso(run.finished_at) if run else None,
        "manifestsDeleted": run.manifests_deleted if run else 0,
        "blobsDeleted": run.blobs_deleted if run else 0,
        "bytesReclaimed": run.bytes_reclaimed if run else 0,
    }


def _settings(settings):
    return {
        "graceWindowMinutes": settings.grace_minutes,
        "deleteUntaggedManifests": settings.delete_untagged,
    }


def get_settings():
    _admin()
    return _settings(gc_settings.gc_settings())


def put_settings():
    identity = _admin()
    body = json_body()
    allowed = {"graceWindowMinutes", "deleteUntaggedManifests"}
    refuse_unknown_fields(body, allowed, "not a garbage collection setting")
    changed = gc_settings.update_gc_settings(
        identity.name,
        grace_minutes=field(body, "graceWindowMinutes", int, required=False),
        delete_untagged=field(body, "deleteUntaggedManifests", bool, required=False),
    )
    return _settings(changed)
