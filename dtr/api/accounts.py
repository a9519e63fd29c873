"""Accounts: users and organizations."""

from ..auth.authentication import request_is_local
from ..errors import InvalidInput
from ..services import accounts
from ..services.field_checks import refuse_unknown_fields
from . import serialize
from .common import caller, field, json_body, listing, page


def list_accounts():
    start, limit = page()
    items, total = accounts.list_accounts(caller(), start, limit)
    return listing("accounts", [serialize.account(a) for a in items], total, start, limit)


def create_account():
    body = json_body()
    kind = field(body, "type", default="user", required=False)
    name = field(body, "name")
    actor = caller(setting_up=True)
    if kind == "organization":
        created = accounts.create_organization(name, actor)
    elif kind == "user":
        role = field(body, "role", required=False, default="none")
        created = accounts.create_user(
            name,
            field(body, "password"),
            role,
            actor,
            setup_code_given=field(body, "setupCode", required=False),
            local=request_is_local(),
        )
    else:
        raise InvalidInput("type: user or organization", {"field": "type"})
    return serialize.account(created), 201


def import_users():
    created = accounts.import_users_csv(caller(), field(json_body(), "csv"))
    return {"accounts": [serialize.account(a) for a in created]}, 201


def get_account(name):
    return serialize.account(accounts.get_account(caller(), name))


def update_account(name):
    body = json_body()
    refuse_unknown_fields(body, {"role"}, "cannot be changed here")
    return serialize.account(accounts.set_role(caller(), name, field(body, "role")))


def delete_account(name):
    accounts.delete_account(caller(), name)
    return "", 204


def activate(name):
    return serialize.account(accounts.set_active(caller(), name, True))


def deactivate(name):
    return serialize.account(accounts.set_active(caller(), name, False))


def change_password(name):
    body = json_body()
    old = field(body, "oldPassword", required=False, default="")
    accounts.change_password(caller(), name, old, field(body, "newPassword"))
    return "", 204


def organizations_of(name):
    found = accounts.organizations_of(caller(), name)
    return {"organizations": [serialize.account(o) for o in found]}
