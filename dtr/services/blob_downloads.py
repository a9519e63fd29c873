"""Blobs that arrive from another registry (the pull-through cache, a pull replication):
written aside while they arrive and hashed, kept as the blob only when whole and of the
digest asked for; nothing is left behind otherwise."""

import hashlib
import logging

from ..storage import current_storage
from ..storage.layout import upload_path
from . import blobs
from .uploads import monolithic_upload_name

log = logging.getLogger("dtr.registry")


class VerifiedDownload:
    """One blob `digest` for `repository` coming from `source` (named in the log); `kept`
    tells, once `chunks()` is exhausted, whether it was stored."""

    def __init__(self, repository, digest, source):
        self.repository, self.digest, self.source = repository, digest, source
        self.kept = False
        self.size = 0

    def chunks(self, arriving):
        """Yield the `arriving` chunks while writing and hashing them; then keep them."""
        # named as a monolithic upload's: garbage collection leaves it alone until it is old
        path = upload_path(monolithic_upload_name())
        storage = current_storage()
        writer = storage.writer(path)
        algorithm = self.digest.split(":", 1)[0]
        hasher = hashlib.new(algorithm)
        committed = False
        try:
            for data in arriving:
                writer.write(data)
                hasher.update(data)
                self.size += len(data)
                yield data
            writer.commit()
            committed = True
            actual = f"{algorithm}:{hasher.hexdigest()}"
            if actual != self.digest:
                log.error("%s sent %s for blob %s: not kept", self.source, actual, self.digest)
                return
            blobs.store_blob(self.repository, path, self.digest, self.size)
            self.kept = True
        finally:
            if not self.kept:
                if not committed:
                    writer.cancel()
                storage.delete(path)
