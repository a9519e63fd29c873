"""The database's schema revision: migrated to the code's head on every start (and by
`app.py migrate`), and never touched when the database was made by a newer DTR, whose
schema this code does not know (running it could lose what the newer code wrote)."""

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import upgrade

from .database import db


class SchemaTooNew(Exception):
    """The database's revision is none of this code's migrations."""


def _scripts() -> ScriptDirectory:
    return ScriptDirectory(current_app.extensions["migrate"].directory)


def head_revision() -> str:
    return _scripts().get_current_head()


def database_revision() -> str | None:
    """The database's revision; None for a database without DTR's tables yet."""
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate_to_head() -> tuple[str | None, str]:
    """Run the migrations the database lacks (each in a transaction where the database
    allows: PostgreSQL; SQLite's batch migrations copy tables). Returns (before, after).
    Raises SchemaTooNew, changing nothing, for a database of a newer DTR."""
    from . import __version__

    before = database_revision()
    scripts = _scripts()
    known = {script.revision for script in scripts.walk_revisions()}
    if before is not None and before not in known:
        raise SchemaTooNew(
            f"the database's schema (revision {before}) was made by a newer DTR than this one "
            f"(version {__version__}, schema revision {scripts.get_current_head()}): run that "
            "newer version, or restore a backup made by this one"
        )
    upgrade(directory=current_app.extensions["migrate"].directory)
    return before, database_revision()
