"""What a token may carry: the requested scopes intersected with what the access function
allows. A partial grant is still a grant (the registry then asks for more where needed)."""

from .. import access
from ..errors import DomainError
from ..services.repositories import repository_or_prospect
from ..trust.gun import repository_name
from .tokens import parse_scope

TOKEN_ACTIONS = {access.PULL: "pull", access.PUSH: "push", access.DELETE: "delete"}


def grant_scopes(identity, scopes):
    """The `access` claim for `identity` asking for `scopes` (strings)."""
    grants = {}
    for scope in scopes:
        parsed = parse_scope(scope)
        if parsed is None:
            continue
        kind, name, wanted = parsed
        if kind == "repository":
            allowed = _repository_actions(identity, name)
        elif kind == "registry" and name == "catalog":
            allowed = {"*"} if access.may_list_catalog(identity) else set()
        else:
            allowed = set()
        # "*" asks for everything (skopeo deletes with it): grant all that is allowed
        actions = sorted(allowed if "*" in wanted else allowed.intersection(wanted))
        if actions:
            previous = grants.setdefault((kind, name), set())
            previous.update(actions)
    return [
        {"type": kind, "name": name, "actions": sorted(actions)}
        for (kind, name), actions in grants.items()
    ]


def _repository_actions(identity, name):
    try:
        # a trust GUN (HOST/ns/repo, docker's notary client) stands for ns/repo
        repository = repository_or_prospect(repository_name(name))
    except DomainError:
        return set()
    allowed = access.allowed_actions(identity, repository)
    actions = {TOKEN_ACTIONS[a] for a in allowed if a in TOKEN_ACTIONS}
    if access.ADMIN in allowed:
        actions.add("*")
    return actions
