"""Prometheus metrics: what /metrics exposes (`instruments.py`, every metric in one place),
how requests are measured (`http.py`), storage errors counted (`storage_errors.py`), the
scrape answered (`exposition.py`, with the multi-process collector under gunicorn) and who
may read it (`endpoint.py`; the rule itself is `access.may_read_metrics`).

The rest of the code only calls the small functions of `instruments.py`; nothing a request
depends on reads a metric.
"""
