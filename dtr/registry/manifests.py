"""Manifests (GET/HEAD/PUT/DELETE by tag or digest), tags list, referrers, catalog."""

from flask import Response, current_app, request

from .. import access
from ..database import read_only_transactions
from ..errors import InvalidInput
from ..names import check_digest, is_digest
from ..services import events, manifest_pushes, manifests, pull_through, signatures
from ..services.catalog import list_repository_names
from ..services.deletion import delete_reference
from ..services.proxy_caches import proxy_of
from ..services.repositories import lookup_repository
from .authorization import CATALOG_SCOPE, current_caller, require_catalog
from .repository_lookup import authorized_repository
from .request_body import body_stream

OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def get_manifest(name, reference):
    repository, caller = authorized_repository(name, access.PULL)
    stale = None
    proxy = proxy_of(name) if repository.proxied else None
    if proxy is not None:
        served = pull_through.fetch_manifest(
            proxy, repository, name, reference, head=request.method == "HEAD"
        )
        manifest, stale = served.content, served.stale
        repository = lookup_repository(name) or repository  # created by this first pull
    else:
        manifest = manifests.fetch_manifest(repository, reference)
    signatures.check_pull(
        repository,
        name,
        reference,
        manifest,
        lambda: access.ADMIN in access.allowed_actions(caller.identity, repository),
    )
    response = Response(manifest.payload, content_type=manifest.media_type)
    response.headers["Docker-Content-Digest"] = manifest.digest
    response.headers["ETag"] = f'"{manifest.digest}"'
    if stale is not None:  # the upstream failed: this is what was cached
        response.headers[pull_through.STALE_HEADER] = stale
        response.headers["Warning"] = '110 - "Response is Stale"'
    # a pull; a HEAD only asks whether it changed
    if request.method == "GET" and repository.id is not None:
        _pulled(repository, name, reference, manifest, caller)
    return response


def _pulled(repository, name, reference, manifest, caller):
    events.publish(
        events.Event(
            events.PULL,
            caller.name,
            repository=name,
            tag=None if is_digest(reference) else reference,
            digest=manifest.digest,
            media_type=manifest.media_type,
            size=len(manifest.payload),
            detail={"repositoryId": repository.id},
        )
    )


def put_manifest(name, reference):
    # Every look and check reads without the writer lock (the body streams in meanwhile);
    # the push writes in one short transaction of its own.
    with read_only_transactions():
        repository, caller = authorized_repository(name, access.PUSH)
        content_type = request.headers.get("Content-Type")
        digest, parsed = manifest_pushes.push(
            repository, name, reference, body_stream(), content_type, caller.name
        )
    headers = {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest}
    if parsed.subject:
        headers["OCI-Subject"] = parsed.subject
    return "", 201, headers


def delete_manifest(name, reference):
    """By digest: the manifest and every tag pointing at it; by tag: the tag (soft deletes:
    the blobs stay until garbage collection)."""
    repository, caller = authorized_repository(name, access.DELETE)
    delete_reference(repository, name, reference, caller.name)
    return "", 202


def _page_arguments():
    """(n, last) from the query string; n must be a non-negative integer."""
    n = request.args.get("n")
    if n is not None:
        if not (n.isascii() and n.isdecimal()):
            raise InvalidInput("n must be a non-negative integer")
        digits = n.lstrip("0")  # leading zeros do not make a number large
        n = 10000 if len(digits) > 5 else min(int(digits or "0"), 10000)
    return n, request.args.get("last")


def _paginated(path, key, list_page, extra):
    """A page of `list_page(limit, last)`; a `Link` to the next page when there is one."""
    n, last = _page_arguments()
    items = list_page(None if n is None else n + 1, last) if n != 0 else []
    more = n is not None and len(items) > n
    items = items[:n] if more else items
    response = current_app.json.response({**extra, key: items})
    if more:
        response.headers["Link"] = f'<{path}?n={n}&last={items[-1]}>; rel="next"'
    return response


def list_tags(name):
    repository, _ = authorized_repository(name, access.PULL)
    return _paginated(
        f"/v2/{name}/tags/list",
        "tags",
        lambda limit, last: manifests.list_tags(repository, limit, last),
        {"name": name},
    )


def catalog():
    require_catalog(current_caller(CATALOG_SCOPE))
    return _paginated("/v2/_catalog", "repositories", list_repository_names, {})


def referrers(name, digest):
    repository, _ = authorized_repository(name, access.PULL)
    check_digest(digest)
    artifact_type = request.args.get("artifactType")
    descriptors = manifests.list_referrers(repository, digest, artifact_type)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
    response = current_app.json.response(index)
    response.content_type = OCI_INDEX
    if artifact_type:
        response.headers["OCI-Filters-Applied"] = "artifactType"
    return response
