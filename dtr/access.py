"""THE permission function. Every registry request, token scope and API/UI action asks
`allowed_actions`; no permission logic lives anywhere else.

Actions: pull (see and pull), push (also push and delete tags), delete, admin (settings,
visibility, grants, deleting the repository).
"""

from .auth.identity import Identity
from .services.settings import get_setting

PULL, PUSH, DELETE, ADMIN = "pull", "push", "delete", "admin"
ALL = frozenset({PULL, PUSH, DELETE, ADMIN})
NOTHING = frozenset()
ROLE_ACTIONS = {
    "none": NOTHING,
    "read-only": frozenset({PULL}),
    "read-write": frozenset({PULL, PUSH, DELETE}),
    "admin": ALL,
}


def allowed_actions(identity: Identity, repository) -> frozenset:
    """What `identity` may do to `repository` (a `Repository` or a `RepositoryRef`).

    For a name that does not exist yet (`repository_or_prospect`), the answer is what the
    caller would have on a private repository of that name, which tells nothing the caller
    could not already see.
    """
    if get_setting("auth_mode") == "none":
        return NOTHING  # a fresh install: nothing until an admin chooses an auth mode
    actions = set(ROLE_ACTIONS.get(identity.role, NOTHING))
    if repository.visibility == "public":
        actions.add(PULL)
    if identity.account_id is not None and repository.namespace_id == identity.account_id:
        actions |= ALL
    return frozenset(actions)


def may_list_catalog(identity: Identity) -> bool:
    return get_setting("auth_mode") != "none" and identity.role == "admin"


def may_create_repository(identity: Identity, namespace_id: int | None) -> bool:
    """Users create repositories in their own namespace; admins anywhere."""
    if get_setting("auth_mode") == "none" or identity.anonymous:
        return False
    return identity.role == "admin" or (
        namespace_id is not None and namespace_id == identity.account_id
    )
