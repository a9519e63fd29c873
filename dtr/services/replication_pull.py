"""Pull replication: a local repository kept in sync with a remote one (its read-only
mirror), a tag at a time.

A tag whose remote digest (a HEAD) is the local one is skipped. Otherwise its tree comes
over children first (an index's manifests, each manifest's config and layers; blobs this
registry stores already are only linked), each manifest's digest checked and each blob's
verified while it streams into storage; the tag moves last, so a pull never sees a tag
whose content is not all here. Referrers (the referrers API, where the remote has it) and
cosign's tag-scheme signatures of the tag's manifest come with it.
"""

from ..errors import DigestInvalid, NameUnknown
from . import blobs, manifests
from .blob_downloads import VerifiedDownload
from .manifest_parsing import parse_manifest
from .replication_push import SIGNATURE_SUFFIXES, SIGNATURE_TAG, Artifact, Copied
from .replication_rules import matches, remote_of
from .repositories import find_repository
from .signature_formats import signature_tag
from .upstream_registry import verified_digest

ACTOR = "replication"  # who "pushed" what a pull replication brought


class PullCopy:
    """The copies of one run, with one remote client."""

    def __init__(self, rule):
        self.rule, self.remote = rule, remote_of(rule)
        self._name = rule.remote_repository
        self._tags: set[str] | None = None

    def plan(self, run) -> list[Artifact]:
        """The remote's tags that match the rule (or the one a run names)."""
        if run.tag:
            return [Artifact(self.rule.local_repository, run.tag)]
        return [
            Artifact(self.rule.local_repository, tag)
            for tag in sorted(self._remote_tags())
            if matches(self.rule.tags, tag) and not SIGNATURE_TAG.match(tag)
        ]

    def copy(self, artifact: Artifact) -> Copied:
        repository = find_repository(self.rule.local_repository)
        if repository is None or repository.mirror_rule_id != self.rule.id:
            raise NameUnknown(f"{self.rule.local_repository} is no longer this rule's mirror")
        digest = self._remote_digest(artifact.reference)
        if digest is not None and manifests.stored_digest(repository, artifact.reference) == digest:
            moved, wrote = self._signatures(repository, digest)
            return Copied("copied" if wrote else "skipped", digest, moved)
        digest, payload, media_type, moved = self._tree(repository, artifact.reference)
        manifests.store_mirrored_manifest(
            repository, artifact.reference, digest, payload, media_type, ACTOR
        )
        more, _ = self._signatures(repository, digest)
        return Copied("copied", digest, moved + more)

    def _remote_digest(self, tag) -> str | None:
        return self.remote.manifest(self._name, tag, head=True).digest

    def _tree(self, repository, reference):
        """(digest, payload, media type, bytes fetched) of a manifest and everything it
        names, all stored but the manifest itself (the caller stores it, under its tag)."""
        answer = self.remote.manifest(self._name, reference)
        digest = verified_digest(self.rule.remote_url, answer, reference)
        parsed = parse_manifest(answer.payload, answer.media_type)
        moved = 0
        for child in parsed.manifests:
            moved += self._stored_tree(repository, child)
        for blob in parsed.blobs:
            moved += self._blob(repository, blob)
        return digest, answer.payload, answer.media_type, moved

    def _stored_tree(self, repository, digest) -> int:
        if manifests.stored_digest(repository, digest) is not None:
            return 0
        digest, payload, media_type, moved = self._tree(repository, digest)
        manifests.store_mirrored_manifest(repository, None, digest, payload, media_type, ACTOR)
        return moved

    def _signatures(self, repository, digest) -> tuple[int, bool]:
        """Bring the referrers and cosign signature tags of `digest` that are not here yet:
        (bytes fetched, whether anything was)."""
        moved, wrote = 0, False
        for descriptor in self.remote.referrers(self._name, digest):
            referrer = descriptor.get("digest")
            if isinstance(referrer, str) and manifests.stored_digest(repository, referrer) is None:
                moved += self._stored_tree(repository, referrer)
                wrote = True
        for suffix in SIGNATURE_SUFFIXES:
            tag = signature_tag(digest, suffix)
            if tag not in self._remote_tags():
                continue
            remote = self._remote_digest(tag)
            if remote is not None and manifests.stored_digest(repository, tag) == remote:
                continue
            signed, payload, media_type, fetched = self._tree(repository, tag)
            manifests.store_mirrored_manifest(repository, tag, signed, payload, media_type, ACTOR)
            moved, wrote = moved + fetched, True
        return moved, wrote

    def _remote_tags(self) -> set[str]:
        """The remote repository's tags, listed once a run."""
        if self._tags is None:
            self._tags = set(self.remote.tags(self._name))
        return self._tags

    def _blob(self, repository, digest) -> int:
        if blobs.usable_blob(repository, digest):
            return 0
        response = self.remote.blob(self._name, digest)
        download = VerifiedDownload(repository, digest, self.rule.remote_url)
        with response:
            for _ in download.chunks(response.iter_content(1024 * 1024)):
                pass
        if not download.kept:
            raise DigestInvalid(
                f"{self.rule.remote_url} sent other bytes for blob {digest}", {"digest": digest}
            )
        return download.size
