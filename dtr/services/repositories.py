"""Repositories: lookup by name, creation."""

from dataclasses import dataclass

from sqlalchemy import func, or_, select

from .. import access
from ..database import db, write_transaction
from ..errors import Denied, InvalidCredentials, InvalidInput, NameTaken, NameUnknown
from ..models import Account, Repository
from ..names import split_repository_name
from . import audit, events, lookup_caches
from .accounts import find_account
from .callers import require_logged_in
from .content_trust import delete_trust_data
from .events import Event
from .field_checks import checked_flag
from .proxy_caches import proxy_visibility
from .search import contains_pattern


@dataclass(frozen=True)
class RepositoryRef:
    """What the registry needs to know of a repository; safe to share between threads.
    `id` is None for a name that does not exist yet (see `repository_or_prospect`)."""

    id: int | None
    namespace_id: int | None
    name: str
    visibility: str
    pull_only_signed: bool = False  # see services/signatures.py
    proxied: bool = False  # of a proxy namespace: pulls fill it (services/pull_through.py)
    read_only: bool = False  # nobody pushes: proxied, or a pull replication's mirror


def find_repository(full_name) -> Repository | None:
    namespace, name = split_repository_name(full_name)
    return db.session.execute(
        select(Repository)
        .join(Account, Repository.namespace_id == Account.id)
        .where(Account.name == namespace, Repository.name == name)
    ).scalar_one_or_none()


def lookup_repository(full_name) -> RepositoryRef | None:
    """The repository of a name, through the lookup cache."""
    cache = lookup_caches.repositories
    cached = cache.get(full_name, None)
    if cached is not None:
        return cached
    generation = cache.generation(full_name)
    repository = find_repository(full_name)
    if repository is None:
        return None
    ref = RepositoryRef(
        repository.id,
        repository.namespace_id,
        repository.name,
        repository.visibility,
        repository.pull_only_signed,
        repository.proxied,
        repository.read_only,
    )
    cache.put(full_name, None, ref, generation)
    return ref


def repository_or_prospect(full_name) -> RepositoryRef:
    """The repository, or one standing for a name not yet created (`id` None, private)."""
    repository = lookup_repository(full_name)
    if repository is not None:
        return repository
    namespace, name = split_repository_name(full_name)
    account = find_account(namespace)
    if account is not None and account.is_proxy:  # what a pull through it would create
        return RepositoryRef(
            None, account.id, name, proxy_visibility(account.id), proxied=True, read_only=True
        )
    return RepositoryRef(None, account.id if account else None, name, "private")


VISIBILITIES = ("public", "private")


def create_repository(
    identity, full_name, public=False, short_description="", long_description=""
) -> Repository:
    """Create a repository, in a write transaction of its own (also from a request whose
    transactions are read-only: a push creating it); `identity` None is the command line
    (no permission check)."""
    namespace_name, name = split_repository_name(full_name)
    with write_transaction():
        namespace = find_account(namespace_name)
        if namespace is None:
            raise NameUnknown(f"there is no user or organization named {namespace_name!r}")
        if identity is not None and identity.anonymous:
            raise InvalidCredentials("authentication required")
        if identity is not None and not access.may_create_repository(identity, namespace.id):
            raise Denied(f"you may not create repositories in {namespace_name!r}")
        if find_repository(full_name) is not None:
            raise NameTaken(f"repository {full_name} already exists", {"name": full_name})
        repository = Repository(
            namespace_id=namespace.id,
            name=name,
            visibility="public" if public else "private",
            short_description=_text(short_description, "shortDescription", 140),
            long_description=_text(long_description, "longDescription", 100_000),
        )
        db.session.add(repository)
        events.publish(
            Event(events.REPOSITORY_CREATE, identity.name if identity else None, full_name)
        )
    lookup_caches.repositories.invalidate(full_name)
    return repository


def _text(value, field, limit):
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInput(f"{field}: a string of at most {limit} characters", {"field": field})
    return value


def visible_repository(identity, full_name, action=access.PULL) -> Repository:
    """The repository if the caller may do `action` on it. A repository the caller may not
    see is unknown (404), one they see but may not change is Denied (403)."""
    repository = find_repository(full_name)
    allowed = access.allowed_actions(identity, repository) if repository else frozenset()
    if access.PULL not in allowed:
        raise NameUnknown(f"repository {full_name} not found", {"name": full_name})
    if action not in allowed and identity.anonymous:
        raise InvalidCredentials("authentication required")
    if action not in allowed:
        raise Denied(f"you may not {action} {full_name}")
    return repository


