"""Properties of repository names, account names, tags and digests (dtr/names.py) against
the OCI distribution spec's grammar, written here again as the oracle: any text is accepted
exactly when the grammar says so, and is otherwise refused with a domain error (never
another exception, never a silent change)."""

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dtr.errors import DigestInvalid, DomainError, NameInvalid
from dtr.names import (
    check_account_name,
    check_digest,
    check_tag,
    is_digest,
    split_repository_name,
)
from tests.fuzz.strategies import valid_digests

# distribution-spec: <name> path components, <reference> tags; DTR's names are NAMESPACE/NAME.
SPEC_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
SPEC_NAME = re.compile(rf"{SPEC_COMPONENT}(?:/{SPEC_COMPONENT})*", re.ASCII)
SPEC_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}", re.ASCII)
ACCOUNT = re.compile(r"[a-z0-9][a-z0-9._-]*", re.ASCII)
DIGEST = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}", re.ASCII)

# Text near the grammar (its own characters, their look-alikes, separators, line ends) and
# any other text.
NEAR = "az09AZ._-/:\n\r\t \x00\u0130\u0131\u212a\uff41\u0660\u00e9"
near_text = st.text(st.sampled_from(NEAR), max_size=40) | st.text(max_size=40)
components = st.from_regex(SPEC_COMPONENT, fullmatch=True)
names = st.builds(lambda a, b: f"{a}/{b}", components, components)


def outcome(check, value):
    """check(value), or the domain error it raised; any other exception fails the test."""
    try:
        return check(value)
    except DomainError as error:
        return error


def accepted_exactly_when(valid, check, value, refusal):
    """check(value) returns the value when `valid`, else raises `refusal`."""
    result = outcome(check, value)
    if valid:
        assert result == value
    else:
        assert isinstance(result, refusal), (value, result)


@given(near_text | names | names.map(lambda n: n + "/x") | names.map(lambda n: n + "\n"))
@example("a" * 127 + "/" + "b" * 127)
@example("a" * 128 + "/" + "b" * 127)
@example("a/b\n")
@example("a__b/c---d")
@example("a___b/c")
def test_repository_names_follow_the_grammar(name):
    result = outcome(split_repository_name, name)
    valid = SPEC_NAME.fullmatch(name) and name.count("/") == 1 and len(name) <= 255
    if valid:
        assert result == tuple(name.split("/"))
    else:
        assert isinstance(result, NameInvalid), (name, result)


@given(near_text | st.from_regex(ACCOUNT, fullmatch=True))
@example("a" * 253)
@example("a" * 254)
@example("")
@example("a\n")
def test_account_names_follow_the_grammar(name):
    valid = ACCOUNT.fullmatch(name) and len(name) <= 253
    accepted_exactly_when(valid, check_account_name, name, NameInvalid)


@given(near_text | st.from_regex(SPEC_TAG, fullmatch=True))
@example("a" * 128)
@example("a" * 129)
@example(".hidden")
@example("-x")
@example("latest\n")
@example("K\u212a")  # the Kelvin sign: IGNORECASE matching would take it for k
def test_tags_follow_the_grammar(tag):
    accepted_exactly_when(SPEC_TAG.fullmatch(tag), check_tag, tag, NameInvalid)


@given(near_text | valid_digests | valid_digests.map(lambda d: d.upper()))
@example("sha256:" + "a" * 64 + "\n")
@example("sha256:" + "A" * 64)
@example("sha384:" + "a" * 96)
@example("sha256:" + "\u0660" * 64)
def test_digests_follow_the_grammar(digest):
    accepted_exactly_when(DIGEST.fullmatch(digest), check_digest, digest, DigestInvalid)


@given(valid_digests)
def test_digests_are_references_by_digest(digest):
    assert is_digest(digest)


@given(st.from_regex(SPEC_TAG, fullmatch=True))
def test_tags_are_not_references_by_digest(tag):
    assert not is_digest(tag)


@pytest.mark.parametrize("digest", [None, ""])
def test_no_digest_is_refused(digest):
    assert isinstance(outcome(check_digest, digest), DigestInvalid)
