"""The caller, as the access function sees it."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    name: str | None  # None for anonymous
    role: str = "none"  # global role: none | read-only | read-write | admin
    account_id: int | None = None

    @property
    def anonymous(self):
        return self.name is None


ANONYMOUS = Identity(name=None)


def identity_of(account):
    return Identity(name=account.name, role=account.role, account_id=account.id)
