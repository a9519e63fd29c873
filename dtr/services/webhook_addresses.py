"""Where webhooks may not be sent: this machine (loopback), link-local addresses (the cloud's
metadata service at 169.254.169.254 hands out credentials), unspecified, multicast and
reserved ones, unless WEBHOOK_ALLOW_LOCAL is set. A repository's admin may add a webhook; the
URL must not make DTR a proxy into its own host (SSRF). Private networks (10/8, 172.16/12,
192.168/16, fc00::/7) stay allowed: a team's CI is usually there.

A URL whose host is an address is refused when the webhook is saved; a name is resolved and
checked each time a delivery is sent (by the worker, never in a request), so a name later
pointed at a refused address is refused then. (What is connected to is resolved again by
the HTTP client: a name that changes between the two look-ups is not caught.)"""

import ipaddress
import socket


def refused_kind(address: str) -> str | None:
    """Why `address` (an IP address) is refused, or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind, refused in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("unspecified", ip.is_unspecified),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
    ):
        if refused:
            return kind
    return None


def refused_literal(host: str) -> str | None:
    """Why a URL's host that is an address is refused (None for a name, or an address that
    may be used)."""
    try:
        kind = refused_kind(host)
    except ValueError:
        return None
    return f"{host} is a {kind} address" if kind else None


def refused_destination(host: str, port: int) -> str | None:
    """Why sending to `host` is refused, after resolving it (None: it may be sent, or it does
    not resolve, which the HTTP client reports)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return None
    for *_, address in found:
        kind = refused_kind(address[0])
        if kind:
            return f"{host} resolves to {address[0]}, a {kind} address"
    return None
