"""The fuzz suite's hypothesis profile (tests/fuzz/profiles.py): loaded here unless the run
names another with `--hypothesis-profile`; falsifying examples printed again in property
tests; a line on what the API fuzzing sent."""

import pytest
from hypothesis import core, settings
from hypothesis.vendor import pretty

from tests.fuzz import profiles, report

profiles.register()


def pytest_configure(config):
    if not config.getoption("hypothesis_profile", default=None):
        settings.load_profile(profiles.CI_PROFILE)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Schemathesis (loaded as a pytest plugin) swaps hypothesis's printer for one that prints
    nothing, which is quicker for its big cases but leaves a failing property test without
    its input: the property tests get hypothesis's own printer back."""
    if type(item).__module__.startswith("schemathesis"):
        return (yield)
    swapped, core.RepresentationPrinter = core.RepresentationPrinter, pretty.RepresentationPrinter
    try:
        return (yield)
    finally:
        core.RepresentationPrinter = swapped


def pytest_terminal_summary(terminalreporter):
    line = report.summary()
    if line:
        terminalreporter.write_line(line)
