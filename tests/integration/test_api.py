"""Every /api/v0 endpoint against a running DTR: success paths, bad input, permissions.

The server is shared by the session, so every test makes its own users, organizations and
repositories with unique names. Every response is also checked against the OpenAPI document:
its status must be documented for the operation, and its body must match the documented
schema exactly (no undocumented field)."""

import itertools
import re
import uuid
from functools import cache

import pytest
import requests
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from dtr import __version__
from dtr.api.openapi import DOCUMENT
from tests.support.client import RegistryClient
from tests.support.images import simple_image
from tests.support.server import USERS, DTRProcess

# operations for anyone, whatever the credentials (the OpenAPI document: authenticated=False)
PUBLIC_PATHS = ("/openapi.json", "/version")

RUN = uuid.uuid4().hex[:6]
_counter = itertools.count()


def unique(prefix="t"):
    """A name no other test (of this or an earlier session) uses."""
    return f"{prefix}{RUN}-{next(_counter)}"


# --- responses against the OpenAPI document --------------------------------------------------

SCHEMAS = DOCUMENT["components"]["schemas"]
_TEMPLATES = [
    (re.compile("^" + re.sub(r"{\w+}", "[^/]+", path) + "$"), path) for path in DOCUMENT["paths"]
]


def template_of(path):
    """The documented path a concrete path matches (the one with the most literal text)."""
    matches = [template for pattern, template in _TEMPLATES if pattern.match(path)]
    assert matches, f"no documented path matches {path}"
    return max(matches, key=lambda template: len(re.sub(r"{\w+}", "", template)))


def strict(schema):
    """The schema with its $refs inlined and no undocumented properties allowed."""
    if "$ref" in schema:
        return strict(SCHEMAS[schema["$ref"].rsplit("/", 1)[1]])
    schema = dict(schema)
    if "properties" in schema:
        schema["properties"] = {k: strict(v) for k, v in schema["properties"].items()}
        schema.setdefault("additionalProperties", False)
    if "items" in schema:
        schema["items"] = strict(schema["items"])
    for key in ("oneOf", "anyOf", "allOf"):
        if key in schema:
            schema[key] = [strict(s) for s in schema[key]]
    return schema


@cache
def response_spec(method, template, status):
    """(documented response, validator of its JSON body or None)."""
    responses = DOCUMENT["paths"][template][method.lower()]["responses"]
    documented = responses.get(str(status))
    if documented is None:
        return None, None
    if "$ref" in documented:
        documented = DOCUMENT["components"]["responses"][documented["$ref"].rsplit("/", 1)[1]]
    content = documented.get("content")
    if content is None:
        return documented, None
    schema = strict(content["application/json"]["schema"])
    return documented, OAS30Validator(schema, format_checker=oas30_format_checker)


def check_against_document(method, path, response):
    template = template_of(path)
    documented, validator = response_spec(method, template, response.status_code)
    assert documented is not None, (
        f"{method} {template} answered {response.status_code}, which is not documented: "
        f"{response.text[:300]}"
    )
    if validator is None:
        assert response.content == b"", f"{method} {template}: a body where none is documented"
        return
    assert response.headers["Content-Type"].startswith("application/json")
    validator.validate(response.json())
    if response.status_code == 401:
        assert response.headers["WWW-Authenticate"] == 'Basic realm="DTR"'


class Api:
    """requests on /api/v0 as one caller; every response is checked against the document."""

    def __init__(self, base_url, name=None, password=None, token=None):
        self.url = base_url + "/api/v0"
        self.name = name
        self.password = password
        self.session = requests.Session()
        if name is not None:
            self.session.auth = (name, password)
        if token is not None:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method, path, **kwargs):
        response = self.session.request(method, self.url + path, **kwargs)
        check_against_document(method, path.split("?")[0], response)
        return response

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def put(self, path, **kwargs):
        return self.request("PUT", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.request("PATCH", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)


def expect_error(response, status, code, field=None, text=None):
    """The response is this error; `field`: its message starts with the field's name and its
    detail names it."""
    assert response.status_code == status, response.text
    error = response.json()["errors"][0]
    assert error["code"] == code, error
    if field is not None:
        assert error["message"].startswith(f"{field}:"), error
        assert (error["detail"] or {}).get("field") == field, error
    if text is not None:
        assert text in error["message"], error
    return error


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json() if response.content else None


# --- the world of a test: users, organizations, teams, repositories --------------------------


class World:
    def __init__(self, dtr):
        self.dtr = dtr
        self.admin = self.builtin("admin")
        self.anonymous = Api(dtr.url)

    def builtin(self, name):
        return Api(self.dtr.url, name, USERS[name][0])

    def user(self, role="none"):
        name, password = unique("u"), unique("password-")
        body = {"name": name, "password": password, "role": role}
        ok(self.admin.post("/accounts", json=body), 201)
        return Api(self.dtr.url, name, password)

    def org(self, owners=()):
        name = unique("o")
        ok(self.admin.post("/accounts", json={"type": "organization", "name": name}), 201)
        for owner in owners:
            self.add_member(name, "owners", owner)
        return name

    def team(self, org, members=(), caller=None):
        name = unique("team")
        ok((caller or self.admin).post(f"/accounts/{org}/teams", json={"name": name}), 201)
        for member in members:
            self.add_member(org, name, member)
        return name

    def add_member(self, org, team, member):
        ok(self.admin.put(f"/accounts/{org}/teams/{team}/members/{member.name}"), 201)

    def repo(self, namespace, visibility="private", caller=None, **fields):
        name = unique("r")
        body = {"name": name, "visibility": visibility, **fields}
        created = ok((caller or self.admin).post(f"/repositories/{namespace}", json=body), 201)
        assert created["fullName"] == f"{namespace}/{name}"
        return created["fullName"]

    def token(self, api):
        return requests.get(f"{self.dtr.url}/auth/token", auth=(api.name, api.password))


@pytest.fixture
def world(dtr):
    return World(dtr)


NOT_JSON = {"data": "not json", "headers": {"Content-Type": "application/json"}}
TEXT_BODY = {"data": '{"name": "x"}', "headers": {"Content-Type": "text/plain"}}
VALID_BODIES = {  # by operationId: bodies that pass validation, to reach the caller checks
    "createAccount": {"name": "x", "password": "long-enough-pw"},
    "updateAccount": {"role": "none"},
    "changePassword": {"newPassword": "long-enough-pw"},
    "importUsers": {"csv": "someone,long-enough-pw"},
    "createTeam": {"name": "t"},
    "updateTeam": {"description": "x"},
    "createRepository": {"name": "r"},
    "updateRepository": {"shortDescription": "x"},
    "setRepositoryTeamAccess": {"accessLevel": "read-only"},
    "setRepositoryUserAccess": {"accessLevel": "read-only"},
    "setNamespaceTeamAccess": {"accessLevel": "read-only"},
    "putAuthSettings": {"mode": "managed"},
    "tryLdapLogin": {"username": "u", "password": "long-enough-pw"},
}


def names(items, key="name"):
    return [item[key] for item in items]


def all_repositories(api, path="/repositories"):
    """Every repository a listing gives, page after page."""
    found, start = [], 0
    while True:
        page = ok(api.get(path, params={"start": start, "limit": 1000}))
        found += page["repositories"]
        start += len(page["repositories"])
        if not page["repositories"] or start >= page["total"]:
            return found


# --- accounts ----------------------------------------------------------------------------------


def test_list_accounts_pages_by_name(world):
    world.user()
    first = ok(world.admin.get("/accounts", params={"limit": 2}))
    assert (first["start"], first["limit"], len(first["accounts"])) == (0, 2, 2)
    assert first["total"] >= 5
    second = ok(world.admin.get("/accounts", params={"start": 1, "limit": 2}))
    assert second["accounts"][0] == first["accounts"][1]
    everything = ok(world.admin.get("/accounts", params={"limit": 1000}))["accounts"]
    assert names(everything) == sorted(names(everything))
    assert {"admin", "writer", "reader", "nobody"} <= set(names(everything))
    assert ok(world.builtin("nobody").get("/accounts"))["total"] == first["total"]


@pytest.mark.parametrize(
    "query, field",
    [
        ({"limit": "abc"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"start": "x"}, "start"),
        ({"start": "1000000001"}, "start"),
    ],
)
def test_list_accounts_refuses_bad_pages(world, query, field):
    expect_error(world.admin.get("/accounts", params=query), 400, "INVALID_INPUT", field)


def test_accounts_need_a_login(world):
    expect_error(world.anonymous.get("/accounts"), 401, "NOT_AUTHENTICATED")
    expect_error(world.anonymous.get("/accounts/admin"), 401, "NOT_AUTHENTICATED")
    wrong = Api(world.dtr.url, "admin", "wrong-password")
    expect_error(wrong.get("/accounts"), 401, "NOT_AUTHENTICATED")
    expect_error(wrong.get("/repositories"), 401, "NOT_AUTHENTICATED")
    garbage = Api(world.dtr.url, token="not-a-token")
    expect_error(garbage.get("/repositories"), 401, "NOT_AUTHENTICATED")


def test_wrong_credentials_are_refused_by_every_operation(world):
    wrong = Api(world.dtr.url, unique("nobody-here"), "pw")  # no slow password check
    refused = set()
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if path in PUBLIC_PATHS:
                continue
            body = VALID_BODIES.get(operation["operationId"], {})
            kwargs = {"json": body} if "requestBody" in operation else {}
            # names that exist: GET /repositories/{namespace} looks the namespace up first
            concrete = re.sub(r"{\w+}", "admin", path)
            response = wrong.request(method.upper(), concrete, **kwargs)
            expect_error(response, 401, "NOT_AUTHENTICATED")
            refused.add((method, path))
    total = sum(len(item) for item in DOCUMENT["paths"].values())
    assert len(refused) == total - len(PUBLIC_PATHS)
    # the public operations answer whatever credentials come with the request
    assert ok(wrong.get("/openapi.json"))["openapi"] == "3.0.3"
    assert ok(wrong.get("/version"))["version"] == __version__


def test_create_user_then_get_and_log_in(world):
    name, password = unique("u"), "s3cret-password"
    body = {"name": name, "password": password, "role": "read-only"}
    created = ok(world.admin.post("/accounts", json=body), 201)
    assert created["name"] == name and created["type"] == "user"
    assert created["role"] == "read-only"
    assert (created["isAdmin"], created["isActive"], created["isLdap"]) == (False, True, False)
    assert ok(world.admin.get(f"/accounts/{name}")) == created
    user = Api(world.dtr.url, name, password)
    assert ok(user.get(f"/accounts/{name}")) == created
    default = ok(
        world.admin.post("/accounts", json={"name": unique("u"), "password": "long-enough-pw"}), 201
    )
    assert default["role"] == "none" and default["isAdmin"] is False


def test_create_admin_user(world):
    created = ok(
        world.admin.post(
            "/accounts", json={"name": unique("u"), "password": "long-enough-pw", "role": "admin"}
        ),
        201,
    )
    assert created["isAdmin"] is True and created["role"] == "admin"


def test_registry_tokens_are_refused_by_the_api(world):
    """A registry token carries registry scopes only: the API refuses it, saying what to use."""
    user = world.user()
    token = world.token(user).json()["token"]
    bearer = Api(world.dtr.url, token=token)
    error = expect_error(bearer.get(f"/accounts/{user.name}"), 401, "NOT_AUTHENTICATED")
    assert "registry tokens are for /v2 only" in error["message"]
    assert "access token with an api scope" in error["message"]


def test_create_organization_gets_owners_team_with_its_creator(world):
    name = unique("o")
    created = ok(world.admin.post("/accounts", json={"type": "organization", "name": name}), 201)
    assert created["type"] == "organization" and created["name"] == name
    assert "role" not in created and "isActive" not in created
    assert ok(world.admin.get(f"/accounts/{name}")) == created
    teams = ok(world.admin.get(f"/accounts/{name}/teams"))["teams"]
    assert names(teams) == ["owners"]
    assert teams[0]["organization"] == name and teams[0]["type"] == "managed"
    members = ok(world.admin.get(f"/accounts/{name}/teams/owners/members"))["members"]
    assert names(members) == ["admin"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"password": "long-enough-pw"}, "name"),
        ({"name": 5, "password": "long-enough-pw"}, "name"),
        ({"name": "x"}, "password"),
        ({"name": "x", "password": 5}, "password"),
        ({"name": "x", "password": ""}, "password"),
        ({"name": "x", "password": "long-enough-pw", "role": "superuser"}, "role"),
        ({"name": "x", "password": "long-enough-pw", "role": 1}, "role"),
        ({"name": "x", "password": "long-enough-pw", "type": "robot"}, "type"),
        ({"name": "x", "password": "long-enough-pw", "type": ["user"]}, "type"),
        ({"type": "organization"}, "name"),
    ],
)
def test_create_account_bad_fields(world, body, field):
    expect_error(world.admin.post("/accounts", json=body), 400, "INVALID_INPUT", field)


