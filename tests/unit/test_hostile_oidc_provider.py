"""The hostile OIDC provider fixture (tests/support/hostile_oidc_provider.py) itself, over
HTTP: the flow works as a real provider's does, and each bad signing mode really yields a
token that a correct RS256 verifier with the provider's JWKS rejects."""

import base64
import hashlib
import hmac
import json
import secrets
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from tests.support.hostile_oidc_provider import HostileOidcProvider, pkce_s256

REDIRECT_URI = "http://127.0.0.1:1/oidc/callback"


@pytest.fixture(scope="module")
def shared():
    with HostileOidcProvider() as provider:
        yield provider


@pytest.fixture
def idp(shared):
    shared.reset()
    return shared


@pytest.fixture
def fresh():
    """A provider of its own, for tests that rotate or publish keys."""
    with HostileOidcProvider() as provider:
        yield provider


def authorize(idp, state="st-1", nonce="n-1", verifier=None, **overrides):
    """GET /authorize; (response, verifier)."""
    verifier = verifier or secrets.token_urlsafe(48)
    params = {
        "response_type": "code",
        "client_id": idp.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email",
        "state": state,
        "nonce": nonce,
        "code_challenge": pkce_s256(verifier),
        "code_challenge_method": "S256",
        **overrides,
    }
    params = {name: value for name, value in params.items() if value is not None}
    response = requests.get(f"{idp.issuer}/authorize", params=params, allow_redirects=False)
    return response, verifier


def redirect_params(response):
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    return {name: values[0] for name, values in parse_qs(location.query).items()}


def exchange(idp, code, verifier, secret=None, basic=True, redirect_uri=REDIRECT_URI):
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    secret = idp.client_secret if secret is None else secret
    if basic:
        return requests.post(f"{idp.issuer}/token", data=form, auth=(idp.client_id, secret))
    form.update(client_id=idp.client_id, client_secret=secret)
    return requests.post(f"{idp.issuer}/token", data=form)


def login(idp, nonce="n-1"):
    """The whole code flow; the token response's JSON."""
    response, verifier = authorize(idp, nonce=nonce)
    response = exchange(idp, redirect_params(response)["code"], verifier)
    assert response.status_code == 200, response.text
    return response.json()


def verify(idp, id_token, nonce="n-1"):
    """What a correct relying party does: fetch the JWKS over HTTP, pick the key by kid,
    accept RS256 only, check iss, aud, exp and nonce."""
    keys = jwt.PyJWKSet.from_dict(requests.get(f"{idp.issuer}/jwks").json())
    kid = jwt.get_unverified_header(id_token).get("kid")
    matching = [key for key in keys.keys if key.key_id == kid]
    if not matching:
        raise jwt.InvalidKeyError(f"no key {kid!r} in the JWKS")
    claims = jwt.decode(
        id_token,
        matching[0].key,
        algorithms=["RS256"],
        audience=idp.client_id,
        issuer=idp.issuer,
        options={"require": ["iss", "aud", "exp", "iat", "sub"]},
    )
    if claims.get("nonce") != nonce:
        raise jwt.InvalidTokenError("nonce mismatch")
    return claims


def verifies_with_any_published_key(idp, id_token):
    """Whether the token's RS256 signature checks with any JWKS key, kid and claims aside."""
    for key in jwt.PyJWKSet.from_dict(requests.get(f"{idp.issuer}/jwks").json()).keys:
        try:
            jwt.decode(id_token, key.key, algorithms=["RS256"], options={"verify_exp": False})
            return True
        except jwt.PyJWTError:
            continue
    return False


def test_discovery(idp):
    response = requests.get(f"{idp.issuer}/.well-known/openid-configuration")
    assert response.status_code == 200
    config = response.json()
    assert config["issuer"] == idp.issuer
    for name, path in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks"),
        ("end_session_endpoint", "/logout"),
    ]:
        assert config[name] == idp.issuer + path
    assert config["response_types_supported"] == ["code"]
    assert config["subject_types_supported"] == ["public"]
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert "openid" in config["scopes_supported"]
    assert {"sub", "nonce", "groups"} <= set(config["claims_supported"])
    jwks = requests.get(config["jwks_uri"]).json()
    assert [key["kid"] for key in jwks["keys"]] == [idp.key.kid]
    assert jwks["keys"][0]["kty"] == "RSA" and "d" not in jwks["keys"][0]
    assert idp.jwks_fetches == 1
    assert ("GET", "/.well-known/openid-configuration") in idp.requests


