"""Personal access tokens and robot accounts against a running DTR: the API that manages them
(every answer checked against the OpenAPI document, as in test_api.py), and what each
credential may do on the registry and the API: never more than its owner, its scopes or its
grants allow; revoked, disabled or regenerated credentials stop at once."""

import json
import time

import jwt
import pytest
import requests

from tests.integration.test_api import Api, World, expect_error, ok, unique
from tests.support.client import RegistryClient
from tests.support.images import sha256, simple_image

ALL_SCOPES = ["registry:pull", "registry:push", "api:read", "api:write"]


@pytest.fixture
def world(dtr):
    return World(dtr)


def new_token(api, scopes=ALL_SCOPES, **fields):
    body = {"name": unique("token"), "scopes": scopes, **fields}
    return ok(api.post(f"/accounts/{api.name}/tokens", json=body), 201)


def token_for(dtr, user, secret, scope=None, method="GET"):
    """A registry token asked for with `user`:`secret` (GET with Basic, or docker login's
    OAuth form)."""
    if method == "GET":
        params = {"service": "x", **({"scope": scope} if scope else {})}
        return requests.get(f"{dtr.url}/auth/token", params=params, auth=(user, secret))
    form = {"grant_type": "password", "username": user, "password": secret, "service": "x"}
    if scope:
        form["scope"] = scope
    return requests.post(f"{dtr.url}/auth/token", data=form)


def granted(response):
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    return {entry["name"]: sorted(entry["actions"]) for entry in claims["access"]}


def push(dtr, user, secret, repo, tag="1"):
    """Push a small image with `user`:`secret` (the token dance of docker); the response of
    the manifest PUT."""
    client = RegistryClient(dtr.url, user, secret)
    image = simple_image(unique("m"))
    for blob in image.blobs:
        response = client.request(
            "POST",
            f"/v2/{repo}/blobs/uploads/",
            params={"digest": sha256(blob)},
            data=blob,
            headers={"Content-Type": "application/octet-stream"},
        )
        if response.status_code != 201:
            return response
    return client.push_manifest(repo, tag, image.manifest, image.media_type)


def pull_status(dtr, user, secret, repo, tag="1"):
    client = RegistryClient(dtr.url, user, secret)
    return client.get_manifest(repo, tag).status_code


# --- personal access tokens: the API -------------------------------------------------------


def test_create_list_and_revoke_a_token(world):
    user = world.user()
    created = new_token(user, ["registry:pull", "api:read"], expiresInDays=30)
    assert created["token"].startswith("dtr_pat_") and len(created["token"]) > 40
    assert created["scopes"] == ["registry:pull", "api:read"]
    assert created["lastUsedAt"] is None and created["lastUsedFrom"] is None
    days = (
        time.mktime(time.strptime(created["expiresAt"][:19], "%Y-%m-%dT%H:%M:%S"))
        - time.mktime(time.strptime(created["createdAt"][:19], "%Y-%m-%dT%H:%M:%S"))
    ) / 86400
    assert round(days) == 30
    listed = ok(user.get(f"/accounts/{user.name}/tokens"))["tokens"]
    assert [t["id"] for t in listed] == [created["id"]]
    assert "token" not in listed[0]  # the secret is shown once
    assert created["token"] not in user.get(f"/accounts/{user.name}/tokens").text
    default = new_token(user)
    default_days = (
        time.mktime(time.strptime(default["expiresAt"][:19], "%Y-%m-%dT%H:%M:%S")) - time.time()
    ) / 86400
    assert 89 < default_days <= 90
    assert user.delete(f"/accounts/{user.name}/tokens/{created['id']}").status_code == 204
    remaining = ok(user.get(f"/accounts/{user.name}/tokens"))["tokens"]
    assert [t["id"] for t in remaining] == [default["id"]]
    expect_error(
        user.delete(f"/accounts/{user.name}/tokens/{created['id']}"), 404, "NO_SUCH_RESOURCE"
    )


