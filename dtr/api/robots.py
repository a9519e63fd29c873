"""Robot accounts of an organization, for its owners: make (the secret is in that answer
only), list, show, change access/description/state, regenerate the secret, delete."""

from ..services import robots
from . import serialize
from .common import caller, field, json_body, optional_int


def _shown(robot, secret=None):
    return serialize.robot(robot, robots.describe_access(robot), secret)


def create_robot(org):
    body = json_body()
    robot, secret = robots.create_robot(
        caller(),
        org,
        field(body, "name"),
        body.get("description"),
        optional_int(body, "expiresInDays"),
        field(body, "access", list, required=False, default=[]),
    )
    return _shown(robot, secret), 201


def list_robots(org):
    return {"robots": [_shown(r) for r in robots.list_robots(caller(), org)]}


def get_robot(org, robot):
    return _shown(robots.get_robot(caller(), org, robot))


def update_robot(org, robot):
    return _shown(robots.update_robot(caller(), org, robot, json_body()))


def regenerate_secret(org, robot):
    found, secret = robots.regenerate_secret(caller(), org, robot)
    return _shown(found, secret)


def delete_robot(org, robot):
    robots.delete_robot(caller(), org, robot)
    return "", 204
