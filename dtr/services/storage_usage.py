"""Storage usage and namespace quotas.

Usage is what the stored manifests of a scope hold: their own bytes, and each blob they
reference counted once in the scope (a layer shared by two repositories of a namespace counts
once for the namespace, and once for the whole registry). It is computed from the rows every
time it is asked (one query per scope, served by the indexes on manifests and references), so
it is right after any push, delete, mount or garbage collection: no counter to drift. Content
deleted but not yet collected still counts, as it still takes the space.

A namespace's quota (set by administrators) is checked when a manifest new to a repository is
pushed: what the namespace holds plus what this manifest would add (its bytes and the blobs it
references that no manifest of the namespace references yet) must fit, else the push is
refused, DENIED "quota exceeded: used X of Y" (and a quota.exceeded event). A push that takes
the usage past the warning threshold publishes quota.warning. Blob uploads are not limited:
blobs no manifest references are reclaimed by garbage collection. Two pushes racing near the
limit may both pass (the check reads before the push's write transaction).
"""

from sqlalchemy import func, select

from ..database import db
from ..errors import Denied
from ..models import Account, Blob, Manifest, ManifestReference, Repository
from . import audit, events
from .callers import require_admin
from .field_checks import checked_whole_number
from .repositories import administered_namespace, namespace_or_404, visible_repository

MAX_QUOTA = 2**62


class QuotaExceeded(Denied):
    """A push refused by its namespace's quota; `event`: the quota.exceeded event, for the
    caller to publish once the push's transaction is over (rolled back, it would go too)."""

    def __init__(self, message, detail, event):
        super().__init__(message, detail)
        self.event = event


def _referenced_blobs(*conditions):
    return (
        select(ManifestReference.digest)
        .join(Manifest, Manifest.id == ManifestReference.manifest_id)
        .join(Repository, Repository.id == Manifest.repository_id)
        .where(ManifestReference.kind == "blob", *conditions)
    )


def _usage(*conditions) -> int:
    blobs = select(func.coalesce(func.sum(Blob.size), 0)).where(
        Blob.digest.in_(_referenced_blobs(*conditions))
    )
    manifests = (
        select(func.coalesce(func.sum(Manifest.size), 0))
        .join(Repository, Repository.id == Manifest.repository_id)
        .where(*conditions)
    )
    return int(db.session.scalar(blobs)) + int(db.session.scalar(manifests))


def repository_usage(repository_id) -> int:
    return _usage(Repository.id == repository_id)


def namespace_usage(namespace_id) -> int:
    return _usage(Repository.namespace_id == namespace_id)


def total_usage() -> int:
    return _usage()


def usage_of_repository(identity, full_name) -> tuple[Repository, int]:
    """For whoever may see the repository."""
    repository = visible_repository(identity, full_name)
    return repository, repository_usage(repository.id)


def usage_of_namespace(identity, namespace) -> tuple[Account, int]:
    """For those who administer the namespace (and administrators)."""
    account = administered_namespace(identity, namespace, "the storage usage")
    return account, namespace_usage(account.id)


def registry_usage(identity) -> int:
    require_admin(identity, "see the registry's storage usage")
    return total_usage()


def set_quota(identity, namespace, quota_bytes, warning_percent=None) -> Account:
    """Administrators only; `quota_bytes` None removes the limit."""
    require_admin(identity, "set storage quotas")
    account = namespace_or_404(namespace)
    if quota_bytes is not None:
        says = f"a whole number of bytes from 0 to {MAX_QUOTA}, or null"
        checked_whole_number(quota_bytes, "quotaBytes", 0, MAX_QUOTA, says)
    if warning_percent is not None:
        checked_whole_number(warning_percent, "warningPercent", 1, 100)
        account.quota_warning_percent = warning_percent
    account.quota_bytes = quota_bytes
    audit.record(
        identity.name,
        "quota.set",
        namespace,
        {"quotaBytes": quota_bytes, "warningPercent": account.quota_warning_percent},
    )
    db.session.commit()
    return account


def check_push(repository, full_name, parsed, payload_size, pushed_by):
    """Before a manifest new to `repository` is stored: QuotaExceeded when it would take its
    namespace over the quota. Returns (whether the namespace has a quota, the quota.warning
    event to publish with the push when it crosses the warning threshold, or None). The
    push checks again in its write transaction, where writers queue, so that two pushes near
    the limit cannot both pass."""
    quota, percent = db.session.execute(
        select(Account.quota_bytes, Account.quota_warning_percent).where(
            Account.id == repository.namespace_id
        )
    ).one()
    if quota is None:
        return False, None
    used = namespace_usage(repository.namespace_id)
    added = payload_size + _new_blob_bytes(repository.namespace_id, parsed.blobs)
    if used + added > quota:
        refused = f"quota exceeded: used {used} of {quota} bytes; this push adds {added}"
        event = _quota_event(events.QUOTA_EXCEEDED, pushed_by, full_name, used, quota)
        raise QuotaExceeded(refused, {"used": used, "quota": quota, "adds": added}, event)
    threshold = quota * percent / 100
    if used < threshold <= used + added:
        return True, _quota_event(events.QUOTA_WARNING, pushed_by, full_name, used + added, quota)
    return True, None


def _new_blob_bytes(namespace_id, digests) -> int:
    if not digests:
        return 0
    held = _referenced_blobs(Repository.namespace_id == namespace_id)
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(Blob.size), 0)).where(
                Blob.digest.in_(list(set(digests))), Blob.digest.not_in(held)
            )
        )
    )


def _quota_event(kind, actor, full_name, used, quota):
    return events.Event(
        kind, actor, repository=full_name, detail={"usedBytes": used, "quotaBytes": quota}
    )
