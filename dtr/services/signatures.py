"""Image provenance: which manifests are signed, by whom, and the signed-only pull policy.

Signatures stored as OCI artifacts (formats in `signature_formats.py`) are recorded when
their artifact is pushed: one `ManifestSignature` row per signature, with the payload and the
trusted key it verifies with. Trusted keys belong to a repository or to a whole namespace
(`trusted_keys.py`); when they change, the signatures of the repositories concerned are
verified again (`recheck_signatures`), so reads never verify anything.

A cosign signature makes manifest M signed when it is attached to M (a referrer whose subject
is M, or the artifact tagged `sha256-<hex of M>.sig`), its payload names M's digest, and it
verifies with a trusted key of M's repository or namespace. A notation signature (JWS envelope,
`notation.py`) makes its subject M signed when its certificate chain leads to a trusted
certificate of M's repository or namespace. Docker Content Trust signatures
(the trust service, `content_trust.py`) count too: see `dct_signed_tags`.

The policy (`Repository.pull_only_signed`, API field `pullOnlySigned`): a manifest GET/HEAD
by someone without admin level on the repository is refused (DENIED) unless the manifest
- is signed (a verified OCI signature by a trusted key, or a Docker Content Trust signature
  of a tag pointing at it);
- or is listed by a signed index of the repository (cosign signs a multi-platform image's
  index; clients then fetch the platform's image by digest);
- or is not runnable: an artifact without filesystem layers (signatures, SBOMs,
  attestations), which clients must fetch to verify anything.
Pushes are never refused by the policy; blobs are not checked (they are fetched by digest,
after a manifest).
"""

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from cryptography import x509
from sqlalchemy import delete, select

from .. import strict_json
from ..database import db, insert_ignoring_duplicates
from ..errors import Denied
from ..logs import component_logger
from ..models import Manifest, ManifestReference, ManifestSignature, Repository, Tag, TrustedKey
from ..names import DIGEST
from ..storage import PathNotFound, StorageError, current_storage
from ..storage.layout import blob_path
from . import notation
from .signature_formats import (
    MAX_PAYLOAD_BYTES,
    NOTATION_TYPE,
    SIGSTORE_BUNDLE_PREFIX,
    SIMPLE_SIGNING,
    TAG_SUFFIXES,
    KeyInvalid,
    cosign_signed_digest,
    find_signatures,
    is_runnable,
    load_public_key,
    referrer_kind,
    signature_tag,
    verify_signature,
)

log = component_logger("registry")
POLICY = "pullOnlySigned"
CHUNK = 500  # digests per IN (...) query
_MARKERS = (SIMPLE_SIGNING.encode(), NOTATION_TYPE.encode(), SIGSTORE_BUNDLE_PREFIX.encode())


@dataclass(frozen=True)
class Signature:
    type: str  # cosign, notation, sigstore, dct
    signer: str | None  # the trusted key's name, the DCT signer, notation's certificate
    verified: bool
    digest: str | None  # the signature artifact's manifest (None for DCT)
    problem: str | None  # why it does not count, when it does not


@dataclass(frozen=True)
class Referrer:
    digest: str
    artifact_type: str | None
    kind: str  # signature, sbom, attestation, other


@dataclass(frozen=True)
class Provenance:
    signatures: tuple[Signature, ...] = ()
    referrers: tuple[Referrer, ...] = ()

    @property
    def signed(self) -> bool:
        return any(signature.verified for signature in self.signatures)

    @property
    def signers(self) -> list[str]:
        return list(dict.fromkeys(s.signer for s in self.signatures if s.verified and s.signer))


UNSIGNED = Provenance()


# --- recording, at push ----------------------------------------------------------------------


@dataclass(frozen=True)
class PendingSignature:
    position: int
    kind: str
    signed_digest: str | None
    payload: bytes | None
    signature: str | None
    problem: str | None
    signer: str | None = None  # notation: the signing certificate's common name


