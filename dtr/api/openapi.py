"""The OpenAPI 3.0.3 document of /api/v0, built from data: the component schemas, and a table
of operations (one per route of `ROUTES`, which a test checks) from which the paths, their
parameters and their responses are made. Enumerations (roles, access levels, visibilities,
auth modes, error codes) and the LDAP settings' fields come from the code itself."""

import re
from dataclasses import MISSING, dataclass, field, fields

from flask import current_app

from ..auth.csrf import HEADER as CSRF_HEADER
from ..auth.identity import SCOPES
from ..auth.ldap_directory import LdapSettings, LdapUser
from ..auth.oidc_client import OidcSettings
from ..config import DEFAULTS as CONFIG_DEFAULTS
from ..license import STATES as LICENSE_STATES
from ..license import LicenseError
from ..log_queries import MAX_LIMIT as LOG_MAX_LIMIT
from ..logs import COMPONENTS, LEVELS
from ..models import ACCESS_LEVELS, ROLES
from ..names import ACCOUNT_NAME, MAX_NAME_LENGTH
from ..server import GUNICORN_ERROR_CODES
from ..services.access_tokens import MAX_TOKENS_PER_USER
from ..services.auth_settings import MODES
from ..services.auth_settings import RULES as CREDENTIAL_RULES
from ..services.credential_rules import (
    DEFAULT_TOKEN_DAYS,
    MAX_CREDENTIAL_NAME,
    MAX_PASSWORD_LENGTH,
    PASSWORD_MIN_LENGTH_RANGE,
    TOKEN_MAX_DAYS_RANGE,
)
from ..services.immutable_tags import PATTERN as IMMUTABLE_PATTERN
from ..services.immutable_tags import PATTERN_RULE
from ..services.repositories import VISIBILITIES
from ..services.retention import KEEPS as RETENTION_KEEPS
from ..services.retention import MAX_NUMBER as RETENTION_MAX
from ..services.robots import (
    MAX_ACCESS_ENTRIES,
    MAX_ROBOTS_PER_ORGANIZATION,
    ROBOT_ACTIONS,
    SEPARATOR,
)
from ..services.settings import DEFAULTS as SETTING_DEFAULTS
from ..services.trusted_keys import KEY_NAME
from ..services.webhooks import EVENTS as CONTENT_EVENTS
from ..services.webhooks import MAX_URL as WEBHOOK_MAX_URL
from ..services.webhooks import REGISTRY_EVENTS as WEBHOOK_EVENTS
from ..services.webhooks import SECRET_LENGTHS as WEBHOOK_SECRET_LENGTHS
from ..services.webhooks import TEST_EVENT as WEBHOOK_TEST_EVENT
from ..storage import BACKENDS
from .common import API_ERRORS

# --- schema helpers -------------------------------------------------------------------------


def json_schema_pattern(regex) -> str:
    """A Python pattern as JSON Schema (ECMA-262) reads it: `\\Z` (end of text) is `$`."""
    return regex.pattern.replace("\\Z", "$")


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def string(description=None, **extra):
    schema = {"type": "string", **extra}
    if description:
        schema["description"] = description
    return schema


def integer(description=None, **extra):
    return {"type": "integer", **extra, **({"description": description} if description else {})}


def boolean(description=None):
    return {"type": "boolean", **({"description": description} if description else {})}


def enum(values, description=None, **extra):
    return string(description, enum=list(values), **extra)


def array(items):
    return {"type": "array", "items": items}


def obj(properties, required=None, description=None, **extra):
    """An object; every property is required unless `required` says which are."""
    schema = {"type": "object", "properties": properties}
    schema["required"] = list(properties) if required is None else list(required)
    if not schema["required"]:
        del schema["required"]
    if description:
        schema["description"] = description
    schema.update(extra)
    return schema


def nullable(schema):
    """OpenAPI 3.0's `nullable` applies only beside `type`, so a nullable object is a copy
    of its schema rather than a $ref."""
    return {**schema, "nullable": True}


TIMESTAMP = string("UTC, ISO 8601", format="date-time")
NULLABLE_STRING = string(nullable=True)
ACCOUNT_NAME_SCHEMA = string(
    "lowercase letters and digits, then also - _ .",
    pattern=json_schema_pattern(ACCOUNT_NAME),
    maxLength=MAX_NAME_LENGTH - 2,
)
REPOSITORY_NAME_SCHEMA = string(
    "lowercase components [a-z0-9] joined by . _ __ - (no slash)",
    pattern=r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$",
)
ROLE = enum(ROLES, "global role: on every repository")
ACCESS_LEVEL = enum(ACCESS_LEVELS)
VISIBILITY = enum(VISIBILITIES)
SHORT_DESCRIPTION = string(maxLength=140)
LONG_DESCRIPTION = string(maxLength=100_000)
PULL_ONLY_SIGNED = boolean(
    "only signed images may be pulled by those without admin level on the repository: a "
    "manifest needs a Docker Content Trust signature, a cosign signature verified with a "
    "trusted key or a notation signature chaining to a trusted certificate, or to be listed "
    "by a signed index; artifacts without filesystem layers "
    "(signatures, SBOMs) are always pullable; pushes are never refused"
)
SIGNATURE_TYPES = ("cosign", "notation", "sigstore", "dct")
REFERRER_KINDS = ("signature", "sbom", "attestation", "other")

# --- the LDAP and OIDC settings, from the dataclasses ---------------------------------------

SETTINGS_FIELD_DOCS = {
    "server_url": "ldap://host[:port] or ldaps://host[:port]",
    "start_tls": "upgrade an ldap:// connection with StartTLS (not with ldaps://)",
    "ca_certificate": "PEM certificate(s) to verify the server with; null: the system's CAs",
    "tls_skip_verify": "do not verify the server's certificate",
    "bind_dn": "the search account's DN",
    "bind_password": "the search account's password (never returned)",
    "user_base_dn": "where users are searched",
    "login_attribute": "the attribute users log in with (uid; sAMAccountName for AD)",
    "user_filter": "an LDAP filter selecting the users",
    "admin_group_dn": "members of this group are DTR administrators",
    "sync_interval_minutes": "minutes between two syncs (1 to 10080)",
    "timeout_seconds": "seconds to wait for the server (1 to 120)",
    "username": "the login attribute's value, lowercased",
    "dn": "the user's entry",
    "email": "the user's mail, if any",
    "full_name": "the user's cn, if any",
    "is_admin": "member of the admin group",
    "issuer": "the OpenID Connect provider's issuer URL, exactly as its discovery document "
    "names it (https://; http:// only on 127.0.0.1)",
    "client_id": "DTR's client id at the provider",
    "client_secret": "DTR's client secret at the provider (never returned)",
    "display_name": 'shown as "Sign in with ..."; empty: the issuer\'s host',
    "scopes": "requested scopes, separated by spaces; openid among them",
    "username_claim": "the claim whose value becomes the account name (lowercased)",
    "groups_claim": "the claim listing the person's groups",
    "admin_group": "people in this group are DTR administrators (checked at each sign-in)",
    "allowed_groups": "only people in one of these groups may sign in; empty: anyone",
    "allowed_domains": "only people with a verified e-mail address of these domains may sign "
    "in; empty: any",
    "default_role": "the global role of accounts made at a first sign-in",
    "clock_skew_seconds": "tolerated difference between the provider's clock and DTR's (0 to 300)",
}
_PYTHON_TYPES = {
    "str": {"type": "string"},
    "str | None": {"type": "string", "nullable": True},
    "bool": {"type": "boolean"},
    "int": {"type": "integer"},
    "list": {"type": "array", "items": {"type": "string"}},
}


def _type_name(annotation):
    if isinstance(annotation, str):
        return annotation
    return annotation.__name__ if isinstance(annotation, type) else str(annotation)


def dataclass_schema(cls, omit=(), for_input=False):
    """The JSON form of a dataclass. As output every field is present; as input the fields
    with defaults are optional (null or empty: the default)."""
    properties, required = {}, []
    for f in fields(cls):
        if f.name in omit:
            continue
        schema = dict(_PYTHON_TYPES[_type_name(f.type)])
        if f.name in SETTINGS_FIELD_DOCS:
            schema["description"] = SETTINGS_FIELD_DOCS[f.name]
        has_default = f.default is not MISSING or f.default_factory is not MISSING
        if for_input:
            if has_default:
                schema["nullable"] = True
                if f.default not in (MISSING, None):
                    schema["default"] = f.default
            else:
                required.append(f.name)
        else:
            required.append(f.name)
        properties[f.name] = schema
    if for_input:  # unknown settings are refused
        return obj(properties, required, additionalProperties=False)
    return obj(properties, required)


OIDC_SETTINGS_INPUT = dataclass_schema(OidcSettings, for_input=True)
OIDC_SETTINGS_INPUT["description"] = (
    "OpenID Connect settings; without client_secret, the stored secret is kept"
)
OIDC_SETTINGS_INPUT["required"] = [
    n for n in OIDC_SETTINGS_INPUT["required"] if n != "client_secret"
]
LDAP_SETTINGS_INPUT = dataclass_schema(LdapSettings, for_input=True)
LDAP_SETTINGS_INPUT["description"] = (
    "LDAP settings; without bind_password, the stored password is kept"
)
LDAP_SETTINGS_INPUT["required"] = [
    n for n in LDAP_SETTINGS_INPUT["required"] if n != "bind_password"
]

# --- component schemas -----------------------------------------------------------------------

# the API's codes, and that of a request line the HTTP server refuses as too long (414)
ERROR_CODES = sorted({code for code, _ in API_ERRORS.values()} | {GUNICORN_ERROR_CODES[414]})


def listing(key, item, description, total_nullable=False):
    total = integer("how many there are in all")
    if total_nullable:
        total = {**integer("null: not counted"), "nullable": True}
    return obj(
        {
            key: array(ref(item)),
            "start": integer("the index of the first item of this page"),
            "limit": integer("the page size asked for"),
            "total": total,
        },
        description=description,
    )


def wrapper(key, items, description):
    return obj({key: array(items)}, description=description)


GC_JOB = {
    "id": integer(),
    "job": enum(("registryGC",)),
    "state": enum(("running", "done", "failed")),
    "phase": string("what it is doing now, or finished"),
    "dryRun": boolean("nothing is deleted; the counts are what would be"),
    "triggeredBy": string(
        "schedule:<the UTC time it was scheduled for>, cli, or api:/web:<administrator>"
    ),
    "startedAt": TIMESTAMP,
    "finishedAt": {**TIMESTAMP, "nullable": True},
    "manifestsDeleted": integer(),
    "blobsDeleted": integer(),
    "bytesReclaimed": integer("bytes of the deleted blobs"),
    "uploadsDeleted": integer("abandoned upload files"),
    "errors": array(string()),
}
VERIFICATION = {
    "id": integer(),
    "job": enum(("storageVerify",)),
    "state": enum(("running", "done", "failed")),
    "phase": string("what it is doing now, or finished"),
    "backend": string("the storage backend verified and its place"),
    "triggeredBy": string("cli, or api:/web:<administrator>"),
    "startedAt": TIMESTAMP,
    "finishedAt": {**TIMESTAMP, "nullable": True},
    "blobsTotal": integer("blobs to check"),
    "bytesTotal": integer("their bytes"),
    "blobsChecked": integer("blobs checked so far"),
    "bytesChecked": integer("bytes read back and hashed so far"),
    "corrupt": integer("blobs whose stored bytes are not their digest's (quarantined)"),
    "missing": integer("blobs with nothing stored (quarantined)"),
    "restored": integer("quarantined blobs found whole again, and released"),
    "errors": array(string("a blob the backend could not read, or a failure")),
}
DAMAGED_BLOB = obj(
    {
        "digest": string(),
        "size": integer("bytes recorded"),
        "problem": enum(("corrupt", "missing")),
        "detail": string("what was found: the size or digest of the stored bytes"),
        "repositories": array(string("namespace/name of a repository that links the blob")),
        "tags": array(string("namespace/name:tag of an image that needs the blob")),
    },
    description="A blob quarantined: pulls answer BLOB_UNKNOWN until its content is pushed again",
)
GC_SETTINGS = {
    "graceWindowMinutes": integer(
        "blobs touched and manifests pushed this recently are kept", minimum=0, maximum=43200
    ),
    "deleteUntaggedManifests": boolean(
        "manifests that no tag, index or live subject keeps are garbage"
    ),
}
SCHEDULE_FORMS = (
    "cron, UTC: 6 fields with seconds first (0 0 0 * * *), 5 fields (0 3 * * *), or "
    "@hourly, @daily, @midnight, @weekly, @monthly, @yearly; empty: no schedule"
)

STORAGE_BACKEND = enum(BACKENDS, "where blobs are stored")

# --- credentials: the rules of Settings > Auth, access tokens, robot accounts ----------------

PASSWORD_MIN = PASSWORD_MIN_LENGTH_RANGE[0]
TOKEN_DAYS_TOP = TOKEN_MAX_DAYS_RANGE[1]
CREDENTIAL_RULE_DOCS = {
    "passwordMinLength": "the shortest password allowed, in characters: checked wherever a "
    "password is set (set-up, command line, API, portal, CSV import)",
    "tokenMaxLifetimeDays": "the longest lifetime of access tokens and robot accounts, in "
    "days: the highest expiresInDays allowed",
}
CREDENTIAL_RULE_FIELDS = {
    name: integer(
        f"{CREDENTIAL_RULE_DOCS[name]}; {SETTING_DEFAULTS[key]} on a fresh install",
        minimum=lowest,
        maximum=highest,
    )
    for name, (key, (lowest, highest)) in CREDENTIAL_RULES.items()
}
RULES_400 = ", ".join(
    f"{name} not a whole number from {lowest} to {highest}"
    for name, (_, (lowest, highest)) in CREDENTIAL_RULES.items()
)


def new_password(description):
    return string(
        f"{description}; at least passwordMinLength characters (Settings > Auth; never under "
        f"{PASSWORD_MIN}), at most {MAX_PASSWORD_LENGTH}",
        minLength=PASSWORD_MIN,
        maxLength=MAX_PASSWORD_LENGTH,
    )


EXPIRES_IN_DAYS = {
    **integer(
        f"days until it expires, from 1 to tokenMaxLifetimeDays (Settings > Auth); null or "
        f"left out: {DEFAULT_TOKEN_DAYS}, or tokenMaxLifetimeDays when that is lower",
        minimum=1,
        maximum=TOKEN_DAYS_TOP,
        default=DEFAULT_TOKEN_DAYS,
    ),
    "nullable": True,
}
EXPIRES_IN_DAYS_400 = "expiresInDays not a whole number from 1 to tokenMaxLifetimeDays"
CREDENTIAL_USE = {
    "createdAt": TIMESTAMP,
    "expiresAt": {**TIMESTAMP, "description": "UTC, ISO 8601: it stops working then"},
    "lastUsedAt": {
        **TIMESTAMP,
        "nullable": True,
        "description": "its last login (recorded at most once a minute); null: never used",
    },
    "lastUsedFrom": {**NULLABLE_STRING, "description": "the client address of its last login"},
}
SCOPE = enum(
    SCOPES,
    "registry:pull, registry:push (push and delete): docker and the /v2 registry; api:read "
    "(GET), api:write (every method): /api/v0; metrics: GET /metrics, the Prometheus metrics "
    "(administrators only: refused, 400, for anyone else). Always within what the owner may "
    "do.",
)
ACCESS_TOKEN_FIELDS = {
    "id": integer("what DELETE /accounts/{name}/tokens/{token_id} takes"),
    "name": string("the owner's label for it"),
    "scopes": array(SCOPE),
    **CREDENTIAL_USE,
}
TOKEN_SECRET = string(
    "the secret, shown in this answer only (only a hash is stored): the password of HTTP "
    "Basic or docker login, with the owner's name as the username; starts with dtr_pat_"
)
ROBOT_NAME_RULE = "lowercase letters and digits, then also - _ . (at most 100)"
ROBOT_ACTION_LISTS = [list(actions) for actions in ROBOT_ACTIONS]
ROBOT_ACTIONS_SCHEMA = {
    **array(enum(("pull", "push"))),
    "enum": ROBOT_ACTION_LISTS,
    "description": 'exactly ["pull"] or ["pull", "push"]',
}
ROBOT_FIELDS = {
    "name": string(f"<org>{SEPARATOR}<name>: its login name (docker login -u)"),
    "shortName": string("its name in the organization"),
    "organization": string("the organization's name"),
    "description": string(),
    "enabled": boolean("false: its logins and registry tokens are refused"),
    "access": array(ref("RobotAccess")),
    "createdBy": {**NULLABLE_STRING, "description": "who made it"},
    **CREDENTIAL_USE,
}
ROBOT_SECRET = string(
    "the secret, shown in this answer only (only a hash is stored): the password of docker "
    "login with name as the username; starts with dtr_robot_"
)
ROBOT_ACCESS_400 = (
    f"access not a list of at most {MAX_ACCESS_ENTRIES} entries, or an entry that is not an "
    'object with either repository or namespace and actions ["pull"] or ["pull", "push"], '
    "a namespace other than the organization, or a repository that is not one of its own"
)
ROBOT_DESCRIPTION_400 = "description not text of at most 1024 characters"

