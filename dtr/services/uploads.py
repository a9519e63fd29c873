"""Blob uploads: monolithic, chunked and streamed, resumable, verified before commit.

Bytes go to `uploads/<id>` while they arrive, hashed as they are written. After each chunk
the upload's row records its size and SHA-256 state (`resumable_sha256.py`), so the next
chunk may land on any process or replica; a state that cannot be used (a crash between the
write and the record, another architecture) is rebuilt from the stored bytes. Each step
holds the upload's lock (`upload_locks.py`) across processes. Only after the digest matches
do the bytes move (atomically) to the blob's final path (`blobs.store_blob`, in the order
that keeps garbage collection safe). No database transaction is held open while a body
streams. A monolithic upload (one request, no session) writes to `uploads/mono-<unix
time>-<random>`, so that garbage collection can tell the age of one a crash left behind.
"""

import hashlib
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from flask import current_app
from sqlalchemy import bindparam, delete, insert, select, update

from ..database import db, read_only_transactions
from ..errors import (
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    RangeInvalid,
)
from ..models import Upload, utcnow
from ..names import check_digest
from ..resumable_sha256 import ResumableSha256, new_sha256, saved_state
from ..storage import StorageError, current_storage
from ..storage.layout import upload_path
from .blobs import BEFORE_STORING_COLUMNS, before_storing, store_blob
from .storage_full import noting_storage_full
from .upload_locks import upload_lock

log = logging.getLogger("dtr.storage")
_writers = ThreadPoolExecutor(max_workers=16, thread_name_prefix="dtr-blob-writer")


_UPLOADS = Upload.__table__
_NEW_UPLOAD = insert(_UPLOADS)


def start_upload(repository, started_by) -> str:
    """A new upload session; returns its id."""
    upload_id = str(uuid.uuid4())  # not read back from the committed row: no new transaction
    row = {"id": upload_id, "repository_id": repository.id, "started_by": started_by}
    db.session.execute(_NEW_UPLOAD, row)
    db.session.commit()
    try:
        with noting_storage_full(f"starting upload {upload_id}"):
            current_storage().writer(upload_path(upload_id)).close()
    except StorageError:  # no session without its file
        _end_session(upload_id)
        raise
    return upload_id


def find_upload(repository, upload_id) -> Upload:
    upload = db.session.get(Upload, upload_id)
    if upload is None or upload.repository_id != repository.id:
        raise BlobUploadUnknown("upload unknown", {"uuid": upload_id})
    return upload


def append_chunk(repository, upload_id, stream, content_length, content_range=None) -> int:
    """Append a body to an upload; returns the new size. `content_range` is (start, end)."""
    db.session.commit()  # no transaction stays open while the body streams
    with upload_lock(upload_id), noting_storage_full(f"a chunk of upload {upload_id}"):
        size, state, _ = _append(repository, upload_id, stream, content_length, content_range)
        _record(upload_id, size, state)
    return size


def finish_upload(repository, upload_id, digest, stream, content_length):
    """Append the last body (may be empty), verify the digest and commit the blob."""
    check_digest(digest)
    db.session.commit()
    with upload_lock(upload_id), noting_storage_full(f"finishing upload {upload_id} ({digest})"):
        try:
            # a short last body: what storing reads is read with the upload's row (a long one
            # would make it old by the time the blob is stored)
            small = (content_length or 0) <= current_app.config["STREAM_CHUNK_BYTES"]
            looking = digest if small else None
            if content_length:
                size, state, looked = _append(
                    repository, upload_id, stream, content_length, None, True, looking
                )
            else:
                size, state, looked = _hash_state(repository, upload_id, looking)
                current_storage().writer(upload_path(upload_id), append=True).commit()
            _verify(upload_path(upload_id), digest, size, state)
        except DigestInvalid:
            _discard(upload_id)
            raise
        try:
            path = upload_path(upload_id)
            store_blob(repository, path, digest, size, ending_upload=upload_id, looked=looked)
        except BlobUnknown:  # garbage collection took the bytes: the session is over too
            _end_session(upload_id)
            raise
    return size


