"""Repositories: lookup by name, creation."""

from sqlalchemy import select

from .. import access
from ..database import db
from ..errors import Denied, NameTaken, NameUnknown
from ..models import Account, Repository
from ..names import split_repository_name
from .accounts import find_account


def find_repository(full_name) -> Repository | None:
    namespace, name = split_repository_name(full_name)
    return db.session.execute(
        select(Repository)
        .join(Account, Repository.namespace_id == Account.id)
        .where(Account.name == namespace, Repository.name == name)
    ).scalar_one_or_none()


def repository_or_prospect(full_name) -> Repository:
    """The repository, or a transient one (not stored) standing for a name not yet created."""
    repository = find_repository(full_name)
    if repository is not None:
        return repository
    namespace, name = split_repository_name(full_name)
    account = find_account(namespace)
    return Repository(namespace_id=account.id if account else None, name=name, visibility="private")


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
    return repository