PROXY_FIELDS = {
    "upstreamUrl": string(
        "the upstream registry (default https://registry-1.docker.io, Docker Hub)",
        maxLength=2048,
    ),
    "username": string("for the upstream (optional)", nullable=True, maxLength=255),
    "verifyTls": boolean("false: accept any certificate of the upstream"),
    "visibility": enum(VISIBILITIES, "of the repositories pulls create (public: anyone may pull)"),
    "hosts": array(string("a host name, as containerd's ns= parameter names the upstream")),
    "defaultMirror": boolean(
        "answers docker's registry-mirrors pulls (names outside every namespace here); one "
        "proxy at most"
    ),
    "tagCheckSeconds": integer(
        "a tag is asked upstream again only after this long (0: every pull)",
        minimum=0,
        maximum=7 * 86400,
    ),
    "evictAfterDays": integer(
        "tags not pulled for this long are deleted (0: never)", minimum=0, maximum=3650
    ),
}
PROXY_PASSWORD = {"password": string("for the upstream: stored, never shown back", nullable=True)}

REPLICATION_FIELDS = {
    "url": string("the other registry (another DTR or any OCI registry)", maxLength=2048),
    "username": string("for the other registry (optional)", nullable=True, maxLength=255),
    "verifyTls": boolean("false: accept any certificate of the other registry"),
    "tags": array(string('a tag pattern: * matches any characters; default ["*"]')),
    "schedule": string("a cron schedule (UTC) of whole runs; empty: none"),
    "enabled": boolean("false: neither pushes nor the schedule queue runs"),
    "repositories": array(
        string("push: a pattern of local repository names (* within a component, ** across)")
    ),
    "remotePrefix": string("push: a name path put before each name on the other registry"),
    "onPush": boolean("push: each push of a matching tag queues a run (default true)"),
    "remoteRepository": string("pull: the repository on the other registry"),
    "localRepository": string(
        "pull: the local repository kept in sync (created when missing; read-only here)"
    ),
}
REPLICATION_PASSWORD = {
    "password": string("for the other registry: stored, never shown back", nullable=True)
}
REPLICATION_RUN_FIELDS = {
    "id": integer(),
    "trigger": enum(("push", "schedule", "manual", "retry")),
    "triggeredBy": NULLABLE_STRING,
    "repository": string("a push-triggered run: the repository pushed to", nullable=True),
    "tag": string("a push-triggered run: the tag pushed", nullable=True),
    "digest": string("a push-triggered run: a referrer pushed by digest", nullable=True),
    "state": enum(("queued", "running", "succeeded", "failed")),
    "queuedAt": TIMESTAMP,
    "startedAt": string(format="date-time", nullable=True),
    "finishedAt": string(format="date-time", nullable=True),
    "copied": integer("artifacts copied"),
    "skipped": integer("artifacts the other side had"),
    "failed": integer("artifacts that failed every attempt"),
    "bytes": integer("blob bytes sent or fetched"),
    "error": string("why the run could not start (the other registry unreachable)", nullable=True),
}

