"""What the S3 driver does beyond the conformance suite, against moto's S3 server."""

import json
import re
from itertools import pairwise

import pytest
import requests

from dtr.storage import PathNotFound, StorageError, s3
from dtr.storage.s3 import S3Driver, copy_ranges, from_settings, part_size_at
from tests.support.moto_server import BUCKET
from tests.support.server import free_port

MIB = 1024 * 1024
GIB = 1024 * MIB


def write(driver, path, content, append=False):
    writer = driver.writer(path, append=append)
    writer.write(content)
    writer.commit()


def read(driver, path):
    with driver.reader(path) as stream:
        return stream.read()


def open_uploads(moto_server):
    return moto_server.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])


def calls_of(driver):
    """The names of the S3 operations the driver calls from now on."""
    names = []
    driver.client.meta.events.register(
        "before-call.s3", lambda model, **_: names.append(model.name)
    )
    return names


@pytest.mark.parametrize(
    "options, message",
    [
        ({}, "Bucket (bucket) is required"),
        ({"bucket": "b"}, "not a valid S3 bucket name"),
        ({"bucket": "dtr", "partSizeMiB": 4}, "between 5 and 5120"),
        ({"bucket": "dtr", "partSizeMiB": "16"}, "must be a int"),
        ({"bucket": "dtr", "accessKey": "AKIA1"}, "go together"),
        ({"bucket": "dtr", "endpointUrl": "minio:9000"}, "must look like https://host"),
        ({"bucket": "dtr", "rootDirectory": "a/../b"}, "invalid storage path"),
        ({"bucket": "dtr", "colour": "blue"}, "unknown storage option 'colour'"),
    ],
)
def test_bad_options_are_refused_clearly(options, message):
    with pytest.raises((ValueError, StorageError), match=re.escape(message)):
        from_settings(options)


def test_fields_describe_every_option():
    names = {field.name for field in s3.FIELDS}
    assert names == {
        *("region", "bucket", "endpointUrl", "accessKey", "secretKey", "rootDirectory"),
        *("encrypt", "pathStyle", "redirect", "partSizeMiB"),
    }
    assert next(field for field in s3.FIELDS if field.name == "secretKey").kind == "secret"


@pytest.mark.parametrize("base_mib", [5, 16, 5120])
def test_a_100_gib_blob_stays_under_10000_parts(base_mib):
    offset, parts, total = 0, 0, 100 * GIB
    while offset < total:
        size = part_size_at(offset, base_mib * MIB)
        assert s3.MIN_PART <= size <= s3.MAX_PART
        offset += size
        parts += 1
    assert parts < s3.MAX_PARTS
    assert part_size_at(0, base_mib * MIB) == base_mib * MIB  # small blobs keep small parts


def test_even_5_tib_fits_in_10000_parts():
    offset, parts = 0, 0
    while offset < 5 * 1024 * GIB:
        offset += part_size_at(offset, 5 * MIB)
        parts += 1
    assert parts <= s3.MAX_PARTS


def test_copy_ranges_cover_an_object_in_parts_of_at_most_5_gib():
    for size in (5 * MIB, 5 * GIB, 5 * GIB + 1, 12 * GIB + 7):
        ranges = copy_ranges(size)
        assert ranges[0][0] == 0 and ranges[-1][1] == size - 1
        assert all(end - start + 1 <= s3.MAX_PART for start, end in ranges)
        assert all(start == end + 1 for (_, end), (start, _) in pairwise(ranges))
        assert all(end - start + 1 >= s3.MIN_PART for start, end in ranges)


def test_appending_copies_the_old_content_server_side(s3_driver, moto_server):
    write(s3_driver, "uploads/u", bytes(6 * MIB))
    calls = calls_of(s3_driver)
    write(s3_driver, "uploads/u", b"more", append=True)
    assert "UploadPartCopy" in calls and "GetObject" not in calls
    assert read(s3_driver, "uploads/u") == bytes(6 * MIB) + b"more"
    assert open_uploads(moto_server) == []


