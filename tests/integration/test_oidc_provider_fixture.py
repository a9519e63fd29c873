"""The OpenID provider fixture (tests/support/oidc_provider.py) itself: the authorization code
flow with PKCE done by hand with requests, as DTR will do it, against the real oidc-provider."""

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import jwt
import pytest
import requests

from tests.support.oidc_provider import OidcProvider

CLIENT_ID = "dtr"
CLIENT_SECRET = "dtr-client-secret-1"
REDIRECT_URI = "http://127.0.0.1:9/cb"  # nothing listens: only Location headers are read
LOGOUT_REDIRECT_URI = "http://127.0.0.1:9/signed-out"
SCOPE = "openid profile email groups"


@pytest.fixture
def provider(tmp_path):
    server = OidcProvider(tmp_path / "oidc")
    server.add_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI], [LOGOUT_REDIRECT_URI])
    server.set_user("gordon", "gordon-password-1", groups=["dtr-admins", "frontend"])
    with server.start():
        yield server


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def follow(session, response):
    """Follows redirects by hand up to the login page, or up to the redirect to the client
    (returned unfollowed: nothing listens there)."""
    for _ in range(10):
        location = response.headers.get("Location")
        if response.status_code not in (302, 303) or location.startswith("http://127.0.0.1:9/"):
            return response
        response = session.get(urljoin(response.url, location), allow_redirects=False)
    raise AssertionError("too many redirects")


def authorize(provider, session, **params):
    """Starts a flow (`params` override the request's, None leaves one out); the response after
    the provider's own redirects, the request's parameters and its code_verifier."""
    verifier, challenge = pkce_pair()
    request = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **params,
    }
    request = {name: value for name, value in request.items() if value is not None}
    endpoint = provider.discovery()["authorization_endpoint"]
    response = session.get(f"{endpoint}?{urlencode(request)}", allow_redirects=False)
    return follow(session, response), request, verifier


def submit_login(session, page, login, password):
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    response = session.post(
        urljoin(page.url, action),
        data={"login": login, "password": password},
        allow_redirects=False,
    )
    return follow(session, response)


def callback_parameters(response):
    assert response.status_code in (302, 303), response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


def log_in(provider, login, password):
    """A whole flow in a new browser session: (callback parameters, request, code_verifier)."""
    session = requests.Session()
    page, request, verifier = authorize(provider, session)
    return callback_parameters(submit_login(session, page, login, password)), request, verifier


