"""The inter-broker messages (LeaderAndIsr, StopReplica, UpdateMetadata,
ControlledShutdown): our declarations against Kafka 3.9's own spec files, field by
field and byte for byte, and round trips of every version."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from protocol import codec, interbroker, messages, schema
from protocol.headers import decode_request_header, encode_request_header
from protocol.schema import Field, Struct

KAFKA_39_SPECS = Path(__file__).resolve().parents[3] / "shared" / "kafka-protocol" / "messages"
NAMES = [
    f"{api}{part}"
    for api in (
        "LeaderAndIsr",
        "StopReplica",
        "UpdateMetadata",
        "ControlledShutdown",
        "AlterPartition",
    )
    for part in ("Request", "Response")
]
API_KEYS = {"LeaderAndIsr": 4, "StopReplica": 5, "UpdateMetadata": 6, "ControlledShutdown": 7}
API_KEYS["AlterPartition"] = 56
# The versions Kafka 2.8-3.9 brokers and controllers send.
VERSIONS = {"LeaderAndIsr": (0, 7), "StopReplica": (0, 4), "UpdateMetadata": (0, 8)}
VERSIONS["ControlledShutdown"] = (0, 3)
VERSIONS["AlterPartition"] = (0, 3)

needs_reference = pytest.mark.skipif(
    not KAFKA_39_SPECS.is_dir(), reason="Kafka 3.9 reference specs not present"
)


def _reference(name: str) -> schema.MessageSpec:
    path = KAFKA_39_SPECS / f"{name}.json"
    return schema.parse_spec(path.read_text(), source=str(path))


def _ours(name: str) -> schema.MessageSpec:
    return interbroker.parsed_specs()[name]


def _compiled(name: str) -> codec.CompiledMessage:
    api = name.removesuffix("Request").removesuffix("Response")
    table = messages._RESPONSES if name.endswith("Response") else messages._REQUESTS
    return table[API_KEYS[api]]


# ---------------------------------------------------------------------------
# Field by field.

_FIELD_ATTRS = ("name", "attr", "type", "versions", "nullable", "tag", "tagged", "flexible")
_FIELD_ATTRS += ("default", "ignorable")


def _compare_structs(ours: Struct, theirs: Struct, where: str) -> None:
    assert [f.name for f in ours.fields] == [f.name for f in theirs.fields], where
    assert ours.versions == theirs.versions, where
    for mine, ref in zip(ours.fields, theirs.fields, strict=True):
        for attr in _FIELD_ATTRS:
            assert getattr(mine, attr) == getattr(ref, attr), f"{where}.{mine.name}.{attr}"
        assert (mine.struct is None) == (ref.struct is None), f"{where}.{mine.name}"
        if mine.struct is not None:
            _compare_structs(mine.struct, ref.struct, f"{where}.{mine.name}")


@needs_reference
@pytest.mark.parametrize("name", NAMES)
def test_declaration_matches_kafka_39_spec_field_by_field(name):
    ours, theirs = _ours(name), _reference(name)
    assert (ours.type, ours.api_key, ours.valid, ours.flexible) == (
        theirs.type,
        theirs.api_key,
        theirs.valid,
        theirs.flexible,
    )
    assert ours.listeners == theirs.listeners
    assert sorted(ours.structs) == sorted(theirs.structs)
    _compare_structs(ours.root, theirs.root, name)


# ---------------------------------------------------------------------------
# Byte for byte: Kafka's spec compiled by our compiler writes, our declaration reads.

_INTS = {"int8": 7, "int16": 15, "int32": 31, "int64": 63}


def _random_value(f: Field, version: int, classes: dict[str, type], rng: random.Random):
    if version in f.nullable and rng.random() < 0.2:
        return None
    if f.is_array:
        return [_random_element(f, version, classes, rng) for _ in range(rng.randint(0, 3))]
    return _random_element(f, version, classes, rng)


def _random_element(f: Field, version: int, classes: dict[str, type], rng: random.Random):
    if f.struct is not None:
        return _random_struct(f.struct, version, classes, rng)
    kind = f.elem_type
    if kind in _INTS:
        bits = _INTS[kind]
        return rng.choice([-(2**bits), 2**bits - 1, -1, 0, rng.randint(-(2**bits), 2**bits - 1)])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "uuid":
        return rng.randbytes(16)
    if kind == "string":
        return "".join(rng.choice("abc-._xyz€🙂") for _ in range(rng.randint(0, 10)))
    raise AssertionError(f"unexpected type {kind}")


def _random_struct(st: Struct, version: int, classes: dict[str, type], rng: random.Random):
    values = {}
    for f in st.fields:
        if version in f.versions and not (f.is_tagged(version) and rng.random() < 0.3):
            values[f.attr] = _random_value(f, version, classes, rng)
    return classes[st.name](**values)


def _plain(obj):
    """A message object as nested dicts and lists, whatever compiled it."""
    if isinstance(obj, list):
        return [_plain(x) for x in obj]
    if hasattr(obj, "__slots__") and hasattr(type(obj), "_schema"):
        return {a: _plain(getattr(obj, a)) for a in type(obj).__slots__}
    return obj


def _cases():
    for name in NAMES:
        api = name.removesuffix("Request").removesuffix("Response")
        lo, hi = VERSIONS[api]
        for version in range(lo, hi + 1):
            yield pytest.param(name, version, id=f"{name}-v{version}")


@needs_reference
@pytest.mark.parametrize("name,version", list(_cases()))
def test_kafka_39_encoding_decodes_with_our_declaration(name, version):
    reference = codec.compile_message(_reference(name), module="kafka39")
    ours = _compiled(name)
    for seed in range(6):
        rng = random.Random(f"{name}-{version}-{seed}")
        theirs = _random_struct(reference.spec.root, version, reference.classes, rng)
        data = reference.encoders[version](theirs)
        decoded = ours.decoders[version](data)
        assert _plain(decoded) == _plain(theirs), f"seed {seed}"
        assert ours.encoders[version](decoded) == data, f"seed {seed}"
        assert _plain(reference.decoders[version](ours.encoders[version](decoded))) == _plain(
            theirs
        )


# ---------------------------------------------------------------------------
# Through protocol.messages, like every other API.


def test_messages_serves_the_inter_broker_apis():
    assert messages.API_NAMES[4] == "LeaderAndIsr" and messages.API_NAMES[7] == (
        "ControlledShutdown"
    )
    assert messages.request_type(4) is messages.LeaderAndIsrRequest
    assert messages.response_type(6) is messages.UpdateMetadataResponse
    for api, (lo, hi) in VERSIONS.items():
        assert messages.spec_versions(API_KEYS[api]) == (lo, hi)
    assert [messages.is_flexible(4, v) for v in (3, 4)] == [False, True]
    assert [messages.is_flexible(5, v) for v in (1, 2)] == [False, True]
    assert [messages.is_flexible(6, v) for v in (5, 6)] == [False, True]
    assert [messages.is_flexible(7, v) for v in (2, 3)] == [False, True]


@pytest.mark.parametrize("name,version", list(_cases()))
def test_every_version_round_trips(name, version):
    compiled = _compiled(name)
    for seed in range(4):
        rng = random.Random(f"ours-{name}-{version}-{seed}")
        msg = _random_struct(compiled.spec.root, version, compiled.classes, rng)
        data = compiled.encoders[version](msg)
        assert compiled.decoders[version](data) == msg
        assert compiled.decoders[version](memoryview(bytearray(data))) == msg


def _leader_and_isr_v7():
    r = messages.LeaderAndIsrRequest
    state = r.LeaderAndIsrPartitionState(
        partition_index=2,
        controller_epoch=5,
        leader=1,
        leader_epoch=9,
        isr=[1, 2, 3],
        partition_epoch=12,
        replicas=[1, 2, 3],
        is_new=True,
    )
    return r(
        controller_id=3,
        controller_epoch=5,
        broker_epoch=1234,
        topic_states=[
            r.LeaderAndIsrTopicState(
                topic_name="orders", topic_id=bytes(range(16)), partition_states=[state]
            )
        ],
        live_leaders=[r.LeaderAndIsrLiveLeader(broker_id=1, host_name="127.0.0.1", port=9093)],
    )


def test_leader_and_isr_v7_request_round_trips():
    msg = _leader_and_isr_v7()
    back = messages.decode_request(4, 7, messages.encode_request(4, 7, msg))
    assert back == msg
    assert back.topic_states[0].partition_states[0].isr == [1, 2, 3]
    assert back.is_kraft_controller is False and back.type == 0


def test_leader_and_isr_v1_keeps_partitions_ungrouped():
    r = messages.LeaderAndIsrRequest
    state = r.LeaderAndIsrPartitionState(topic_name="t", partition_index=0, leader=1, isr=[1])
    msg = r(controller_id=1, controller_epoch=1, ungrouped_partition_states=[state])
    back = messages.decode_request(4, 1, messages.encode_request(4, 1, msg))
    assert back.ungrouped_partition_states[0].topic_name == "t"
    assert back.topic_states == []  # v2+ only


def test_update_metadata_v8_type_is_a_tagged_field():
    r = messages.UpdateMetadataRequest
    plain = messages.encode_request(6, 8, r(controller_id=1, controller_epoch=2))
    assert plain.endswith(b"\x00")  # an empty tagged section
    tagged = messages.encode_request(6, 8, r(controller_id=1, controller_epoch=2, type=2))
    assert tagged.endswith(b"\x01\x00\x01\x02")  # one field: tag 0, size 1, value 2
    assert messages.decode_request(6, 8, tagged).type == 2


def test_controlled_shutdown_bytes():
    r = messages.ControlledShutdownRequest
    assert messages.encode_request(7, 0, r(broker_id=2)) == b"\x00\x00\x00\x02"
    v3 = messages.encode_request(7, 3, r(broker_id=2, broker_epoch=7))
    assert v3 == b"\x00\x00\x00\x02" + (7).to_bytes(8, "big") + b"\x00"
    resp = messages.ControlledShutdownResponse(
        remaining_partitions=[
            messages.ControlledShutdownResponse.RemainingPartition(
                topic_name="t", partition_index=1
            )
        ]
    )
    assert messages.encode_response(7, 1, resp) == (
        b"\x00\x00" + b"\x00\x00\x00\x01" + b"\x00\x01t" + b"\x00\x00\x00\x01"
    )


def test_controlled_shutdown_v0_header_has_no_client_id():
    head = encode_request_header(7, 0, 5, "broker-2")
    assert head == b"\x00\x07\x00\x00\x00\x00\x00\x05"
    assert decode_request_header(head + b"\x00\x00\x00\x02").body_offset == 8
    # v3 is flexible: header v2 (client id, then an empty tagged section)
    head = encode_request_header(7, 3, 5, "b")
    assert head == b"\x00\x07\x00\x03\x00\x00\x00\x05\x00\x01b\x00"