SCHEMAS = {
    "ReplicationRule": obj(
        {
            "name": string(),
            "direction": enum(("push", "pull")),
            **REPLICATION_FIELDS,
            "hasPassword": boolean(),
            "createdBy": NULLABLE_STRING,
            "createdAt": TIMESTAMP,
            "lastRun": nullable(obj(REPLICATION_RUN_FIELDS)),
        },
        description="What is copied to (push) or from (pull) another registry, and when",
    ),
    "ReplicationRuleList": wrapper(
        "rules", ref("ReplicationRule"), "Replication rules, by name, each with its last run"
    ),
    "NewReplicationRule": obj(
        {
            "name": string("the rule's name (lowercase letters, digits, - _ .)"),
            "direction": enum(("push", "pull"), "default push"),
            **REPLICATION_FIELDS,
            **REPLICATION_PASSWORD,
        },
        required=["name", "url"],
    ),
    "ReplicationRuleChanges": obj({**REPLICATION_FIELDS, **REPLICATION_PASSWORD}),
    "ReplicationRun": obj(REPLICATION_RUN_FIELDS, description="One execution of a rule"),
    "ReplicationRunList": wrapper("runs", ref("ReplicationRun"), "The latest runs, newest first"),
    "ReplicationRunDetail": obj(
        {
            **REPLICATION_RUN_FIELDS,
            "items": array(
                obj(
                    {
                        "repository": string("the local repository"),
                        "reference": string("a tag, or a digest"),
                        "digest": NULLABLE_STRING,
                        "outcome": enum(("copied", "skipped", "failed")),
                        "attempts": integer(),
                        "bytes": integer(),
                        "error": NULLABLE_STRING,
                        "at": TIMESTAMP,
                    }
                )
            ),
        },
        description="A run with what became of each artifact (the first 500)",
    ),
    "Proxy": obj(
        {
            "name": string(),
            **PROXY_FIELDS,
            "hasPassword": boolean(),
            "createdBy": NULLABLE_STRING,
            "createdAt": TIMESTAMP,
            "health": obj(
                {
                    "state": enum(("healthy", "unhealthy", "unknown")),
                    "lastSuccessAt": string(format="date-time", nullable=True),
                    "lastFailureAt": string(format="date-time", nullable=True),
                    "lastFailure": NULLABLE_STRING,
                }
            ),
        },
        description="An organization mirroring an upstream registry: pulls of its "
        "repositories fill them from the upstream; nobody pushes into it",
    ),
    "ProxyList": wrapper("proxies", ref("Proxy"), "Proxy namespaces, by name"),
    "NewProxy": obj(
        {"name": string("the organization to create"), **PROXY_FIELDS, **PROXY_PASSWORD},
        required=["name"],
    ),
    "ProxyChanges": obj({**PROXY_FIELDS, **PROXY_PASSWORD}),
    "ProxyCheck": obj({"reachable": boolean(), "error": NULLABLE_STRING}),
    "Account": obj(
        {
            "id": integer(),
            "name": string(),
            "type": enum(("user", "organization")),
            "role": {**ROLE, "description": "users only"},
            "isAdmin": boolean("users only: role is admin"),
            "isActive": boolean("users only: may log in"),
            "isLdap": boolean("users only: comes from LDAP"),
            "isOidc": boolean("users only: signs in with the OpenID Connect provider"),
            "createdAt": TIMESTAMP,
        },
        required=["id", "name", "type", "createdAt"],
        description="A user or an organization; role, isAdmin, isActive, isLdap, isOidc: "
        "users only",
    ),
    "Team": obj(
        {
            "id": integer(),
            "name": string(),
            "organization": string("the organization's name"),
            "description": string(),
            "type": enum(
                ("managed", "ldap", "oidc"),
                "ldap: members come from an LDAP group; oidc: from a group of the OpenID "
                "Connect provider, at each member's sign-in",
            ),
            "ldapGroupDN": NULLABLE_STRING,
            "oidcGroup": NULLABLE_STRING,
        },
        description="A team of an organization",
    ),
    "Repository": obj(
        {
            "id": integer(),
            "namespace": string("the user or organization owning it"),
            "namespaceType": enum(("user", "organization")),
            "name": string(),
            "fullName": string("namespace/name"),
            "visibility": VISIBILITY,
            "pullOnlySigned": PULL_ONLY_SIGNED,
            "shortDescription": string(),
            "longDescription": string(),
            "createdAt": TIMESTAMP,
        }
    ),
    "Tag": obj(
        {
            "name": string(),
            "digest": string("the manifest's digest"),
            "mediaType": string("the manifest's media type"),
            "manifestSize": integer("bytes"),
            "pushedBy": {**NULLABLE_STRING, "description": "who pushed it last"},
            "updatedAt": TIMESTAMP,
            "pullCount": integer(
                "manifest GETs naming this tag (counted in batches: up to 10 s late)"
            ),
            "lastPulledAt": {**TIMESTAMP, "nullable": True, "description": "null: never pulled"},
            "signed": boolean(
                "a verified signature: Docker Content Trust, cosign by a trusted key, or notation "
                "chaining to a trusted certificate"
            ),
            "signatures": array(ref("TagSignature")),
            "referrers": array(ref("TagReferrer")),
        },
        description="A tag of a repository, the manifest it points to, and the signatures "
        "and other artifacts (SBOMs, attestations) attached to that manifest",
    ),
    "TagSignature": obj(
        {
            "type": enum(SIGNATURE_TYPES),
            "signer": {
                **NULLABLE_STRING,
                "description": "verified: the trusted key's name or the DCT signer; else "
                "what the signature says of its signer, if anything",
            },
            "verified": boolean("it counts: the image is signed"),
            "digest": {
                **NULLABLE_STRING,
                "description": "the signature artifact's manifest; null for DCT",
            },
            "problem": {**NULLABLE_STRING, "description": "why it does not count"},
        },
        description="A signature of the tag's manifest",
    ),
    "TagReferrer": obj(
        {
            "digest": string("the artifact's manifest"),
            "artifactType": NULLABLE_STRING,
            "kind": enum(REFERRER_KINDS),
        },
        description="An artifact attached to the tag's manifest: through the referrers API "
        "(its subject), or tagged sha256-<hex>.sig/.att/.sbom (cosign's older scheme)",
    ),
    "TrustedKey": obj(
        {
            "name": string(),
            "scope": enum(
                ("repository", "namespace"), "namespace keys apply to all its repositories"
            ),
            "type": enum(("publicKey", "certificate")),
            "algorithm": string("ecdsa-p256, ecdsa-p384, ecdsa-p521, rsa-<bits>, ed25519"),
            "fingerprint": string("sha256:<hex> of the DER public key"),
            "pem": string("the PEM as registered"),
            "createdBy": NULLABLE_STRING,
            "createdAt": TIMESTAMP,
        },
        description="A public key trusted to sign images (cosign signatures)",
    ),
    "TrustedKeyList": wrapper(
        "trustedKeys", ref("TrustedKey"), "Trusted keys: the repository's, then its namespace's"
    ),
    "ImmutableTagRule": obj(
        {
            "id": {"type": "integer"},
            "pattern": string("a glob matched against whole tags: * any run, ? one, [...] a set"),
            "scope": enum(
                ("repository", "namespace"), "namespace rules apply to all its repositories"
            ),
            "createdBy": NULLABLE_STRING,
            "createdAt": TIMESTAMP,
        },
        description="Tags matching the pattern are immutable once they exist: never moved to "
        "another manifest nor deleted, by anyone (administrators included)",
    ),
    "ImmutableTagRuleList": wrapper(
        "immutableTagRules",
        ref("ImmutableTagRule"),
        "Immutable tag rules: the repository's, then its namespace's",
    ),
    "NewImmutableTagRule": obj(
        {"pattern": string(PATTERN_RULE, pattern=json_schema_pattern(IMMUTABLE_PATTERN))},
    ),
    "Webhook": obj(
        {
            "id": integer(),
            "url": string("where deliveries are POSTed"),
            "events": array(enum(WEBHOOK_EVENTS)),
            "enabled": boolean("false: nothing is queued for it (the Test button still sends)"),
            "scope": enum(
                ("repository", "namespace", "registry"),
                "a namespace's: all its repositories; the registry's: every repository and "
                "the registry's own events",
            ),
            "createdBy": NULLABLE_STRING,
            "createdAt": TIMESTAMP,
        },
        description="Where the events of a repository, a namespace or the registry are POSTed "
        "as JSON "
        "(WebhookPayload), signed: X-DTR-Signature: sha256=<hex HMAC-SHA256 of the body with "
        "the secret>; also X-DTR-Event (the event) and X-DTR-Delivery (the delivery's id, the "
        "same on every retry: drop a repeat). Retried with exponential backoff until answered "
        "2xx or out of attempts. The secret is never shown after creation.",
    ),
    "CreatedWebhook": obj(
        {
            "id": integer(),
            "url": string(),
            "events": array(enum(WEBHOOK_EVENTS)),
            "enabled": boolean(),
            "scope": enum(("repository", "namespace", "registry")),
            "createdBy": NULLABLE_STRING,
            "createdAt": TIMESTAMP,
            "secret": string("the signing secret: shown this once"),
        },
        description="A new webhook with its secret (given, or generated when not)",
    ),
    "WebhookList": wrapper("webhooks", ref("Webhook"), "The webhooks of this scope"),
    "NewWebhook": obj(
        {
            "url": string(
                "an http:// or https:// URL (redirects are not followed); not to a loopback, "
                "link-local, unspecified, multicast or reserved address unless the server "
                "allows it (DTR_WEBHOOK_ALLOW_LOCAL): an address is refused here, a name "
                "that resolves to one is not sent to",
                maxLength=WEBHOOK_MAX_URL,
            ),
            "events": {
                **array(enum(WEBHOOK_EVENTS)),
                "minItems": 1,
                "description": f"{', '.join(CONTENT_EVENTS)}; for the registry's webhooks "
                "also gc.finish, storage.verified and replication.finish",
            },
            "secret": string(
                "signs each delivery; generated (and returned once) when omitted",
                minLength=WEBHOOK_SECRET_LENGTHS[0],
                maxLength=WEBHOOK_SECRET_LENGTHS[1],
            ),
            "enabled": boolean("default true"),
        },
        required=("url", "events"),
        additionalProperties=False,
    ),
    "WebhookChange": obj(
        {
            "url": string(maxLength=WEBHOOK_MAX_URL),
            "events": {**array(enum(WEBHOOK_EVENTS)), "minItems": 1},
            "secret": string(
                minLength=WEBHOOK_SECRET_LENGTHS[0], maxLength=WEBHOOK_SECRET_LENGTHS[1]
            ),
            "enabled": boolean(),
        },
        required=(),
        additionalProperties=False,
        description="The fields to change; the others keep their values",
    ),
    "WebhookPayload": obj(
        {
            "id": string("the event's id: the same in a redelivery"),
            "event": enum((*WEBHOOK_EVENTS, WEBHOOK_TEST_EVENT)),
            "time": TIMESTAMP,
            "actor": string("who did it (absent: anonymous or the command line)"),
            "repository": string("<namespace>/<name>"),
            "tag": string(),
            "digest": string("the manifest's digest"),
            "mediaType": string("the manifest's media type"),
            "size": integer("the manifest's size in bytes"),
            "usedBytes": integer("quota events: what the namespace holds (or would)"),
            "quotaBytes": integer("quota events: the namespace's quota"),
            "outcome": {
                "type": "object",
                "description": "gc.finish and storage.verified: the job's outcome (job, "
                "state, and what it deleted or checked and found: manifestsDeleted, "
                "blobsDeleted, bytesReclaimed, uploadsDeleted, dryRun, triggeredBy, seconds; "
                "blobsChecked, bytesChecked, corrupt, missing, restored); replication.finish: "
                "the run's (rule, direction, run, trigger, state, copied, skipped, failed, "
                "bytes, error)",
            },
        },
        required=("id", "event", "time"),
        description="The JSON body of a webhook delivery; fields that do not apply to the "
        "event are absent. Keys are sorted.",
    ),
    "WebhookAttempt": obj(
        {
            "at": TIMESTAMP,
            "statusCode": {**integer("the receiver's answer"), "nullable": True},
            "error": {
                **string("why no answer came (connection refused, timeout...)"),
                "nullable": True,
            },
            "milliseconds": integer(),
        }
    ),
    "WebhookDelivery": obj(
        {
            "id": integer("sent as X-DTR-Delivery"),
            "event": string(),
            "eventId": string(),
            "state": enum(("pending", "delivered", "failed")),
            "attempts": integer(),
            "nextAttemptAt": {**TIMESTAMP, "nullable": True},
            "redeliveryOf": {**integer("the delivery this one repeats"), "nullable": True},
            "createdAt": TIMESTAMP,
            "finishedAt": {**TIMESTAMP, "nullable": True},
            "payload": string("the body, as sent (WebhookPayload)"),
            "lastAttempts": array(ref("WebhookAttempt")),
        },
        description="One event queued for one webhook, with its latest attempts (newest "
        "first, at most 10)",
    ),
    "WebhookDeliveryList": listing(
        "deliveries", "WebhookDelivery", "Deliveries of a webhook, newest first"
    ),
    "DeletedTag": obj(
        {
            "id": integer("what restoring names"),
            "tag": string(),
            "digest": string("the manifest it pointed at"),
            "deletedBy": NULLABLE_STRING,
            "deletedAt": TIMESTAMP,
        }
    ),
    "DeletedTagList": wrapper(
        "deletedTags",
        ref("DeletedTag"),
        "Tags deleted within the restore window (DTR_TAG_RESTORE_DAYS, 14 by default), newest "
        "first (at most 200)",
    ),
    "RestoredTag": obj({"tag": string(), "digest": string()}),
    "RetentionRule": obj(
        {
            "keep": enum(
                RETENTION_KEEPS,
                "mostRecent: the `count` most recently pushed of the tags it matches; "
                "pushedOrPulledWithinDays: those pushed or pulled within `days`",
            ),
            "count": integer("for mostRecent", minimum=1, maximum=RETENTION_MAX),
            "days": integer("for pushedOrPulledWithinDays", minimum=1, maximum=RETENTION_MAX),
            "tags": string("a glob the tag must match (default *)", maxLength=128),
            "exclude": string("a glob the tag must not match", maxLength=128),
        },
        required=("keep",),
        additionalProperties=False,
    ),
    "RetentionPolicy": obj(
        {
            "scope": enum(("repository", "namespace", "registry")),
            "rules": array(ref("RetentionRule")),
            "schedule": string("cron (UTC) when it runs by itself; empty: only on demand"),
            "updatedBy": NULLABLE_STRING,
            "updatedAt": TIMESTAMP,
        },
        description="A tag is kept when any rule keeps it, and always when it is immutable "
        "or a cosign signature/attestation/SBOM tag; every other tag is deleted when the "
        "policy runs (restorable for the restore window). Tags only: garbage collection "
        "keeps an index's children and an image's referrers while it is kept.",
    ),
    "RetentionPolicyChange": obj(
        {
            "rules": {**array(ref("RetentionRule")), "minItems": 1, "maxItems": 10},
            "schedule": string(
                "cron (UTC), as the garbage collection schedule takes it (5 fields, 6 with "
                "seconds first, or @daily...); empty or absent: only on demand"
            ),
        },
        required=("rules",),
        additionalProperties=False,
    ),
    "RetentionRunRequest": obj(
        {"dryRun": boolean("only report what would be deleted (default false)")},
        required=(),
        additionalProperties=False,
    ),
    "RetentionRun": obj(
        {
            "id": integer(),
            "triggeredBy": string("api:<user>, or schedule:<the UTC time it was due>"),
            "dryRun": boolean(),
            "startedAt": TIMESTAMP,
            "finishedAt": {**TIMESTAMP, "nullable": True},
            "tagsKept": integer(),
            "tagsDeleted": integer("deleted, or for a dry run would be"),
            "repositories": {
                "type": "object",
                "description": "per repository (namespace/name): deleted and kept tag names",
                "additionalProperties": obj({"deleted": array(string()), "kept": array(string())}),
            },
        }
    ),
    "RetentionRunList": wrapper("runs", ref("RetentionRun"), "Runs, newest first (at most 20)"),
    "RepositoryUsage": obj(
        {"repository": string(), "usedBytes": integer()},
        description="Bytes the repository's manifests hold: their own and each blob they "
        "reference, counted once",
    ),
    "NamespaceUsage": obj(
        {
            "namespace": string(),
            "usedBytes": integer("each blob counted once in the namespace"),
            "quotaBytes": {**integer("null: no limit"), "nullable": True},
            "warningPercent": integer("a push crossing this share of the quota: quota.warning"),
        }
    ),
    "QuotaChange": obj(
        {
            "quotaBytes": {
                **integer("null: no limit", minimum=0, maximum=2**62),
                "nullable": True,
            },
            "warningPercent": integer("default 80", minimum=1, maximum=100),
        },
        required=("quotaBytes",),
        additionalProperties=False,
    ),
    "RegistryUsage": obj(
        {"usedBytes": integer("each blob counted once in the whole registry")},
    ),
    "NewTrustedKey": obj(
        {
            "name": string(
                "letters, digits, . _ - (at most 100)", pattern=json_schema_pattern(KEY_NAME)
            ),
            "pem": string(
                "a PEM public key (ECDSA P-256/P-384/P-521, RSA of 2048 bits or more, Ed25519) "
                "or a certificate"
            ),
        }
    ),
    "TeamAccess": obj({"team": ref("Team"), "accessLevel": ACCESS_LEVEL}),
    "UserAccess": obj({"user": ref("Account"), "accessLevel": ACCESS_LEVEL}),
    "RepositoryAccess": obj({"repository": ref("Repository"), "accessLevel": ACCESS_LEVEL}),
    "TeamMembership": obj(
        {"member": string(), "team": string(), "organization": string()},
        description="A user in a team",
    ),
    "AuditEvent": obj(
        {
            "id": integer(),
            "at": TIMESTAMP,
            "actor": {**NULLABLE_STRING, "description": "null: anonymous or the command line"},
            "action": string("such as account.create, grant.team, repository.delete"),
            "target": string("what was changed: an account, team or repository name"),
            "detail": {"type": "object", "nullable": True, "additionalProperties": True},
            "address": {**NULLABLE_STRING, "description": "the client's IP address"},
        }
    ),
    "AccountList": listing("accounts", "Account", "A page of accounts, by name"),
    "RepositoryList": listing("repositories", "Repository", "A page of repositories"),
    "AuditEventList": listing(
        "events", "AuditEvent", "A page of events, newest first", total_nullable=True
    ),
    "LogLine": obj(
        {
            "seq": integer("the line's number: one sequence across components and replicas"),
            "time": TIMESTAMP,
            "replica": string("the replica (REPLICA_NAME, else its host name) that logged it"),
            "component": enum(COMPONENTS),
            "level": enum(LEVELS),
            "logger": string("the Python logger, dtr.<component>[.module]"),
            "message": string(),
            "user": {**NULLABLE_STRING, "description": "lines logged in a request: the caller"},
            "client": {**NULLABLE_STRING, "description": "lines logged in a request: its address"},
            "method": string("request lines: the HTTP method"),
            "path": string("request lines: the path, and the query's parameter names only"),
            "status": integer("request lines: the response status"),
            "bytes": {**integer("request lines: the body size; null: streamed"), "nullable": True},
            "durationMs": {
                "type": "number",
                "description": "request lines: milliseconds to answer (to a tenth)",
                "nullable": True,
            },
            "exception": string("the traceback of an error"),
        },
        required=["seq", "time", "replica", "component", "level", "logger", "message"],
        description="A line of a component's log",
    ),
    "LogLines": obj(
        {
            "lines": array(ref("LogLine")),
            "last": integer("pass it as since to get only the lines that come after"),
        },
        description="Lines of the logs, oldest first",
    ),
    "OrganizationList": wrapper("organizations", ref("Account"), "Organizations, by name"),
    "TeamList": wrapper("teams", ref("Team"), "Teams, by name"),
    "MemberList": wrapper("members", ref("Account"), "Members of a team, by name"),
    "TagList": wrapper("tags", ref("Tag"), "Tags, by name"),
    "TeamAccessList": wrapper("teamAccessList", ref("TeamAccess"), "Team grants, by team"),
    "UserAccessList": wrapper("userAccessList", ref("UserAccess"), "User grants, by user"),
    "RepositoryAccessList": wrapper(
        "repositoryAccessList", ref("RepositoryAccess"), "A team's grants, by repository name"
    ),
    "LdapSettings": dataclass_schema(LdapSettings, omit=("bind_password",)),
    "LdapSettingsInput": LDAP_SETTINGS_INPUT,
    "LdapUser": dataclass_schema(LdapUser),
    "OidcSettingsInput": OIDC_SETTINGS_INPUT,
    "AuthSettings": obj(
        {
            "mode": enum(MODES),
            "ldap": nullable(dataclass_schema(LdapSettings, omit=("bind_password",))),
            "oidc": nullable(dataclass_schema(OidcSettings, omit=("client_secret",))),
            **CREDENTIAL_RULE_FIELDS,
        },
        description="The auth mode, the stored LDAP and OpenID Connect settings (null: none "
        "saved) and the credential rules",
    ),
    "OidcTest": obj(
        {"oidc": ref("OidcSettingsInput")},
        required=[],
        additionalProperties=False,
        description="OpenID Connect settings to test; left out: the saved ones",
    ),
    "Version": obj(
        {
            "version": string("DTR's version, such as 0.14.0"),
            "schemaRevision": string("the database's schema revision (its latest migration)"),
        },
        required=["version", "schemaRevision"],
    ),
    "OidcTestResult": obj(
        {
            "ok": boolean("the discovery document and the keys were fetched"),
            "message": string("what was found, or what is wrong"),
            "issuer": string(),
            "authorizationEndpoint": string(),
            "endSessionEndpoint": NULLABLE_STRING,
            "keys": integer("signing keys published"),
        },
        required=["ok", "message"],
    ),
    "GeneralSettings": obj(
        {
            "domainName": nullable(
                string(
                    "the registry's address as clients type it (host or host:port); the TLS "
                    "certificate covers its host. null: none set, pages show the address "
                    "each client used"
                )
            ),
            "createOnPush": boolean("a push to a missing repository creates it"),
            "tokenLifetimeSeconds": integer("seconds a registry token lives", minimum=60),
        },
        required=["domainName", "createOnPush", "tokenLifetimeSeconds"],
        description="Settings > General",
    ),
    "GeneralSettingsChange": obj(
        {
            "domainName": nullable(
                string("a DNS name or an IP address, with :port unless clients use 443")
            ),
            "createOnPush": boolean(),
            "tokenLifetimeSeconds": integer(minimum=60, maximum=86400),
        },
        required=[],
        description="Any of the general settings; those left out keep their value",
        additionalProperties=False,
    ),
    # storage
    "StorageField": obj(
        {
            "name": string("the option's key in options"),
            "label": string(),
            "kind": enum(("text", "secret", "bool", "int"), "secret: never shown back"),
            "required": boolean(),
            "default": {"description": "the value when left out (any type; null: none)"},
            "help": string(),
        },
        description="One option of a storage backend, as the settings form shows it",
    ),
    "StorageSettings": obj(
        {
            "backend": STORAGE_BACKEND,
            "options": {
                "type": "object",
                "additionalProperties": True,
                "description": "the backend's options but its secrets",
            },
            "secrets": {
                "type": "object",
                "additionalProperties": boolean(),
                "description": "each secret option of the backend: whether it is set",
            },
            "fields": {
                "type": "object",
                "additionalProperties": array(ref("StorageField")),
                "description": "the options of every backend, by backend",
            },
            "migrateCommand": string("the command that copies the blobs to another backend"),
        },
        description="Settings > Storage: the backend in force and its options",
    ),
    "StorageSettingsChange": obj(
        {
            "backend": STORAGE_BACKEND,
            "options": {
                "type": "object",
                "additionalProperties": True,
                "description": "the backend's options (see fields); a secret left out or "
                '"" keeps the stored one of the same backend, null clears it',
            },
        },
        required=["backend"],
        additionalProperties=False,
    ),
    "StorageTestResult": obj(
        {
            "ok": boolean("a probe object was written, read back and deleted"),
            "message": string("what happened; on failure, what the storage said"),
        }
    ),
    "LdapTryLoginResult": obj(
        {
            "ok": boolean("the login worked"),
            "message": string("what happened, with the detail needed to fix the settings"),
            "user": nullable(dataclass_schema(LdapUser)),
        }
    ),
    "LdapSyncResult": obj(
        {
            "created": integer("accounts created"),
            "deactivated": integer("accounts deactivated (gone from the directory)"),
            "teams": integer("LDAP teams whose members were set"),
        }
    ),
    "LicenseStatus": obj(
        {
            "state": enum(
                LICENSE_STATES,
                "trial and trial-expired: no license installed; expiring: 14 days or less "
                "left; invalid: the stored license no longer verifies (see problem)",
            ),
            "licensee": {**NULLABLE_STRING, "description": "null without a valid license"},
            "tier": NULLABLE_STRING,
            "licenseType": NULLABLE_STRING,
            "keyId": {**NULLABLE_STRING, "description": "the license file's key_id"},
            "seatsAllowed": {**integer("null: unlimited (trial)"), "nullable": True},
            "seatsUsed": integer("active user accounts"),
            "expiresAt": {
                **TIMESTAMP,
                "nullable": True,
                "description": "when the license or the trial ends (UTC); null: invalid",
            },
            "daysLeft": {
                **integer("whole days left, rounded up; 0 once expired"),
                "nullable": True,
            },
            "banner": {
                **NULLABLE_STRING,
                "description": "the warning shown on admin pages (14 days or less left, expired "
                "or invalid); null: none",
            },
            "problem": {
                **NULLABLE_STRING,
                "description": "state invalid: why the stored license does not verify",
            },
        },
        description="The license (or the 30-day trial of a fresh install). An expired or "
        "invalid license only warns: pulls and pushes keep working.",
    ),
    "LicenseFile": obj(
        {
            "key_id": string("the license's identifier"),
            "private_key": string("base64url; the key of the token's HMAC"),
            "authorization": string(
                "base64 of a compact JWS (ES256 or RS256) by the trusted license key, whose "
                "payload is {expiration (RFC 3339), token (base64url HMAC-SHA256 of "
                "expiration with private_key), maxEngines (seats), licenseType, tier, "
                "licensee}"
            ),
        },
        description="A DTR license file, as it is (the body is the file's content)",
    ),
    "SearchResults": obj(
        {
            "repositoryResults": array(ref("Repository")),
            "numRepositoryResults": integer("how many repositories match in all"),
            "accountResults": array(ref("Account")),
        }
    ),
    "AutocompleteResults": obj(
        {"results": array(string())},
        description="Repository full names, then account names",
    ),
    "Error": obj(
        {
            "errors": array(
                obj(
                    {
                        "code": enum(ERROR_CODES),
                        "message": string("safe to show; a field's errors start with its name"),
                        "detail": {
                            "type": "object",
                            "nullable": True,
                            "additionalProperties": True,
                        },
                    }
                )
            )
        },
        description="One or more errors",
    ),
    # garbage collection
    "GcJob": obj(GC_JOB, description="A garbage collection run (a registryGC job)"),
    "GcJobDetail": obj(
        {
            **GC_JOB,
            "report": {
                **obj(
                    {
                        "manifests": array(string("namespace/name@digest")),
                        "blobs": array(string("a blob's digest")),
                        "uploads": array(string("a path under the storage's uploads/")),
                        "truncated": boolean("more than 10,000 of a kind: the rest unlisted"),
                    }
                ),
                "nullable": True,
                "description": "what was deleted, or for a dry run what would be; null "
                "while it runs",
            },
        },
        description="A garbage collection run with what it deleted (or would delete)",
    ),
    "GcJobList": listing("jobs", "GcJob", "Garbage collection runs, newest first"),
    # storage verification
    "StorageVerification": obj(VERIFICATION, description="A storage verification (a scrub)"),
    "StorageVerificationDetail": obj(
        {
            **VERIFICATION,
            "report": obj(
                {
                    "blobs": array(DAMAGED_BLOB),
                    "truncated": boolean("more than 1,000 damaged blobs: the rest unlisted"),
                },
                description="the corrupt and missing blobs found (empty while it runs)",
            ),
        },
        description="A storage verification with the damaged blobs it found",
    ),
    "StorageVerificationList": listing(
        "verifications", "StorageVerification", "Storage verifications, newest first"
    ),
    "GcJobStart": obj(
        {"job": enum(("registryGC",)), "dryRun": boolean("list what would go; delete nothing")},
        required=["job"],
    ),
    "GcSchedule": obj(
        {
            "schedule": string(SCHEDULE_FORMS),
            "nextRuns": array(string("UTC, ISO 8601", format="date-time")),
        },
        description="The cron schedule of garbage collection and its next three run times",
    ),
    "GcScheduleChange": obj({"schedule": string(SCHEDULE_FORMS)}),
    "GcSavings": obj(
        {
            "jobId": {**integer(), "nullable": True, "description": "null: no run yet"},
            "finishedAt": {**TIMESTAMP, "nullable": True},
            "manifestsDeleted": integer(),
            "blobsDeleted": integer(),
            "bytesReclaimed": integer(),
        },
        description="What the last finished garbage collection (not a dry run) reclaimed",
    ),
    "GcSettings": obj(GC_SETTINGS, description="How garbage collection decides what is garbage"),
    "GcSettingsChange": obj(GC_SETTINGS, required=[], additionalProperties=False),
    # personal access tokens
    "AccessToken": obj(
        ACCESS_TOKEN_FIELDS,
        description="A personal access token of a user, without its secret",
    ),
    "AccessTokenWithSecret": obj(
        {**ACCESS_TOKEN_FIELDS, "token": TOKEN_SECRET},
        description="A personal access token just created, with its secret",
    ),
    "AccessTokenList": wrapper(
        "tokens", ref("AccessToken"), "A user's access tokens, oldest first (expired ones too)"
    ),
    "NewAccessToken": obj(
        {
            "name": string(
                f"a label, unique among the user's tokens: printable text, 1 to "
                f"{MAX_CREDENTIAL_NAME} characters once trimmed",
                minLength=1,
            ),
            "scopes": {
                **array(SCOPE),
                "minItems": 1,
                "description": "what it may do (repeats are ignored)",
            },
            "expiresInDays": EXPIRES_IN_DAYS,
        },
        required=["name", "scopes"],
    ),
    # robot accounts
    "RobotAccess": {
        "oneOf": [
            obj(
                {
                    "repository": string(
                        "namespace/name: one existing repository of the robot's organization"
                    ),
                    "actions": ROBOT_ACTIONS_SCHEMA,
                },
                additionalProperties=False,
            ),
            obj(
                {
                    "namespace": string(
                        "the robot's organization: every repository of it, present and future"
                    ),
                    "actions": ROBOT_ACTIONS_SCHEMA,
                },
                additionalProperties=False,
            ),
        ],
        "description": "What a robot may do on one repository of its organization, or on all "
        "of them; it also pulls public repositories",
    },
    "Robot": obj(
        ROBOT_FIELDS, description="A robot account of an organization, without its secret"
    ),
    "RobotWithSecret": obj(
        {**ROBOT_FIELDS, "secret": ROBOT_SECRET},
        description="A robot account just made or given a new secret, with that secret",
    ),
    "RobotList": wrapper("robots", ref("Robot"), "An organization's robot accounts, by name"),
    "NewRobot": obj(
        {
            "name": string(
                ROBOT_NAME_RULE, pattern=json_schema_pattern(ACCOUNT_NAME), maxLength=100
            ),
            "description": string(maxLength=1024, default=""),
            "expiresInDays": EXPIRES_IN_DAYS,
            "access": {
                **array(ref("RobotAccess")),
                "maxItems": MAX_ACCESS_ENTRIES,
                "default": [],
                "description": "empty: it pulls only public repositories",
            },
        },
        required=["name"],
    ),
    "RobotChange": obj(
        {
            "description": {**string(maxLength=1024), "nullable": True},
            "enabled": boolean("false: refuse its logins and registry tokens, at once"),
            "access": {
                **array(ref("RobotAccess")),
                "maxItems": MAX_ACCESS_ENTRIES,
                "description": "replaces the whole list; its registry tokens stop at once",
            },
        },
        required=[],
        additionalProperties=False,
        description="Any of these; those left out keep their value. The name and the expiry "
        "cannot be changed.",
    ),
    "NoInput": obj(
        {},
        additionalProperties=False,
        description="An empty object: the operation takes no input and does not read the body",
    ),
    # request bodies
    "NewUser": obj(
        {
            "type": enum(("user",), default="user"),
            "name": ACCOUNT_NAME_SCHEMA,
            "password": new_password("the password"),
            "role": {**ROLE, "default": "none"},
            "setupCode": string(
                "creating the first admin of a fresh install from another machine than DTR's "
                "own: the one-time set-up code `python app.py serve` printed (also in the "
                "instance folder's setup_code file); not needed from the host itself, and "
                "ignored once DTR is set up"
            ),
        },
        required=["name", "password"],
    ),
    "NewOrganization": obj(
        {"type": enum(("organization",)), "name": ACCOUNT_NAME_SCHEMA},
        required=["type", "name"],
    ),
    "AccountChange": obj({"role": ROLE}, additionalProperties=False),
    "UserImport": obj(
        {
            "csv": string(
                "lines of username,password[,role]; an optional header line "
                "username,password,role; role defaults to none; each password of at least "
                "passwordMinLength characters (Settings > Auth)"
            )
        }
    ),
    "ImportedAccounts": wrapper("accounts", ref("Account"), "The users created, in file order"),
    "PasswordChange": obj(
        {
            "oldPassword": string("required unless the caller is an administrator"),
            "newPassword": new_password("the new password"),
        },
        required=["newPassword"],
    ),
    "NewTeam": obj(
        {
            "name": ACCOUNT_NAME_SCHEMA,
            "description": string(default=""),
            "ldapGroupDN": string("members come from this LDAP group at each sync"),
            "oidcGroup": string(
                "members come from this group of the OpenID Connect provider, at each "
                "member's sign-in"
            ),
        },
        required=["name"],
    ),
    "TeamChange": obj(
        {
            "description": string(),
            "ldapGroupDN": {
                **NULLABLE_STRING,
                "description": "null or empty: a managed team",
            },
            "oidcGroup": {
                **NULLABLE_STRING,
                "description": "null or empty: not bound to a group of the provider",
            },
        },
        required=[],
    ),
    "NewRepository": obj(
        {
            "name": REPOSITORY_NAME_SCHEMA,
            "visibility": {**VISIBILITY, "default": "private"},
            "shortDescription": {**SHORT_DESCRIPTION, "default": ""},
            "longDescription": {**LONG_DESCRIPTION, "default": ""},
        },
        required=["name"],
    ),
    "RepositoryChange": obj(
        {
            "visibility": VISIBILITY,
            "pullOnlySigned": PULL_ONLY_SIGNED,
            "shortDescription": SHORT_DESCRIPTION,
            "longDescription": LONG_DESCRIPTION,
        },
        required=[],
        additionalProperties=False,
    ),
    "AccessGrant": obj({"accessLevel": ACCESS_LEVEL}),
    "AuthSettingsChange": obj(
        {
            "mode": {**enum(MODES), "description": "unchanged when left out"},
            "ldap": ref("LdapSettingsInput"),
            "oidc": ref("OidcSettingsInput"),
            **CREDENTIAL_RULE_FIELDS,
        },
        required=[],
        additionalProperties=False,
        description="Any of the auth settings; those left out keep their value. Unknown "
        "fields are refused.",
    ),
    "LdapTryLogin": obj(
        {
            "username": string(),
            "password": string(),
            "ldap": ref("LdapSettingsInput"),
        },
        required=["username", "password"],
        description="A login to try, with the given LDAP settings or else the saved ones",
    ),
}

