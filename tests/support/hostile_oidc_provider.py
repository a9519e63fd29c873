"""A small but real OpenID Connect provider over HTTP that can hand out BAD ID tokens.

For tests in which DTR, as an OIDC relying party, must receive what an attacker on the network
or a misbehaving provider would send: a wrong audience, issuer or nonce, an expired token, a
tampered payload, `alg: none`, the HS256/RS256 algorithm-confusion attack, a key that is not
in the JWKS, a key rotated under it, a forged `state`, a provider that is down. It speaks the
authorization code flow with PKCE (S256) on 127.0.0.1 (stdlib `ThreadingHTTPServer` in a
daemon thread), so the code under test talks to it over real HTTP:

- `/.well-known/openid-configuration`: discovery.
- `/jwks`: the published signing keys (RS256).
- `/authorize` (GET): checks the request, remembers nonce, PKCE challenge and redirect_uri for
  a fresh single-use code and answers 302 to `redirect_uri?code=...&state=...`.
- `/token` (POST): client_secret_basic or client_secret_post, PKCE S256 check, one use per
  code; answers an access token and an ID token built from `user`, `claims` and `signing`.
- `/userinfo`: the Bearer access token from /token, answers `userinfo` (default: `user`).
- `/logout`: a 200 page.

What the next token response carries is set on the provider (`claims`, `user`, `signing`,
`tamper`, `userinfo`, `state_override`, `down`) and put back to its defaults by `reset()`.

    with HostileOidcProvider() as idp:
        idp.signing = "hs256-public-key"
        ... log in to DTR with issuer idp.issuer, client idp.client_id / idp.client_secret ...
"""

import base64
import copy
import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.support.server import free_port

