"""Properties of tag paging, `GET /v2/<name>/tags/list?n=&last=` (dtr/registry/manifests.py),
over a real application (a public repository with TAGS, read through Flask's test client):
any `n` and `last` a client can send give 400 or the page the distribution spec describes
(the tags after `last` in lexical order, at most `n` (capped at MAX_PAGE), a `Link` to the
next page exactly when there is one), never a 500; following the links walks every tag once,
in order."""

import re
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dtr import create_app
from dtr.database import db
from dtr.models import Account, Manifest, Repository, Tag
from dtr.services.settings import set_setting

MAX_PAGE = 10000
REPOSITORY = "fuzz/tags"
# Tags in every corner of the grammar: cases, digits, separators, the longest.
TAGS = sorted(
    {
        *(f"v{i}" for i in range(25)),
        *(f"1.{i}.0" for i in range(12)),
        "latest",
        "Latest",
        "LATEST",
        "_",
        "_x",
        "0",
        "9",
        "a-b",
        "a.b",
        "a_b",
        "a" * 128,
        "Z" * 127 + "z",
    }
)
tags_and_near = st.sampled_from(TAGS) | st.sampled_from(TAGS).map(lambda t: t[:-1] or "a")
lasts = st.none() | tags_and_near | st.text(max_size=12)
ns = (
    st.none()
    | st.integers(min_value=0, max_value=60).map(str)
    | st.integers(min_value=0, max_value=10**30).map(str)
    | st.sampled_from(["-1", "+3", "1.5", "", " 2", "2 ", "0x10", "\u0663", "\u00b2", "0003"])
    | st.text(max_size=6)
)


@pytest.fixture(scope="module")
def fetch(tmp_path_factory):
    """GET a URL of the application as an anonymous client (with its token)."""
    app = create_app(tmp_path_factory.mktemp("tag-paging") / "instance")
    with app.app_context():
        db.create_all()
        namespace = Account(name="fuzz", role="none")
        db.session.add(namespace)
        db.session.flush()
        repository = Repository(namespace_id=namespace.id, name="tags", visibility="public")
        db.session.add(repository)
        db.session.flush()
        manifest = Manifest(
            repository_id=repository.id,
            digest="sha256:" + "0" * 64,
            media_type="application/vnd.oci.image.manifest.v1+json",
            size=2,
            payload=b"{}",
        )
        db.session.add(manifest)
        db.session.flush()
        db.session.add_all(
            Tag(repository_id=repository.id, name=name, manifest_id=manifest.id) for name in TAGS
        )
        # The auth mode None lets nothing through: any mode with a public repository will do.
        set_setting("auth_mode", "managed", commit=False)
        db.session.commit()
    client = app.test_client()
    token = client.get(f"/auth/token?service=dtr&scope=repository:{REPOSITORY}:pull").json
    authorization = {"Authorization": f"Bearer {token['token']}"}  # anonymous: public pulls
    return lambda url: client.get(url, headers=authorization)


def list_tags(fetch, n=None, last=None):
    query = "&".join(
        f"{key}={quote(value, safe='')}"
        for key, value in (("n", n), ("last", last))
        if value is not None
    )
    return fetch(f"/v2/{REPOSITORY}/tags/list" + (f"?{query}" if query else ""))


def expected_page(n, last):
    after = [tag for tag in TAGS if not last or tag > last]
    return after if n is None else after[: min(int(n), MAX_PAGE)]


@given(ns, lasts)
@example("0003", None)
@example("000001", None)
@example("0", "latest")
@example(str(10**30), None)
@example("2", "\x00")
def test_any_page_request_is_answered_as_the_spec_says(fetch, n, last):
    response = list_tags(fetch, n, last)
    assert response.status_code in (200, 400), (n, last, response.status_code)
    decimal = n is None or re.fullmatch("[0-9]+", n, re.ASCII)
    if last is not None and "\x00" in last:  # no name holds NUL (PostgreSQL cannot store it)
        assert response.status_code == 400, (n, last, response.status_code)
        assert "NUL (U+0000) is not allowed" in response.json["errors"][0]["message"]
        return
    if response.status_code == 400:
        assert not decimal, f"n={n!r} is a number"
        assert response.json["errors"], response.data
        return
    assert decimal or n.isdecimal(), f"n={n!r} accepted"  # other scripts' digits: tolerated
    body = response.json
    assert body["name"] == REPOSITORY
    assert body["tags"] == expected_page(n if decimal else str(int(n)), last)
    remaining = [tag for tag in TAGS if not last or tag > last]
    more = bool(body["tags"]) and len(body["tags"]) < len(remaining)  # n=0: nothing to follow
    assert ("Link" in response.headers) == more, (n, last, response.headers.get("Link"))


@given(st.integers(min_value=1, max_value=len(TAGS) + 2))
def test_following_the_links_walks_every_tag_once_in_order(fetch, n):
    seen = []
    response = list_tags(fetch, str(n))
    for _ in range(len(TAGS) + 2):
        assert response.status_code == 200
        page = response.json["tags"]
        assert 0 < len(page) <= n or (not page and not seen)
        seen += page
        link = response.headers.get("Link")
        if not link:
            break
        url = re.fullmatch(r'<([^>]+)>; rel="next"', link)[1]
        parts = urlsplit(url)
        assert parts.path == f"/v2/{REPOSITORY}/tags/list"
        query = parse_qs(parts.query, keep_blank_values=True)
        assert query["n"] == [str(n)] and query["last"] == [page[-1]]
        response = fetch(url)
    assert seen == TAGS
