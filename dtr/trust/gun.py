"""Notary names trust data by GUN, the image name with the registry host: `HOST/ns/repo`.
The docker CLI asks this registry's own address for it (in the URL and in the token scope),
so the host must be one this registry answers to."""

from flask import has_request_context, request

from .. import names
from ..errors import NameUnknown
from ..names import split_repository_name
from ..services.settings import domain_name


def is_gun(name: str) -> bool:
    """Repository names have two components (or more in a proxy namespace); a GUN has the
    host in front."""
    return name.count("/") >= 2 and not names.has_nested_names(name.split("/", 1)[0])


def repository_name(name: str) -> str:
    """`ns/repo` for a GUN of this registry (or for `ns/repo` itself); NameUnknown when the
    GUN names another host."""
    if not is_gun(name):
        return name
    host, repository = name.split("/", 1)
    if host.lower() not in _own_hosts():
        raise NameUnknown(
            f"trust data of {host} is not kept here: the GUN must start with this registry's "
            f"host ({domain_name()})",
            {"name": name[:300]},
        )
    split_repository_name(repository)
    return repository


def _own_hosts() -> set:
    domain = domain_name().lower()
    hosts = {domain, f"{domain}:443"}
    if has_request_context():
        hosts.add(request.host.lower())
    return hosts
