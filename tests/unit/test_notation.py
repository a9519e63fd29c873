"""Notation JWS envelopes, made by the tests with their own CA, verified without a server:
the chain to a trusted certificate, the digest signed, tampering, validity, algorithms."""

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from dtr.services.notation import (
    COSE_MEDIA_TYPE,
    JWS_MEDIA_TYPE,
    envelope_media_type,
    verify_notation_envelope,
)
from tests.support.notation import DAY, Authority, certificate, envelope, now
from tests.support.signing import NOTATION_TYPE, artifact

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
UNTRUSTED = "its certificate chain leads to no trusted certificate"


@pytest.fixture(scope="module")
def ca():
    return Authority()


def verify(data, trusted, digest=DIGEST, media_type=JWS_MEDIA_TYPE):
    return verify_notation_envelope(data, media_type, digest, trusted)


@pytest.mark.parametrize("rsa_leaf", [False, True], ids=["ES256", "PS256"])
def test_a_chain_to_a_trusted_root_verifies(rsa_leaf):
    authority = Authority(signer="release-bot", rsa_leaf=rsa_leaf)
    data = authority.sign(DIGEST)
    assert json.loads(base64.urlsafe_b64decode(json.loads(data)["protected"] + "==="))["alg"] == (
        "PS256" if rsa_leaf else "ES256"
    )
    assert verify(data, [authority.cert]) == (True, "release-bot", None)
    # trusting the leaf itself is enough too; other trusted certificates do not matter
    assert verify(data, [Authority().cert, authority.leaf]) == (True, "release-bot", None)


def test_a_chain_without_its_root_verifies_with_the_root_trusted(ca):
    intermediate_key = ec.generate_private_key(ec.SECP384R1())
    intermediate = certificate(intermediate_key, "issuing", issuer=(ca.key, ca.cert), ca=True)
    leaf_key = ec.generate_private_key(ec.SECP384R1())
    leaf = certificate(leaf_key, "ci", issuer=(intermediate_key, intermediate))
    data = envelope(leaf_key, [leaf, intermediate], DIGEST, alg="ES384")
    assert verify(data, [ca.cert]) == (True, "ci", None)
    assert verify(data, [intermediate]) == (True, "ci", None)
    assert verify(data, [Authority().cert]) == (False, "ci", UNTRUSTED)


def test_an_untrusted_root_is_unverified(ca):
    stranger = Authority(signer="mallory")
    assert verify(stranger.sign(DIGEST), [ca.cert]) == (False, "mallory", UNTRUSTED)
    assert verify(stranger.sign(DIGEST), []) == (False, "mallory", UNTRUSTED)


def test_a_signature_of_another_artifact_is_unverified(ca):
    verified, _, problem = verify(ca.sign(OTHER), [ca.cert])
    assert not verified and problem == f"it signs {OTHER}, not its subject {DIGEST}"
    assert verify(ca.sign(DIGEST), [ca.cert], digest=None)[2].startswith("it signs")


def test_a_tampered_envelope_is_unverified(ca):
    def other_payload(document):
        payload = {"targetArtifact": {"mediaType": "x", "digest": DIGEST, "size": 1}}
        document["payload"] = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
        document["payload"] = document["payload"].rstrip("=")

    def other_signature(document):
        raw = bytearray(base64.urlsafe_b64decode(document["signature"] + "=="))
        raw[5] ^= 1
        document["signature"] = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")

    for tamper in (other_payload, other_signature):
        assert verify(ca.sign(DIGEST, tamper=tamper), [ca.cert]) == (
            False,
            None,
            "the signature does not verify with its certificate",
        )


def test_a_leaf_expired_at_the_signing_time_is_unverified():
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = certificate(root_key, "root", ca=True, not_before=now() - 90 * DAY, not_after=now())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    expired = certificate(
        leaf_key,
        "old",
        issuer=(root_key, root),
        not_before=now() - 60 * DAY,
        not_after=now() - 30 * DAY,
    )
    verified, signer, problem = verify(envelope(leaf_key, [expired, root], DIGEST), [root])
    assert (verified, signer) == (False, None)
    assert problem.startswith("certificate CN=old was not valid at the signing time")
    # signed while it was valid: it counts (the signing time is the signer's claim)
    signed_then = envelope(leaf_key, [expired, root], DIGEST, signing_time=now() - 45 * DAY)
    assert verify(signed_then, [root]) == (True, "old", None)
    # the whole chain must be valid then
    too_early = envelope(leaf_key, [expired, root], DIGEST, signing_time=now() - 95 * DAY)
    assert verify(too_early, [root])[2].startswith("certificate CN=old was not valid")


