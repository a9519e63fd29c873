"""Trusted public keys of a repository or a namespace (for signature verification)."""

from ..services import trusted_keys
from . import serialize
from .common import caller, field, json_body


def _new_key():
    body = json_body()
    return field(body, "name"), field(body, "pem")


def _listing(keys):
    return {"trustedKeys": [serialize.trusted_key(key) for key in keys]}


def list_repository_keys(namespace, repo):
    return _listing(trusted_keys.list_repository_keys(caller(), f"{namespace}/{repo}"))


def add_repository_key(namespace, repo):
    identity = caller()
    key = trusted_keys.add_repository_key(identity, f"{namespace}/{repo}", *_new_key())
    return serialize.trusted_key(key), 201


def delete_repository_key(namespace, repo, key):
    trusted_keys.delete_repository_key(caller(), f"{namespace}/{repo}", key)
    return "", 204


def list_namespace_keys(namespace):
    return _listing(trusted_keys.list_namespace_keys(caller(), namespace))


def add_namespace_key(namespace):
    identity = caller()
    key = trusted_keys.add_namespace_key(identity, namespace, *_new_key())
    return serialize.trusted_key(key), 201


def delete_namespace_key(namespace, key):
    trusted_keys.delete_namespace_key(caller(), namespace, key)
    return "", 204
