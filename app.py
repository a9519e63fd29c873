"""DTR's command line and WSGI entry point (run it with the virtualenv's Python, which
`make run` creates: .venv/bin/python app.py ...).

python app.py serve [--bind HOST:PORT] [--instance DIR] [--http] [--workers N]
                   [--metrics-bind HOST:PORT]
python app.py create-user NAME --role ROLE [--instance DIR] --password-stdin
python app.py create-repo NAMESPACE/NAME [--public] [--instance DIR]
python app.py set-domain NAME [--instance DIR]
python app.py rotate-token-key [--instance DIR]
python app.py gc [--dry-run] [--instance DIR]
python app.py license keygen|issue|install|show ...
python app.py storage migrate --to CONFIG.json [--switch] [--jobs N] [--instance DIR]
python app.py storage verify [--jobs N] [--instance DIR]
python app.py migrate [--instance DIR]
python app.py backup --to DIR|FILE.tar.gz [--include-blobs] [--instance DIR]
python app.py backup --verify DIR|FILE.tar.gz
python app.py restore --from DIR|FILE.tar.gz [--instance DIR]
python app.py db ...  (schema migrations: Flask-Migrate)
"""

import os
import sys

try:
    import click
    from flask.cli import ScriptInfo

    from dtr import __version__, create_app
    from dtr.config import ConfigError
    from dtr.errors import DomainError
    from dtr.models import ROLES
except ImportError as missing:  # not the virtualenv's Python: say which one to use
    if __name__ != "__main__":
        raise
    sys.exit(
        f"DTR's Python packages are not installed for {sys.executable} ({missing}).\n"
        "Run `make run` (it creates .venv and installs them), then use the virtualenv's "
        "Python: .venv/bin/python app.py ..."
    )

DEFAULT_INSTANCE = os.environ.get("DTR_INSTANCE", "instance")
instance_option = click.option(
    "--instance",
    "instance_dir",
    default=DEFAULT_INSTANCE,
    show_default=True,
    help="Folder of runtime data: database, blobs, certificates, keys.",
)


def checked_app(instance_dir):
    """The application; a configuration that cannot be used is a clear error, not a trace."""
    try:
        return create_app(instance_dir)
    except ConfigError as error:
        raise click.ClickException(f"configuration: {error}") from None


def prepared_app(instance_dir):
    """The application with its database migrated to the current schema (and the install
    date, which starts the trial, recorded)."""
    from dtr.application import load_shared_keys
    from dtr.schema_migrations import SchemaTooNew, migrate_to_head
    from dtr.services.license import record_install_date

    app = checked_app(instance_dir)
    with app.app_context():
        try:
            migrate_to_head()
        except SchemaTooNew as error:
            raise click.ClickException(str(error)) from None
        record_install_date()
    load_shared_keys(app)  # a database's first start makes them
    return app


class Commands(click.Group):
    """DTR's commands, and `db` (Flask-Migrate's schema migrations), imported only when
    asked for: the others start faster without it."""

    def list_commands(self, ctx):
        return sorted([*super().list_commands(ctx), "db"])

    def get_command(self, ctx, name):
        if name == "db":
            from flask_migrate.cli import db

            return db
        return super().get_command(ctx, name)


