"""SQLite is tuned on every connection: WAL, busy timeout, foreign keys, serialized writers."""

from sqlalchemy import text

from dtr import create_app
from dtr.database import SerializedWriteConnection, db


def test_sqlite_pragmas_and_connection_class(tmp_path):
    app = create_app(tmp_path / "instance")
    with app.app_context():
        connection = db.session.connection()
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert isinstance(connection.connection.dbapi_connection, SerializedWriteConnection)
        db.session.rollback()