@pytest.mark.parametrize("kwargs", [NOT_JSON, TEXT_BODY, {"json": ["name"]}, {"json": "x"}, {}])
def test_create_account_needs_a_json_object(world, kwargs):
    expect_error(world.admin.post("/accounts", **kwargs), 400, "INVALID_INPUT", text="body")


@pytest.mark.parametrize("name", ["Upper", "-dash", "a b", "x" * 254, ""])
def test_create_account_invalid_name(world, name):
    expect_error(
        world.admin.post("/accounts", json={"name": name, "password": "long-enough-pw"}),
        400,
        "INVALID_NAME",
    )
    body = {"type": "organization", "name": name}
    expect_error(world.admin.post("/accounts", json=body), 400, "INVALID_NAME")


def test_create_account_duplicate_names(world):
    user = world.user()
    for body in (
        {"name": user.name, "password": "long-enough-pw"},
        {"name": user.name, "type": "organization"},
        {"name": "admin", "password": "long-enough-pw", "role": "admin"},
    ):
        expect_error(world.admin.post("/accounts", json=body), 409, "ALREADY_EXISTS")


def test_only_admins_create_accounts(world):
    for caller in (world.builtin("writer"), world.user("read-write")):
        user_body = {"name": unique("u"), "password": "long-enough-pw"}
        expect_error(caller.post("/accounts", json=user_body), 403, "NOT_AUTHORIZED")
        org_body = {"name": unique("o"), "type": "organization"}
        expect_error(caller.post("/accounts", json=org_body), 403, "NOT_AUTHORIZED")
    body = {"name": unique("u"), "password": "long-enough-pw", "role": "admin"}
    expect_error(world.anonymous.post("/accounts", json=body), 401, "NOT_AUTHENTICATED")
    expect_error(
        world.anonymous.post("/accounts", json={"name": unique("o"), "type": "organization"}),
        401,
        "NOT_AUTHENTICATED",
    )


def test_get_unknown_account(world):
    expect_error(
        world.builtin("nobody").get(f"/accounts/{unique('none')}"), 404, "NO_SUCH_RESOURCE"
    )


def test_patch_role_changes_what_the_user_sees(world):
    owner, user = world.user(), world.user()
    private = world.repo(owner.name, caller=owner)
    expect_error(user.get(f"/repositories/{private}"), 404, "NO_SUCH_RESOURCE")
    changed = ok(world.admin.patch(f"/accounts/{user.name}", json={"role": "read-only"}))
    assert changed["role"] == "read-only" and changed["name"] == user.name
    assert ok(world.admin.get(f"/accounts/{user.name}"))["role"] == "read-only"
    assert ok(user.get(f"/repositories/{private}"))["fullName"] == private
    promoted = ok(world.admin.patch(f"/accounts/{user.name}", json={"role": "admin"}))
    assert promoted["isAdmin"] is True
    assert ok(user.get("/admin/settings/auth"))["mode"] == "managed"
    ok(world.admin.patch(f"/accounts/{user.name}", json={"role": "none"}))
    expect_error(user.get(f"/repositories/{private}"), 404, "NO_SUCH_RESOURCE")
    expect_error(user.get("/admin/settings/auth"), 403, "NOT_AUTHORIZED")


def test_patch_role_errors(world):
    user = world.user()
    path = f"/accounts/{user.name}"
    expect_error(world.admin.patch(path, json={"role": "root"}), 400, "INVALID_INPUT", "role")
    expect_error(world.admin.patch(path, json={"role": None}), 400, "INVALID_INPUT", "role")
    expect_error(world.admin.patch(path, json={}), 400, "INVALID_INPUT", "role")
    body = {"role": "admin", "password": "x"}
    expect_error(world.admin.patch(path, json=body), 400, "INVALID_INPUT", "password")
    expect_error(world.admin.patch(path, **NOT_JSON), 400, "INVALID_INPUT", text="body")
    expect_error(world.builtin("writer").patch(path, json={"role": "admin"}), 403, "NOT_AUTHORIZED")
    expect_error(user.patch(path, json={"role": "admin"}), 403, "NOT_AUTHORIZED")
    expect_error(world.anonymous.patch(path, json={"role": "admin"}), 401, "NOT_AUTHENTICATED")
    missing = f"/accounts/{unique('none')}"
    expect_error(world.admin.patch(missing, json={"role": "admin"}), 404, "NO_SUCH_RESOURCE")
    org = f"/accounts/{world.org()}"
    expect_error(world.admin.patch(org, json={"role": "admin"}), 404, "NO_SUCH_RESOURCE")
    assert ok(world.admin.get(path))["role"] == "none"


def test_delete_user_is_idempotent(world):
    user = world.user()
    repo = world.repo(user.name, caller=user)
    assert world.admin.delete(f"/accounts/{user.name}").status_code == 204
    expect_error(world.admin.get(f"/accounts/{user.name}"), 404, "NO_SUCH_RESOURCE")
    expect_error(user.get(f"/accounts/{user.name}"), 401, "NOT_AUTHENTICATED")
    expect_error(world.admin.get(f"/repositories/{repo}"), 404, "NO_SUCH_RESOURCE")
    assert world.admin.delete(f"/accounts/{user.name}").status_code == 204


def test_delete_organization_takes_its_repositories(world):
    org = world.org()
    repo = world.repo(org)
    assert world.admin.delete(f"/accounts/{org}").status_code == 204
    expect_error(world.admin.get(f"/accounts/{org}"), 404, "NO_SUCH_RESOURCE")
    expect_error(world.admin.get(f"/repositories/{repo}"), 404, "NO_SUCH_RESOURCE")
    expect_error(world.admin.get(f"/accounts/{org}/teams"), 404, "NO_SUCH_RESOURCE")


