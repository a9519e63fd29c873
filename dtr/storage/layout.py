"""Where the registry keeps things on a storage driver.

blobs/<algorithm>/<first two hex>/<hex>     a verified blob, content-addressed
uploads/<upload id>                          bytes of an upload in progress
uploads/mono-<unix time>-<random>            bytes of a monolithic upload (one request) in
                                             progress; the time lets garbage collection
                                             age the ones a crash left behind
"""

UPLOADS = "uploads"


def blob_path(digest: str) -> str:
    algorithm, hexdigest = digest.split(":", 1)
    return f"blobs/{algorithm}/{hexdigest[:2]}/{hexdigest}"


def upload_path(upload_id: str) -> str:
    return f"{UPLOADS}/{upload_id}"
