"""User menu > Account, the narrow top navigation, the favicon, the team page's members and
repositories, Settings > Auth's layout: in a browser at 1280 px and 390 px, on DTR over HTTPS.

One's own password is changed on the Account page (each refusal beside the field it is
about; afterwards this browser stays logged in, another one is logged out, the new password
works); at 390 px the top navigation takes two lines at most and no page scrolls sideways,
the team page's Revoke buttons stay on the screen; pages load no missing icon; the members
table says "Global role"; the member search lists candidates before anything is typed, never
those already members, narrows as one types and adds; Settings > Auth lists the users before
the LDAP form, its None mode's hint clear of the label."""

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.support.server import USERS, DTRProcess

pytestmark = pytest.mark.ui

ADMIN = ("admin", USERS["admin"][0])
WIDTHS = [1280, 390]
LONG_REPOSITORY = "a-rather-long-repository-name-for-narrow-screens"
EXTRA_USERS = ("albert", "alice", "bob", "carol")  # candidates of the member search
PASSWORD = "extra-password-1"
PAGES = {  # the pages whose layout is checked at both widths
    "repositories": "/repositories",
    "team": "/organizations/acme/teams/devs",
    "settings-auth": "/settings/auth",
}
WIDER_THAN_THE_WINDOW = """() => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .slice(0, 5)
    .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""
# The lines the top navigation's items (DTR, the menu's links, the user menu) take: an item
# starts a new line when it begins below the bottom of the line so far.
NAVIGATION_LINES = """() => {
    const items = [...document.querySelectorAll('.topbar nav > ul > li')]
        .filter(item => item.getClientRects().length)
        .map(item => item.getBoundingClientRect())
        .sort((a, b) => a.top - b.top);
    const lines = [];
    for (const box of items) {
        const line = lines[lines.length - 1];
        if (!line || box.top >= line.bottom - 2) lines.push({top: box.top, bottom: box.bottom});
        else line.bottom = Math.max(line.bottom, box.bottom);
    }
    const header = document.querySelector('.topbar').getBoundingClientRect();
    return {items: items.length, lines: lines.length, header: header.height,
            tallest: Math.max(...items.map(box => box.height))};
}"""
# The boxes of the words `texts` inside `selector` (each a list of its line boxes), and the
# box of the element `inner` there.
TEXT_BOXES = """([selector, texts, inner]) => {
    const root = document.querySelector(selector);
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const found = {};
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        for (const text of texts) {
            const at = node.data.indexOf(text);
            if (at < 0 || found[text]) continue;
            const range = document.createRange();
            range.setStart(node, at);
            range.setEnd(node, at + text.length);
            found[text] = [...range.getClientRects()].map(r => [r.left, r.top, r.right, r.bottom]);
        }
    }
    const box = root.querySelector(inner).getBoundingClientRect();
    found[inner] = [[box.left, box.top, box.right, box.bottom]];
    return found;
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = DTRProcess(tmp_path_factory.mktemp("account-ui") / "instance", http=False)
    process.create_users()
    process.start()
    calls = [
        ("POST", "/accounts", {"type": "organization", "name": "acme"}),
        ("POST", "/accounts/acme/teams", {"name": "devs"}),
        ("PUT", "/accounts/acme/teams/devs/members/writer", None),
    ]
    calls += [
        ("POST", "/accounts", {"type": "user", "name": name, "password": PASSWORD})
        for name in EXTRA_USERS
    ]
    for name in ("app", LONG_REPOSITORY):
        calls.append(("POST", "/repositories/acme", {"name": name}))
    for method, path, body in calls:
        response = api(process, method, path, body)
        assert response.status_code == 201, (path, response.text)
    yield process
    process.stop()


def api(server, method, path, body=None, auth=ADMIN):
    return requests.request(
        method, f"{server.url}/api/v0{path}", json=body, auth=auth, verify=False, timeout=30
    )


def grant(server, repository, team="devs", level="read-write"):
    response = api(
        server,
        "PUT",
        f"/repositories/acme/{repository}/teamAccess/{team}",
        {"accessLevel": level},
    )
    assert response.status_code == 200, response.text


@pytest.fixture(params=WIDTHS, ids=[f"{width}px" for width in WIDTHS])
def width(request, page):
    page.set_viewport_size({"width": request.param, "height": 900})
    return request.param


def log_in(page, server, name, password):
    page.goto(f"{server.url}/login")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/repositories$"))