@click.group(
    cls=Commands,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "--version", prog_name="DTR", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx):
    """DTR, a self-hosted container image registry.

    Run with the virtualenv's Python (`make run` creates it): .venv/bin/python app.py
    COMMAND. `serve` starts the registry; COMMAND --help tells more."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


def command_line(*arguments) -> str:
    """How to run `app.py ARGUMENTS` from the current folder with the Python running now:
    paths relative to it when they are below it (.venv/bin/python app.py ...)."""

    def shown(path):
        relative = os.path.relpath(path)
        return path if relative.startswith("..") else relative

    script = shown(os.path.abspath(__file__))
    return " ".join([shown(sys.executable), script, *arguments])


@cli.command()
@click.option("--bind", default="0.0.0.0:8443", show_default=True, help="Address to listen on.")
@instance_option
@click.option(
    "--http", is_flag=True, help="Serve plain HTTP (loopback and tests) instead of HTTPS."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Server processes, each with THREADS threads [default: WORKERS of the configuration, 1].",
)
@click.option(
    "--metrics-bind",
    metavar="HOST:PORT",
    help="Also serve the Prometheus metrics (plain HTTP, WITHOUT authentication) on this "
    "address, such as 10.0.0.5:9100: only for a private network that the Prometheus server "
    "alone reaches, never exposed. /metrics on --bind always asks for an admin or a token "
    "with the metrics scope.",
)
def serve(bind, instance_dir, http, workers, metrics_bind):
    """Run the registry under the production server (gunicorn: one process by default, many
    threads; --workers N for several, on SQLite or PostgreSQL). /metrics answers in the
    Prometheus text format (admins, or an access token with the metrics scope), summing
    every worker.

    Until the first admin exists, it prints a one-time set-up code (also written to the
    instance's setup_code file): creating that admin from another machine needs it."""
    from dtr.database import db
    from dtr.services.settings import get_setting
    from dtr.services.setup_code import ensure_setup_code
    from dtr.tls import ensure_certificate

    check_address_free(bind)
    if metrics_bind:
        if metrics_bind == bind:
            raise click.BadParameter("must differ from --bind", param_hint="--metrics-bind")
        check_address_free(metrics_bind, "--metrics-bind")
    app = prepared_app(instance_dir)
    with app.app_context():
        # the certificate every replica serves (made by the first), in this instance's files
        cert_path, key_path = ensure_certificate(app.instance_path, get_setting("domain_name"))
        db.session.commit()
        setup_code = ensure_setup_code()
    scheme = "http" if http else "https"
    host, _, port = bind.rpartition(":")
    shown = "localhost" if host in ("0.0.0.0", "", "::", "[::]") else host
    click.echo(f"DTR serving {scheme}://{shown}:{port}/ (instance {app.instance_path})")
    click.echo(f"Trust its certificate: {scheme}://{shown}:{port}/ca.crt")
    if setup_code is not None:
        instance = [] if instance_dir == "instance" else ["--instance", instance_dir]
        create = command_line("create-user", "admin", "--role", "admin", *instance)
        click.echo(
            "Not set up yet: create the first admin\n"
            f"  in the browser: {scheme}://{shown}:{port}/setup (from another machine it asks"
            f" for this set-up code: {setup_code},\n"
            f"  also in {os.path.join(app.instance_path, 'setup_code')})\n"
            f"  or on the command line: {create} --password-stdin"
        )
    command = [sys.executable, "-m", "dtr.server", "--bind", bind]
    command += ["--instance", app.instance_path, "--threads", str(app.config["THREADS"])]
    command += ["--workers", str(workers or app.config["WORKERS"])]
    if metrics_bind:
        command += ["--metrics-bind", metrics_bind]
        click.echo(f"Metrics without authentication: http://{metrics_bind}/metrics (keep private)")
    if not http:
        command += ["--cert", str(cert_path), "--key", str(key_path)]
    sys.stdout.flush()
    sys.stderr.flush()
    env = dict(os.environ)
    here = os.path.dirname(os.path.abspath(__file__))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    os.execve(sys.executable, command, env)  # a fresh, small process: the gunicorn master


def check_address_free(bind, option="--bind"):
    """Refuse at once, saying so, to serve on an address in use (by another DTR, say),
    rather than failing after the server's retries."""
    import errno
    import socket

    host, _, port = bind.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    if not port.isdecimal() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{bind}: HOST:PORT, such as 0.0.0.0:8443", param_hint=option)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind((host, int(port)))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    f"{bind} is in use: another DTR, or another program, listens there. Stop "
                    f"it, or serve on another address: {option} HOST:PORT"
                    + (" (make run BIND=HOST:PORT)." if option == "--bind" else ".")
                ) from None
            raise click.ClickException(f"cannot listen on {bind}: {error.strerror}") from None


