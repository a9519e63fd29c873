"""Settings > License over the API: the status, and installing a license file (the request
body is the license file itself, as DTR's license files are JSON)."""

from flask import request

from ..license import MAX_LICENSE_BYTES, LicenseStatus
from ..services.callers import require_admin
from ..services.license import install_license, license_status
from .common import caller


def _moment(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def status_json(status: LicenseStatus) -> dict:
    return {
        "state": status.state,
        "licensee": status.licensee,
        "tier": status.tier,
        "licenseType": status.license_type,
        "keyId": status.key_id,
        "seatsAllowed": status.seats_allowed,
        "seatsUsed": status.seats_used,
        "expiresAt": _moment(status.expires_at),
        "daysLeft": status.days_left,
        "banner": status.banner,
        "problem": status.problem,
    }


def get_license():
    require_admin(caller(), "read the license")
    return status_json(license_status())


def put_license():
    actor = caller()
    require_admin(actor, "install a license")
    body = request.stream.read(MAX_LICENSE_BYTES + 1)  # longer: refused as too large
    return status_json(install_license(actor, body))
