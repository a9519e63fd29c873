"""The repository page's pull commands, copied with their Copy buttons in Chromium (the
shared browser of tests/support/browser.py) and run as they are with the real docker CLI
against the server: by tag (the newest, as no `latest` exists) and by digest."""

import shlex

import pytest

from tests.support.browser import log_in
from tests.support.images import sha256, simple_image

from .conftest import registry_client

pytestmark = pytest.mark.e2e


def test_copied_pull_commands_pull_the_image(page, dtr, docker, make_repo):
    repo = make_repo()
    older, newer = simple_image("copy-older", docker=True), simple_image("copy-newer", docker=True)
    pusher = registry_client(dtr, "writer")
    pusher.push_image(repo, "older", older)
    pusher.push_image(repo, "newer", newer)
    docker.login(dtr, "reader")

    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, dtr.url, "reader")
    page.goto(f"{dtr.url}/repositories/{repo}")
    copied = []
    for element in ("#pull-command", "#pull-digest-command"):
        button = page.locator(f'button[data-copy="{element}"]')
        button.click()
        page.wait_for_function("b => b.textContent === 'Copied'", arg=button.element_handle())
        text = page.evaluate("navigator.clipboard.readText()")
        assert text == page.locator(element).inner_text().strip()
        copied.append(text)

    by_tag, by_digest = copied
    assert by_tag == f"docker pull {dtr.host}/{repo}:newer"
    assert by_digest == f"docker pull {dtr.host}/{repo}@{sha256(newer.manifest)}"
    for command in copied:
        args = shlex.split(command)
        pulled = docker(*args[1:])
        assert f"Digest: {sha256(newer.manifest)}" in pulled.stdout
        assert docker.image_id(args[2]) == sha256(newer.config)
