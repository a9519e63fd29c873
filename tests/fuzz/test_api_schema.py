"""Schemathesis over the /api/v0 OpenAPI document, against one real DTR (gunicorn) for the
module, as an administrator (`admin`) and as a user of global role none (`nobody`), both with
HTTP Basic (tests/support/server.py USERS).

Every answer must be no 5xx and agree with the document (CHECKS): a documented status, a
body that conforms to its schema, the documented content type and headers. What is sent:
- test_api_conforms_to_its_document: per operation and user, schemathesis's deterministic
  coverage cases (boundaries, wrong types, missing fields, unexpected methods) and
  API_EXAMPLES generated cases, positive and negative (tests/fuzz/profiles.py); each
  operation's cases come from a seed derived from API_SEED, so a failure in CI reproduces.
  Each positive JSON body is also sent to resources that exist (SEEDED: generated path
  parameters name none, so the body would never be read), as generated and once per string
  field (at most VARIANTS_PER_CASE) with a lone surrogate appended to that field.
- test_hostile_json_bodies: every operation with a body, HOSTILE_BODIES (nested 100,000 deep,
  NaN, duplicate keys, invalid UTF-8, a 5,000-digit number, ...), as the admin.
- test_long_query_strings: every operation with query parameters, values longer than the
  request line the server reads.
A failure prints the server's log lines of the request (its traceback) and a curl command.

The document fuzzed is the module's (dtr.api.openapi.DOCUMENT, `from_dict`), checked first to
be the one the server serves at /api/v0/openapi.json. Not `from_url` in a fixture
(`schemathesis.pytest.from_fixture`): schemathesis 4.32.5's lazy schema reads
`request.node._nodeid`, which pytest 9.2 no longer has (AttributeError); `from_url` at import
time would need a server before collection.

Excluded operations and fixed inputs (each would break the run or reach out of it):
- PUT /admin/settings/storage and POST /admin/settings/storage/test (EXCLUDED from
  schemathesis): a valid configuration makes DTR connect to whatever host or endpoint was
  generated (S3/Azure/Swift: DNS look-ups and SDK retries, seconds per case) or write a probe
  object under any directory of the machine (filesystem, as root), and the PUT switches the
  live storage under the run. Their bodies still get the hostile battery (refused before any
  connection).
- The accounts the run logs in with: PATCH /accounts/{name} (role), DELETE /accounts/{name},
  PUT /accounts/{name}/deactivate and POST /accounts/{name}/changePassword aimed at `admin` or
  `nobody` go to `fuzz-victim` (a user made for it); other names are sent as generated.
- PUT /admin/settings/auth and POST /admin/settings/auth/ldap/tryLogin: an `ldap` object's
  server_url is LDAP_UNREACHABLE (nothing listens: refused at once) and its timeout_seconds
  1, so no case waits on a generated host (and the auth mode cannot become LDAP: saving it
  needs a bind that works); every other field is sent as generated.
- PUT /admin/settings/auth and POST /admin/settings/auth/oidc/test: an `oidc` object's issuer
  is OIDC_UNREACHABLE and its timeout_seconds 1, for the same reasons (the mode cannot become
  OIDC: saving it needs the provider's discovery document).
"""

import copy
import time

import pytest
import requests
import schemathesis
from hypothesis import settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dtr.api.openapi import DOCUMENT
from tests.fuzz import profiles
from tests.fuzz.report import API_STATS
from tests.support.server import USERS, DTRProcess

FUZZ_USERS = ("nobody", "admin")  # per operation, role none first: the admin changes more
VICTIM = ("fuzz-victim", "victim-password-1")
LDAP_UNREACHABLE = "ldap://127.0.0.1:9"
OIDC_UNREACHABLE = "http://127.0.0.1:9"
EXCLUDED = ["putStorageSettings", "testStorageSettings"]
ACCOUNT_CHANGES = {
    "PATCH /accounts/{name}",
    "DELETE /accounts/{name}",
    "PUT /accounts/{name}/deactivate",
    "POST /accounts/{name}/changePassword",
}
# operation -> the directories' settings its body may hold: (key, address field, address)
UNREACHABLE_DIRECTORIES = {
    "PUT /admin/settings/auth": (
        ("ldap", "server_url", LDAP_UNREACHABLE),
        ("oidc", "issuer", OIDC_UNREACHABLE),
    ),
    "POST /admin/settings/auth/ldap/tryLogin": (("ldap", "server_url", LDAP_UNREACHABLE),),
    "POST /admin/settings/auth/oidc/test": (("oidc", "issuer", OIDC_UNREACHABLE),),
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
VARIANTS_PER_CASE = 4
LONE_SURROGATE = "\ud800"
REQUEST_TIMEOUT = 60
LONG_QUERY_VALUE = 5000

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": profiles.API_SEED,
        # the curl of a failure shows passwords and keys: test users' only, needed to reproduce
        "output": {"sanitization": {"enabled": False}},
        "generation": {
            "max-examples": profiles.API_EXAMPLES,
            "deterministic": True,
            "database": "none",
            "no-shrink": True,
        },
    }
)
ALL_OPERATIONS = schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT), config=CONFIG)
schema = ALL_OPERATIONS.exclude(operation_id=EXCLUDED)

