"""An LDAP directory (OpenLDAP, Active Directory...) as a source of users and groups.

Knows nothing of Flask or the database. Each call opens its own connection, binds with the
search account and closes it, so calls are safe from any thread and nothing is held between
them. A user's password is used for one bind and never kept.
"""

import logging
import re
import ssl
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from urllib.parse import urlsplit

import ldap3
from ldap3.core.exceptions import (
    LDAPException,
    LDAPInappropriateAuthenticationResult,
    LDAPInvalidCredentialsResult,
    LDAPInvalidDnError,
    LDAPInvalidFilterError,
    LDAPNoSuchObjectResult,
    LDAPOperationResult,
    LDAPSASLPrepError,
    LDAPUnwillingToPerformResult,
)
from ldap3.operation.search import parse_filter
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from dtr.errors import DomainError, InvalidCredentials

from .settings_records import settings_from_dict

log = logging.getLogger(__name__)

# The server's answers to a user's bind that mean "not with these credentials".
_BIND_REFUSED = (
    LDAPInvalidCredentialsResult,
    LDAPInappropriateAuthenticationResult,
    LDAPUnwillingToPerformResult,
    LDAPSASLPrepError,  # raised by ldap3 itself: a password with forbidden characters
)
PAGE_SIZE = 500  # entries per page of a paged search (Active Directory's limit is 1000)
WRONG_LOGIN = "incorrect username or password"
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_UNIQUE_MEMBER_UID = re.compile(r"#'[01]*'B$")  # nameAndOptionalUID: "dn#'0101'B"


class LdapUnavailable(DomainError):
    """The directory can't be used: network or TLS error, or the search account can't bind."""


class LdapConfigInvalid(DomainError):
    """A setting is missing or wrong; the message starts with the setting's name."""


@dataclass(frozen=True, kw_only=True)
class LdapSettings:
    server_url: str  # ldap://host[:port] or ldaps://host[:port]
    start_tls: bool = False
    ca_certificate: str | None = None  # PEM; None: verify with the system's CA store
    tls_skip_verify: bool = False
    bind_dn: str
    bind_password: str = field(repr=False)
    user_base_dn: str
    login_attribute: str = "uid"  # "sAMAccountName" for Active Directory
    user_filter: str = "(objectClass=person)"
    admin_group_dn: str | None = None
    sync_interval_minutes: int = 60
    timeout_seconds: int = 5

    def __post_init__(self):
        url = self.server_url
        try:
            parts = urlsplit(url) if isinstance(url, str) else None
            valid_url = (
                parts is not None
                and parts.scheme in ("ldap", "ldaps")
                and bool(parts.hostname)
                and parts.path in ("", "/")
                and not parts.query
                and (parts.port is None or parts.port > 0)
            )
        except ValueError:  # a port that is not a number
            valid_url = False
        if not valid_url:
            _invalid("server_url", "must be ldap://host[:port] or ldaps://host[:port]")
        for name in ("start_tls", "tls_skip_verify"):
            if not isinstance(getattr(self, name), bool):
                _invalid(name, "must be true or false")
        if self.start_tls and parts.scheme == "ldaps":
            _invalid("start_tls", "not used with ldaps://, which is TLS from the start")
        if self.ca_certificate is not None:
            _check_ca(self.ca_certificate)
        for name in ("bind_dn", "user_base_dn", "admin_group_dn"):
            value = getattr(self, name)
            if value is not None or name != "admin_group_dn":
                _check_dn(name, value)
        if not isinstance(self.bind_password, str) or not self.bind_password:
            # An empty password would make an unauthenticated bind, which servers may accept.
            _invalid("bind_password", "required")
        if not isinstance(self.login_attribute, str) or not _ATTRIBUTE_NAME.fullmatch(
            self.login_attribute
        ):
            _invalid("login_attribute", "must be an attribute name such as uid")
        _check_filter(self.user_filter)
        _check_int("sync_interval_minutes", self.sync_interval_minutes, 1, 7 * 24 * 60)
        _check_int("timeout_seconds", self.timeout_seconds, 1, 120)

    @classmethod
    def from_dict(cls, data: dict) -> "LdapSettings":
        """Settings from JSON-like data; empty optional values take their defaults."""
        return settings_from_dict(cls, data, _invalid, ("bind_password", "ca_certificate"))

    def to_dict(self, include_secrets=False) -> dict:
        data = asdict(self)
        if not include_secrets:
            del data["bind_password"]
        return data


@dataclass(frozen=True)
class LdapUser:
    username: str  # the login attribute's value, lowercased
    dn: str
    email: str | None
    full_name: str | None
    is_admin: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def check_bind(settings: LdapSettings) -> None:
    """Connects and binds with the search account; raises LdapUnavailable saying why not."""
    with _connection(settings):
        pass