def htmx_ready(page, selector):
    """htmx has processed the element (after a boosted navigation or a swap it attaches its
    handlers a moment later)."""
    page.wait_for_function(
        "s => { const e = document.querySelector(s); return e && e['htmx-internal-data']; }",
        arg=selector,
    )


def fits(page):
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, (
        f"{page.url}: {overflow}px too wide: {page.evaluate(WIDER_THAN_THE_WINDOW)}"
    )


def overlaps(a, b, slack=0.5):
    """Two boxes [left, top, right, bottom] share some area."""
    return (
        a[0] < b[2] - slack and b[0] < a[2] - slack and a[1] < b[3] - slack and b[1] < a[3] - slack
    )


def uncovered(page, locator):
    """A click at the element's centre reaches it (nothing lies over it)."""
    return locator.evaluate(
        """e => { const r = e.getBoundingClientRect();
                  const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
                  return hit === e || e.contains(hit); }"""
    )


# --- User menu > Account ----------------------------------------------------------------------


def beside(page, field, text):
    """The message `text` is shown right under the field `field` of the password form, which
    is marked invalid and described by it; both are on the screen."""
    message = page.locator(f"#change-password-{field}-error")
    expect(message).to_be_visible()
    expect(message).to_contain_text(text)
    expect(message).to_be_in_viewport()
    field_input = page.locator(f"#change-password [name='{field}']")
    expect(field_input).to_be_in_viewport()
    expect(field_input).to_have_attribute("aria-invalid", "true")
    assert f"change-password-{field}-error" in field_input.get_attribute("aria-describedby")
    assert page.locator(".field-error").count() == 1  # only this message
    under, shown = field_input.bounding_box(), message.bounding_box()
    assert 0 <= shown["y"] - (under["y"] + under["height"]) < 40, (under, shown)
    htmx_ready(page, "#change-password")  # the swapped form is ready for the next try


def change_password(page, current, new, again):
    form = page.locator("#change-password")
    form.locator("[name=oldPassword]").fill(current)
    form.locator("[name=newPassword]").fill(new)
    form.locator("[name=confirm]").fill(again)
    form.get_by_role("button", name="Change password").click()


def test_changing_ones_own_password(server, browser, page, width):
    name, old, new = f"pat{width}", "old-password-123", "new-password-456"
    created = api(server, "POST", "/accounts", {"type": "user", "name": name, "password": old})
    assert created.status_code == 201, created.text
    elsewhere = browser.new_context(ignore_https_errors=True)  # another browser, same person
    try:
        other = elsewhere.new_page()
        log_in(other, server, name, old)
        log_in(page, server, name, old)

        page.locator(".user-menu summary").click()
        page.locator(".user-menu").get_by_role("link", name="Account").click()
        page.wait_for_url(re.compile(r"/account$"))
        expect(page.get_by_role("heading", name="Your account")).to_be_visible()
        htmx_ready(page, "#change-password")
        tokens = page.locator("main a", has_text="Manage access tokens")  # a button's look
        expect(tokens).to_be_visible()
        assert tokens.get_attribute("href").endswith("/access-tokens")
        new_input = page.locator("#change-password [name=newPassword]")
        assert new_input.get_attribute("minlength") == "12"  # the browser checks it first
        expect(page.get_by_text("At least 12 characters.")).to_be_visible()

        change_password(page, "not-my-password-1", new, new)
        beside(page, "oldPassword", "This is not your current password.")
        change_password(page, old, new, new + "x")
        beside(page, "confirm", "The two new passwords differ")
        # a password shorter than the rule, from a page that did not check it (the rule
        # raised since it loaded, an old page): the server says why
        page.evaluate(
            """() => document.querySelectorAll('#change-password [minlength]')
                .forEach(e => e.removeAttribute('minlength'))"""
        )
        change_password(page, old, "short-1", "short-1")
        beside(page, "newPassword", "oo short (7 characters): at least 12 characters")
        expect(page.get_by_text("Password changed")).to_have_count(0)

        change_password(page, old, new, new)
        done = page.locator(".flash.success")
        expect(done).to_contain_text("Password changed.")
        expect(done).to_be_visible()
        expect(page.locator(".field-error")).to_have_count(0)
        # this browser is still logged in; the other one is logged out
        page.goto(f"{server.url}/repositories")
        assert page.url.endswith("/repositories")
        expect(page.locator(".user-menu summary")).to_contain_text(name)
        other.goto(f"{server.url}/repositories")
        other.wait_for_url(re.compile(r"/login"))
        expect(other.get_by_role("button", name="Log in")).to_be_visible()
    finally:
        elsewhere.close()

    fresh = browser.new_context(ignore_https_errors=True)
    try:
        log_in(fresh.new_page(), server, name, new)  # the new password logs in
    finally:
        fresh.close()
    v2 = f"{server.url}/v2/"
    assert requests.get(v2, auth=(name, new), verify=False, timeout=30).status_code == 200
    assert requests.get(v2, auth=(name, old), verify=False, timeout=30).status_code == 401


