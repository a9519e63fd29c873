"""The database schema, in one place. Every change here needs a migration in migrations/."""

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .database import db


def utcnow():
    return datetime.now(UTC).replace(tzinfo=None)


ROLES = ("none", "read-only", "read-write", "admin")
ACCESS_LEVELS = ("read-only", "read-write", "admin")


class Account(db.Model):
    """A namespace: a user (who can log in) or an organization."""

    __tablename__ = "accounts"
    __table_args__ = (Index("uq_accounts_oidc_subject", "oidc_subject", unique=True),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    is_org: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="none")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    ldap_dn: Mapped[str | None] = mapped_column(String(1024))  # set for users synced from LDAP
    # "<issuer> <sub>" for users who sign in with an OpenID Connect provider (auth/oidc_client)
    oidc_subject: Mapped[str | None] = mapped_column(String(1300))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Moves on when the password, role or state changes: registry and refresh tokens carry it
    # and stop working when it moved (dtr/auth/credentials.py).
    credential_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The namespace's storage quota (services/storage_usage.py): None, no limit; a push that
    # would go over it is refused, one that crosses `quota_warning_percent` of it is an event.
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger)
    quota_warning_percent: Mapped[int] = mapped_column(Integer, default=80, server_default="80")
    # An organization whose repositories mirror an upstream registry (a `ProxyCache`): pulls
    # fill them, nobody pushes into them (services/pull_through.py).
    is_proxy: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Team(db.Model):
    """A team of an organization: managed members, or members synced from an LDAP group or
    from a group of the OpenID Connect provider (at each of its members' sign-in).
    Every organization has a team named `owners` whose members administer it."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(String(1024), default="")
    ldap_group_dn: Mapped[str | None] = mapped_column(String(1024))
    oidc_group: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class TeamMember(db.Model):
    __tablename__ = "team_members"
    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Repository(db.Model):
    __tablename__ = "repositories"
    __table_args__ = (UniqueConstraint("namespace_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    # Refuse pulls of images without a verified signature to non-admins (services/signatures.py)
    pull_only_signed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    short_description: Mapped[str] = mapped_column(String(140), default="")
    long_description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # kept in sync with a remote repository by this pull replication rule: read-only here
    mirror_rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("replication_rules.id", ondelete="SET NULL"), index=True
    )
    namespace: Mapped[Account] = relationship(lazy="joined")

    @property
    def proxied(self):
        """A repository of a proxy namespace: filled by pulls through it, never pushed."""
        return self.namespace.is_proxy

    @property
    def read_only(self):
        """Filled from elsewhere (a proxy namespace or a pull replication): nobody pushes."""
        return self.proxied or self.mirror_rule_id is not None

    @property
    def full_name(self):
        return f"{self.namespace.name}/{self.name}"

    @property
    def is_public(self):
        return self.visibility == "public"


class RepositoryTeamAccess(db.Model):
    """A team's access level on one repository of its organization."""

    __tablename__ = "repository_team_access"
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    level: Mapped[str] = mapped_column(String(16))


class NamespaceTeamAccess(db.Model):
    """A team's access level on every repository of its organization's namespace."""

    __tablename__ = "namespace_team_access"
    namespace_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    level: Mapped[str] = mapped_column(String(16))


class RepositoryUserAccess(db.Model):
    """A user's access level on a repository of a user namespace."""

    __tablename__ = "repository_user_access"
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    level: Mapped[str] = mapped_column(String(16))