def test_authorize_redirects_with_code_and_same_state(idp):
    response, _ = authorize(idp, state="abc xyz/+=")
    params = redirect_params(response)
    assert params["state"] == "abc xyz/+="
    assert len(params["code"]) >= 20
    assert idp.last_authorize_params["nonce"] == "n-1"
    assert idp.last_authorize_params["code_challenge_method"] == "S256"


def test_authorize_state_override(idp):
    idp.state_override = "attacker-state"
    params = redirect_params(authorize(idp, state="mine")[0])
    assert params["state"] == "attacker-state" and params["code"]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),
        ({"scope": "profile"}, "invalid_scope"),
    ],
)
def test_authorize_rejects_bad_requests_by_redirect(idp, overrides, error):
    params = redirect_params(authorize(idp, **overrides)[0])
    assert params == {"error": error, "state": "st-1"}


@pytest.mark.parametrize("overrides", [{"client_id": "other"}, {"redirect_uri": None}])
def test_authorize_does_not_redirect_for_an_unknown_client(idp, overrides):
    assert authorize(idp, **overrides)[0].status_code == 400


@pytest.mark.parametrize("basic", [True, False], ids=["basic", "post"])
def test_token_exchange_gives_a_verifiable_id_token(idp, basic):
    response, verifier = authorize(idp, nonce="nonce-42")
    response = exchange(idp, redirect_params(response)["code"], verifier, basic=basic)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    claims = verify(idp, body["id_token"], nonce="nonce-42")
    assert claims["sub"] == "eve" and claims["groups"] == ["devs"]
    assert claims["email"] == "eve@example.org" and claims["email_verified"] is True
    assert abs(claims["exp"] - time.time() - 300) < 5 and claims["auth_time"] <= time.time()
    assert jwt.get_unverified_header(body["id_token"])["kid"] == idp.key.kid


def test_wrong_verifier_is_invalid_grant(idp):
    response, _ = authorize(idp)
    response = exchange(idp, redirect_params(response)["code"], secrets.token_urlsafe(48))
    assert response.status_code == 400 and response.json() == {"error": "invalid_grant"}


def test_code_is_single_use(idp):
    response, verifier = authorize(idp)
    code = redirect_params(response)["code"]
    assert exchange(idp, code, verifier).status_code == 200
    again = exchange(idp, code, verifier)
    assert again.status_code == 400 and again.json() == {"error": "invalid_grant"}


def test_wrong_redirect_uri_is_invalid_grant(idp):
    response, verifier = authorize(idp)
    code = redirect_params(response)["code"]
    response = exchange(idp, code, verifier, redirect_uri="http://127.0.0.1:1/elsewhere")
    assert response.status_code == 400 and response.json() == {"error": "invalid_grant"}


@pytest.mark.parametrize("basic", [True, False], ids=["basic", "post"])
def test_wrong_secret_is_invalid_client(idp, basic):
    response, verifier = authorize(idp)
    code = redirect_params(response)["code"]
    response = exchange(idp, code, verifier, secret="wrong", basic=basic)
    assert response.status_code == 401 and response.json() == {"error": "invalid_client"}
    # The code was not spent by an unauthenticated client.
    assert exchange(idp, code, verifier, basic=basic).status_code == 200


def test_userinfo_needs_the_access_token(idp):
    access_token = login(idp)["access_token"]
    url = f"{idp.issuer}/userinfo"
    assert requests.get(url).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
    answer = requests.get(url, headers={"Authorization": f"Bearer {access_token}"})
    assert answer.status_code == 200 and answer.json()["sub"] == "eve"
    idp.userinfo = {"sub": "mallory"}
    answer = requests.get(url, headers={"Authorization": f"Bearer {access_token}"})
    assert answer.json() == {"sub": "mallory"}


def test_logout_page(idp):
    response = requests.get(f"{idp.issuer}/logout", params={"id_token_hint": "x"})
    assert response.status_code == 200 and "signed out" in response.text
    assert idp.last_logout_params == {"id_token_hint": "x"}


def test_claims_override_and_remove(idp):
    idp.claims = {"aud": "other", "nonce": None, "groups": ["admins"]}
    token = login(idp)["id_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == "other" and "nonce" not in claims and claims["groups"] == ["admins"]
    assert claims["iss"] == idp.issuer and claims["sub"] == "eve"
    with pytest.raises(jwt.InvalidAudienceError):
        verify(idp, token)


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        ({"exp": 1000}, jwt.ExpiredSignatureError),
        ({"iss": "http://evil"}, jwt.InvalidIssuerError),
        ({"nonce": "replayed"}, jwt.InvalidTokenError),
        ({"sub": None}, jwt.MissingRequiredClaimError),
    ],
)
def test_bad_claims_are_rejected_by_a_correct_verifier(idp, claims, error):
    idp.claims = claims
    with pytest.raises(error):
        verify(idp, login(idp)["id_token"])


