"""Immutable tag rules of a repository or a namespace."""

from ..services import immutable_tags
from . import serialize
from .common import caller, field, json_body


def _listing(rules):
    return {"immutableTagRules": [serialize.immutable_tag_rule(rule) for rule in rules]}


def list_repository_rules(namespace, repo):
    return _listing(immutable_tags.list_repository_rules(caller(), f"{namespace}/{repo}"))


def add_repository_rule(namespace, repo):
    identity, pattern = caller(), field(json_body(), "pattern")
    rule = immutable_tags.add_repository_rule(identity, f"{namespace}/{repo}", pattern)
    return serialize.immutable_tag_rule(rule), 201


def delete_repository_rule(namespace, repo, rule):
    immutable_tags.delete_repository_rule(caller(), f"{namespace}/{repo}", rule)
    return "", 204


def list_namespace_rules(namespace):
    return _listing(immutable_tags.list_namespace_rules(caller(), namespace))


def add_namespace_rule(namespace):
    identity, pattern = caller(), field(json_body(), "pattern")
    rule = immutable_tags.add_namespace_rule(identity, namespace, pattern)
    return serialize.immutable_tag_rule(rule), 201


def delete_namespace_rule(namespace, rule):
    immutable_tags.delete_namespace_rule(caller(), namespace, rule)
    return "", 204
