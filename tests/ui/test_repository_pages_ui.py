"""The repository page and the artifact page in a browser (1280 px and 390 px), on DTR over
HTTPS with real pushed images: tags paged, sorted and filtered on the server; several tags
deleted at once after a confirmation that says what goes, and the message after (also when
nothing was ticked, or a tag went meanwhile); pull commands by tag and digest with their
copy buttons clear of the Settings button; an image's layers beside its build history, its
config, annotations and referrers (a verified cosign signature, an SBOM to download); an
index's platforms; hostile configs (markup, too large, too deep, not JSON) shown as text or
as unreadable."""

import json
import re

import pytest
import requests

from tests.support.client import RegistryClient
from tests.support.images import (
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    Image,
    index_of,
    raw_manifest,
    sha256,
    simple_image,
)
from tests.support.server import USERS, DTRProcess
from tests.support.signing import CosignSignature, artifact, ec_key, public_pem
from tests.ui.conftest import log_in

pytestmark = pytest.mark.ui

WIDTHS = [1280, 390]
PAGES = "admin/pages"  # 57 tags: 52 on one image, 5 of their own; `latest` among them
ARTIFACTS = "admin/artifacts"  # no `latest`: an image, an index, hostile configs
SBOM = b'{"spdxVersion": "SPDX-2.3", "name": "ui-sbom"}'
SBOM_TYPE = "application/spdx+json"
HOSTILE = "<script>document.title='owned'</script><img src=x onerror=alert(1)>"
WIDER_THAN_THE_WINDOW = """() => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .slice(0, 5)
    .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


def shared_tags():
    return [f"build-{number:02d}" for number in range(50)] + ["stable", "latest"]


def own_tags():
    return ["rc-1", "rc-2", "zeta", "alpha", "newest"]  # pushed in this order, newest last


def image_with_config(marker, config: dict | bytes):
    """An image whose config is exactly `config` (a dict to serialize, or raw bytes)."""
    image = simple_image(marker, layers=1)
    data = config if isinstance(config, bytes) else json.dumps(config).encode()
    document = raw_manifest(data, [(OCI_LAYER, image.layers[0], {})])
    image.config = data
    image.manifest = json.dumps(document).encode()
    return image


def built_image():
    """An image with the config a Dockerfile build writes: history with empty layers."""
    image = Image(
        [{"app/hello": b"hello\n" * 100}, {"app/config.yml": b"debug: false\n" * 20}],
        cmd=("/app/hello", "--serve"),
    )
    config = json.loads(image.config)
    config["config"].update(
        {
            "Entrypoint": ["/bin/tini", "--"],
            "Env": ["PATH=/usr/local/bin:/usr/bin", "MODE=production"],
            "ExposedPorts": {"8080/tcp": {}},
            "WorkingDir": "/app",
            "User": "app:app",
            "Labels": {"org.opencontainers.image.source": "https://example.test/hello"},
        }
    )
    config["history"] = [
        {"created_by": "/bin/sh -c #(nop) ADD file:abc in /", "created": "2026-01-01T00:00:00Z"},
        {"created_by": "ENV MODE=production", "empty_layer": True},
        {"created_by": "COPY config.yml /app/config.yml # buildkit", "comment": "buildkit"},
        {"created_by": 'CMD ["/app/hello" "--serve"]', "empty_layer": True},
    ]
    image.config = json.dumps(config).encode()
    manifest = json.loads(image.manifest)
    manifest["config"].update(digest=sha256(image.config), size=len(image.config))
    manifest["annotations"] = {"org.opencontainers.image.description": "built " + HOSTILE}
    image.manifest = json.dumps(manifest).encode()
    return image


def deep(levels):
    text = "0"
    for _ in range(levels):
        text = '{"a": ' + text + "}"
    return text


class Content:
    """What the tests push, through the registry API as the admin."""

    def __init__(self, server):
        self.server = server
        self.client = RegistryClient(server.url, "admin", USERS["admin"][0])
        shared = simple_image("ui-shared", layers=1)
        self.shared = self.client.push_image(PAGES, "build-00", shared)
        for tag in shared_tags()[1:]:
            response = self.client.push_manifest(PAGES, tag, shared.manifest, shared.media_type)
            assert response.status_code == 201, response.text
        self.own = {
            tag: self.client.push_image(PAGES, tag, simple_image(tag)) for tag in own_tags()
        }

        key = ec_key()
        self.api(
            "POST",
            f"/repositories/{ARTIFACTS}/trustedKeys",
            {"name": "release", "pem": public_pem(key)},
        )
        self.image = built_image()
        self.client.push_image(ARTIFACTS, "built", self.image)
        CosignSignature(self.image.digest, len(self.image.manifest), [(key, None)]).push(
            self.client, ARTIFACTS
        )
        manifest, blobs = artifact(
            self.image.digest, len(self.image.manifest), SBOM_TYPE, SBOM, SBOM_TYPE
        )
        document = json.loads(manifest)
        document["layers"][0]["annotations"] = {"org.opencontainers.image.title": "sbom.spdx.json"}
        manifest = json.dumps(document).encode()
        for blob in blobs:
            self.client.push_blob(ARTIFACTS, blob)
        self.sbom = self.push_manifest(ARTIFACTS, sha256(manifest), manifest, OCI_MANIFEST)

        amd64, arm64 = simple_image("ui-amd64"), simple_image("ui-arm64", arch="arm64")
        for image in (amd64, arm64):
            self.client.push_image(ARTIFACTS, image.digest, image)
        self.platforms = {"linux/amd64": amd64.digest, "linux/arm64": arm64.digest}
        body = index_of([(amd64, "amd64"), (arm64, "arm64")])
        self.index = self.push_manifest(ARTIFACTS, "multi", body, OCI_INDEX)

        hostile = {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": [HOSTILE], "Labels": {"evil": HOSTILE}, "WorkingDir": HOSTILE},
            "history": [{"created_by": HOSTILE}],
        }
        self.hostile = {
            "markup": self.push_image("markup", hostile),
            "large": self.push_image("large", b'{"pad": "' + b"x" * (5 * 1024 * 1024) + b'"}'),
            "deep": self.push_image("deep", deep(100).encode()),
            "broken": self.push_image("broken", b'{"os": "linux", "architecture": '),
            "listed": self.push_image("listed", {"config": {"Cmd": "not-a-list", "Env": [1, {}]}}),
        }

    def push_image(self, tag, config):
        return self.client.push_image(ARTIFACTS, tag, image_with_config(tag, config))

    def push_manifest(self, repo, reference, body, media_type):
        response = self.client.push_manifest(repo, reference, body, media_type)
        assert response.status_code == 201, response.text
        return response.headers["Docker-Content-Digest"]

    def api(self, method, path, body=None):
        response = requests.request(
            method,
            f"{self.server.url}/api/v0{path}",
            json=body,
            auth=("admin", USERS["admin"][0]),
            verify=False,
            timeout=30,
        )
        assert response.status_code < 300, response.text
        return response

    def tags(self, repo=PAGES):
        return {tag["name"] for tag in self.api("GET", f"/repositories/{repo}/tags").json()["tags"]}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = DTRProcess(tmp_path_factory.mktemp("repository-ui") / "instance", http=False)
    process.create_users()
    for name in (PAGES, ARTIFACTS, "admin/empty", "admin/doomed"):
        assert process.cli("create-repo", name).returncode == 0
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def content(server):
    return Content(server)


@pytest.fixture(params=WIDTHS, ids=[f"{width}px" for width in WIDTHS])
def width(request, page):
    page.set_viewport_size({"width": request.param, "height": 900})
    return request.param


def rows(page):
    return page.locator("table.tag-list tbody th.tag-name").all_inner_texts()


def fits(page, width):
    """At 390 px nothing makes the page scroll sideways."""
    if width > 700:
        return
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, (
        f"{page.url}: {overflow}px too wide: {page.evaluate(WIDER_THAN_THE_WINDOW)}"
    )


def htmx_ready(page, selector):
    page.wait_for_function(
        "s => { const e = document.querySelector(s); return e && e['htmx-internal-data']; }",
        arg=selector,
    )


def uncovered(page, selector):
    """The element is what a click at its centre reaches (nothing lies over it)."""
    return page.evaluate(
        """s => { const e = document.querySelector(s); const r = e.getBoundingClientRect();
                  const x = r.x + r.width / 2, y = r.y + r.height / 2;
                  return document.elementFromPoint(x, y) === e; }""",
        selector,
    )


# --- the repository page ------------------------------------------------------------------------


def test_tags_are_paged_sorted_and_filtered_on_the_server(server, content, page, width, screenshot):
    log_in(page, server.url)
    page.goto(f"{server.url}/repositories/{PAGES}")
    names = sorted(shared_tags() + own_tags())
    assert rows(page) == names[:50]
    assert "Page 1 of 2 · 57 tags" in page.locator(".pagination").inner_text()
    fits(page, width)
    screenshot(page, f"repository-tags-{width}")
    page.get_by_role("link", name="Next ›").click()
    page.wait_for_url(re.compile(r"page=2"))
    assert rows(page) == names[50:]
    htmx_ready(page, "form.tag-filter")  # the swapped page's form, once htmx has processed it

    # sorted by push date, newest first, then oldest first; by name backwards
    page.get_by_label("Sort tags").select_option(label="Newest first")
    page.wait_for_url(re.compile(r"sort=-pushed"))
    page.locator("table.tag-list tbody tr").first.get_by_text("newest").wait_for()
    assert rows(page)[:5] == list(reversed(own_tags()))
    page.get_by_label("Sort tags").select_option(label="Oldest first")
    page.wait_for_url(re.compile(r"sort=pushed$"))
    page.locator("table.tag-list tbody tr").first.get_by_text("build-00").wait_for()
    if width > 700:  # the column headers sort too (the narrow layout shows no header row)
        htmx_ready(page, "table.tag-list a.sort")
        page.get_by_role("link", name="Tag").click()
        page.wait_for_url(re.compile(r"sort=name|/pages$"))
        page.get_by_role("link", name="Tag ▲").wait_for()
        htmx_ready(page, "table.tag-list a.sort")
        page.get_by_role("link", name="Tag ▲").click()
        page.wait_for_url(re.compile(r"sort=-name"))
        assert rows(page)[0] == "zeta"

    # filtered as one types; the address keeps the filter
    page.goto(f"{server.url}/repositories/{PAGES}")
    htmx_ready(page, "form.tag-filter")
    page.get_by_label("Filter tags").fill("rc-")
    page.wait_for_url(re.compile(r"q=rc-"))
    page.locator("#tag-results", has_text="rc-2").wait_for()
    assert rows(page) == ["rc-1", "rc-2"]
    assert "Page" not in page.locator("#tag-results").inner_text()
    page.get_by_label("Filter tags").fill("no-such-tag")
    page.get_by_text("No tag matches “no-such-tag”.").wait_for()
    page.goto(f"{server.url}/repositories/{PAGES}?q={content.own['zeta'][:15]}")
    assert rows(page) == ["zeta"]  # a digest's start finds its tags
    fits(page, width)


def test_pull_commands_name_a_tag_that_exists_and_the_digest(server, content, page, width):
    log_in(page, server.url)
    for repo, tag, digest in (
        (PAGES, "latest", content.shared),  # latest when there is one
        (ARTIFACTS, "listed", content.hostile["listed"]),  # else the tag pushed last
    ):
        page.goto(f"{server.url}/repositories/{repo}")
        by_tag = page.locator("#pull-command").inner_text()
        by_digest = page.locator("#pull-digest-command").inner_text()
        assert by_tag == f"docker pull {server.host}/{repo}:{tag}"
        assert by_digest == f"docker pull {server.host}/{repo}@{digest}"
        for selector in ('[data-copy="#pull-command"]', '[data-copy="#pull-digest-command"]'):
            assert uncovered(page, selector), f"{selector} is covered at {width}px"
        assert uncovered(page, ".repository-head a[role=button]")  # Settings
        fits(page, width)
    page.goto(f"{server.url}/repositories/admin/empty")
    assert page.locator("#pull-command").count() == 0
    hint = page.locator("#push-command").inner_text()
    assert hint == f"docker push {server.host}/admin/empty:TAG"


def test_several_tags_are_deleted_after_a_confirmation(server, content, page, width):
    log_in(page, server.url)
    page.goto(f"{server.url}/repositories/{PAGES}?sort=-name")
    doomed = ["build-4" + str(width % 7), "rc-" + ("1" if width > 700 else "2")]
    for tag in doomed:
        page.get_by_label(f"Select tag {tag}").check()
    page.get_by_role("button", name="Delete selected…").click()
    confirmation = page.locator("#delete-confirmation")
    confirmation.wait_for()
    text = confirmation.inner_text()
    assert f"Delete 2 tags from {PAGES}?" in text
    assert f"These tags go: {doomed[0]}, {doomed[1]}." in text
    assert "the image stays" in text and "still use it" in text  # the shared image
    assert "left without a tag" in text and "garbage collection" in text  # rc's own image
    assert page.url.endswith("?sort=-name")  # the address did not change
    fits(page, width)
    confirmation.get_by_role("button", name="Cancel").click()
    confirmation.wait_for(state="detached")
    assert set(doomed) <= content.tags()

    for tag in doomed:
        page.get_by_label(f"Select tag {tag}").check()
    page.get_by_role("button", name="Delete selected…").click()
    page.get_by_role("button", name="Delete 2 tags").click()
    message = page.locator(".flash.success")
    message.wait_for()
    assert f"Deleted 2 tags {', '.join(doomed)} from {PAGES}." == message.inner_text()
    assert not set(doomed) & content.tags()
    assert not set(doomed) & set(rows(page))
    assert page.url.endswith("?sort=-name")  # back to the page as it was

    # one tag with its trash icon: the same confirmation
    single = "build-3" + str(width % 7)
    page.get_by_role("button", name=f"Delete tag {single}").click()
    page.locator("#delete-confirmation", has_text=f"Delete 1 tag from {PAGES}?").wait_for()
    page.get_by_role("button", name="Delete 1 tag").click()
    page.locator(".flash.success", has_text=f"Deleted tag {single}").wait_for()
    assert single not in content.tags()


def test_a_deletion_that_cannot_be_done_says_why(server, content, page, width):
    log_in(page, server.url)
    page.goto(f"{server.url}/repositories/{PAGES}?sort=-name")
    page.get_by_role("button", name="Delete selected…").click()
    refusal = page.locator("#tag-results .flash.error")
    refusal.wait_for()
    assert refusal.inner_text() == "Nothing was deleted: tick the tags to delete first."
    fits(page, width)

    tag = "build-2" + str(width % 7)
    page.get_by_label(f"Select tag {tag}").check()
    page.get_by_role("button", name="Delete selected…").click()
    page.locator("#delete-confirmation").wait_for()
    content.api("DELETE", f"/repositories/{PAGES}/tags/{tag}")  # someone else was quicker
    page.get_by_role("button", name="Delete 1 tag").click()
    message = page.locator(".flash.error")
    message.wait_for()
    assert f"Not deleted, {PAGES} has no tag {tag} (deleted meanwhile?)." == message.inner_text()
    assert page.locator(".flash.success").count() == 0

    page.get_by_label("Select tag stable").check()  # ticked, then deleted before confirming
    content.api("DELETE", f"/repositories/{PAGES}/tags/stable")
    page.get_by_role("button", name="Delete selected…").click()
    page.get_by_text(
        f"Nothing was deleted: {PAGES} has no tag stable (deleted meanwhile?)."
    ).wait_for()
    content.client.push_manifest(
        PAGES, "stable", content.client.get_manifest(PAGES, "latest").content, OCI_MANIFEST
    )


def test_only_those_who_may_delete_see_the_checkboxes(server, content, page):
    log_in(page, server.url, "reader")
    page.goto(f"{server.url}/repositories/{PAGES}")
    assert rows(page)
    assert page.locator("table.tag-list input[type=checkbox]").count() == 0
    assert page.get_by_role("button", name="Delete selected…").count() == 0
    assert page.locator(".repository-head a[role=button]").count() == 0  # no Settings


# --- the artifact page ------------------------------------------------------------------------


def test_an_images_page_shows_layers_history_config_and_referrers(
    server, content, page, width, screenshot
):
    log_in(page, server.url)
    page.goto(f"{server.url}/repositories/{ARTIFACTS}?q=built")
    page.locator("table.tag-list td.digest a").first.click()
    digest = content.image.digest
    page.wait_for_url(f"**/repositories/{ARTIFACTS}/manifests/{digest}")
    pull = page.locator("#pull-digest-command").inner_text()
    assert pull == f"docker pull {server.host}/{ARTIFACTS}@{digest}"
    facts = page.locator(".artifact-facts").inner_text()
    assert digest in facts and "built" in facts and "signed" in facts and "release" in facts

    history = page.locator("table.build-history tbody tr")
    assert history.count() == 4
    steps = history.all_inner_texts()
    assert "ADD file:abc in /" in steps[0] and sha256(content.image.layers[0])[:19] in steps[0]
    assert "ENV MODE=production" in steps[1] and "empty layer" in steps[1]
    assert "COPY config.yml" in steps[2] and sha256(content.image.layers[1])[:19] in steps[2]
    assert "empty layer" in steps[3]

    config = page.locator(".artifact-config").inner_text()
    for shown in ("/bin/tini", "/app/hello", "--serve", "MODE=production", "8080/tcp", "app:app"):
        assert shown in config
    assert "org.opencontainers.image.source" in config and "linux/amd64" in config
    annotations = page.locator("table.annotations").inner_text()
    assert "built " + HOSTILE in annotations  # as text

    referrers = page.locator("table.referrers").inner_text()
    assert "signature" in referrers and "verified" in referrers and "signed by release" in referrers
    assert "sbom" in referrers and "sbom.spdx.json" in referrers
    fits(page, width)
    screenshot(page, f"artifact-image-{width}")
    with page.expect_download() as download:
        page.locator("table.referrers").get_by_role("link", name="Download").click()
    assert download.value.suggested_filename == "sbom.spdx.json"
    assert open(download.value.path(), "rb").read() == SBOM

    page.locator("table.referrers a", has_text=content.sbom[:19]).click()
    page.wait_for_url(f"**/manifests/{content.sbom}")
    assert "Artifact" in page.locator("h1").inner_text()
    files = page.locator("table.files").inner_text()
    assert "sbom.spdx.json" in files and SBOM_TYPE in files
    page.get_by_role("link", name=digest[:19] + "…").click()  # Refers to: back to the image
    page.wait_for_url(f"**/manifests/{digest}")


def test_an_indexs_page_lists_its_platforms(server, content, page, width, screenshot):
    log_in(page, server.url)
    page.goto(f"{server.url}/repositories/{ARTIFACTS}?q=multi")
    row = page.locator("table.tag-list tbody tr", has_text="multi")
    assert "linux/amd64, linux/arm64" in row.inner_text()
    row.locator("td.digest a").click()
    page.wait_for_url(f"**/manifests/{content.index}")
    assert page.locator("h1").inner_text().startswith("Index")
    platforms = page.locator("table.platforms tbody tr")
    assert platforms.count() == 2
    assert "linux/amd64" in platforms.nth(0).inner_text()
    assert "linux/arm64" in platforms.nth(1).inner_text()
    fits(page, width)
    screenshot(page, f"artifact-index-{width}")
    platforms.nth(1).get_by_role("link").click()
    page.wait_for_url(f"**/manifests/{content.platforms['linux/arm64']}")
    assert "linux/arm64" in page.locator(".artifact-config").inner_text()
    page.locator(".artifact-facts").get_by_role("link", name=content.index[:19] + "…").click()
    page.wait_for_url(f"**/manifests/{content.index}")


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("large", "cannot be shown: larger than 4 MiB"),
        ("deep", "cannot be shown: not readable JSON"),
        ("broken", "cannot be shown: not readable JSON"),
    ],
)
def test_a_config_that_cannot_be_read_is_said_so(server, content, page, name, shown):
    log_in(page, server.url)
    response = page.goto(f"{server.url}/repositories/{ARTIFACTS}/manifests/{content.hostile[name]}")
    assert response.status == 200
    assert shown in page.locator("p.unreadable").inner_text()
    assert page.locator("table.build-history tbody tr").count() == 1  # the layer is still shown


def test_markup_in_a_config_is_shown_as_text(server, content, page, width):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, server.url)
    page.goto(f"{server.url}/repositories/{ARTIFACTS}/manifests/{content.hostile['markup']}")
    config = page.locator(".artifact-config").inner_text()
    assert config.count(HOSTILE) == 3  # command, working directory, label
    assert HOSTILE in page.locator("table.build-history").inner_text()
    assert page.title() != "owned" and not dialogs
    assert page.evaluate("document.querySelectorAll('main script, main img').length") == 0
    fits(page, width)
    page.goto(f"{server.url}/repositories/{ARTIFACTS}/manifests/{content.hostile['listed']}")
    assert "not-a-list" in page.locator(".artifact-config").inner_text()  # a lone string