class AuditEvent(db.Model):
    """Who changed what, when, from where (and refused pushes)."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str | None] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(512))
    detail: Mapped[str | None] = mapped_column(Text)  # JSON
    address: Mapped[str | None] = mapped_column(String(64))


class Blob(db.Model):
    """A content-addressed blob on storage, shared by every repository that links it."""

    __tablename__ = "blobs"
    digest: Mapped[str] = mapped_column(String(200), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # When an upload or a mount last committed or linked it: garbage collection keeps blobs
    # touched within its grace window (see dtr/gc.py).
    touched_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Why the bytes on storage are not this blob's (corrupt, missing), as storage verification
    # or a download found; None while they are. A quarantined blob is unknown to pulls
    # (BLOB_UNKNOWN) and its next push writes the bytes again (services/blobs.store_blob).
    quarantine: Mapped[str | None] = mapped_column(String(512))


class RepositoryBlob(db.Model):
    """A repository may use a blob: it was pushed or mounted into it."""

    __tablename__ = "repository_blobs"
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(ForeignKey("blobs.digest"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Manifest(db.Model):
    __tablename__ = "manifests"
    __table_args__ = (UniqueConstraint("repository_id", "digest"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    digest: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(255))
    artifact_type: Mapped[str | None] = mapped_column(String(255))
    subject_digest: Mapped[str | None] = mapped_column(String(200), index=True)
    annotations: Mapped[str | None] = mapped_column(Text)  # JSON, for referrers
    size: Mapped[int] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    pushed_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    # pulls of it (a GET of it by tag or digest), batched in (services/pull_statistics.py)
    pull_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_pulled_at: Mapped[datetime | None] = mapped_column(DateTime)


class ManifestReference(db.Model):
    """What a manifest points at: blobs (config, layers) or manifests (index entries)."""

    __tablename__ = "manifest_references"
    manifest_id: Mapped[int] = mapped_column(
        ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "blob" or "manifest"


class Tag(db.Model):
    __tablename__ = "tags"
    __table_args__ = (
        UniqueConstraint("repository_id", "name"),
        # the repository page sorted by push date (services/tag_details.py)
        Index("ix_tags_repository_pushed", "repository_id", "updated_at", "name"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    manifest_id: Mapped[int] = mapped_column(
        ForeignKey("manifests.id", ondelete="CASCADE"), index=True
    )
    pushed_by: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    # pulls by this tag (a manifest GET naming it), batched in (services/pull_statistics.py)
    pull_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_pulled_at: Mapped[datetime | None] = mapped_column(DateTime)
    # A tag of a proxy namespace: when the upstream last confirmed (or gave) its manifest
    # (services/pull_through.py re-checks it after the proxy's interval).
    upstream_checked_at: Mapped[datetime | None] = mapped_column(DateTime)


class DeletedTag(db.Model):
    """A tag deleted within the restore window (TAG_RESTORE_DAYS): it can be put back
    (services/tag_restore.py), and garbage collection keeps its manifest until the window
    has passed."""

    __tablename__ = "deleted_tags"
    __table_args__ = (Index("ix_deleted_tags_repository_deleted", "repository_id", "deleted_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    manifest_id: Mapped[int] = mapped_column(
        ForeignKey("manifests.id", ondelete="CASCADE"), index=True
    )
    deleted_by: Mapped[str | None] = mapped_column(String(255))
    deleted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class Upload(db.Model):
    """A blob upload session; its bytes sit under the storage's uploads/ folder."""

    __tablename__ = "uploads"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    # the SHA-256 state after `size` bytes (resumable_sha256.py); None: hash the bytes again
    hash_state: Mapped[bytes | None] = mapped_column(LargeBinary)
    started_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Setting(db.Model):
    """An admin setting that takes effect without a restart; value is JSON."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class JobLease(db.Model):
    """Who runs a job that must run once at a time across every process sharing the
    database; taken with a conditional UPDATE/INSERT, renewed while the job runs."""

    __tablename__ = "job_leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class CacheGeneration(db.Model):
    """A number that moves on whenever a write makes a family of process caches stale
    (services/change_signals.py): every process compares it at each request."""

    __tablename__ = "cache_generations"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)


class InstanceKey(db.Model):
    """A secret every process sharing the database uses (services/instance_keys.py): the
    session secret, the signing keys of registry tokens, the TLS certificate and its key.
    A key that was replaced carries `retired_at` (a token key still verifies for a while)."""

    __tablename__ = "instance_keys"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class LogLine(db.Model):
    """A line of a component's log, logged by any process sharing the database (dtr/log_shipper.py
    writes them, dtr/log_queries.py reads them). The id is the one sequence, across
    components and replicas, that readers page and follow by: never reused (AUTOINCREMENT on
    SQLite), 64-bit (busy servers log millions of lines)."""

    __tablename__ = "log_lines"
    __table_args__ = (
        Index("ix_log_lines_component_id", "component", "id"),
        Index("ix_log_lines_replica_id", "replica", "id"),
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    time: Mapped[datetime] = mapped_column(DateTime)  # UTC, as every DateTime here
    replica: Mapped[str] = mapped_column(String(255))  # REPLICA_NAME of the process
    component: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(8))
    logger: Mapped[str] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)
    # JSON: user and client (lines logged in a request), method, path, status, bytes,
    # durationMs (request lines), exception (a traceback)
    details: Mapped[str | None] = mapped_column(Text)


class JobRun:
    """The columns of a job that runs once at a time (it holds a lease, see
    services/job_runs.py), shows its progress while it runs and ends done or failed."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    triggered_by: Mapped[str] = mapped_column(String(255))  # schedule, cli, api:<user>...
    state: Mapped[str] = mapped_column(String(16), default="running")  # running, done, failed
    phase: Mapped[str] = mapped_column(String(255), default="starting")  # what it does now
    holder: Mapped[str] = mapped_column(String(255))  # its lease holder
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    errors: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of messages
    report: Mapped[str | None] = mapped_column(Text)  # JSON: what it did or found


