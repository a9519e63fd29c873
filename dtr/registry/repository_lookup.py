"""Resolve the repository of a registry request, after checking the caller may act on it."""

from flask import g, request

from .. import access
from ..errors import NameTaken, NameUnknown
from ..names import split_repository_name
from ..services.proxy_caches import mirror_route
from ..services.repositories import create_repository, lookup_repository, repository_or_prospect
from ..services.settings import get_setting
from .authorization import current_caller, repository_scope, require


def route_mirrored_name(endpoint, values):
    """A name outside every namespace here that a proxy namespace answers for (docker's
    `registry-mirrors`, containerd's `?ns=`) is that proxy's copy; tokens still name what
    the client asked for (`g.dtr_requested_name`)."""
    name = (values or {}).get("name")
    if name is None:
        return
    routed = mirror_route(name, request.args.get("ns"))
    if routed != name:
        g.dtr_requested_name = name
        values["name"] = routed


def authorized_repository(name, action, also_scope=None):
    """(repository, caller) for a request doing `action` on repository `name`; `also_scope`:
    another scope the request can use, named in the challenge too (the source of a mount).
    A repository of a proxy namespace that no pull filled yet is its prospect (`id` None)."""
    namespace, _ = split_repository_name(name)
    requested = g.get("dtr_requested_name")
    scope = " ".join(filter(None, (repository_scope(requested or name, action), also_scope)))
    caller = current_caller(scope)
    require(caller, name, action, token_name=requested, scope=scope)
    repository = lookup_repository(name)
    if repository is None:
        prospect = repository_or_prospect(name)
        if prospect.proxied and action == access.PULL:
            return prospect, caller
        if action == access.PUSH and get_setting("create_on_push") and namespace == caller.name:
            try:
                repository = create_repository(caller.identity, name)
            except NameTaken:  # created by another push since the look (which had no lock)
                repository = lookup_repository(name)
        else:
            raise NameUnknown(
                f"repository {name} does not exist: create it first (web UI, API or "
                "`python app.py create-repo`), or ask an admin to enable create-on-push",
                {"name": name},
            )
    return repository, caller
