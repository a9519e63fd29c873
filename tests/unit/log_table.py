"""A SQLite database holding only the log lines' table, and lines to ship into it."""

from sqlalchemy import create_engine

from dtr.database import sqlite_connect_args
from dtr.log_shipper import TABLE


def log_engine(folder):
    engine = create_engine(f"sqlite:///{folder / 'logs.db'}", connect_args=sqlite_connect_args())
    TABLE.create(engine)
    return engine


def entry(component="registry", level="INFO", message="hello", **fields):
    return {
        "time": "2025-01-01T00:00:00.000Z",
        "component": component,
        "level": level,
        "logger": f"dtr.{component}",
        "message": message,
        **fields,
    }