def read_password():
    """The password of --password-stdin: typed at a hidden prompt (twice) when stdin is a
    terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        return click.prompt(
            "Password", hide_input=True, confirmation_prompt="Password again", err=True
        )
    return sys.stdin.readline().rstrip("\r\n")


@cli.command("create-user")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="Global role.")
@instance_option
@click.option(
    "--password-stdin",
    is_flag=True,
    required=True,
    help="Read the password from stdin (a hidden prompt when stdin is a terminal).",
)
def create_user_command(name, role, instance_dir, password_stdin):
    """Create a managed user (the password read from stdin, at least the minimum length of
    Settings > Auth: 12 by default). The first admin switches the auth mode from None to
    Managed."""
    from dtr.services.accounts import create_user

    password = read_password()
    app = prepared_app(instance_dir)
    with app.app_context():
        try:
            create_user(name, password, role)
        except DomainError as error:
            raise click.ClickException(error.message) from None
    click.echo(f"created user {name} with role {role}")


@cli.command("import-users")
@click.argument("csv_file", type=click.File("r", encoding="utf-8"))
@instance_option
def import_users_command(csv_file, instance_dir):
    """Create managed users from a CSV file (`-`: stdin) of lines username,password[,role]
    (role none by default; a header line username,password is skipped), as Settings > Auth >
    Import users does: every line is checked first, and nobody is created unless all are
    fine. An admin among them on a new instance switches the auth mode to Managed."""
    from dtr.services.accounts import import_users_csv

    text = csv_file.read(1024 * 1024)
    app = prepared_app(instance_dir)
    with app.app_context():
        try:
            names = [account.name for account in import_users_csv(None, text)]
        except DomainError as error:
            raise click.ClickException(f"{error.message} (nobody was created)") from None
    click.echo(f"created {len(names)} users: {', '.join(names)}")


@cli.command("create-repo")
@click.argument("full_name", metavar="NAMESPACE/NAME")
@click.option("--public", is_flag=True, help="Anyone, anonymous included, may pull it.")
@instance_option
def create_repo_command(full_name, public, instance_dir):
    """Create a repository in a user (or organization) namespace."""
    from dtr.services.repositories import create_repository

    app = prepared_app(instance_dir)
    with app.app_context():
        try:
            create_repository(None, full_name, public=public)
        except DomainError as error:
            raise click.ClickException(error.message) from None
    click.echo(f"created {'public' if public else 'private'} repository {full_name}")


@cli.command("set-domain")
@click.argument("domain")
@instance_option
def set_domain_command(domain, instance_dir):
    """Set the domain name; the TLS certificate is regenerated (a running server picks it up)."""
    from dtr.services.general_settings import check_domain_name
    from dtr.services.settings import set_setting
    from dtr.tls import ensure_certificate

    app = prepared_app(instance_dir)
    with app.app_context():
        try:
            domain = check_domain_name(domain)
        except DomainError as error:
            raise click.ClickException(error.message) from None
        set_setting("domain_name", domain)
        ensure_certificate(app.instance_path, domain)
    click.echo(f"domain name set to {domain}; certificate regenerated")


@cli.command("migrate")
@instance_option
def migrate_command(instance_dir):
    """Bring the database's schema up to this version of DTR (every start does it too), in a
    transaction where the database allows (PostgreSQL). Refused, changing nothing, on a
    database made by a newer DTR. Back up the instance folder and the database first."""
    from dtr.schema_migrations import SchemaTooNew, migrate_to_head

    app = checked_app(instance_dir)
    with app.app_context():
        try:
            before, after = migrate_to_head()
        except SchemaTooNew as error:
            raise click.ClickException(str(error)) from None
    if before == after:
        click.echo(f"the database is up to date (schema revision {after}, DTR {__version__})")
    else:
        click.echo(f"database migrated from {before or 'empty'} to {after} (DTR {__version__})")


@cli.command("backup")
@click.option(
    "--to",
    "target",
    metavar="DIR|FILE.tar.gz",
    help="Where to write the backup: a new folder, or a file ending .tar.gz.",
)
@click.option(
    "--include-blobs",
    is_flag=True,
    help="Copy the blobs into the backup too (from any storage backend). Without it, the "
    "backup lists the blobs its database references, for the storage's own backup.",
)
@click.option(
    "--verify",
    "verify_source",
    metavar="DIR|FILE.tar.gz",
    help="Check a backup instead of making one: every file against its recorded hash, the "
    "database copy, each included blob against its digest.",
)
@instance_option
def backup_command(target, include_blobs, verify_source, instance_dir):
    """Back up the instance while it serves: a consistent copy of the database (SQLite's
    online backup API, or pg_dump of one snapshot), the instance's own files (config.json,
    certs) and the blobs (--include-blobs) or their list. The database holds the users,
    teams, grants, settings, signatures, trust data and the keys. Garbage collection waits
    while a backup runs. `restore` puts a backup into an empty instance."""
    from dtr.services.backups import BackupFailed, make_backup, opened_backup, verify_backup

    if (target is None) == (verify_source is None):
        raise click.UsageError("give --to (make a backup) or --verify (check one)")
    try:
        if verify_source is not None:
            with opened_backup(verify_source) as folder:
                description, problems = verify_backup(folder)
            for problem in problems:
                click.echo(f"problem: {problem}")
            if problems:
                raise click.ClickException(f"the backup {verify_source} is damaged")
            click.echo(
                f"backup {verify_source} is sound: DTR {description['dtrVersion']}, "
                f"{description['database']} database, {description['blobCount']} blobs "
                f"{'included' if description['blobsIncluded'] else 'listed'}"
            )
            return
        app = prepared_app(instance_dir)
        with app.app_context():
            description = make_backup(target, include_blobs, click.echo)
    except BackupFailed as error:
        raise click.ClickException(error.message) from None
    click.echo(
        f"backup written to {target}: {description['blobCount']} blobs "
        f"({description['blobBytes']} bytes) "
        f"{'included' if include_blobs else 'listed, not included'}"
    )


@cli.command("restore")
@click.option(
    "--from",
    "source",
    required=True,
    metavar="DIR|FILE.tar.gz",
    help="The backup to restore (made by `backup --to`).",
)
@instance_option
def restore_command(source, instance_dir):
    """Restore a backup into an empty instance (a new --instance folder, and with
    DATABASE_URL an empty PostgreSQL database): the backup is verified first, then its
    database, files and blobs are put in place and the schema is migrated to this
    version. Blobs not in the backup must be in the storage already (its own backup)."""
    from dtr.services.backups import BackupFailed, opened_backup, verify_backup

    try:
        with opened_backup(source) as folder:
            description, problems = verify_backup(folder)  # before the instance is touched
            if problems:
                raise BackupFailed(f"the backup is damaged: {'; '.join(problems[:5])}")
            app = checked_app(instance_dir)
            with app.app_context():
                before, after, missing = _restore_into(app, folder, description)
    except BackupFailed as error:
        raise click.ClickException(error.message) from None
    click.echo(
        f"restored {source} (DTR {description['dtrVersion']}, schema {before}) into "
        f"{app.instance_path}; schema now {after}"
    )
    if missing:
        for digest in missing[:20]:
            click.echo(f"missing from the storage: {digest}")
        raise click.ClickException(
            f"{len(missing)} blobs the database references are not in the storage: restore "
            "the storage's own backup, then run `python app.py storage verify`"
        )


def _restore_into(app, folder, description):
    """The restore's steps in an empty instance: (schema before, after, missing blobs)."""
    from dtr.schema_migrations import migrate_to_head
    from dtr.services.backups import (
        BackupFailed,
        empty_instance_problem,
        restore_blobs,
        restore_database,
        restore_instance_files,
    )

    problem = empty_instance_problem()
    if problem:
        raise BackupFailed(f"cannot restore into {app.instance_path}: {problem}")
    restore_database(folder, description)
    restore_instance_files(folder)
    before, after = migrate_to_head()
    return before, after, restore_blobs(folder, description, click.echo)


