"""The registry's address as people type it (`docker login/pull/push ADDRESS/...`): one value
for every page. The domain name an admin set (Settings > General: `host` or `host:port`), else
the host (and port) the browser used: its Host header, or the X-Forwarded-Host of a proxy in
TRUSTED_PROXIES (see application.TrustedProxies)."""

from flask import request

from ..services.settings import get_setting


def registry_address() -> str:
    return get_setting("domain_name") or request.host
