"""A manifest push as the registry receives it: the body read (bounded), the signatures it
carries found, then stored with them and its tag in one write transaction
(`manifests.push_manifest`, which publishes the events)."""

from flask import current_app

from . import manifests, signatures


def push(repository, full_name, reference, stream, content_type, pushed_by):
    """Returns (digest, parsed manifest). Reads without the writer lock up to the store."""
    payload = manifests.read_manifest_body(stream, current_app.config["MAX_MANIFEST_BYTES"])
    found = signatures.read_signatures(payload)
    return manifests.push_manifest(
        repository,
        full_name,
        reference,
        payload,
        content_type,
        pushed_by,
        on_stored=lambda stored: signatures.record_signatures(repository, stored, found),
    )