def list_repositories(identity, namespace=None, start=0, limit=100, query=None):
    """Repositories the caller may see, by full name; optionally of one namespace and
    matching a search text (namespace, name or descriptions). Returns (page, total)."""
    conditions = [access.visible_repositories(identity)]
    if namespace is not None:
        conditions.append(Account.name == namespace)
    if query:
        pattern = contains_pattern(query)
        conditions.append(
            or_(
                func.lower(Account.name + "/" + Repository.name).like(pattern, escape="\\"),
                func.lower(Repository.short_description).like(pattern, escape="\\"),
                func.lower(Repository.long_description).like(pattern, escape="\\"),
            )
        )
    base = (
        select(Repository).join(Account, Repository.namespace_id == Account.id).where(*conditions)
    )
    total = db.session.scalar(select(func.count()).select_from(base.subquery()))
    page = db.session.scalars(
        base.order_by(Account.name, Repository.name).offset(start).limit(limit)
    )
    return list(page), total


def update_repository(identity, full_name, changes: dict) -> Repository:
    """Change visibility, descriptions and the signed-only pull policy (admin level on the
    repository)."""
    repository = visible_repository(identity, full_name, access.ADMIN)
    if "visibility" in changes:
        if changes["visibility"] not in VISIBILITIES:
            raise InvalidInput("visibility: public or private", {"field": "visibility"})
        repository.visibility = changes["visibility"]
    if "shortDescription" in changes:
        repository.short_description = _text(changes["shortDescription"], "shortDescription", 140)
    if "longDescription" in changes:
        repository.long_description = _text(changes["longDescription"], "longDescription", 100_000)
    if "pullOnlySigned" in changes:
        repository.pull_only_signed = checked_flag(changes["pullOnlySigned"], "pullOnlySigned")
    audit.record(identity.name, "repository.update", full_name, changes)
    db.session.commit()
    lookup_caches.repositories.invalidate(full_name)
    return repository


def delete_repository(identity, full_name):
    """Delete a repository with its tags, manifests and grants; its blobs become garbage
    for the garbage collector. Idempotent for callers who could have seen it."""
    repository = find_repository(full_name)
    if repository is None:
        if not access.may_create_repository(identity, _namespace_id(full_name)):
            raise NameUnknown(f"repository {full_name} not found", {"name": full_name})
        return
    visible_repository(identity, full_name, access.ADMIN)
    repository_id = repository.id
    delete_trust_data(repository_id)
    db.session.delete(repository)
    events.publish(Event(events.REPOSITORY_DELETE, identity.name, full_name))
    db.session.commit()
    lookup_caches.repositories.invalidate(full_name)
    lookup_caches.manifests.invalidate(repository_id)
    lookup_caches.blob_links.invalidate(repository_id)


def _namespace_id(full_name):
    account = find_account(split_repository_name(full_name)[0])
    return account.id if account else None


def forget_all_lookups():
    """Drop every cached lookup (an account and all its repositories went)."""
    lookup_caches.forget_all()


def namespace_or_404(namespace) -> Account:
    account = find_account(namespace)
    if account is None:
        raise NameUnknown(f"no user or organization named {namespace!r}", {"name": namespace})
    return account


def administered_namespace(identity, namespace, managing) -> Account:
    """The namespace's account when the caller may manage `managing` (what a refusal names)
    in all of it: administrators, the user whose namespace it is, owners of the organization
    and teams with an admin-level namespace grant (`access.may_create_repository`)."""
    require_logged_in(identity)
    account = namespace_or_404(namespace)
    if not access.may_create_repository(identity, account.id):
        raise Denied(f"you may not manage {managing} of {namespace!r}")
    return account


def creatable_namespaces(identity) -> list[str]:
    """Where the caller may create repositories: their own namespace first, then the
    organizations (admins: all; others: those where they own or hold a namespace grant)."""
    if identity.anonymous:
        return []
    organizations = db.session.execute(
        select(Account.id, Account.name).where(Account.is_org).order_by(Account.name)
    ).all()
    names = [identity.name]
    names += [name for id_, name in organizations if access.may_create_repository(identity, id_)]
    return names