# --- the top navigation, and nothing wider than the window ---------------------------------------


def test_top_navigation_lines_and_no_sideways_scrolling(server, page, width):
    grant(server, "app")
    grant(server, LONG_REPOSITORY)
    log_in(page, server, *ADMIN)
    for name, path in PAGES.items():
        page.goto(f"{server.url}{path}")
        expect(page.locator("main h1, main h2").first).to_be_visible()
        nav = page.evaluate(NAVIGATION_LINES)
        assert nav["items"] == 5, nav  # DTR, Repositories, Organizations, Settings, the user
        if width > 700:
            assert nav["lines"] == 1, (name, nav)
        else:
            assert nav["lines"] <= 2, (name, nav)
            assert nav["header"] <= 2 * nav["tallest"] + 24, (name, nav)  # no third line
        fits(page)
        expect(page.locator(".user-menu summary")).to_be_in_viewport()


def test_a_teams_revoke_button_is_on_the_narrow_screen(server, page):
    page.set_viewport_size({"width": 390, "height": 900})
    grant(server, "app")
    grant(server, LONG_REPOSITORY)
    log_in(page, server, *ADMIN)
    page.goto(f"{server.url}/organizations/acme/teams/devs")
    htmx_ready(page, "#add-member-name")
    table = page.locator("table.team-repositories")
    for repository in (LONG_REPOSITORY, "app"):
        button = page.get_by_role("button", name=f"Revoke access to acme/{repository}")
        expect(button).to_be_visible()
        box = button.bounding_box()  # where it is without scrolling the table sideways
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (repository, box)
        page.evaluate("y => window.scrollBy(0, y)", box["y"] - 300)  # the page, downwards
        assert uncovered(page, button), repository
        assert table.evaluate("t => t.scrollLeft") == 0
    fits(page)
    page.get_by_role("button", name=f"Revoke access to acme/{LONG_REPOSITORY}").click()
    expect(page.get_by_text(f"Access to acme/{LONG_REPOSITORY} revoked.")).to_be_visible()
    rows = page.locator("table.team-repositories tbody")
    expect(rows).not_to_contain_text(LONG_REPOSITORY)
    expect(rows).to_contain_text("acme/app")
    response = api(server, "GET", "/accounts/acme/teams/devs/repositoryAccess")
    assert LONG_REPOSITORY not in response.text and "app" in response.text


# --- the favicon ------------------------------------------------------------------------------


def test_pages_load_their_icon_and_favicon_ico_is_an_image(server, page):
    responses = []
    page.on("response", lambda response: responses.append((response.status, response.url)))
    page.goto(f"{server.url}/login")
    log_in(page, server, *ADMIN)
    page.goto(f"{server.url}/settings/auth")
    icons = [(status, url) for status, url in responses if "favicon" in url]
    assert icons, responses  # the pages name their icon, and the browser loads it
    assert all(status == 200 for status, _ in icons), icons
    missing = [(status, url) for status, url in responses if status == 404]
    assert not missing, missing

    page.goto(f"{server.url}/repositories")
    href = page.locator("link[rel=icon]").get_attribute("href")
    svg = page.request.get(f"{server.url}{href}")
    assert svg.status == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.body()
    ico = page.request.get(f"{server.url}/favicon.ico")
    assert ico.status == 200, ico.status
    assert ico.headers["content-type"].startswith("image/")
    assert ico.body().startswith(b"\x89PNG\r\n\x1a\n")
    anonymous = requests.get(f"{server.url}/favicon.ico", verify=False, timeout=30)
    assert anonymous.status_code == 200 and anonymous.content == ico.body()


# --- the team page's members ------------------------------------------------------------------


def candidates(page):
    """The names the member search offers to add."""
    return [text.split()[0] for text in page.locator("#user-results li > span").all_inner_texts()]


