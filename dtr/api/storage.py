"""Settings > Storage for administrators: the backend in force and its options (secrets as
set/unset only), a connection test, and saving (which switches the backend live)."""

from ..services import storage_settings
from .common import caller, json_body


def get_settings():
    return storage_settings.describe(caller())


def put_settings():
    return storage_settings.update(caller(), json_body())


def test_connection():
    return storage_settings.try_connection(caller(), json_body())
