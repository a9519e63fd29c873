"""Replication rules, their runs and the runs' items, for administrators."""

from ..services import replication_rules, replication_runs
from . import serialize
from .common import caller, json_body


def list_rules():
    rules = replication_rules.list_rules(caller())
    last = replication_runs.last_runs(rule.id for rule in rules)
    return {"rules": [serialize.replication_rule(rule, last.get(rule.id)) for rule in rules]}


def create_rule():
    identity, body = caller(), json_body()
    rule = replication_rules.create_rule(identity, body)
    return serialize.replication_rule(rule, None), 201


def get_rule(rule_name):
    found = replication_rules.get_rule(caller(), rule_name)
    return serialize.replication_rule(found, replication_runs.last_runs([found.id]).get(found.id))


def update_rule(rule_name):
    identity, body = caller(), json_body()
    changed = replication_rules.update_rule(identity, rule_name, body)
    last = replication_runs.last_runs([changed.id]).get(changed.id)
    return serialize.replication_rule(changed, last)


def delete_rule(rule_name):
    replication_rules.delete_rule(caller(), rule_name)
    return "", 204


def run_rule(rule_name):
    return serialize.replication_run(replication_runs.run_now(caller(), rule_name)), 202


def list_runs(rule_name):
    runs = replication_runs.list_runs(caller(), rule_name)
    return {"runs": [serialize.replication_run(run) for run in runs]}


def get_run(run):
    found = replication_runs.get_run(caller(), run)
    items = replication_runs.run_items(found)
    return serialize.replication_run(found, items)


def retry_run(run):
    return serialize.replication_run(replication_runs.retry_run(caller(), run)), 202
