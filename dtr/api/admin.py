"""Admin endpoints: auth and general settings, LDAP try-login and sync, the OpenID Connect
provider test, the audit log."""

from ..services import audit, auth_settings, general_settings
from ..services.callers import require_admin
from ..services.ldap_sync import sync_ldap
from . import serialize
from .common import caller, json_body, listing, page


def get_auth_settings():
    return auth_settings.describe(caller())


def put_auth_settings():
    return auth_settings.update(caller(), json_body())


def get_general_settings():
    return general_settings.describe(caller())


def put_general_settings():
    return general_settings.update(caller(), json_body())


def ldap_try_login():
    return auth_settings.try_login(caller(), json_body())


def oidc_test():
    actor = caller()
    require_admin(actor, "change the auth settings")  # before reading the body
    return auth_settings.test_oidc(actor, json_body())


def ldap_sync():
    require_admin(caller(), "synchronize LDAP")
    return sync_ldap()


def audit_log():
    require_admin(caller(), "read the audit log")
    start, limit = page()
    events = audit.list_events(start, limit)
    return listing("events", [serialize.audit_event(e) for e in events], None, start, limit)
