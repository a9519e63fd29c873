"""Where the registry keeps things on a storage driver.

blobs/<algorithm>/<first two hex>/<hex>     a verified blob, content-addressed
uploads/<upload id>                          bytes of an upload in progress
"""


def blob_path(digest: str) -> str:
    algorithm, hexdigest = digest.split(":", 1)
    return f"blobs/{algorithm}/{hexdigest[:2]}/{hexdigest}"


def upload_path(upload_id: str) -> str:
    return f"uploads/{upload_id}"