def test_a_chain_through_a_non_ca_certificate_is_unverified(ca):
    # a leaf issuing a "leaf" of its own must not be trusted through the root
    forged_key = ec.generate_private_key(ec.SECP256R1())
    forged = certificate(forged_key, "someone-else", issuer=(ca.leaf_key, ca.leaf))
    data = envelope(forged_key, [forged, ca.leaf, ca.cert], DIGEST)
    verified, _, problem = verify(data, [ca.cert])
    assert not verified
    assert problem == "certificate CN=someone-else is not issued by the next of the chain"
    # nor does a root trust the leaf that claims it without its signature
    assert verify(envelope(forged_key, [forged], DIGEST), [ca.leaf, ca.cert])[2] == UNTRUSTED


def test_the_algorithm_must_match_the_leaf_key():
    authority = Authority(rsa_leaf=True)

    def claim_es256(document):
        header = json.loads(base64.urlsafe_b64decode(document["protected"] + "=="))
        document["protected"] = _b64url(header | {"alg": "ES256"})

    assert verify(authority.sign(DIGEST, tamper=claim_es256), [authority.cert]) == (
        False,
        None,
        "the JWS algorithm does not match the certificate's key",
    )


def _b64url(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "header_change, problem",
    [
        ({"alg": "none"}, "unsupported JWS algorithm 'none'"),
        ({"alg": "HS256"}, "unsupported JWS algorithm 'HS256'"),
        ({"cty": "text/plain"}, "the JWS content type is not"),
        (
            {"io.cncf.notary.signingScheme": "notary.x509.signingAuthority"},
            "signing scheme 'notary.x509.signingAuthority' is not verified by DTR",
        ),
        ({"crit": []}, "the JWS crit header must list io.cncf.notary.signingScheme"),
        (
            {"crit": ["io.cncf.notary.signingScheme", "io.cncf.notary.verificationPlugin"]},
            "unsupported critical header 'io.cncf.notary.verificationPlugin'",
        ),
        ({"io.cncf.notary.signingTime": "yesterday"}, "io.cncf.notary.signingTime is not"),
        (
            {
                "io.cncf.notary.expiry": "2020-01-01T00:00:00Z",
                "crit": ["io.cncf.notary.signingScheme", "io.cncf.notary.expiry"],
            },
            "the signature expired at 2020-01-01",
        ),
    ],
)
def test_headers_notation_does_not_write_are_refused(ca, header_change, problem):
    def change(document):
        header = json.loads(base64.urlsafe_b64decode(document["protected"] + "=="))
        document["protected"] = _b64url(header | header_change)

    verified, _, found = verify(ca.sign(DIGEST, tamper=change), [ca.cert])
    assert not verified and found.startswith(problem), found


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"\xa1\x00", "the JWS envelope is not JSON"),
        (b'{"payload":"e30","signatures":[]}', "the JWS envelope lacks payload"),
        (b'{"payload":"!!","protected":"e30","signature":""}', "the JWS payload is not JSON"),
    ],
)
def test_broken_envelopes_say_what_is_wrong(ca, data, problem):
    verified, signer, found = verify(data, [ca.cert])
    assert (verified, signer) == (False, None) and found.startswith(problem), found


def test_x5c_must_hold_a_chain(ca):
    def drop(document):
        del document["header"]["x5c"]

    def garbage(document):
        document["header"]["x5c"] = ["not base64!"]

    assert verify(ca.sign(DIGEST, tamper=drop), [ca.cert])[2] == (
        "the JWS header has no x5c certificate chain"
    )
    assert verify(ca.sign(DIGEST, tamper=garbage), [ca.cert])[2].startswith("x5c holds")


def test_cose_envelopes_are_listed_unverified(ca):
    assert verify(b"\xd2\x84", [ca.cert], media_type=COSE_MEDIA_TYPE) == (
        False,
        None,
        "notation COSE envelopes are listed, not verified, by DTR",
    )
    manifest, _ = artifact(DIGEST, 10, NOTATION_TYPE, b"\xd2\x84", COSE_MEDIA_TYPE)
    assert envelope_media_type(json.loads(manifest)) == COSE_MEDIA_TYPE
    assert verify(b"{}", [], media_type="text/plain")[2].startswith("unknown notation envelope")
