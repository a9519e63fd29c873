"""Every metric DTR exposes, with its labels, and the small functions the rest of the code
calls to move them. Label values are bounded: route templates (never raw paths), HTTP
methods from a fixed list, backend and lease names that the code defines.

Under `serve` (gunicorn) the values live in PROMETHEUS_MULTIPROC_DIR, one file per worker
process, and a scrape sums them (`exposition.py`); without it (the Flask test client, the
CLI) they live in this process.
"""

import contextlib

from prometheus_client import Counter, Gauge, Histogram

UNMATCHED = "unmatched"  # the route label of a request that matched no URL rule
OTHER_METHOD = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
WEBHOOK_OUTCOMES = ("delivered", "failed", "retrying")

http_requests = Counter(
    "dtr_http_requests",
    "HTTP requests answered, by method, route template (the URL rule; `unmatched` for none) "
    "and status code.",
    ["method", "route", "status"],
)
http_request_duration = Histogram(
    "dtr_http_request_duration_seconds",
    "Time from receiving a request until its response body was handed to the server "
    "(streamed bodies included; for a file sent with sendfile, until the view returned).",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
http_request_body_bytes = Counter(
    "dtr_http_request_body_bytes",
    "Request body bytes read by DTR (uploads, manifests, JSON bodies), by route template.",
    ["route"],
)
http_response_body_bytes = Counter(
    "dtr_http_response_body_bytes",
    "Response body bytes handed to the server, by route template (a file sent with "
    "sendfile counts its Content-Length).",
    ["route"],
)
blob_uploads_in_progress = Gauge(
    "dtr_blob_uploads_in_progress",
    "Blob upload requests (POST, PATCH, PUT) receiving their bodies now.",
    multiprocess_mode="livesum",
)
gc_runs = Counter(
    "dtr_gc_runs",
    "Garbage collection runs that ended, by outcome (done, failed) and dry_run (true, false).",
    ["outcome", "dry_run"],
)
gc_duration = Histogram(
    "dtr_gc_duration_seconds",
    "Duration of the garbage collection runs that ended.",
    ["outcome"],
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600),
)
gc_reclaimed_bytes = Counter(
    "dtr_gc_reclaimed_bytes",
    "Blob bytes deleted by garbage collection (dry runs not counted).",
)
storage_errors = Counter(
    "dtr_storage_errors",
    "Errors raised by the storage driver (StorageError but PathNotFound: I/O, credentials, "
    "network, full), by backend and driver operation.",
    ["backend", "operation"],
)
database_writer_wait = Histogram(
    "dtr_database_writer_wait_seconds",
    "Time a write transaction waited for the writer lock (SQLite: the process's writer "
    "lock; PostgreSQL: the advisory writer lock), by database.",
    ["database"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
job_lease_acquired = Counter(
    "dtr_job_lease_acquired",
    "Job leases taken by this server (garbage collection, storage verification, periodic "
    "jobs), by lease.",
    ["lease"],
)
job_lease_lost = Counter(
    "dtr_job_lease_lost",
    "Job leases found taken by another holder when renewing them, by lease.",
    ["lease"],
)
job_lease_held_until = Gauge(
    "dtr_job_lease_held_until_seconds",
    "Unix time until which this server holds a job's lease (0: released or lost); held now "
    "when greater than time().",
    ["lease"],
    multiprocess_mode="max",
)
webhook_deliveries = Counter(
    "dtr_webhook_deliveries",
    "Webhook delivery attempts, by outcome: delivered (2xx), retrying (failed, will be "
    "retried), failed (failed for good).",
    ["outcome"],
)


def count_webhook_delivery(outcome: str):
    """One webhook delivery attempt ended with `outcome`, one of WEBHOOK_OUTCOMES."""
    if outcome not in WEBHOOK_OUTCOMES:
        raise ValueError(f"webhook delivery outcome {outcome!r}: one of {WEBHOOK_OUTCOMES}")
    webhook_deliveries.labels(outcome).inc()


@contextlib.contextmanager
def receiving_upload():
    """Within: one more blob upload request is receiving its body."""
    blob_uploads_in_progress.inc()
    try:
        yield
    finally:
        blob_uploads_in_progress.dec()


def record_gc_run(state: str, dry_run: bool, seconds: float, bytes_reclaimed: int):
    """A garbage collection run ended in `state` (done, failed) after `seconds`."""
    gc_runs.labels(state, "true" if dry_run else "false").inc()
    gc_duration.labels(state).observe(max(seconds, 0.0))
    if not dry_run and bytes_reclaimed:
        gc_reclaimed_bytes.inc(bytes_reclaimed)


def record_writer_wait(database: str, seconds: float):
    database_writer_wait.labels(database).observe(seconds)


def record_lease(name: str, held_until: float | None, lost=False):
    """This process took or renewed the lease `name` until `held_until` (Unix time), or let
    it go (None), or found it taken by another holder (`lost`)."""
    if held_until is None:
        job_lease_held_until.labels(name).set(0)
        if lost:
            job_lease_lost.labels(name).inc()
        return
    job_lease_held_until.labels(name).set(held_until)


def record_lease_taken(name: str, held_until: float):
    job_lease_acquired.labels(name).inc()
    record_lease(name, held_until)