def test_appending_to_a_small_object_rewrites_it_whole(s3_driver):
    write(s3_driver, "uploads/small", b"head ")
    calls = calls_of(s3_driver)
    write(s3_driver, "uploads/small", b"tail", append=True)
    assert calls.count("PutObject") == 1 and "CreateMultipartUpload" not in calls
    assert read(s3_driver, "uploads/small") == b"head tail"


def test_objects_over_the_copy_limit_are_moved_and_appended_in_ranges(
    s3_driver, moto_server, monkeypatch
):
    """The > 5 GiB paths, with the limit lowered to 10 MiB to keep the test small."""
    monkeypatch.setattr(s3, "MAX_PART", 10 * MIB)
    content = bytes(range(256)) * (25 * MIB // 256)
    write(s3_driver, "big/source", content)
    calls = calls_of(s3_driver)
    s3_driver.move("big/source", "big/target")
    assert calls.count("UploadPartCopy") == 3 and "CopyObject" not in calls
    write(s3_driver, "big/target", b"!", append=True)
    assert calls.count("UploadPartCopy") == 6
    assert read(s3_driver, "big/target") == content + b"!"
    assert s3_driver.stat("big/source") is None
    assert open_uploads(moto_server) == []


def abort_every_upload(moto_server):
    """Makes the writers' multipart uploads disappear under them."""
    for upload in open_uploads(moto_server):
        moto_server.client().abort_multipart_upload(
            Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"]
        )


def test_a_failed_write_leaves_no_object_and_no_upload(moto_server, s3_driver):
    driver = S3Driver(moto_server.driver_options(), max_attempts=1)
    writer = driver.writer("uploads/failing")
    writer.write(bytes(12 * MIB))  # two parts are sent
    abort_every_upload(moto_server)
    with pytest.raises(StorageError, match="S3 .* on bucket 'dtr-test' .* failed"):
        writer.commit()  # (S3 says NoSuchUpload, moto 500)
    assert driver.stat("uploads/failing") is None
    assert open_uploads(moto_server) == []


def test_after_a_failed_write_the_writer_waits_for_truncate(moto_server, s3_driver):
    driver = S3Driver(moto_server.driver_options(), max_attempts=1)
    old = bytes(range(256)) * (6 * MIB // 256)
    write(driver, "uploads/resume", old)
    writer = driver.writer("uploads/resume", append=True)
    writer.write(bytes(6 * MIB))
    abort_every_upload(moto_server)
    with pytest.raises(StorageError, match="failed"):
        writer.write(bytes(10 * MIB))
    with pytest.raises(StorageError, match="truncate or cancel"):
        writer.write(b"more")  # nothing is silently dropped
    with pytest.raises(StorageError, match="truncate or cancel"):
        writer.close()
    assert read(driver, "uploads/resume") == old
    writer.truncate(len(old))
    writer.write(b"tail")
    writer.close()
    assert read(driver, "uploads/resume") == old + b"tail"
    assert open_uploads(moto_server) == []


def test_truncate_and_cancel_leave_no_upload_behind(s3_driver, moto_server):
    write(s3_driver, "uploads/t", bytes(6 * MIB))
    writer = s3_driver.writer("uploads/t", append=True)
    writer.write(bytes(11 * MIB))
    assert len(open_uploads(moto_server)) == 1
    writer.truncate(6 * MIB)
    assert open_uploads(moto_server) == []
    assert s3_driver.stat("uploads/t") == 6 * MIB  # the object never changed
    writer.write(bytes(6 * MIB))
    writer.cancel()
    assert open_uploads(moto_server) == []
    assert s3_driver.stat("uploads/t") == 6 * MIB  # cancelling an append keeps the old bytes


def test_root_directory_prefixes_every_key(moto_server, s3_driver):
    driver = S3Driver(moto_server.driver_options(rootDirectory="/dtr/data/"))
    write(driver, "blobs/x", b"x")
    write(driver, "blobs/y/z", b"z")
    keys = [item["Key"] for item in moto_server.client().list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert sorted(keys) == ["dtr/data/blobs/x", "dtr/data/blobs/y/z"]
    assert sorted(driver.list("blobs")) == ["blobs/x", "blobs/y/z"]
    assert s3_driver.stat("blobs/x") is None  # the driver without a root sees other keys


def test_encrypt_asks_for_server_side_encryption(moto_server, s3_driver):
    driver = S3Driver(moto_server.driver_options(encrypt=True))
    write(driver, "enc/small", b"secret")
    write(driver, "enc/multipart", bytes(12 * MIB))
    driver.move("enc/small", "enc/moved")
    write(s3_driver, "plain", b"plain")
    client = moto_server.client()
    for key in ("enc/multipart", "enc/moved"):
        assert client.head_object(Bucket=BUCKET, Key=key).get("ServerSideEncryption") == "AES256"
    assert "ServerSideEncryption" not in client.head_object(Bucket=BUCKET, Key="plain")


def test_missing_bucket_is_named_in_the_error(moto_server, s3_driver):
    driver = S3Driver(moto_server.driver_options(bucket="no-such-bucket"))
    for action in (
        lambda: driver.stat("x"),
        lambda: driver.writer("x").close(),
        lambda: driver.reader("x"),
        lambda: list(driver.list("x")),
    ):
        with pytest.raises(StorageError, match="bucket 'no-such-bucket' .*does not exist") as info:
            action()
        assert not isinstance(info.value, PathNotFound)


def test_unreachable_endpoint_is_named_in_the_error():
    url = f"http://127.0.0.1:{free_port()}"
    driver = S3Driver(
        {"bucket": "dtr", "endpointUrl": url, "accessKey": "a", "secretKey": "b"}, max_attempts=1
    )
    with pytest.raises(StorageError, match=f"cannot reach {url}"):
        driver.stat("x")


@pytest.fixture
def iam_keys(moto_server, s3_driver):
    """Access keys of an IAM user allowed s3:* ("allowed") and of one allowed nothing
    ("nobody"); moto checks credentials until the end of the test."""
    iam = moto_server.client("iam")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]}
    policy["Statement"][0]["Resource"] = "*"
    keys = {}
    for user in ("allowed", "nobody"):
        iam.create_user(UserName=user)
        keys[user] = iam.create_access_key(UserName=user)["AccessKey"]
    iam.put_user_policy(UserName="allowed", PolicyName="s3", PolicyDocument=json.dumps(policy))
    moto_server.require_auth(True)
    yield keys
    moto_server.require_auth(False)


def driver_with(moto_server, key, secret):
    return S3Driver(moto_server.driver_options(accessKey=key, secretKey=secret))


def test_credentials_are_checked_and_rejections_are_clear(moto_server, iam_keys):
    allowed = iam_keys["allowed"]
    good = driver_with(moto_server, allowed["AccessKeyId"], allowed["SecretAccessKey"])
    write(good, "x", b"x")  # the right key works
    assert read(good, "x") == b"x"

    wrong_secret = driver_with(moto_server, allowed["AccessKeyId"], "not-the-secret")
    with pytest.raises(StorageError, match="rejected the credentials.*accessKey and secretKey"):
        wrong_secret.writer("y").close()
    with pytest.raises(StorageError, match="denied"):
        wrong_secret.stat("x")  # a HEAD has no error body: only its 403
    unknown = driver_with(moto_server, "AKIAUNKNOWNUNKNOWN00", "secret")
    with pytest.raises(StorageError, match="rejected the credentials \\(InvalidAccessKeyId\\)"):
        read(unknown, "x")

    nobody = iam_keys["nobody"]
    forbidden = driver_with(moto_server, nobody["AccessKeyId"], nobody["SecretAccessKey"])
    with pytest.raises(StorageError, match="access to bucket 'dtr-test' .* denied"):
        forbidden.writer("z").close()
    assert good.stat("y") is None and good.stat("z") is None


def test_redirect_gives_a_presigned_url_plain_http_can_download(moto_server, s3_driver):
    """(moto serves any URL without checking its signature: S3 would refuse a changed one.)"""
    content = bytes(range(256)) * 100
    write(s3_driver, "blobs/sha256/ab/abc", content)
    assert s3_driver.download_url("blobs/sha256/ab/abc", 60) is None  # redirect is off
    driver = S3Driver(moto_server.driver_options(redirect=True))
    url = driver.download_url("blobs/sha256/ab/abc", 60)
    assert url.startswith(f"{moto_server.url}/{BUCKET}/blobs/sha256/ab/abc?")
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=60" in url
    response = requests.get(url, timeout=10)
    assert response.status_code == 200 and response.content == content
    ranged = requests.get(url, headers={"Range": "bytes=100-199"}, timeout=10)
    assert ranged.status_code == 206 and ranged.content == content[100:200]


def append_chunks(driver, path, chunks):
    """What a chunked upload does: one append writer per request, closed (not committed)."""
    sizes = []
    for chunk in chunks:
        writer = S3Driver(driver._options).writer(path, append=True)  # as another replica
        writer.write(chunk)
        writer.close()
        sizes.append(driver.stat(path))
    return sizes


def test_a_chunked_upload_keeps_one_multipart_upload_across_its_requests(s3_driver, moto_server):
    """No request copies what earlier ones received: each parks the multipart upload and
    the next one goes on from the parked tail (under one part)."""
    chunks = [bytes([n]) * (3 * MIB + n) for n in range(12)]  # 36 MiB
    write(s3_driver, "uploads/c", b"")
    calls = calls_of(s3_driver)
    requests_calls = []
    for chunk in chunks:  # counted per request
        writer = s3_driver.writer("uploads/c", append=True)
        before = len(calls)
        writer.write(chunk)
        writer.close()
        requests_calls.append(calls[before:])
    assert "UploadPartCopy" not in calls and "CompleteMultipartUpload" not in calls
    assert calls.count("CreateMultipartUpload") == 1
    assert s3_driver.stat("uploads/c") == sum(map(len, chunks))
    (upload,) = open_uploads(moto_server)
    parts = moto_server.client().list_parts(
        Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"]
    )["Parts"]
    total, part_size = sum(map(len, chunks)), s3_driver.part_size
    assert [part["Size"] for part in parts] == [part_size] * (total // part_size)
    head = moto_server.client().head_object(Bucket=BUCKET, Key="uploads/c")
    assert head["ContentLength"] == total % part_size  # the tail waits for more
    # every later request reads back at most one tail and sends at most its own bytes
    assert all(request.count("GetObject") <= 1 for request in requests_calls)
    writer = s3_driver.writer("uploads/c", append=True)
    writer.commit()
    assert read(s3_driver, "uploads/c") == b"".join(chunks)
    assert open_uploads(moto_server) == []
    finished = moto_server.client().head_object(Bucket=BUCKET, Key="uploads/c")
    assert s3.parked_upload(head) and s3.parked_upload(finished) is None


def test_parked_uploads_continue_on_another_driver_and_read_whole(s3_driver, moto_server):
    chunks = [b"a" * (6 * MIB), b"b" * (7 * MIB), b"c" * 100]
    write(s3_driver, "uploads/p", b"")
    sizes = append_chunks(s3_driver, "uploads/p", chunks)
    assert sizes == [6 * MIB, 13 * MIB, 13 * MIB + 100]
    assert len(open_uploads(moto_server)) == 1
    with s3_driver.reader("uploads/p", offset=13 * MIB) as stream:  # past the parked tail
        assert stream.read() == b"c" * 100
    assert open_uploads(moto_server) == []  # reading completed it
    assert read(s3_driver, "uploads/p") == b"".join(chunks)
    append_chunks(s3_driver, "uploads/p", [b"d" * MIB])  # a finished object goes on as before
    assert read(s3_driver, "uploads/p") == b"".join(chunks) + b"d" * MIB


def test_a_writer_that_dies_before_parking_changes_nothing(s3_driver, moto_server):
    write(s3_driver, "uploads/d", b"")
    append_chunks(s3_driver, "uploads/d", [b"1" * (9 * MIB)])
    dying = s3_driver.writer("uploads/d", append=True)
    dying.write(b"x" * (20 * MIB))  # sends parts 2 and 3 of the parked upload, never parks
    dying._wait_for_pending()
    assert s3_driver.stat("uploads/d") == 9 * MIB
    append_chunks(s3_driver, "uploads/d", [b"2" * (2 * MIB)])  # overwrites none it needs
    writer = s3_driver.writer("uploads/d", append=True)
    writer.commit()  # leaves the dead writer's part 3 out
    assert read(s3_driver, "uploads/d") == b"1" * (9 * MIB) + b"2" * (2 * MIB)
    assert open_uploads(moto_server) == []


def test_truncate_cancel_delete_and_move_of_a_parked_upload(s3_driver, moto_server):
    write(s3_driver, "uploads/t", b"")
    append_chunks(s3_driver, "uploads/t", [b"1" * (10 * MIB)])
    writer = s3_driver.writer("uploads/t", append=True)
    writer.write(b"2" * (12 * MIB))
    writer.truncate(10 * MIB)  # drops this writer's bytes, keeps the parked upload
    assert len(open_uploads(moto_server)) == 1 and s3_driver.stat("uploads/t") == 10 * MIB
    writer.write(b"3" * MIB)
    writer.cancel()  # an append writer's cancel keeps the old content
    assert len(open_uploads(moto_server)) == 1 and s3_driver.stat("uploads/t") == 10 * MIB
    s3_driver.move("uploads/t", "blobs/t")  # completes, then moves
    assert read(s3_driver, "blobs/t") == b"1" * (10 * MIB)
    assert open_uploads(moto_server) == [] and s3_driver.stat("uploads/t") is None
    write(s3_driver, "uploads/gone", b"")
    append_chunks(s3_driver, "uploads/gone", [b"1" * (10 * MIB)])
    s3_driver.delete("uploads/gone")  # aborts the multipart upload
    assert open_uploads(moto_server) == [] and s3_driver.stat("uploads/gone") is None


def test_a_parked_upload_missing_parts_is_an_error_not_wrong_content(s3_driver, moto_server):
    driver = S3Driver(moto_server.driver_options(), max_attempts=1)
    write(driver, "uploads/lost", b"")
    append_chunks(driver, "uploads/lost", [b"1" * (10 * MIB)])
    abort_every_upload(moto_server)  # a lifecycle rule took it
    with pytest.raises(StorageError, match="S3"):
        read(driver, "uploads/lost")


def test_delete_files_batches_and_aborts_parked_uploads(s3_driver, moto_server):
    """What a collection deletes: many files in one request, the parked ones' uploads
    aborted, missing ones no error."""
    paths = [f"blobs/sha256/{n:02x}/data" for n in range(30)]
    for path in paths:
        write(s3_driver, path, path.encode())
    write(s3_driver, "uploads/parked", b"")
    append_chunks(s3_driver, "uploads/parked", [b"1" * (6 * MIB)])
    assert len(open_uploads(moto_server)) == 1
    calls = calls_of(s3_driver)
    doomed = [*paths, "uploads/parked", "uploads/never-there"]
    assert s3_driver.delete_files(doomed) == {}
    assert calls.count("DeleteObjects") == 1 and "HeadObject" not in calls
    assert all(s3_driver.stat(path) is None for path in doomed)
    assert open_uploads(moto_server) == []
    assert s3_driver.delete_files(["a/../b"]) == {"a/../b": "invalid storage path 'a/../b'"}
