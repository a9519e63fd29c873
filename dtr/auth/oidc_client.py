"""An OpenID Connect provider (Keycloak, Entra ID, Google, GitLab, Authentik...) as a source
of people: the authorization code flow with PKCE (S256), built on Authlib's OAuth 2 client
and joserfc's JWT verification.

Knows nothing of Flask or the database. The provider's discovery document and keys are
cached per process for a few minutes; a token signed by a key not in the cached set makes
one fresh fetch of the keys (the provider rotated them), at most every KEYS_REFETCH_SECONDS.
"""

import ipaddress
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from urllib.parse import urlencode, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from dtr.errors import DomainError

from .settings_records import settings_from_dict

DISCOVERY_SECONDS = 300  # how long a discovery document and a key set are reused
LIVENESS_SECONDS = 2  # a sign-in checks that the provider answers, at most this often
KEYS_REFETCH_SECONDS = 1  # an unknown key id fetches the keys again at most this often
MAX_DOCUMENT_BYTES = 512 * 1024  # a discovery document, a key set, a token answer
# Asymmetric algorithms only: an HMAC "signature" would be made with the client secret, and
# "none" is no signature at all.
SIGNING_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
ROLES_FOR_NEW_ACCOUNTS = ("none", "read-only", "read-write")
_CLAIM_NAME = re.compile(r"[A-Za-z0-9_.:/\-]{1,100}")
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,100}")  # RFC 6749 scope-token
_DOMAIN = re.compile(r"[a-z0-9]([a-z0-9\-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9\-]*[a-z0-9])?)+")


class OidcUnavailable(DomainError):
    """The provider can't be used: unreachable, or answering what OpenID Connect does not."""


class OidcConfigInvalid(DomainError):
    """A setting is missing or wrong; the message starts with the setting's name."""


class OidcLoginRefused(DomainError):
    """The provider's answer to a login is not to be trusted (state, token, claims)."""


def _invalid(name, reason):
    raise OidcConfigInvalid(f"{name}: {reason}", {"field": name})