@cli.command("rotate-token-key")
@instance_option
def rotate_token_key_command(instance_dir):
    """Make a new signing key for registry tokens. Tokens signed by the previous keys stay
    valid until they expire (refresh tokens too); every process sharing the database signs
    with the new key within seconds."""
    from dtr.auth.tokens import TokenKey
    from dtr.services.instance_keys import rotate_token_key

    app = prepared_app(instance_dir)
    with app.app_context():
        number = rotate_token_key(app.config["REFRESH_TOKEN_LIFETIME"])
        kid = TokenKey(app.instance_path, app.config["REFRESH_TOKEN_LIFETIME"]).kid  # re-read
    click.echo(f"token signing key {number} made, kid {kid}")
    click.echo("tokens signed by the previous keys stay valid until they expire")


@cli.command("setting")
@click.argument("key", type=click.Choice(["create_on_push"]))
@click.argument("value", required=False, type=click.BOOL)
@instance_option
def setting_command(key, value, instance_dir):
    """Show or change an admin setting (create_on_push: a push creates the repository in the
    pusher's own namespace)."""
    from dtr.services.settings import get_setting, set_setting

    app = prepared_app(instance_dir)
    with app.app_context():
        if value is not None:
            set_setting(key, value)
        click.echo(f"{key} = {str(get_setting(key)).lower()}")


