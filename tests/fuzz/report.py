"""What the API fuzzing sent, for the line pytest prints at the end (tests/fuzz/conftest.py)."""

API_STATS = {}  # test_api_schema.py: cases, requests, left (unsent: time budget), seconds


def summary():
    if not API_STATS:
        return None
    return (
        "fuzz /api/v0: {cases} schemathesis cases, {requests} requests in {seconds:.0f} s, "
        "{left} cases left unsent (time budget)".format(**API_STATS)
    )
