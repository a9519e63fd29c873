"""The caller, as the access function sees it.

A person logged in with a password or a session acts with everything their account may do
(`scopes` None). A personal access token acts for its owner, narrowed to its scopes; a robot
account acts only on what its grants name. `credential` names what a registry token issued
to the caller must find unchanged at each use (dtr/auth/credentials.py).
"""

from dataclasses import dataclass, replace

USER, TOKEN, ROBOT = "user", "token", "robot"

REGISTRY_PULL, REGISTRY_PUSH = "registry:pull", "registry:push"
API_READ, API_WRITE = "api:read", "api:write"
METRICS = "metrics"  # read /metrics (Prometheus); its owner must be an admin
SCOPES = (REGISTRY_PULL, REGISTRY_PUSH, API_READ, API_WRITE, METRICS)
REGISTRY_SCOPES = frozenset({REGISTRY_PULL, REGISTRY_PUSH})
API_SCOPES = frozenset({API_READ, API_WRITE})
METRICS_SCOPES = frozenset({METRICS})


@dataclass(frozen=True)
class RobotGrant:
    """A robot's actions on one repository (`repository_id`) or on every repository of a
    namespace (`repository_id` None)."""

    repository_id: int | None
    namespace_id: int
    actions: frozenset


@dataclass(frozen=True)
class Identity:
    name: str | None  # None for anonymous; `<org>+<name>` for a robot
    role: str = "none"  # global role: none | read-only | read-write | admin
    account_id: int | None = None  # the user's (a token's owner's); None for robots
    kind: str = USER  # user | token | robot
    scopes: frozenset | None = None  # None: all the account may do
    robot_grants: tuple = ()  # RobotGrant, for robots
    credential: str | None = None

    @property
    def anonymous(self):
        return self.name is None

    def narrowed(self, scopes: frozenset) -> "Identity":
        """The identity with its scopes limited to `scopes` (one surface: the registry or
        the API)."""
        return self if self.scopes is None else replace(self, scopes=self.scopes & scopes)


ANONYMOUS = Identity(name=None)


def identity_of(account):
    """A person, logged in with their password (or a session)."""
    return Identity(
        name=account.name,
        role=account.role,
        account_id=account.id,
        credential=f"u:{account.id}:{account.credential_generation}",
    )
