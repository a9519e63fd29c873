"""Robot accounts of organizations: `docker login -u '<org>+<name>'` with a secret, for CI
that pulls or pushes exactly the repositories its access list names (one repository of the
organization, or all of them) and nothing else: no API, no portal, no other organization.

The organization's owners (and admins) manage them. The secret is shown once, when the robot
is made or its secret regenerated; only a keyed hash is stored. Changing the access, the
state or the secret moves the robot's generation on, so its registry tokens stop at once.
"""

from sqlalchemy import delete, func, select

from .. import access
from ..auth.identity import ROBOT, Identity, RobotGrant
from ..auth.secret_tokens import ROBOT_SECRET_PREFIX, new_secret, secret_hash
from ..database import db
from ..errors import InvalidInput, NameUnknown
from ..models import Repository, Robot, RobotAccess, utcnow
from ..names import ACCOUNT_NAME
from . import audit
from .access_tokens import require_password_credential
from .credential_rules import add_named, expiry_from_days, is_text
from .credentials import forget_cached
from .teams import authorize_organization, organization_or_404

SEPARATOR = "+"
ROBOT_ACTIONS = {
    ("pull",): frozenset({access.PULL}),
    ("pull", "push"): frozenset({access.PULL, access.PUSH}),
}
MAX_ACCESS_ENTRIES = 100
MAX_ROBOTS_PER_ORGANIZATION = 1000


def full_name(robot: Robot) -> str:
    return f"{robot.organization.name}{SEPARATOR}{robot.name}"


def _organization_for_owner(actor, org_name):
    organization = organization_or_404(org_name)
    authorize_organization(actor, organization, administer=True)
    return organization


def _check_robot_name(name) -> str:
    if not isinstance(name, str) or not ACCOUNT_NAME.match(name) or len(name) > 100:
        raise InvalidInput(
            "name: lowercase letters and digits, then also - _ . (at most 100)", {"field": "name"}
        )
    return name


def create_robot(actor, org_name, name, description="", expires_in_days=None, access_list=None):
    """A new robot of the organization: (the row, its secret)."""
    organization = _organization_for_owner(actor, org_name)
    require_password_credential(actor, "create robot accounts")
    name = _check_robot_name(name)
    description = _check_description(description)
    expires_at = expiry_from_days(expires_in_days)
    entries = _check_access(organization, access_list if access_list is not None else [])
    count = db.session.scalar(
        select(func.count()).select_from(Robot).where(Robot.organization_id == organization.id)
    )
    if count >= MAX_ROBOTS_PER_ORGANIZATION:
        raise InvalidInput(f"{organization.name} has {count} robot accounts, the most allowed")
    secret = new_secret(ROBOT_SECRET_PREFIX)
    robot = Robot(
        organization_id=organization.id,
        name=name,
        description=description,
        secret_hash=secret_hash(secret),
        enabled=True,
        credential_generation=0,
        created_by=actor.name,
        expires_at=expires_at,
    )
    add_named(robot, f"{organization.name} already has a robot account named {name!r}")
    _replace_access(robot, entries)
    audit.record(
        actor.name,
        "robot.create",
        f"{organization.name}{SEPARATOR}{name}",
        {"access": describe_access(robot, entries)},
    )
    db.session.commit()
    return robot, secret


def list_robots(actor, org_name) -> list[Robot]:
    organization = _organization_for_owner(actor, org_name)
    query = select(Robot).where(Robot.organization_id == organization.id).order_by(Robot.name)
    return list(db.session.scalars(query))


def get_robot(actor, org_name, name) -> Robot:
    organization = _organization_for_owner(actor, org_name)
    return _robot_or_404(organization, name)


def _robot_or_404(organization, name) -> Robot:
    if isinstance(name, str) and name.startswith(organization.name + SEPARATOR):
        name = name[len(organization.name) + 1 :]
    robot = db.session.scalar(
        select(Robot).where(Robot.organization_id == organization.id, Robot.name == name)
    )
    if robot is None:
        raise NameUnknown(f"{organization.name} has no robot account {str(name)[:100]!r}")
    return robot


def update_robot(actor, org_name, name, changes: dict) -> Robot:
    """Change `access`, `description` or `enabled`."""
    organization = _organization_for_owner(actor, org_name)
    require_password_credential(actor, "change robot accounts")
    robot = _robot_or_404(organization, name)
    unknown = set(changes) - {"access", "description", "enabled"}
    if unknown:
        field = sorted(unknown)[0]
        raise InvalidInput(f"{field}: cannot be changed", {"field": field})
    # every value is checked before anything changes
    description = _check_description(changes.get("description", robot.description))
    enabled = changes.get("enabled", robot.enabled)
    if not isinstance(enabled, bool):
        raise InvalidInput("enabled: must be a boolean", {"field": "enabled"})
    entries = _check_access(organization, changes["access"]) if "access" in changes else None
    detail = {key: changes[key] for key in ("description", "enabled") if key in changes}
    robot.description, robot.enabled = description, enabled
    if entries is not None:
        _replace_access(robot, entries)
        detail["access"] = describe_access(robot, entries)
    if "access" in changes or "enabled" in changes:
        robot.credential_generation += 1
    audit.record(actor.name, "robot.update", full_name(robot), detail)
    db.session.commit()
    forget_cached()
    return robot


