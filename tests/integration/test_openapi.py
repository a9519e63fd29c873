"""The OpenAPI document of /api/v0: it covers exactly the app's routes, it is a valid
OpenAPI 3.0.3 document, it is what the server serves, and it agrees with the code's rules."""

import re
from dataclasses import fields

import pytest
import requests
from openapi_spec_validator import OpenAPIV30SpecValidator

from dtr import create_app
from dtr.api.common import API_ERRORS
from dtr.api.openapi import DOCUMENT, OPERATIONS
from dtr.auth.ldap_directory import LdapSettings, LdapUser
from dtr.models import ACCESS_LEVELS, ROLES
from dtr.server import GUNICORN_ERROR_CODES
from dtr.services.auth_settings import MODES
from dtr.services.repositories import VISIBILITIES

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
SCHEMAS = DOCUMENT["components"]["schemas"]


def app_operations(tmp_path):
    """{(METHOD, /openapi/{path}): rule arguments} of every /api/v0 route of the app."""
    app = create_app(tmp_path)
    found = {}
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        assert rule.rule.startswith("/api/v0/"), rule.rule
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule[len("/api/v0") :])
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found[(method, path)] = set(rule.arguments)
    return found


def documented_operations():
    return {
        (method.upper(), path): operation
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def test_every_route_is_documented_and_every_operation_exists(tmp_path):
    routes = app_operations(tmp_path)
    documented = documented_operations()
    assert len(routes) > 40
    assert sorted(set(routes) - set(documented)) == [], "routes missing from the document"
    assert sorted(set(documented) - set(routes)) == [], "documented operations with no route"
    for key, arguments in routes.items():
        parameters = documented[key].get("parameters", [])
        in_path = {p["name"] for p in parameters if p.get("in") == "path"}
        assert in_path == arguments, key
        assert all(p["required"] for p in parameters if p.get("in") == "path"), key


def test_the_document_is_valid_openapi_3_0():
    assert DOCUMENT["openapi"] == "3.0.3"
    errors = [str(error) for error in OpenAPIV30SpecValidator(DOCUMENT).iter_errors()]
    assert errors == []


def test_the_validator_would_catch_a_broken_document():
    broken = {**DOCUMENT, "paths": {"/x/{id}": {"get": {"responses": {"200": {}}}}}}
    assert list(OpenAPIV30SpecValidator(broken).iter_errors())


def test_served_document_equals_the_module_document(dtr):
    response = requests.get(f"{dtr.url}/api/v0/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == DOCUMENT


def test_document_basics():
    assert DOCUMENT["servers"] == [{"url": "/api/v0"}]
    schemes = DOCUMENT["components"]["securitySchemes"]
    assert schemes["basic"] == {"type": "http", "scheme": "basic"}
    assert schemes["bearer"]["scheme"] == "bearer"
    assert DOCUMENT["info"]["title"] and DOCUMENT["info"]["version"]
    ids = [op["operationId"] for op in documented_operations().values()]
    assert len(ids) == len(set(ids))
    for key, operation in documented_operations().items():
        assert operation["summary"] and operation["description"], key
        assert any(status.startswith("2") for status in operation["responses"]), key
    for name in ["Account", "Team", "Repository", "Tag", "TeamAccess", "UserAccess"]:
        assert name in SCHEMAS
    for name in ["AuditEvent", "Error", "AccountList", "RepositoryList", "AuditEventList"]:
        assert name in SCHEMAS
    for name in ["AccountList", "RepositoryList", "AuditEventList"]:
        assert {"start", "limit", "total"} <= set(SCHEMAS[name]["required"])


@pytest.mark.parametrize(
    "schema, field, values",
    [
        ("NewUser", "role", ROLES),
        ("AccountChange", "role", ROLES),
        ("AccessGrant", "accessLevel", ACCESS_LEVELS),
        ("TeamAccess", "accessLevel", ACCESS_LEVELS),
        ("NewRepository", "visibility", VISIBILITIES),
        ("RepositoryChange", "visibility", VISIBILITIES),
        ("Repository", "visibility", VISIBILITIES),
        ("AuthSettingsChange", "mode", MODES),
    ],
)
def test_enumerations_are_the_codes(schema, field, values):
    assert SCHEMAS[schema]["properties"][field]["enum"] == list(values)


def test_enumerations_are_what_the_brief_names():
    assert ROLES == ("none", "read-only", "read-write", "admin")
    assert ACCESS_LEVELS == ("read-only", "read-write", "admin")
    assert set(VISIBILITIES) == {"public", "private"}
    assert set(MODES) == {"managed", "ldap", "oidc"}


def test_error_codes_and_statuses_are_the_codes():
    codes = SCHEMAS["Error"]["properties"]["errors"]["items"]["properties"]["code"]["enum"]
    too_long = {414: GUNICORN_ERROR_CODES[414]}  # answered by the HTTP server (dtr/server.py)
    assert set(codes) == {code for code, _ in API_ERRORS.values()} | set(too_long.values())
    documented_statuses = {
        int(status)
        for operation in documented_operations().values()
        for status in operation["responses"]
        if not status.startswith("2")
    }
    assert documented_statuses == {status for _, status in API_ERRORS.values()} | set(too_long)


def test_request_bodies_name_their_required_fields():
    assert SCHEMAS["NewUser"]["required"] == ["name", "password"]
    assert SCHEMAS["NewOrganization"]["required"] == ["type", "name"]
    assert SCHEMAS["PasswordChange"]["required"] == ["newPassword"]
    assert SCHEMAS["NewTeam"]["required"] == ["name"]
    assert SCHEMAS["NewRepository"]["required"] == ["name"]
    assert SCHEMAS["AccessGrant"]["required"] == ["accessLevel"]
    assert SCHEMAS["AccountChange"]["additionalProperties"] is False
    assert SCHEMAS["RepositoryChange"]["additionalProperties"] is False
    operations = documented_operations()
    for (method, path), operation in operations.items():
        bodiless = path.endswith(
            (
                "/redeliver",
                "/webhooks/{webhook}/test",
                "/restore",
                "/proxies/{proxy}/check",
                "/replication/{rule_name}/run",
                "/retry",
            )
        )
        if (
            method in ("POST", "PATCH")
            and not bodiless
            and path
            not in (
                "/admin/settings/auth/ldap/sync",
                "/admin/storage/verifications",
                "/openapi.json",
            )
        ):
            assert operation["requestBody"]["required"] is True, (method, path)


def test_ldap_settings_schemas_follow_the_dataclasses():
    names = [f.name for f in fields(LdapSettings)]
    output = SCHEMAS["LdapSettings"]
    assert list(output["properties"]) == [n for n in names if n != "bind_password"]
    assert output["required"] == list(output["properties"])
    given = SCHEMAS["LdapSettingsInput"]
    assert list(given["properties"]) == names
    assert set(given["required"]) == {"server_url", "bind_dn", "user_base_dn"}
    assert list(SCHEMAS["LdapUser"]["properties"]) == [f.name for f in fields(LdapUser)]


def test_operations_that_ask_who_calls_document_401_and_409():
    for op in OPERATIONS:
        responses = documented_operations()[(op.method, op.path)]["responses"]
        if op.authenticated:
            assert {"401", "409"} <= set(responses), (op.method, op.path)
            assert "WWW-Authenticate" in _resolve_response(responses["401"])["headers"]
        else:
            assert not {"401", "409"} & set(responses)


def _resolve_response(response):
    if "$ref" in response:
        return DOCUMENT["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response
