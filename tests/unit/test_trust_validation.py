"""Validation of trust data updates (dtr/trust/validation.py) and who signed a tag
(dtr/trust/signers.py), with TUF metadata built and signed by the test."""

import base64
import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from dtr.trust.keys import ServerKey, load_public_key
from dtr.trust.metadata import canonical_json, parse_metadata
from dtr.trust.signers import REPO_ADMIN, released_signers, verified_targets
from dtr.trust.validation import UpdateInvalid, refreshed, validate_update
from tests.support.tuf_client import Key, TrustClient, sign, when

GUN = "registry.example:8443/team/app"
MANIFEST = b'{"schemaVersion": 2, "marker": "one"}'
OTHER_MANIFEST = b'{"schemaVersion": 2, "marker": "two"}'


def digest_of(manifest):
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


def now():
    return datetime.now(UTC)


@pytest.fixture
def server():
    return {"timestamp": ServerKey.generate(), "snapshot": ServerKey.generate()}


@pytest.fixture
def client(server):
    """A client that lets the server sign snapshots (as docker does)."""
    return TrustClient(GUN, server["timestamp"].public_object, server["snapshot"].public_object)


def stored(accepted):
    """The state after storing accepted metadata."""
    return {m.role: m for m in accepted}


def publish(client, server, state=None, **uploads):
    return validate_update(GUN, state or {}, uploads, server, now())


def refused(reason, client, server, state=None, **uploads):
    with pytest.raises(UpdateInvalid) as raised:
        validate_update(GUN, state or {}, uploads, server, now())
    assert reason in raised.value.message, raised.value.message
    return raised.value.message


def initial(client, server):
    return stored(
        publish(client, server, root=client.root(), targets=client.targets(tags={"v1": MANIFEST}))
    )


# --- accepted updates -------------------------------------------------------------------


def test_first_publish_gets_a_server_signed_snapshot_and_timestamp(client, server):
    accepted = publish(client, server, root=client.root(), targets=client.targets())
    assert [m.role for m in accepted] == ["root", "targets", "snapshot", "timestamp"]
    state = stored(accepted)
    snapshot, timestamp = state["snapshot"], state["timestamp"]
    assert snapshot.version == timestamp.version == 1
    for role in ("root", "targets"):
        entry = snapshot.signed["meta"][role]
        assert (
            base64.b64decode(entry["hashes"]["sha256"]) == hashlib.sha256(state[role].data).digest()
        )
        assert entry["length"] == len(state[role].data)
    assert (
        base64.b64decode(timestamp.signed["meta"]["snapshot"]["hashes"]["sha256"])
        == hashlib.sha256(snapshot.data).digest()
    )
    # each is signed by the server's key of its role, verifiable as a client would
    for role in ("snapshot", "timestamp"):
        key = load_public_key(server[role].public_object)
        (signature,) = state[role].signatures
        assert signature["keyid"] == server[role].key_id
        assert key.verifies(signature, canonical_json(state[role].signed))
    # the bytes stored are what is served: they parse back to the same
    assert parse_metadata("timestamp", timestamp.data).signed == timestamp.signed


def test_later_publish_bumps_the_server_versions(client, server):
    state = initial(client, server)
    accepted = publish(
        client,
        server,
        state,
        targets=client.targets(version=2, tags={"v1": MANIFEST, "v2": OTHER_MANIFEST}),
    )
    assert [(m.role, m.version) for m in accepted] == [
        ("targets", 2),
        ("snapshot", 2),
        ("timestamp", 2),
    ]


def test_client_signed_snapshot_is_accepted(server):
    client = TrustClient(GUN, server["timestamp"].public_object)  # own snapshot key
    root, targets = client.root(), client.targets()
    snapshot = client.snapshot({"root": root, "targets": targets})
    keys = {"timestamp": server["timestamp"]}
    accepted = validate_update(
        GUN, {}, {"root": root, "targets": targets, "snapshot": snapshot}, keys, now()
    )
    assert stored(accepted)["snapshot"].data == snapshot