@pytest.mark.parametrize(
    "body, field",
    [
        ({"scopes": ["api:read"]}, "name"),
        ({"name": "", "scopes": ["api:read"]}, "name"),
        ({"name": 5, "scopes": ["api:read"]}, "name"),
        ({"name": "x" * 101, "scopes": ["api:read"]}, "name"),
        ({"name": "bad\u0000name", "scopes": ["api:read"]}, "name"),
        ({"name": "\ud800", "scopes": ["api:read"]}, "name"),
        ({"name": "n"}, "scopes"),
        ({"name": "n", "scopes": []}, "scopes"),
        ({"name": "n", "scopes": "api:read"}, "scopes"),
        ({"name": "n", "scopes": ["registry:*"]}, "scopes"),
        ({"name": "n", "scopes": [{"a": 1}]}, "scopes"),
        ({"name": "n", "scopes": ["api:read"], "expiresInDays": 0}, "expiresInDays"),
        ({"name": "n", "scopes": ["api:read"], "expiresInDays": 366}, "expiresInDays"),
        ({"name": "n", "scopes": ["api:read"], "expiresInDays": "7"}, "expiresInDays"),
        ({"name": "n", "scopes": ["api:read"], "expiresInDays": True}, "expiresInDays"),
        ({"name": "n", "scopes": ["api:read"], "expiresInDays": 1e300}, "expiresInDays"),
    ],
)
def test_bad_token_bodies_name_the_field(world, body, field):
    user = world.user()
    expect_error(user.post(f"/accounts/{user.name}/tokens", json=body), 400, "INVALID_INPUT", field)
    assert ok(user.get(f"/accounts/{user.name}/tokens"))["tokens"] == []  # nothing made


def test_hostile_token_bodies(world):
    user = world.user()
    path = f"/accounts/{user.name}/tokens"
    deep = "[" * 100_000 + "]" * 100_000
    for data in ('"just a string"', "[]", "not json", deep, '{"name": "x", "scopes": ' + deep):
        response = user.post(path, data=data, headers={"Content-Type": "application/json"})
        expect_error(response, 400, "INVALID_INPUT")
    huge = {"name": "n", "scopes": ["api:read"] * 100_000}
    assert ok(user.post(path, json=huge), 201)["scopes"] == ["api:read"]  # duplicates fold
    assert len(ok(user.get(path))["tokens"]) == 1


def test_duplicate_names_and_the_maximum_lifetime_setting(world):
    user = world.user()
    first = new_token(user, name="ci")
    expect_error(
        user.post(f"/accounts/{user.name}/tokens", json={"name": "ci", "scopes": ["api:read"]}),
        409,
        "ALREADY_EXISTS",
    )
    settings = ok(world.admin.get("/admin/settings/auth"))
    assert settings["tokenMaxLifetimeDays"] == 365 and settings["passwordMinLength"] == 12
    try:
        ok(world.admin.put("/admin/settings/auth", json={"tokenMaxLifetimeDays": 10}))
        error = expect_error(
            user.post(
                f"/accounts/{user.name}/tokens",
                json={"name": "long", "scopes": ["api:read"], "expiresInDays": 11},
            ),
            400,
            "INVALID_INPUT",
            "expiresInDays",
        )
        assert "1 to 10" in error["message"]
        assert (
            ok(
                user.post(
                    f"/accounts/{user.name}/tokens", json={"name": "d", "scopes": ["api:read"]}
                ),
                201,
            )["expiresAt"]
            < first["expiresAt"]
        )  # the default (90 days) is capped at the maximum
    finally:
        ok(world.admin.put("/admin/settings/auth", json={"tokenMaxLifetimeDays": 365}))


def test_who_may_manage_whose_tokens(world):
    owner, other = world.user(), world.user()
    token = new_token(owner)
    path = f"/accounts/{owner.name}/tokens"
    expect_error(other.get(path), 403, "NOT_AUTHORIZED")
    expect_error(other.delete(f"{path}/{token['id']}"), 403, "NOT_AUTHORIZED")
    body = {"name": "mine", "scopes": ["api:write"]}
    expect_error(other.post(path, json=body), 403, "NOT_AUTHORIZED")
    expect_error(world.admin.post(path, json=body), 403, "NOT_AUTHORIZED")  # not for others
    expect_error(world.anonymous.get(path), 401, "NOT_AUTHENTICATED")
    expect_error(
        other.delete(f"/accounts/{other.name}/tokens/{token['id']}"), 404, "NO_SUCH_RESOURCE"
    )
    for bad_id in ("abc", "-1", "99999999999999999999999", "1e3"):
        expect_error(owner.delete(f"{path}/{bad_id}"), 404, "NO_SUCH_RESOURCE")
    assert [t["id"] for t in ok(world.admin.get(path))["tokens"]] == [token["id"]]
    assert world.admin.delete(f"{path}/{token['id']}").status_code == 204  # admins revoke
    expect_error(world.admin.get(f"/accounts/{unique('ghost')}/tokens"), 404, "NO_SUCH_RESOURCE")
    org = world.org()
    expect_error(world.admin.get(f"/accounts/{org}/tokens"), 404, "NO_SUCH_RESOURCE")


