import pytest

from dtr.errors import DigestInvalid, NameInvalid
from dtr.names import check_digest, check_tag, split_repository_name


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