def test_reupload_of_identical_metadata_is_no_change(client, server):
    state = initial(client, server)
    accepted = publish(client, server, state, root=state["root"].data)
    assert [m.role for m in accepted] == ["snapshot", "timestamp"]


def test_delegation_signed_by_its_key_within_its_paths(client, server):
    alice = Key()
    state = initial(client, server)
    targets = client.targets(version=2, delegations=[("targets/releases", [alice], [""])])
    releases = client.targets(tags={"v2": OTHER_MANIFEST}, signers=[alice])
    accepted = publish(client, server, state, targets=targets, **{"targets/releases": releases})
    assert "targets/releases" in stored(accepted)


def test_root_rotation_signed_by_old_and_new_root_keys(client, server):
    state = initial(client, server)
    new_root_key = Key(certificate_for=GUN)
    rotated = client.root(
        version=2, root_keys=[new_root_key], signers=[client.root_key, new_root_key]
    )
    accepted = publish(client, server, state, root=rotated)
    assert stored(accepted)["root"].version == 2


# --- refused updates --------------------------------------------------------------------


def test_bad_signature_is_refused(client, server):
    state = initial(client, server)
    stranger = Key()
    refused(
        "targets: 0 valid signature(s) by its keys, 1 needed",
        client,
        server,
        state,
        targets=client.targets(version=2, signers=[stranger]),
    )


def test_tampered_content_is_refused(client, server):
    state = initial(client, server)
    document = json.loads(client.targets(version=2, tags={"v1": MANIFEST}))
    document["signed"]["targets"]["v1"] = {
        "hashes": {"sha256": base64.b64encode(hashlib.sha256(b"evil").digest()).decode()},
        "length": 4,
    }
    refused("0 valid signature(s)", client, server, state, targets=json.dumps(document).encode())


def test_rolled_back_version_is_refused(client, server):
    state = initial(client, server)
    state.update(stored(publish(client, server, state, targets=client.targets(version=3))))
    refused(
        "targets: version 2 is not newer than the stored version 3",
        client,
        server,
        state,
        targets=client.targets(version=2),
    )
    refused("version 3 is not newer", client, server, state, targets=client.targets(version=3))
    refused("root: version 1 is not newer", client, server, state, root=client.root(version=1))


def test_wrong_snapshot_hash_is_refused(server):
    client = TrustClient(GUN, server["timestamp"].public_object)
    root, targets = client.root(), client.targets(tags={"v1": MANIFEST})
    other_targets = client.targets(tags={"v1": OTHER_MANIFEST})
    snapshot = client.snapshot({"root": root, "targets": other_targets})
    with pytest.raises(UpdateInvalid) as raised:
        validate_update(
            GUN,
            {},
            {"root": root, "targets": targets, "snapshot": snapshot},
            {"timestamp": server["timestamp"]},
            now(),
        )
    assert "snapshot: its hash of targets does not match the uploaded targets" in str(raised.value)


def test_snapshot_missing_a_role_is_refused(server):
    client = TrustClient(GUN, server["timestamp"].public_object)
    root, targets = client.root(), client.targets()
    with pytest.raises(UpdateInvalid, match="its hash of targets does not match"):
        validate_update(
            GUN,
            {},
            {"root": root, "targets": targets, "snapshot": client.snapshot({"root": root})},
            {"timestamp": server["timestamp"]},
            now(),
        )


def test_expired_metadata_is_refused(client, server):
    refused(
        "targets: expired on",
        client,
        server,
        root=client.root(),
        targets=client.targets(expires_days=-1),
    )
    refused("root: expired on", client, server, root=client.root(expires_days=-1))


def test_root_certificate_for_another_gun_is_refused(client, server):
    other = Key(certificate_for="registry.example:8443/team/other")
    message = refused(
        "the root certificate is for 'registry.example:8443/team/other'",
        client,
        server,
        root=client.root(root_keys=[other]),
        targets=client.targets(),
    )
    assert GUN in message