def test_a_token_cannot_mint_tokens_or_robots(world):
    user = world.user()
    secret = new_token(user)["token"]
    as_token = Api(world.dtr.url, user.name, secret)
    body = {"name": "child", "scopes": ["registry:push"]}
    error = expect_error(
        as_token.post(f"/accounts/{user.name}/tokens", json=body), 403, "NOT_AUTHORIZED"
    )
    assert "log in with your password" in error["message"]
    org = world.org(owners=[user])
    error = expect_error(
        as_token.post(f"/organizations/{org}/robots", json={"name": "bot"}), 403, "NOT_AUTHORIZED"
    )
    assert ok(as_token.get(f"/accounts/{user.name}/tokens"))["tokens"]  # reading is fine


# --- personal access tokens: what they may do -----------------------------------------------


def test_scopes_narrow_the_registry(world):
    user = world.user()
    repo = world.repo(user.name, caller=user)
    pull_only = new_token(user, ["registry:pull"])["token"]
    pusher = new_token(user, ["registry:push"])["token"]
    api_only = new_token(user, ["api:read", "api:write"])["token"]
    scope = f"repository:{repo}:pull,push,delete"
    assert granted(token_for(world.dtr, user.name, pull_only, scope)) == {repo: ["pull"]}
    assert granted(token_for(world.dtr, user.name, pusher, scope, "POST")) == {
        repo: ["delete", "pull", "push"]
    }
    refused = token_for(world.dtr, user.name, api_only, scope)
    assert refused.status_code == 401
    assert "no registry scope" in refused.json()["errors"][0]["message"]
    assert push(world.dtr, user.name, pull_only, repo).status_code in (401, 403)
    assert push(world.dtr, user.name, pusher, repo).status_code == 201
    assert pull_status(world.dtr, user.name, pull_only, repo) == 200
    # the token is the owner's: the wrong user name with it fails
    other = world.user()
    assert token_for(world.dtr, other.name, pusher, scope).status_code == 401


def test_a_token_never_exceeds_its_owner(world):
    owner, stranger = world.user(), world.user()
    private = world.repo(stranger.name, caller=stranger)
    secret = new_token(owner)["token"]
    scope = f"repository:{private}:pull,push"
    assert granted(token_for(world.dtr, owner.name, secret, scope)) == {}
    api = Api(world.dtr.url, owner.name, secret)
    expect_error(api.get(f"/repositories/{private}"), 404, "NO_SUCH_RESOURCE")
    expect_error(api.get("/admin/settings/auth"), 403, "NOT_AUTHORIZED")
    # the owner is downgraded: the token follows, at once
    reader = world.user("read-write")
    reader_secret = new_token(reader)["token"]
    assert granted(token_for(world.dtr, reader.name, reader_secret, scope)) == {
        private: ["pull", "push"]
    }
    ok(world.admin.patch(f"/accounts/{reader.name}", json={"role": "read-only"}))
    assert granted(token_for(world.dtr, reader.name, reader_secret, scope)) == {private: ["pull"]}
    ok(world.admin.put(f"/accounts/{reader.name}/deactivate"))
    assert token_for(world.dtr, reader.name, reader_secret, scope).status_code == 401
    api = Api(world.dtr.url, reader.name, reader_secret)
    expect_error(api.get("/accounts"), 401, "NOT_AUTHENTICATED")