@pytest.mark.parametrize("mode", ["tampered", "none", "hs256-public-key", "unknown-key"])
def test_bad_signing_modes_are_rejected(idp, mode):
    idp.signing = mode
    token = login(idp)["id_token"]
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    # Everything but the signature looks right.
    assert claims["iss"] == idp.issuer and claims["aud"] == idp.client_id
    assert claims["nonce"] == "n-1"
    with pytest.raises(jwt.PyJWTError):
        verify(idp, token)
    assert not verifies_with_any_published_key(idp, token)
    if mode == "tampered":
        assert header["alg"] == "RS256" and claims["groups"] == ["admins"]
        with pytest.raises(jwt.InvalidSignatureError):
            verify(idp, token)
    elif mode == "none":
        assert header["alg"] == "none" and token.endswith(".")
    elif mode == "hs256-public-key":
        assert header == {"alg": "HS256", "typ": "JWT", "kid": idp.key.kid}
        with pytest.raises(jwt.InvalidAlgorithmError):
            verify(idp, token)
        # It is a real confusion token: an HMAC keyed with the published key's PEM.
        signing_input, _, signature = token.rpartition(".")
        mac = hmac.new(idp.key.public_pem, signing_input.encode(), hashlib.sha256).digest()
        assert base64.urlsafe_b64encode(mac).rstrip(b"=").decode() == signature
        assert idp.key.public_pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    elif mode == "unknown-key":
        assert header["kid"] == idp.unknown_key.kid != idp.key.kid


def test_good_mode_is_accepted(idp):
    assert verify(idp, login(idp)["id_token"])["sub"] == "eve"


def test_unpublished_kid_verifies_only_after_publish(fresh):
    fresh.signing = "unpublished-kid"
    token = login(fresh)["id_token"]
    assert jwt.get_unverified_header(token)["kid"] == fresh.next_key.kid
    with pytest.raises(jwt.InvalidKeyError):
        verify(fresh, token)
    fresh.publish_next_key()
    kids = [key["kid"] for key in requests.get(f"{fresh.issuer}/jwks").json()["keys"]]
    assert kids == [fresh.key.kid, fresh.next_key.kid]
    assert verify(fresh, token)["sub"] == "eve"
    assert verify(fresh, login(fresh)["id_token"])["sub"] == "eve"  # same key after publishing
    assert fresh.jwks_fetches == 4


def test_rotate_key_serves_only_the_new_key(fresh):
    old_token = login(fresh)["id_token"]
    old_kid = fresh.key.kid
    fresh.rotate_key()
    jwks = requests.get(f"{fresh.issuer}/jwks").json()
    assert [key["kid"] for key in jwks["keys"]] == [fresh.key.kid] != [old_kid]
    with pytest.raises(jwt.InvalidKeyError):
        verify(fresh, old_token)
    assert verify(fresh, login(fresh)["id_token"])["sub"] == "eve"


def test_down_answers_503_and_stop_makes_it_unreachable(fresh):
    fresh.down = True
    for path in ["/.well-known/openid-configuration", "/jwks", "/authorize"]:
        assert requests.get(fresh.issuer + path).status_code == 503
    assert requests.post(f"{fresh.issuer}/token", data={}).status_code == 503
    fresh.down = False
    session = requests.Session()  # a kept-alive connection must not outlive stop() either
    assert session.get(f"{fresh.issuer}/jwks").status_code == 200
    fresh.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(f"{fresh.issuer}/jwks", timeout=2)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{fresh.issuer}/jwks", timeout=2)
    fresh.start()  # same port, same issuer
    assert session.get(f"{fresh.issuer}/jwks").status_code == 200


def test_reset_restores_defaults(idp):
    idp.claims = {"aud": "x"}
    idp.user = {"sub": "x"}
    idp.signing = "none"
    idp.userinfo = {"sub": "y"}
    idp.state_override = "s"
    idp.down = True
    idp.reset()
    assert (idp.claims, idp.signing, idp.userinfo, idp.state_override, idp.down) == (
        {},
        "good",
        None,
        None,
        False,
    )
    assert idp.user["sub"] == "eve" and idp.requests == [] and idp.jwks_fetches == 0
    assert json.loads(json.dumps(idp.jwks))["keys"][0]["kid"] == idp.key.kid
