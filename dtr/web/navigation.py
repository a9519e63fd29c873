"""What the navigation shows to whom: the menu, the Settings tabs, the license banner."""

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
