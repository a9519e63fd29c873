"""GET /v2/ and the token service (Docker token authentication)."""

import time

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.client import RegistryClient
from tests.support.server import USERS


def token(dtr, user=None, scope=None, **params):
    auth = (user, USERS[user][0]) if user else None
    query = {"service": service_of(dtr), **params}
    if scope:
        query["scope"] = scope
    return requests.get(f"{dtr.url}/auth/token", params=query, auth=auth)


def service_of(dtr):
    challenge = requests.get(f"{dtr.url}/v2/").headers["WWW-Authenticate"]
    return challenge.split('service="')[1].split('"')[0]


def claims_of(raw):
    return jwt.decode(raw, options={"verify_signature": False})


def test_base_requires_authentication_with_bearer_challenge(dtr):
    response = requests.get(f"{dtr.url}/v2/")
    assert response.status_code == 401
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer realm="{dtr.url}/auth/token",service="')
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_base_answers_200_with_a_token_or_basic_credentials(dtr):
    raw = token(dtr, "reader").json()["token"]
    response = requests.get(f"{dtr.url}/v2/", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert requests.get(f"{dtr.url}/v2/", auth=("reader", "reader-password-1")).status_code == 200
    assert requests.get(f"{dtr.url}/v2/", auth=("reader", "wrong")).status_code == 401


def test_token_claims_and_header(dtr, repo):
    response = token(dtr, "admin", f"repository:{repo}:pull,push")
    assert response.status_code == 200
    body = response.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 900
    header = jwt.get_unverified_header(body["token"])
    assert header["alg"] == "ES256" and header["kid"].count(":") == 11
    claims = claims_of(body["token"])
    assert {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access"} <= set(claims)
    assert claims["sub"] == "admin" and claims["aud"] == service_of(dtr)
    assert claims["exp"] - claims["iat"] == 900
    assert claims["access"] == [{"type": "repository", "name": repo, "actions": ["pull", "push"]}]


def test_partial_grant_is_still_200(dtr, repo):
    response = token(dtr, "reader", f"repository:{repo}:pull,push")
    assert response.status_code == 200
    assert claims_of(response.json()["token"])["access"][0]["actions"] == ["pull"]


def test_star_asks_for_everything_allowed(dtr, repo):
    writer = claims_of(token(dtr, "writer", f"repository:{repo}:*").json()["token"])
    assert writer["access"][0]["actions"] == ["delete", "pull", "push"]
    admin = claims_of(token(dtr, "admin", f"repository:{repo}:*").json()["token"])
    assert admin["access"][0]["actions"] == ["*", "delete", "pull", "push"]
    reader = claims_of(token(dtr, "reader", f"repository:{repo}:*").json()["token"])
    assert reader["access"][0]["actions"] == ["pull"]


def test_anonymous_token_grants_pull_on_public_only(dtr, repo, public_repo):
    private = claims_of(token(dtr, None, f"repository:{repo}:pull").json()["token"])
    public = claims_of(token(dtr, None, f"repository:{public_repo}:pull,push").json()["token"])
    assert private["access"] == [] and private["sub"] == ""
    assert public["access"] == [{"type": "repository", "name": public_repo, "actions": ["pull"]}]


def test_wrong_password_is_refused(dtr):
    response = token(dtr, None, None)
    assert response.status_code == 200
    bad = requests.get(f"{dtr.url}/auth/token", auth=("admin", "nope"))
    assert bad.status_code == 401
    assert bad.json()["errors"][0]["code"] == "UNAUTHORIZED"
    unknown = requests.get(f"{dtr.url}/auth/token", auth=("ghost", "nope"))
    assert unknown.status_code == 401


def test_oauth_password_and_refresh_grants(dtr, repo):
    service = service_of(dtr)
    first = requests.post(
        f"{dtr.url}/auth/token",
        data={
            "grant_type": "password",
            "username": "writer",
            "password": "writer-password-1",
            "service": service,
            "scope": f"repository:{repo}:pull,push",
            "access_type": "offline",
            "client_id": "docker",
        },
    )
    assert first.status_code == 200
    refresh = first.json()["refresh_token"]
    assert claims_of(first.json()["access_token"])["access"][0]["actions"] == ["pull", "push"]
    second = requests.post(
        f"{dtr.url}/auth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "service": service,
            "scope": f"repository:{repo}:pull",
            "client_id": "docker",
        },
    )
    assert second.status_code == 200
    assert claims_of(second.json()["access_token"])["sub"] == "writer"
    # a refresh token is not an access token, and vice versa
    bad = requests.get(f"{dtr.url}/v2/", headers={"Authorization": f"Bearer {refresh}"})
    assert bad.status_code == 401
    wrong = requests.post(
        f"{dtr.url}/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": first.json()["access_token"]},
    )
    assert wrong.status_code == 401
    bad_password = requests.post(
        f"{dtr.url}/auth/token",
        data={"grant_type": "password", "username": "writer", "password": "x"},
    )
    assert bad_password.status_code == 401


def _forge(dtr, key, **overrides):
    now = int(time.time())
    claims = {
        "iss": "dtr-token-service",
        "sub": "admin",
        "aud": service_of(dtr),
        "exp": now + 600,
        "nbf": now,
        "iat": now,
        "jti": "x",
        "access": [{"type": "repository", "name": "admin/x", "actions": ["pull"]}],
        # the credential the token stands for, as the token service writes it
        "cred": claims_of(token(dtr, "admin").json()["token"])["cred"],
    }
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm="ES256")


def _instance_key(dtr):
    """The key that signs the instance's tokens now (kept in the database)."""
    rows = dtr.sql(
        "SELECT name, value FROM instance_keys WHERE name LIKE 'token_key.%' AND retired_at IS NULL"
    )
    _, pem = max(rows, key=lambda row: int(row[0].split(".")[1]))
    return serialization.load_pem_private_key(pem.encode(), None)


def test_expired_forged_and_foreign_tokens_are_refused(dtr):
    own = _instance_key(dtr)
    good = _forge(dtr, own)
    assert requests.get(f"{dtr.url}/v2/", headers={"Authorization": f"Bearer {good}"}).ok
    cases = {
        "expired": _forge(dtr, own, exp=int(time.time()) - 60, iat=int(time.time()) - 700),
        "other key": _forge(dtr, ec.generate_private_key(ec.SECP256R1())),
        "other audience": _forge(dtr, own, aud="elsewhere"),
        "garbage": "not.a.token",
        "unsigned": jwt.encode({"sub": "admin"}, None, algorithm="none"),
    }
    for name, raw in cases.items():
        response = requests.get(f"{dtr.url}/v2/", headers={"Authorization": f"Bearer {raw}"})
        assert response.status_code == 401, name
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"], name
    assert requests.get(f"{dtr.url}/v2/", auth=("admin", "admin-password-1")).ok  # still serving


def test_insufficient_scope_challenge_names_the_scope(dtr, repo):
    raw = token(dtr, "admin", f"repository:{repo}:pull").json()["token"]
    response = requests.post(
        f"{dtr.url}/v2/{repo}/blobs/uploads/", headers={"Authorization": f"Bearer {raw}"}
    )
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert f'scope="repository:{repo}:pull,push"' in challenge
    assert 'error="insufficient_scope"' in challenge


def test_client_reauthenticates_like_docker(dtr, repo):
    client = RegistryClient(dtr.url, "writer", "writer-password-1")
    assert client.request("GET", f"/v2/{repo}/tags/list").status_code == 200
    assert client.token_requests == 1