def test_delete_account_errors(world):
    user = world.user()
    expect_error(world.admin.delete("/accounts/admin"), 400, "INVALID_INPUT", text="yourself")
    expect_error(world.builtin("writer").delete(f"/accounts/{user.name}"), 403, "NOT_AUTHORIZED")
    expect_error(user.delete(f"/accounts/{user.name}"), 403, "NOT_AUTHORIZED")
    expect_error(world.anonymous.delete(f"/accounts/{user.name}"), 401, "NOT_AUTHENTICATED")
    assert ok(world.admin.get(f"/accounts/{user.name}"))["isActive"] is True


def test_deactivate_and_activate(world):
    user = world.user()
    assert ok(user.get("/accounts"))["total"] > 0
    assert world.token(user).status_code == 200
    bearer = {"Authorization": f"Bearer {world.token(user).json()['token']}"}
    assert requests.get(f"{world.dtr.url}/v2/", headers=bearer).status_code == 200

    deactivated = ok(world.admin.put(f"/accounts/{user.name}/deactivate"))
    assert deactivated["isActive"] is False and deactivated["name"] == user.name
    expect_error(user.get("/accounts"), 401, "NOT_AUTHENTICATED")
    # the registry token issued before stops at once, not when it expires
    assert requests.get(f"{world.dtr.url}/v2/", headers=bearer).status_code == 401
    token = world.token(user)
    assert token.status_code == 401 and "token" not in token.json()
    assert ok(world.admin.get(f"/accounts/{user.name}"))["isActive"] is False

    activated = ok(world.admin.put(f"/accounts/{user.name}/activate"))
    assert activated["isActive"] is True
    assert ok(user.get("/accounts"))["total"] > 0
    assert world.token(user).status_code == 200


def test_activation_errors(world):
    user = world.user()
    for action in ("activate", "deactivate"):
        path = f"/accounts/{user.name}/{action}"
        expect_error(world.builtin("writer").put(path), 403, "NOT_AUTHORIZED")
        expect_error(user.put(path), 403, "NOT_AUTHORIZED")
        expect_error(world.anonymous.put(path), 401, "NOT_AUTHENTICATED")
        missing = f"/accounts/{unique('none')}/{action}"
        expect_error(world.admin.put(missing), 404, "NO_SUCH_RESOURCE")
        org = f"/accounts/{world.org()}/{action}"
        expect_error(world.admin.put(org), 404, "NO_SUCH_RESOURCE")
    expect_error(world.admin.put("/accounts/admin/deactivate"), 400, "INVALID_INPUT")
    assert ok(world.admin.put("/accounts/admin/activate"))["isActive"] is True
    assert ok(world.admin.get(f"/accounts/{user.name}"))["isActive"] is True


def test_change_own_password_needs_the_old_one(world):
    user = world.user()
    path = f"/accounts/{user.name}/changePassword"
    wrong = {"oldPassword": "not-it", "newPassword": "new-password-1"}
    expect_error(user.post(path, json=wrong), 400, "INVALID_INPUT", "oldPassword")
    expect_error(
        user.post(path, json={"newPassword": "x-long-password"}),
        400,
        "INVALID_INPUT",
        "oldPassword",
    )
    body = {"oldPassword": user.password, "newPassword": "new-password-1"}
    response = user.post(path, json=body)
    assert response.status_code == 204, response.text
    expect_error(user.get("/accounts"), 401, "NOT_AUTHENTICATED")
    assert ok(Api(world.dtr.url, user.name, "new-password-1").get("/accounts"))["total"] > 0


def test_admin_changes_a_password_without_the_old_one(world):
    user = world.user()
    response = world.admin.post(
        f"/accounts/{user.name}/changePassword", json={"newPassword": "by-admin-password"}
    )
    assert response.status_code == 204, response.text
    expect_error(user.get("/accounts"), 401, "NOT_AUTHENTICATED")
    assert ok(Api(world.dtr.url, user.name, "by-admin-password").get("/accounts"))["total"] > 0


def test_change_password_errors(world):
    user, other = world.user(), world.user()
    path = f"/accounts/{other.name}/changePassword"
    body = {"oldPassword": other.password, "newPassword": "hijack-password"}
    expect_error(user.post(path, json=body), 403, "NOT_AUTHORIZED")
    expect_error(world.builtin("writer").post(path, json=body), 403, "NOT_AUTHORIZED")
    expect_error(world.anonymous.post(path, json=body), 401, "NOT_AUTHENTICATED")
    expect_error(user.post(path, **NOT_JSON), 400, "INVALID_INPUT", text="body")
    own = f"/accounts/{user.name}/changePassword"
    expect_error(
        user.post(own, json={"oldPassword": user.password}), 400, "INVALID_INPUT", "newPassword"
    )
    bad_type = {"oldPassword": user.password, "newPassword": 5}
    expect_error(user.post(own, json=bad_type), 400, "INVALID_INPUT", "newPassword")
    old_type = {"oldPassword": 5, "newPassword": "x-long-password"}
    expect_error(user.post(own, json=old_type), 400, "INVALID_INPUT", "oldPassword")
    missing = f"/accounts/{unique('none')}/changePassword"
    expect_error(
        world.admin.post(missing, json={"newPassword": "x-long-password"}), 404, "NO_SUCH_RESOURCE"
    )
    org = f"/accounts/{world.org()}/changePassword"
    expect_error(
        world.admin.post(org, json={"newPassword": "x-long-password"}), 404, "NO_SUCH_RESOURCE"
    )
    assert ok(other.get("/accounts"))["total"] > 0  # nothing changed


def test_empty_new_password_names_the_field(world):
    user = world.user()
    body = {"oldPassword": user.password, "newPassword": ""}
    response = user.post(f"/accounts/{user.name}/changePassword", json=body)
    expect_error(response, 400, "INVALID_INPUT", "newPassword")


def test_organizations_of_a_user(world):
    user, other = world.user(), world.user()
    first, second = world.org(), world.org()
    world.team(first, members=[user])
    world.team(first, members=[user])
    world.add_member(second, "owners", user)
    world.org()  # not theirs
    found = ok(user.get(f"/accounts/{user.name}/organizations"))["organizations"]
    assert names(found) == sorted([first, second])
    assert all(o["type"] == "organization" for o in found)
    assert ok(world.admin.get(f"/accounts/{user.name}/organizations")) == {"organizations": found}
    assert ok(other.get(f"/accounts/{other.name}/organizations")) == {"organizations": []}
    path = f"/accounts/{user.name}/organizations"
    expect_error(other.get(path), 403, "NOT_AUTHORIZED")
    expect_error(world.anonymous.get(path), 401, "NOT_AUTHENTICATED")
    expect_error(
        world.admin.get(f"/accounts/{unique('none')}/organizations"), 404, "NO_SUCH_RESOURCE"
    )
    expect_error(world.admin.get(f"/accounts/{first}/organizations"), 404, "NO_SUCH_RESOURCE")


# --- teams and members -------------------------------------------------------------------------


def test_team_lifecycle(world):
    org = world.org()
    name = unique("team")
    body = {"name": name, "description": "the builders"}
    created = ok(world.admin.post(f"/accounts/{org}/teams", json=body), 201)
    assert created["name"] == name and created["organization"] == org
    assert (created["description"], created["type"], created["ldapGroupDN"]) == (
        "the builders",
        "managed",
        None,
    )
    path = f"/accounts/{org}/teams/{name}"
    assert ok(world.admin.get(path)) == created
    assert names(ok(world.admin.get(f"/accounts/{org}/teams"))["teams"]) == sorted(["owners", name])
    changed = ok(world.admin.patch(path, json={"description": "changed"}))
    assert changed["description"] == "changed" and changed["id"] == created["id"]
    assert ok(world.admin.get(path))["description"] == "changed"
    expect_error(world.admin.post(f"/accounts/{org}/teams", json=body), 409, "ALREADY_EXISTS")
    assert world.admin.delete(path).status_code == 204
    expect_error(world.admin.get(path), 404, "NO_SUCH_RESOURCE")
    assert world.admin.delete(path).status_code == 204
    assert names(ok(world.admin.get(f"/accounts/{org}/teams"))["teams"]) == ["owners"]


def test_ldap_team(world):
    org = world.org()
    body = {"name": unique("team"), "ldapGroupDN": "cn=devs,ou=groups,dc=example,dc=org"}
    created = ok(world.admin.post(f"/accounts/{org}/teams", json=body), 201)
    assert created["type"] == "ldap" and created["ldapGroupDN"] == body["ldapGroupDN"]
    path = f"/accounts/{org}/teams/{created['name']}"
    user = world.user()
    expect_error(world.admin.put(f"{path}/members/{user.name}"), 400, "INVALID_INPUT", text="LDAP")
    managed = ok(world.admin.patch(path, json={"ldapGroupDN": None}))
    assert managed["type"] == "managed" and managed["ldapGroupDN"] is None
    assert ok(world.admin.put(f"{path}/members/{user.name}"), 201)["member"] == user.name


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"json": {}}, "name"),
        ({"json": {"name": 5}}, "name"),
        ({"json": {"name": "x", "description": 5}}, "description"),
        ({"json": {"name": "x", "ldapGroupDN": 5}}, "ldapGroupDN"),
        (NOT_JSON, None),
        ({"json": []}, None),
    ],
)
def test_create_team_bad_bodies(world, kwargs, field):
    org = world.org()
    response = world.admin.post(f"/accounts/{org}/teams", **kwargs)
    expect_error(response, 400, "INVALID_INPUT", field, text=None if field else "body")


