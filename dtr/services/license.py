"""The installed license and the trial (Settings > License).

The accepted license file is stored as it was given (setting `license`); it is verified again
whenever the status is asked for, so a change of the trusted key shows at once. A fresh
install runs on a trial of TRIAL_DAYS from its install date (setting `installed_at`, stored
at first start or the first time it is needed, and never changed). An expired, invalid or
missing license only warns: nothing here is asked before a pull or a push.
"""

import json
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import func, select

from ..database import db, insert_ignoring_duplicates
from ..license import (
    License,
    LicenseError,
    LicenseStatus,
    compute_status,
    rfc3339,
    verify_license,
)
from ..models import Account, Setting
from . import audit
from .callers import require_admin
from .settings import forget_cached_setting, get_setting, set_setting

LICENSE_SETTING = "license"
INSTALLED_AT_SETTING = "installed_at"


def _now() -> datetime:
    return datetime.now(UTC)


def trusted_public_key() -> str:
    """The PEM of the key licenses must be signed with (config LICENSE_PUBLIC_KEY)."""
    return current_app.config["LICENSE_PUBLIC_KEY_PEM"]


def record_install_date(now: datetime | None = None):
    """Store the install date if there is none yet (the first start); idempotent."""
    if get_setting(INSTALLED_AT_SETTING) is not None:
        return
    moment = rfc3339(now or _now())
    insert_ignoring_duplicates(Setting, key=INSTALLED_AT_SETTING, value=json.dumps(moment))
    db.session.commit()
    forget_cached_setting(INSTALLED_AT_SETTING)


def trial_started_at() -> datetime:
    record_install_date()
    return datetime.fromisoformat(get_setting(INSTALLED_AT_SETTING))


def seats_used() -> int:
    """Active user accounts (organizations take no seat)."""
    query = select(func.count(Account.id)).where(
        Account.is_org.is_(False), Account.active.is_(True)
    )
    return db.session.scalar(query)


def installed_license(now: datetime | None = None) -> tuple[License | None, str | None]:
    """(the stored license, None), (None, why it no longer verifies), or (None, None)."""
    text = get_setting(LICENSE_SETTING)
    if text is None:
        return None, None
    try:
        return verify_license(text, trusted_public_key(), now or _now(), allow_expired=True), None
    except LicenseError as error:
        return None, error.message


def license_status(now: datetime | None = None) -> LicenseStatus:
    """The license state, its fields and the banner to show (None: no banner)."""
    now = now or _now()
    installed, problem = installed_license(now)
    return compute_status(installed, problem, trial_started_at(), seats_used(), now)


def install_license(actor, text: str | bytes, now: datetime | None = None) -> LicenseStatus:
    """Verify a license file and store it in place of the previous one; a refused file
    raises LicenseError (with its reason) and changes nothing. `actor` None: the command
    line."""
    if actor is not None:
        require_admin(actor, "install a license")
    now = now or _now()
    accepted = verify_license(text, trusted_public_key(), now)
    if isinstance(text, bytes):
        text = text.decode()
    set_setting(LICENSE_SETTING, text, commit=False)
    audit.record(
        actor.name if actor else None,
        "settings.license",
        accepted.licensee,
        {
            "keyId": accepted.key_id,
            "tier": accepted.tier,
            "licenseType": accepted.license_type,
            "seats": accepted.seats,
            "expiration": rfc3339(accepted.expires_at),
        },
    )
    db.session.commit()
    forget_cached_setting(LICENSE_SETTING)
    return license_status(now)
