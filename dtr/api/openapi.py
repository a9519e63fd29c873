"""The OpenAPI 3 document of /api/v0."""

from flask import current_app

DOCUMENT = {"openapi": "3.0.3", "info": {"title": "DTR API", "version": "v0"}, "paths": {}}


def openapi_document():
    return current_app.json.response(DOCUMENT)