# --- responses and parameters ----------------------------------------------------------------

NOT_SET_UP = "NOT_SET_UP: DTR has no auth mode yet (a fresh install)"
BEARER_REFUSED = (
    "a registry token (Bearer, from /auth/token: it is for /v2 only, /api/v0 refuses it)"
)
NUL_REFUSED = "INVALID_INPUT: a NUL (U+0000) in a path segment, a query parameter or the body"
ERROR_RESPONSES = {
    400: (
        "BadRequest",
        "INVALID_INPUT: the body is not a JSON object, a field is missing or has a wrong "
        "type or value (the message starts with the field's name, detail.field names it), "
        "or the request is refused as it stands; INVALID_NAME: an invalid name",
    ),
    401: (
        "Unauthorized",
        "NOT_AUTHENTICATED: wrong credentials (a password, or an access token or robot secret "
        "that is unknown, revoked, expired or disabled), a deactivated account, an "
        f"unsupported scheme, {BEARER_REFUSED}, or no credentials where they are needed",
    ),
    403: ("Forbidden", "NOT_AUTHORIZED: the caller may not do this"),
    404: (
        "NotFound",
        "NO_SUCH_RESOURCE: no such account, team, member or repository, or a repository the "
        "caller may not see",
    ),
    409: (
        "Conflict",
        f"ALREADY_EXISTS: the name is taken; {NOT_SET_UP}, only the first admin can be created",
    ),
    414: (
        "URITooLong",
        "URI_TOO_LONG: the request line (method, path and query string) is longer than 4094 "
        "bytes; answered by the HTTP server before any operation",
    ),
    429: (
        "TooManyRequests",
        "TOO_MANY_REQUESTS: refused for now, retry after Retry-After seconds (also "
        "detail.retryAfter): too many failed logins of this name or from this address (the "
        "login throttle), or every password check is busy",
    ),
}
ERROR_HEADERS = {
    401: {"WWW-Authenticate": {"description": 'Basic realm="DTR"', "schema": {"type": "string"}}},
    429: {
        "Retry-After": {
            "description": "seconds to wait before trying again",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}


def error_response(status, description=None):
    """A shared error response, or one with the reasons of a particular operation."""
    name, generic = ERROR_RESPONSES[status]
    if description is None:
        return {"$ref": f"#/components/responses/{name}"}
    response = {
        "description": description,
        "content": {"application/json": {"schema": ref("Error")}},
    }
    if status in ERROR_HEADERS:
        response["headers"] = ERROR_HEADERS[status]
    return response


RESPONSES = {name: error_response(status, text) for status, (name, text) in ERROR_RESPONSES.items()}

PATH_PARAMETERS = {
    "name": "a user or organization name",
    "org": "an organization's name",
    "team": "a team's name in the organization",
    "member": "a user's name",
    "namespace": "a user or organization name: the namespace of repositories",
    "repo": "a repository's name in its namespace",
    "user": "a user's name",
    "tag": "a tag of the repository",
    "reference": "a tag, or a manifest's digest (sha256:...)",
    "id": "a job's id",
    "key": "a trusted key's name",
    "rule": "an immutable tag rule's id",
    "webhook": "a webhook's id",
    "proxy": "a proxy namespace's name (an organization)",
    "rule_name": "a replication rule's name",
    "run": "a replication run's id",
    "delivery": "a webhook delivery's id",
    "deleted": "a deleted tag's id (as its listing shows it)",
    "token_id": "an access token's id (as its listing shows it)",
    "robot": f"a robot account's name in the organization, or its full name <org>{SEPARATOR}<name>",
}
PARAMETERS = {
    "start": {
        "name": "start",
        "in": "query",
        "description": "the index of the first item",
        "schema": {"type": "integer", "minimum": 0, "maximum": 10**9, "default": 0},
    },
    "limit": {
        "name": "limit",
        "in": "query",
        "description": "the most items to return",
        "schema": {"type": "integer", "minimum": 0, "maximum": 1000, "default": 100},
    },
    "q": {
        "name": "q",
        "in": "query",
        "description": "text to look for, case-insensitive",
        "schema": {"type": "string", "default": ""},
    },
}
PAGE = ("start", "limit")
for _name, _parameter in {
    "component": ("component", "one component's lines; empty: all", enum(("", *COMPONENTS))),
    "level": ("level", "the lowest level shown (any case)", enum(LEVELS)),
    "replica": ("replica", "one replica's lines (its name); empty: all", string(maxLength=255)),
    "since": (
        "since",
        "only lines after this number (the last of an earlier answer); empty: the newest",
        integer(minimum=0, maximum=10**15),
    ),
    "logLimit": (
        "limit",
        "the most lines to return",
        integer(minimum=1, maximum=LOG_MAX_LIMIT, default=200),
    ),
}.items():
    PARAMETERS[_name] = {
        "name": _parameter[0],
        "in": "query",
        "description": _parameter[1],
        "schema": _parameter[2],
    }

# --- the operations --------------------------------------------------------------------------


@dataclass
class Op:
    method: str
    path: str  # OpenAPI form, under /api/v0
    operation_id: str
    tag: str
    summary: str
    description: str
    ok: dict  # status -> (description, schema name or None)
    body: str | tuple | None = None  # the request body's schema name; a tuple: one of them
    query: tuple = ()  # names of PARAMETERS
    errors: dict = field(default_factory=dict)  # status -> this operation's reasons
    authenticated: bool = True  # asks who the caller is: 401, 403, 409 NOT_SET_UP, 429 apply

    def error_statuses(self) -> dict:
        """status -> reasons (None: the shared response's). What every operation that asks
        who the caller is may answer is added here, merged into the operation's own reasons."""
        errors = dict(self.errors)
        errors.setdefault(414, None)  # any request line can be too long
        # any request can carry a NUL (dtr/nul_guard.py refuses it before the operation)
        errors[400] = "; ".join(filter(None, (errors.get(400), NUL_REFUSED)))
        if self.authenticated:
            if errors.get(401):
                errors[401] += "; " + BEARER_REFUSED
            errors.setdefault(401, None)
            errors[403] = "; ".join(filter(None, (errors.get(403), refused_credential(self))))
            if errors.get(409) and "NOT_SET_UP" not in errors[409]:
                errors[409] += "; " + NOT_SET_UP
            errors.setdefault(409, None)
            errors.setdefault(429, None)
        return dict(sorted(errors.items()))


def refused_credential(op: Op) -> str:
    """Why any operation refuses the credential itself, whoever it stands for
    (auth/authentication.py, api/common.py)."""
    reasons = [
        "a robot account (robots may only push and pull)",
        "an access token with no api scope",
    ]
    if op.method != "GET":
        reasons += [
            "an access token without api:write (api:read only reads)",
            f"the portal's session without its {CSRF_HEADER} header",
        ]
    return "the credential is refused here: " + ", ".join(reasons[:-1]) + " or " + reasons[-1]


A = "/accounts/{name}"
T = "/accounts/{org}/teams/{team}"
R = "/repositories/{namespace}/{repo}"
NS = "/repositoryNamespaces/{namespace}/teamAccess"
GC = "/admin/settings/registry/garbageCollection"
ADMINS_ONLY = {403: "the caller is not an administrator"}
OWNERS_ONLY = "the caller is neither an owner of the organization nor an administrator"
MEMBERS_ONLY = "the caller is neither a member of the organization nor an administrator"
NO_ORG_OR_TEAM = "no such organization or team"
REPO_ADMIN = "the caller sees the repository but lacks admin level on it"
UNSEEN = "no such repository, or one the caller may not see"
GRANT_BODY_400 = "not a JSON object, or accessLevel missing or not an access level"
NEW_TOKEN_REFUSALS = {
    400: "not a JSON object; name missing, not a string, blank or not printable text of at "
    f"most {MAX_CREDENTIAL_NAME} characters; scopes not a non-empty list of "
    f"{', '.join(SCOPES)}; the metrics scope asked for by a user who is not an "
    f"administrator; {EXPIRES_IN_DAYS_400}; or the user has {MAX_TOKENS_PER_USER} tokens "
    "already",
    403: "for another user (even by an administrator)",
    409: "ALREADY_EXISTS: the user has an access token of this name",
}
NEW_ROBOT_REFUSALS = {
    400: f"not a JSON object; name missing, not a string or not {ROBOT_NAME_RULE}; "
    f"{ROBOT_DESCRIPTION_400}; {EXPIRES_IN_DAYS_400}; {ROBOT_ACCESS_400}; or the "
    f"organization has {MAX_ROBOTS_PER_ORGANIZATION} robots already",
    404: "no such organization",
    409: "ALREADY_EXISTS: the organization has a robot account of this name",
}
EXPIRY = (
    f"after expiresInDays (by default {DEFAULT_TOKEN_DAYS}, at most tokenMaxLifetimeDays of "
    "Settings > Auth)"
)


CREDENTIAL_GROUPS = {  # tag -> (path, who may call, what every operation of it refuses)
    "tokens": (
        A + "/tokens",
        "",
        {
            401: "no or wrong credentials",
            403: "another user's, and the caller is not an administrator",
            404: "no such user (organizations have no tokens)",
        },
    ),
    "robots": (
        "/organizations/{org}/robots",
        " For owners of the organization and administrators.",
        {
            401: "no or wrong credentials",
            403: OWNERS_ONLY,
            404: "no such organization, or no such robot account in it",
        },
    ),
}
SECRET_FIELDS = {"AccessTokenWithSecret": "token", "RobotWithSecret": "secret"}


def credential_op(tag, method, under, operation_id, summary, description, ok, **extra) -> Op:
    """An operation on access tokens or robot accounts (`under` their path). One that
    answers a new secret is refused to an access token as the credential: a leaked token
    must not mint more."""
    path, callers, refusals = CREDENTIAL_GROUPS[tag]
    errors = {**refusals, **extra.pop("errors", {})}
    description += callers
    for _, schema in ok.values():
        if schema in SECRET_FIELDS:
            description += (
                f" The secret (`{SECRET_FIELDS[schema]}`) is in this answer only: only a hash "
                "of it is stored. Never with an access token as the credential: log in with a "
                "password or the portal's session."
            )
            errors[403] += ", or an access token is the credential"
    return Op(
        method, path + under, operation_id, tag, summary, description, ok, errors=errors, **extra
    )


def run_history_ops(path, ids, tag, runs, a_run, short, schema, listed, detailed):
    """GET `path`, a page of the runs of a job (newest first), and GET `path`/{id}, one run
    with its report: what each job that runs once at a time (a JobRun) offers."""
    list_id, get_id = ids
    refused = {401: "no or wrong credentials", **ADMINS_ONLY}
    return [
        Op(
            "GET",
            path,
            list_id,
            tag,
            f"List {runs}",
            listed,
            {200: (f"a page of {short}s", f"{schema}List")},
            query=PAGE,
            errors={400: "start or limit out of range", **refused},
        ),
        Op(
            "GET",
            path + "/{id}",
            get_id,
            tag,
            f"Get {a_run}",
            detailed,
            {200: (f"the {short}", f"{schema}Detail")},
            errors={**refused, 404: f"no such {short}"},
        ),
    ]


def webhook_operations(prefix, scope, operation_scope, who, errors_of_scope):
    """The eight operations on the webhooks of a repository, a namespace or the registry."""
    path = prefix + "/webhooks"
    one = path + "/{webhook}"
    missing = errors_of_scope.get(404)
    no_webhook = f"{missing}, or it has no webhook of this id" if missing else "no such webhook"
    unknown = {**errors_of_scope, 404: no_webhook}
    return [
        Op(
            "GET",
            path,
            f"list{operation_scope}Webhooks",
            "webhooks",
            f"List the webhooks of a {scope}",
            f"{who} Secrets are never shown.",
            {200: ("the webhooks", "WebhookList")},
            errors=errors_of_scope,
        ),
        Op(
            "POST",
            path,
            f"add{operation_scope}Webhook",
            "webhooks",
            f"Send the events of a {scope} to a URL",
            f"Deliveries of the chosen events are queued with each change and POSTed by a "
            f"background worker (a slow receiver never slows a push). {who} Audited.",
            {201: ("the webhook, with its secret (shown this once)", "CreatedWebhook")},
            body="NewWebhook",
            errors={
                **errors_of_scope,
                400: "not a JSON object; url, events, secret or "
                "enabled missing or invalid (the message names the field)",
            },
        ),
        Op(
            "GET",
            one,
            f"get{operation_scope}Webhook",
            "webhooks",
            f"Show a webhook of a {scope}",
            who,
            {200: ("the webhook", "Webhook")},
            errors=unknown,
        ),
        Op(
            "PATCH",
            one,
            f"update{operation_scope}Webhook",
            "webhooks",
            f"Change a webhook of a {scope}",
            f"Only the fields given change. {who} Audited.",
            {200: ("the webhook", "Webhook")},
            body="WebhookChange",
            errors={**unknown, 400: "not a JSON object, or a field invalid or unknown"},
        ),
        Op(
            "DELETE",
            one,
            f"delete{operation_scope}Webhook",
            "webhooks",
            f"Delete a webhook of a {scope}",
            f"Its queued deliveries and their history go with it. {who} Audited.",
            {204: ("deleted", None)},
            errors=unknown,
        ),
        Op(
            "GET",
            one + "/deliveries",
            f"list{operation_scope}WebhookDeliveries",
            "webhooks",
            "List a webhook's deliveries",
            f"Newest first, each with its latest attempts. {who}",
            {200: ("a page of deliveries", "WebhookDeliveryList")},
            query=("start", "limit"),
            errors={**unknown, 400: "start or limit invalid"},
        ),
        Op(
            "POST",
            one + "/deliveries/{delivery}/redeliver",
            f"redeliver{operation_scope}WebhookDelivery",
            "webhooks",
            "Send a delivery again",
            f"Queues the same payload as a new delivery (a new X-DTR-Delivery id). {who} Audited.",
            {202: ("the new delivery, queued", "WebhookDelivery")},
            errors={**unknown, 404: unknown[404] + ", or no such delivery of it"},
        ),
        Op(
            "POST",
            one + "/test",
            f"test{operation_scope}Webhook",
            "webhooks",
            "Send a test event",
            f"Queues a {WEBHOOK_TEST_EVENT} delivery (even when the webhook is disabled); its "
            f"outcome shows in the deliveries. {who}",
            {202: ("the delivery, queued", "WebhookDelivery")},
            errors=unknown,
        ),
    ]


# (path prefix, noun, in operation ids, who may, errors): what retention policies and webhooks
# belong to
ADMINISTERED_SCOPES = [
    (
        R,
        "repository",
        "Repository",
        "Needs admin level on the repository.",
        {
            400: "INVALID_NAME: an invalid repository name",
            401: "no or wrong credentials",
            403: REPO_ADMIN,
            404: UNSEEN,
        },
    ),
    (
        "/repositoryNamespaces/{namespace}",
        "namespace",
        "Namespace",
        "For administrators, the user whose namespace it is, owners of the organization and "
        "teams with an admin-level grant on its namespace.",
        {
            401: "no or wrong credentials",
            403: "the caller may not administer the namespace",
            404: "no such user or organization",
        },
    ),
]


def retention_operations(prefix, scope, operation_scope, who, errors_of_scope):
    """The five operations on the retention policy of a repository or of a namespace."""
    path = prefix + "/retentionPolicy"
    none = {**errors_of_scope, 404: errors_of_scope[404] + ", or it has no retention policy"}
    return [
        Op(
            "GET",
            path,
            f"get{operation_scope}RetentionPolicy",
            "retention",
            f"Show the retention policy of a {scope}",
            who,
            {200: ("the policy", "RetentionPolicy")},
            errors=none,
        ),
        Op(
            "PUT",
            path,
            f"set{operation_scope}RetentionPolicy",
            "retention",
            f"Set the retention policy of a {scope}",
            f"Replaces the rules. A repository's own policy replaces its namespace's. {who} "
            "Audited.",
            {200: ("the policy", "RetentionPolicy")},
            body="RetentionPolicyChange",
            errors={
                **errors_of_scope,
                400: "not a JSON object; rules missing or invalid "
                "(the message names the rule and field)",
            },
        ),
        Op(
            "DELETE",
            path,
            f"delete{operation_scope}RetentionPolicy",
            "retention",
            f"Delete the retention policy of a {scope}",
            f"Its run history goes with it. {who} Audited.",
            {204: ("deleted", None)},
            errors=none,
        ),
        Op(
            "POST",
            path + "/runs",
            f"run{operation_scope}RetentionPolicy",
            "retention",
            f"Run the retention policy of a {scope} now",
            f"Deletes the tags no rule keeps (a dry run only reports them) and records the run. "
            f"{who} Audited.",
            {201: ("the run, finished", "RetentionRun")},
            body="RetentionRunRequest",
            errors={**none, 400: "not a JSON object, or dryRun not a boolean"},
        ),
        Op(
            "GET",
            path + "/runs",
            f"list{operation_scope}RetentionRuns",
            "retention",
            "List the runs of a retention policy",
            f"Newest first, with what each deleted and kept. {who}",
            {200: ("the runs", "RetentionRunList")},
            errors=none,
        ),
    ]


OPERATIONS = [
    # accounts
    Op(
        "GET",
        "/accounts",
        "listAccounts",
        "accounts",
        "List accounts",
        "Users and organizations by name, a page at a time; for any logged-in user.",
        {200: ("a page of accounts", "AccountList")},
        query=PAGE,
        errors={400: "start or limit out of range", 401: "no or wrong credentials"},
    ),
    Op(
        "POST",
        "/accounts",
        "createAccount",
        "accounts",
        "Create a user or an organization",
        "Administrators create users (with a password and a global role) and organizations. "
        "An organization gets an `owners` team with its creator in it. On a fresh install "
        "(auth mode None) anyone may create the first user, who must have the role admin; "
        "that switches the auth mode to Managed. From another machine than DTR's own (not a "
        "loopback address, or through a proxy) that needs setupCode: the one-time set-up "
        "code `python app.py serve` printed. Passwords have at least passwordMinLength "
        "characters (Settings > Auth).",
        {201: ("the account", "Account")},
        body=("NewUser", "NewOrganization"),
        errors={
            400: "not a JSON object; name, password, type or role missing, of a wrong type or "
            "value; a password shorter than passwordMinLength or longer than "
            f"{MAX_PASSWORD_LENGTH} characters; setupCode not a string; INVALID_NAME: an "
            "invalid name",
            401: "no or wrong credentials",
            403: "the caller is not an administrator; on a fresh install, creating the first "
            "admin from another machine with setupCode missing or wrong",
            409: "ALREADY_EXISTS: the name is taken; NOT_SET_UP: a fresh install, and this is "
            "not an admin user",
        },
    ),
    Op(
        "POST",
        "/accounts/import",
        "importUsers",
        "accounts",
        "Create users from CSV",
        "Administrators add managed users in bulk from CSV text (username,password,role). "
        "All lines are checked first: one bad line refuses the whole import, naming the line, "
        "and nothing is created.",
        {201: ("the users created", "ImportedAccounts")},
        body="UserImport",
        errors={
            400: "not a JSON object, csv missing, or a line with a bad name, role or password "
            "(a password shorter than passwordMinLength: line N: password: too short), or a "
            "name repeated in the file",
            401: "no or wrong credentials",
            403: "the caller is not an administrator",
            409: "ALREADY_EXISTS: a name is taken; NOT_SET_UP: a fresh install",
        },
    ),
    Op(
        "GET",
        A,
        "getAccount",
        "accounts",
        "Get an account",
        "A user or an organization; for any logged-in user.",
        {200: ("the account", "Account")},
        errors={401: "no or wrong credentials", 404: "no such account"},
    ),
    Op(
        "PATCH",
        A,
        "updateAccount",
        "accounts",
        "Change a user's global role",
        "Administrators only. Only `role` may be given. A new role stops the user's registry "
        "tokens issued before at once.",
        {200: ("the user", "Account")},
        body="AccountChange",
        errors={
            400: "not a JSON object, role missing or not a role, or another field given",
            403: "the caller is not an administrator",
            404: "no such user (organizations have no role)",
        },
    ),
    Op(
        "DELETE",
        A,
        "deleteAccount",
        "accounts",
        "Delete a user or an organization",
        "Administrators only. An organization goes with its teams and repositories, a user "
        "with their repositories. Idempotent: an unknown name answers 204 too.",
        {204: ("deleted, or there was no such account", None)},
        errors={400: "deleting oneself", **ADMINS_ONLY},
    ),
    Op(
        "PUT",
        A + "/activate",
        "activateAccount",
        "accounts",
        "Activate a user",
        "Administrators only. An active user may log in.",
        {200: ("the user", "Account")},
        errors={**ADMINS_ONLY, 404: "no such user"},
    ),
    Op(
        "PUT",
        A + "/deactivate",
        "deactivateAccount",
        "accounts",
        "Deactivate a user",
        "Administrators only. A deactivated user can no longer log in, to the API or for "
        "registry tokens, and neither can their access tokens; registry tokens issued before "
        "stop working at once. Their repositories, grants and access tokens stay.",
        {200: ("the user", "Account")},
        errors={400: "deactivating oneself", **ADMINS_ONLY, 404: "no such user"},
    ),
    Op(
        "POST",
        A + "/changePassword",
        "changePassword",
        "accounts",
        "Change a password",
        "Users change their own password, giving the old one; administrators change anyone's "
        "without it. Registry tokens issued before (for the password or the user's access "
        "tokens) stop working at once; the access tokens themselves keep working.",
        {204: ("changed", None)},
        body="PasswordChange",
        errors={
            400: "not a JSON object, newPassword missing, not a string, shorter than "
            f"passwordMinLength or longer than {MAX_PASSWORD_LENGTH} characters, or "
            "oldPassword incorrect",
            401: "no or wrong credentials",
            403: "a user who is not an administrator changing someone else's password",
            404: "no such user",
        },
    ),
    Op(
        "GET",
        A + "/organizations",
        "listOrganizationsOfUser",
        "accounts",
        "List a user's organizations",
        "Organizations the user is in through any of their teams. Users see their own, "
        "administrators anyone's.",
        {200: ("the organizations", "OrganizationList")},
        errors={
            401: "no or wrong credentials",
            403: "another user's, and the caller is not an administrator",
            404: "no such user",
        },
    ),
    # personal access tokens
    credential_op(
        "tokens",
        "GET",
        "",
        "listAccessTokens",
        "List a user's access tokens",
        "The user's personal access tokens, oldest first, with their scopes, expiry and last "
        "use; expired ones too, until revoked. Never their secrets. Users see their own, "
        "administrators anyone's.",
        {200: ("the tokens", "AccessTokenList")},
    ),
    credential_op(
        "tokens",
        "POST",
        "",
        "createAccessToken",
        "Create an access token",
        "A secret to give CI instead of a password: the password of HTTP Basic (for "
        "/api/v0, with an api scope), of docker login (with a registry scope) or of a "
        "Prometheus scraping /metrics (metrics scope, administrators only), with the "
        "user's name. It does what the user may, within its scopes, until it is revoked or "
        f"expires {EXPIRY}. Users create their own, never someone else's, at most "
        f"{MAX_TOKENS_PER_USER}. Audited.",
        {201: ("the token, with its secret", "AccessTokenWithSecret")},
        body="NewAccessToken",
        errors=NEW_TOKEN_REFUSALS,
    ),
    credential_op(
        "tokens",
        "DELETE",
        "/{token_id}",
        "revokeAccessToken",
        "Revoke an access token",
        "The token stops working at once (within seconds in other DTR processes sharing the "
        "database), and so do the registry tokens issued for it. For the user and "
        "administrators. Audited.",
        {204: ("revoked", None)},
        errors={404: "no such user, or the user has no token of this id"},
    ),
    # robot accounts
    credential_op(
        "robots",
        "GET",
        "",
        "listRobots",
        "List the robot accounts of an organization",
        "With their access lists, state, expiry and last use; never their secrets.",
        {200: ("the robots", "RobotList")},
        errors={404: "no such organization"},
    ),
    credential_op(
        "robots",
        "POST",
        "",
        "createRobot",
        "Make a robot account",
        f"A login for CI, `docker login -u <org>{SEPARATOR}<name>` with its secret, that "
        "pulls or pushes exactly what its access list names (repositories of the "
        "organization, or all of them) and public repositories, and nothing else: not the "
        f"API, not the portal. It expires {EXPIRY}. At most {MAX_ROBOTS_PER_ORGANIZATION} "
        "per organization. Audited.",
        {201: ("the robot, with its secret", "RobotWithSecret")},
        body="NewRobot",
        errors=NEW_ROBOT_REFUSALS,
    ),
    credential_op(
        "robots",
        "GET",
        "/{robot}",
        "getRobot",
        "Get a robot account",
        "Without its secret.",
        {200: ("the robot", "Robot")},
    ),
    credential_op(
        "robots",
        "PATCH",
        "/{robot}",
        "updateRobot",
        "Change a robot account",
        "Replace its access list, change its description, disable or enable it; other "
        "fields are refused. A new access list or state stops its registry tokens issued "
        "before at once. Audited.",
        {200: ("the robot", "Robot")},
        body="RobotChange",
        errors={
            400: "not a JSON object, a field other than access, description and enabled, "
            f"{ROBOT_DESCRIPTION_400}, enabled not a boolean, or {ROBOT_ACCESS_400}",
        },
    ),
    credential_op(
        "robots",
        "DELETE",
        "/{robot}",
        "deleteRobot",
        "Delete a robot account",
        "It stops working at once, with its registry tokens. Audited.",
        {204: ("deleted", None)},
    ),
    credential_op(
        "robots",
        "POST",
        "/{robot}/secret",
        "regenerateRobotSecret",
        "Give a robot account a new secret",
        "The old secret, and every registry token issued with it, stops working at once. "
        "No input: send {} or nothing. Audited.",
        {200: ("the robot, with its new secret", "RobotWithSecret")},
        body="NoInput",
    ),
    # teams
    Op(
        "GET",
        "/accounts/{org}/teams",
        "listTeams",
        "teams",
        "List the teams of an organization",
        "For members of the organization (of any team) and administrators.",
        {200: ("the teams", "TeamList")},
        errors={401: "no or wrong credentials", 403: MEMBERS_ONLY, 404: "no such organization"},
    ),
    Op(
        "POST",
        "/accounts/{org}/teams",
        "createTeam",
        "teams",
        "Create a team",
        "For owners of the organization and administrators. A team with an ldapGroupDN gets "
        "its members from that LDAP group at each sync; one with an oidcGroup, from that "
        "group of the OpenID Connect provider at each member's sign-in. Members of either "
        "are not added or removed by hand.",
        {201: ("the team", "Team")},
        body="NewTeam",
        errors={
            400: "not a JSON object, name missing or not a string, description, ldapGroupDN "
            "or oidcGroup not a string, both groups given; INVALID_NAME: an invalid name",
            401: "no or wrong credentials",
            403: OWNERS_ONLY,
            404: "no such organization",
            409: "ALREADY_EXISTS: the organization has a team of this name",
        },
    ),
    Op(
        "GET",
        T,
        "getTeam",
        "teams",
        "Get a team",
        "For members of the organization and administrators.",
        {200: ("the team", "Team")},
        errors={401: "no or wrong credentials", 403: MEMBERS_ONLY, 404: NO_ORG_OR_TEAM},
    ),
    Op(
        "PATCH",
        T,
        "updateTeam",
        "teams",
        "Change a team",
        "Change the description or the LDAP group (null or empty: a managed team); other "
        "fields are ignored. For owners of the organization and administrators.",
        {200: ("the team", "Team")},
        body="TeamChange",
        errors={
            400: "not a JSON object, or description not a string",
            401: "no or wrong credentials",
            403: OWNERS_ONLY,
            404: NO_ORG_OR_TEAM,
        },
    ),
    Op(
        "DELETE",
        T,
        "deleteTeam",
        "teams",
        "Delete a team",
        "For owners of the organization and administrators; the team's grants go with it. "
        "Idempotent: an unknown team answers 204 too.",
        {204: ("deleted, or there was no such team", None)},
        errors={
            400: "the owners team cannot be deleted",
            401: "no or wrong credentials",
            403: OWNERS_ONLY,
            404: "no such organization",
        },
    ),
    Op(
        "GET",
        T + "/members",
        "listTeamMembers",
        "teams",
        "List the members of a team",
        "For members of the organization and administrators.",
        {200: ("the members", "MemberList")},
        errors={401: "no or wrong credentials", 403: MEMBERS_ONLY, 404: NO_ORG_OR_TEAM},
    ),
    Op(
        "GET",
        T + "/members/{member}",
        "getTeamMember",
        "teams",
        "Is a user in a team?",
        "200 when the user is a member, 404 when not. For members of the organization and "
        "administrators.",
        {200: ("the user is a member", "TeamMembership")},
        errors={
            401: "no or wrong credentials",
            403: MEMBERS_ONLY,
            404: "no such organization, team or account, or not a member",
        },
    ),
    Op(
        "PUT",
        T + "/members/{member}",
        "addTeamMember",
        "teams",
        "Add a user to a team",
        "For owners of the organization and administrators. Idempotent.",
        {
            201: ("added", "TeamMembership"),
            200: ("the user was a member already", "TeamMembership"),
        },
        errors={
            400: "an organization as a member, or a team whose members come from LDAP",
            401: "no or wrong credentials",
            403: OWNERS_ONLY,
            404: "no such organization, team or account",
        },
    ),
    Op(
        "DELETE",
        T + "/members/{member}",
        "removeTeamMember",
        "teams",
        "Remove a user from a team",
        "For owners of the organization and administrators. Idempotent: 204 when the user "
        "was not a member.",
        {204: ("removed, or was not a member", None)},
        errors={
            401: "no or wrong credentials",
            403: OWNERS_ONLY,
            404: "no such organization, team or account",
        },
    ),
    Op(
        "GET",
        T + "/repositoryAccess",
        "listTeamRepositoryAccess",
        "teams",
        "List a team's repository grants",
        "The repositories granted to the team (repository grants, not namespace grants), "
        "with their levels. For members of the organization and administrators.",
        {200: ("the grants", "RepositoryAccessList")},
        errors={401: "no or wrong credentials", 403: MEMBERS_ONLY, 404: NO_ORG_OR_TEAM},
    ),
    # repositories
    Op(
        "GET",
        "/repositories",
        "listRepositories",
        "repositories",
        "List repositories",
        "Every repository the caller may see (only public ones for anonymous callers), by "
        "full name, a page at a time.",
        {200: ("a page of repositories", "RepositoryList")},
        query=PAGE,
        errors={400: "start or limit out of range", 401: "wrong credentials"},
    ),
    Op(
        "GET",
        "/repositories/{namespace}",
        "listNamespaceRepositories",
        "repositories",
        "List the repositories of a namespace",
        "The repositories of a user or organization that the caller may see, by name.",
        {200: ("a page of repositories", "RepositoryList")},
        query=PAGE,
        errors={
            400: "start or limit out of range",
            401: "wrong credentials",
            404: "no such user or organization",
        },
    ),
    Op(
        "POST",
        "/repositories/{namespace}",
        "createRepository",
        "repositories",
        "Create a repository",
        "In one's own namespace; in an organization as an administrator, an owner, or a "
        "member of a team with an admin-level grant on the organization's namespace. "
        "Repositories are private unless visibility says public.",
        {201: ("the repository", "Repository")},
        body="NewRepository",
        errors={
            400: "not a JSON object; name missing or not a string; visibility not public or "
            "private; a description not a string or too long; INVALID_NAME: an invalid name",
            401: "wrong credentials",
            403: "the caller may not create repositories in this namespace (anonymous "
            "callers included)",
            404: "no such user or organization",
            409: "ALREADY_EXISTS: the repository exists",
        },
    ),
    Op(
        "GET",
        R,
        "getRepository",
        "repositories",
        "Get a repository",
        "A repository the caller may not see answers 404, as if it did not exist.",
        {200: ("the repository", "Repository")},
        errors={400: "INVALID_NAME: an invalid name", 401: "wrong credentials", 404: UNSEEN},
    ),
    Op(
        "PATCH",
        R,
        "updateRepository",
        "repositories",
        "Change a repository",
        "Change the visibility, the descriptions or pullOnlySigned (only signed images may "
        "be pulled, see the field); needs admin level on the repository. Other fields are "
        "refused.",
        {200: ("the repository", "Repository")},
        body="RepositoryChange",
        errors={
            400: "not a JSON object, an unknown field, a wrong visibility, a description not "
            "a string or too long, pullOnlySigned not a boolean; INVALID_NAME: an invalid name",
            401: "wrong credentials",
            403: REPO_ADMIN,
            404: UNSEEN,
        },
    ),
    Op(
        "DELETE",
        R,
        "deleteRepository",
        "repositories",
        "Delete a repository",
        "With its tags, manifests and grants; needs admin level on it. Its blobs stay on "
        "storage until garbage collection. Idempotent: a "
        "missing repository answers 204 to whoever may create repositories in its "
        "namespace, 404 to others.",
        {204: ("deleted, or there was no such repository", None)},
        errors={
            400: "INVALID_NAME: an invalid name",
            401: "wrong credentials",
            403: REPO_ADMIN,
            404: UNSEEN,
        },
    ),
    Op(
        "GET",
        R + "/tags",
        "listRepositoryTags",
        "repositories",
        "List the tags of a repository",
        "Tags pushed through the registry, with their manifest's digest, media type and "
        "size, who pushed them and when, whether it is signed (Docker Content Trust, or a "
        "cosign signature verified with a trusted key), its signatures (verified or not, "
        "and why not) and the artifacts attached to it (signatures, SBOMs, attestations).",
        {200: ("the tags", "TagList")},
        errors={400: "INVALID_NAME: an invalid name", 401: "wrong credentials", 404: UNSEEN},
    ),
    Op(
        "DELETE",
        R + "/tags/{tag}",
        "deleteRepositoryTag",
        "repositories",
        "Delete a tag",
        "A soft delete: the tag goes, its manifest stays (reachable by digest) until "
        "garbage collection, and so do the blobs. Needs read-write level on the repository. "
        "Audited.",
        {204: ("deleted", None)},
        errors={
            400: "INVALID_NAME: an invalid repository name or tag",
            401: "wrong credentials, or anonymous on a public repository",
            403: "the caller sees the repository but may not delete from it (read-only)",
            404: UNSEEN + ", or no such tag",
        },
    ),
    Op(
        "DELETE",
        R + "/manifests/{reference}",
        "deleteRepositoryManifest",
        "repositories",
        "Delete a manifest",
        "A soft delete. By digest: the manifest and every tag pointing at it; it no longer "
        "resolves. By tag: only that tag. The blobs stay until garbage collection. Needs "
        "read-write level on the repository. Audited.",
        {204: ("deleted", None)},
        errors={
            400: "INVALID_INPUT: an invalid digest; INVALID_NAME: an invalid name or tag",
            401: "wrong credentials, or anonymous on a public repository",
            403: "the caller sees the repository but may not delete from it (read-only)",
            404: UNSEEN + ", or no such tag or manifest",
        },
    ),
    # trusted keys
    Op(
        "GET",
        R + "/trustedKeys",
        "listRepositoryTrustedKeys",
        "signatures",
        "List the keys trusted in a repository",
        "The repository's own keys, then its namespace's: a cosign signature verified with "
        "one of them makes an image signed. For whoever may see the repository.",
        {200: ("the keys", "TrustedKeyList")},
        errors={400: "INVALID_NAME: an invalid name", 401: "wrong credentials", 404: UNSEEN},
    ),
    Op(
        "POST",
        R + "/trustedKeys",
        "addRepositoryTrustedKey",
        "signatures",
        "Trust a key in a repository",
        "Register a public key (PEM) under a name; the repository's signatures are verified "
        "again at once. Needs admin level on the repository. Audited.",
        {201: ("the key", "TrustedKey")},
        body="NewTrustedKey",
        errors={
            400: "not a JSON object, name or pem missing or invalid (the message says why: "
            "not PEM, a private key, an unsupported algorithm, RSA under 2048 bits); "
            "INVALID_NAME: an invalid repository name",
            401: "no or wrong credentials",
            403: REPO_ADMIN,
            404: UNSEEN,
            409: "ALREADY_EXISTS: a key of this name, or this very key, is trusted there",
        },
    ),
    Op(
        "DELETE",
        R + "/trustedKeys/{key}",
        "deleteRepositoryTrustedKey",
        "signatures",
        "Stop trusting a key in a repository",
        "The repository's signatures are verified again at once. Needs admin level on the "
        "repository. Idempotent: 204 when there was no such key. Audited.",
        {204: ("deleted, or there was no such key", None)},
        errors={
            400: "INVALID_NAME: an invalid name",
            401: "no or wrong credentials",
            403: REPO_ADMIN,
            404: UNSEEN,
        },
    ),
    Op(
        "GET",
        "/repositoryNamespaces/{namespace}/trustedKeys",
        "listNamespaceTrustedKeys",
        "signatures",
        "List the keys trusted in a namespace",
        "Keys trusted in every repository of a user or organization. For logged-in callers.",
        {200: ("the keys", "TrustedKeyList")},
        errors={401: "no or wrong credentials", 404: "no such user or organization"},
    ),
    Op(
        "POST",
        "/repositoryNamespaces/{namespace}/trustedKeys",
        "addNamespaceTrustedKey",
        "signatures",
        "Trust a key in a namespace",
        "Register a public key (PEM) under a name for every repository of the namespace; "
        "their signatures are verified again at once. For administrators, the user whose "
        "namespace it is, owners of the organization and teams with an admin-level grant on "
        "its namespace. Audited.",
        {201: ("the key", "TrustedKey")},
        body="NewTrustedKey",
        errors={
            400: "not a JSON object, name or pem missing or invalid (the message says why)",
            401: "no or wrong credentials",
            403: "the caller may not administer the namespace",
            404: "no such user or organization",
            409: "ALREADY_EXISTS: a key of this name, or this very key, is trusted there",
        },
    ),
    Op(
        "DELETE",
        "/repositoryNamespaces/{namespace}/trustedKeys/{key}",
        "deleteNamespaceTrustedKey",
        "signatures",
        "Stop trusting a key in a namespace",
        "The namespace's signatures are verified again at once. Same callers as adding. "
        "Idempotent: 204 when there was no such key. Audited.",
        {204: ("deleted, or there was no such key", None)},
        errors={
            401: "no or wrong credentials",
            403: "the caller may not administer the namespace",
            404: "no such user or organization",
        },
    ),
    # immutable tags
    Op(
        "GET",
        R + "/immutableTagRules",
        "listRepositoryImmutableTagRules",
        "repositories",
        "List the immutable tag rules of a repository",
        "The repository's own rules, then its namespace's (which apply to it too). For "
        "whoever may see the repository.",
        {200: ("the rules", "ImmutableTagRuleList")},
        errors={400: "INVALID_NAME: an invalid name", 401: "wrong credentials", 404: UNSEEN},
    ),
    Op(
        "POST",
        R + "/immutableTagRules",
        "addRepositoryImmutableTagRule",
        "repositories",
        "Make tags of a repository immutable",
        "Tags matching the pattern, once they exist, can no longer be pushed with another "
        "manifest (DENIED naming the rule) nor deleted, by anyone; the same manifest again is "
        "fine. Needs admin level on the repository. Audited.",
        {201: ("the rule", "ImmutableTagRule")},
        body="NewImmutableTagRule",
        errors={
            400: "not a JSON object, pattern missing or invalid; INVALID_NAME",
            401: "no or wrong credentials",
            403: REPO_ADMIN,
            404: UNSEEN,
            409: "ALREADY_EXISTS: the repository has this rule",
        },
    ),
    Op(
        "DELETE",
        R + "/immutableTagRules/{rule}",
        "deleteRepositoryImmutableTagRule",
        "repositories",
        "Delete an immutable tag rule of a repository",
        "Needs admin level on the repository. Audited.",
        {204: ("deleted", None)},
        errors={
            400: "INVALID_NAME: an invalid repository name",
            401: "no or wrong credentials",
            403: REPO_ADMIN,
            404: UNSEEN + ", or the repository has no rule of this id",
        },
    ),
    Op(
        "GET",
        "/repositoryNamespaces/{namespace}/immutableTagRules",
        "listNamespaceImmutableTagRules",
        "repositories",
        "List the immutable tag rules of a namespace",
        "Rules for every repository of a user or organization. For logged-in callers.",
        {200: ("the rules", "ImmutableTagRuleList")},
        errors={401: "no or wrong credentials", 404: "no such user or organization"},
    ),
    Op(
        "POST",
        "/repositoryNamespaces/{namespace}/immutableTagRules",
        "addNamespaceImmutableTagRule",
        "repositories",
        "Make tags of every repository of a namespace immutable",
        "As for a repository, in all of the namespace's repositories. For administrators, the "
        "user whose namespace it is, owners of the organization and teams with an admin-level "
        "grant on its namespace. Audited.",
        {201: ("the rule", "ImmutableTagRule")},
        body="NewImmutableTagRule",
        errors={
            400: "not a JSON object, pattern missing or invalid",
            401: "no or wrong credentials",
            403: "the caller may not administer the namespace",
            404: "no such user or organization",
            409: "ALREADY_EXISTS: the namespace has this rule",
        },
    ),
    Op(
        "DELETE",
        "/repositoryNamespaces/{namespace}/immutableTagRules/{rule}",
        "deleteNamespaceImmutableTagRule",
        "repositories",
        "Delete an immutable tag rule of a namespace",
        "Same callers as adding. Audited.",
        {204: ("deleted", None)},
        errors={
            401: "no or wrong credentials",
            403: "the caller may not administer the namespace",
            404: "no such user or organization, or it has no rule of this id",
        },
    ),
    # grants
    Op(
        "GET",
        R + "/teamAccess",
        "listRepositoryTeamAccess",
        "access",
        "List the teams granted access to a repository",
        "For logged-in callers who see the repository; empty for repositories of users.",
        {200: ("the grants", "TeamAccessList")},
        errors={
            400: "INVALID_NAME: an invalid name",
            401: "anonymous (on a public repository), or wrong credentials",
            404: UNSEEN,
        },
    ),
    Op(
        "PUT",
        R + "/teamAccess/{team}",
        "setRepositoryTeamAccess",
        "access",
        "Grant a team access to a repository",
        "Grant, or change, a team's access level on a repository of the team's "
        "organization. Needs admin level on the repository.",
        {200: ("the grant", "TeamAccess")},
        body="AccessGrant",
        errors={
            400: GRANT_BODY_400 + ", or a repository of a user; INVALID_NAME: an invalid name",
            401: "wrong credentials",
            403: REPO_ADMIN,
            404: UNSEEN + ", or no such team in its organization",
        },
    ),
    Op(
        "DELETE",
        R + "/teamAccess/{team}",
        "revokeRepositoryTeamAccess",
        "access",
        "Revoke a team's access to a repository",
        "Needs admin level on the repository. Idempotent: 204 when there was no grant.",
        {204: ("revoked, or there was no grant", None)},
        errors={
            400: "a repository of a user; INVALID_NAME: an invalid name",
            401: "wrong credentials",
            403: REPO_ADMIN,
            404: UNSEEN + ", or no such team in its organization",
        },
    ),
    Op(
        "GET",
        R + "/userAccess",
        "listRepositoryUserAccess",
        "access",
        "List the users granted access to a repository",
        "For logged-in callers who see the repository; empty for repositories of organizations.",
        {200: ("the grants", "UserAccessList")},
        errors={
            400: "INVALID_NAME: an invalid name",
            401: "anonymous (on a public repository), or wrong credentials",
            404: UNSEEN,
        },
    ),
    Op(
        "PUT",
        R + "/userAccess/{user}",
        "setRepositoryUserAccess",
        "access",
        "Grant a user access to a repository",
        "Grant, or change, a user's access level on a repository of a user namespace. Needs "
        "admin level on the repository.",
        {200: ("the grant", "UserAccess")},
        body="AccessGrant",
        errors={
            400: GRANT_BODY_400 + ", or a repository of an organization; INVALID_NAME: an "
            "invalid name",
            401: "wrong credentials",
            403: REPO_ADMIN,
            404: UNSEEN + ", or no such user",
        },
    ),
    Op(
        "DELETE",
        R + "/userAccess/{user}",
        "revokeRepositoryUserAccess",
        "access",
        "Revoke a user's access to a repository",
        "Needs admin level on the repository. Idempotent: 204 when there was no grant.",
        {204: ("revoked, or there was no grant", None)},
        errors={
            400: "a repository of an organization; INVALID_NAME: an invalid name",
            401: "wrong credentials",
            403: REPO_ADMIN,
            404: UNSEEN + ", or no such user",
        },
    ),
    Op(
        "GET",
        NS,
        "listNamespaceTeamAccess",
        "access",
        "List the teams granted access to an organization's namespace",
        "For members of the organization and administrators.",
        {200: ("the grants", "TeamAccessList")},
        errors={401: "no or wrong credentials", 403: MEMBERS_ONLY, 404: "no such organization"},
    ),
    Op(
        "PUT",
        NS + "/{team}",
        "setNamespaceTeamAccess",
        "access",
        "Grant a team access to every repository of its organization",
        "The level applies to every repository of the organization, present and future; "
        "admin level also lets the team's members create repositories there. For owners of "
        "the organization and administrators.",
        {200: ("the grant", "TeamAccess")},
        body="AccessGrant",
        errors={
            400: GRANT_BODY_400,
            401: "no or wrong credentials",
            403: OWNERS_ONLY,
            404: NO_ORG_OR_TEAM,
        },
    ),
    Op(
        "DELETE",
        NS + "/{team}",
        "revokeNamespaceTeamAccess",
        "access",
        "Revoke a team's namespace grant",
        "For owners of the organization and administrators. Idempotent: 204 when there was "
        "no grant.",
        {204: ("revoked, or there was no grant", None)},
        errors={401: "no or wrong credentials", 403: OWNERS_ONLY, 404: NO_ORG_OR_TEAM},
    ),
    # admin
    Op(
        "GET",
        "/admin/settings/auth",
        "getAuthSettings",
        "admin",
        "Get the auth settings",
        "The auth mode, the saved LDAP and OpenID Connect settings (without the bind "
        "password and the client secret) and the credential rules: the shortest password "
        "and the longest access token and robot lifetime. Administrators only.",
        {200: ("the settings", "AuthSettings")},
        errors={401: "no or wrong credentials", **ADMINS_ONLY},
    ),
    Op(
        "PUT",
        "/admin/settings/auth",
        "putAuthSettings",
        "admin",
        "Change the auth settings",
        "Choose the auth mode, save LDAP or OpenID Connect settings, set the credential "
        "rules; fields left out keep their value. LDAP settings are saved only once the "
        "search account binds, OIDC settings once the provider's discovery document and keys "
        "are fetched, so a typo cannot lock everybody out; local administrators keep logging "
        "in with their local password in LDAP and OIDC modes. A new passwordMinLength "
        "applies to passwords set from then on; a new tokenMaxLifetimeDays to tokens and "
        "robots made from then on. "
        "Audited. Administrators only.",
        {200: ("the settings now", "AuthSettings")},
        body="AuthSettingsChange",
        errors={
            400: "not a JSON object, an unknown field, an unknown mode, mode ldap or oidc "
            f"without its settings, invalid LDAP or OIDC settings, {RULES_400}, the LDAP "
            "server refused the bind or could not be reached, or the OpenID Connect provider's "
            "discovery document or keys could not be fetched; nothing is saved",
            401: "no or wrong credentials",
            **ADMINS_ONLY,
        },
    ),
    Op(
        "GET",
        "/admin/settings/general",
        "getGeneralSettings",
        "admin",
        "Get the general settings",
        "Domain name, create-on-push and the registry token lifetime. Administrators only.",
        {200: ("the settings", "GeneralSettings")},
        errors={401: "no or wrong credentials", **ADMINS_ONLY},
    ),
    Op(
        "PUT",
        "/admin/settings/general",
        "putGeneralSettings",
        "admin",
        "Change the general settings",
        "Every field is checked before any is saved. A new domain name regenerates the TLS "
        "certificate, which the running server uses from its next connection (no restart); "
        "clients must trust the new certificate. Administrators only.",
        {200: ("the settings now", "GeneralSettings")},
        body="GeneralSettingsChange",
        errors={
            400: "not a JSON object, an unknown field, an invalid domain name, or a token "
            "lifetime outside 60..86400 seconds",
            401: "no or wrong credentials",
            **ADMINS_ONLY,
        },
    ),
    Op(
        "POST",
        "/admin/settings/auth/ldap/tryLogin",
        "tryLdapLogin",
        "admin",
        "Try a login with LDAP settings",
        "Check LDAP settings (the given ones, else the saved ones) with a user's login. "
        "Whether it worked, and why not, is in the body. Administrators only.",
        {200: ("the outcome", "LdapTryLoginResult")},
        body="LdapTryLogin",
        errors={
            400: "not a JSON object, username or password missing, invalid LDAP settings, or "
            "none given or saved",
            401: "no or wrong credentials",
            **ADMINS_ONLY,
        },
    ),
    Op(
        "POST",
        "/admin/settings/auth/oidc/test",
        "testOidcProvider",
        "admin",
        "Test OpenID Connect settings",
        "Fetch the provider's discovery document and signing keys with the given settings "
        "(else the saved ones); nothing is saved. Whether it worked, and why not, is in the "
        "body. Administrators only.",
        {200: ("the outcome", "OidcTestResult")},
        body="OidcTest",
        errors={
            400: "not a JSON object, an unknown field, invalid OIDC settings, or none given "
            "or saved",
            401: "no or wrong credentials",
            **ADMINS_ONLY,
        },
    ),
    Op(
        "POST",
        "/admin/settings/auth/ldap/sync",
        "syncLdap",
        "admin",
        "Sync with LDAP now",
        "Create accounts for the directory's users, deactivate those gone, reactivate those "
        "back, and set the members of LDAP teams from their groups. All zeros without LDAP "
        "settings. Administrators only.",
        {200: ("what changed", "LdapSyncResult")},
        errors={
            400: "the LDAP server could not be used",
            401: "no or wrong credentials",
            **ADMINS_ONLY,
        },
    ),
    Op(
        "GET",
        "/admin/settings/storage",
        "getStorageSettings",
        "storage",
        "Get the storage settings",
        "The storage backend in force (filesystem, s3, azure or swift) and its options; "
        "secret options only as set or unset. With the options of every backend, for forms. "
        "Administrators only.",
        {200: ("the settings", "StorageSettings")},
        errors={401: "no or wrong credentials", **ADMINS_ONLY},
    ),
    Op(
        "PUT",
        "/admin/settings/storage",
        "putStorageSettings",
        "storage",
        "Change the storage backend",
        "Checks the configuration by writing, reading back and deleting a probe object, then "
        "saves it: the registry stores and serves blobs from it at once (within seconds in "
        "other DTR processes sharing the database), no restart. Blobs are not moved: copy "
        "them first with `python app.py storage migrate --to CONFIG.json`. Audited. "
        "Administrators only.",
        {200: ("the settings now", "StorageSettings")},
        body="StorageSettingsChange",
        errors={
            400: "not a JSON object, an unknown backend or field, an option missing, unknown "
            "or of a wrong type or value, or the storage check failed (the message says what "
            "the storage answered); nothing is saved",
            401: "no or wrong credentials",
            **ADMINS_ONLY,
        },
    ),
    Op(
        "POST",
        "/admin/settings/storage/test",
        "testStorageSettings",
        "storage",
        "Test storage settings",
        "Writes, reads back and deletes a probe object with the given configuration (secrets "
        "left out: the stored ones of the same backend); nothing is saved. Whether it worked, "
        "and what the storage said when it did not, is in the body. Administrators only.",
        {200: ("the outcome", "StorageTestResult")},
        body="StorageSettingsChange",
        errors={
            400: "not a JSON object, an unknown backend or field, or an option missing, "
            "unknown or of a wrong type or value",
            401: "no or wrong credentials",
            **ADMINS_ONLY,
        },
    ),
    Op(
        "POST",
        "/admin/storage/verifications",
        "startStorageVerification",
        "storage",
        "Verify the storage",
        "Starts a storage verification in the background and answers at once with it (state "
        "running); poll GET /admin/storage/verifications/{id}. It reads back and hashes every "
        "blob on the storage in use, a chunk at a time, and quarantines the corrupt and "
        "missing ones: pulls of them answer BLOB_UNKNOWN, and a push of the same content "
        "heals them. No request body. One verification runs at a time, also across DTR "
        "processes sharing the database. Administrators only.",
        {202: ("the verification, started", "StorageVerification")},
        errors={
            401: "no or wrong credentials",
            **ADMINS_ONLY,
            409: "JOB_RUNNING: a storage verification is running already",
        },
    ),
    *run_history_ops(
        "/admin/storage/verifications",
        ("listStorageVerifications", "getStorageVerification"),
        "storage",
        "storage verifications",
        "a storage verification",
        "verification",
        "StorageVerification",
        "Every verification, newest first: who started it, when, its progress or outcome. "
        "Administrators only.",
        "A verification with its report: each corrupt or missing blob (up to 1,000) with the "
        "repositories and tags that need it. Administrators only.",
    ),
    Op(
        "GET",
        "/admin/settings/license",
        "getLicense",
        "admin",
        "Get the license status",
        "The installed license (licensee, tier, type, seats used and allowed, expiry) or the "
        "trial, its state and the banner admin pages show. Administrators only.",
        {200: ("the status", "LicenseStatus")},
        errors={401: "no or wrong credentials", **ADMINS_ONLY},
    ),
    Op(
        "PUT",
        "/admin/settings/license",
        "putLicense",
        "admin",
        "Install a license",
        "The body is the license file as it is (JSON with key_id, private_key and "
        "authorization). It is verified (signature by the trusted key, token, expiry) and "
        "replaces the installed license; a refused file changes nothing. Administrators only.",
        {200: ("the status with the new license", "LicenseStatus")},
        body="LicenseFile",
        errors={
            400: "INVALID_INPUT: the file is refused; detail.reason is one of "
            + ", ".join(LicenseError.REASONS)
            + " and the message says why",
            401: "no or wrong credentials",
            **ADMINS_ONLY,
        },
    ),
    Op(
        "GET",
        "/admin/audit",
        "listAuditEvents",
        "admin",
        "Read the audit log",
        "Who changed what, when, from which address; newest first. total is null. "
        "Administrators only.",
        {200: ("a page of events", "AuditEventList")},
        query=PAGE,
        errors={
            400: "start or limit out of range",
            401: "no or wrong credentials",
            **ADMINS_ONLY,
        },
    ),
    Op(
        "GET",
        "/admin/logs",
        "getLogs",
        "admin",
        "Read the logs",
        "Recent lines of the components' logs, of every replica sharing the database, each "
        "tagged with its replica (kept in the database: the newest 5,000 of each component, "
        "LOG_KEEP_LINES; each replica's files under instance/logs keep more of its own), "
        "oldest first, filtered by component, lowest level, replica and text (q, any case, "
        "anywhere in the line as the Logs page shows it, its replica first). Without since: "
        "the newest `limit` lines; with since: the first `limit` lines after it. A line "
        "reaches the database within a second of being logged. Request lines carry method, "
        "path, status, bytes, durationMs, user and client. Administrators only.",
        {200: ("the lines", "LogLines")},
        query=("component", "level", "q", "replica", "since", "logLimit"),
        errors={
            400: "an unknown component or level, q longer than 200 characters, replica longer "
            "than 255, or since or limit not an integer in range",
            401: "no or wrong credentials",
            **ADMINS_ONLY,
        },
    ),
    Op(
        "POST",
        "/admin/jobs",
        "startJob",
        "gc",
        "Run garbage collection now",
        "Starts a registryGC job in the background and answers at once with it (state "
        "running); poll GET /admin/jobs/{id}. A dry run lists what would be deleted and "
        "deletes nothing. One collection runs at a time, also across DTR processes sharing "
        "the database. Administrators only.",
        {202: ("the job, started", "GcJob")},
        body="GcJobStart",
        errors={
            400: "not a JSON object, job not registryGC, or dryRun not a boolean",
            401: "no or wrong credentials",
            **ADMINS_ONLY,
            409: "JOB_RUNNING: a garbage collection is running already",
        },
    ),
    *run_history_ops(
        "/admin/jobs",
        ("listJobs", "getJob"),
        "gc",
        "garbage collection jobs",
        "a garbage collection job",
        "job",
        "GcJob",
        "Every run, newest first: what triggered it, when, its state and what it deleted. "
        "Administrators only.",
        "A run with the list of what it deleted, or for a dry run would delete (up to 10,000 "
        "of each kind). Administrators only.",
    ),
    Op(
        "GET",
        GC,
        "getGcSettings",
        "gc",
        "Get the garbage collection settings",
        "The grace window and whether untagged manifests are garbage. Administrators only.",
        {200: ("the settings", "GcSettings")},
        errors={401: "no or wrong credentials", **ADMINS_ONLY},
    ),
    Op(
        "PUT",
        GC,
        "putGcSettings",
        "gc",
        "Change the garbage collection settings",
        "Fields left out stay as they are; they apply from the next run. Administrators only.",
        {200: ("the settings now", "GcSettings")},
        body="GcSettingsChange",
        errors={
            400: "not a JSON object, an unknown field, graceWindowMinutes not an integer from 0 "
            "to 43200, or deleteUntaggedManifests not a boolean",
            401: "no or wrong credentials",
            **ADMINS_ONLY,
        },
    ),
    Op(
        "GET",
        GC + "/schedule",
        "getGcSchedule",
        "gc",
        "Get the garbage collection schedule",
        "The cron schedule (UTC; empty: none) and its next three run times. Administrators only.",
        {200: ("the schedule", "GcSchedule")},
        errors={401: "no or wrong credentials", **ADMINS_ONLY},
    ),
    Op(
        "POST",
        GC + "/schedule",
        "setGcSchedule",
        "gc",
        "Set the garbage collection schedule",
        "Validates and stores the schedule; the scheduler runs garbage collection at those "
        "times. An empty schedule stops it. Administrators only.",
        {200: ("the schedule as stored, with its next run times", "GcSchedule")},
        body="GcScheduleChange",
        errors={
            400: "not a JSON object, schedule missing or not a string, or not a schedule (the "
            "message says why)",
            401: "no or wrong credentials",
            **ADMINS_ONLY,
        },
    ),
    Op(
        "GET",
        GC + "/lastSavings",
        "getGcLastSavings",
        "gc",
        "Get the last savings of garbage collection",
        "What the last finished run that was not a dry run deleted, and the bytes it "
        "reclaimed; zeros and nulls before the first one. Administrators only.",
        {200: ("the savings", "GcSavings")},
        errors={401: "no or wrong credentials", **ADMINS_ONLY},
    ),
    # search
    Op(
        "GET",
        "/index/search",
        "search",
        "search",
        "Search repositories and accounts",
        "Repositories the caller may see whose full name or descriptions contain q, a page "
        "at a time; for logged-in callers, also up to `limit` accounts whose name contains q "
        "(none for an empty q).",
        {200: ("the results", "SearchResults")},
        query=("q", *PAGE),
        errors={400: "start or limit out of range", 401: "wrong credentials"},
    ),
    Op(
        "GET",
        "/index/autocomplete",
        "autocomplete",
        "search",
        "Complete a name",
        "Up to 20 full names of repositories the caller may see, then (for logged-in "
        "callers) up to 20 account names, containing q.",
        {200: ("the names", "AutocompleteResults")},
        query=("q",),
        errors={401: "wrong credentials"},
    ),
    Op(
        "GET",
        "/openapi.json",
        "getOpenApiDocument",
        "meta",
        "This document",
        "The OpenAPI 3.0.3 description of /api/v0; for anyone.",
        {200: ("the OpenAPI document", None)},
        authenticated=False,
    ),
    Op(
        "GET",
        "/version",
        "getVersion",
        "meta",
        "DTR's version",
        "The version of DTR answering and its database schema revision (CHANGELOG.md says "
        "what each version brought and which upgrades need steps); for anyone.",
        {200: ("the version", "Version")},
        authenticated=False,
    ),
    Op(
        "GET",
        R + "/deletedTags",
        "listDeletedTags",
        "repositories",
        "List the tags deleted within the restore window",
        "A tag deleted by hand can be restored for DTR_TAG_RESTORE_DAYS (14 by default); "
        "garbage collection keeps its content until then. A manifest deleted by digest is not "
        "restorable. For whoever may see the repository.",
        {200: ("the deleted tags", "DeletedTagList")},
        errors={400: "INVALID_NAME: an invalid name", 401: "wrong credentials", 404: UNSEEN},
    ),
    Op(
        "POST",
        R + "/deletedTags/{deleted}/restore",
        "restoreDeletedTag",
        "repositories",
        "Put a deleted tag back",
        "The tag points at its manifest again, as a push of it would (tag.create, or tag.move "
        "when the name points elsewhere now; an immutable tag is never moved). Needs push "
        "access. Audited.",
        {200: ("the tag restored", "RestoredTag")},
        errors={
            400: "INVALID_NAME: an invalid repository name",
            401: "no or wrong credentials",
            403: "the caller may not push to the repository; DENIED: an immutable tag would move",
            404: UNSEEN + ", or no such deleted tag (or its window has passed)",
        },
    ),
    Op(
        "GET",
        R + "/usage",
        "getRepositoryUsage",
        "usage",
        "Storage used by a repository",
        "Its manifests' bytes and each blob they reference, counted once; content deleted "
        "but not yet garbage collected still counts. For whoever may see the repository.",
        {200: ("the usage", "RepositoryUsage")},
        errors={400: "INVALID_NAME: an invalid name", 401: "wrong credentials", 404: UNSEEN},
    ),
    Op(
        "GET",
        "/repositoryNamespaces/{namespace}/usage",
        "getNamespaceUsage",
        "usage",
        "Storage used by a namespace, and its quota",
        "A blob shared by several of its repositories counts once. For administrators, the "
        "user whose namespace it is, owners of the organization and teams with an "
        "admin-level grant on its namespace.",
        {200: ("the usage", "NamespaceUsage")},
        errors={
            401: "no or wrong credentials",
            403: "the caller may not administer the namespace",
            404: "no such user or organization",
        },
    ),
    Op(
        "PUT",
        "/repositoryNamespaces/{namespace}/quota",
        "setNamespaceQuota",
        "usage",
        "Set a namespace's storage quota",
        "A push of a manifest that would take the namespace over it is refused (DENIED "
        "quota exceeded: used X of Y; a quota.exceeded event); one that crosses "
        "warningPercent of it publishes quota.warning. Administrators only. Audited.",
        {200: ("the usage and the new quota", "NamespaceUsage")},
        body="QuotaChange",
        errors={
            400: "not a JSON object; quotaBytes missing or invalid, warningPercent invalid, "
            "or an unknown field",
            401: "no or wrong credentials",
            403: "not an administrator",
            404: "no such user or organization",
        },
    ),
    Op(
        "GET",
        "/admin/proxies",
        "listProxies",
        "proxies",
        "List proxy namespaces",
        "With each upstream's health as the last requests found it. Administrators only.",
        {200: ("the proxy namespaces", "ProxyList")},
        errors={401: "no or wrong credentials", 403: "not an administrator"},
    ),
    Op(
        "POST",
        "/admin/proxies",
        "createProxy",
        "proxies",
        "Create a proxy namespace",
        "A new organization (its owners team has the caller) whose repositories mirror the "
        "upstream: `docker pull HOST/<name>/library/alpine` pulls through it. Administrators "
        "only. Audited.",
        {201: ("the proxy namespace", "Proxy")},
        body="NewProxy",
        errors={
            400: "not a JSON object, an unknown field, a field of the wrong type or out of "
            "range, an invalid name or URL",
            401: "no or wrong credentials",
            403: "not an administrator",
            409: "the name is taken",
        },
    ),
    Op(
        "GET",
        "/admin/proxies/{proxy}",
        "getProxy",
        "proxies",
        "A proxy namespace",
        "Administrators only.",
        {200: ("the proxy namespace", "Proxy")},
        errors={401: "no or wrong credentials", 403: "not an administrator", 404: "no such proxy"},
    ),
    Op(
        "PATCH",
        "/admin/proxies/{proxy}",
        "updateProxy",
        "proxies",
        "Change a proxy namespace",
        "Only the fields given change; a password of null removes it. Administrators only. "
        "Audited.",
        {200: ("the proxy namespace", "Proxy")},
        body="ProxyChanges",
        errors={
            400: "not a JSON object, an unknown field, a field of the wrong type or out of range",
            401: "no or wrong credentials",
            403: "not an administrator",
            404: "no such proxy",
        },
    ),
    Op(
        "DELETE",
        "/admin/proxies/{proxy}",
        "deleteProxy",
        "proxies",
        "Stop mirroring",
        "The organization and what was cached stay, as normal repositories. Administrators "
        "only. Audited.",
        {204: ("no longer a proxy", None)},
        errors={401: "no or wrong credentials", 403: "not an administrator", 404: "no such proxy"},
    ),
    Op(
        "POST",
        "/admin/proxies/{proxy}/check",
        "checkProxy",
        "proxies",
        "Reach the upstream now",
        "Asks the upstream's /v2/ and records the outcome in the proxy's health. "
        "Administrators only.",
        {200: ("whether it answered", "ProxyCheck")},
        errors={401: "no or wrong credentials", 403: "not an administrator", 404: "no such proxy"},
    ),
    Op(
        "GET",
        "/admin/replication",
        "listReplicationRules",
        "replication",
        "List replication rules",
        "Each with its last run. Administrators only.",
        {200: ("the rules", "ReplicationRuleList")},
        errors={401: "no or wrong credentials", 403: "not an administrator"},
    ),
    Op(
        "POST",
        "/admin/replication",
        "createReplicationRule",
        "replication",
        "Create a replication rule",
        "push: copy the local repositories matching `repositories` (their tags matching "
        "`tags`, with index children, referrers and cosign signatures) to the other registry, "
        "on each push and/or on the schedule. pull: keep `localRepository` (created when "
        "missing, read-only here) in sync with `remoteRepository` on the schedule. "
        "Administrators only. Audited.",
        {201: ("the rule", "ReplicationRule")},
        body="NewReplicationRule",
        errors={
            400: "not a JSON object, an unknown field, a field of the wrong type or of the "
            "other direction, an invalid name, URL, pattern or schedule, a missing scope",
            401: "no or wrong credentials",
            403: "not an administrator",
            409: "the name is taken",
        },
    ),
    Op(
        "GET",
        "/admin/replication/{rule_name}",
        "getReplicationRule",
        "replication",
        "A replication rule",
        "Administrators only.",
        {200: ("the rule", "ReplicationRule")},
        errors={401: "no or wrong credentials", 403: "not an administrator", 404: "no such rule"},
    ),
    Op(
        "PATCH",
        "/admin/replication/{rule_name}",
        "updateReplicationRule",
        "replication",
        "Change a replication rule",
        "Only the fields given change; a password of null removes it; the name and direction "
        "stay. Administrators only. Audited.",
        {200: ("the rule", "ReplicationRule")},
        body="ReplicationRuleChanges",
        errors={
            400: "not a JSON object, an unknown field, a field of the wrong type or of the "
            "other direction, an invalid URL, pattern or schedule",
            401: "no or wrong credentials",
            403: "not an administrator",
            404: "no such rule",
        },
    ),
    Op(
        "DELETE",
        "/admin/replication/{rule_name}",
        "deleteReplicationRule",
        "replication",
        "Delete a replication rule",
        "With its history. A pull rule's local repository stays, writable again. "
        "Administrators only. Audited.",
        {204: ("deleted", None)},
        errors={401: "no or wrong credentials", 403: "not an administrator", 404: "no such rule"},
    ),
    Op(
        "POST",
        "/admin/replication/{rule_name}/run",
        "runReplicationRule",
        "replication",
        "Run a rule now",
        "Queues a whole run (every matching tag); what the other side has is skipped. "
        "Administrators only.",
        {202: ("the queued run", "ReplicationRun")},
        errors={401: "no or wrong credentials", 403: "not an administrator", 404: "no such rule"},
    ),
    Op(
        "GET",
        "/admin/replication/{rule_name}/runs",
        "listReplicationRuns",
        "replication",
        "A rule's runs",
        "The latest 50, newest first. Administrators only.",
        {200: ("the runs", "ReplicationRunList")},
        errors={401: "no or wrong credentials", 403: "not an administrator", 404: "no such rule"},
    ),
    Op(
        "GET",
        "/admin/replication-runs/{run}",
        "getReplicationRun",
        "replication",
        "A run, with each artifact's outcome",
        "Administrators only.",
        {200: ("the run", "ReplicationRunDetail")},
        errors={401: "no or wrong credentials", 403: "not an administrator", 404: "no such run"},
    ),
    Op(
        "POST",
        "/admin/replication-runs/{run}/retry",
        "retryReplicationRun",
        "replication",
        "Run again what a finished run covered",
        "Queues a new run of the same scope. Administrators only.",
        {202: ("the queued run", "ReplicationRun")},
        errors={
            400: "the run has not finished",
            401: "no or wrong credentials",
            403: "not an administrator",
            404: "no such run",
        },
    ),
    Op(
        "GET",
        "/admin/usage",
        "getRegistryUsage",
        "usage",
        "Storage used by the whole registry",
        "Each blob counted once. Administrators only.",
        {200: ("the usage", "RegistryUsage")},
        errors={401: "no or wrong credentials", 403: "not an administrator"},
    ),
    *(
        operation
        for operations_of in (retention_operations, webhook_operations)
        for scope in ADMINISTERED_SCOPES
        for operation in operations_of(*scope)
    ),
    *webhook_operations(
        "/admin",
        "registry",
        "Registry",
        "Administrators only. Hears the events of every repository, and gc.finish, "
        "storage.verified and replication.finish.",
        {401: "no or wrong credentials", 403: "not an administrator"},
    ),
]

TAGS = [
    {"name": "accounts", "description": "Users and organizations"},
    {"name": "tokens", "description": "Personal access tokens of users"},
    {"name": "robots", "description": "Robot accounts of organizations, for CI"},
    {"name": "teams", "description": "Teams of organizations and their members"},
    {"name": "repositories", "description": "Repositories and their tags"},
    {"name": "access", "description": "Grants to teams and users on repositories and namespaces"},
    {"name": "signatures", "description": "Keys trusted to sign images (cosign signatures)"},
    {"name": "webhooks", "description": "Signed HTTP POSTs of pushes, tags and deletions"},
    {"name": "usage", "description": "Storage used by repositories and namespaces; quotas"},
    {"name": "retention", "description": "Which tags to keep; runs and dry runs"},
    {"name": "proxies", "description": "Proxy namespaces: pull-through caches of upstreams"},
    {
        "name": "replication",
        "description": "Replication rules: copies to and from other registries, with history",
    },
    {
        "name": "admin",
        "description": "Auth settings, LDAP, the license, the audit log and the logs",
    },
    {"name": "gc", "description": "Garbage collection: jobs, schedule, settings, savings"},
    {
        "name": "storage",
        "description": "Where blobs are stored: backend, options, test; storage verification",
    },
    {"name": "search", "description": "Search and autocompletion"},
    {"name": "meta", "description": "This API's description and DTR's version"},
]

# --- assembly --------------------------------------------------------------------------------

_PATH_PARAMETER = re.compile(r"{(\w+)}")


def _json(schema):
    return {"application/json": {"schema": schema}}


def _request_body(body):
    schema = {"oneOf": [ref(name) for name in body]} if isinstance(body, tuple) else ref(body)
    return {"required": True, "content": _json(schema)}


def _operation(op: Op):
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": PATH_PARAMETERS[name],
            "schema": {"type": "string"},
        }
        for name in _PATH_PARAMETER.findall(op.path)
    ]
    parameters += [{"$ref": f"#/components/parameters/{name}"} for name in op.query]
    responses = {}
    for status, (description, schema) in op.ok.items():
        responses[str(status)] = {"description": description}
        if schema is not None:
            responses[str(status)]["content"] = _json(ref(schema))
        elif status == 200:
            responses[str(status)]["content"] = _json({"type": "object"})
    for status, reasons in op.error_statuses().items():
        responses[str(status)] = error_response(status, reasons)
    operation = {
        "operationId": op.operation_id,
        "tags": [op.tag],
        "summary": op.summary,
        "description": op.description,
    }
    if parameters:
        operation["parameters"] = parameters
    if op.body:
        operation["requestBody"] = _request_body(op.body)
    operation["responses"] = responses
    if not op.authenticated:
        operation["security"] = []
    return operation