@cli.command("evict-proxies")
@instance_option
def evict_proxies_command(instance_dir):
    """Delete the tags of proxy namespaces not pulled for their proxy's eviction time (as
    the hourly housekeeping does); garbage collection then frees what only they used."""
    from dtr.services.pull_through import evict_unpulled

    app = prepared_app(instance_dir)
    with app.app_context():
        evicted = evict_unpulled()
    click.echo(f"evicted {evicted} tag{'' if evicted == 1 else 's'}")


@cli.command("gc")
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@instance_option
def gc_command(dry_run, instance_dir):
    """Garbage-collect now: delete unreferenced manifests, blobs and abandoned uploads (safe
    while the registry serves pushes). One collection runs at a time."""
    import json

    from dtr.gc import run_garbage_collection

    app = prepared_app(instance_dir)
    with app.app_context():
        try:
            run = run_garbage_collection(dry_run=dry_run, triggered_by="cli")
        except DomainError as error:
            raise click.ClickException(error.message) from None
        report = json.loads(run.report or "{}")
        errors = json.loads(run.errors or "[]")
    verb = "would delete" if dry_run else "deleted"
    if dry_run:
        for kind in ("manifests", "blobs", "uploads"):
            for entry in report.get(kind, []):
                click.echo(f"{verb} {kind[:-1]} {entry}")
        if report.get("truncated"):
            click.echo("(more than 10,000 of a kind: the rest is not listed)")
    summary = (
        f"{verb} {run.manifests_deleted} manifests, {run.blobs_deleted} blobs "
        f"({run.bytes_reclaimed} bytes), {run.uploads_deleted} upload files"
    )
    _end_of_job("garbage collection", run, summary, errors, failed=run.state != "done")


def _end_of_job(name, run, summary, errors, failed):
    """The last lines of a job run from the command line; exit status 1 when `failed`."""
    seconds = (run.finished_at - run.started_at).total_seconds()
    click.echo(f"{name} {run.id} {run.state} in {seconds:.1f} s: {summary}")
    for error in errors:
        click.echo(f"error: {error}", err=True)
    if failed:
        sys.exit(1)


