"""Settings > License against a running DTR that trusts a key pair made by `license keygen`:
the trial of a fresh install, installing through the API and the command line, refusals with
their reasons (the previous license kept), admins only, and pulls and pushes that keep
working with an expired license."""

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from dtr.api.openapi import DOCUMENT
from dtr.license import issue_license
from tests.support.client import RegistryClient
from tests.support.images import sha256, simple_image
from tests.support.server import ROOT, DTRProcess, free_port
from tests.support.server import USERS as ALL_USERS

USERS = {name: ALL_USERS[name] for name in ("admin", "writer", "nobody")}  # the seats in use
ADMIN = ("admin", USERS["admin"][0])
WRITER = ("writer", USERS["writer"][0])
STATUS_SCHEMA = {
    **DOCUMENT["components"]["schemas"]["LicenseStatus"],
    "additionalProperties": False,
}


def app_cli(*args, env=None, timeout=60):
    """`python app.py ARGS` for the commands that take no --instance."""
    return subprocess.run(
        [sys.executable, "app.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def keygen(folder: Path) -> Path:
    result = app_cli("license", "keygen", "--out", str(folder))
    assert result.returncode == 0, result.stderr
    assert (folder / "license_private_key.pem").stat().st_mode & 0o777 == 0o600
    return folder


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return keygen(tmp_path_factory.mktemp("license-keys"))


@pytest.fixture(scope="module")
def other_keys(tmp_path_factory):
    return keygen(tmp_path_factory.mktemp("other-license-keys"))


@pytest.fixture(scope="module")
def server(tmp_path_factory, keys):
    dtr = DTRProcess(
        tmp_path_factory.mktemp("license-dtr") / "instance",
        env={"DTR_LICENSE_PUBLIC_KEY": str(keys / "license_public_key.pem")},
    )
    dtr.create_users(USERS)
    dtr.start()
    yield dtr
    dtr.stop()


def license_file(key_folder, licensee="Acme Corp", seats=10, expires_at=None, **changes) -> str:
    document = issue_license(
        (key_folder / "license_private_key.pem").read_bytes(),
        licensee,
        "Production",
        "Offline",
        seats,
        expires_at or datetime.now(UTC) + timedelta(days=365),
    )
    document.update(changes)
    return json.dumps(document)


def api(server, method, auth=ADMIN, **kwargs):
    return requests.request(
        method, f"{server.url}/api/v0/admin/settings/license", auth=auth, **kwargs
    )


def status_of(response, code=200):
    assert response.status_code == code, response.text
    body = response.json()
    errors = list(
        OAS30Validator(STATUS_SCHEMA, format_checker=oas30_format_checker).iter_errors(body)
    )
    assert errors == [], errors
    return body


def refusal(response):
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["code"] == "INVALID_INPUT"
    return error


def test_a_fresh_install_runs_on_a_30_day_trial(server):
    body = status_of(api(server, "GET"))
    assert body["state"] == "trial"
    assert body["daysLeft"] == 30
    assert (body["seatsUsed"], body["seatsAllowed"]) == (len(USERS), None)
    assert (body["licensee"], body["banner"], body["problem"]) == (None, None, None)
    ends = datetime.fromisoformat(body["expiresAt"])
    assert abs(ends - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)


def test_only_admins_read_or_install_the_license(server, keys):
    anonymous = api(server, "GET", auth=None)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="DTR"'
    assert api(server, "PUT", auth=None, data=license_file(keys)).status_code == 401
    assert api(server, "GET", auth=WRITER).status_code == 403
    refused = api(server, "PUT", auth=WRITER, data=license_file(keys, licensee="Sneaky"))
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "NOT_AUTHORIZED"
    assert status_of(api(server, "GET"))["licensee"] != "Sneaky"


def test_an_admin_installs_a_license_and_seats_are_counted(server, keys):
    text = license_file(keys, licensee="Acme Corp", seats=10)
    body = status_of(api(server, "PUT", data=text, headers={"Content-Type": "application/json"}))
    assert body["state"] == "valid"
    assert (body["licensee"], body["tier"], body["licenseType"]) == (
        "Acme Corp",
        "Production",
        "Offline",
    )
    assert (body["seatsUsed"], body["seatsAllowed"]) == (len(USERS), 10)
    assert body["keyId"] == json.loads(text)["key_id"]
    assert body["daysLeft"] in (365, 366) and body["banner"] is None
    assert status_of(api(server, "GET")) == body
    # a deactivated user frees a seat
    deactivate = f"{server.url}/api/v0/accounts/nobody/deactivate"
    assert requests.put(deactivate, auth=ADMIN).status_code == 200
    try:
        assert status_of(api(server, "GET"))["seatsUsed"] == len(USERS) - 1
    finally:
        activate = f"{server.url}/api/v0/accounts/nobody/activate"
        assert requests.put(activate, auth=ADMIN).status_code == 200
    events = requests.get(
        f"{server.url}/api/v0/admin/audit", auth=ADMIN, params={"limit": 50}
    ).json()["events"]
    installed = [e for e in events if e["action"] == "settings.license"]
    assert installed[0]["actor"] == "admin" and installed[0]["target"] == "Acme Corp"
    assert installed[0]["detail"]["keyId"] == body["keyId"]


def test_an_expiring_license_shows_a_banner(server, keys):
    text = license_file(
        keys, licensee="Soon Ltd", expires_at=datetime.now(UTC) + timedelta(days=10)
    )
    body = status_of(api(server, "PUT", data=text))
    assert (body["state"], body["daysLeft"]) == ("expiring", 10)
    assert body["banner"].startswith("The DTR license of Soon Ltd expires in 10 days")


def _bad_files(keys, other_keys):
    good = json.loads(license_file(keys))
    missing = dict(good)
    del missing["authorization"]
    return {
        "bad_signature": license_file(other_keys, licensee="Forger"),
        "bad_token": json.dumps({**good, "private_key": "YW5vdGhlciBrZXk="}),
        "expired": license_file(keys, expires_at=datetime.now(UTC) - timedelta(days=1)),
        "malformed_json": '{"key_id": "x", ',
        "missing_field": json.dumps(missing),
        "bad_base64": json.dumps({**good, "authorization": "%%% not base64 %%%"}),
    }


@pytest.mark.parametrize(
    "reason",
    ["bad_signature", "bad_token", "expired", "malformed_json", "missing_field", "bad_base64"],
)
def test_an_invalid_file_is_refused_with_its_reason_and_the_license_kept(
    server, keys, other_keys, reason
):
    before = status_of(api(server, "PUT", data=license_file(keys, licensee="Kept Inc")))
    error = refusal(api(server, "PUT", data=_bad_files(keys, other_keys)[reason]))
    assert error["detail"]["reason"] == reason
    assert error["message"].startswith(reason.replace("_", " ") + ": ")
    after = status_of(api(server, "GET"))
    assert (after["licensee"], after["keyId"]) == ("Kept Inc", before["keyId"])


def test_an_empty_or_huge_body_is_refused(server):
    assert refusal(api(server, "PUT", data=b""))["detail"]["reason"] == "malformed_json"
    huge = refusal(api(server, "PUT", data=b"{" + b" " * 70_000 + b"}"))
    assert huge["detail"]["reason"] == "too_large"


def test_the_command_line_issues_installs_and_shows(server, keys, other_keys, tmp_path):
    out = tmp_path / "cli-license.json"
    issued = app_cli(
        "license",
        "issue",
        "--key",
        str(keys / "license_private_key.pem"),
        "--licensee",
        "CLI Corp",
        "--tier",
        "Evaluation",
        "--type",
        "Online",
        "--seats",
        "25",
        "--expires",
        "2099-01-31",
        "--out",
        str(out),
    )
    assert issued.returncode == 0, issued.stderr
    assert set(json.loads(out.read_text())) == {"key_id", "private_key", "authorization"}
    installed = server.cli("license", "install", str(out))
    assert installed.returncode == 0, installed.stderr
    assert "installed the license of CLI Corp" in installed.stdout
    assert f"seats:     {len(USERS)} used of 25" in installed.stdout
    shown = server.cli("license", "show")
    assert shown.returncode == 0, shown.stderr
    assert "state:     valid" in shown.stdout
    assert "expires:   2099-01-31 00:00:00 UTC" in shown.stdout
    # the server's settings cache (5 s) then shows it through the API
    deadline = time.monotonic() + 10
    while status_of(api(server, "GET"))["licensee"] != "CLI Corp":
        assert time.monotonic() < deadline, "the server never saw the installed license"
        time.sleep(0.5)
    body = status_of(api(server, "GET"))
    assert (body["tier"], body["licenseType"], body["seatsAllowed"]) == ("Evaluation", "Online", 25)
    assert body["expiresAt"] == "2099-01-31T00:00:00Z"
    # a refused file: a clear message, exit code 1, nothing changed
    forged = tmp_path / "forged.json"
    forged.write_text(license_file(other_keys))
    refused = server.cli("license", "install", str(forged))
    assert refused.returncode == 1
    assert "license refused: bad signature" in refused.stderr
    assert "licensee:  CLI Corp" in server.cli("license", "show").stdout


def test_printed_licenses_and_command_errors(keys, tmp_path):
    printed = app_cli(
        "license",
        "issue",
        "--key",
        str(keys / "license_private_key.pem"),
        "--licensee",
        "Stdout Co",
        "--tier",
        "Production",
        "--type",
        "Offline",
        "--seats",
        "1",
        "--expires",
        "2030-05-01T10:20:30Z",
    )
    assert printed.returncode == 0, printed.stderr
    assert set(json.loads(printed.stdout)) == {"key_id", "private_key", "authorization"}
    bad_date = app_cli(
        "license", "issue", "--key", str(keys / "license_private_key.pem"), "--licensee", "x",
        "--tier", "t", "--type", "t", "--seats", "1", "--expires", "next year",
    )  # fmt: skip
    assert bad_date.returncode == 2 and "--expires" in bad_date.stderr
    not_a_key = tmp_path / "not-a-key.pem"
    not_a_key.write_text("hello")
    bad_key = app_cli(
        "license", "issue", "--key", str(not_a_key), "--licensee", "x", "--tier", "t",
        "--type", "t", "--seats", "1", "--expires", "2030-01-01",
    )  # fmt: skip
    assert bad_key.returncode == 1 and "not an unencrypted PEM private key" in bad_key.stderr
    again = app_cli("license", "keygen", "--out", str(keys))
    assert again.returncode == 1 and "not overwriting" in again.stderr
    assert "--expires" in app_cli("license", "issue", "--help").stdout


def test_pulls_and_pushes_work_with_an_expired_license(server, keys, tmp_path):
    expires = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
    out = tmp_path / "short.json"
    issued = app_cli(
        "license", "issue", "--key", str(keys / "license_private_key.pem"),
        "--licensee", "Short Lived", "--tier", "Production", "--type", "Offline",
        "--seats", "1", "--expires", expires.strftime("%Y-%m-%dT%H:%M:%SZ"), "--out", str(out),
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    assert status_of(api(server, "PUT", data=out.read_bytes()))["state"] == "expiring"
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.5)
    body = status_of(api(server, "GET"))
    assert (body["state"], body["licensee"], body["daysLeft"]) == ("expired", "Short Lived", 0)
    assert "expired on" in body["banner"] and "keeps working" in body["banner"]
    assert body["seatsUsed"] > body["seatsAllowed"]  # over the seats too: still a warning only
    # the expired license can no longer be installed, but the registry keeps working
    assert refusal(api(server, "PUT", data=out.read_bytes()))["detail"]["reason"] == "expired"
    repo = "admin/licensed"
    assert server.cli("create-repo", repo).returncode == 0
    image = simple_image("expired-license")
    writer = RegistryClient(server.url, *ADMIN)
    digest = writer.push_image(repo, "v1", image)
    reader = RegistryClient(server.url, *WRITER)
    manifest = reader.get_manifest(repo, "v1")
    assert manifest.status_code == 200 and manifest.content == image.manifest
    assert manifest.headers["Docker-Content-Digest"] == digest
    blob = reader.request("GET", f"/v2/{repo}/blobs/{sha256(image.layers[0])}")
    assert blob.status_code == 200 and blob.content == image.layers[0]


def test_an_unusable_trusted_key_stops_the_start(tmp_path):
    env = {**os.environ, "DTR_LICENSE_PUBLIC_KEY": str(tmp_path / "none.pem")}
    result = app_cli(
        "serve", "--http", "--bind", f"127.0.0.1:{free_port()}", "--instance", str(tmp_path / "i"),
        env=env,
    )  # fmt: skip
    assert result.returncode == 1
    assert "configuration: LICENSE_PUBLIC_KEY: cannot read" in result.stderr
    assert "Traceback" not in result.stderr