def read_signatures(payload: bytes) -> list[PendingSignature]:
    """The signatures a manifest being pushed carries, with their payloads read from storage
    (before the push's write transaction); [] for anything else, at the cost of a search."""
    if not any(marker in payload for marker in _MARKERS):
        return []
    try:
        document = strict_json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return []
    subject = document.get("subject") if isinstance(document, dict) else None
    subject_digest = subject.get("digest") if isinstance(subject, dict) else None
    pending = []
    for found in find_signatures(document):
        data, problem, signed, signer = None, found.problem, subject_digest, None
        if found.kind == "notation":
            data, problem, signer = _read_notation(document, found, subject_digest)
        if found.kind == "cosign":
            signed = None
            if problem is None:
                data, problem = _read_payload(found.payload_digest)
            if data is not None:
                try:
                    signed = cosign_signed_digest(data)
                except ValueError as error:
                    problem = str(error)
        pending.append(
            PendingSignature(
                found.position, found.kind, signed, data, found.signature, problem, signer
            )
        )
    return pending


def _read_notation(document, found, subject_digest):
    """(envelope, problem, signer): a JWS envelope read from storage and checked for all but
    trust (which `_verifying_key` decides); other envelopes get their problem."""
    media_type = notation.envelope_media_type(document)
    problem = notation.envelope_type_problem(media_type)
    if problem:
        return None, problem, None
    data, problem = _read_payload(found.payload_digest)
    if data is None:
        return None, problem, None
    try:
        signer = notation.read_envelope(data, media_type, subject_digest).signer
    except notation.EnvelopeInvalid as error:
        return None, str(error)[:255], None
    return data, None, signer and signer[:255]


def _read_payload(digest) -> tuple[bytes | None, str | None]:
    if not isinstance(digest, str) or not DIGEST.match(digest):
        return None, "the payload's digest is invalid"
    try:
        with current_storage().reader(blob_path(digest)) as stream:
            data = stream.read(MAX_PAYLOAD_BYTES + 1)
    except (PathNotFound, StorageError) as error:
        log.warning("signature payload %s unreadable: %s", digest, error)
        return None, "the payload could not be read when it was pushed: push it again"
    if len(data) > MAX_PAYLOAD_BYTES:
        return None, f"payload larger than {MAX_PAYLOAD_BYTES} bytes"
    algorithm, expected = digest.split(":", 1)
    if hashlib.new(algorithm, data).hexdigest() != expected:
        return None, "the payload does not match its digest"
    return data, None


def record_signatures(repository, manifest_id: int, pending: list[PendingSignature]):
    """Store the signatures of a pushed artifact, verified with the trusted keys now; in the
    push's transaction (a push of the same artifact again replaces them)."""
    if not pending:
        return
    keys = _trusted_keys(repository.namespace_id)(repository.id)
    db.session.execute(
        delete(ManifestSignature).where(ManifestSignature.manifest_id == manifest_id)
    )
    for item in pending:
        insert_ignoring_duplicates(
            ManifestSignature,
            manifest_id=manifest_id,
            position=item.position,
            kind=item.kind,
            signed_digest=item.signed_digest,
            payload=item.payload,
            signature=item.signature,
            signer=item.signer,
            problem=item.problem,
            key_id=_verifying_key(item, keys),
        )


def recheck_signatures(namespace_id, repository_ids: Iterable[int] | None = None):
    """Verify the OCI signatures of a namespace's repositories (or of some) again with
    their trusted keys now; in the caller's transaction."""
    keys = _trusted_keys(namespace_id)
    query = (
        select(ManifestSignature, Manifest.repository_id)
        .join(Manifest, Manifest.id == ManifestSignature.manifest_id)
        .join(Repository, Repository.id == Manifest.repository_id)
        .where(
            Repository.namespace_id == namespace_id,
            ManifestSignature.kind.in_(("cosign", "notation")),
        )
    )
    if repository_ids is not None:
        query = query.where(Manifest.repository_id.in_(list(repository_ids)))
    for row, repository_id in db.session.execute(query):
        verifying = _verifying_key(row, keys(repository_id))
        if row.key_id != verifying:
            row.key_id = verifying


def _trusted_keys(namespace_id) -> Callable[[int], list]:
    """repository id -> [(key id, public key, certificate or None)] trusted there: the
    repository's own keys, then its namespace's."""
    rows = db.session.execute(
        select(TrustedKey.id, TrustedKey.repository_id, TrustedKey.pem)
        .where(TrustedKey.namespace_id == namespace_id)
        .order_by(TrustedKey.name)
    ).all()
    own: dict[int | None, list] = {}
    for id_, repository_id, pem in rows:
        key = _public_key(pem)
        if key is not None:
            own.setdefault(repository_id, []).append((id_, key, _certificate(pem)))
    namespace_keys = own.get(None, [])
    return lambda repository_id: own.get(repository_id, []) + namespace_keys


