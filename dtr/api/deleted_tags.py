"""Deleted tags of a repository within the restore window, and restoring one
(services/tag_restore.py)."""

from ..services import tag_restore
from . import serialize
from .common import caller


def list_deleted_tags(namespace, repo):
    rows = tag_restore.list_deleted(caller(), f"{namespace}/{repo}")
    return {"deletedTags": [serialize.deleted_tag(tag, digest) for tag, digest in rows]}


def restore_deleted_tag(namespace, repo, deleted):
    tag, digest = tag_restore.restore(caller(), f"{namespace}/{repo}", deleted)
    return {"tag": tag, "digest": digest}