def test_create_team_invalid_name(world):
    org = world.org()
    expect_error(
        world.admin.post(f"/accounts/{org}/teams", json={"name": "Bad Name"}), 400, "INVALID_NAME"
    )


def test_update_team_bad_bodies(world):
    org = world.org()
    team = world.team(org)
    path = f"/accounts/{org}/teams/{team}"
    expect_error(
        world.admin.patch(path, json={"description": 5}), 400, "INVALID_INPUT", "description"
    )
    expect_error(world.admin.patch(path, **NOT_JSON), 400, "INVALID_INPUT", text="body")
    expect_error(
        world.admin.patch(f"/accounts/{org}/teams/{unique('team')}", json={}),
        404,
        "NO_SUCH_RESOURCE",
    )


@pytest.mark.parametrize("value", [5, {"cn": "x"}, ["cn=x"]])
def test_update_team_checks_the_ldap_group_type(world, value):
    org = world.org()
    team = world.team(org)
    response = world.admin.patch(f"/accounts/{org}/teams/{team}", json={"ldapGroupDN": value})
    expect_error(response, 400, "INVALID_INPUT", "ldapGroupDN")


def test_team_repository_access_hides_repositories_the_caller_may_not_see(world):
    member = world.user()
    org = world.org()
    world.team(org, members=[member])
    granted = world.team(org)
    private = world.repo(org, shortDescription="not for everyone")
    path = f"/repositories/{private}/teamAccess/{granted}"
    ok(world.admin.put(path, json={"accessLevel": "read-only"}))
    expect_error(member.get(f"/repositories/{private}"), 404, "NO_SUCH_RESOURCE")
    listed = ok(member.get(f"/accounts/{org}/teams/{granted}/repositoryAccess"))
    assert private not in [g["repository"]["fullName"] for g in listed["repositoryAccessList"]]


def test_owners_team_cannot_be_deleted(world):
    org = world.org()
    response = world.admin.delete(f"/accounts/{org}/teams/owners")
    expect_error(response, 400, "INVALID_INPUT", text="owners")
    assert names(ok(world.admin.get(f"/accounts/{org}/teams"))["teams"]) == ["owners"]


def test_teams_of_unknown_organizations(world):
    user = world.user()
    for org in (unique("none"), user.name):
        expect_error(world.admin.get(f"/accounts/{org}/teams"), 404, "NO_SUCH_RESOURCE")
        body = {"name": "x"}
        expect_error(world.admin.post(f"/accounts/{org}/teams", json=body), 404, "NO_SUCH_RESOURCE")
        expect_error(world.admin.get(f"/accounts/{org}/teams/owners"), 404, "NO_SUCH_RESOURCE")
        expect_error(world.admin.delete(f"/accounts/{org}/teams/x"), 404, "NO_SUCH_RESOURCE")
    org = world.org()
    for method in ("GET", "PATCH"):
        response = world.admin.request(method, f"/accounts/{org}/teams/{unique('t')}", json={})
        expect_error(response, 404, "NO_SUCH_RESOURCE")
    missing_team = f"/accounts/{org}/teams/{unique('team')}"
    expect_error(world.admin.get(f"{missing_team}/members"), 404, "NO_SUCH_RESOURCE")
    expect_error(world.admin.get(f"{missing_team}/repositoryAccess"), 404, "NO_SUCH_RESOURCE")
    expect_error(world.admin.put(f"{missing_team}/members/{user.name}"), 404, "NO_SUCH_RESOURCE")


def test_team_permissions_members_owners_outsiders(world):
    owner, member, outsider = world.user(), world.user(), world.user()
    org = world.org(owners=[owner])
    team = world.team(org, members=[member])
    path = f"/accounts/{org}/teams/{team}"

    for caller in (world.admin, owner, member):  # members of any team see teams and members
        assert set(names(ok(caller.get(f"/accounts/{org}/teams"))["teams"])) == {"owners", team}
        assert ok(caller.get(path))["name"] == team
        assert names(ok(caller.get(f"{path}/members"))["members"]) == [member.name]
        assert ok(caller.get(f"{path}/members/{member.name}"))["member"] == member.name
        assert ok(caller.get(f"{path}/repositoryAccess")) == {"repositoryAccessList": []}
    for caller in (outsider, world.builtin("writer"), world.builtin("reader")):
        for read in ("", "/members", f"/members/{member.name}", "/repositoryAccess"):
            expect_error(caller.get(path + read), 403, "NOT_AUTHORIZED")
        expect_error(caller.get(f"/accounts/{org}/teams"), 403, "NOT_AUTHORIZED")
    for read in ("", "/members", f"/members/{member.name}", "/repositoryAccess"):
        expect_error(world.anonymous.get(path + read), 401, "NOT_AUTHENTICATED")
    expect_error(world.anonymous.get(f"/accounts/{org}/teams"), 401, "NOT_AUTHENTICATED")

    for caller in (member, outsider, world.builtin("writer")):  # only owners and admins change
        expect_error(
            caller.post(f"/accounts/{org}/teams", json={"name": unique("t")}), 403, "NOT_AUTHORIZED"
        )
        expect_error(caller.patch(path, json={"description": "x"}), 403, "NOT_AUTHORIZED")
        expect_error(caller.put(f"{path}/members/{outsider.name}"), 403, "NOT_AUTHORIZED")
        expect_error(caller.delete(f"{path}/members/{member.name}"), 403, "NOT_AUTHORIZED")
        expect_error(caller.delete(path), 403, "NOT_AUTHORIZED")
    expect_error(
        world.anonymous.post(f"/accounts/{org}/teams", json={"name": unique("t")}),
        401,
        "NOT_AUTHENTICATED",
    )
    expect_error(world.anonymous.delete(path), 401, "NOT_AUTHENTICATED")

    created = world.team(org, caller=owner)  # an owner who is no admin
    ok(owner.patch(f"/accounts/{org}/teams/{created}", json={"description": "by owner"}))
    assert ok(owner.put(f"/accounts/{org}/teams/{created}/members/{outsider.name}"), 201)
    assert owner.delete(f"/accounts/{org}/teams/{created}").status_code == 204
    assert names(ok(member.get(f"{path}/members"))["members"]) == [member.name]


def test_team_members(world):
    org = world.org()
    team = world.team(org)
    user, other = world.user(), world.user()
    path = f"/accounts/{org}/teams/{team}/members"
    added = ok(world.admin.put(f"{path}/{user.name}"), 201)
    assert added == {"member": user.name, "team": team, "organization": org}
    assert ok(world.admin.put(f"{path}/{user.name}"), 200) == added
    members = ok(world.admin.get(path))["members"]
    assert names(members) == [user.name] and members[0]["type"] == "user"
    assert ok(world.admin.get(f"{path}/{user.name}")) == added
    expect_error(world.admin.get(f"{path}/{other.name}"), 404, "NO_SUCH_RESOURCE")
    expect_error(world.admin.get(f"{path}/{unique('none')}"), 404, "NO_SUCH_RESOURCE")
    assert world.admin.delete(f"{path}/{user.name}").status_code == 204
    assert world.admin.delete(f"{path}/{user.name}").status_code == 204
    expect_error(world.admin.get(f"{path}/{user.name}"), 404, "NO_SUCH_RESOURCE")
    assert ok(world.admin.get(path)) == {"members": []}
    expect_error(world.admin.put(f"{path}/{world.org()}"), 400, "INVALID_INPUT")
    expect_error(world.admin.put(f"{path}/{unique('none')}"), 404, "NO_SUCH_RESOURCE")
    expect_error(world.admin.delete(f"{path}/{unique('none')}"), 404, "NO_SUCH_RESOURCE")


# --- repositories ------------------------------------------------------------------------------


def test_create_repository_in_own_namespace(world):
    user = world.user()
    name = unique("r")
    created = ok(user.post(f"/repositories/{user.name}", json={"name": name}), 201)
    assert created["fullName"] == f"{user.name}/{name}"
    assert (created["namespace"], created["namespaceType"], created["name"]) == (
        user.name,
        "user",
        name,
    )
    assert created["visibility"] == "private"
    assert (created["shortDescription"], created["longDescription"]) == ("", "")
    assert ok(user.get(f"/repositories/{user.name}/{name}")) == created
    body = {
        "name": unique("r"),
        "visibility": "public",
        "shortDescription": "short",
        "longDescription": "long " * 100,
    }
    public = ok(user.post(f"/repositories/{user.name}", json=body), 201)
    assert public["visibility"] == "public" and public["shortDescription"] == "short"
    assert public["longDescription"] == body["longDescription"]
    duplicate = user.post(f"/repositories/{user.name}", json={"name": name})
    expect_error(duplicate, 409, "ALREADY_EXISTS")


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"json": {}}, "name"),
        ({"json": {"name": 5}}, "name"),
        ({"json": {"name": "x", "visibility": "secret"}}, "visibility"),
        ({"json": {"name": "x", "visibility": True}}, "visibility"),
        ({"json": {"name": "x", "shortDescription": "s" * 141}}, "shortDescription"),
        ({"json": {"name": "x", "shortDescription": 5}}, "shortDescription"),
        ({"json": {"name": "x", "longDescription": ["x"]}}, "longDescription"),
        (NOT_JSON, None),
        (TEXT_BODY, None),
    ],
)
def test_create_repository_bad_bodies(world, kwargs, field):
    response = world.admin.post("/repositories/admin", **kwargs)
    expect_error(response, 400, "INVALID_INPUT", field, text=None if field else "body")