def build_document(operations=OPERATIONS):
    paths: dict = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "DTR API",
            "version": "v0",
            "description": (
                "The JSON API of DTR, a container registry: accounts, access tokens, "
                "organizations, robot accounts, teams, repositories, grants, search, settings "
                "and the audit log. Callers authenticate with HTTP Basic, the password being "
                "their password or one of their personal access tokens (scope api:read: GET "
                "only; api:write: every method), or with the web portal's session cookie "
                f"(changes also need its {CSRF_HEADER} header: the API console), or call "
                "anonymously where that is allowed. Registry tokens (Bearer, from "
                "/auth/token) are for /v2 only: /api/v0 refuses them with 401, and robot "
                "accounts (which only push and pull) with 403. Repeated failed logins, or "
                "every password check being busy, answer 429 with Retry-After. Errors are "
                '{"errors": [{"code", "message", "detail"}]}. A repository the caller may '
                "not see answers 404; one they see but may not change, 403. Until the first "
                "admin is created (auth mode None), every operation but creating that admin "
                "and reading this document answers 409 NOT_SET_UP. JSON bodies are read "
                "strictly: at most 4 MiB, nested at most 64 deep, valid UTF-8 without lone "
                "surrogates, no NaN or Infinity, no duplicate keys (400, naming the field). "
                "Requests the HTTP server cannot read answer the same error envelope before "
                "any operation: 400 BAD_REQUEST (a malformed request line or header), 414 "
                "URI_TOO_LONG (a request line over 4094 bytes), 431 HEADERS_TOO_LARGE."
            ),
        },
        "servers": [{"url": "/api/v0"}],
        "tags": TAGS,
        "security": [{"basic": []}, {"session": []}, {}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": CONFIG_DEFAULTS["SESSION_COOKIE_NAME"],
                    "description": "the web portal's session, after logging in to it with a "
                    f"password; a request that changes something also sends the {CSRF_HEADER} "
                    "header of the session's pages",
                },
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "REFUSED by /api/v0 (401), named so that clients know: a "
                    "registry token from GET /auth/token is for /v2 only. No operation accepts "
                    "it.",
                },
            },
            "schemas": SCHEMAS,
            "responses": RESPONSES,
            "parameters": PARAMETERS,
        },
    }


DOCUMENT = build_document()


def openapi_document():
    return current_app.json.response(DOCUMENT)
