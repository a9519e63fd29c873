"""What a token may carry: the requested scopes intersected with what the access function
allows. A partial grant is still a grant (the registry then asks for more where needed)."""

from .. import access
from ..errors import DomainError
from ..services.proxy_caches import mirror_route
from ..services.repositories import repository_or_prospect
from ..trust.gun import repository_name
from .tokens import parse_scope


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
            allowed = {access.TOKEN_ALL} if access.may_list_catalog(identity) else set()
        else:
            allowed = set()
        # "*" asks for everything (skopeo deletes with it): grant all that is allowed
        wanted_all = access.TOKEN_ALL in wanted
        actions = sorted(allowed if wanted_all else allowed.intersection(wanted))
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
        # a name docker's registry-mirrors asks for stands for the proxy namespace's copy
        repository = repository_or_prospect(mirror_route(repository_name(name)))
    except DomainError:
        return set()
    return access.token_actions(access.allowed_actions(identity, repository))
