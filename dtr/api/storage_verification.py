"""Storage verification for administrators: start one (it runs in the background), follow
it, the history, and a run's report of corrupt and missing blobs with the repositories and
tags that need them."""

from ..errors import JobUnknown
from ..services import storage_verification
from ..services.callers import require_admin
from .common import caller, listing, page
from .serialize import job_fields

JOB = "storageVerify"
ADMINS_MAY = "verify the storage"


# what a verification's body shows, beside the fields of every job: key -> column
COUNTS = {
    "backend": "backend",
    "blobsTotal": "blobs_total",
    "bytesTotal": "bytes_total",
    "blobsChecked": "blobs_checked",
    "bytesChecked": "bytes_checked",
    "corrupt": "corrupt",
    "missing": "missing",
    "restored": "restored",
}


def verification(run, detail=False):
    body = job_fields(run, JOB)
    body.update({key: getattr(run, column) for key, column in COUNTS.items()})
    body["errors"] = storage_verification.errors_of(run)
    if detail:
        body["report"] = storage_verification.report_of(run)
    return body


def start_verification():
    identity = caller()
    require_admin(identity, ADMINS_MAY)
    run = storage_verification.start_verification(f"api:{identity.name}", actor=identity.name)
    return verification(run), 202


def list_verifications():
    require_admin(caller(), ADMINS_MAY)
    start, limit = page()
    runs = storage_verification.verification_history(limit, start)
    total = storage_verification.count_verifications()
    return listing("verifications", [verification(run) for run in runs], total, start, limit)


def get_verification(id):
    require_admin(caller(), ADMINS_MAY)
    if not id.isdecimal() or len(id) > 18:
        raise JobUnknown(f"no storage verification {id}", {"id": id})
    return verification(storage_verification.find_verification(int(id)), detail=True)
