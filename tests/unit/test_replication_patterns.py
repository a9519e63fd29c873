"""Replication rules' name and tag patterns: `*` within a name component, `**` across."""

import pytest

from dtr.services.replication_rules import matches, remote_name


@pytest.mark.parametrize(
    ("patterns", "name", "expected"),
    [
        ("**", "team/app", True),
        ("team/*", "team/app", True),
        ("team/*", "team/app/extra", False),
        ("team/**", "team/app/extra", True),
        ("*/app", "team/app", True),
        ("*/app", "team/apps", False),
        ("team/app", "team/app", True),
        ("team/app", "team/app2", False),
        ("team/a.p", "team/axp", False),  # a dot is a dot, not any character
        ("other/*\nteam/*", "team/app", True),
        ("", "team/app", False),
        ("v*", "v1.2", True),
        ("v*", "latest", False),
        ("*", "sha256-abc.sig", True),
    ],
)
def test_patterns(patterns, name, expected):
    assert matches(patterns, name) is expected


def test_remote_names_keep_the_local_name_under_the_prefix():
    class Rule:
        remote_prefix = ""

    assert remote_name(Rule, "team/app") == "team/app"
    Rule.remote_prefix = "backup/site1"
    assert remote_name(Rule, "team/app") == "backup/site1/team/app"
