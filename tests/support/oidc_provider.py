"""A real OpenID Connect provider for tests: the npm package oidc-provider (package.json,
installed by `npm ci`), run by tests/support/oidc_provider.mjs on a free loopback port over http.

`OidcProvider(folder)` seeds nothing: a test registers its clients (`add_client`, before
`start`) and users (`set_user`, at any time: users.json is read again on every login and token,
so a user's groups can change between two logins without a restart). Its state is in `folder`:
config.json, users.json, keys.json (the RS256 signing key, kept across `restart` unless
`rotate_keys`) and oidc-provider.log (the process's output, one line per request).

What it serves: discovery at {issuer}/.well-known/openid-configuration, the authorization code
flow with PKCE (S256) required, client_secret_basic and client_secret_post, scopes openid,
profile, email and groups (claims sub = preferred_username = the login, name, email,
email_verified, groups), in the ID token as well as at userinfo; RP-initiated logout (its page's
button is "Sign out"). The login page (/interaction/<uid>) is a plain form: inputs `login` and
`password`, a "Sign in" button, "Invalid login or password" after a wrong one; consent is granted
without a page.
"""

import json
import os
from pathlib import Path

import requests

from tests.support.child_server import ChildServer
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "support" / "oidc_provider.mjs"
MODULE = ROOT / "node_modules" / "oidc-provider"
START_TIMEOUT = 20


class OidcProvider(ChildServer):
    """A private OpenID provider: `issuer` is its http://127.0.0.1:<port> URL (also the base of
    every endpoint). Stopped by `stop()` or at the end of a `with` block."""

    def __init__(self, folder: Path, port: int | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.clients: list[dict] = []
        self.users: dict[str, dict] = {}
        self.log_path = self.folder / "oidc-provider.log"
        self._write_users()

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def add_client(self, client_id, client_secret, redirect_uris, post_logout_redirect_uris=()):
        """Registers a confidential client (authorization code flow); takes effect at the next
        start."""
        self.clients.append(
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uris": list(redirect_uris),
                "post_logout_redirect_uris": list(post_logout_redirect_uris),
            }
        )
        return self

    def set_user(self, login, password, groups=(), email=None, name=None, email_verified=True):
        """Adds or replaces a user; in effect at once (at its next login or token)."""
        self.users[login] = {
            "password": password,
            "email": email or f"{login.lower()}@example.org",
            "email_verified": email_verified,
            "name": name or login.title(),
            "groups": list(groups),
        }
        self._write_users()
        return self

    def remove_user(self, login):
        self.users.pop(login, None)
        self._write_users()

    def _write_users(self):
        # Replaced whole (rename), so that the provider never reads a half-written file.
        path = self.folder / "users.json"
        partial = path.with_suffix(".json.tmp")
        partial.write_text(json.dumps(self.users, indent=2))
        os.replace(partial, path)

    def start(self, rotate_keys=False):
        if not MODULE.exists():
            raise RuntimeError(f"{MODULE} is missing: run `npm ci` (make install-dev)")
        config = {"issuer": self.issuer, "clients": self.clients, "rotate": bool(rotate_keys)}
        (self.folder / "config.json").write_text(json.dumps(config, indent=2))
        self.spawn(
            ["node", str(SCRIPT), "--port", str(self.port), "--state", str(self.folder)],
            self.log_path,
            cwd=ROOT,
        )
        return self.wait_until_answering(
            "oidc-provider",
            lambda: requests.get(self.discovery_url, timeout=1).status_code == 200,
            START_TIMEOUT,
            errors=(requests.ConnectionError,),
        )

    def restart(self, rotate_keys=False):
        """Stops and starts again on the same port; sessions and codes (kept in memory) are
        lost, the signing key is kept unless `rotate_keys` (then a new one, another kid)."""
        self.stop()
        return self.start(rotate_keys=rotate_keys)

    def discovery(self) -> dict:
        response = requests.get(self.discovery_url, timeout=5)
        response.raise_for_status()
        return response.json()

    def jwks(self) -> dict:
        """The provider's public keys (its jwks_uri), as JSON."""
        response = requests.get(self.discovery()["jwks_uri"], timeout=5)
        response.raise_for_status()
        return response.json()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()