def exchange(provider, code, verifier=None, auth="basic"):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    if verifier is not None:
        data["code_verifier"] = verifier
    options = {"auth": (CLIENT_ID, CLIENT_SECRET)}
    if auth == "post":
        data.update(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        options = {}
    return requests.post(provider.discovery()["token_endpoint"], data=data, timeout=5, **options)


def decode_id_token(provider, token, nonce):
    keys = {key["kid"]: key for key in provider.jwks()["keys"]}
    kid = jwt.get_unverified_header(token)["kid"]
    public_key = jwt.algorithms.RSAAlgorithm.from_jwk(keys[kid])
    claims = jwt.decode(
        token, public_key, algorithms=["RS256"], audience=CLIENT_ID, issuer=provider.issuer
    )
    assert claims["nonce"] == nonce
    return claims


def test_code_flow_with_pkce_gives_the_groups_in_the_id_token_and_userinfo(provider):
    discovery = provider.discovery()
    assert discovery["issuer"] == provider.issuer
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    assert "groups" in discovery["scopes_supported"]
    assert discovery["end_session_endpoint"].startswith(provider.issuer)

    session = requests.Session()
    page, request, verifier = authorize(provider, session)
    assert page.status_code == 200
    assert re.search(r'<input id="login" name="login"', page.text)
    assert re.search(r'<input id="password" name="password" type="password"', page.text)
    assert '<button type="submit">Sign in</button>' in page.text
    assert "Invalid login or password" not in page.text

    wrong = submit_login(session, page, "gordon", "not-the-password")
    assert wrong.status_code == 200
    assert "Invalid login or password" in wrong.text
    assert 'value="gordon"' in wrong.text
    unknown = submit_login(session, wrong, "nobody", "gordon-password-1")
    assert "Invalid login or password" in unknown.text

    parameters = callback_parameters(submit_login(session, unknown, "gordon", "gordon-password-1"))
    assert parameters["state"] == request["state"]
    assert parameters["iss"] == provider.issuer  # RFC 9207

    response = exchange(provider, parameters["code"], verifier)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    claims = decode_id_token(provider, tokens["id_token"], request["nonce"])
    assert claims["sub"] == "gordon"
    assert claims["preferred_username"] == "gordon"
    assert claims["email"] == "gordon@example.org"
    assert claims["email_verified"] is True
    assert claims["groups"] == ["dtr-admins", "frontend"]

    userinfo = requests.get(
        discovery["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=5,
    )
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json()["sub"] == "gordon"
    assert userinfo.json()["groups"] == ["dtr-admins", "frontend"]

    # A code is good once.
    assert exchange(provider, parameters["code"], verifier).json()["error"] == "invalid_grant"

    # The same browser session signs in again without the login page (and without consent).
    again, second, _ = authorize(provider, session)
    assert callback_parameters(again)["state"] == second["state"]


def test_pkce_is_required(provider):
    session = requests.Session()
    refused, _, _ = authorize(provider, session, code_challenge=None, code_challenge_method=None)
    parameters = callback_parameters(refused)
    assert parameters["error"] == "invalid_request"
    assert "requires PKCE" in parameters["error_description"]

    plain, _, _ = authorize(
        provider, session, code_challenge="x" * 43, code_challenge_method="plain"
    )
    parameters = callback_parameters(plain)
    assert parameters["error"] == "invalid_request"
    assert "code_challenge_method" in parameters["error_description"]

    parameters, _, verifier = log_in(provider, "gordon", "gordon-password-1")
    response = exchange(provider, parameters["code"])  # no code_verifier
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"

    parameters, _, verifier = log_in(provider, "gordon", "gordon-password-1")
    wrong_verifier, _ = pkce_pair()
    assert exchange(provider, parameters["code"], wrong_verifier).status_code == 400


def test_groups_changed_between_logins_without_restart(provider):
    parameters, request, verifier = log_in(provider, "gordon", "gordon-password-1")
    tokens = exchange(provider, parameters["code"], verifier).json()
    first = decode_id_token(provider, tokens["id_token"], request["nonce"])
    assert first["groups"] == ["dtr-admins", "frontend"]

    provider.set_user("gordon", "gordon-password-2", groups=["ops"], name="Gordon T.")
    parameters, request, verifier = log_in(provider, "gordon", "gordon-password-2")
    response = exchange(provider, parameters["code"], verifier, auth="post")
    assert response.status_code == 200, response.text
    claims = decode_id_token(provider, response.json()["id_token"], request["nonce"])
    assert claims["groups"] == ["ops"]
    assert claims["name"] == "Gordon T."

    provider.remove_user("gordon")
    session = requests.Session()
    page, _, _ = authorize(provider, session)
    assert (
        "Invalid login or password"
        in submit_login(session, page, "gordon", "gordon-password-2").text
    )


def test_restart_with_rotated_keys(provider):
    parameters, request, verifier = log_in(provider, "gordon", "gordon-password-1")
    old_token = exchange(provider, parameters["code"], verifier).json()["id_token"]
    (old_key,) = provider.jwks()["keys"]
    assert jwt.get_unverified_header(old_token)["kid"] == old_key["kid"]

    provider.restart()
    assert provider.jwks()["keys"] == [old_key]  # kept across a restart
    decode_id_token(provider, old_token, request["nonce"])

    provider.restart(rotate_keys=True)
    (new_key,) = provider.jwks()["keys"]
    assert new_key["kid"] != old_key["kid"]
    assert new_key["n"] != old_key["n"]
    with pytest.raises(KeyError):  # the old key is gone
        decode_id_token(provider, old_token, request["nonce"])

    parameters, request, verifier = log_in(provider, "gordon", "gordon-password-1")
    new_token = exchange(provider, parameters["code"], verifier).json()["id_token"]
    assert jwt.get_unverified_header(new_token)["kid"] == new_key["kid"]
    assert decode_id_token(provider, new_token, request["nonce"])["groups"] == [
        "dtr-admins",
        "frontend",
    ]


def test_rp_initiated_logout(provider):
    session = requests.Session()
    page, request, verifier = authorize(provider, session)
    parameters = callback_parameters(submit_login(session, page, "gordon", "gordon-password-1"))
    id_token = exchange(provider, parameters["code"], verifier).json()["id_token"]

    query = urlencode(
        {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": LOGOUT_REDIRECT_URI,
            "state": "bye",
        }
    )
    confirm = session.get(f"{provider.discovery()['end_session_endpoint']}?{query}")
    assert confirm.status_code == 200
    assert ">Sign out</button>" in confirm.text
    action = re.search(r'<form id="op.logoutForm" method="post" action="([^"]+)"', confirm.text)
    xsrf = re.search(r'name="xsrf" value="([^"]+)"', confirm.text).group(1)
    done = session.post(
        action.group(1), data={"xsrf": xsrf, "logout": "yes"}, allow_redirects=False
    )
    assert done.status_code in (302, 303)
    assert done.headers["Location"] == f"{LOGOUT_REDIRECT_URI}?state=bye"

    # Signed out: the next flow asks for the password again.
    page, _, _ = authorize(provider, session)
    assert page.status_code == 200
    assert "Sign in</button>" in page.text