@lru_cache(maxsize=1024)
def _public_key(pem):
    """The key of a stored PEM; None if it no longer loads (it was checked when added)."""
    try:
        return load_public_key(pem).key
    except KeyInvalid:
        return None


@lru_cache(maxsize=1024)
def _certificate(pem):
    """The certificate of a stored PEM, for notation; None for a bare public key."""
    if "-----BEGIN CERTIFICATE-----" not in pem:
        return None
    try:
        return x509.load_pem_x509_certificate(pem.strip().encode())
    except ValueError:
        return None


def _verifying_key(row, keys) -> int | None:
    """The trusted key a signature (a PendingSignature or a ManifestSignature) verifies with."""
    if row.problem or row.payload is None:
        return None
    if row.kind == "notation":
        return _notation_key(row.payload, row.signed_digest, keys)
    if row.kind != "cosign" or row.signature is None:
        return None
    for key_id, public_key, _ in keys:
        if verify_signature(public_key, row.payload, row.signature):
            return key_id
    return None


def _notation_key(envelope, subject_digest, keys) -> int | None:
    certificates = [(key_id, cert) for key_id, _, cert in keys if cert is not None]
    if not certificates:
        return None
    try:
        chain = notation.read_envelope(envelope, notation.JWS_MEDIA_TYPE, subject_digest).chain
    except notation.EnvelopeInvalid:
        return None
    anchor = notation.anchor_of(chain, [cert for _, cert in certificates])
    return None if anchor is None else certificates[anchor][0]


# --- reading: what is signed -----------------------------------------------------------------


def provenance(repository, tagged: list[tuple[str, str]]) -> dict[str, Provenance]:
    """tag -> its manifest's signatures and referrers, for (tag, digest) pairs of one
    repository: three queries whatever their number, and the trust service's answer."""
    by_digest = _oci_provenance(repository.id, {digest for _, digest in tagged})
    dct = dct_signed_tags(repository, tagged)
    found = {}
    for tag, digest in tagged:
        oci = by_digest.get(digest, UNSIGNED)
        signers = dct.get(tag) or []
        trusted = tuple(Signature("dct", signer, True, None, None) for signer in signers)
        found[tag] = Provenance(oci.signatures + trusted, oci.referrers)
    return found


def _oci_provenance(repository_id, digests) -> dict[str, Provenance]:
    artifact = (Manifest.id, Manifest.digest, Manifest.artifact_type)
    attached = {}  # artifact id -> (subject digest, artifact row, cosign tag suffix)
    for chunk in _chunks(sorted(digests)):
        for row in db.session.execute(
            select(*artifact, Manifest.subject_digest).where(
                Manifest.repository_id == repository_id, Manifest.subject_digest.in_(chunk)
            )
        ):
            attached[row.id] = (row.subject_digest, row, None)
        tag_names = {
            signature_tag(digest, suffix): (digest, suffix)
            for digest in chunk
            for suffix in TAG_SUFFIXES
        }
        for row in db.session.execute(
            select(*artifact, Tag.name)
            .join(Tag, Tag.manifest_id == Manifest.id)
            .where(Tag.repository_id == repository_id, Tag.name.in_(list(tag_names)))
        ):
            subject, suffix = tag_names[row.name]
            attached.setdefault(row.id, (subject, row, suffix))
    found: dict[int, list] = {}
    for ids in _chunks(sorted(attached)):
        for row in db.session.execute(
            select(
                ManifestSignature.manifest_id,
                ManifestSignature.kind,
                ManifestSignature.signed_digest,
                ManifestSignature.signer,
                ManifestSignature.problem,
                ManifestSignature.key_id,
                TrustedKey.name.label("key_name"),
            )
            .outerjoin(TrustedKey, TrustedKey.id == ManifestSignature.key_id)
            .where(ManifestSignature.manifest_id.in_(ids))
            .order_by(ManifestSignature.manifest_id, ManifestSignature.position)
        ):
            found.setdefault(row.manifest_id, []).append(row)
    signatures: dict[str, list] = {}
    referrers: dict[str, list] = {}
    for artifact_id, (subject, row, suffix) in sorted(attached.items()):
        kind = referrer_kind(row.artifact_type, suffix)
        referrers.setdefault(subject, []).append(Referrer(row.digest, row.artifact_type, kind))
        for signature in found.get(artifact_id, []):
            signatures.setdefault(subject, []).append(_signature(signature, subject, row.digest))
    return {
        digest: Provenance(tuple(signatures.get(digest, ())), tuple(referrers[digest]))
        for digest in referrers
    }


