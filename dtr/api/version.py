"""GET /api/v0/version: which DTR answers, and its database's schema revision."""

from .. import __version__
from ..schema_migrations import database_revision


def version():
    return {"version": __version__, "schemaRevision": database_revision()}