@pytest.mark.parametrize("name", ["Upper", "a/b", "-x", "x..y", ""])
def test_create_repository_invalid_name(world, name):
    response = world.admin.post("/repositories/admin", json={"name": name})
    expect_error(response, 400, "INVALID_NAME")


def test_create_repository_permissions(world):
    user, other = world.user(), world.user("read-write")
    body = {"name": unique("r")}
    expect_error(user.post(f"/repositories/{other.name}", json=body), 403, "NOT_AUTHORIZED")
    expect_error(other.post(f"/repositories/{user.name}", json=body), 403, "NOT_AUTHORIZED")
    expect_error(user.post(f"/repositories/{world.org()}", json=body), 403, "NOT_AUTHORIZED")
    missing = f"/repositories/{unique('none')}"
    expect_error(user.post(missing, json=body), 404, "NO_SUCH_RESOURCE")
    assert ok(world.admin.post(f"/repositories/{user.name}", json=body), 201)  # admins may
    expect_error(user.get(f"/repositories/{other.name}/{body['name']}"), 404, "NO_SUCH_RESOURCE")


def test_anonymous_repository_changes_answer_401(world):
    user = world.user()
    public = world.repo(user.name, "public", caller=user)
    response = world.anonymous.post(f"/repositories/{user.name}", json={"name": unique("r")})
    expect_error(response, 401, "NOT_AUTHENTICATED")
    expect_error(
        world.anonymous.patch(f"/repositories/{public}", json={"visibility": "private"}),
        401,
        "NOT_AUTHENTICATED",
    )


def test_private_repository_is_invisible_to_who_may_not_see_it(world):
    owner, stranger, writer = world.user(), world.user(), world.user("read-write")
    repo = world.repo(owner.name, caller=owner)
    team_path = f"/repositories/{repo}/teamAccess/owners"
    user_path = f"/repositories/{repo}/userAccess/{stranger.name}"
    level = {"json": {"accessLevel": "admin"}}
    for caller in (stranger, world.anonymous):
        for response in (
            caller.get(f"/repositories/{repo}"),
            caller.patch(f"/repositories/{repo}", json={"visibility": "public"}),
            caller.delete(f"/repositories/{repo}"),
            caller.get(f"/repositories/{repo}/tags"),
            caller.get(f"/repositories/{repo}/teamAccess"),
            caller.get(f"/repositories/{repo}/userAccess"),
            caller.put(team_path, **level),
            caller.delete(team_path),
            caller.put(user_path, **level),
            caller.delete(user_path),
        ):
            expect_error(response, 404, "NO_SUCH_RESOURCE")
        assert repo not in names(
            all_repositories(caller, f"/repositories/{owner.name}"), "fullName"
        )
    # global read-only and read-write roles see it, but may not administer it
    for caller in (world.builtin("reader"), writer):
        assert ok(caller.get(f"/repositories/{repo}"))["fullName"] == repo
        assert ok(caller.get(f"/repositories/{repo}/tags")) == {"tags": []}
        assert ok(caller.get(f"/repositories/{repo}/userAccess")) == {"userAccessList": []}
        for response in (
            caller.patch(f"/repositories/{repo}", json={"visibility": "public"}),
            caller.delete(f"/repositories/{repo}"),
            caller.put(user_path, **level),
            caller.delete(user_path),
        ):
            expect_error(response, 403, "NOT_AUTHORIZED")
    assert ok(owner.get(f"/repositories/{repo}"))["visibility"] == "private"


def test_public_repository_is_visible_but_not_changeable(world):
    owner, stranger = world.user(), world.user()
    repo = world.repo(owner.name, "public", caller=owner)
    for caller in (stranger, world.anonymous):
        assert ok(caller.get(f"/repositories/{repo}"))["visibility"] == "public"
        assert ok(caller.get(f"/repositories/{repo}/tags")) == {"tags": []}
    expect_error(
        stranger.patch(f"/repositories/{repo}", json={"visibility": "private"}),
        403,
        "NOT_AUTHORIZED",
    )
    expect_error(stranger.delete(f"/repositories/{repo}"), 403, "NOT_AUTHORIZED")
    expect_error(
        stranger.put(
            f"/repositories/{repo}/userAccess/{stranger.name}", json={"accessLevel": "admin"}
        ),
        403,
        "NOT_AUTHORIZED",
    )
    assert ok(owner.get(f"/repositories/{repo}"))["visibility"] == "public"


def test_update_repository(world):
    owner, other = world.user(), world.user()
    repo = world.repo(owner.name, caller=owner)
    path = f"/repositories/{repo}"
    changed = ok(owner.patch(path, json={"visibility": "public", "shortDescription": "hello"}))
    assert (changed["visibility"], changed["shortDescription"]) == ("public", "hello")
    assert ok(other.get(path))["shortDescription"] == "hello"
    assert ok(owner.patch(path, json={"longDescription": "more"}))["longDescription"] == "more"
    assert ok(owner.patch(path, json={}))["visibility"] == "public"
    assert ok(world.admin.patch(path, json={"visibility": "private"}))["visibility"] == "private"
    expect_error(other.get(path), 404, "NO_SUCH_RESOURCE")


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"json": {"name": "renamed"}}, "name"),
        ({"json": {"visibility": "public", "fullName": "x/y"}}, "fullName"),
        ({"json": {"visibility": "hidden"}}, "visibility"),
        ({"json": {"visibility": None}}, "visibility"),
        ({"json": {"shortDescription": "s" * 141}}, "shortDescription"),
        ({"json": {"longDescription": 1}}, "longDescription"),
        (NOT_JSON, None),
    ],
)
def test_update_repository_bad_bodies(world, kwargs, field):
    owner = world.user()
    repo = world.repo(owner.name, caller=owner)
    response = owner.patch(f"/repositories/{repo}", **kwargs)
    expect_error(response, 400, "INVALID_INPUT", field, text=None if field else "body")
    unchanged = ok(owner.get(f"/repositories/{repo}"))
    assert (unchanged["visibility"], unchanged["shortDescription"]) == ("private", "")


def test_delete_repository_is_idempotent_for_its_owner(world):
    owner, other = world.user(), world.user()
    repo = world.repo(owner.name, caller=owner)
    assert owner.delete(f"/repositories/{repo}").status_code == 204
    expect_error(owner.get(f"/repositories/{repo}"), 404, "NO_SUCH_RESOURCE")
    assert owner.delete(f"/repositories/{repo}").status_code == 204
    expect_error(other.delete(f"/repositories/{repo}"), 404, "NO_SUCH_RESOURCE")
    assert world.admin.delete(f"/repositories/{repo}").status_code == 204
    expect_error(world.admin.delete(f"/repositories/{unique('none')}/x"), 404, "NO_SUCH_RESOURCE")


def test_invalid_repository_names_in_paths(world):
    expect_error(world.admin.get("/repositories/Admin/x"), 400, "INVALID_NAME")
    expect_error(world.admin.delete("/repositories/admin/X"), 400, "INVALID_NAME")
    for tail in ("/tags", "/teamAccess", "/userAccess"):
        expect_error(world.admin.get(f"/repositories/admin/X{tail}"), 400, "INVALID_NAME")


def test_list_namespace_repositories(world):
    owner, other = world.user(), world.user()
    private = world.repo(owner.name, caller=owner)
    public = world.repo(owner.name, "public", caller=owner)
    path = f"/repositories/{owner.name}"
    mine = ok(owner.get(path))
    assert names(mine["repositories"], "fullName") == sorted([private, public])
    assert (mine["total"], mine["start"], mine["limit"]) == (2, 0, 100)
    for caller in (other, world.anonymous):
        theirs = ok(caller.get(path))
        assert names(theirs["repositories"], "fullName") == [public]
        assert theirs["total"] == 1
    page = ok(owner.get(path, params={"start": 1, "limit": 1}))
    assert names(page["repositories"], "fullName") == [sorted([private, public])[1]]
    assert page["total"] == 2
    expect_error(owner.get(path, params={"limit": "x"}), 400, "INVALID_INPUT", "limit")
    expect_error(owner.get(f"/repositories/{unique('none')}"), 404, "NO_SUCH_RESOURCE")
    assert ok(owner.get(f"/repositories/{world.org()}")) == {
        "repositories": [],
        "start": 0,
        "limit": 100,
        "total": 0,
    }


def test_list_all_repositories_shows_only_what_the_caller_may_see(world):
    owner, fresh = world.user(), world.user()
    private = world.repo(owner.name, caller=owner)
    public = world.repo(owner.name, "public", caller=owner)
    own_private = world.repo(fresh.name, caller=fresh)
    seen = all_repositories(fresh)
    assert public in names(seen, "fullName") and own_private in names(seen, "fullName")
    assert private not in names(seen, "fullName")
    assert all(r["visibility"] == "public" or r["namespace"] == fresh.name for r in seen)
    anonymous = all_repositories(world.anonymous)
    assert public in names(anonymous, "fullName")
    assert all(r["visibility"] == "public" for r in anonymous)
    everything = names(all_repositories(world.builtin("reader")), "fullName")
    assert {private, public, own_private} <= set(everything)
    assert everything == sorted(everything, key=lambda n: tuple(n.split("/")))
    expect_error(fresh.get("/repositories", params={"start": "-1"}), 400, "INVALID_INPUT", "start")