def test_root_key_without_certificate_is_refused(client, server):
    refused(
        "root keys must be X.509 certificates",
        client,
        server,
        root=client.root(root_keys=[Key()]),
        targets=client.targets(),
    )


def test_root_rotation_without_the_old_root_signature_is_refused(client, server):
    state = initial(client, server)
    new_root_key = Key(certificate_for=GUN)
    rotated = client.root(version=2, root_keys=[new_root_key], signers=[new_root_key])
    refused("by the current root's keys", client, server, state, root=rotated)


def test_threshold_needs_distinct_keys(client, server):
    second = Key(certificate_for=GUN)
    root = client.root(root_keys=[client.root_key, second], signers=[client.root_key], threshold=2)
    refused("root: 1 valid signature(s) by its keys, 2 needed", client, server, root=root)
    doubled = client.root(
        root_keys=[client.root_key, second], signers=[client.root_key, client.root_key], threshold=2
    )
    refused("root: 1 valid signature(s)", client, server, root=doubled)


def test_root_must_name_the_servers_timestamp_key(server):
    foreign = ServerKey.generate()
    client = TrustClient(GUN, foreign.public_object, server["snapshot"].public_object)
    refused(
        "this server's timestamp key", client, server, root=client.root(), targets=client.targets()
    )


def test_no_snapshot_without_the_servers_snapshot_key(server):
    client = TrustClient(GUN, server["timestamp"].public_object)  # snapshot key of its own
    refused(
        "the server does not hold this repository's snapshot key",
        client,
        server,
        root=client.root(),
        targets=client.targets(),
    )


def test_first_update_needs_root_and_targets(client, server):
    refused("needs root", client, server, targets=client.targets())
    refused("targets: the first update", client, server, root=client.root())


def test_timestamp_uploads_are_refused(client, server):
    state = initial(client, server)
    refused(
        "the server signs the timestamp", client, server, state, timestamp=state["timestamp"].data
    )


def test_undelegated_role_and_paths_outside_the_delegation_are_refused(client, server):
    alice = Key()
    state = initial(client, server)
    refused(
        "targets/releases: not delegated by targets",
        client,
        server,
        state,
        **{"targets/releases": client.targets(signers=[alice])},
    )
    targets = client.targets(version=2, delegations=[("targets/releases", [alice], ["prod-"])])
    refused(
        "target 'v2' is outside the paths delegated to it",
        client,
        server,
        state,
        targets=targets,
        **{"targets/releases": client.targets(tags={"v2": MANIFEST}, signers=[alice])},
    )
    refused(
        "may only delegate to its own child roles",
        client,
        server,
        state,
        targets=client.targets(version=2, delegations=[("targets/a/b", [alice], [""])]),
    )


def test_garbage_in_fields_is_refused(server):
    client = TrustClient(GUN, server["timestamp"].public_object)
    root, targets = client.root(), client.targets()
    snapshot = json.loads(client.snapshot({"root": root, "targets": targets}))
    snapshot["signed"]["meta"]["targets"]["hashes"]["sha256"] = 12
    resigned = sign(snapshot["signed"], [client.snapshot_key])
    uploads = {"root": root, "targets": targets, "snapshot": resigned}
    with pytest.raises(UpdateInvalid, match="its hash of targets does not match"):
        validate_update(GUN, {}, uploads, {"timestamp": server["timestamp"]}, now())
    listed = json.loads(client.targets(delegations=[("targets/releases", [Key()], [""])]))
    listed["signed"]["delegations"]["keys"] = list(listed["signed"]["delegations"]["keys"])
    with pytest.raises(UpdateInvalid, match="'keys' must be an object"):
        validate_update(
            GUN,
            {},
            {"root": root, "targets": sign(listed["signed"], [client.targets_key])},
            {"timestamp": server["timestamp"], "snapshot": server["snapshot"]},
            now(),
        )


def _paths(value, path=()):
    """Every path to a value inside a JSON document."""
    yield path
    if isinstance(value, dict | list):
        for key, inner in value.items() if isinstance(value, dict) else enumerate(value):
            yield from _paths(inner, (*path, key))