# Path parameters that name the resources made by `api_server`, for the hostile battery.
SEEDED = {
    "name": VICTIM[0],
    "org": "fuzz-org",
    "team": "fuzz-team",
    "member": "writer",
    "user": "writer",
    "robot": "ci",
    "namespace": "fuzz-org",
    "repo": "fuzzed",
}
DEEP = 100_000
HOSTILE_BODIES = {
    "nested-100000-arrays": b"[" * DEEP + b"]" * DEEP,
    "nested-100000-objects": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "nan": b'{"name": NaN}',
    "infinity": b'{"name": -Infinity}',
    "float-overflow": b'{"name": 1e999}',
    "int-5000-digits": b'{"name": ' + b"9" * 5000 + b"}",
    "duplicate-keys": b'{"name": "a", "name": "b"}',
    "lone-surrogate-escape": b'{"name": "\\ud800"}',
    "lone-surrogate-key": b'{"\\udfff": "a"}',
    "invalid-utf8": b'{"name": "\xff\xfe"}',
    "utf8-encoded-surrogate": b'{"name": "\xed\xa0\x80"}',
    "byte-order-mark": b'\xef\xbb\xbf{"name": "a"}',
    "not-an-object": b'["name"]',
    "truncated": b'{"name": "a',
    "empty": b"",
    "null": b"null",
}


@pytest.fixture(scope="module")
def api_server(tmp_path_factory):
    """DTR with the users of USERS, a victim user, an organization with a team, a robot and a
    repository; the document it serves must be the one fuzzed."""
    server = DTRProcess(tmp_path_factory.mktemp("fuzz-api") / "instance")
    server.create_users({**USERS, VICTIM[0]: (VICTIM[1], "none")})
    server.start()
    try:
        served = requests.get(f"{server.url}/api/v0/openapi.json", timeout=30)
        assert served.json() == DOCUMENT, "the server serves another document than the module"
        _seed(server)
        API_STATS.update(cases=0, requests=0, left=0, seconds=0.0, started=time.monotonic())
        yield server
    finally:
        API_STATS["seconds"] = time.monotonic() - API_STATS.get("started", time.monotonic())
        server.stop()


def _seed(server):
    admin = requests.Session()
    admin.auth = ("admin", USERS["admin"][0])
    api = f"{server.url}/api/v0"
    for method, path, body in [
        ("POST", "/accounts", {"type": "organization", "name": "fuzz-org"}),
        ("POST", "/accounts/fuzz-org/teams", {"name": "fuzz-team"}),
        ("PUT", "/accounts/fuzz-org/teams/fuzz-team/members/writer", {}),
        ("POST", "/repositories/fuzz-org", {"name": "fuzzed"}),
        ("POST", "/repositories/admin", {"name": "fuzzed"}),
        ("POST", "/organizations/fuzz-org/robots", {"name": "ci"}),
    ]:
        response = admin.request(method, api + path, json=body, timeout=30)
        assert response.status_code < 300, (method, path, response.status_code, response.text)


def _over_budget():
    return time.monotonic() - API_STATS["started"] > profiles.API_TIME_BUDGET_SECONDS


def _send(server, session, case, user):
    """Send a case as `user` and run the checks; a failure prints the server's log lines."""
    log = server.instance.parent / f"dtr-{server.port}.log"
    offset = log.stat().st_size
    API_STATS["requests"] += 1
    try:
        case.call_and_validate(
            base_url=f"{server.url}/api/v0",
            session=session,
            auth=(user, USERS[user][0]),
            checks=CHECKS,
            timeout=REQUEST_TIMEOUT,
        )
    except BaseException:  # schemathesis's FailureGroup is a BaseExceptionGroup
        # pytest shows it under "Captured stdout call" when the test fails
        print(f"--- {case.method.upper()} {case.formatted_path} as {user}; the server's log:")
        with open(log, "rb") as file:
            file.seek(offset)
            print(file.read()[-6000:].decode(errors="replace"))
        raise