def test_api_scopes(world):
    user = world.user()
    reader = Api(world.dtr.url, user.name, new_token(user, ["api:read"])["token"])
    writer = Api(world.dtr.url, user.name, new_token(user, ["api:write"])["token"])
    registry_only = Api(
        world.dtr.url, user.name, new_token(user, ["registry:pull", "registry:push"])["token"]
    )
    assert ok(reader.get(f"/accounts/{user.name}"))["name"] == user.name
    body = {"name": unique("r"), "visibility": "private"}
    error = expect_error(
        reader.post(f"/repositories/{user.name}", json=body), 403, "NOT_AUTHORIZED"
    )
    assert "api:write" in error["message"]
    assert ok(writer.post(f"/repositories/{user.name}", json=body), 201)["name"] == body["name"]
    error = expect_error(registry_only.get(f"/accounts/{user.name}"), 403, "NOT_AUTHORIZED")
    assert "no API scope" in error["message"]
    # a token is not a way into the portal
    login = requests.post(
        f"{world.dtr.url}/login", data={"username": user.name, "password": writer.password}
    )
    assert login.status_code in (400, 401, 403)


def test_revoking_stops_a_token_and_its_registry_tokens_at_once(world):
    user = world.user()
    repo = world.repo(user.name, caller=user)
    created = new_token(user, ["registry:pull"])
    response = token_for(world.dtr, user.name, created["token"], f"repository:{repo}:pull")
    bearer = {"Authorization": f"Bearer {response.json()['token']}"}
    assert requests.get(f"{world.dtr.url}/v2/{repo}/tags/list", headers=bearer).status_code == 200
    listed = ok(user.get(f"/accounts/{user.name}/tokens"))["tokens"][0]
    assert listed["lastUsedFrom"] == "127.0.0.1" and listed["lastUsedAt"] is not None
    assert user.delete(f"/accounts/{user.name}/tokens/{created['id']}").status_code == 204
    assert token_for(world.dtr, user.name, created["token"]).status_code == 401
    gone = requests.get(f"{world.dtr.url}/v2/{repo}/tags/list", headers=bearer)
    assert gone.status_code == 401 and 'error="invalid_token"' in gone.headers["WWW-Authenticate"]
    events = ok(world.admin.get("/admin/audit", params={"limit": 1000}))["events"]
    actions = {(e["action"], e["target"]) for e in events}
    assert ("token.create", f"{user.name}/{created['name']}") in actions
    assert ("token.revoke", f"{user.name}/{created['name']}") in actions


# --- robot accounts ---------------------------------------------------------------------------


def new_robot(api, org, access, **fields):
    body = {"name": unique("bot"), "access": access, **fields}
    return ok(api.post(f"/organizations/{org}/robots", json=body), 201)


def test_a_robot_does_exactly_what_its_access_says(world):
    owner = world.user()
    org = world.org(owners=[owner])
    granted_repo, other_repo = world.repo(org), world.repo(org)
    pull_repo = world.repo(org)
    robot = new_robot(
        owner,
        org,
        [
            {"repository": granted_repo, "actions": ["pull", "push"]},
            {"repository": pull_repo, "actions": ["pull"]},
        ],
        description="CI of the web app",
    )
    name, secret = robot["name"], robot["secret"]
    assert name == f"{org}+{robot['shortName']}" and secret.startswith("dtr_robot_")
    assert robot["access"] == [
        {"repository": granted_repo, "actions": ["pull", "push"]},
        {"repository": pull_repo, "actions": ["pull"]},
    ]
    assert robot["enabled"] is True and robot["createdBy"] == owner.name
    assert push(world.dtr, name, secret, granted_repo).status_code == 201
    assert pull_status(world.dtr, name, secret, granted_repo) == 200
    assert push(world.dtr, name, secret, pull_repo).status_code in (401, 403)
    assert push(world.dtr, name, secret, other_repo).status_code in (401, 403, 404)
    scope = f"repository:{other_repo}:pull"
    assert granted(token_for(world.dtr, name, secret, scope)) == {}
    foreign = world.repo(world.org())
    assert granted(token_for(world.dtr, name, secret, f"repository:{foreign}:pull")) == {}
    assert granted(token_for(world.dtr, name, secret, "registry:catalog:*")) == {}
    # no API, no portal
    as_robot = Api(world.dtr.url, name, secret)
    expect_error(as_robot.get("/accounts"), 403, "NOT_AUTHORIZED")
    expect_error(as_robot.get(f"/repositories/{granted_repo}"), 403, "NOT_AUTHORIZED")
    login = requests.post(f"{world.dtr.url}/login", data={"username": name, "password": secret})
    assert login.status_code in (400, 401, 403)
    shown = ok(owner.get(f"/organizations/{org}/robots/{robot['shortName']}"))
    assert shown["lastUsedFrom"] == "127.0.0.1" and "secret" not in shown
    assert ok(owner.get(f"/organizations/{org}/robots/{name}")) == shown  # either name


