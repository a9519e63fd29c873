"""Upgrade fixtures: instances made and filled by a previous release (make_fixture.py), which
tests/integration/test_upgrade_from_*.py upgrade with the current code."""
