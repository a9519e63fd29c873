"""DTR's command line and WSGI entry point.

python app.py serve [--bind HOST:PORT] [--instance DIR] [--http]
python app.py create-user NAME --role ROLE [--instance DIR] --password-stdin
python app.py create-repo NAMESPACE/NAME [--public] [--instance DIR]
python app.py set-domain NAME [--instance DIR]
"""

import os
import sys

import click
from flask.cli import FlaskGroup

from dtr import create_app
from dtr.errors import DomainError
from dtr.models import ROLES

DEFAULT_INSTANCE = os.environ.get("DTR_INSTANCE", "instance")
instance_option = click.option(
    "--instance",
    "instance_dir",
    default=DEFAULT_INSTANCE,
    show_default=True,
    help="Folder of runtime data: database, blobs, certificates, keys.",
)


def prepared_app(instance_dir):
    """The application with its database migrated to the current schema."""
    from flask_migrate import upgrade

    app = create_app(instance_dir)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
    return app


@click.group(
    cls=FlaskGroup, create_app=lambda: create_app(DEFAULT_INSTANCE), add_default_commands=False
)
def cli():
    """DTR, a self-hosted container image registry."""


@cli.command()
@click.option("--bind", default="0.0.0.0:8443", show_default=True, help="Address to listen on.")
@instance_option
@click.option(
    "--http", is_flag=True, help="Serve plain HTTP (loopback and tests) instead of HTTPS."
)
def serve(bind, instance_dir, http):
    """Run the registry under the production server (gunicorn, one process, many threads)."""
    from dtr.services.settings import domain_name
    from dtr.tls import ensure_certificate

    app = prepared_app(instance_dir)
    with app.app_context():
        cert_path, key_path = ensure_certificate(app.instance_path, domain_name())
        users = _user_count()
    scheme = "http" if http else "https"
    host, _, port = bind.rpartition(":")
    shown = "localhost" if host in ("0.0.0.0", "", "::", "[::]") else host
    click.echo(f"DTR serving {scheme}://{shown}:{port}/ (instance {app.instance_path})")
    click.echo(f"Trust its certificate: {scheme}://{shown}:{port}/ca.crt")
    if users == 0:
        click.echo(
            "No users yet. Create the first admin with:\n"
            f"  python app.py create-user admin --role admin --instance {instance_dir}"
            " --password-stdin"
        )
    command = [sys.executable, "-m", "dtr.server", "--bind", bind]
    command += ["--instance", app.instance_path, "--threads", str(app.config["THREADS"])]
    if not http:
        command += ["--cert", str(cert_path), "--key", str(key_path)]
    sys.stdout.flush()
    sys.stderr.flush()
    env = dict(os.environ)
    here = os.path.dirname(os.path.abspath(__file__))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    os.execve(sys.executable, command, env)  # a fresh, small process: the gunicorn master


def _user_count():
    from dtr.database import db
    from dtr.models import Account

    return db.session.query(Account).filter_by(is_org=False).count()


@cli.command("create-user")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="Global role.")
@instance_option
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from stdin.")
def create_user_command(name, role, instance_dir, password_stdin):
    """Create a managed user. The first admin switches the auth mode from None to Managed."""
    from dtr.services.accounts import create_user

    password = sys.stdin.readline().rstrip("\r\n")
    app = prepared_app(instance_dir)
    with app.app_context():
        try:
            create_user(name, password, role)
        except DomainError as error:
            raise click.ClickException(error.message) from None
    click.echo(f"created user {name} with role {role}")


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
    from dtr.services.settings import set_setting
    from dtr.tls import ensure_certificate

    app = prepared_app(instance_dir)
    with app.app_context():
        set_setting("domain_name", domain)
        ensure_certificate(app.instance_path, domain)
    click.echo(f"domain name set to {domain}; certificate regenerated")


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


def __getattr__(name):
    """`app:app` for WSGI servers, created on first use only."""
    if name == "app":
        return create_app(DEFAULT_INSTANCE)
    raise AttributeError(name)


if __name__ == "__main__":
    cli()
