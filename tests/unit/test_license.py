"""License files: verification and every reason for a refusal, the token, issuing, the trusted
key, the states at chosen moments, and the stored license and install date."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from flask_migrate import upgrade
from jwt.api_jws import PyJWS

from dtr import create_app
from dtr.auth.identity import Identity
from dtr.database import db
from dtr.errors import Denied
from dtr.license import (
    DEFAULT_PUBLIC_KEY_PATH,
    STATES,
    TRIAL_DAYS,
    License,
    LicenseError,
    LicenseKeyError,
    compute_status,
    days_left,
    generate_key_pair,
    issue_license,
    license_token,
    read_public_key_pem,
    rfc3339,
    verify_license,
)
from dtr.models import Account, AuditEvent
from dtr.services import license as stored
from dtr.services.settings import forget_cached_setting, set_setting

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
EXPIRES = datetime(2026, 9, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def keys():
    """(private PEM, public PEM) of the trusted pair, and the private PEM of another pair."""
    private_pem, public_pem = generate_key_pair()
    other_private, _ = generate_key_pair()
    return private_pem, public_pem.decode(), other_private


def issue(keys, **changes):
    values = dict(
        licensee="Acme Corp",
        tier="Production",
        license_type="Offline",
        seats=10,
        expires_at=EXPIRES,
    )
    values.update(changes)
    return json.dumps(issue_license(keys[0], **values))


def signed_file(private_pem, payload: dict, secret="c2VjcmV0LWtleS1vZi10aGUtbGljZW5zZQ=="):
    """A license file with any payload, signed with `private_pem` (ES256)."""
    key = serialization.load_pem_private_key(private_pem, None)
    jws = PyJWS().encode(json.dumps(payload).encode(), key, algorithm="ES256")
    authorization = base64.b64encode(jws.encode()).decode()
    return json.dumps({"key_id": "k1", "private_key": secret, "authorization": authorization})


def good_payload(secret="c2VjcmV0LWtleS1vZi10aGUtbGljZW5zZQ==", expiration="2026-09-01T00:00:00Z"):
    return {
        "expiration": expiration,
        "token": license_token(expiration, secret),
        "maxEngines": 5,
        "licenseType": "Online",
        "tier": "Production",
        "licensee": "Beta Ltd",
    }


def refusal(text, public_pem, now=NOW) -> LicenseError:
    with pytest.raises(LicenseError) as caught:
        verify_license(text, public_pem, now)
    assert caught.value.detail["reason"] == caught.value.reason
    assert caught.value.message.startswith(caught.value.reason.replace("_", " ") + ": ")
    return caught.value


# --- verifying ---------------------------------------------------------------------------


def test_an_issued_license_verifies_with_its_fields(keys):
    text = issue(keys)
    found = verify_license(text, keys[1], NOW)
    assert found == License(
        key_id=json.loads(text)["key_id"],
        licensee="Acme Corp",
        tier="Production",
        license_type="Offline",
        seats=10,
        expires_at=EXPIRES,
    )
    assert verify_license(text.encode(), keys[1], NOW) == found  # bytes, as uploaded


def test_the_file_format_is_dtrs(keys):
    document = json.loads(issue(keys))
    assert set(document) == {"key_id", "private_key", "authorization"}
    jws = base64.b64decode(document["authorization"], validate=True).decode()
    header, payload, signature = jws.split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "ES256", "typ": "JOSE"}
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    assert claims == {
        "expiration": "2026-09-01T00:00:00Z",
        "token": claims["token"],
        "maxEngines": 10,
        "licenseType": "Offline",
        "tier": "Production",
        "licensee": "Acme Corp",
    }
    # token = base64url(HMAC-SHA256(base64url-decoded private_key, expiration))
    secret = base64.urlsafe_b64decode(document["private_key"])
    mac = hmac.new(secret, b"2026-09-01T00:00:00Z", hashlib.sha256).digest()
    assert claims["token"] == base64.urlsafe_b64encode(mac).decode()


def test_rsa_license_keys_sign_with_rs256():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    text = issue((private_pem,))
    jws = base64.b64decode(json.loads(text)["authorization"]).decode()
    assert json.loads(base64.urlsafe_b64decode(jws.split(".")[0] + "=="))["alg"] == "RS256"
    assert verify_license(text, public_pem.decode(), NOW).licensee == "Acme Corp"


def test_a_payload_with_seats_and_an_offset_expiration_verifies(keys):
    payload = good_payload(expiration="2026-09-01T02:00:00+02:00")
    del payload["maxEngines"]
    payload["seats"] = 7
    found = verify_license(signed_file(keys[0], payload), keys[1], NOW)
    assert found.seats == 7
    assert found.expires_at == datetime(2026, 9, 1, tzinfo=UTC)


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '"text"', "{", ""])
def test_malformed_json_is_refused(keys, text):
    assert refusal(text, keys[1]).reason == "malformed_json"


def test_text_that_is_not_utf8_is_refused(keys):
    assert refusal(b"\xff\xfe{}", keys[1]).reason == "malformed_json"


def test_a_huge_file_is_refused(keys):
    assert refusal(" " * (64 * 1024 + 1), keys[1]).reason == "too_large"


@pytest.mark.parametrize("name", ["key_id", "private_key", "authorization"])
def test_every_field_of_the_file_is_required(keys, name):
    document = json.loads(issue(keys))
    del document[name]
    error = refusal(json.dumps(document), keys[1])
    assert (error.reason, error.detail["field"]) == ("missing_field", name)
    assert name in error.message


@pytest.mark.parametrize("value", [5, None, "", ["x"]])
def test_fields_must_be_strings(keys, value):
    document = json.loads(issue(keys))
    document["key_id"] = value
    error = refusal(json.dumps(document), keys[1])
    assert (error.reason, error.detail["field"]) == ("invalid_field", "key_id")


def test_authorization_that_is_not_base64_is_refused(keys):
    document = json.loads(issue(keys))
    document["authorization"] = "not*base64!"
    error = refusal(json.dumps(document), keys[1])
    assert (error.reason, error.detail["field"]) == ("bad_base64", "authorization")


def test_private_key_that_is_not_base64url_is_refused(keys):
    document = json.loads(issue(keys))
    document["private_key"] = "not*base64!"
    error = refusal(json.dumps(document), keys[1])
    assert (error.reason, error.detail["field"]) == ("bad_base64", "private_key")


def test_authorization_that_is_not_a_jws_is_refused(keys):
    document = json.loads(issue(keys))
    document["authorization"] = base64.b64encode(b"just some text").decode()
    assert refusal(json.dumps(document), keys[1]).reason == "malformed_authorization"


def test_a_signed_payload_that_is_not_an_object_is_refused(keys):
    key = serialization.load_pem_private_key(keys[0], None)
    jws = PyJWS().encode(b"[1]", key, algorithm="ES256")
    document = json.loads(issue(keys))
    document["authorization"] = base64.b64encode(jws.encode()).decode()
    assert refusal(json.dumps(document), keys[1]).reason == "malformed_authorization"


def test_a_license_signed_by_another_key_is_refused(keys):
    text = issue((keys[2],))
    error = refusal(text, keys[1])
    assert error.reason == "bad_signature"
    assert "not signed by the key DTR trusts" in error.message


def test_a_changed_payload_breaks_the_signature(keys):
    document = json.loads(issue(keys))
    header, payload, signature = base64.b64decode(document["authorization"]).decode().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["maxEngines"] = 1000
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    document["authorization"] = base64.b64encode(f"{header}.{forged}.{signature}".encode()).decode()
    assert refusal(json.dumps(document), keys[1]).reason == "bad_signature"


def test_an_unsigned_license_is_refused(keys):
    jws = PyJWS().encode(json.dumps(good_payload()).encode(), None, algorithm="none")
    document = json.loads(signed_file(keys[0], good_payload()))
    document["authorization"] = base64.b64encode(jws.encode()).decode()
    assert refusal(json.dumps(document), keys[1]).reason == "bad_signature"


def test_another_private_key_in_the_file_breaks_the_token(keys):
    document = json.loads(issue(keys))
    document["private_key"] = base64.urlsafe_b64encode(b"another secret").decode()
    error = refusal(json.dumps(document), keys[1])
    assert error.reason == "bad_token"
    assert "private_key" in error.message


def test_a_token_of_another_expiration_is_refused(keys):
    payload = good_payload()
    payload["token"] = license_token("2030-01-01T00:00:00Z", "c2VjcmV0LWtleS1vZi10aGUtbGljZW5zZQ==")
    assert refusal(signed_file(keys[0], payload), keys[1]).reason == "bad_token"


def test_a_token_that_is_not_base64url_is_refused(keys):
    payload = good_payload()
    payload["token"] = "%%%"
    assert refusal(signed_file(keys[0], payload), keys[1]).reason == "bad_token"


@pytest.mark.parametrize("name", ["expiration", "token", "licenseType", "tier", "licensee"])
def test_every_payload_field_is_required(keys, name):
    payload = good_payload()
    del payload[name]
    error = refusal(signed_file(keys[0], payload), keys[1])
    assert (error.reason, error.detail["field"]) == ("missing_field", name)


@pytest.mark.parametrize(
    "name, value",
    [
        ("expiration", "next tuesday"),
        ("expiration", "2026-09-01T00:00:00"),  # no zone
        ("maxEngines", "ten"),
        ("maxEngines", -1),
        ("maxEngines", True),
        ("tier", 3),
    ],
)
def test_payload_fields_of_a_wrong_kind_are_refused(keys, name, value):
    payload = good_payload()
    payload[name] = value
    error = refusal(signed_file(keys[0], payload), keys[1])
    assert (error.reason, error.detail["field"]) == ("invalid_field", name)


def test_an_expired_license_is_refused_unless_stored(keys):
    text = issue(keys, expires_at=NOW - timedelta(seconds=1))
    error = refusal(text, keys[1])
    assert error.reason == "expired"
    assert rfc3339(NOW - timedelta(seconds=1)) in error.message
    assert verify_license(text, keys[1], NOW, allow_expired=True).expired(NOW)
    assert verify_license(text, keys[1], NOW - timedelta(seconds=2)).licensee == "Acme Corp"


def test_rfc3339_is_gos_form():
    assert rfc3339(datetime(2026, 9, 1, 0, 0, 0, 123456, tzinfo=UTC)) == "2026-09-01T00:00:00Z"
    plus_two = timezone(timedelta(hours=2))
    assert rfc3339(datetime(2026, 9, 1, 2, 0, tzinfo=plus_two)) == "2026-09-01T02:00:00+02:00"


# --- keys --------------------------------------------------------------------------------


def test_the_trusted_key_is_a_pem_string_or_a_path(keys, tmp_path):
    path = tmp_path / "public.pem"
    path.write_text(keys[1])
    assert read_public_key_pem(str(path)) == keys[1]
    assert read_public_key_pem(keys[1]) == keys[1].strip()
    assert "BEGIN PUBLIC KEY" in read_public_key_pem(str(DEFAULT_PUBLIC_KEY_PATH))


def test_the_shipped_key_is_public_only():
    text = DEFAULT_PUBLIC_KEY_PATH.read_text()
    assert "PRIVATE" not in text
    assert isinstance(serialization.load_pem_public_key(text.encode()), ec.EllipticCurvePublicKey)


@pytest.mark.parametrize("problem", ["missing", "garbage", "private", "ed25519", "p384", ""])
def test_an_unusable_trusted_key_is_a_clear_error(tmp_path, keys, problem):
    values = {
        "missing": str(tmp_path / "nope.pem"),
        "garbage": "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n",
        "private": keys[0].decode(),
        "ed25519": _public_pem(ed25519.Ed25519PrivateKey.generate()),
        "p384": _public_pem(ec.generate_private_key(ec.SECP384R1())),
        "": "",
    }
    with pytest.raises(LicenseKeyError) as caught:
        read_public_key_pem(values[problem])
    assert "LICENSE_PUBLIC_KEY" in str(caught.value) or "license key" in str(caught.value)


def _public_pem(private_key):
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_issuing_with_an_unusable_private_key_is_a_clear_error():
    with pytest.raises(LicenseKeyError, match="not an unencrypted PEM private key"):
        issue_license(b"nope", "a", "b", "c", 1, EXPIRES)


# --- states ------------------------------------------------------------------------------

ACME = License("id-1", "Acme Corp", "Production", "Offline", 10, EXPIRES)


def test_days_left_round_up_and_stop_at_zero():
    assert days_left(NOW + timedelta(days=30), NOW) == 30
    assert days_left(NOW + timedelta(days=13, hours=1), NOW) == 14
    assert days_left(NOW + timedelta(seconds=1), NOW) == 1
    assert days_left(NOW, NOW) == 0
    assert days_left(NOW - timedelta(days=3), NOW) == 0


def test_a_fresh_install_is_on_a_30_day_trial():
    status = compute_status(None, None, NOW, 3, NOW)
    assert (status.state, status.days_left, status.banner) == ("trial", TRIAL_DAYS, None)
    assert status.expires_at == NOW + timedelta(days=30)
    assert (status.seats_used, status.seats_allowed, status.licensee) == (3, None, None)


def test_the_trial_warns_in_its_last_14_days_then_ends():
    started = NOW - timedelta(days=15, hours=23)
    assert compute_status(None, None, started, 1, NOW).banner is None
    status = compute_status(None, None, NOW - timedelta(days=16), 1, NOW)
    assert (status.state, status.days_left) == ("trial", 14)
    assert "trial ends in 14 days" in status.banner
    status = compute_status(None, None, NOW - timedelta(days=29, hours=1), 1, NOW)
    assert "ends in 1 day " in status.banner
    status = compute_status(None, None, NOW - timedelta(days=30), 1, NOW)
    assert (status.state, status.days_left) == ("trial-expired", 0)
    assert "trial ended on 2026-03-01" in status.banner and "keeps working" in status.banner


def test_a_license_is_valid_then_expiring_then_expired():
    status = compute_status(ACME, None, NOW, 4, EXPIRES - timedelta(days=14, seconds=1))
    assert (status.state, status.banner, status.days_left) == ("valid", None, 15)
    assert (status.licensee, status.tier, status.license_type) == (
        "Acme Corp",
        "Production",
        "Offline",
    )
    assert (status.seats_allowed, status.seats_used, status.key_id) == (10, 4, "id-1")
    assert status.expires_at == EXPIRES
    status = compute_status(ACME, None, NOW, 4, EXPIRES - timedelta(days=14))
    assert (status.state, status.days_left) == ("expiring", 14)
    assert status.banner.startswith("The DTR license of Acme Corp expires in 14 days (2026-09-01)")
    status = compute_status(ACME, None, NOW, 4, EXPIRES)
    assert (status.state, status.days_left) == ("expired", 0)
    assert "expired on 2026-09-01" in status.banner and "keeps working" in status.banner
    assert status.licensee == "Acme Corp"


def test_an_invalid_stored_license_warns_with_its_problem():
    status = compute_status(None, "bad signature: x", NOW, 2, NOW)
    assert (status.state, status.problem, status.licensee, status.expires_at) == (
        "invalid",
        "bad signature: x",
        None,
        None,
    )
    assert "bad signature: x" in status.banner


def test_every_state_is_named():
    assert STATES == ("trial", "trial-expired", "valid", "expiring", "expired", "invalid")


# --- the stored license ------------------------------------------------------------------


@pytest.fixture
def app_for(tmp_path):
    """An app on a migrated database of its own, trusting the given public key."""

    def make(public_pem, name="instance"):
        app = create_app(tmp_path / name, {"LICENSE_PUBLIC_KEY": public_pem})
        with app.app_context():
            upgrade(directory=app.extensions["migrate"].directory)
        forget_cached_settings()
        return app

    yield make
    forget_cached_settings()


def forget_cached_settings():
    """The settings cache is per process, not per database."""
    for key in (stored.LICENSE_SETTING, stored.INSTALLED_AT_SETTING, "auth_mode"):
        forget_cached_setting(key)


def test_the_install_date_is_stored_once(app_for, keys):
    with app_for(keys[1]).app_context():
        stored.record_install_date(NOW)
        forget_cached_setting(stored.INSTALLED_AT_SETTING)
        stored.record_install_date(NOW + timedelta(days=3))
        forget_cached_setting(stored.INSTALLED_AT_SETTING)
        assert stored.trial_started_at() == NOW
        status = stored.license_status(NOW + timedelta(days=31))
        assert status.state == "trial-expired"


def test_the_install_date_is_recorded_when_first_needed(app_for, keys):
    with app_for(keys[1]).app_context():
        before = datetime.now(UTC).replace(microsecond=0)
        first = stored.trial_started_at()
        assert before <= first <= datetime.now(UTC)
        assert stored.license_status().state == "trial"
        forget_cached_setting(stored.INSTALLED_AT_SETTING)
        assert stored.trial_started_at() == first


def test_seats_used_are_active_users(app_for, keys):
    with app_for(keys[1]).app_context():
        db.session.add_all(
            [
                Account(name="ann", is_org=False, active=True),
                Account(name="bob", is_org=False, active=True),
                Account(name="gone", is_org=False, active=False),
                Account(name="acme", is_org=True),
            ]
        )
        db.session.commit()
        assert stored.seats_used() == 2
        assert stored.license_status(NOW).seats_used == 2


def test_install_stores_audits_and_a_refusal_keeps_the_previous(app_for, keys):
    with app_for(keys[1]).app_context():
        set_setting("auth_mode", "managed")
        stored.record_install_date(NOW)
        first = issue(keys, licensee="First Inc")
        status = stored.install_license(Identity("root", "admin"), first, NOW)
        assert (status.state, status.licensee, status.seats_allowed) == ("valid", "First Inc", 10)
        event = db.session.query(AuditEvent).filter_by(action="settings.license").one()
        assert (event.actor, event.target) == ("root", "First Inc")
        assert json.loads(event.detail)["seats"] == 10
        for bad in [issue((keys[2],)), issue(keys, expires_at=NOW - timedelta(days=1)), "{"]:
            with pytest.raises(LicenseError):
                stored.install_license(None, bad, NOW)
            forget_cached_setting(stored.LICENSE_SETTING)
            assert stored.license_status(NOW).licensee == "First Inc"
        assert db.session.query(AuditEvent).filter_by(action="settings.license").count() == 1
        stored.install_license(None, issue(keys, licensee="Second Inc").encode(), NOW)
        forget_cached_setting(stored.LICENSE_SETTING)
        assert stored.license_status(NOW).licensee == "Second Inc"


def test_only_admins_install(app_for, keys):
    with app_for(keys[1]).app_context():
        set_setting("auth_mode", "managed")
        with pytest.raises(Denied):
            stored.install_license(Identity("joe", "read-write"), issue(keys), NOW)
        assert stored.license_status(NOW).state == "trial"


def test_a_stored_license_expires_and_one_by_an_untrusted_key_is_invalid(app_for, keys, tmp_path):
    with app_for(keys[1]).app_context():
        stored.install_license(None, issue(keys), NOW)
        later = stored.license_status(EXPIRES + timedelta(days=1))
        assert (later.state, later.licensee) == ("expired", "Acme Corp")
    _, other_public = generate_key_pair()
    with app_for(other_public.decode()).app_context():  # the same database, another key
        status = stored.license_status(NOW)
        assert status.state == "invalid"
        assert status.problem.startswith("bad signature")