def monolithic_upload(repository, digest, stream, content_length):
    """POST ?digest=: the whole blob in one request, never registered as a session."""
    check_digest(digest)
    db.session.commit()
    path = upload_path(monolithic_upload_name())
    with noting_storage_full(f"a push of {digest}"):
        writer = current_storage().writer(path)
        state = hashlib.sha256()
        try:
            _receive(writer, state, stream, content_length)
            writer.commit()
            _verify(path, digest, writer.size, state)
            store_blob(repository, path, digest, writer.size)
        except BaseException:
            _discard_writer(writer, path)
            raise
    return writer.size


def _discard_writer(writer, path):
    """Nothing partial stays: the writer is cancelled (an open file would keep the space of
    its deleted bytes) and the path deleted."""
    for undo in (writer.cancel, lambda: current_storage().delete(path)):
        try:
            undo()
        except StorageError as error:
            log.warning("could not discard %s after a failed upload: %s", path, error)


MONOLITHIC_PREFIX = "mono-"


def monolithic_upload_name(now=None):
    """`mono-<unix time>-<random>`: see `monolithic_upload_started`."""
    return f"{MONOLITHIC_PREFIX}{int(time.time() if now is None else now)}-{uuid.uuid4().hex}"


def monolithic_upload_started(name) -> float | None:
    """The unix time a monolithic upload's file name tells; None for other names."""
    if not name.startswith(MONOLITHIC_PREFIX):
        return None
    stamp = name[len(MONOLITHIC_PREFIX) :].split("-", 1)[0]
    return float(stamp) if stamp.isdecimal() else 0.0  # an older unstamped name: old


def cancel_upload(repository, upload_id):
    find_upload(repository, upload_id)
    db.session.execute(delete(Upload).where(Upload.id == upload_id))
    db.session.commit()
    with upload_lock(upload_id):
        current_storage().delete(upload_path(upload_id))


def upload_size(repository, upload_id) -> int:
    """Bytes received so far, as stored (chunks are not fsync'ed until the upload finishes,
    so after a crash the stored size is the truth)."""
    find_upload(repository, upload_id)
    size = current_storage().stat(upload_path(upload_id))
    if size is None:
        raise BlobUploadUnknown("upload data missing", {"uuid": upload_id})
    return size


def _append(
    repository, upload_id, stream, content_length, content_range, finish=False, looking=None
):
    """Receive a chunk at the end of the upload; (new size, hash state, as `_hash_state` with
    `looking`). A chunk that fails is cut off again: the upload stays as it was. The last one
    (`finish`) is committed (made durable and whole); the others are only closed."""
    size, state, looked = _hash_state(repository, upload_id, looking)
    if content_range is not None:
        start, end = content_range
        if start != size:
            raise RangeInvalid(f"chunk starts at {start}, the upload has {size} bytes", size)
        if content_length is not None and end - start + 1 != content_length:
            raise BlobUploadInvalid("Content-Range and Content-Length disagree")
    writer = current_storage().writer(upload_path(upload_id), append=True)
    try:
        _receive(writer, state, stream, content_length)
    except BaseException:
        try:
            writer.truncate(size)  # drop the partial chunk: the upload stays as it was
        finally:
            writer.close()
        raise
    if finish:
        writer.commit()
    else:
        writer.close()  # made durable once, when the upload finishes
    return writer.size, state, looked


_RECORDED = select(_UPLOADS.c.repository_id, _UPLOADS.c.size, _UPLOADS.c.hash_state).where(
    _UPLOADS.c.id == bindparam("upload_id")
)
# with what storing the blob reads before it looks at the storage (blobs.store_blob)
_RECORDED_BEFORE_STORING = _RECORDED.add_columns(*BEFORE_STORING_COLUMNS)


