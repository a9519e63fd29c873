"""The one-time set-up code of a fresh install.

Until the first admin exists, whoever reaches DTR first could become its admin. `serve`
prints a random code (and writes it to `instance/setup_code`, readable by the owner only);
creating the first admin from another machine needs it, as Jenkins and Grafana do. From the
host itself (a loopback address without proxy headers) it is not needed, and the command
line (`create-user`) never needs it. The code is gone once the first admin exists.
"""

import hashlib
import hmac
import secrets
from pathlib import Path

from flask import current_app

from ..errors import Denied
from .settings import get_setting, set_setting

SETTING = "setup_code_sha256"
FILE_NAME = "setup_code"


def _path() -> Path:
    return Path(current_app.config["INSTANCE_DIR"]) / FILE_NAME


def _digest(code: str) -> str:
    return hashlib.sha256(code.strip().encode("utf-8", "replace")).hexdigest()


def ensure_setup_code() -> str | None:
    """The set-up code while DTR is not set up (made on first need, kept across restarts);
    None once it is."""
    path = _path()
    if get_setting("auth_mode") != "none":
        path.unlink(missing_ok=True)
        return None
    if path.exists():
        code = path.read_text().strip()
        if code and get_setting(SETTING) == _digest(code):
            return code
    code = "-".join(secrets.token_hex(3) for _ in range(4))
    temporary = path.with_suffix(".tmp")
    temporary.write_text(code + "\n")
    temporary.chmod(0o600)
    temporary.replace(path)
    set_setting(SETTING, _digest(code))
    return code


def check_setup_code(code, local: bool):
    """Raise Denied unless the request is local or brings the set-up code."""
    if local:
        return
    stored = get_setting(SETTING)
    if not stored or not isinstance(code, str) or not hmac.compare_digest(_digest(code), stored):
        raise Denied(
            "the set-up code is missing or wrong: creating the first admin from another "
            "machine needs the code `python app.py serve` printed (also in the instance "
            f"folder's {FILE_NAME} file)",
            {"field": "setupCode"},
        )


def discard_setup_code():
    """In the transaction that creates the first admin; `remove_setup_code_file` after it
    commits."""
    set_setting(SETTING, None, commit=False)


def remove_setup_code_file():
    _path().unlink(missing_ok=True)
