"""Remote drivers turn their backend's "no room" answers into StorageFull (which the
registry answers with 507 UNAVAILABLE "storage full..."); other failures stay StorageError.
The filesystem driver's ENOSPC is tested on a real full tmpfs (tests/integration/
test_disk_full.py)."""

import pytest
from botocore.exceptions import ClientError
from swiftclient.exceptions import ClientException

from dtr.storage import StorageError, StorageFull, create_driver
from dtr.storage.swift import _swift_errors


def s3_error(code, status):
    body = {"Error": {"Code": code, "Message": "no room"}, "ResponseMetadata": {}}
    body["ResponseMetadata"]["HTTPStatusCode"] = status
    return ClientError(body, "PutObject")


@pytest.mark.parametrize(
    ("code", "status", "full"),
    [
        ("XMinioStorageFull", 507, True),  # MinIO: its drives are full
        ("QuotaExceeded", 403, True),  # Ceph RGW: a bucket or user quota
        ("SlowDown", 503, False),
        ("InternalError", 500, False),
    ],
)
def test_s3_quota_errors(code, status, full):
    driver = create_driver(
        "s3",
        {"bucket": "dtr", "endpointUrl": "http://127.0.0.1:9", "accessKey": "a", "secretKey": "b"},
    )
    error = driver._client_error(s3_error(code, status), "write", "blobs/x")
    assert isinstance(error, StorageFull) is full
    assert isinstance(error, StorageError)
    if full:
        assert error.summary == "storage full" and code in str(error)


@pytest.mark.parametrize(
    ("status", "body", "full"),
    [
        (507, b"Insufficient Storage", True),
        (413, b"Upload exceeds quota.", True),
        (413, b"Your request is too large.", False),
        (503, b"Service Unavailable", False),
    ],
)
def test_swift_quota_errors(status, body, full):
    with pytest.raises(StorageError) as raised, _swift_errors("write"):
        raise ClientException("PUT failed", http_status=status, http_response_content=body)
    assert isinstance(raised.value, StorageFull) is full
