"""Which DTR answers and which schema its database has: `GET /api/v0/version`, the portal's
footer and CHANGELOG.md agree with `app.py --version`; `app.py migrate` brings a database to
the code's head and says so; a database made by a newer DTR is refused, by `migrate` and by
`serve`, with a message and without a change."""

from pathlib import Path

import requests
from alembic.script import ScriptDirectory

from dtr import __version__
from tests.support.server import ROOT, DTRProcess, free_port

HEAD = ScriptDirectory(str(ROOT / "dtr" / "migrations")).get_current_head()
NEWER = "ffffffff0001"  # a revision no migration of this code has


def test_version_everywhere_and_in_the_changelog(tmp_path):
    dtr = DTRProcess(tmp_path / "instance")
    dtr.create_users()
    dtr.start()
    try:
        answer = requests.get(f"{dtr.url}/api/v0/version", timeout=30)  # anyone may ask
        assert answer.status_code == 200
        assert answer.json() == {"version": __version__, "schemaRevision": HEAD}
        login = requests.get(f"{dtr.url}/login", timeout=30).text
        assert f'<footer class="container"><small>DTR {__version__}</small></footer>' in login
    finally:
        dtr.stop()
    changelog = (Path(ROOT) / "CHANGELOG.md").read_text()
    assert f"\n## {__version__}\n" in changelog, "CHANGELOG.md has no section for this version"


def test_migrate_then_refuse_a_newer_database(tmp_path):
    dtr = DTRProcess(tmp_path / "instance")
    first = dtr.cli("migrate")
    assert first.returncode == 0, first.stderr
    assert f"database migrated from empty to {HEAD} (DTR {__version__})" in first.stdout
    again = dtr.cli("migrate")
    assert again.returncode == 0, again.stderr
    assert f"the database is up to date (schema revision {HEAD}" in again.stdout
    assert dtr.sql("SELECT version_num FROM alembic_version") == [(HEAD,)]

    # a newer DTR wrote this database: this one changes nothing and says why
    dtr.sql("UPDATE alembic_version SET version_num = ?", (NEWER,))
    tables = dtr.sql("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    for command in (("migrate",), ("serve", "--http", "--bind", f"127.0.0.1:{free_port()}")):
        refused = dtr.cli(*command)
        assert refused.returncode != 0, command
        assert "Traceback" not in refused.stderr, refused.stderr
        assert f"revision {NEWER}) was made by a newer DTR" in refused.stderr, refused.stderr
        assert f"version {__version__}, schema revision {HEAD}" in refused.stderr
    assert dtr.sql("SELECT version_num FROM alembic_version") == [(NEWER,)]
    after = dtr.sql("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    assert after == tables