def test_team_members_search_and_add(server, page, width):
    team = f"search{width}"
    created = api(server, "POST", "/accounts/acme/teams", {"name": team})
    assert created.status_code == 201, created.text
    added = api(server, "PUT", f"/accounts/acme/teams/{team}/members/writer")
    assert added.status_code == 201, added.text
    log_in(page, server, *ADMIN)
    page.goto(f"{server.url}/organizations/acme/teams/{team}")
    htmx_ready(page, "#add-member-name")

    headers = page.locator("table.members thead th").all_inner_texts()
    assert [header.strip() for header in headers[:2]] == ["Member", "Global role"]
    assert "What the user may do on every repository" in (
        page.locator("table.members thead abbr").get_attribute("title")
    )
    members = page.locator("#members table.members tbody")
    expect(members).to_contain_text("writer")

    # before anything is typed: users to add, not those already members (nor organizations)
    assert page.locator("#add-member-name").input_value() == ""
    listed = candidates(page)
    assert {"admin", "reader", "nobody", *EXTRA_USERS} <= set(listed), listed
    assert "writer" not in listed and "acme" not in listed
    assert listed == sorted(listed)
    expect(page.get_by_role("button", name="Add writer", exact=True)).to_have_count(0)
    add_alice = page.get_by_role("button", name="Add alice", exact=True)
    expect(add_alice).to_be_visible()
    if width < 700:
        box = add_alice.bounding_box()
        assert box["x"] + box["width"] <= width, box

    # narrowed as one types
    search = page.locator("#add-member-name")
    search.fill("al")
    expect(page.locator("#user-results li")).to_have_count(2)
    assert candidates(page) == ["albert", "alice"]
    search.fill("car")
    expect(page.locator("#user-results li")).to_have_count(1)
    assert candidates(page) == ["carol"]
    search.fill("wri")  # a member already: not offered
    expect(page.locator("#user-results")).to_contain_text("No user outside")
    expect(page.locator("#user-results li")).to_have_count(0)
    search.fill("car")
    expect(page.locator("#user-results li")).to_have_count(1)
    htmx_ready(page, "#user-results form")

    # a candidate's Add: the member list shows them, the search no longer offers them
    page.get_by_role("button", name="Add carol", exact=True).click()
    expect(page.locator("#members .flash.success")).to_have_text(f"carol added to {team}.")
    expect(members.get_by_role("cell", name="carol", exact=True)).to_be_visible()
    expect(members.get_by_role("cell", name="writer", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Add carol", exact=True)).to_have_count(0)
    assert "carol" not in candidates(page)
    listed = api(server, "GET", f"/accounts/acme/teams/{team}/members").json()["members"]
    assert sorted(member["name"] for member in listed) == ["carol", "writer"]
    if width < 700:
        fits(page)


# --- Settings > Auth --------------------------------------------------------------------------


def test_settings_auth_users_before_ldap_and_a_clear_none_mode(server, page, width):
    log_in(page, server, *ADMIN)
    page.goto(f"{server.url}/settings/auth")
    users, ldap = page.locator("table.users"), page.locator("#ldap-form")
    expect(users).to_be_visible()
    assert page.evaluate(
        """() => Boolean(document.querySelector('table.users').compareDocumentPosition(
                 document.querySelector('#ldap-form')) & Node.DOCUMENT_POSITION_FOLLOWING)"""
    )
    assert users.bounding_box()["y"] < ldap.bounding_box()["y"]
    expect(users).to_contain_text("writer")

    none = page.locator("#auth-mode label", has=page.locator("input[value=none]"))
    expect(none).to_be_visible()
    expect(none).to_contain_text("a fresh install")
    none.evaluate("e => e.id = e.id || 'none-mode-label'")
    label_id = none.get_attribute("id")
    boxes = page.evaluate(TEXT_BOXES, [f"#{label_id}", ["None", "a fresh install"], "input"])
    assert boxes.get("None") and boxes.get("a fresh install"), boxes
    pieces = [("None", box) for box in boxes["None"]]
    pieces += [("hint", box) for box in boxes["a fresh install"]]
    pieces += [("radio", box) for box in boxes["input"]]
    for index, (name, box) in enumerate(pieces):
        for other_name, other in pieces[index + 1 :]:
            if name != other_name:
                assert not overlaps(box, other), (name, box, other_name, other)
    assert all(right <= width + 1 for _, (_, _, right, _) in pieces), pieces
