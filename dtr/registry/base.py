"""GET /v2/: the API version check; answers 200 to any authenticated caller."""

from .authorization import current_caller


def version_check():
    current_caller()
    return {}, 200