class GcRun(JobRun, db.Model):
    """One garbage collection: when, why, what it deleted (or would have, for a dry run:
    its report)."""

    __tablename__ = "gc_runs"
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    manifests_deleted: Mapped[int] = mapped_column(Integer, default=0)
    blobs_deleted: Mapped[int] = mapped_column(Integer, default=0)
    bytes_reclaimed: Mapped[int] = mapped_column(BigInteger, default=0)
    uploads_deleted: Mapped[int] = mapped_column(Integer, default=0)


class StorageVerification(JobRun, db.Model):
    """One storage verification (a scrub): every blob read back and hashed; its report, the
    corrupt and missing blobs with the repositories and tags that need them (see
    services/storage_verification.py)."""

    __tablename__ = "storage_verifications"
    backend: Mapped[str] = mapped_column(String(512), default="")  # what was verified
    blobs_total: Mapped[int] = mapped_column(Integer, default=0)
    bytes_total: Mapped[int] = mapped_column(BigInteger, default=0)
    blobs_checked: Mapped[int] = mapped_column(Integer, default=0)
    bytes_checked: Mapped[int] = mapped_column(BigInteger, default=0)
    corrupt: Mapped[int] = mapped_column(Integer, default=0)
    missing: Mapped[int] = mapped_column(Integer, default=0)
    restored: Mapped[int] = mapped_column(Integer, default=0)  # quarantined, found whole again


def one_per_scope(table, *columns):
    """Table arguments: unique `columns` per repository, and per namespace among the rows of
    the namespace itself (`repository_id` NULL, which a unique constraint does not compare)."""
    return (
        UniqueConstraint("namespace_id", "repository_id", *columns),
        Index(
            f"ix_{table}_namespace" + "".join(f"_{column}" for column in columns),
            "namespace_id",
            *columns,
            unique=True,
            sqlite_where=text("repository_id IS NULL"),
            postgresql_where=text("repository_id IS NULL"),
        ),
    )


class TrustedKey(db.Model):
    """A public key whose signatures (cosign) make an image signed in a repository, or in
    every repository of a namespace (`repository_id` None)."""

    __tablename__ = "trusted_keys"
    __table_args__ = one_per_scope("trusted_keys", "name")
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    repository_id: Mapped[int | None] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    pem: Mapped[str] = mapped_column(Text)
    algorithm: Mapped[str] = mapped_column(String(32))  # ecdsa-p256, rsa-3072, ed25519...
    fingerprint: Mapped[str] = mapped_column(String(100))  # sha256 of the DER public key
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ImmutableTagRule(db.Model):
    """Tags matching `pattern` (a glob: * ? [...]) in a repository, or in every repository of
    a namespace (`repository_id` None), are immutable: never moved to another manifest nor
    deleted, by anyone (`services/immutable_tags.py`)."""

    __tablename__ = "immutable_tag_rules"
    __table_args__ = one_per_scope("immutable_tag_rules", "pattern")
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    repository_id: Mapped[int | None] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    pattern: Mapped[str] = mapped_column(String(128))
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Webhook(db.Model):
    """Where to POST the events of a repository, of every repository of a namespace
    (`repository_id` None), or of the whole registry (both None): `events` is a
    comma-separated list of event kinds (`services/events.py`), `secret` signs each delivery
    (`services/webhooks.py`)."""

    __tablename__ = "webhooks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    repository_id: Mapped[int | None] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[str] = mapped_column(String(512))
    secret: Mapped[str] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class WebhookDelivery(db.Model):
    """One event to send to one webhook: queued in the transaction of the change, sent by the
    delivery worker until it is answered 2xx or runs out of attempts. `lease_until` keeps two
    workers (processes, replicas) from sending it at once."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)  # the JSON body, as sent (and signed)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    redelivery_of: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class WebhookAttempt(db.Model):
    """One try at sending a delivery: the answer's status code or the error."""

    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(1024))
    milliseconds: Mapped[int] = mapped_column(Integer, default=0)


