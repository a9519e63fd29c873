"""The caches of hot registry lookups (see `dtr/cache.py`), configured at start.

    repositories   full name -> RepositoryRef
    manifests      repository id -> {tag or digest -> ManifestContent}
    blob_links     repository id -> {digest -> size}

Whoever changes one of these in the database invalidates its group after the commit.
"""

from ..cache import GroupedCache

repositories = GroupedCache(2.0)
manifests = GroupedCache(2.0)
blob_links = GroupedCache(2.0)


def configure(seconds: float):
    for cache in (repositories, manifests, blob_links):
        cache.seconds = seconds
        cache.clear()