def test_tags_pushed_through_the_registry(world, dtr):
    owner, other = world.user(), world.user()
    repo = world.repo(owner.name, caller=owner)
    registry = RegistryClient(dtr.url, owner.name, owner.password)
    first, second = simple_image(f"{repo}-1"), simple_image(f"{repo}-2")
    registry.push_image(repo, "v2", second)
    registry.push_image(repo, "v1", first)
    registry.push_image(repo, "latest", first)
    tags = ok(owner.get(f"/repositories/{repo}/tags"))["tags"]
    assert names(tags) == ["latest", "v1", "v2"]
    by_name = {tag["name"]: tag for tag in tags}
    assert by_name["v1"]["digest"] == by_name["latest"]["digest"] == first.digest
    assert by_name["v2"]["digest"] == second.digest
    assert by_name["v1"]["mediaType"] == first.media_type
    assert by_name["v1"]["manifestSize"] == len(first.manifest)
    assert by_name["v2"]["pushedBy"] == owner.name
    assert ok(world.builtin("reader").get(f"/repositories/{repo}/tags"))["tags"] == tags
    expect_error(other.get(f"/repositories/{repo}/tags"), 404, "NO_SUCH_RESOURCE")
    expect_error(
        owner.get(f"/repositories/{owner.name}/{unique('none')}/tags"), 404, "NO_SUCH_RESOURCE"
    )


# --- organizations, teams and grants -----------------------------------------------------------


def test_owners_create_repositories_and_teams_in_their_organization(world):
    owner, outsider = world.user(), world.user()
    org = world.org(owners=[owner])
    private = world.repo(org)  # by an admin
    assert ok(owner.get(f"/repositories/{private}"))["namespaceType"] == "organization"
    repo = world.repo(org, caller=owner)
    assert ok(owner.patch(f"/repositories/{repo}", json={"shortDescription": "x"}))
    team = world.team(org, caller=owner)
    grant = ok(
        owner.put(f"/repositories/{repo}/teamAccess/{team}", json={"accessLevel": "read-only"})
    )
    assert grant["team"]["name"] == team and grant["accessLevel"] == "read-only"
    assert names(all_repositories(owner, f"/repositories/{org}"), "fullName") == sorted(
        [private, repo]
    )
    expect_error(outsider.get(f"/repositories/{repo}"), 404, "NO_SUCH_RESOURCE")
    expect_error(
        outsider.post(f"/repositories/{org}", json={"name": unique("r")}), 403, "NOT_AUTHORIZED"
    )
    assert owner.delete(f"/repositories/{repo}").status_code == 204


def test_team_member_without_a_grant_sees_no_private_repository(world):
    member = world.user()
    org = world.org()
    team = world.team(org, members=[member])
    private = world.repo(org)
    public = world.repo(org, "public")
    expect_error(member.get(f"/repositories/{private}"), 404, "NO_SUCH_RESOURCE")
    assert names(ok(member.get(f"/repositories/{org}"))["repositories"], "fullName") == [public]
    expect_error(
        member.post(f"/repositories/{org}", json={"name": unique("r")}), 403, "NOT_AUTHORIZED"
    )

    grant_path = f"/repositories/{private}/teamAccess/{team}"
    grant = ok(world.admin.put(grant_path, json={"accessLevel": "read-only"}))
    assert grant == {
        "team": ok(world.admin.get(f"/accounts/{org}/teams/{team}")),
        "accessLevel": "read-only",
    }
    assert ok(member.get(f"/repositories/{private}"))["fullName"] == private
    expect_error(
        member.patch(f"/repositories/{private}", json={"shortDescription": "x"}),
        403,
        "NOT_AUTHORIZED",
    )
    listed = ok(member.get(f"/repositories/{private}/teamAccess"))["teamAccessList"]
    assert [(g["team"]["name"], g["accessLevel"]) for g in listed] == [(team, "read-only")]
    access = ok(member.get(f"/accounts/{org}/teams/{team}/repositoryAccess"))
    assert [
        (g["repository"]["fullName"], g["accessLevel"]) for g in access["repositoryAccessList"]
    ] == [(private, "read-only")]

    assert ok(world.admin.put(grant_path, json={"accessLevel": "admin"}))["accessLevel"] == "admin"
    assert ok(member.patch(f"/repositories/{private}", json={"shortDescription": "by member"}))
    assert world.admin.delete(grant_path).status_code == 204
    assert world.admin.delete(grant_path).status_code == 204
    expect_error(member.get(f"/repositories/{private}"), 404, "NO_SUCH_RESOURCE")
    assert ok(world.admin.get(f"/repositories/{private}/teamAccess")) == {"teamAccessList": []}


def test_namespace_grant_gives_access_to_every_repository_of_the_organization(world):
    member, outsider = world.user(), world.user()
    org = world.org()
    team = world.team(org, members=[member])
    first, second = world.repo(org), world.repo(org)
    path = f"/repositoryNamespaces/{org}/teamAccess/{team}"
    grant = ok(world.admin.put(path, json={"accessLevel": "read-write"}))
    assert grant["team"]["name"] == team and grant["accessLevel"] == "read-write"
    later = world.repo(org)  # grants cover repositories created afterwards too
    assert names(all_repositories(member, f"/repositories/{org}"), "fullName") == sorted(
        [first, second, later]
    )
    for repo in (first, second, later):
        assert ok(member.get(f"/repositories/{repo}"))["fullName"] == repo
        expect_error(
            member.patch(f"/repositories/{repo}", json={"visibility": "public"}),
            403,
            "NOT_AUTHORIZED",
        )
        expect_error(outsider.get(f"/repositories/{repo}"), 404, "NO_SUCH_RESOURCE")
    expect_error(
        member.post(f"/repositories/{org}", json={"name": unique("r")}), 403, "NOT_AUTHORIZED"
    )
    listed = ok(member.get(f"/repositoryNamespaces/{org}/teamAccess"))["teamAccessList"]
    assert [(g["team"]["name"], g["accessLevel"]) for g in listed] == [(team, "read-write")]

    ok(world.admin.put(path, json={"accessLevel": "admin"}))  # admin level: may create
    created = world.repo(org, caller=member)
    assert ok(member.patch(f"/repositories/{first}", json={"visibility": "public"}))
    assert member.delete(f"/repositories/{created}").status_code == 204

    assert world.admin.delete(path).status_code == 204
    assert world.admin.delete(path).status_code == 204
    expect_error(member.get(f"/repositories/{second}"), 404, "NO_SUCH_RESOURCE")
    assert ok(member.get(f"/repositories/{first}"))["visibility"] == "public"
    assert ok(world.admin.get(f"/repositoryNamespaces/{org}/teamAccess")) == {"teamAccessList": []}


def test_namespace_grant_errors(world):
    owner, member, outsider = world.user(), world.user(), world.user()
    org = world.org(owners=[owner])
    team = world.team(org, members=[member])
    path = f"/repositoryNamespaces/{org}/teamAccess/{team}"
    level = {"accessLevel": "read-only"}
    assert ok(owner.put(path, json=level))["accessLevel"] == "read-only"
    assert ok(member.get(f"/repositoryNamespaces/{org}/teamAccess"))["teamAccessList"]
    expect_error(member.put(path, json=level), 403, "NOT_AUTHORIZED")
    expect_error(member.delete(path), 403, "NOT_AUTHORIZED")
    expect_error(outsider.get(f"/repositoryNamespaces/{org}/teamAccess"), 403, "NOT_AUTHORIZED")
    expect_error(outsider.put(path, json=level), 403, "NOT_AUTHORIZED")
    expect_error(
        world.anonymous.get(f"/repositoryNamespaces/{org}/teamAccess"), 401, "NOT_AUTHENTICATED"
    )
    expect_error(world.anonymous.put(path, json=level), 401, "NOT_AUTHENTICATED")
    for bad in ({"accessLevel": "owner"}, {"accessLevel": None}, {}):
        expect_error(owner.put(path, json=bad), 400, "INVALID_INPUT", "accessLevel")
    expect_error(owner.put(path, **NOT_JSON), 400, "INVALID_INPUT", text="body")
    for missing in (
        f"/repositoryNamespaces/{unique('none')}/teamAccess/{team}",
        f"/repositoryNamespaces/{owner.name}/teamAccess/{team}",
        f"/repositoryNamespaces/{org}/teamAccess/{unique('team')}",
    ):
        expect_error(world.admin.put(missing, json=level), 404, "NO_SUCH_RESOURCE")
        expect_error(world.admin.delete(missing), 404, "NO_SUCH_RESOURCE")
    expect_error(
        world.admin.get(f"/repositoryNamespaces/{unique('none')}/teamAccess"),
        404,
        "NO_SUCH_RESOURCE",
    )
    assert owner.delete(path).status_code == 204