SIGNING_MODES = ("good", "tampered", "none", "hs256-public-key", "unknown-key", "unpublished-kid")
DEFAULT_USER = {
    "sub": "eve",
    "preferred_username": "eve",
    "email": "eve@example.org",
    "email_verified": True,
    "groups": ["devs"],
}
DEFAULT_TAMPER = {"groups": ["admins"]}
TOKEN_LIFETIME = 300  # seconds, for ID tokens and access tokens
CODE_LIFETIME = 600  # seconds an authorization code may wait for its exchange


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value):
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def pkce_s256(verifier):
    """The S256 code_challenge of a code_verifier (RFC 7636 section 4.2)."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


class SigningKey:
    """An RSA key pair with its kid."""

    def __init__(self):
        self.kid = secrets.token_hex(8)
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_key = self.private_key.public_key()
        self.public_pem = self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(self):
        return {
            **RSAAlgorithm.to_jwk(self.public_key, as_dict=True),
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
        }


class HostileOidcProvider:
    def __init__(self, client_id="dtr", client_secret="dtr-secret"):
        self.client_id = client_id
        self.client_secret = client_secret
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._server = None
        self._thread = None
        self._connections = set()  # open client sockets, closed by stop() (keep-alive too)
        self.key = SigningKey()  # what "good" signs with; in the JWKS
        self.unknown_key = SigningKey()  # "unknown-key": never in the JWKS
        self.next_key = SigningKey()  # "unpublished-kid": in the JWKS after publish_next_key()
        self._published = [self.key]
        self._codes = {}  # code: what /authorize remembered for it
        self._access_tokens = {}  # access token: expiry (epoch seconds)
        self.requests = []
        self.last_authorize_params = {}
        self.last_logout_params = {}
        self.reset()

    # --- what the next responses carry -------------------------------------------------------

    def reset(self):
        """Put back the defaults of what the provider answers, and clear its request log.
        Keys (rotated or published) stay as they are."""
        with self._lock:
            self.claims = {}
            self.user = copy.deepcopy(DEFAULT_USER)
            self.signing = "good"
            self.tamper = copy.deepcopy(DEFAULT_TAMPER)
            self.userinfo = None
            self.state_override = None
            self.down = False
            self.requests = []
            self.last_authorize_params = {}
            self.last_logout_params = {}

    def rotate_key(self):
        """A new signing key with a new kid; the JWKS now serves ONLY the new key. A fresh,
        unpublished next key is made too."""
        with self._lock:
            self.key = SigningKey()
            self.next_key = SigningKey()
            self._published = [self.key]

    def publish_next_key(self):
        """Add the "unpublished-kid" key to the JWKS (beside the current key). Tokens signed in
        that mode, before and after, then verify; "good" keeps signing with `key`."""
        with self._lock:
            if self.next_key not in self._published:
                self._published.append(self.next_key)

    @property
    def jwks(self):
        with self._lock:
            return {"keys": [key.jwk() for key in self._published]}

    @property
    def jwks_fetches(self):
        """GET /jwks requests received (since the last reset())."""
        with self._lock:
            return sum(1 for entry in self.requests if entry == ("GET", "/jwks"))

    @property
    def discovery(self):
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo",
            "jwks_uri": f"{base}/jwks",
            "end_session_endpoint": f"{base}/logout",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "profile", "email", "groups"],
            "claims_supported": [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "preferred_username",
                "email",
                "email_verified",
                "groups",
            ],
        }

    # --- ID tokens ---------------------------------------------------------------------------

    def id_token_claims(self, nonce=None, auth_time=None):
        """The payload of the next ID token: defaults, the user's claims, then `claims`
        (a value of None removes the claim)."""
        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "aud": self.client_id,
            "exp": now + TOKEN_LIFETIME,
            "iat": now,
            "auth_time": auth_time if auth_time is not None else now,
        }
        if nonce is not None:
            payload["nonce"] = nonce
        payload.update(copy.deepcopy(self.user))
        for name, value in self.claims.items():
            if value is None:
                payload.pop(name, None)
            else:
                payload[name] = copy.deepcopy(value)
        return payload

    def make_id_token(self, nonce=None, auth_time=None):
        """An ID token signed as `signing` says."""
        payload = self.id_token_claims(nonce, auth_time)
        mode = self.signing
        if mode == "good":
            return self._rs256(payload, self.key)
        if mode == "tampered":
            header, _, signature = self._rs256(payload, self.key).split(".")
            return ".".join([header, b64url_json({**payload, **self.tamper}), signature])
        if mode == "none":
            header = {"alg": "none", "typ": "JWT", "kid": self.key.kid}
            return f"{b64url_json(header)}.{b64url_json(payload)}."
        if mode == "hs256-public-key":
            # Algorithm confusion: a verifier that takes the algorithm from the header and the
            # key by kid would check an HMAC keyed with the published public key's PEM.
            header = {"alg": "HS256", "typ": "JWT", "kid": self.key.kid}
            signing_input = f"{b64url_json(header)}.{b64url_json(payload)}"
            mac = hmac.new(self.key.public_pem, signing_input.encode("ascii"), hashlib.sha256)
            return f"{signing_input}.{b64url(mac.digest())}"
        if mode == "unknown-key":
            return self._rs256(payload, self.unknown_key)
        if mode == "unpublished-kid":
            return self._rs256(payload, self.next_key)
        raise ValueError(f"unknown signing mode {mode!r}; one of {SIGNING_MODES}")

    @staticmethod
    def _rs256(payload, key):
        return jwt.encode(
            payload, key.private_key, algorithm="RS256", headers={"kid": key.kid, "typ": "JWT"}
        )

    # --- server ------------------------------------------------------------------------------

    def start(self):
        """Listen on 127.0.0.1:port (the same port again after stop())."""
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler_class())
            self._server.daemon_threads = True
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="hostile-oidc",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self):
        """Close the listening socket and every open connection (kept-alive ones too): the
        provider is unreachable until start()."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            with self._lock:
                connections, self._connections = list(self._connections), set()
            for connection in connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._thread.join(5)
            self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def _handler_class(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with provider._lock:
                    provider._connections.add(self.connection)

            def finish(self):
                with provider._lock:
                    provider._connections.discard(self.connection)
                super().finish()

            def log_message(self, format, *args):
                pass

            def do_GET(self):
                provider._dispatch(self, "GET")

            def do_POST(self):
                provider._dispatch(self, "POST")

            def do_HEAD(self):
                provider._dispatch(self, "HEAD")

            def do_PUT(self):
                provider._dispatch(self, "PUT")

            def do_DELETE(self):
                provider._dispatch(self, "DELETE")

        return Handler

    def _dispatch(self, handler, method):
        parts = urlsplit(handler.path)
        path = parts.path
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            self.requests.append((method, path))
            down = self.down
        if down:
            return self._send_json(handler, 503, {"error": "temporarily_unavailable"})
        routes = {
            "/.well-known/openid-configuration": ("GET", self._discovery),
            "/jwks": ("GET", self._jwks),
            "/authorize": ("GET", self._authorize),
            "/token": ("POST", self._token),
            "/userinfo": (("GET", "POST"), self._userinfo),
            "/logout": (("GET", "POST"), self._logout),
        }
        if path not in routes:
            return self._send(handler, 404, b"not found\n", "text/plain")
        allowed, route = routes[path]
        if method not in allowed:
            return self._send(
                handler,
                405,
                b"method not allowed\n",
                "text/plain",
                {"Allow": allowed if isinstance(allowed, str) else ", ".join(allowed)},
            )
        form = {}
        if method == "POST" and "x-www-form-urlencoded" in handler.headers.get("Content-Type", ""):
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return route(handler, query, form)

    @staticmethod
    def _send(handler, status, body, content_type, headers=None):
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)

    def _send_json(self, handler, status, value, headers=None):
        self._send(handler, status, json.dumps(value).encode(), "application/json", headers or {})

    # --- endpoints ---------------------------------------------------------------------------

    def _discovery(self, handler, query, form):
        self._send_json(handler, 200, self.discovery)

    def _jwks(self, handler, query, form):
        self._send_json(handler, 200, self.jwks)

    def _authorize(self, handler, query, form):
        with self._lock:
            self.last_authorize_params = dict(query)
        redirect_uri = query.get("redirect_uri")
        if query.get("client_id") != self.client_id or not redirect_uri:
            # RFC 6749 4.1.2.1: never redirect to an unverified redirect_uri.
            return self._send(handler, 400, b"invalid client_id or redirect_uri\n", "text/plain")
        state = query.get("state")
        error = None
        if query.get("response_type") != "code":
            error = "unsupported_response_type"
        elif "openid" not in query.get("scope", "").split():
            error = "invalid_scope"
        elif not query.get("code_challenge") or query.get("code_challenge_method") != "S256":
            error = "invalid_request"  # RFC 7636 4.4.1
        if error:
            return self._redirect(handler, redirect_uri, {"error": error, "state": state})
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = {
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "code_challenge": query["code_challenge"],
                "nonce": query.get("nonce"),
                "auth_time": int(time.time()),
                "expires": time.time() + CODE_LIFETIME,
            }
            if self.state_override is not None:
                state = self.state_override
        self._redirect(handler, redirect_uri, {"code": code, "state": state})

    def _redirect(self, handler, redirect_uri, params):
        parts = urlsplit(redirect_uri)
        extra = urlencode({name: value for name, value in params.items() if value is not None})
        query = f"{parts.query}&{extra}" if parts.query else extra
        location = urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
        self._send(handler, 302, b"", "text/plain", {"Location": location})

    def _client_authenticated(self, handler, form):
        """Whether the client authenticated, by HTTP Basic (RFC 6749 2.3.1: id and secret
        form-urlencoded before base64) or else by client_secret_post."""
        authorization = handler.headers.get("Authorization", "")
        if authorization[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
                client_id, secret = decoded.split(":", 1)
            except ValueError:
                return False
            return unquote_plus(client_id) == self.client_id and hmac.compare_digest(
                unquote_plus(secret).encode(), self.client_secret.encode()
            )
        if "client_secret" in form:
            return form.get("client_id") == self.client_id and hmac.compare_digest(
                form["client_secret"].encode(), self.client_secret.encode()
            )
        return False

    def _token(self, handler, query, form):
        no_store = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        if not self._client_authenticated(handler, form):
            return self._send_json(
                handler,
                401,
                {"error": "invalid_client"},
                {**no_store, "WWW-Authenticate": 'Basic realm="token"'},
            )
        if form.get("grant_type") != "authorization_code":
            return self._send_json(handler, 400, {"error": "unsupported_grant_type"}, no_store)
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # single use, whatever follows
        verifier = form.get("code_verifier", "")
        if (
            grant is None
            or grant["expires"] < time.time()
            or grant["client_id"] != self.client_id
            or form.get("redirect_uri") != grant["redirect_uri"]
            or not 43 <= len(verifier) <= 128
            or not hmac.compare_digest(pkce_s256(verifier), grant["code_challenge"])
        ):
            return self._send_json(handler, 400, {"error": "invalid_grant"}, no_store)
        access_token = secrets.token_urlsafe(32)
        with self._lock:
            self._access_tokens[access_token] = time.time() + TOKEN_LIFETIME
            try:
                id_token = self.make_id_token(grant["nonce"], grant["auth_time"])
            except ValueError as error:  # a test's typo in `signing`: say so, loudly
                return self._send_json(
                    handler, 500, {"error": "server_error", "detail": str(error)}
                )
        self._send_json(
            handler,
            200,
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME,
                "id_token": id_token,
            },
            no_store,
        )

    def _userinfo(self, handler, query, form):
        authorization = handler.headers.get("Authorization", "")
        token = authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""
        with self._lock:
            expires = self._access_tokens.get(token)
            answer = copy.deepcopy(self.userinfo if self.userinfo is not None else self.user)
        if not token or expires is None or expires < time.time():
            return self._send_json(
                handler,
                401,
                {"error": "invalid_token"},
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        self._send_json(handler, 200, answer)

    def _logout(self, handler, query, form):
        with self._lock:
            self.last_logout_params = {**query, **form}
        page = b"<!doctype html><title>Signed out</title><p>You are signed out.</p>\n"
        self._send(handler, 200, page, "text/html; charset=utf-8")
