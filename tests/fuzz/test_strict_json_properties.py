"""Properties of the strict JSON parser (dtr/strict_json.py), against its interface:

    strict_json.loads(data: bytes | str, max_bytes: int | None = None, max_depth: int = 64)

returns the decoded value or raises strict_json.JsonRejected (a ValueError) saying why. It
refuses more than max_bytes, nesting deeper than max_depth, invalid UTF-8, lone surrogates in
any string or key (raw or written as \\ud800 escapes), NaN/Infinity/-Infinity and duplicate
object keys; it accepts everything else the standard library's json accepts (for bytes: of
their UTF-8 text) and returns the same value.

The oracle (`expected`) is the standard library with those refusals added, written here
independently of the module.
"""

import json

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from dtr import strict_json
from tests.fuzz.strategies import json_values, nested

DEPTH = 64  # the default max_depth of the interface
depths = st.just(64) | st.integers(min_value=1, max_value=80)

# JSON texts as a hostile client writes them: lone and paired surrogate escapes, constants
# that are not JSON, repeated keys, odd numbers, wrong literals, odd whitespace.
STRING_PARTS = [
    "a",
    "é",
    "\\ud800",
    "\\uDFFF",
    "\\udc00",
    "\\ud83d\\ude00",
    "\\udbff\\udfff",
    "\\ud800\\u0041",
    "\\ude00\\ud83d",
    "\\u0000",
    '\\"',
    "\\n",
    "\U0001f600",
]
NUMBERS = ["0", "-0", "1", "1.5", "1e999", "-1e999", "1E+2", "2e-400", "1" * 30, "9" * 4400]
CONSTANTS = ["NaN", "Infinity", "-Infinity"]
LITERALS = ["true", "false", "null"]
NOT_JSON = ["-NaN", "01", "1.", ".5", "+1", "0x1", "True", "nul", "'a'", '"\\x41"', '"\t"']
strings = st.lists(st.sampled_from(STRING_PARTS), max_size=3).map(lambda p: '"' + "".join(p) + '"')
keys = st.sampled_from(['"k"', '"k"', '"\\u006b"', '"K"']) | strings
scalars = st.one_of(
    strings,
    strings,
    st.sampled_from(NUMBERS),
    st.sampled_from(LITERALS),
    st.sampled_from(CONSTANTS),
    st.sampled_from(NOT_JSON),
)
spaces = st.sampled_from(["", "", " ", "\n", "\t", "\r\n"])
odd_spaces = st.sampled_from(["\u00a0", "\ufeff", "\x00", "\x0b"])


def _containers(children):
    arrays = st.lists(children, max_size=4).map(lambda items: "[" + ",".join(items) + "]")
    members = st.lists(st.tuples(keys, spaces, children), max_size=4)
    objects = members.map(lambda m: "{" + ",".join(f"{k}:{s}{v}" for k, s, v in m) + "}")
    return arrays | objects


documents = st.recursive(scalars, _containers, max_leaves=10)
hostile_texts = st.one_of(
    st.builds(lambda a, text, b: a + text + b, spaces, documents, spaces),
    documents,
    st.builds(lambda a, text, b: a + text + b, odd_spaces | spaces, documents, odd_spaces),
)
dumped_texts = st.builds(
    lambda value, ascii_, indent: json.dumps(value, ensure_ascii=ascii_, indent=indent),
    json_values(),
    st.booleans(),
    st.none() | st.integers(min_value=0, max_value=2),
)
texts = hostile_texts | dumped_texts | st.text(max_size=30)


class Refused(Exception):
    pass


def _depth(value):
    """Containers around the innermost value: 0 for a scalar, 1 for [] or {}."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth + 1)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
            if isinstance(item, dict):
                stack.extend((key, depth + 1) for key in item)
    return deepest


def _is_text(value):
    """No lone surrogate in any string or key."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def expected(data, max_depth, max_bytes=None):
    """What the interface says: ("accepted", value) or ("refused", why)."""

    def constant(name):
        raise Refused(name)

    def pairs(items):
        names = [name for name, _ in items]
        if len(names) != len(set(names)):
            raise Refused("duplicate key")
        return dict(items)

    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if max_bytes is not None and size > max_bytes:
        return "refused", "too large"
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            return "refused", "invalid UTF-8"
    try:
        value = json.loads(data, parse_constant=constant, object_pairs_hook=pairs)
    except Refused as refusal:
        return "refused", str(refusal)
    except RecursionError:
        return "refused", "too deep for the standard library"
    except ValueError:
        return "refused", "not JSON"
    if _depth(value) > max_depth:
        return "refused", "too deep"
    if not _is_text(value):
        return "refused", "lone surrogate"
    return "accepted", value