def _signature(row, subject, artifact_digest) -> Signature:
    problem = row.problem
    if problem is None and row.signed_digest != subject:
        problem = f"it signs {row.signed_digest}, not this manifest"
    if problem is None and row.key_id is None:
        problem = "no trusted key of the repository or its namespace verifies it"
    verified = problem is None and row.key_id is not None
    signer = row.key_name if verified else row.signer
    return Signature(row.kind, signer, verified, artifact_digest, problem)


def _chunks(items):
    items = list(items)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def is_signed(repository, digest, tag=None) -> bool:
    """A verified OCI signature by a trusted key, or a Docker Content Trust signature (of
    `tag`, or of any tag pointing at the digest)."""
    if _oci_provenance(repository.id, [digest]).get(digest, UNSIGNED).signed:
        return True
    tags = [tag] if tag else _tags_of(repository.id, digest)
    return any(dct_signed_tags(repository, [(name, digest) for name in tags]).values())


def _tags_of(repository_id, digest) -> list[str]:
    return list(
        db.session.scalars(
            select(Tag.name)
            .join(Manifest, Manifest.id == Tag.manifest_id)
            .where(Tag.repository_id == repository_id, Manifest.digest == digest)
        )
    )


def indexes_listing(repository_id, digest, limit=None) -> list[str]:
    """Digests of the repository's indexes that list the manifest (by digest; the first
    `limit` of them)."""
    return list(
        db.session.scalars(
            select(Manifest.digest)
            .join(ManifestReference, ManifestReference.manifest_id == Manifest.id)
            .where(
                Manifest.repository_id == repository_id,
                ManifestReference.kind == "manifest",
                ManifestReference.digest == digest,
            )
            .order_by(Manifest.digest)
            .limit(limit)
        )
    )


# --- the policy ------------------------------------------------------------------------------


def check_pull(repository, full_name, reference, manifest, is_admin: Callable[[], bool]):
    """Raise Denied when the repository's signed-only policy refuses this manifest to the
    caller (`manifest`: digest, media_type, payload; `is_admin`: asked only when needed)."""
    if not repository.pull_only_signed:
        return
    if not is_runnable(manifest.media_type, manifest.payload):
        return
    tag = None if ":" in reference else reference
    if is_signed(repository, manifest.digest, tag):
        return
    if any(
        is_signed(repository, index) for index in indexes_listing(repository.id, manifest.digest)
    ):
        return
    if is_admin():
        return
    raise Denied(
        f"the policy of {full_name} allows pulling only signed images ({POLICY}): "
        f"{manifest.digest} has no verified signature (cosign with a trusted key, or Docker "
        "Content Trust)",
        {"policy": POLICY, "repository": full_name, "digest": manifest.digest},
    )


# --- Docker Content Trust --------------------------------------------------------------------


def dct_signed_tags(repository, tagged: list[tuple[str, str]]) -> dict[str, list[str]]:
    """tag -> its Docker Content Trust signers when it is signed for the digest paired with
    it, from the trust service (`content_trust.py`): its batch `dct_signed_tags(repository,
    tagged)` when it has one, else its `dct_signers(repository, tag, digest)` per tag; {}
    while it has neither."""
    if not tagged:
        return {}
    try:
        from . import content_trust
    except ImportError:
        return {}
    batch = getattr(content_trust, "dct_signed_tags", None)
    if batch is not None:
        return batch(repository, tagged)
    single = getattr(content_trust, "dct_signers", None)
    if single is None or not _has_trust_data(repository.id):
        return {}
    return {tag: single(repository, tag, digest) for tag, digest in tagged}


def _has_trust_data(repository_id) -> bool:
    """One query spares one per tag in the many repositories without trust data."""
    from ..models import TrustMetadata

    return (
        db.session.scalar(
            select(TrustMetadata.id).where(TrustMetadata.repository_id == repository_id).limit(1)
        )
        is not None
    )


def dct_signers(repository, tag, digest) -> list[str]:
    """Docker Content Trust signers of `tag` when it is signed for `digest`; [] while the
    trust service offers no answer."""
    return dct_signed_tags(repository, [(tag, digest)]).get(tag, [])
