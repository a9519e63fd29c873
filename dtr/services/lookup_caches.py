"""The caches of hot registry lookups (see `dtr/cache.py`), configured at start.

    repositories   full name -> RepositoryRef
    manifests      repository id -> {tag or digest -> ManifestContent}
    blob_links     repository id -> {digest -> size}

Whoever changes one of these in the database invalidates its group after the commit; other
processes drop theirs at their next request (services/change_signals.py).
"""

from ..cache import GroupedCache
from . import change_signals


def _announce():
    change_signals.announce(change_signals.CONTENT)


repositories = GroupedCache(2.0, on_write=_announce)
manifests = GroupedCache(2.0, on_write=_announce)
blob_links = GroupedCache(2.0, on_write=_announce)
ALL = (repositories, manifests, blob_links)


def _drop_all():
    for cache in ALL:
        cache.drop_all()


def configure(seconds: float):
    for cache in ALL:
        cache.seconds = seconds
    _drop_all()


def forget_all():
    """After a commit that changed many repositories: every lookup goes, in every process."""
    _drop_all()
    _announce()


change_signals.on_remote_change(change_signals.CONTENT, _drop_all)