@cli.group("storage", cls=click.Group)
def storage_group():
    """Storage backends: copy the blobs to another backend before switching to it; verify
    the blobs stored."""


@storage_group.command("migrate")
@click.option(
    "--to",
    "config_file",
    required=True,
    type=click.File("r"),
    help='The target: a JSON file {"backend": "s3", "options": {...}}, as Settings > Storage '
    "and PUT /api/v0/admin/settings/storage take.",
)
@click.option("--switch", is_flag=True, help="Then make the target the storage in force.")
@click.option(
    "--jobs", default=4, show_default=True, type=click.IntRange(1, 64), help="Blobs at a time."
)
@instance_option
def storage_migrate_command(config_file, switch, jobs, instance_dir):
    """Copy every blob to another backend (resumable, each digest verified)."""
    import json

    from dtr.services.storage_migration import migrate
    from dtr.storage import StorageError

    try:
        body = json.load(config_file)
    except ValueError as error:
        raise click.ClickException(f"{config_file.name}: not JSON: {error}") from None

    def report(line):
        click.echo(line)
        sys.stdout.flush()

    app = prepared_app(instance_dir)
    with app.app_context():
        try:
            done = migrate(body, switch, jobs, report)
        except DomainError as error:
            raise click.ClickException(error.message) from None
        except StorageError as error:
            raise click.ClickException(f"storage: {error}") from None
    if not done:
        sys.exit(1)


@storage_group.command("verify")
@click.option(
    "--jobs", default=2, show_default=True, type=click.IntRange(1, 64), help="Blobs at a time."
)
@instance_option
def storage_verify_command(jobs, instance_dir):
    """Read back and hash every blob on the storage in use; quarantine the corrupt and missing
    ones (pulls get BLOB_UNKNOWN, a push of the content heals them) and list them with the
    repositories and tags that need them. Exits 1 when any was found, or the run failed."""
    from dtr.services.storage_verification import (
        begin_verification,
        errors_of,
        execute_verification,
        report_of,
    )

    def progress(scrub):
        blobs, size = scrub.totals
        click.echo(
            f"checked {scrub.counts['blobs']} of {blobs} blobs ({scrub.read} of {size} bytes read)"
        )
        sys.stdout.flush()

    app = prepared_app(instance_dir)
    with app.app_context():
        try:
            run = begin_verification("cli")
        except DomainError as error:
            raise click.ClickException(error.message) from None
        click.echo(f"storage verification {run.id} of {run.backend}")
        run = execute_verification(run.id, workers=jobs, progress=progress)
        report, errors = report_of(run), errors_of(run)
    for blob in report["blobs"]:
        click.echo(
            f"{blob['problem']} {blob['digest']} ({blob['size']} bytes): {blob['detail']}\n"
            f"  repositories: {', '.join(blob['repositories']) or '-'}\n"
            f"  tags: {', '.join(blob['tags']) or '-'}"
        )
    if report.get("truncated"):
        click.echo("(more damaged blobs than the report lists)")
    summary = (
        f"{run.blobs_checked} blobs ({run.bytes_checked} bytes) checked, {run.corrupt} corrupt, "
        f"{run.missing} missing (quarantined), {run.restored} released from quarantine"
    )
    failed = run.state != "done" or run.corrupt or run.missing
    _end_of_job("storage verification", run, summary, errors, failed)


@cli.group("license", cls=click.Group)
def license_group():
    """Licenses: make a key pair, issue signed licenses, install one, show the status."""