def test_a_namespace_grant_covers_every_repository_of_the_organization(world):
    org = world.org()
    robot = new_robot(world.admin, org, [{"namespace": org, "actions": ["pull"]}])
    repos = [world.repo(org), world.repo(org)]
    scopes = [f"repository:{r}:pull,push" for r in repos]
    response = requests.get(
        f"{world.dtr.url}/auth/token",
        params=[("service", "x"), *[("scope", s) for s in scopes]],
        auth=(robot["name"], robot["secret"]),
    )
    assert granted(response) == {r: ["pull"] for r in repos}


def test_disable_regenerate_and_delete_stop_a_robot_at_once(world):
    org = world.org()
    repo = world.repo(org)
    robot = new_robot(world.admin, org, [{"repository": repo, "actions": ["pull"]}])
    path = f"/organizations/{org}/robots/{robot['shortName']}"
    name, secret = robot["name"], robot["secret"]
    bearer = {
        "Authorization": "Bearer "
        + token_for(world.dtr, name, secret, f"repository:{repo}:pull").json()["token"]
    }
    tags = f"{world.dtr.url}/v2/{repo}/tags/list"
    assert requests.get(tags, headers=bearer).status_code == 200
    assert ok(world.admin.patch(path, json={"enabled": False}))["enabled"] is False
    assert requests.get(tags, headers=bearer).status_code == 401
    assert token_for(world.dtr, name, secret).status_code == 401
    ok(world.admin.patch(path, json={"enabled": True}))
    assert token_for(world.dtr, name, secret).status_code == 200
    renewed = ok(world.admin.post(path + "/secret"))
    assert renewed["secret"] != secret
    assert token_for(world.dtr, name, secret).status_code == 401
    assert token_for(world.dtr, name, renewed["secret"]).status_code == 200
    # narrowing the access stops tokens issued for the wider one
    wide = token_for(world.dtr, name, renewed["secret"], f"repository:{repo}:pull").json()
    ok(world.admin.patch(path, json={"access": []}))
    wide_bearer = {"Authorization": f"Bearer {wide['token']}"}
    assert requests.get(tags, headers=wide_bearer).status_code == 401
    assert world.admin.delete(path).status_code == 204
    assert token_for(world.dtr, name, renewed["secret"]).status_code == 401
    expect_error(world.admin.get(path), 404, "NO_SUCH_RESOURCE")
    events = ok(world.admin.get("/admin/audit", params={"limit": 1000}))["events"]
    done = {e["action"] for e in events if e["target"] == name}
    assert {"robot.create", "robot.update", "robot.secret", "robot.delete"} <= done


