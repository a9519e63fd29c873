"""The artifact page: one manifest of a repository by digest (an index's platforms, an
image's layers and build history, its config, annotations and referrers), and the download
of a file it references (an SBOM, an attestation, a signature payload, a config)."""

from flask import Response

from ..services.artifact_details import artifact_detail, open_manifest_blob
from .addresses import registry_address
from .rendering import page
from .repository_pages import logged_in


def artifact(namespace, name, digest):
    me = logged_in()
    full_name = f"{namespace}/{name}"
    repository, detail = artifact_detail(me, full_name, digest)
    return page(
        "repositories/artifact.html",
        repository=repository,
        full_name=full_name,
        namespace=namespace,
        artifact=detail,
        host=registry_address(),
    )


def artifact_blob(namespace, name, digest, blob):
    """The bytes, as a download (never shown by the browser: they are whatever was pushed)."""
    me = logged_in()
    download = open_manifest_blob(me, f"{namespace}/{name}", digest, blob)
    response = Response(download.chunks, mimetype="application/octet-stream")
    response.call_on_close(download.close)
    response.headers["Content-Length"] = str(download.size)
    response.headers["Content-Disposition"] = f'attachment; filename="{download.file_name}"'
    response.headers["Docker-Content-Digest"] = download.digest
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
