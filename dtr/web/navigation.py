"""What the navigation shows to whom: the menu, the Settings tabs, the license banner, the
notices of access tokens about to expire."""

from ..auth.identity import Identity

SETTINGS_TABS = [
    ("auth", "Auth"),
    ("license", "License"),
    ("general", "General"),
    ("storage", "Storage"),
    ("garbage-collection", "Garbage collection"),
    ("logs", "Logs"),
]
BUILT_SETTINGS_TABS = {"auth", "license", "general", "storage", "garbage-collection", "logs"}


def navigation_for(identity: Identity):
    """(label, endpoint) of the main menu for this identity."""
    if identity.anonymous:
        return []
    items = [("Repositories", "web.repositories"), ("Organizations", "web.organizations")]
    if identity.role == "admin":
        items.append(("Settings", "web.settings"))
    return items


def settings_tabs():
    return [(slug, label) for slug, label in SETTINGS_TABS if slug in BUILT_SETTINGS_TABS]


def banner_for(identity: Identity):
    """The license warning admins see on every page, or None."""
    if identity.anonymous or identity.role != "admin":
        return None
    from ..services.license import license_status

    return license_status().banner


EXPIRING_DAYS = 7  # access tokens and robots expiring this soon are marked


def notices_for(identity: Identity) -> list[str]:
    """Short lines for every page: a person's access tokens that expire within
    EXPIRING_DAYS days (or have expired), to renew."""
    if identity.anonymous or identity.account_id is None:
        return []
    from ..models import utcnow
    from ..services.access_tokens import expiring_soon

    tokens = expiring_soon(identity, EXPIRING_DAYS)
    if not tokens:
        return []
    now = utcnow()
    described = [f"{token.name} ({_time_left(token.expires_at - now)})" for token in tokens[:3]]
    if len(tokens) > 3:
        described.append(f"{len(tokens) - 3} more")
    noun = "Your access token" if len(tokens) == 1 else "Your access tokens"
    return [f"{noun} to renew: {', '.join(described)}."]


def _time_left(left) -> str:
    days = round(left.total_seconds() / 86400)
    if left.total_seconds() <= 0:
        return "expired"
    if days < 1:
        return "expires within a day"
    return f"expires in {days} day{'s' if days != 1 else ''}"