def test_repository_team_grant_errors(world):
    owner, member = world.user(), world.user()
    org, other_org = world.org(owners=[owner]), world.org()
    team = world.team(org, members=[member])
    other_team = world.team(other_org)
    repo = world.repo(org)
    level = {"accessLevel": "read-write"}
    path = f"/repositories/{repo}/teamAccess"
    for bad in ({"accessLevel": "write"}, {"accessLevel": 3}, {"level": "admin"}):
        expect_error(owner.put(f"{path}/{team}", json=bad), 400, "INVALID_INPUT", "accessLevel")
    expect_error(owner.put(f"{path}/{team}", **NOT_JSON), 400, "INVALID_INPUT", text="body")
    expect_error(owner.put(f"{path}/{other_team}", json=level), 404, "NO_SUCH_RESOURCE")
    expect_error(owner.put(f"{path}/{unique('team')}", json=level), 404, "NO_SUCH_RESOURCE")
    expect_error(owner.delete(f"{path}/{unique('team')}"), 404, "NO_SUCH_RESOURCE")
    ok(owner.put(f"{path}/{team}", json=level))
    expect_error(member.put(f"{path}/{team}", json={"accessLevel": "admin"}), 403, "NOT_AUTHORIZED")
    expect_error(member.delete(f"{path}/{team}"), 403, "NOT_AUTHORIZED")
    user_repo = world.repo(owner.name, caller=owner)
    expect_error(
        owner.put(f"/repositories/{user_repo}/teamAccess/{team}", json=level),
        400,
        "INVALID_INPUT",
        text="organizations",
    )
    expect_error(owner.delete(f"/repositories/{user_repo}/teamAccess/{team}"), 400, "INVALID_INPUT")
    assert ok(owner.get(f"/repositories/{user_repo}/teamAccess")) == {"teamAccessList": []}
    assert ok(owner.get(f"{path}"))["teamAccessList"][0]["accessLevel"] == "read-write"


def test_user_grant_on_a_user_namespace_repository(world):
    owner, friend, stranger = world.user(), world.user(), world.user()
    repo = world.repo(owner.name, caller=owner)
    path = f"/repositories/{repo}/userAccess/{friend.name}"
    expect_error(friend.get(f"/repositories/{repo}"), 404, "NO_SUCH_RESOURCE")
    grant = ok(owner.put(path, json={"accessLevel": "read-only"}))
    assert grant["user"]["name"] == friend.name and grant["accessLevel"] == "read-only"
    assert ok(friend.get(f"/repositories/{repo}"))["fullName"] == repo
    assert repo in names(all_repositories(friend), "fullName")
    expect_error(
        friend.patch(f"/repositories/{repo}", json={"shortDescription": "x"}),
        403,
        "NOT_AUTHORIZED",
    )
    expect_error(friend.put(path, json={"accessLevel": "admin"}), 403, "NOT_AUTHORIZED")
    listed = ok(friend.get(f"/repositories/{repo}/userAccess"))["userAccessList"]
    assert [(g["user"]["name"], g["accessLevel"]) for g in listed] == [(friend.name, "read-only")]
    expect_error(stranger.get(f"/repositories/{repo}"), 404, "NO_SUCH_RESOURCE")

    assert ok(owner.put(path, json={"accessLevel": "admin"}))["accessLevel"] == "admin"
    assert ok(friend.patch(f"/repositories/{repo}", json={"shortDescription": "by friend"}))
    assert owner.delete(path).status_code == 204
    assert owner.delete(path).status_code == 204
    expect_error(friend.get(f"/repositories/{repo}"), 404, "NO_SUCH_RESOURCE")
    assert ok(owner.get(f"/repositories/{repo}/userAccess")) == {"userAccessList": []}


def test_user_grant_errors(world):
    owner, friend = world.user(), world.user()
    repo = world.repo(owner.name, caller=owner)
    path = f"/repositories/{repo}/userAccess"
    for bad in ({"accessLevel": "none"}, {"accessLevel": ["admin"]}, {}):
        expect_error(
            owner.put(f"{path}/{friend.name}", json=bad), 400, "INVALID_INPUT", "accessLevel"
        )
    expect_error(owner.put(f"{path}/{friend.name}", **NOT_JSON), 400, "INVALID_INPUT", text="body")
    level = {"accessLevel": "read-only"}
    org = world.org()
    for missing in (unique("none"), org):
        expect_error(owner.put(f"{path}/{missing}", json=level), 404, "NO_SUCH_RESOURCE")
        expect_error(owner.delete(f"{path}/{missing}"), 404, "NO_SUCH_RESOURCE")
    org_repo = world.repo(org)
    expect_error(
        world.admin.put(f"/repositories/{org_repo}/userAccess/{friend.name}", json=level),
        400,
        "INVALID_INPUT",
        text="user namespaces",
    )
    expect_error(
        world.admin.delete(f"/repositories/{org_repo}/userAccess/{friend.name}"),
        400,
        "INVALID_INPUT",
    )
    assert ok(world.admin.get(f"/repositories/{org_repo}/userAccess")) == {"userAccessList": []}


# --- search ------------------------------------------------------------------------------------


def test_search_shows_only_what_the_caller_may_see(world):
    owner, other = world.user(), world.user()
    word = unique("findme")
    private = world.repo(owner.name, caller=owner, shortDescription=f"about {word}")
    public = world.repo(owner.name, "public", caller=owner, longDescription=f"{word.upper()}!")
    named = f"{owner.name}/{word}"
    ok(owner.post(f"/repositories/{owner.name}", json={"name": word}), 201)
    found = ok(owner.get("/index/search", params={"q": word}))
    assert sorted(names(found["repositoryResults"], "fullName")) == sorted([private, public, named])
    assert found["numRepositoryResults"] == 3 and found["accountResults"] == []
    theirs = ok(other.get("/index/search", params={"q": word}))
    assert names(theirs["repositoryResults"], "fullName") == [public]
    assert theirs["numRepositoryResults"] == 1
    anonymous = ok(world.anonymous.get("/index/search", params={"q": word}))
    assert names(anonymous["repositoryResults"], "fullName") == [public]
    page = ok(owner.get("/index/search", params={"q": word, "limit": 1}))
    assert len(page["repositoryResults"]) == 1 and page["numRepositoryResults"] == 3
    expect_error(
        owner.get("/index/search", params={"limit": "many"}), 400, "INVALID_INPUT", "limit"
    )


def test_search_text_is_literal(world):
    user = world.user()
    near = user.name[:2] + "_" + user.name[3:]  # the same name with one letter as "_"
    caller = world.builtin("nobody")
    assert names(ok(caller.get("/index/search", params={"q": near}))["accountResults"]) == []
    assert ok(caller.get("/index/autocomplete", params={"q": near})) == {"results": []}


def test_search_finds_accounts_for_logged_in_callers(world):
    user = world.user()
    found = ok(world.builtin("nobody").get("/index/search", params={"q": user.name}))
    assert names(found["accountResults"]) == [user.name]
    assert ok(world.anonymous.get("/index/search", params={"q": user.name}))["accountResults"] == []
    assert ok(world.builtin("nobody").get("/index/search"))["accountResults"] == []


def test_autocomplete(world):
    owner, other = world.user(), world.user()
    private = world.repo(owner.name, caller=owner)
    public = world.repo(owner.name, "public", caller=owner)
    mine = ok(owner.get("/index/autocomplete", params={"q": owner.name}))["results"]
    assert mine == sorted([private, public]) + [owner.name]
    theirs = ok(other.get("/index/autocomplete", params={"q": owner.name}))["results"]
    assert theirs == [public, owner.name]
    anonymous = ok(world.anonymous.get("/index/autocomplete", params={"q": owner.name}))
    assert anonymous == {"results": [public]}
    assert ok(owner.get("/index/autocomplete", params={"q": unique("nothing")})) == {"results": []}


# --- admin: auth settings, LDAP, audit ---------------------------------------------------------

UNREACHABLE_LDAP = {
    "server_url": "ldap://127.0.0.1:1",
    "bind_dn": "cn=dtr,dc=example,dc=org",
    "bind_password": "secret",
    "user_base_dn": "ou=people,dc=example,dc=org",
    "timeout_seconds": 2,
}


def test_auth_settings_for_admins_only(world):
    settings = ok(world.admin.get("/admin/settings/auth"))
    assert settings["mode"] == "managed"
    assert ok(world.admin.put("/admin/settings/auth", json={"mode": "managed"})) == settings
    assert ok(world.admin.put("/admin/settings/auth", json={})) == settings
    for caller in (world.builtin("writer"), world.builtin("reader"), world.user()):
        expect_error(caller.get("/admin/settings/auth"), 403, "NOT_AUTHORIZED")
        expect_error(
            caller.put("/admin/settings/auth", json={"mode": "managed"}), 403, "NOT_AUTHORIZED"
        )
    expect_error(world.anonymous.get("/admin/settings/auth"), 401, "NOT_AUTHENTICATED")
    response = world.anonymous.put("/admin/settings/auth", json={"mode": "managed"})
    expect_error(response, 401, "NOT_AUTHENTICATED")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"mode": "none"}, "mode"),
        ({"mode": "kerberos"}, "mode"),
        ({"mode": "ldap", "ldap": "ldap://x"}, "ldap"),
        ({"ldap": {**UNREACHABLE_LDAP, "server_url": "http://x"}}, "server_url"),
        ({"ldap": {**UNREACHABLE_LDAP, "colour": "blue"}}, "colour"),
        ({"ldap": {k: v for k, v in UNREACHABLE_LDAP.items() if k != "bind_dn"}}, "bind_dn"),
    ],
)
def test_put_auth_settings_bad_bodies(world, body, field):
    response = world.admin.put("/admin/settings/auth", json=body)
    error = expect_error(response, 400, "INVALID_INPUT")
    assert error["message"].startswith(f"{field}:"), error
    assert ok(world.admin.get("/admin/settings/auth"))["mode"] == "managed"