def test_any_field_of_any_role_replaced_by_anything_is_a_clear_refusal(client, server):
    """Never a crash (a 500): each value of each field replaced by values of other types."""
    alice = Key()
    documents = {
        "root": json.loads(client.root()),
        "targets": json.loads(
            client.targets(tags={"v1": MANIFEST}, delegations=[("targets/releases", [alice], [""])])
        ),
        "targets/releases": json.loads(client.targets(tags={"v2": MANIFEST}, signers=[alice])),
    }
    replacements = [None, -1, 1.5, "", "AA==", [], {}, [1], {"a": 1}, True]
    tried = 0
    for role, document in documents.items():
        for path in list(_paths(document))[1:]:
            for replacement in replacements:
                changed = copy.deepcopy(documents)
                inner = changed[role]
                for key in path[:-1]:
                    inner = inner[key]
                inner[path[-1]] = replacement
                uploads = {r: json.dumps(d).encode() for r, d in changed.items()}
                try:
                    validate_update(GUN, {}, uploads, server, now())
                except UpdateInvalid:
                    tried += 1
    assert tried > 500


def test_malformed_metadata_is_refused(client, server):
    refused("root: not JSON", client, server, root=b"{nope")
    refused("_type must be 'Root'", client, server, root=client.targets())
    unsigned = json.loads(client.root())
    unsigned["signatures"] = "none"
    refused("expected an object with", client, server, root=json.dumps(unsigned).encode())
    refused("'bogus' is not a TUF role", client, server, bogus=b"{}")
    floating = json.loads(client.targets())
    floating["signed"]["custom"] = 1.5
    refused(
        "targets: not canonical JSON",
        client,
        server,
        root=client.root(),
        targets=json.dumps(floating).encode(),
    )


# --- the server re-signs what expires ---------------------------------------------------


def test_expired_timestamp_is_resigned(client, server):
    state = initial(client, server)
    assert refreshed(state, server, now()) == []
    later = now() + timedelta(days=15)
    (timestamp,) = refreshed(state, server, later)
    assert timestamp.role == "timestamp" and timestamp.version == 2
    assert not timestamp.expired(later)
    assert timestamp.signed["meta"] == state["timestamp"].signed["meta"]


# --- who signed a tag -------------------------------------------------------------------


def test_signers_of_a_tag(client, server):
    state = initial(client, server)
    verified = verified_targets(state, now())
    assert released_signers(verified, "v1", digest_of(MANIFEST)) == [REPO_ADMIN]
    assert released_signers(verified, "v1", digest_of(OTHER_MANIFEST)) == []
    assert released_signers(verified, "v2", digest_of(MANIFEST)) == []

    alice = Key()
    targets = client.targets(
        version=2,
        tags={"v1": MANIFEST},
        delegations=[("targets/releases", [alice], [""]), ("targets/alice", [alice], [""])],
    )
    signed_by_alice = client.targets(tags={"v2": OTHER_MANIFEST}, signers=[alice])
    state.update(
        stored(
            publish(
                client,
                server,
                state,
                targets=targets,
                **{"targets/releases": signed_by_alice, "targets/alice": signed_by_alice},
            )
        )
    )
    verified = verified_targets(state, now())
    assert released_signers(verified, "v2", digest_of(OTHER_MANIFEST)) == ["alice"]
    assert released_signers(verified, "v1", digest_of(MANIFEST)) == [REPO_ADMIN]


def test_signers_need_valid_unexpired_metadata(client, server):
    state = initial(client, server)
    assert verified_targets(state, now() + timedelta(days=4000)) == {}  # all expired
    forged = parse_metadata("targets", sign(json.loads(state["targets"].data)["signed"], [Key()]))
    state["targets"] = forged
    assert released_signers(verified_targets(state, now()), "v1", digest_of(MANIFEST)) == []


def test_time_format_parses_back():
    assert (
        parse_metadata(
            "targets", TrustClient(GUN, ServerKey.generate().public_object).targets()
        ).expires
        > now()
    )
    assert when(1) > when(0)
