"""Repositories, their tags and their access grants."""

from ..errors import InvalidInput
from ..services import deletion, grants, repositories, signatures
from ..services.field_checks import refuse_unknown_fields
from ..services.manifests import list_tag_details
from . import serialize
from .common import caller, field, json_body, listing, page


def list_all():
    start, limit = page()
    items, total = repositories.list_repositories(caller(), start=start, limit=limit)
    return listing("repositories", [serialize.repository(r) for r in items], total, start, limit)


def list_namespace(namespace):
    start, limit = page()
    identity = caller()
    repositories.namespace_or_404(namespace)
    items, total = repositories.list_repositories(identity, namespace, start, limit)
    return listing("repositories", [serialize.repository(r) for r in items], total, start, limit)


def create(namespace):
    body = json_body()
    visibility = field(body, "visibility", required=False, default="private")
    if visibility not in repositories.VISIBILITIES:
        raise InvalidInput("visibility: public or private", {"field": "visibility"})
    created = repositories.create_repository(
        caller(),
        f"{namespace}/{field(body, 'name')}",
        public=visibility == "public",
        short_description=field(body, "shortDescription", required=False, default=""),
        long_description=field(body, "longDescription", required=False, default=""),
    )
    return serialize.repository(created), 201


def get(namespace, repo):
    return serialize.repository(repositories.visible_repository(caller(), f"{namespace}/{repo}"))


def update(namespace, repo):
    body = json_body()
    changeable = {"visibility", "shortDescription", "longDescription", "pullOnlySigned"}
    refuse_unknown_fields(body, changeable, "cannot be changed")
    changed = repositories.update_repository(caller(), f"{namespace}/{repo}", body)
    return serialize.repository(changed)


def delete(namespace, repo):
    repositories.delete_repository(caller(), f"{namespace}/{repo}")
    return "", 204


def tags(namespace, repo):
    repository = repositories.visible_repository(caller(), f"{namespace}/{repo}")
    details = list_tag_details(repository)
    found = signatures.provenance(repository, [(tag["name"], tag["digest"]) for tag in details])
    return {"tags": [{**tag, **serialize.provenance(found[tag["name"]])} for tag in details]}


def _level_body():
    return field(json_body(), "accessLevel")


def list_team_access(namespace, repo):
    found = grants.list_repository_team_access(caller(), f"{namespace}/{repo}")
    return {
        "teamAccessList": [
            {"team": serialize.team(t, namespace), "accessLevel": level} for t, level in found
        ]
    }


def set_team_access(namespace, repo, team):
    level = _level_body()
    found, level = grants.set_repository_team_access(caller(), f"{namespace}/{repo}", team, level)
    return {"team": serialize.team(found, namespace), "accessLevel": level}


def revoke_team_access(namespace, repo, team):
    grants.revoke_repository_team_access(caller(), f"{namespace}/{repo}", team)
    return "", 204


def list_user_access(namespace, repo):
    found = grants.list_repository_user_access(caller(), f"{namespace}/{repo}")
    return {
        "userAccessList": [
            {"user": serialize.account(u), "accessLevel": level} for u, level in found
        ]
    }


def set_user_access(namespace, repo, user):
    level = _level_body()
    found, level = grants.set_repository_user_access(caller(), f"{namespace}/{repo}", user, level)
    return {"user": serialize.account(found), "accessLevel": level}


def revoke_user_access(namespace, repo, user):
    grants.revoke_repository_user_access(caller(), f"{namespace}/{repo}", user)
    return "", 204


def list_namespace_team_access(namespace):
    found = grants.list_namespace_team_access(caller(), namespace)
    return {
        "teamAccessList": [
            {"team": serialize.team(t, namespace), "accessLevel": level} for t, level in found
        ]
    }


def set_namespace_team_access(namespace, team):
    level = _level_body()
    found, level = grants.set_namespace_team_access(caller(), namespace, team, level)
    return {"team": serialize.team(found, namespace), "accessLevel": level}


def revoke_namespace_team_access(namespace, team):
    grants.revoke_namespace_team_access(caller(), namespace, team)
    return "", 204


def delete_tag(namespace, repo, tag):
    deletion.soft_delete_tag(caller(), f"{namespace}/{repo}", tag)
    return "", 204


def delete_manifest(namespace, repo, reference):
    deletion.soft_delete_manifest(caller(), f"{namespace}/{repo}", reference)
    return "", 204
