"""What the navigation shows to whom: the menu, the Settings tabs, the banners of admins
(license, storage full), the notices of access tokens about to expire."""

from ..auth.identity import Identity

SETTINGS_TABS = [
    ("auth", "Auth"),
    ("license", "License"),
    ("general", "General"),
    ("storage", "Storage"),
    ("garbage-collection", "Garbage collection"),
    ("webhooks", "Webhooks"),
    ("proxies", "Proxies"),
    ("replication", "Replication"),
    ("logs", "Logs"),
]


def navigation_for(identity: Identity):
    """(label, endpoint) of the main menu for this identity."""
    if identity.anonymous:
        return []
    items = [("Repositories", "web.repositories"), ("Organizations", "web.organizations")]
    if identity.role == "admin":
        items.append(("Settings", "web.settings"))
    return items


def settings_tabs():
    return list(SETTINGS_TABS)


def banners_for(identity: Identity) -> list[tuple[str, str, str]]:
    """The warnings admins see on every page: (text, settings tab, its label) of an
    expiring or invalid license, and of storage that was found full."""
    if identity.anonymous or identity.role != "admin":
        return []
    from ..services.license import license_status
    from ..services.storage_full import storage_full_banner

    banners = []
    if (license_banner := license_status().banner) is not None:
        banners.append((license_banner, "license", "Settings › License"))
    if (storage_banner := storage_full_banner()) is not None:
        banners.append((storage_banner, "storage", "Settings › Storage"))
    return banners


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
