"""The checks every service starts with: is DTR set up, is the caller logged in, an admin?"""

from .. import access
from ..auth.identity import Identity
from ..errors import Denied, InvalidCredentials, NotSetUp
from .settings import get_setting


def require_logged_in(actor: Identity):
    if get_setting("auth_mode") == "none":
        raise NotSetUp()
    if actor.anonymous:
        raise InvalidCredentials("authentication required")


def require_admin(actor: Identity, what="do this"):
    require_logged_in(actor)
    if not access.is_admin(actor):
        raise Denied(f"only administrators may {what}")