def test_who_manages_robots(world):
    owner, member, outsider = world.user(), world.user(), world.user()
    org = world.org(owners=[owner])
    world.team(org, members=[member])
    robot = new_robot(owner, org, [])
    path = f"/organizations/{org}/robots"
    assert [r["name"] for r in ok(owner.get(path))["robots"]] == [robot["name"]]
    assert "secret" not in ok(owner.get(path))["robots"][0]
    for caller in (member, outsider, world.builtin("writer")):
        expect_error(caller.get(path), 403, "NOT_AUTHORIZED")
        expect_error(caller.post(path, json={"name": "x"}), 403, "NOT_AUTHORIZED")
        expect_error(
            caller.patch(f"{path}/{robot['shortName']}", json={"enabled": False}),
            403,
            "NOT_AUTHORIZED",
        )
        expect_error(caller.delete(f"{path}/{robot['shortName']}"), 403, "NOT_AUTHORIZED")
    expect_error(world.anonymous.get(path), 401, "NOT_AUTHENTICATED")
    expect_error(
        world.admin.get(f"/organizations/{unique('none')}/robots"), 404, "NO_SUCH_RESOURCE"
    )
    expect_error(world.admin.get(f"/organizations/{owner.name}/robots"), 404, "NO_SUCH_RESOURCE")
    assert ok(world.admin.get(path))["robots"]  # admins too


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "name"),
        ({"name": "Bad Name"}, "name"),
        ({"name": "a+b"}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": 5}, "name"),
        ({"name": "ok", "description": 5}, "description"),
        ({"name": "ok", "description": "x" * 1025}, "description"),
        ({"name": "ok", "expiresInDays": 0}, "expiresInDays"),
        ({"name": "ok", "access": {}}, "access"),
        ({"name": "ok", "access": [5]}, "access"),
        ({"name": "ok", "access": [{"repository": "ORG/r"}]}, "access"),
        ({"name": "ok", "access": [{"repository": "ORG/r", "actions": ["push"]}]}, "access"),
        (
            {"name": "ok", "access": [{"repository": "ORG/r", "actions": ["pull", "delete"]}]},
            "access",
        ),
        ({"name": "ok", "access": [{"repository": "ORG/nope", "actions": ["pull"]}]}, "access"),
        ({"name": "ok", "access": [{"repository": "admin/x", "actions": ["pull"]}]}, "access"),
        ({"name": "ok", "access": [{"namespace": "admin", "actions": ["pull"]}]}, "access"),
        (
            {
                "name": "ok",
                "access": [{"namespace": "ORG", "repository": "ORG/r", "actions": ["pull"]}],
            },
            "access",
        ),
        ({"name": "ok", "access": [{"namespace": "ORG", "actions": ["pull"], "x": 1}]}, "access"),
        ({"name": "ok", "access": [{"repository": 7, "actions": ["pull"]}]}, "access"),
        ({"name": "ok", "access": [{"namespace": "ORG", "actions": ["pull"]}] * 101}, "access"),
    ],
)
def test_bad_robot_bodies_name_the_field(world, body, field):
    org = world.org()
    repo = world.repo(org)
    text = json.dumps(body).replace('ORG/r"', f'{repo}"').replace("ORG", org)
    response = world.admin.post(
        f"/organizations/{org}/robots", data=text, headers={"Content-Type": "application/json"}
    )
    error = expect_error(response, 400, "INVALID_INPUT")
    assert error["message"].startswith(field), error
    assert ok(world.admin.get(f"/organizations/{org}/robots"))["robots"] == []  # nothing made


def test_robot_changes_are_checked(world):
    org = world.org()
    robot = new_robot(world.admin, org, [])
    path = f"/organizations/{org}/robots/{robot['shortName']}"
    for body, field in (
        ({"enabled": "no"}, "enabled"),
        ({"name": "renamed"}, "name"),
        ({"access": [{"repository": f"{org}/missing", "actions": ["pull"]}]}, "access"),
        ({"description": ["x"]}, "description"),
    ):
        error = expect_error(world.admin.patch(path, json=body), 400, "INVALID_INPUT")
        assert error["message"].startswith(field), error
    unchanged = {key: value for key, value in robot.items() if key != "secret"}
    assert ok(world.admin.get(path)) == unchanged
    dup = world.admin.post(f"/organizations/{org}/robots", json={"name": robot["shortName"]})
    expect_error(dup, 409, "ALREADY_EXISTS")
    expect_error(world.admin.post(f"{path}x/secret"), 404, "NO_SUCH_RESOURCE")


def test_expired_tokens_and_robots_are_refused(world):
    """Expiry is checked at every use (through the credential cache of a few seconds)."""
    user = world.user()
    created = new_token(user, ["registry:pull"])
    org = world.org()
    robot = new_robot(world.admin, org, [])
    assert token_for(world.dtr, user.name, created["token"]).status_code == 200
    assert token_for(world.dtr, robot["name"], robot["secret"]).status_code == 200
    world.dtr.sql(
        "UPDATE access_tokens SET expires_at = '2020-01-01 00:00:00' WHERE id = ?",
        (created["id"],),
    )
    world.dtr.sql(
        "UPDATE robots SET expires_at = '2020-01-01 00:00:00' WHERE name = ?",
        (robot["shortName"],),
    )
    assert token_for(world.dtr, user.name, created["token"]).status_code == 401
    assert token_for(world.dtr, robot["name"], robot["secret"]).status_code == 401
