"""The scrape: the Prometheus text format of every metric, and the multi-process set-up of
`serve`.

Under gunicorn every worker writes its values to files in PROMETHEUS_MULTIPROC_DIR, a
private folder made fresh by the server's master before any worker starts (and removed
when it exits); a worker that exits is marked dead (its live gauges dropped, its counters
kept), and a scrape answered by any worker, or by the master's `--metrics-bind` listener,
sums them all. Without that variable (the Flask test client, one-off commands) the values
live in the process.

prometheus_client chooses where values live when it is first imported: `prepare_folder`
must run in the master before anything imports it, so this module imports it only inside
its functions.
"""

import os
import shutil
import tempfile

FOLDER_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def prepare_folder() -> str:
    """Make a fresh private folder for the workers' values and point the variable at it."""
    folder = tempfile.mkdtemp(prefix="dtr-metrics-")
    os.environ[FOLDER_VARIABLE] = folder
    return folder


def remove_folder(folder: str):
    shutil.rmtree(folder, ignore_errors=True)


def worker_exited(pid: int):
    """A worker process ended: its live gauges (uploads in progress) no longer count."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


def _registry():
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

    if not os.environ.get(FOLDER_VARIABLE):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def scrape(accept: str = "") -> tuple[bytes, str]:
    """(the text of every metric, its content type), in the format the Accept header asks
    for: the Prometheus text format 0.0.4 by default, OpenMetrics when asked."""
    from prometheus_client.exposition import choose_encoder

    encode, content_type = choose_encoder(accept)
    return encode(_registry()), content_type


def serve_without_authentication(bind: str):
    """Answer scrapes on `bind` (HOST:PORT), plain HTTP, no authentication, from a thread of
    this process (the server's master): for a Prometheus on a private network only."""
    from prometheus_client import start_http_server

    host, _, port = bind.rpartition(":")
    start_http_server(int(port), host.strip("[]") or "0.0.0.0", registry=_registry())
