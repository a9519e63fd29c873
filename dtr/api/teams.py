"""Teams of an organization and their members."""

from ..services import teams
from . import serialize
from .common import caller, field, json_body


def list_teams(org):
    return {"teams": [serialize.team(t, org) for t in teams.list_teams(caller(), org)]}


def create_team(org):
    body = json_body()
    team = teams.create_team(
        caller(),
        org,
        field(body, "name"),
        field(body, "description", required=False, default=""),
        field(body, "ldapGroupDN", required=False),
        field(body, "oidcGroup", required=False),
    )
    return serialize.team(team, org), 201


def get_team(org, team):
    return serialize.team(teams.get_team(caller(), org, team), org)


def update_team(org, team):
    changed = teams.update_team(caller(), org, team, json_body())
    return serialize.team(changed, org)


def delete_team(org, team):
    teams.delete_team(caller(), org, team)
    return "", 204


def list_members(org, team):
    members = teams.list_members(caller(), org, team)
    return {"members": [serialize.account(m) for m in members]}


def get_member(org, team, member):
    teams.membership(caller(), org, team, member)
    return {"member": member, "team": team, "organization": org}


def add_member(org, team, member):
    added = teams.add_member(caller(), org, team, member)
    return {"member": member, "team": team, "organization": org}, 201 if added else 200


def remove_member(org, team, member):
    teams.remove_member(caller(), org, team, member)
    return "", 204


def repository_access(org, team):
    grants = teams.team_repository_access(caller(), org, team)
    return {
        "repositoryAccessList": [
            {"repository": serialize.repository(r), "accessLevel": level} for r, level in grants
        ]
    }