@dataclass(frozen=True, kw_only=True)
class OidcSettings:
    issuer: str  # https://id.example.com/realms/main (http only on a loopback address)
    client_id: str
    client_secret: str = field(repr=False)
    display_name: str = ""  # "Sign in with <display_name>"; empty: the issuer's host
    scopes: str = "openid profile email groups"
    username_claim: str = "preferred_username"
    groups_claim: str = "groups"
    admin_group: str | None = None
    allowed_groups: list = field(default_factory=list)  # empty: any group
    allowed_domains: list = field(default_factory=list)  # e-mail domains; empty: any
    default_role: str = "none"
    clock_skew_seconds: int = 60
    timeout_seconds: int = 5

    def __post_init__(self):
        _check_issuer(self.issuer)
        for name in ("client_id", "client_secret"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or len(value) > 1024:
                _invalid(name, "required, at most 1024 characters")
            if not value.isprintable():
                _invalid(name, "printable characters only")
        if not isinstance(self.display_name, str) or len(self.display_name) > 100:
            _invalid("display_name", "at most 100 characters")
        if not isinstance(self.scopes, str):
            _invalid("scopes", "scopes separated by spaces")
        scopes = self.scopes.split()
        if "openid" not in scopes or not all(_SCOPE.fullmatch(s) for s in scopes):
            _invalid("scopes", "scopes separated by spaces, openid among them")
        if len(scopes) > 20:
            _invalid("scopes", "at most 20 scopes")
        for name in ("username_claim", "groups_claim"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _CLAIM_NAME.fullmatch(value):
                _invalid(name, "a claim name: letters, digits and _ . : / -")
        if self.admin_group is not None and not _is_group(self.admin_group):
            _invalid("admin_group", "a group name of at most 255 characters")
        _check_list("allowed_groups", self.allowed_groups, _is_group, "group names")
        _check_list(
            "allowed_domains",
            self.allowed_domains,
            lambda value: isinstance(value, str) and bool(_DOMAIN.fullmatch(value)),
            "e-mail domains in lowercase, such as example.com",
        )
        if self.default_role not in ROLES_FOR_NEW_ACCOUNTS:
            _invalid("default_role", f"one of {', '.join(ROLES_FOR_NEW_ACCOUNTS)}")
        _check_int("clock_skew_seconds", self.clock_skew_seconds, 0, 300)
        _check_int("timeout_seconds", self.timeout_seconds, 1, 120)

    @classmethod
    def from_dict(cls, data: dict) -> "OidcSettings":
        """Settings from JSON-like data; empty optional values take their defaults."""
        return settings_from_dict(cls, data, _invalid, ("client_secret",))

    def to_dict(self, include_secrets=False) -> dict:
        data = asdict(self)
        if not include_secrets:
            del data["client_secret"]
        return data

    @property
    def label(self) -> str:
        return self.display_name or urlsplit(self.issuer).hostname


def _is_group(value) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 255 and value.isprintable()


def _check_list(name, value, valid, what):
    if not isinstance(value, list) or len(value) > 100 or not all(valid(v) for v in value):
        _invalid(name, f"a list of at most 100 {what}")


def _check_int(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        _invalid(name, f"a whole number from {low} to {high}")


def _check_issuer(issuer):
    try:
        parts = urlsplit(issuer) if isinstance(issuer, str) else None
        port_ok = parts is not None and (parts.port is None or parts.port > 0)
    except ValueError:
        parts, port_ok = None, False
    if (
        parts is None
        or not port_ok
        or parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username
        or len(issuer) > 1024
    ):
        _invalid("issuer", "an https:// URL without query or fragment")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        # the client secret and the codes would cross the network in the clear
        _invalid("issuer", "https:// (http:// only for a provider on this host: 127.0.0.1)")


def _is_loopback(host) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    token_auth_method: str  # client_secret_basic | client_secret_post
    algorithms: tuple


_lock = threading.Lock()  # the caches below
_fetching = threading.Lock()  # one fetch from the provider at a time, per process
_documents: dict = {}  # issuer -> (ProviderMetadata, fetched at)
_key_sets: dict = {}  # jwks_uri -> (KeySet, fetched at)


def forget_provider_cache():
    with _lock:
        _documents.clear()
        _key_sets.clear()


def _get_json(url, settings: OidcSettings, what, headers=None) -> dict:
    """A JSON object from the provider, read up to MAX_DOCUMENT_BYTES; OidcUnavailable
    naming `what` when it cannot be had."""
    try:
        with requests.get(
            url, headers=headers, timeout=settings.timeout_seconds, stream=True
        ) as response:
            if response.status_code != 200:
                raise OidcUnavailable(f"{what} at {url} answered HTTP {response.status_code}")
            body = response.raw.read(MAX_DOCUMENT_BYTES + 1, decode_content=True)
    except requests.RequestException as error:
        raise OidcUnavailable(f"{what} at {url} cannot be reached: {_reason(error)}") from None
    if len(body) > MAX_DOCUMENT_BYTES:
        raise OidcUnavailable(f"{what} at {url} is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        data = requests.models.complexjson.loads(body)
    except ValueError:
        raise OidcUnavailable(f"{what} at {url} is not JSON") from None
    if not isinstance(data, dict):
        raise OidcUnavailable(f"{what} at {url} is not a JSON object")
    return data


def _reason(error) -> str:
    text = str(error)
    for known in ("Connection refused", "timed out", "Name or service not known", "CERTIFICATE"):
        if known in text:
            return known.lower() if known != "CERTIFICATE" else "TLS certificate not trusted"
    return text[:200]


def _cached(cache, key, max_age):
    with _lock:
        found = cache.get(key)
    if found and time.monotonic() - found[1] < max_age:
        return found[0]
    return None


def _fetched_once(cache, key, max_age, fetch):
    """What `cache` holds for `key` when younger than `max_age` seconds, else `fetch()` by one
    thread at a time (those who waited use what it fetched), remembered."""
    value = _cached(cache, key, max_age)
    if value is not None:
        return value
    with _fetching:
        value = _cached(cache, key, max_age)
        if value is None:
            value = fetch()
            with _lock:
                cache[key] = (value, time.monotonic())
    return value


def discover(settings: OidcSettings, max_age=DISCOVERY_SECONDS) -> ProviderMetadata:
    """The provider's metadata from its discovery document, fetched again when the one at
    hand is older than `max_age` seconds."""
    fetch = partial(_fetch_metadata, settings)
    return _fetched_once(_documents, settings.issuer, max_age, fetch)


def _fetch_metadata(settings: OidcSettings) -> ProviderMetadata:
    url = settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
    data = _get_json(url, settings, "the discovery document")
    if data.get("issuer") != settings.issuer:
        # OpenID Connect Discovery 4.3: they must be identical, or tokens would not match
        raise OidcUnavailable(
            f"the discovery document names the issuer {str(data.get('issuer'))[:200]!r}, "
            f"not {settings.issuer!r}: use exactly the provider's issuer"
        )
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(data.get(name), str) or not data[name].startswith(("https:", "http:")):
            raise OidcUnavailable(f"the discovery document has no {name}")
    methods = data.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        raise OidcUnavailable("the provider does not support PKCE with S256")
    auth_methods = data.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    algorithms = data.get("id_token_signing_alg_values_supported") or ["RS256"]
    usable = tuple(a for a in SIGNING_ALGORITHMS if a in algorithms)
    if not usable:
        raise OidcUnavailable(
            "the provider signs ID tokens with none of " + ", ".join(SIGNING_ALGORITHMS)
        )
    return ProviderMetadata(
        issuer=data["issuer"],
        authorization_endpoint=data["authorization_endpoint"],
        token_endpoint=data["token_endpoint"],
        jwks_uri=data["jwks_uri"],
        userinfo_endpoint=_optional_url(data.get("userinfo_endpoint")),
        end_session_endpoint=_optional_url(data.get("end_session_endpoint")),
        token_auth_method="client_secret_basic"
        if "client_secret_basic" in auth_methods
        else "client_secret_post",
        algorithms=usable,
    )


def _optional_url(value):
    return value if isinstance(value, str) and value.startswith(("https:", "http:")) else None


def key_set(settings: OidcSettings, metadata: ProviderMetadata, fresh=False) -> KeySet:
    """The provider's signing keys (cached); `fresh` fetches them again unless they were
    fetched less than KEYS_REFETCH_SECONDS ago."""
    max_age = KEYS_REFETCH_SECONDS if fresh else DISCOVERY_SECONDS
    fetch = partial(_fetch_keys, settings, metadata)
    return _fetched_once(_key_sets, metadata.jwks_uri, max_age, fetch)


def _fetch_keys(settings: OidcSettings, metadata: ProviderMetadata) -> KeySet:
    data = _get_json(metadata.jwks_uri, settings, "the key set")
    keys = [k for k in data.get("keys", []) if isinstance(k, dict) and k.get("use") != "enc"]
    try:
        return KeySet.import_key_set({"keys": keys})
    except (JoseError, ValueError, TypeError) as error:
        raise OidcUnavailable(f"the key set at {metadata.jwks_uri} is not valid: {error}") from None


def check_provider(settings: OidcSettings) -> dict:
    """Fetch the discovery document and the keys now (for "Test" and before saving); raises
    OidcUnavailable saying what is wrong."""
    metadata = discover(settings, max_age=0)
    with _lock:
        _key_sets.pop(metadata.jwks_uri, None)
    keys = key_set(settings, metadata)
    return {
        "ok": True,
        "issuer": metadata.issuer,
        "authorizationEndpoint": metadata.authorization_endpoint,
        "endSessionEndpoint": metadata.end_session_endpoint,
        "keys": len(keys.keys),
        "message": f"found {metadata.issuer}: {len(keys.keys)} signing keys, "
        f"ID tokens signed with {', '.join(metadata.algorithms)}",
    }


@dataclass(frozen=True)
class PendingLogin:
    """What the browser's session keeps between the redirect to the provider and back."""

    state: str
    nonce: str
    code_verifier: str

    def to_dict(self):
        return asdict(self)


def authorization_request(settings: OidcSettings, redirect_uri) -> tuple[str, PendingLogin]:
    """The provider's login URL for this browser, and what to keep to check its answer. The
    discovery document is fetched again when older than LIVENESS_SECONDS: a provider that
    is down is told on DTR's login page, rather than by the browser failing to reach it
    (and a flood of sign-ins costs the provider one request per LIVENESS_SECONDS)."""
    metadata = discover(settings, max_age=LIVENESS_SECONDS)
    pending = PendingLogin(generate_token(32), generate_token(32), generate_token(64))
    client = _client(settings, metadata, redirect_uri)
    url, _ = client.create_authorization_url(
        metadata.authorization_endpoint,
        state=pending.state,
        nonce=pending.nonce,
        code_verifier=pending.code_verifier,
    )
    return url, pending


def _client(settings, metadata, redirect_uri) -> OAuth2Session:
    return OAuth2Session(
        settings.client_id,
        settings.client_secret,
        token_endpoint_auth_method=metadata.token_auth_method,
        scope=settings.scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        default_timeout=settings.timeout_seconds,
    )


def finish_login(settings: OidcSettings, pending: PendingLogin, code, redirect_uri) -> dict:
    """The code from the provider -> the person's verified claims (ID token, with the
    userinfo endpoint's claims added where the ID token lacks them)."""
    metadata = discover(settings)
    client = _client(settings, metadata, redirect_uri)
    try:
        token = client.fetch_token(
            metadata.token_endpoint, code=code, code_verifier=pending.code_verifier
        )
    except requests.RequestException as error:
        raise OidcUnavailable(f"the token endpoint cannot be reached: {_reason(error)}") from None
    except Exception as error:  # Authlib's OAuthError, or a body that is not a token
        raise OidcLoginRefused(f"the provider refused the code: {str(error)[:200]}") from None
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise OidcLoginRefused("the provider's answer has no ID token")
    claims = verify_id_token(settings, metadata, id_token, pending.nonce)
    access_token = token.get("access_token")
    if metadata.userinfo_endpoint and isinstance(access_token, str):
        for name, value in _userinfo(settings, metadata, access_token, claims["sub"]).items():
            claims.setdefault(name, value)
    return claims


def verify_id_token(settings: OidcSettings, metadata: ProviderMetadata, id_token, nonce) -> dict:
    """The ID token's claims once its signature (by the provider's keys), issuer, audience,
    times and nonce check out; OidcLoginRefused otherwise."""
    if len(id_token) > 64 * 1024:
        raise OidcLoginRefused("the ID token is too large")
    try:
        try:
            token = jwt.decode(id_token, key_set(settings, metadata), metadata.algorithms)
        except (ValueError, JoseError) as error:
            if not isinstance(error, InvalidKeyIdError):
                raise
            # a key id we do not know: the provider may have rotated its keys
            keys = key_set(settings, metadata, fresh=True)
            token = jwt.decode(id_token, keys, metadata.algorithms)
    except (ValueError, JoseError, TypeError) as error:
        raise OidcLoginRefused(
            f"the ID token's signature is not valid: {_describe(error)}"
        ) from None
    claims = dict(token.claims)
    registry = JWTClaimsRegistry(
        leeway=settings.clock_skew_seconds,
        iss={"essential": True, "value": metadata.issuer},
        aud={"essential": True, "value": settings.client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except JoseError as error:
        raise OidcLoginRefused(f"the ID token is not for this login: {_describe(error)}") from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != settings.client_id:
        raise OidcLoginRefused("the ID token was issued to another client (azp)")
    if not isinstance(claims["sub"], str) or not claims["sub"] or len(claims["sub"]) > 255:
        raise OidcLoginRefused("the ID token's subject (sub) is not a usable identifier")
    return claims


def _describe(error) -> str:
    return (str(error).strip(" :") or type(error).__name__).replace("_", " ")[:200]


def _userinfo(settings, metadata, access_token, subject) -> dict:
    headers = {"Authorization": f"Bearer {access_token}"}
    data = _get_json(metadata.userinfo_endpoint, settings, "the userinfo endpoint", headers)
    if data.get("sub") != subject:
        # OpenID Connect Core 5.3.2: the userinfo of another subject must not be used
        raise OidcLoginRefused("the userinfo endpoint answered for another subject")
    return data


def end_session_url(settings: OidcSettings, after_logout) -> str | None:
    """The provider's logout page (RP-initiated logout), when it has one and can be reached."""
    try:
        metadata = discover(settings)
    except OidcUnavailable:
        return None
    if not metadata.end_session_endpoint:
        return None
    query = urlencode({"client_id": settings.client_id, "post_logout_redirect_uri": after_logout})
    separator = "&" if "?" in metadata.end_session_endpoint else "?"
    return f"{metadata.end_session_endpoint}{separator}{query}"
