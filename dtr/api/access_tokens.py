"""Personal access tokens of a user: create (the secret is in that answer only), list,
revoke."""

from ..services import access_tokens
from . import serialize
from .common import caller, field, json_body, optional_int


def create_token(name):
    body = json_body()
    token, secret = access_tokens.create_token(
        caller(),
        name,
        field(body, "name"),
        field(body, "scopes", list),
        optional_int(body, "expiresInDays"),
    )
    return serialize.access_token(token, secret), 201


def list_tokens(name):
    found = access_tokens.list_tokens(caller(), name)
    return {"tokens": [serialize.access_token(t) for t in found]}


def revoke_token(name, token_id):
    access_tokens.revoke_token(caller(), name, token_id)
    return "", 204
