"""What the credential pages (access tokens, robot accounts, Settings > Auth) share: numbers
read from forms, and the status of a refused form."""

from ..errors import Denied, DomainError, NameTaken, NameUnknown


def whole_number(text):
    """A form field as an int when it is one (at most 9 digits), else the text as typed, for
    the service to refuse with its message; an empty field is None (the default)."""
    text = (text or "").strip()
    if not text:
        return None
    return int(text) if text.isdecimal() and text.isascii() and len(text) <= 9 else text


def refusal_status(error: DomainError) -> int:
    """The status of a form page re-rendered with a service's refusal."""
    if isinstance(error, Denied):
        return 403
    if isinstance(error, NameUnknown):
        return 404
    return 409 if isinstance(error, NameTaken) else 400


def no_store(response, push_url=None):
    """A page that shows a secret: never cached; `push_url` is the address the browser
    shows (HTMX), the page without the secret."""
    body, status = response
    headers = {"Cache-Control": "no-store"}
    if push_url:
        headers["HX-Push-Url"] = push_url
    return body, status, headers
