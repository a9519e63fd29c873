"""API docs: Swagger UI (vendored) over the OpenAPI document, calling the API as the
logged-in user (session cookie + CSRF header, see static/api-console.js)."""

from .rendering import page
from .repository_pages import logged_in


def api_console():
    logged_in()
    return page("api_console.html")
