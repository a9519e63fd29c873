"""Settings › Proxies (admins): proxy namespaces, the pull-through caches of upstream
registries, with each upstream's health; the same service as the API
(services/proxy_caches.py)."""

from flask import request

from ..errors import DomainError
from ..services import proxy_caches
from .navigation import settings_tabs
from .rendering import form_error, go, page
from .settings_pages import admin

FORM_FIELDS = (
    "name",
    "upstreamUrl",
    "username",
    "password",
    "visibility",
    "hosts",
    "tagCheckSeconds",
    "evictAfterDays",
)


def proxies_tab(me, error=None, typed=None, status=200):
    rows = proxy_caches.list_proxies(me)
    return page(
        "settings/proxies.html",
        status,
        tab="proxies",
        tabs=settings_tabs(),
        proxies=[(row, name, proxy_caches.health_state(row)) for row, name in rows],
        error=error,
        typed=typed or {},
        registry_host=request.host,
    )


def create_proxy():
    me = admin()
    form = request.form
    body = {
        "upstreamUrl": form.get("upstreamUrl", "").strip() or proxy_caches.DOCKER_HUB_URL,
        "username": form.get("username", "").strip() or None,
        "password": form.get("password") or None,
        "visibility": form.get("visibility", "private"),
        "defaultMirror": form.get("defaultMirror") == "on",
        "verifyTls": form.get("verifyTls", "on") == "on",
        "tagCheckSeconds": _number(form.get("tagCheckSeconds", "300")),
        "evictAfterDays": _number(form.get("evictAfterDays", "7")),
    }
    hosts = form.get("hosts", "").replace(",", " ").split()
    if hosts:
        body["hosts"] = hosts
    name = form.get("name", "").strip()
    try:
        proxy_caches.create_proxy(me, name, body)
    except DomainError as failure:
        typed = {**form, "password": ""}
        error = form_error(failure, "new-proxy", FORM_FIELDS, default="name")
        return proxies_tab(me, error, typed, 400)
    return go("web.settings_tab", f"Proxy namespace {name} created.", tab="proxies")


def _number(text):
    text = text.strip()
    return int(text) if text.isdecimal() and len(text) < 10 else text


def check_proxy(name):
    me = admin()
    failure = proxy_caches.check_upstream(me, name)
    if failure is not None:
        return go("web.settings_tab", f"{name}: {failure}", "error", tab="proxies")
    return go("web.settings_tab", f"{name}: the upstream answers.", tab="proxies")


def delete_proxy(name):
    me = admin()
    proxy_caches.delete_proxy(me, name)
    message = f"{name} no longer mirrors its upstream; what it cached stays as an organization."
    return go("web.settings_tab", message, tab="proxies")