def regenerate_secret(actor, org_name, name):
    """A new secret; the old one (and every token issued with it) stops working."""
    organization = _organization_for_owner(actor, org_name)
    require_password_credential(actor, "make robot secrets")
    robot = _robot_or_404(organization, name)
    secret = new_secret(ROBOT_SECRET_PREFIX)
    robot.secret_hash = secret_hash(secret)
    robot.credential_generation += 1
    audit.record(actor.name, "robot.secret", full_name(robot))
    db.session.commit()
    forget_cached()
    return robot, secret


def delete_robot(actor, org_name, name):
    organization = _organization_for_owner(actor, org_name)
    robot = _robot_or_404(organization, name)
    target = full_name(robot)
    db.session.delete(robot)
    audit.record(actor.name, "robot.delete", target)
    db.session.commit()
    forget_cached()


def _check_description(description) -> str:
    if description is None:
        return ""
    if not isinstance(description, str) or len(description) > 1024 or not is_text(description):
        raise InvalidInput("description: text of at most 1024 characters", {"field": "description"})
    return description


def _check_access(organization, entries) -> list[tuple[Repository | None, tuple]]:
    """[(repository or None for the whole namespace, actions)] from the request's list."""
    if not isinstance(entries, list) or len(entries) > MAX_ACCESS_ENTRIES:
        raise InvalidInput(
            f"access: a list of at most {MAX_ACCESS_ENTRIES} entries", {"field": "access"}
        )
    checked = {}
    for number, entry in enumerate(entries):
        where = f"access[{number}]"
        if not isinstance(entry, dict) or set(entry) - {"repository", "namespace", "actions"}:
            raise InvalidInput(
                f"{where}: an object with repository or namespace, and actions",
                {"field": "access"},
            )
        actions = entry.get("actions")
        if not isinstance(actions, list) or tuple(actions) not in ROBOT_ACTIONS:
            raise InvalidInput(
                f'{where}.actions: ["pull"] or ["pull", "push"]', {"field": "access"}
            )
        target = _access_target(organization, entry, where)
        key = target.id if target is not None else None
        previous = checked.get(key, ())
        checked[key] = max(previous, tuple(actions), key=len)
    return [(_repository(key), actions) for key, actions in checked.items()]


def _access_target(organization, entry, where):
    has_repository, has_namespace = "repository" in entry, "namespace" in entry
    if has_repository == has_namespace:
        raise InvalidInput(f"{where}: give either repository or namespace", {"field": "access"})
    if has_namespace:
        if entry["namespace"] != organization.name:
            raise InvalidInput(
                f"{where}.namespace: a robot of {organization.name} acts only in it",
                {"field": "access"},
            )
        return None
    name = entry["repository"]
    if not isinstance(name, str) or "/" not in name:
        raise InvalidInput(f"{where}.repository: NAMESPACE/NAME", {"field": "access"})
    namespace, _, repository_name = name.partition("/")
    if namespace != organization.name:
        raise InvalidInput(
            f"{where}.repository: a robot of {organization.name} acts only on its repositories",
            {"field": "access"},
        )
    repository = db.session.scalar(
        select(Repository).where(
            Repository.namespace_id == organization.id, Repository.name == repository_name
        )
    )
    if repository is None:
        raise InvalidInput(f"{where}.repository: no repository {name[:300]!r}", {"field": "access"})
    return repository


def _repository(repository_id):
    return None if repository_id is None else db.session.get(Repository, repository_id)


def _replace_access(robot, entries):
    db.session.execute(delete(RobotAccess).where(RobotAccess.robot_id == robot.id))
    for repository, actions in entries:
        db.session.add(
            RobotAccess(
                robot_id=robot.id,
                repository_id=repository.id if repository is not None else None,
                actions=",".join(actions),
            )
        )
    db.session.flush()


def describe_access(robot, entries=None) -> list[dict]:
    """The access list as the API shows it."""
    if entries is None:
        rows = db.session.execute(
            select(RobotAccess, Repository)
            .outerjoin(Repository, Repository.id == RobotAccess.repository_id)
            .where(RobotAccess.robot_id == robot.id)
            .order_by(RobotAccess.id)
        )
        entries = [(repository, tuple(row.actions.split(","))) for row, repository in rows]
    organization = robot.organization.name
    described = []
    for repository, actions in entries:
        if repository is None:
            described.append({"namespace": organization, "actions": list(actions)})
        else:
            described.append(
                {"repository": f"{organization}/{repository.name}", "actions": list(actions)}
            )
    return described


# --- authentication -----------------------------------------------------------------------


def identity_of_robot_secret(login_name, secret) -> Identity | None:
    """The identity of `<org>+<name>` when `secret` is its secret and it may log in."""
    organization_name, _, name = login_name.partition(SEPARATOR)
    robot = db.session.scalar(select(Robot).where(Robot.secret_hash == secret_hash(secret)))
    if robot is None or robot.name != name or robot.organization.name != organization_name:
        return None
    return _identity(robot)


def identity_of_robot_id(robot_id, generation) -> Identity | None:
    robot = db.session.get(Robot, robot_id)
    if robot is None or str(robot.credential_generation) != generation:
        return None
    return _identity(robot)


def _identity(robot: Robot) -> Identity | None:
    if not robot.enabled or robot.expires_at <= utcnow():
        return None
    rows = db.session.scalars(select(RobotAccess).where(RobotAccess.robot_id == robot.id))
    grants = tuple(
        RobotGrant(
            row.repository_id, robot.organization_id, ROBOT_ACTIONS[tuple(row.actions.split(","))]
        )
        for row in rows
    )
    return Identity(
        name=full_name(robot),
        kind=ROBOT,
        robot_grants=grants,
        credential=f"r:{robot.id}:{robot.credential_generation}",
    )
