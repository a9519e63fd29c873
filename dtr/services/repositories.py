"""Repositories: lookup by name, creation."""

from dataclasses import dataclass

from sqlalchemy import select

from .. import access
from ..database import db
from ..errors import Denied, NameTaken, NameUnknown
from ..models import Account, Repository
from ..names import split_repository_name
from . import lookup_caches
from .accounts import find_account


@dataclass(frozen=True)
class RepositoryRef:
    """What the registry needs to know of a repository; safe to share between threads.
    `id` is None for a name that does not exist yet (see `repository_or_prospect`)."""

    id: int | None
    namespace_id: int | None
    name: str
    visibility: str


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
        repository.id, repository.namespace_id, repository.name, repository.visibility
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
    return RepositoryRef(None, account.id if account else None, name, "private")


def create_repository(identity, full_name, public=False, short_description="") -> Repository:
    namespace_name, name = split_repository_name(full_name)
    namespace = find_account(namespace_name)
    if namespace is None:
        raise NameUnknown(f"there is no user or organization named {namespace_name!r}")
    if identity is not None and not access.may_create_repository(identity, namespace.id):
        raise Denied(f"you may not create repositories in {namespace_name!r}")
    if find_repository(full_name) is not None:
        raise NameTaken(f"repository {full_name} already exists")
    repository = Repository(
        namespace_id=namespace.id,
        name=name,
        visibility="public" if public else "private",
        short_description=short_description,
    )
    db.session.add(repository)
    db.session.commit()
    lookup_caches.repositories.invalidate(full_name)
    return repository