def _make_safe(case):
    label = f"{case.method.upper()} {case.operation.path}"
    parameters = case.path_parameters or {}
    if label in ACCOUNT_CHANGES and parameters.get("name") in FUZZ_USERS:
        parameters["name"] = VICTIM[0]
    for key, field, address in UNREACHABLE_DIRECTORIES.get(label, ()):
        if isinstance(case.body, dict) and isinstance(case.body.get(key), dict):
            case.body[key][field] = address
            case.body[key]["timeout_seconds"] = 1


def _string_leaves(value, path=()):
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _string_leaves(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _string_leaves(child, (*path, index))


def _poisoned(body, path):
    body = copy.deepcopy(body)
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] += LONE_SURROGATE
    return body


def _seeded_variants(case, user):
    """A positive JSON body sent again to the resources `api_server` made (generated path
    parameters almost never name one, so the body would not be read): as generated, then once
    per string field (spread over at most VARIANTS_PER_CASE fields) with a lone surrogate
    appended to that field."""
    positive = case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE
    if not positive or not isinstance(case.body, dict):
        return []
    leaves = list(_string_leaves(case.body))
    step = max(1, -(-len(leaves) // VARIANTS_PER_CASE))
    bodies = [_poisoned(case.body, path) for path in leaves[::step]] + [case.body]
    parameters = {name: _seeded(name, user) for name in case.path_parameters or {}}
    return [
        case.operation.Case(
            method=case.method,
            path_parameters=parameters,
            query=dict(case.query or {}),
            headers=dict(case.headers or {}),
            body=body,
            media_type=case.media_type,
        )
        for body in bodies
    ]


def _seeded(parameter, user):
    """The seeded resource a path parameter names: a user's own account is itself."""
    if parameter == "name" and user != "admin":
        return user
    return SEEDED.get(parameter, "1")


def _parameters(operation):
    """An operation's parameters, their $refs (#/components/parameters/...) resolved."""
    found = []
    for parameter in operation.get("parameters", []):
        if "$ref" in parameter:
            parameter = DOCUMENT["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
        found.append(parameter)
    return found


def _fixed_case(path, method, **parts):
    """A case of an operation whose path parameters name seeded resources (as the admin)."""
    parameters = _parameters(DOCUMENT["paths"][path][method])
    seeded = {p["name"]: _seeded(p["name"], "admin") for p in parameters if p["in"] == "path"}
    return ALL_OPERATIONS[path][method.upper()].Case(path_parameters=seeded, **parts)


@pytest.fixture(scope="module")
def session():
    with requests.Session() as session:
        yield session


BODY_OPERATIONS = [
    (path, method)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
    if isinstance(operation, dict) and "requestBody" in operation
]


@pytest.mark.parametrize("kind", sorted(HOSTILE_BODIES))
@pytest.mark.parametrize(
    "path,method", BODY_OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in BODY_OPERATIONS]
)
def test_hostile_json_bodies(api_server, session, path, method, kind):
    """Bodies no JSON parser should choke on: a documented 4xx, never a 5xx."""
    case = _fixed_case(path, method, body=HOSTILE_BODIES[kind], media_type="application/json")
    _send(api_server, session, case, "admin")


QUERY_OPERATIONS = [
    (path, method)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
    if isinstance(operation, dict) and any(p["in"] == "query" for p in _parameters(operation))
]


@pytest.mark.parametrize(
    "path,method", QUERY_OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in QUERY_OPERATIONS]
)
def test_long_query_strings(api_server, session, path, method):
    """A request line longer than the server reads (gunicorn: 4094 bytes) is still answered as
    the document says."""
    parameters = _parameters(DOCUMENT["paths"][path][method])
    query = {p["name"]: "x" * LONG_QUERY_VALUE for p in parameters if p["in"] == "query"}
    _send(api_server, session, _fixed_case(path, method, query=query), "admin")


@pytest.mark.parametrize("user", FUZZ_USERS)
@schema.parametrize()
@settings(profiles.api_settings())
def test_api_conforms_to_its_document(case, user, api_server, session):
    API_STATS["cases"] += 1
    if _over_budget():
        API_STATS["left"] += 1
        return
    _make_safe(case)
    _send(api_server, session, case, user)
    for variant in _seeded_variants(case, user):
        _make_safe(variant)
        _send(api_server, session, variant, user)
