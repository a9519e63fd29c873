"""Resolve the repository of a registry request, after checking the caller may act on it."""

from .. import access
from ..errors import NameTaken, NameUnknown
from ..names import split_repository_name
from ..services.repositories import create_repository, lookup_repository
from ..services.settings import get_setting
from .authorization import current_caller, repository_scope, require


def authorized_repository(name, action, also_scope=None):
    """(repository, caller) for a request doing `action` on repository `name`; `also_scope`:
    another scope the request can use, named in the challenge too (the source of a mount)."""
    namespace, _ = split_repository_name(name)
    scope = " ".join(filter(None, (repository_scope(name, action), also_scope)))
    caller = current_caller(scope)
    require(caller, name, action, scope=scope)
    repository = lookup_repository(name)
    if repository is None:
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
