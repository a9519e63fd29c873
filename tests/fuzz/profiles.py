"""The hypothesis settings of the fuzz suite (registered and loaded by tests/fuzz/conftest.py).

CI runs `dtr-fuzz-ci`: a fixed number of examples per property, derandomized (the same
inputs on every run, so a failure in CI fails the same way on a laptop), no example database
and no deadline (a slow machine must not turn into a failure). For a longer, randomized hunt:
`.venv/bin/python -m pytest tests/fuzz --hypothesis-profile=dtr-fuzz-deep`, with
`DTR_FUZZ_API_EXAMPLES=500 DTR_FUZZ_API_BUDGET_SECONDS=3600 DTR_FUZZ_API_SEED=N` for the
schemathesis module.
"""

import os

from hypothesis import HealthCheck, Phase, settings

CI_PROFILE = "dtr-fuzz-ci"
DEEP_PROFILE = "dtr-fuzz-deep"

# Examples per property test (unit level: microseconds each).
PROPERTY_EXAMPLES = 200
# Generated examples per API operation and user, on top of schemathesis's deterministic
# coverage cases (boundaries, wrong types, missing fields: about 20 per operation).
# 75: about 21,000 requests, two minutes on a 2-core machine.
API_EXAMPLES = int(os.environ.get("DTR_FUZZ_API_EXAMPLES", "75"))
# Schemathesis derives each operation's seed from it: the same cases on every run, whatever
# edits the test module has (DTR_FUZZ_API_SEED=N for other ones).
API_SEED = int(os.environ.get("DTR_FUZZ_API_SEED", "12"))
# The schemathesis module stops sending (and says how many cases it left) after this long.
API_TIME_BUDGET_SECONDS = float(os.environ.get("DTR_FUZZ_API_BUDGET_SECONDS", "210"))

_STEADY = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


def register():
    settings.register_profile(
        CI_PROFILE,
        max_examples=PROPERTY_EXAMPLES,
        derandomize=True,
        database=None,
        **_STEADY,
    )
    settings.register_profile(DEEP_PROFILE, max_examples=20 * PROPERTY_EXAMPLES, **_STEADY)


def api_settings():
    """Settings of the schemathesis tests: the active profile, API_EXAMPLES generated cases,
    no shrinking (each shrink step is a request: the failing case is reported as found)."""
    return settings(
        settings.default,
        max_examples=API_EXAMPLES,
        phases=(Phase.explicit, Phase.generate),
    )
