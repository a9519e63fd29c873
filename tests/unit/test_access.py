"""`access.allowed_actions` against its table (tests/unit/access_table.py), on a real
database holding one repository per relation."""

import pytest
from sqlalchemy import select

from dtr import access, create_app
from dtr.auth.identity import ANONYMOUS, ROBOT, TOKEN, Identity, RobotGrant
from dtr.database import db
from dtr.models import (
    Account,
    NamespaceTeamAccess,
    Repository,
    RepositoryTeamAccess,
    RepositoryUserAccess,
    Team,
    TeamMember,
)
from tests.unit.access_table import robot_rows, rows, token_rows

LEVELS = {"ro": "read-only", "rw": "read-write", "admin": "admin"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A caller `me`, an organization per organization relation, a repository per relation."""
    app = create_app(tmp_path_factory.mktemp("access") / "instance")
    with app.app_context():
        db.create_all()
        me = Account(name="me", role="none")
        other = Account(name="other", role="none")
        db.session.add_all([me, other])
        db.session.flush()
        relations = {}

        def repository(namespace, relation):
            repo = Repository(namespace_id=namespace.id, name=relation, visibility="private")
            db.session.add(repo)
            db.session.flush()
            relations[relation] = repo
            return repo

        def organization(relation):
            org = Account(name=f"org-{relation}", is_org=True)
            db.session.add(org)
            db.session.flush()
            owners = Team(organization_id=org.id, name="owners")
            team = Team(organization_id=org.id, name="team")
            db.session.add_all([owners, team])
            db.session.flush()
            return org, owners, team

        repository(me, "owner")
        org, owners, _ = organization("owners-team")
        db.session.add(TeamMember(team_id=owners.id, account_id=me.id))
        repository(org, "owners-team")
        for short, level in LEVELS.items():
            org, _, team = organization(f"team-{short}")
            db.session.add(TeamMember(team_id=team.id, account_id=me.id))
            repo = repository(org, f"team-{short}")
            db.session.add(
                RepositoryTeamAccess(repository_id=repo.id, team_id=team.id, level=level)
            )
            org, _, team = organization(f"ns-{short}")
            db.session.add(TeamMember(team_id=team.id, account_id=me.id))
            repository(org, f"ns-{short}")
            db.session.add(NamespaceTeamAccess(namespace_id=org.id, team_id=team.id, level=level))
            repo = repository(other, f"user-{short}")
            db.session.add(
                RepositoryUserAccess(repository_id=repo.id, account_id=me.id, level=level)
            )
        org, _, team = organization("no-grant")
        db.session.add(TeamMember(team_id=team.id, account_id=me.id))  # a member, no grant
        repository(org, "no-grant")
        db.session.commit()
        yield me.id, relations


@pytest.mark.parametrize("mode,role,relation,visibility,expected", list(rows()))
def test_allowed_actions(world, monkeypatch, mode, role, relation, visibility, expected):
    me_id, relations = world
    monkeypatch.setattr(access, "get_setting", lambda key: {"auth_mode": mode}[key])
    identity = ANONYMOUS if role == "anonymous" else Identity("me", role, me_id)
    repository = relations[relation]
    repository.visibility = visibility
    assert access.allowed_actions(identity, repository) == expected


def test_organization_powers(world, monkeypatch):
    me_id, relations = world
    monkeypatch.setattr(access, "get_setting", lambda key: "managed")
    me = Identity("me", "none", me_id)
    admin = Identity("root", "admin", 999)

    def org_of(relation):
        return relations[relation].namespace_id

    assert access.may_administer_organization(me, org_of("owners-team"))
    assert not access.may_administer_organization(me, org_of("team-admin"))
    assert access.may_administer_organization(admin, org_of("team-admin"))
    assert access.may_create_repository(me, org_of("owners-team"))
    assert access.may_create_repository(me, org_of("ns-admin"))
    assert not access.may_create_repository(me, org_of("ns-rw"))
    assert not access.may_create_repository(me, org_of("team-admin"))
    assert access.may_create_repository(me, me_id)
    assert access.may_see_organization_members(me, org_of("no-grant"))
    assert not access.may_see_organization_members(Identity("x", "none", 998), org_of("no-grant"))
    assert access.may_list_catalog(admin) and not access.may_list_catalog(me)
    assert not access.may_list_catalog(ANONYMOUS)
    assert not access.may_create_repository(ANONYMOUS, me_id)
    monkeypatch.setattr(access, "get_setting", lambda key: "none")
    assert not access.may_list_catalog(admin) and not access.may_create_repository(admin, me_id)
    assert not access.may_administer_organization(admin, org_of("owners-team"))


def test_prospective_repository_gets_namespace_grants(world, monkeypatch):
    """A name not yet created is judged like a private repository of its namespace."""
    from dtr.services.repositories import RepositoryRef

    me_id, relations = world
    monkeypatch.setattr(access, "get_setting", lambda key: "managed")
    me = Identity("me", "none", me_id)
    for relation, expected in (("ns-rw", {"pull", "push", "delete"}), ("team-rw", set())):
        prospect = RepositoryRef(None, relations[relation].namespace_id, "new", "private")
        assert access.allowed_actions(me, prospect) == expected


@pytest.mark.parametrize(
    "mode,role,relation,visibility,expected", [r for r in rows() if r[0] == "managed"]
)
def test_listing_filter_agrees_with_the_table(
    world, monkeypatch, mode, role, relation, visibility, expected
):
    """`visible_repositories` (SQL, for listings) shows exactly what the table lets pull."""
    from sqlalchemy import select

    me_id, relations = world
    monkeypatch.setattr(access, "get_setting", lambda key: {"auth_mode": mode}[key])
    identity = ANONYMOUS if role == "anonymous" else Identity("me", role, me_id)
    repository = relations[relation]
    repository.visibility = visibility
    db.session.flush()
    visible = set(
        db.session.scalars(select(Repository.id).where(access.visible_repositories(identity)))
    )
    assert (repository.id in visible) == ("pull" in expected)


@pytest.mark.parametrize("scopes,role,relation,visibility,expected", list(token_rows()))
def test_access_token_rows(world, monkeypatch, scopes, role, relation, visibility, expected):
    """A personal access token does what its owner may, narrowed to its scopes."""
    me_id, relations = world
    monkeypatch.setattr(access, "get_setting", lambda key: "managed")
    token = Identity("me", role, me_id, kind=TOKEN, scopes=scopes)
    repository = relations[relation]
    repository.visibility = visibility
    assert access.allowed_actions(token, repository) == expected
    db.session.flush()
    visible = set(
        db.session.scalars(select(Repository.id).where(access.visible_repositories(token)))
    )
    assert (repository.id in visible) == ("pull" in expected)


def _robot(grant, namespace_id, repository_id):
    if grant == "none":
        return Identity("org+bot", kind=ROBOT)
    scope, _, level = grant.partition("-")
    actions = frozenset({"pull"} if level == "pull" else {"pull", "push"})
    target = repository_id if scope == "repo" else None
    return Identity(
        "org+bot", kind=ROBOT, robot_grants=(RobotGrant(target, namespace_id, actions),)
    )


@pytest.mark.parametrize("grant,target,visibility,expected", list(robot_rows()))
def test_robot_rows(world, monkeypatch, grant, target, visibility, expected):
    """A robot does what its grants name in its organization, and pulls public repositories;
    nothing else (no role, no teams, no other organization)."""
    _, relations = world
    monkeypatch.setattr(access, "get_setting", lambda key: "managed")
    granted = relations["team-rw"]  # a repository of organization org-team-rw
    sibling = Repository(namespace_id=granted.namespace_id, name="sibling", visibility="private")
    foreign = relations["team-ro"]  # another organization's
    db.session.add(sibling)
    db.session.flush()
    robot = _robot(grant, granted.namespace_id, granted.id)
    repository = {"granted": granted, "sibling": sibling, "foreign": foreign}[target]
    repository.visibility = visibility
    assert access.allowed_actions(robot, repository) == expected
    visible = set(
        db.session.scalars(select(Repository.id).where(access.visible_repositories(robot)))
    )
    assert (repository.id in visible) == ("pull" in expected)
    assert not access.may_list_catalog(robot)
    assert not access.may_administer_organization(robot, granted.namespace_id)
    assert not access.may_create_repository(robot, granted.namespace_id)
    db.session.rollback()


def test_global_admin_check(world, monkeypatch):
    monkeypatch.setattr(access, "get_setting", lambda key: "managed")
    assert access.is_admin(Identity("root", "admin", 1))
    assert access.is_admin(Identity("root", "admin", 1, kind=TOKEN, scopes=frozenset({"api:read"})))
    assert not access.is_admin(Identity("root", "read-write", 1))
    assert not access.is_admin(Identity("org+bot", "admin", kind=ROBOT))
    assert not access.is_admin(ANONYMOUS)


def test_read_only_repositories_are_never_pushed(world, monkeypatch):
    """A proxy namespace's repository or a pull replication's mirror: no push for anyone,
    its owner, a global admin and a robot granted push included; the rest stays."""
    from dtr.services.repositories import RepositoryRef

    me_id, relations = world
    monkeypatch.setattr(access, "get_setting", lambda key: "managed")
    owned = relations["owner"]
    mirror = RepositoryRef(owned.id, owned.namespace_id, owned.name, "private", read_only=True)
    writable = RepositoryRef(owned.id, owned.namespace_id, owned.name, "private")
    me, admin = Identity("me", "none", me_id), Identity("root", "admin", 999)
    assert access.allowed_actions(me, writable) == {"pull", "push", "delete", "admin"}
    assert access.allowed_actions(me, mirror) == {"pull", "delete", "admin"}
    assert access.allowed_actions(admin, mirror) == {"pull", "delete", "admin"}
    grant = RobotGrant(None, owned.namespace_id, frozenset({"pull", "push"}))
    robot = Identity("me+ci", "none", None, kind=ROBOT, robot_grants=(grant,))
    assert access.allowed_actions(robot, writable) == {"pull", "push"}
    assert access.allowed_actions(robot, mirror) == {"pull"}