def authenticate(settings: LdapSettings, username: str, password: str) -> LdapUser:
    """The directory's user for these credentials, or InvalidCredentials.

    InvalidCredentials' message never tells whether the user exists; its `detail` does, for
    an administrator trying the settings.
    """
    if not username or not password:
        # A bind with a DN and an empty password is an "unauthenticated bind": many servers
        # answer it with success, which would let anyone in without a password.
        raise InvalidCredentials(WRONG_LOGIN, detail="empty username or password")
    user_filter = _login_filter(settings, username)
    with _connection(settings) as conn:
        entries = _search(conn, settings.user_base_dn, user_filter, _user_attributes(settings))
        if len(entries) != 1:
            found = f"{len(entries)} entries match" if entries else "no entry matches"
            raise InvalidCredentials(
                WRONG_LOGIN, detail=f"{found} {user_filter} under {settings.user_base_dn}"
            )
        entry = entries[0]
        login = _first(entry, settings.login_attribute)
        if not login:
            raise InvalidCredentials(
                WRONG_LOGIN, detail=f"{entry['dn']} has no {settings.login_attribute}"
            )
        is_admin = _is_member(conn, settings, entry["dn"], login)
        try:
            conn.rebind(user=entry["dn"], password=password)
        except _BIND_REFUSED as exc:
            raise InvalidCredentials(
                WRONG_LOGIN, detail=f"bind as {entry['dn']}: {_describe(exc)}"
            ) from None
    return _user(settings, entry, is_admin)


def try_login(settings: LdapSettings, username: str, password: str) -> dict:
    """For the settings page's "Try login" button: the outcome as data, never raising for
    directory problems. The message has the detail an administrator needs to fix the settings."""
    try:
        user = authenticate(settings, username, password)
    except InvalidCredentials as exc:
        message = f"{exc.message} ({exc.detail})" if exc.detail else exc.message
        return {"ok": False, "message": message, "user": None}
    except LdapUnavailable as exc:
        return {"ok": False, "message": f"LDAP server unavailable: {exc.message}", "user": None}
    role = "an administrator" if user.is_admin else "not an administrator"
    message = f"logged in as {user.username} ({user.dn}), {role}"
    return {"ok": True, "message": message, "user": user.to_dict()}


def list_users(settings: LdapSettings) -> list[LdapUser]:
    """All users under user_base_dn matching user_filter, sorted by username.

    Entries without the login attribute, and usernames held by more than one entry (which
    can't log in), are left out."""
    with _connection(settings) as conn:
        admins = (
            _group_members(conn, settings, settings.admin_group_dn)
            if settings.admin_group_dn
            else set()
        )
        pages = conn.extend.standard.paged_search(
            settings.user_base_dn,
            settings.user_filter,
            ldap3.SUBTREE,
            attributes=_user_attributes(settings),
            paged_size=PAGE_SIZE,
            generator=True,
        )
        users = {}
        ambiguous = set()
        try:
            for entry in pages:
                if entry.get("type") == "searchResEntry" and _first(
                    entry, settings.login_attribute
                ):
                    user = _user(settings, entry, False)
                    if user.username in users:
                        ambiguous.add(user.username)
                    users[user.username] = user
        except LDAPNoSuchObjectResult:
            raise LdapUnavailable(f"no such entry: {settings.user_base_dn}") from None
    for name in ambiguous:
        log.warning("LDAP: more than one entry has %s=%s", settings.login_attribute, name)
        del users[name]
    return [replace(user, is_admin=name in admins) for name, user in sorted(users.items())]


def group_members(settings: LdapSettings, group_dn: str) -> set[str]:
    """Usernames of a group's members: groupOfNames/groupOfUniqueNames (and Active Directory
    groups) list member DNs, posixGroup lists memberUid. A group that does not exist raises
    LdapUnavailable rather than reading as empty, so a sync does not drop everyone.

    Active Directory's ranged retrieval of groups over 1500 members is not handled."""
    with _connection(settings) as conn:
        return _group_members(conn, settings, group_dn)


# Connections and searches


@contextmanager
def _connection(settings):
    """A connection bound as the search account; LDAP, network and TLS errors inside become
    LdapUnavailable with the server's or the network's message."""
    url = urlsplit(settings.server_url)
    use_ssl = url.scheme == "ldaps"
    tls = None
    if use_ssl or settings.start_tls:
        tls = ldap3.Tls(
            validate=ssl.CERT_NONE if settings.tls_skip_verify else ssl.CERT_REQUIRED,
            ca_certs_data=settings.ca_certificate,  # None: the system's CA store
        )
    server = ldap3.Server(
        url.hostname,
        port=url.port or (636 if use_ssl else 389),
        use_ssl=use_ssl,
        tls=tls,
        get_info=ldap3.NONE,
        connect_timeout=settings.timeout_seconds,
    )
    conn = ldap3.Connection(
        server,
        settings.bind_dn,
        settings.bind_password,
        receive_timeout=settings.timeout_seconds,
        raise_exceptions=True,
        read_only=True,
        auto_referrals=False,
    )
    try:
        try:
            conn.open()
            if settings.start_tls:
                conn.start_tls()
            conn.bind()
        except LDAPInvalidCredentialsResult as exc:
            reason = f" ({exc.message})" if exc.message else ""
            raise LdapUnavailable(
                f"invalid credentials for the bind DN {settings.bind_dn}{reason}"
            ) from None
        yield conn
    except (LDAPException, ssl.SSLError, OSError) as exc:
        raise LdapUnavailable(_describe(exc)) from exc
    finally:
        try:
            conn.unbind()
        except (LDAPException, OSError):
            pass


