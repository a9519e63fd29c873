"""Push replication: local tags (and referrers pushed by digest) copied to a remote
registry, an artifact at a time.

An artifact is a tag with its whole tree: an index's child manifests, each manifest's config
and layers, then the manifest under the tag; after it its referrers (OCI `subject`:
signatures, SBOMs) and cosign's tag-scheme signatures (`sha256-<hex>.sig`, `.att`, `.sbom`).
A referrer pushed by digest is an artifact too, its subject copied (by digest) before it.
What the remote has is skipped: a tag already at the same digest, manifests and blobs by a
HEAD of their digest. A blob the remote has in another repository is mounted (from where
this run, or this rule earlier, put it) instead of uploaded. Blobs stream from storage.
"""

import re
from dataclasses import dataclass

from sqlalchemy import select

from ..database import db
from ..errors import ManifestUnknown, NameUnknown
from ..models import Account, Repository, RepositoryBlob
from ..names import is_digest
from ..storage import current_storage
from ..storage.layout import blob_path
from . import blobs, manifests
from .manifest_parsing import parse_manifest
from .replication_rules import matches, remote_name, remote_of
from .repositories import find_repository
from .signature_formats import signature_tag
from .upstream_registry import UpstreamFailed

SIGNATURE_TAG = re.compile(r"^sha256-[a-f0-9]{64}\.(sig|att|sbom)\Z")
SIGNATURE_SUFFIXES = ("sig", "att", "sbom")
MAX_REFERRER_DEPTH = 3  # a signature of an SBOM of an image, no deeper


@dataclass(frozen=True)
class Artifact:
    repository: str  # the local full name
    reference: str  # a tag, or a digest (a referrer pushed by digest)


@dataclass(frozen=True)
class Copied:
    outcome: str  # "copied" or "skipped"
    digest: str
    bytes: int


class PushCopy:
    """The copies of one run: one remote client (its tokens reused), and where blobs were
    put on the remote (mount sources)."""

    def __init__(self, rule):
        self.rule, self.remote = rule, remote_of(rule)
        self._placed: dict[str, set[str]] = {}  # remote repository -> blob digests there
        self._wrote = False

    def plan(self, run) -> list[Artifact]:
        """What the run copies: what was pushed (a push-triggered run), else every tag that
        matches the rule in every repository that does (cosign signature tags go with the tag
        they sign)."""
        if run.repository:
            names = [run.repository] if matches(self.rule.repositories, run.repository) else []
        else:
            rows = select(Account.name, Repository.name).join(
                Account, Account.id == Repository.namespace_id
            )
            names = sorted(f"{ns}/{name}" for ns, name in db.session.execute(rows))
            names = [name for name in names if matches(self.rule.repositories, name)]
        planned = []
        for name in names:
            if run.digest or run.tag:
                planned.append(Artifact(name, run.digest or run.tag))
                continue
            repository = find_repository(name)
            for tag in manifests.list_tags(repository) if repository else []:
                if matches(self.rule.tags, tag) and not SIGNATURE_TAG.match(tag):
                    planned.append(Artifact(name, tag))
        return planned

    def copy(self, artifact: Artifact) -> Copied:
        repository = find_repository(artifact.repository)
        if repository is None:
            raise NameUnknown(f"repository {artifact.repository} was deleted meanwhile")
        target = remote_name(self.rule, artifact.repository)
        content = manifests.fetch_manifest(repository, artifact.reference)
        self._wrote = False
        moved = 0
        if is_digest(artifact.reference):  # a referrer: its subject goes first, by digest
            subject = parse_manifest(content.payload, content.media_type).subject
            if subject and manifests.stored_digest(repository, subject):
                moved += self._tree(repository, target, subject)
            moved += self._tree(repository, target, content.digest)
        elif self._remote_tag(target, artifact.reference) != content.digest:
            moved += self._tree(repository, target, content.digest)
            self.remote.put_manifest(
                target, artifact.reference, content.payload, content.media_type
            )
            self._wrote = True
        moved += self._referrers(repository, target, content.digest, 0)
        return Copied("copied" if self._wrote else "skipped", content.digest, moved)

    def _remote_tag(self, target, tag) -> str | None:
        try:
            return self.remote.manifest(target, tag, head=True).digest
        except UpstreamFailed as failure:
            if failure.status == 404:
                return None
            raise

    def _tree(self, repository, target, digest) -> int:
        """Copy a manifest by digest with what it names (children first); bytes sent."""
        if self.remote.has_manifest(target, digest):
            return 0
        content = manifests.fetch_manifest(repository, digest)
        parsed = parse_manifest(content.payload, content.media_type)
        moved = sum(self._tree(repository, target, child) for child in parsed.manifests)
        moved += sum(self._blob(repository, target, blob) for blob in parsed.blobs)
        self.remote.put_manifest(target, digest, content.payload, content.media_type)
        self._wrote = True
        return moved

    def _referrers(self, repository, target, digest, depth) -> int:
        if depth >= MAX_REFERRER_DEPTH:
            return 0
        moved = 0
        for descriptor in manifests.list_referrers(repository, digest):
            moved += self._tree(repository, target, descriptor["digest"])
            moved += self._referrers(repository, target, descriptor["digest"], depth + 1)
        for suffix in SIGNATURE_SUFFIXES:
            tag = signature_tag(digest, suffix)
            try:
                content = manifests.fetch_manifest(repository, tag)
            except ManifestUnknown:
                continue
            if self._remote_tag(target, tag) != content.digest:
                moved += self._tree(repository, target, content.digest)
                self.remote.put_manifest(target, tag, content.payload, content.media_type)
                self._wrote = True
        return moved

    def _blob(self, repository, target, digest) -> int:
        there = self._placed.setdefault(target, set())
        if digest in there:
            return 0
        if self.remote.has_blob(target, digest):
            there.add(digest)
            return 0
        location = None
        for source in self._mount_sources(repository, target, digest):
            location = self.remote.mount_blob(target, digest, source)
            if location is None:
                there.add(digest)
                return 0
            break  # the remote started an upload instead: use it
        size = blobs.linked_blob_size(repository, digest)
        with current_storage().reader(blob_path(digest)) as reader:
            self.remote.upload_blob(target, digest, size, reader, location)
        there.add(digest)
        return size

    def _mount_sources(self, repository, target, digest) -> list[str]:
        """Remote repositories that should have the blob: where this run put it, else the
        remote name of another local repository of this rule that has it (one try)."""
        placed = [name for name, digests in self._placed.items() if digest in digests]
        if placed:
            return placed[:1]
        rows = db.session.execute(
            select(Account.name, Repository.name)
            .select_from(RepositoryBlob)
            .join(Repository, Repository.id == RepositoryBlob.repository_id)
            .join(Account, Account.id == Repository.namespace_id)
            .where(RepositoryBlob.digest == digest, Repository.id != repository.id)
            .limit(20)
        )
        for namespace, name in rows:
            full_name = f"{namespace}/{name}"
            if matches(self.rule.repositories, full_name):
                source = remote_name(self.rule, full_name)
                if source != target:
                    return [source]
        return []