def _hash_state(repository, upload_id, looking=None):
    """(size, sha256 state, None) of an upload of `repository` (BlobUploadUnknown for
    another's), under its lock: the one its row recorded when it is for the size stored;
    else rebuilt by reading the stored bytes. Its one read of the row never waits for the
    writer lock. `looking`: a digest about to be stored, for which the same read also takes
    what `store_blob` reads before it looks at the storage (third in the tuple)."""
    parameters = {"upload_id": upload_id, "digest": looking}
    with read_only_transactions():
        statement = _RECORDED_BEFORE_STORING if looking else _RECORDED
        recorded = db.session.execute(statement, parameters).first()
        db.session.commit()
    if recorded is None or recorded.repository_id != repository.id:
        raise BlobUploadUnknown("upload unknown", {"uuid": upload_id})
    looked = before_storing(recorded) if looking else None
    storage = current_storage()
    path = upload_path(upload_id)
    stored = storage.stat(path)
    if stored is None:
        raise BlobUploadUnknown("upload data missing", {"uuid": upload_id})
    if recorded.size == stored:
        state = ResumableSha256.from_state(recorded.hash_state)
        if state is not None:
            return stored, state, looked
    state = new_sha256()
    if not stored:  # nothing received yet
        return stored, state, looked
    log.info("upload %s: hashing its %d stored bytes again", upload_id, stored)
    chunk = current_app.config["STREAM_CHUNK_BYTES"]
    with storage.reader(path) as source:
        while data := source.read(chunk):
            state.update(data)
    return stored, state, looked


def _receive(writer, state, stream, content_length):
    """Copy a request body into a writer, hashing it; a short body is an error.

    Each chunk is written by a pool thread while this thread hashes it and receives the
    next one: hashing, socket reads and file writes release the GIL, so they overlap.
    """
    chunk = current_app.config["STREAM_CHUNK_BYTES"]
    received = 0
    pending = None
    try:
        while content_length is None or received < content_length:
            wanted = chunk if content_length is None else min(chunk, content_length - received)
            data = stream.read(wanted)
            if not data:
                break
            if pending is not None:
                pending.result()
            if content_length is not None and content_length <= chunk:
                writer.write(data)  # a small body: a pool hand-off costs more than it saves
            else:
                pending = _writers.submit(writer.write, data)
            state.update(data)
            received += len(data)
    finally:
        if pending is not None:
            pending.result()
    if content_length is not None and received != content_length:
        raise BlobUploadInvalid(
            f"the body ended after {received} of {content_length} bytes; nothing was stored"
        )


def _verify(path, digest, size, sha256_state):
    algorithm = digest.split(":", 1)[0]
    if algorithm == "sha256":
        actual = "sha256:" + sha256_state.hexdigest()
    else:
        actual = algorithm + ":" + _rehash(path, algorithm)
    if actual != digest:
        raise DigestInvalid(
            "provided digest did not match uploaded content",
            {"expected": digest, "actual": actual, "size": size},
        )


def _rehash(path, algorithm):
    state = hashlib.new(algorithm)
    chunk = current_app.config["STREAM_CHUNK_BYTES"]
    with current_storage().reader(path) as source:
        while data := source.read(chunk):
            state.update(data)
    return state.hexdigest()


def _record(upload_id, size, state):
    """The upload's size and hash state after a chunk (a write transaction of its own)."""
    db.session.execute(
        update(Upload)
        .where(Upload.id == upload_id)
        .values(size=size, hash_state=saved_state(state), updated_at=utcnow())
    )
    db.session.commit()


def _end_session(upload_id):
    db.session.rollback()
    db.session.execute(delete(Upload).where(Upload.id == upload_id))
    db.session.commit()


def _discard(upload_id):
    _end_session(upload_id)
    current_storage().delete(upload_path(upload_id))
