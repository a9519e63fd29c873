"""`python app.py storage migrate --to CONFIG.json [--switch]`: copy every blob from the
storage in force to another backend, before switching to it.

Resumable: a blob already at the target with the right size is skipped, so a run that was
interrupted (or a second run just before switching) copies only what is missing. Each blob is
streamed (one chunk in memory per copy), hashed while it is copied, and committed at the
target only when its content matches its digest; a mismatch is refused and reported. Uploads
in progress are not copied: clients restart them after the switch.

With `switch`, once a pass copied everything without a failure, passes repeat until one
finds nothing new (blobs pushed meanwhile), then the target is saved as the storage in force
(after the same probe as Settings > Storage, audited): the registry serves from it at once.
"""

import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..errors import InvalidInput
from ..storage import StorageError, create_driver, current_storage
from . import storage_settings

CHUNK = 1024 * 1024
MAX_PASSES = 5  # with switch: passes until nothing new was pushed meanwhile


class DigestMismatch(StorageError):
    """The source's bytes do not hash to the blob's digest."""


@dataclass
class MigrationResult:
    copied: int = 0
    present: int = 0
    bytes_copied: int = 0
    failures: list = field(default_factory=list)  # (digest, message)


def blobs_on(driver) -> list[tuple[str, str]]:
    """(path, digest) of every blob stored on a driver (layout: blobs/<alg>/<ab>/<hex>)."""
    found = []
    for path in driver.list("blobs"):
        parts = path.split("/")
        if len(parts) == 4 and parts[3].startswith(parts[2]):
            found.append((path, f"{parts[1]}:{parts[3]}"))
    return sorted(found)


def copy_blob(source, target, path, digest) -> tuple[str, int]:
    """("copied" | "present", size): copies a blob unless the target has it with its size;
    DigestMismatch (nothing written) when the bytes are not the digest's."""
    size = source.stat(path)
    if size is None:
        raise StorageError("gone from the source (deleted by garbage collection meanwhile?)")
    if target.stat(path) == size:
        return "present", size
    algorithm, expected = digest.split(":", 1)
    hasher = hashlib.new(algorithm)
    writer = target.writer(path)
    try:
        with source.reader(path) as reader:
            while data := reader.read(CHUNK):
                hasher.update(data)
                writer.write(data)
        if hasher.hexdigest() != expected or writer.size != size:
            raise DigestMismatch(
                f"the source's {writer.size} bytes hash to {algorithm}:{hasher.hexdigest()}, "
                "not to the digest: not copied (the source copy is damaged)"
            )
        writer.commit()
    except BaseException:
        writer.cancel()
        raise
    return "copied", size


def copy_blobs(source, target, jobs: int, report: Callable[[str], None]) -> MigrationResult:
    """One pass over the source's blobs, `jobs` at a time, reporting each."""
    blobs = blobs_on(source)
    result = MigrationResult()
    width = len(str(len(blobs)))

    def copy(item):
        path, digest = item
        try:
            return digest, *copy_blob(source, target, path, digest), None
        except Exception as error:  # reported per blob, the others go on
            return digest, "failed", 0, error

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="dtr-migrate")
    try:
        for number, (digest, outcome, size, error) in enumerate(pool.map(copy, blobs), 1):
            prefix = f"[{number:>{width}}/{len(blobs)}]"
            if outcome == "failed":
                result.failures.append((digest, str(error)))
                report(f"{prefix} FAILED  {digest}: {error}")
                continue
            if outcome == "copied":
                result.copied += 1
                result.bytes_copied += size
            else:
                result.present += 1
            report(f"{prefix} {outcome:<7} {digest} ({_mib(size)})")
    finally:  # interrupted (Ctrl-C): the copies not started yet are dropped
        pool.shutdown(cancel_futures=True)
    return result


def _mib(size):
    return f"{size / 1024 / 1024:.1f} MiB"


def migrate(body: dict, switch: bool, jobs: int, report: Callable[[str], None]) -> bool:
    """Copy every blob of the storage in force to the configuration `body` ({"backend",
    "options"}, as PUT /api/v0/admin/settings/storage takes); with `switch`, then make it
    the storage in force. True when every blob was copied (and switched, if asked)."""
    target_config = storage_settings.requested_config(body)
    active = storage_settings.active_config()
    if target_config == active:
        raise InvalidInput("the target is the storage in force already: nothing to copy")
    try:
        target = create_driver(target_config.backend, target_config.options)
    except ValueError as error:
        raise InvalidInput(f"options: {error}") from None
    try:
        copied_all = _copy_passes(
            current_storage(), target, active, target_config, switch, jobs, report
        )
    finally:
        close = getattr(target, "close", None)
        if callable(close):
            close()
    if copied_all and switch:
        storage_settings.save(target_config, None)
        report(f"switched: the registry now stores and serves blobs on {target_config.backend}")
    return copied_all


def _copy_passes(source, target, active, target_config, switch, jobs, report) -> bool:
    started = time.monotonic()
    for number in range(1, MAX_PASSES + 1):
        report(
            f"pass {number}: copying the blobs of {active.backend} to {target_config.backend}"
            f" ({jobs} at a time)"
        )
        result = copy_blobs(source, target, jobs, report)
        seconds = time.monotonic() - started
        report(
            f"pass {number} done in {seconds:.1f} s: {result.copied} copied "
            f"({_mib(result.bytes_copied)}), {result.present} already there, "
            f"{len(result.failures)} failed"
        )
        if result.failures:
            report("not every blob was copied: fix the cause and run the command again")
            return False
        if not switch or result.copied == 0:
            break
    return True