def test_put_auth_settings_not_json(world):
    response = world.admin.put("/admin/settings/auth", **NOT_JSON)
    expect_error(response, 400, "INVALID_INPUT", text="body")


def test_ldap_settings_that_do_not_bind_are_not_saved(world):
    before = ok(world.admin.get("/admin/settings/auth"))
    response = world.admin.put(
        "/admin/settings/auth", json={"mode": "ldap", "ldap": UNREACHABLE_LDAP}
    )
    expect_error(response, 400, "INVALID_INPUT")
    assert ok(world.admin.get("/admin/settings/auth")) == before
    assert ok(world.builtin("writer").get("/accounts"))["total"] > 0


def test_ldap_try_login(world):
    body = {"username": "someone", "password": "pw", "ldap": UNREACHABLE_LDAP}
    result = ok(world.admin.post("/admin/settings/auth/ldap/tryLogin", json=body))
    assert result["ok"] is False and result["user"] is None
    assert "unavailable" in result["message"]
    for bad in (
        {"ldap": UNREACHABLE_LDAP},
        {"username": "x", "password": 5, "ldap": UNREACHABLE_LDAP},
    ):
        response = world.admin.post("/admin/settings/auth/ldap/tryLogin", json=bad)
        expect_error(response, 400, "INVALID_INPUT", text="username")
    bad_settings = {**body, "ldap": {**UNREACHABLE_LDAP, "timeout_seconds": 0}}
    response = world.admin.post("/admin/settings/auth/ldap/tryLogin", json=bad_settings)
    expect_error(response, 400, "INVALID_INPUT", text="timeout_seconds")
    response = world.admin.post("/admin/settings/auth/ldap/tryLogin", **NOT_JSON)
    expect_error(response, 400, "INVALID_INPUT", text="body")
    for caller, status in ((world.builtin("writer"), 403), (world.anonymous, 401)):
        response = caller.post("/admin/settings/auth/ldap/tryLogin", json=body)
        assert response.status_code == status


def test_ldap_sync_without_ldap_settings(world):
    if ok(world.admin.get("/admin/settings/auth"))["ldap"] is not None:
        pytest.skip("this server has LDAP settings")
    result = ok(world.admin.post("/admin/settings/auth/ldap/sync"))
    assert result == {"created": 0, "deactivated": 0, "teams": 0}
    body = {"username": "someone", "password": "pw"}
    response = world.admin.post("/admin/settings/auth/ldap/tryLogin", json=body)
    expect_error(response, 400, "INVALID_INPUT", "ldap")
    expect_error(
        world.builtin("writer").post("/admin/settings/auth/ldap/sync"), 403, "NOT_AUTHORIZED"
    )
    expect_error(world.anonymous.post("/admin/settings/auth/ldap/sync"), 401, "NOT_AUTHENTICATED")


def test_audit_log_lists_changes_for_admins_only(world):
    user = world.user()
    org = world.org()
    repo = world.repo(user.name, caller=user)
    events = ok(world.admin.get("/admin/audit", params={"limit": 50}))
    assert (events["start"], events["limit"], events["total"]) == (0, 50, None)
    ids = [event["id"] for event in events["events"]]
    assert ids == sorted(ids, reverse=True)
    mine = {(e["actor"], e["action"], e["target"]) for e in events["events"]}
    assert ("admin", "account.create", user.name) in mine
    assert ("admin", "organization.create", org) in mine
    assert (user.name, "repository.create", repo) in mine
    created = next(e for e in events["events"] if e["target"] == user.name)
    assert created["detail"] == {"role": "none"} and created["address"] == "127.0.0.1"
    assert created["at"].endswith("Z")
    page = ok(world.admin.get("/admin/audit", params={"start": 1, "limit": 1}))
    assert [e["id"] for e in page["events"]] == [ids[1]]
    expect_error(
        world.admin.get("/admin/audit", params={"start": "x"}), 400, "INVALID_INPUT", "start"
    )
    for caller in (world.builtin("writer"), world.builtin("reader"), user):
        expect_error(caller.get("/admin/audit"), 403, "NOT_AUTHORIZED")
    expect_error(world.anonymous.get("/admin/audit"), 401, "NOT_AUTHENTICATED")


def test_refused_and_failed_changes_leave_no_audit_event(world):
    user = world.user()
    world.admin.patch(f"/accounts/{user.name}", json={"role": "root"})
    user.patch(f"/accounts/{user.name}", json={"role": "admin"})
    events = ok(world.admin.get("/admin/audit", params={"limit": 20}))["events"]
    assert not [e for e in events if e["target"] == user.name and e["action"] == "account.role"]


# --- a fresh server: nothing but creating the first admin --------------------------------------


@pytest.fixture
def fresh(tmp_path):
    server = DTRProcess(tmp_path / "instance")
    server.start()
    yield server
    server.stop()


def test_fresh_server_answers_not_set_up_until_the_first_admin(fresh):
    anonymous = Api(fresh.url)
    someone = Api(fresh.url, "admin", "admin-password-1")
    answers = {}
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if (method, path) == ("post", "/accounts") or path in PUBLIC_PATHS:
                continue
            concrete = re.sub(r"{\w+}", "x", path)
            body = VALID_BODIES.get(operation["operationId"], {})
            kwargs = {"json": body} if "requestBody" in operation else {}
            for caller in (anonymous, someone):
                response = caller.request(method.upper(), concrete, **kwargs)
                code = response.json()["errors"][0]["code"] if response.status_code >= 400 else ""
                answers[(method, path, caller.name)] = (response.status_code, code)
    total = sum(len(item) for item in DOCUMENT["paths"].values())
    assert len(answers) == 2 * (total - 1 - len(PUBLIC_PATHS))
    assert {k: v for k, v in answers.items() if v != (409, "NOT_SET_UP")} == {}
    assert ok(anonymous.get("/openapi.json")) == DOCUMENT
    assert ok(anonymous.get("/version"))["version"] == __version__  # before set-up too

    for body in (
        {"name": "first", "password": "long-enough-pw", "role": "read-write"},
        {"name": "first", "password": "long-enough-pw"},
        {"name": "first", "type": "organization"},
    ):
        expect_error(anonymous.post("/accounts", json=body), 409, "NOT_SET_UP")
    expect_error(
        anonymous.post("/accounts", json={"name": "first"}), 400, "INVALID_INPUT", "password"
    )

    body = {"name": "root", "password": "root-password-1", "role": "admin"}
    created = ok(anonymous.post("/accounts", json=body), 201)
    assert created["name"] == "root" and created["isAdmin"] is True
    root = Api(fresh.url, "root", "root-password-1")
    assert ok(root.get("/admin/settings/auth")) == {
        "mode": "managed",
        "ldap": None,
        "oidc": None,
        "passwordMinLength": 12,
        "tokenMaxLifetimeDays": 365,
    }
    expect_error(
        anonymous.post("/accounts", json={**body, "name": "second"}), 401, "NOT_AUTHENTICATED"
    )
    assert names(ok(root.get("/accounts"))["accounts"]) == ["root"]
    assert ok(anonymous.get("/repositories"))["total"] == 0


def test_fresh_server_namespace_listing_is_not_set_up(fresh):
    expect_error(Api(fresh.url).get("/repositories/x"), 409, "NOT_SET_UP")


def test_import_users_from_csv(world):
    first, second = unique("csv"), unique("csv")
    text = f"username,password,role\n{first},password-one,read-write\n{second},password-two\n"
    created = ok(world.admin.post("/accounts/import", json={"csv": text}), 201)["accounts"]
    assert [(a["name"], a["role"]) for a in created] == [(first, "read-write"), (second, "none")]
    assert (
        ok(Api(world.dtr.url, first, "password-one").get(f"/accounts/{first}"))["role"]
        == "read-write"
    )


def test_csv_import_is_all_or_nothing(world):
    good, taken = unique("csv"), unique("csv")
    ok(world.admin.post("/accounts/import", json={"csv": f"{taken},long-password"}), 201)
    cases = {
        f"{good},long-password\nBad Name,long-password": (400, "line 2"),
        f"{good},long-password,king": (400, "line 1"),
        f"{good},": (400, "line 1"),
        f"{good},long-password\n{good},long-password": (400, "twice"),
        f"{good},long-password\n{taken},long-password": (409, "taken"),
        f"{good},long-password\n{unique('csv')},short": (400, "line 2: password: too short"),
        "only-one-field": (400, "line 1"),
        "": (400, "csv"),
    }
    for text, (status, words) in cases.items():
        response = world.admin.post("/accounts/import", json={"csv": text})
        assert response.status_code == status, (text, response.text)
        assert words in response.json()["errors"][0]["message"], text
    assert world.admin.get(f"/accounts/{good}").status_code == 404  # nothing was created
    user = world.user()
    assert user.post("/accounts/import", json={"csv": f"{good},long-password"}).status_code == 403
    assert world.admin.post("/accounts/import", json={"csv": 5}).status_code == 400