def _search(conn, base, search_filter, attributes, scope=ldap3.SUBTREE, missing_ok=False):
    """Entries (not referrals) found. A `base` that does not exist is an empty result if
    `missing_ok`, else LdapUnavailable: a wrong base DN must not read as "no users"."""
    try:
        conn.search(base, search_filter, scope, attributes=attributes)
    except LDAPNoSuchObjectResult:
        if missing_ok:
            return []
        raise LdapUnavailable(f"no such entry: {base}") from None
    return [entry for entry in conn.response if entry.get("type") == "searchResEntry"]


def _login_filter(settings, username):
    value = escape_filter_chars(username)
    return f"(&{settings.user_filter}({settings.login_attribute}={value}))"


def _user_attributes(settings):
    return [settings.login_attribute, "mail", "displayName", "cn"]


def _first(entry, attribute):
    value = entry["attributes"].get(attribute)
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    return value or None


def _user(settings, entry, is_admin):
    return LdapUser(
        username=_first(entry, settings.login_attribute).lower(),
        dn=entry["dn"],
        email=_first(entry, "mail"),
        full_name=_first(entry, "displayName") or _first(entry, "cn"),
        is_admin=is_admin,
    )


def _is_member(conn, settings, dn, login):
    """Whether the user is in admin_group_dn; one search on the group entry."""
    if not settings.admin_group_dn:
        return False
    member_filter = "(|(member={0})(uniqueMember={0})(memberUid={1}))".format(
        escape_filter_chars(dn), escape_filter_chars(login)
    )
    found = _search(
        conn, settings.admin_group_dn, member_filter, ["1.1"], ldap3.BASE, missing_ok=True
    )
    return bool(found)


def _group_members(conn, settings, group_dn):
    attributes = ["member", "uniqueMember", "memberUid"]
    values = _search(conn, group_dn, "(objectClass=*)", attributes, ldap3.BASE)[0]["attributes"]
    members = {uid.lower() for uid in values.get("memberUid", [])}
    for dn in [*values.get("member", []), *values.get("uniqueMember", [])]:
        dn = _UNIQUE_MEMBER_UID.sub("", dn)
        # Read the member's entry for its login attribute: its RDN need not be that attribute
        # (Active Directory uses CN=...). Members that are not users (nested groups, the
        # service account...) do not match user_filter and are left out.
        found = _search(
            conn, dn, settings.user_filter, [settings.login_attribute], ldap3.BASE, missing_ok=True
        )
        login = _first(found[0], settings.login_attribute) if found else None
        if login:
            members.add(login.lower())
    return members


def _describe(exc):
    """A readable message for an ldap3, TLS or socket error."""
    if isinstance(exc, LDAPOperationResult):
        return f"{exc.description}: {exc.message}" if exc.message else str(exc.description)
    text = exc.args[0] if exc.args else ""
    while isinstance(text, tuple) and text:  # ldap3 wraps some messages in a tuple
        text = text[0]
    return str(text) or type(exc).__name__


# Validation


def _invalid(name, reason):
    raise LdapConfigInvalid(f"{name}: {reason}")


def _check_dn(name, value):
    if not isinstance(value, str) or not value:
        _invalid(name, "required")
    try:
        parse_dn(value)
    except LDAPInvalidDnError as exc:
        _invalid(name, f"not a valid DN ({exc})")


def _check_filter(value):
    if not isinstance(value, str) or not value.startswith("("):
        _invalid("user_filter", "must be an LDAP filter in parentheses")
    try:
        parse_filter(value, None, False, True, None, False)
    except LDAPInvalidFilterError as exc:
        _invalid("user_filter", f"not a valid LDAP filter ({exc})")


def _check_ca(value):
    if not isinstance(value, str):
        _invalid("ca_certificate", "must be PEM text")
    try:
        ssl.create_default_context(cadata=value)
    except (ssl.SSLError, ValueError, TypeError):  # TypeError: text that is not ASCII
        _invalid("ca_certificate", "not a PEM certificate")


def _check_int(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        _invalid(name, f"must be a whole number from {low} to {high}")