def actual(data, **limits):
    """("accepted", value) or ("refused", message); any other exception fails the test."""
    try:
        return "accepted", strict_json.loads(data, **limits)
    except strict_json.JsonRejected as error:
        assert isinstance(error, ValueError)
        assert str(error), "a refusal says why"
        return "refused", str(error)


def same(a, b):
    """Equal, and of the same types all the way down (1 is not 1.0, nor True)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b or (a != a and b != b)


def check(data, **limits):
    got, want = (
        actual(data, **limits),
        expected(data, limits.get("max_depth", DEPTH), limits.get("max_bytes")),
    )
    assert got[0] == want[0], f"{want[0]} expected ({want[1]!r}), got {got!r} for {data[:200]!r}"
    if got[0] == "accepted":
        assert same(got[1], want[1]), (got[1], want[1])


@given(texts, depths)
@example('{"a": 1, "a": 2}', 64)
@example('{"a": {"b": 1, "\\u0062": 2}}', 64)
@example('["\\ud800"]', 64)
@example('{"\\udfff": 1}', 64)
@example('["\\ud83d\\ude00"]', 64)
@example("[NaN]", 64)
@example('{"a": -Infinity}', 64)
@example("\ufeff[]", 64)
@example("1" * 5000, 64)
def test_text_is_read_as_the_standard_library_reads_it_less_the_refusals(text, max_depth):
    check(text, max_depth=max_depth)


@given(texts, depths)
def test_utf8_bytes_are_read_as_their_text(text, max_depth):
    check(text.encode("utf-8", "surrogatepass"), max_depth=max_depth)


@given(st.binary(max_size=60))
@example(b'"\xed\xa0\x80"')  # a surrogate encoded in UTF-8: not UTF-8
@example(b'"\xc0\xaf"')  # an overlong encoding
@example(b"\xef\xbb\xbf[]")
@example(b"\xff\xfe[\x00]\x00")
def test_any_bytes_are_a_value_or_a_refusal(data):
    check(data)


@given(json_values())
def test_every_json_document_is_read_back(value):
    assume(_depth(value) <= DEPTH)
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False, indent=1)):
        for data in (text, text.encode("utf-8")):
            result = strict_json.loads(data)
            assert same(result, value) or same(result, json.loads(text)), (data, result)


@given(st.integers(min_value=1, max_value=200), st.integers(min_value=1, max_value=200))
@example(100_000, 64)
@example(64, 64)
@example(65, 64)
def test_nesting_is_refused_exactly_beyond_max_depth(depth, max_depth):
    for kinds in ("[", "{", "[{"):
        for data in (nested(depth, kinds=kinds), nested(depth, kinds=kinds).encode()):
            outcome, detail = actual(data, max_depth=max_depth)
            assert outcome == ("accepted" if depth <= max_depth else "refused"), (
                depth,
                max_depth,
                kinds,
                detail,
            )


@given(json_values(max_leaves=8), st.integers(min_value=0, max_value=400))
def test_bytes_beyond_max_bytes_are_refused(value, max_bytes):
    data = json.dumps(value, ensure_ascii=False).encode("utf-8")
    check(data, max_bytes=max_bytes)


@given(json_values(max_leaves=8), st.integers(min_value=0, max_value=400))
@example(["é" * 10], 15)
def test_text_beyond_max_bytes_of_utf8_is_refused(value, max_bytes):
    """max_bytes counts bytes: a text is as long as its UTF-8 encoding."""
    check(json.dumps(value, ensure_ascii=False), max_bytes=max_bytes)


@given(json_values(max_leaves=8), st.sampled_from(["\ud800", "\udfff", "\udc00x", "a\udbff"]))
def test_raw_lone_surrogates_in_text_are_refused(value, lone):
    for document in ([value, lone], {lone: value}, {"k": [lone]}):
        text = json.dumps(document, ensure_ascii=False)
        assert actual(text)[0] == "refused", text[:200]


@given(json_values(max_leaves=8), st.sampled_from(["NaN", "Infinity", "-Infinity"]))
def test_non_finite_numbers_are_refused_anywhere(value, constant):
    for template in ("[{v}, {c}]", '{{"a": {v}, "b": {{"c": [{c}]}}}}', "{c}"):
        text = template.format(v=json.dumps(value), c=constant)
        assert actual(text)[0] == "refused", text[:200]


@given(json_values(max_leaves=8), st.integers(min_value=0, max_value=6))
def test_duplicate_keys_are_refused_at_any_depth(value, depth):
    inner = '{"k": ' + json.dumps(value) + ', "k": null}'
    text = nested(depth, leaf=inner, kinds="[{")
    assert actual(text, max_depth=depth + 2)[0] == "refused", text[:200]


def test_rejections_are_value_errors():
    assert issubclass(strict_json.JsonRejected, ValueError)
    with pytest.raises(ValueError):
        strict_json.loads(b"[NaN]")
