"""Codecs and class methods are generated on first use, once, and behave as if they
had been compiled up front (test_codec_roundtrip.py exercises every version)."""

from __future__ import annotations

import threading

from protocol import codec, messages, schema

_SPEC = """{ "apiKey": 12, "type": "request", "name": "HeartbeatRequest",
  "validVersions": "0-1", "flexibleVersions": "1+",
  "fields": [ { "name": "GroupId", "type": "string", "versions": "0+" },
              { "name": "Members", "type": "[]Member", "versions": "0+", "fields": [
                  { "name": "MemberId", "type": "string", "versions": "0+" } ] } ] }"""


def test_a_version_is_compiled_on_first_use_and_then_reused():
    compiled = codec.compile_message(schema.parse_spec(_SPEC))
    assert dict(compiled.decoders) == {} and dict(compiled.encoders) == {}
    encode = compiled.encoders[1]
    assert compiled.encoders[1] is encode
    assert set(dict(compiled.encoders)) == {1} and set(dict(compiled.encoders_into)) == {1}
    assert dict(compiled.decoders) == {}


def test_versions_outside_the_spec_are_missing():
    compiled = codec.compile_message(schema.parse_spec(_SPEC))
    assert compiled.decoders.get(2) is None
    assert 2 not in compiled.encoders
    assert 0 in compiled.decoders
    try:
        compiled.decoders[-1]
    except KeyError:
        pass
    else:
        raise AssertionError("no decoder for v-1")


def test_class_methods_appear_on_first_instance():
    compiled = codec.compile_message(schema.parse_spec(_SPEC))
    cls = compiled.cls
    msg = cls(group_id="g", members=[cls.Member(member_id="m")])
    assert msg.members == [cls.Member(member_id="m")]
    assert (
        repr(msg)
        == "HeartbeatRequest(group_id='g', members=[HeartbeatRequest.Member(member_id='m')])"
    )
    assert cls() == cls(group_id="", members=[])
    for version in (0, 1):
        data = compiled.encoders[version](msg)
        assert compiled.decoders[version](data) == msg


def test_threads_racing_for_a_message_get_one_class():
    # messages' tables are LazyTables; a fresh one, so the module's state is left alone.
    table = messages.LazyTable(lambda key: codec.compile_message(schema.parse_spec(_SPEC)))
    barrier = threading.Barrier(8)
    seen = []

    def first_use() -> None:
        barrier.wait()
        seen.append(table[12].cls)

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and len({id(cls) for cls in seen}) == 1
