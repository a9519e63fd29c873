"""Proxy namespaces (pull-through cache of an upstream registry), for administrators."""

from ..errors import InvalidInput
from ..services import proxy_caches
from . import serialize
from .common import caller, json_body


def list_proxies():
    rows = proxy_caches.list_proxies(caller())
    return {"proxies": [serialize.proxy_cache(row, name) for row, name in rows]}


def create_proxy():
    identity, body = caller(), json_body()
    name = body.pop("name", None)
    if not isinstance(name, str):
        raise InvalidInput("name: required, the proxy namespace's name", {"field": "name"})
    row, name = proxy_caches.create_proxy(identity, name, body)
    return serialize.proxy_cache(row, name), 201


def get_proxy(proxy):
    return serialize.proxy_cache(*proxy_caches.get_proxy(caller(), proxy))


def update_proxy(proxy):
    identity, body = caller(), json_body()
    return serialize.proxy_cache(*proxy_caches.update_proxy(identity, proxy, body))


def delete_proxy(proxy):
    proxy_caches.delete_proxy(caller(), proxy)
    return "", 204


def check_proxy(proxy):
    failure = proxy_caches.check_upstream(caller(), proxy)
    return {"reachable": failure is None, "error": failure}
