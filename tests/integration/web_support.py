"""Helpers of the web portal tests: a freshly migrated instance, a browser-like test client
that logs in through the real login form and sends the CSRF token back, bulk inserts of
tags and repositories (through the models, for speed), and a check of rendered HTML for
anything a browser would run."""

import hashlib
import json
import re
import threading
from html.parser import HTMLParser

import requests
from flask_migrate import upgrade
from sqlalchemy import event

import dtr
from dtr.auth import passwords
from dtr.auth.identity import identity_of
from dtr.database import db
from dtr.models import Account, Blob, Manifest, ManifestReference, Repository, Tag
from dtr.services import credentials, lookup_caches, settings
from dtr.services.accounts import find_account
from dtr.services.license import record_install_date
from dtr.storage import current_storage
from dtr.storage.layout import blob_path
from tests.support.postgres import test_database_url

TOKEN_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def portal_session(base_url, user, password):
    """A requests session logged in to a running DTR's portal through its login form."""
    portal = requests.Session()
    portal.verify = False
    token = TOKEN_FIELD.search(portal.get(f"{base_url}/login").text).group(1)
    login = {"username": user, "password": password, "csrf_token": token}
    assert portal.post(f"{base_url}/login", data=login).status_code == 200
    return portal


def build_app(instance_dir, overrides=None):
    """`dtr.create_app` on a new instance folder (configuration `overrides`), migrated as
    `app.py serve` does."""
    database_url = test_database_url()  # a database of its own on PostgreSQL runs
    if database_url:
        overrides = {"DATABASE_URL": database_url, **(overrides or {})}
    app = dtr.create_app(str(instance_dir), overrides)
    app.config["SESSION_COOKIE_SECURE"] = False  # the test client speaks plain HTTP
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        record_install_date()
    return app


def reset_process_state():
    """Forget what the process remembers across apps and tests: cached settings, password
    checks, credentials and lookups (several apps live in one test process)."""
    settings._cache.drop_all()
    passwords.forget_all_checks()
    credentials.forget_cached()
    for cache in (lookup_caches.repositories, lookup_caches.manifests, lookup_caches.blob_links):
        cache.clear()


def identity(name):
    """The identity of an account, as services take it (call inside an app context)."""
    return identity_of(find_account(name))


def token_in(html):
    found = TOKEN_FIELD.search(html)
    assert found, "no csrf_token field in the page"
    return found.group(1)


class Browser:
    """A test client that behaves like a person's browser: logs in with the form and sends
    the page's CSRF token with each form it posts."""

    def __init__(self, app, first_page="/login"):
        self.app = app
        self.client = app.test_client()
        self.token = None
        self.read_token(first_page)

    def read_token(self, path="/login"):
        self.token = token_in(self.client.get(path).text)
        return self.token

    def get(self, path, htmx=False, headers=None):
        headers = dict(headers or {})
        if htmx:
            headers["HX-Request"] = "true"
        return self.client.get(path, headers=headers)

    def post(self, path, data=None, csrf=True, headers=None, **kwargs):
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.token)
        return self.client.post(path, data=data, headers=headers or {}, **kwargs)

    def login(self, name, password, next_page=None):
        """Log in through the form; on success, read the new session's token."""
        self.read_token()
        form = {"username": name, "password": password}
        if next_page is not None:
            form["next"] = next_page
        response = self.post("/login", form)
        if response.status_code == 303:
            self.read_token("/repositories")
        return response

    def logout(self):
        return self.post("/logout")

    @property
    def session_cookie(self):
        cookie = self.client.get_cookie(self.app.config["SESSION_COOKIE_NAME"])
        return cookie.value if cookie else None


def statements_of(app, call):
    """(call's result, the SQL statements it ran on this thread: the log shipper's and other
    background threads' writes are not the page's)."""
    seen, thread = [], threading.get_ident()

    def count(*_):
        if threading.get_ident() == thread:
            seen.append(1)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        return call(), len(seen)
    finally:
        event.remove(engine, "before_cursor_execute", count)


# --- bulk content ---------------------------------------------------------------------------


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def store_config_blob(platform=("linux", "amd64")) -> str:
    """An image config blob on storage (the repository page reads platforms from it)."""
    data = json.dumps({"os": platform[0], "architecture": platform[1]}).encode()
    digest = _digest(data)
    if db.session.get(Blob, digest) is None:
        writer = current_storage().writer(blob_path(digest))
        writer.write(data)
        writer.commit()
        db.session.add(Blob(digest=digest, size=len(data)))
        db.session.commit()
    return digest


def insert_tags(full_name, tag_names, pushed_by="admin"):
    """One image manifest (a shared config, a layer of its own) per tag, straight into the
    database: thousands in a second, where pushing them would take minutes."""
    namespace, name = full_name.split("/")
    repository = db.session.execute(
        db.select(Repository)
        .join(Account, Repository.namespace_id == Account.id)
        .where(Account.name == namespace, Repository.name == name)
    ).scalar_one()
    config = store_config_blob()
    for tag_name in tag_names:
        layer = _digest(f"{full_name}:{tag_name}".encode())
        payload = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config, "size": 40},
                "layers": [{"mediaType": OCI_LAYER, "digest": layer, "size": 1000}],
            }
        ).encode()
        manifest = Manifest(
            repository_id=repository.id,
            digest=_digest(payload),
            media_type=OCI_MANIFEST,
            size=len(payload),
            payload=payload,
            pushed_by=pushed_by,
        )
        db.session.add(manifest)
        db.session.add(Blob(digest=layer, size=1000))
        db.session.flush()
        db.session.add(ManifestReference(manifest_id=manifest.id, digest=config, kind="blob"))
        db.session.add(ManifestReference(manifest_id=manifest.id, digest=layer, kind="blob"))
        db.session.add(
            Tag(
                repository_id=repository.id,
                name=tag_name,
                manifest_id=manifest.id,
                pushed_by=pushed_by,
            )
        )
    db.session.commit()


def insert_repositories(namespace, count, visibility="private"):
    """`count` repositories named r0000... in an existing namespace, through the models."""
    account = find_account(namespace)
    db.session.add_all(
        Repository(
            namespace_id=account.id,
            name=f"r{number:04d}",
            visibility=visibility,
            short_description=f"repository number {number}",
        )
        for number in range(count)
    )
    db.session.commit()


# --- what a browser would run ---------------------------------------------------------------


class _ActiveContent(HTMLParser):
    URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and not attributes.get("src"):
            self.found.append(f"an inline <script> ({self.getpos()})")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}={value!r}>")
            scheme = re.sub(r"[\s\x00-\x1f]", "", value or "").lower()
            if name in self.URL_ATTRIBUTES and scheme.startswith(("javascript:", "vbscript:")):
                self.found.append(f"<{tag} {name}={value!r}>")


def active_content(html) -> list[str]:
    """What in a page a browser would run: inline scripts, on* handler attributes,
    javascript: URLs. The portal has none of its own, so any is an injection."""
    parser = _ActiveContent()
    parser.feed(html)
    parser.close()
    return parser.found
