import pytest

from dtr.errors import DigestInvalid, NameInvalid
from dtr.names import check_digest, check_tag, row_id, split_repository_name


@pytest.mark.parametrize("name", ["a/b", "my-org/my.repo", "a1/b__c", "x/y-z--w"])
def test_valid_names(name):
    assert "/".join(split_repository_name(name)) == name


@pytest.mark.parametrize(
    "name",
    ["../x", "a/../b", "A/b", "a/B", "a", "a/b/c", "a//b", "a/-b", "a/b-", "", "a/" + "b" * 254],
)
def test_invalid_names(name):
    with pytest.raises(NameInvalid):
        split_repository_name(name)


def test_tags_and_digests():
    assert check_tag("v1.0_rc-1") == "v1.0_rc-1"
    for bad in ("-x", ".x", "x" * 129, "a/b", ""):
        with pytest.raises(NameInvalid):
            check_tag(bad)
    check_digest("sha256:" + "a" * 64)
    check_digest("sha512:" + "a" * 128)
    for bad in ("sha256:" + "A" * 64, "sha256:abc", "md5:" + "a" * 32, None):
        with pytest.raises(DigestInvalid):
            check_digest(bad)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("1", 1),
        ("007", 7),
        ("999999999", 999999999),
        ("1234567890", None),
        ("", None),
        ("-1", None),
        ("1.0", None),
        (" 1", None),
        ("١", None),
        ("１２", None),
        (None, None),
        (12, None),
    ],
)
def test_row_ids_are_at_most_nine_ascii_digits(value, expected):
    assert row_id(value) == expected
