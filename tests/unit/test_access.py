"""`access.allowed_actions` against its table (tests/unit/access_table.py)."""

import pytest

from dtr import access
from dtr.auth.identity import ANONYMOUS, Identity
from dtr.models import Repository
from tests.unit.access_table import rows

CALLER_ID, OTHER_ID = 1, 2


@pytest.mark.parametrize("mode,role,relation,visibility,expected", list(rows()))
def test_allowed_actions(monkeypatch, mode, role, relation, visibility, expected):
    monkeypatch.setattr(access, "get_setting", lambda key: {"auth_mode": mode}[key])
    identity = ANONYMOUS if role == "anonymous" else Identity("me", role, CALLER_ID)
    namespace = CALLER_ID if relation == "owner" else OTHER_ID
    repository = Repository(namespace_id=namespace, name="r", visibility=visibility)
    assert access.allowed_actions(identity, repository) == expected


def test_catalog_and_creation(monkeypatch):
    monkeypatch.setattr(access, "get_setting", lambda key: "managed")
    admin, user = Identity("a", "admin", 1), Identity("u", "read-write", 2)
    assert access.may_list_catalog(admin) and not access.may_list_catalog(user)
    assert not access.may_list_catalog(ANONYMOUS)
    assert access.may_create_repository(user, 2) and not access.may_create_repository(user, 1)
    assert access.may_create_repository(admin, 2)
    assert not access.may_create_repository(ANONYMOUS, None)
    monkeypatch.setattr(access, "get_setting", lambda key: "none")
    assert not access.may_list_catalog(admin) and not access.may_create_repository(admin, 1)
