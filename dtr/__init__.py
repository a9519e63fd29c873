"""DTR: a self-hosted container image registry.

The package imports nothing heavy, so the server's master process (`dtr.server`) stays small;
`create_app` builds the application (see `application.py`).
"""

__version__ = "0.14.0"  # `python app.py --version`


def create_app(instance_dir="instance", overrides=None):
    """The Flask application for an instance folder."""
    from .application import build_app

    return build_app(instance_dir, overrides)