class RetentionPolicy(db.Model):
    """Which tags of a repository, or of every repository of a namespace (`repository_id`
    None; a repository's own policy replaces it), are kept: `rules` is JSON
    (services/retention.py); a tag no rule keeps is deleted when the policy runs."""

    __tablename__ = "retention_policies"
    __table_args__ = one_per_scope("retention_policies")
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    repository_id: Mapped[int | None] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    rules: Mapped[str] = mapped_column(Text)
    schedule: Mapped[str] = mapped_column(String(255), default="")  # cron, UTC; "" none
    updated_by: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RetentionRun(db.Model):
    """One run of a retention policy (or a dry run): what it deleted, or would have."""

    __tablename__ = "retention_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(
        ForeignKey("retention_policies.id", ondelete="CASCADE"), index=True
    )
    triggered_by: Mapped[str] = mapped_column(String(255))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    tags_kept: Mapped[int] = mapped_column(Integer, default=0)
    tags_deleted: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[str] = mapped_column(Text, default="{}")  # JSON: deleted, kept, why


class ManifestSignature(db.Model):
    """A signature found in a signature artifact (a manifest): one per cosign layer, one per
    notation manifest. Recorded when the artifact is pushed; `key_id` is the trusted key it
    verifies with (re-checked whenever trusted keys change)."""

    __tablename__ = "manifest_signatures"
    __table_args__ = (UniqueConstraint("manifest_id", "position"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    manifest_id: Mapped[int] = mapped_column(ForeignKey("manifests.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # the layer's index
    kind: Mapped[str] = mapped_column(String(16))  # cosign, notation, sigstore-bundle
    signed_digest: Mapped[str | None] = mapped_column(String(200))  # what the payload names
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)  # the signed bytes
    signature: Mapped[str | None] = mapped_column(Text)  # base64, as in the annotation
    signer: Mapped[str | None] = mapped_column(String(255))  # notation: the certificate
    problem: Mapped[str | None] = mapped_column(String(255))  # why no key can verify it
    key_id: Mapped[int | None] = mapped_column(
        ForeignKey("trusted_keys.id", ondelete="SET NULL"), index=True
    )


class TrustMetadata(db.Model):
    """One version of a TUF role's signed metadata (Docker Content Trust), for a GUN
    (HOST/ns/repo) of a repository; stored as uploaded or as the server signed it."""

    __tablename__ = "trust_metadata"
    __table_args__ = (UniqueConstraint("repository_id", "gun", "role", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    gun: Mapped[str] = mapped_column(String(512))
    role: Mapped[str] = mapped_column(String(255))  # root, targets, targets/releases...
    version: Mapped[int] = mapped_column(Integer)
    checksum: Mapped[str] = mapped_column(String(64), index=True)  # sha256 hex of data
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class TrustServerKey(db.Model):
    """A key the server signs a GUN's timestamp (or snapshot) with; the private key is
    encrypted with the trust key secret of the configuration."""

    __tablename__ = "trust_server_keys"
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    gun: Mapped[str] = mapped_column(String(512), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)  # timestamp, snapshot
    key_id: Mapped[str] = mapped_column(String(64))
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AccessToken(db.Model):
    """A personal access token: a secret a user hands to CI instead of their password, with
    scopes (registry:pull, registry:push, api:read, api:write) and an expiry. Only a keyed
    hash of the secret is stored."""

    __tablename__ = "access_tokens"
    __table_args__ = (UniqueConstraint("account_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[str] = mapped_column(String(255))  # space-separated
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_used_from: Mapped[str | None] = mapped_column(String(64))


class Robot(db.Model):
    """A robot account of an organization (`<org>+<name>`): a secret for CI that pulls or
    pushes the repositories its access list names, and nothing else."""

    __tablename__ = "robots"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(1024), default="")
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Moves on when the secret, the access or the state changes (see Account).
    credential_generation: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_used_from: Mapped[str | None] = mapped_column(String(64))
    organization: Mapped[Account] = relationship(lazy="joined")


class RobotAccess(db.Model):
    """What a robot may do: on one repository of its organization, or (`repository_id` None)
    on every repository of it. `actions`: "pull" or "pull,push"."""

    __tablename__ = "robot_access"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    robot_id: Mapped[int] = mapped_column(ForeignKey("robots.id", ondelete="CASCADE"), index=True)
    repository_id: Mapped[int | None] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    actions: Mapped[str] = mapped_column(String(32))


class LoginFailure(db.Model):
    """Failed logins of one account name (`name:<name>`) or one client address
    (`addr:<address>`), shared by every process: the login throttle (auth/login_throttle.py)."""

    __tablename__ = "login_failures"
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)


class ProxyCache(db.Model):
    """A proxy namespace: the organization `namespace_id` mirrors the registry at
    `upstream_url` (pull-through cache, services/pull_through.py). `hosts`: the upstream host
    names a containerd `?ns=` parameter names it by (comma-separated); `default_mirror`: the
    one that answers docker's `registry-mirrors` pulls (names outside any namespace here).
    `password` is a secret: never shown back."""

    __tablename__ = "proxy_caches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), unique=True
    )
    upstream_url: Mapped[str] = mapped_column(String(2048))
    username: Mapped[str | None] = mapped_column(String(255))
    password: Mapped[str | None] = mapped_column(String(1024))
    verify_tls: Mapped[bool] = mapped_column(Boolean, default=True)
    # of the repositories pulls create in it (and of names not pulled yet)
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    hosts: Mapped[str] = mapped_column(String(1024), default="")
    default_mirror: Mapped[bool] = mapped_column(Boolean, default=False)
    tag_check_seconds: Mapped[int] = mapped_column(Integer, default=300)
    evict_after_days: Mapped[int] = mapped_column(Integer, default=7)
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # upstream health, as the last requests found it
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_failure: Mapped[str | None] = mapped_column(String(1024))


class ReplicationRule(db.Model):
    """A replication rule (services/replication_rules.py) with the registry at `remote_url`.
    `direction` "push": the local repositories whose full names match `repositories` (glob
    patterns, one per line) are copied there, under `remote_prefix/` when set, on pushes
    (`on_push`) and/or on the cron `schedule`. "pull": the local repository
    `local_repository` is kept in sync with `remote_repository` there on the schedule
    (read-only here). Only tags matching `tags` (glob patterns, one per line) are copied.
    `password` is a secret: never shown back."""

    __tablename__ = "replication_rules"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    direction: Mapped[str] = mapped_column(String(8))
    remote_url: Mapped[str] = mapped_column(String(2048))
    username: Mapped[str | None] = mapped_column(String(255))
    password: Mapped[str | None] = mapped_column(String(1024))
    verify_tls: Mapped[bool] = mapped_column(Boolean, default=True)
    repositories: Mapped[str] = mapped_column(String(4096), default="")
    remote_prefix: Mapped[str] = mapped_column(String(255), default="")
    remote_repository: Mapped[str] = mapped_column(String(255), default="")
    local_repository: Mapped[str] = mapped_column(String(255), default="")
    tags: Mapped[str] = mapped_column(String(4096), default="*")
    on_push: Mapped[bool] = mapped_column(Boolean, default=True)
    schedule: Mapped[str] = mapped_column(String(255), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ReplicationRun(db.Model):
    """One execution of a rule (services/replication_runs.py). `trigger`: push, schedule,
    manual or retry; `repository`, `tag`, `digest` narrow a push-triggered run to what was
    pushed. `state`: queued, running, succeeded or failed (something could not be copied);
    a running run whose `lease_until` passed is taken again by any process."""

    __tablename__ = "replication_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(
        ForeignKey("replication_rules.id", ondelete="CASCADE"), index=True
    )
    trigger: Mapped[str] = mapped_column(String(64))
    triggered_by: Mapped[str | None] = mapped_column(String(255))
    repository: Mapped[str | None] = mapped_column(String(255))
    tag: Mapped[str | None] = mapped_column(String(128))
    digest: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    queued_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    copied: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(String(1024))


class ReplicationItem(db.Model):
    """One artifact of a run: a tag (or a manifest by digest) of `repository` and what
    became of it: copied, skipped (the other side had it) or failed, after `attempts`."""

    __tablename__ = "replication_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("replication_runs.id", ondelete="CASCADE"), index=True
    )
    repository: Mapped[str] = mapped_column(String(255))
    reference: Mapped[str] = mapped_column(String(255))
    digest: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(String(1024))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
