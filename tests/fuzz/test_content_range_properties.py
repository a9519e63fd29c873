"""Properties of the Content-Range header of chunked uploads (PATCH /v2/<name>/blobs/uploads/
<id>, dtr/registry/uploads.py): any header value a WSGI server can hand over (latin-1 text
without line breaks) gives (start, end) exactly when it is `START-END` (optionally
`bytes START-END`) with END >= START, and otherwise a domain error (400 BLOB_UPLOAD_INVALID),
never another exception (a 500)."""

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dtr import create_app
from dtr.errors import DomainError
from dtr.registry.uploads import _content_range

RANGE = re.compile(r"(?:bytes )?([0-9]+)-([0-9]+)", re.ASCII)
LARGEST = 2**63 - 1  # a byte offset no storage holds; beyond it a refusal is fine too

latin1 = st.characters(max_codepoint=255, exclude_characters="\r\n")
numbers = (
    st.integers(min_value=0, max_value=2**70).map(str)
    | st.integers(min_value=0, max_value=99).map(lambda n: "0" * 3 + str(n))
    | st.sampled_from(["-1", "+1", "1.0", "1e3", "0x10", " 1", "\u00b9", "\u00bd", "", "9" * 5000])
)
separators = st.sampled_from(["-", "--", " - ", "\u00ad", ",", ""])
prefixes = st.sampled_from(["", "bytes ", "bytes=", "Bytes ", "bytes  ", " ", "\t"])
headers = st.builds(
    lambda prefix, start, separator, end, suffix: prefix + start + separator + end + suffix,
    prefixes,
    numbers,
    separators,
    numbers,
    st.sampled_from(["", " ", "/100", "/*", "\t", "\x00"]),
) | st.text(latin1, max_size=30)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return create_app(tmp_path_factory.mktemp("content-range") / "instance")


def parse(app, value):
    with app.test_request_context(
        "/v2/a/b/blobs/uploads/x", method="PATCH", headers={"Content-Range": value}
    ):
        try:
            return _content_range()
        except DomainError as error:
            return error


@given(headers)
@example("0-" + "9" * 5000)
@example("9" * 5000 + "-" + "9" * 5000)
@example("bytes 0-1023")
@example("1023-0")
@example(" 0-1 ")
def test_content_range_parses_or_is_refused(app, value):
    result = parse(app, value)
    match = RANGE.fullmatch(value.strip())
    if not value:
        assert result is None
    elif match is None:
        assert isinstance(result, DomainError), (value, result)
    elif max(len(match[1].lstrip("0")), len(match[2].lstrip("0"))) > len(str(LARGEST)):
        huge = isinstance(result, tuple) and all(isinstance(n, int) for n in result)
        assert huge or isinstance(result, DomainError), (value[:100], result)
    elif int(match[2]) >= int(match[1]):
        assert result == (int(match[1]), int(match[2]))
    else:
        assert isinstance(result, DomainError), (value, result)


@given(st.integers(min_value=0, max_value=LARGEST), st.integers(min_value=0, max_value=2**40))
def test_every_range_a_client_sends_round_trips(app, start, length):
    end = start + length
    assert parse(app, f"{start}-{end}") == (start, end)
    assert parse(app, f"bytes {start}-{end}") == (start, end)
    if length:
        assert isinstance(parse(app, f"{end}-{start}"), DomainError)