@license_group.command("keygen")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder to write license_private_key.pem and license_public_key.pem to.",
)
def license_keygen_command(out_dir):
    """Make a license key pair (EC P-256). DTR trusts the public key when LICENSE_PUBLIC_KEY
    (DTR_LICENSE_PUBLIC_KEY) names it; keep the private key secret. Never overwrites."""
    from pathlib import Path

    from dtr.license import generate_key_pair

    folder = Path(out_dir)
    private_path = folder / "license_private_key.pem"
    public_path = folder / "license_public_key.pem"
    for path in (private_path, public_path):
        if path.exists():
            raise click.ClickException(f"{path} exists; not overwriting a key")
    folder.mkdir(parents=True, exist_ok=True)
    private_pem, public_pem = generate_key_pair()
    with open(os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
        f.write(private_pem)
    public_path.write_bytes(public_pem)
    click.echo(f"wrote {private_path} (secret) and {public_path}")


@license_group.command("issue")
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="The license private key (PEM, EC P-256 or RSA), e.g. from `license keygen`.",
)
@click.option("--licensee", required=True, help="Who the license is for.")
@click.option("--tier", required=True, help="The tier, e.g. Production.")
@click.option("--type", "license_type", required=True, help="The license type, e.g. Offline.")
@click.option("--seats", required=True, type=click.IntRange(min=1), help="Active users allowed.")
@click.option(
    "--expires",
    required=True,
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%SZ"]),
    help="Expiry in UTC: YYYY-MM-DD (at 00:00 that day) or YYYY-MM-DDTHH:MM:SSZ.",
)
@click.option(
    "--out", "out_file", type=click.Path(dir_okay=False), help="Write it here, not to stdout."
)
def license_issue_command(key_file, licensee, tier, license_type, seats, expires, out_file):
    """Issue a signed license file (JSON) for the key pair of KEY."""
    import json
    from datetime import UTC
    from pathlib import Path

    from dtr.license import LicenseKeyError, issue_license

    try:
        issued = issue_license(
            Path(key_file).read_bytes(),
            licensee,
            tier,
            license_type,
            seats,
            expires.replace(tzinfo=UTC),
        )
    except LicenseKeyError as error:
        raise click.ClickException(f"{key_file}: {error}") from None
    text = json.dumps(issued, indent=2) + "\n"
    if out_file:
        Path(out_file).write_text(text)
        click.echo(f"wrote the license of {licensee} to {out_file}", err=True)
    else:
        click.echo(text, nl=False)


@license_group.command("install")
@click.argument("license_file", type=click.File("rb"))
@instance_option
def license_install_command(license_file, instance_dir):
    """Verify LICENSE_FILE (- for stdin) and install it in place of the current license."""
    from dtr.license import MAX_LICENSE_BYTES
    from dtr.services.license import install_license

    app = prepared_app(instance_dir)
    with app.app_context():
        try:
            status = install_license(None, license_file.read(MAX_LICENSE_BYTES + 1))
        except DomainError as error:
            raise click.ClickException(f"license refused: {error.message}") from None
    click.echo(f"installed the license of {status.licensee}")
    _echo_license_status(status)


@license_group.command("show")
@instance_option
def license_show_command(instance_dir):
    """Show the license (or trial) status, as Settings > License does."""
    from dtr.services.license import license_status

    app = prepared_app(instance_dir)
    with app.app_context():
        _echo_license_status(license_status())


def _echo_license_status(status):
    allowed = status.seats_allowed
    if allowed is None:
        allowed = "unlimited" if status.state.startswith("trial") else "unknown"
    rows = [
        ("state", status.state),
        ("licensee", status.licensee),
        ("tier", status.tier),
        ("type", status.license_type),
        ("key id", status.key_id),
        ("seats", f"{status.seats_used} used of {allowed}"),
        ("expires", status.expires_at and f"{status.expires_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("days left", status.days_left),
        ("problem", status.problem),
        ("warning", status.banner),
    ]
    for name, value in rows:
        if value is not None:
            click.echo(f"{name + ':':<11}{value}")


def __getattr__(name):
    """`app:app` for WSGI servers, created on first use only."""
    if name == "app":
        return create_app(DEFAULT_INSTANCE)
    raise AttributeError(name)


if __name__ == "__main__":
    # `db` (Flask-Migrate) finds the application of the default instance through this
    cli(obj=ScriptInfo(create_app=lambda: checked_app(DEFAULT_INSTANCE)))
