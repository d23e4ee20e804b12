"""Request headers v0/v1/v2 and response headers v0/v1."""

from __future__ import annotations

import pytest
from kafka.protocol.api_header import RequestHeader as KpRequestHeader
from kafka.protocol.api_header import ResponseHeader as KpResponseHeader

from protocol import messages
from protocol.codec import DecodeError
from protocol.headers import (
    RequestHeader,
    decode_request_header,
    decode_response_header,
    encode_request_header,
    encode_response_header,
    request_header_version,
)

BODY = b"\x01\x02\x03"


def test_v1_header_round_trips():
    head = encode_request_header(3, 8, 42, "my-client")
    assert head == b"\x00\x03\x00\x08\x00\x00\x00\x2a\x00\x09my-client"
    assert decode_request_header(head + BODY) == RequestHeader(3, 8, 42, "my-client", len(head))


def test_v2_header_keeps_client_id_non_compact_and_adds_tagged_fields():
    head = encode_request_header(3, 12, 7, "rdkafka")
    assert head == b"\x00\x03\x00\x0c\x00\x00\x00\x07\x00\x07rdkafka\x00"
    assert decode_request_header(head + BODY) == RequestHeader(3, 12, 7, "rdkafka", len(head))


@pytest.mark.parametrize("client_id", [None, "", "clïent-€"])
@pytest.mark.parametrize("api_key,version", [(0, 8), (0, 9), (18, 0), (18, 3), (1, 17)])
def test_headers_round_trip(api_key, version, client_id):
    head = encode_request_header(api_key, version, -5, client_id)
    got = decode_request_header(memoryview(head + BODY))
    assert got == RequestHeader(api_key, version, -5, client_id, len(head))
    cid = len(client_id.encode()) if client_id is not None else 0
    assert len(head) == 10 + cid + messages.is_flexible(api_key, version)


def test_header_v2_skips_unknown_tagged_fields():
    head = encode_request_header(3, 12, 1, "c")[:-1] + b"\x02" + b"\x05\x01\xff" + b"\x06\x00"
    assert decode_request_header(head + BODY).body_offset == len(head)


def test_controlled_shutdown_v0_uses_header_v0():
    assert request_header_version(7, 0) == 0
    head = encode_request_header(7, 0, 99, "ignored")
    assert head == b"\x00\x07\x00\x00\x00\x00\x00\x63"
    assert decode_request_header(head) == RequestHeader(7, 0, 99, None, 8)


def test_unknown_api_key_still_yields_the_v1_fields():
    head = b"\x7f\x00\x00\x05\x00\x00\x00\x09\x00\x03abc"
    assert decode_request_header(head + BODY) == RequestHeader(0x7F00, 5, 9, "abc", len(head))


def test_newer_api_versions_request_reads_as_header_v2():
    # A client newer than our specs still sends ApiVersions with header v2.
    head = encode_request_header(18, 9, 1, "new")
    assert decode_request_header(head + BODY).body_offset == len(head)


@pytest.mark.parametrize(
    "buf",
    [
        b"",
        b"\x00\x03\x00",
        b"\x00\x03\x00\x08\x00\x00\x00",  # no room for the client_id length
        b"\x00\x03\x00\x08\x00\x00\x00\x01\x00",
        b"\x00\x03\x00\x08\x00\x00\x00\x01\x00\x09short",  # client_id past the end
        b"\x00\x03\x00\x08\x00\x00\x00\x01\x00\x02\xff\xfe",  # not UTF-8
        b"\x00\x03\x00\x0c\x00\x00\x00\x01\xff\xff",  # v2 without its tagged section
        b"\x00\x03\x00\x0c\x00\x00\x00\x01\xff\xff\x01\x00\x09",  # tag runs past the end
    ],
)
def test_malformed_request_headers_raise_decode_error(buf):
    with pytest.raises(DecodeError):
        decode_request_header(buf)


def test_response_headers():
    assert encode_response_header(42, flexible=False) == b"\x00\x00\x00\x2a"
    assert encode_response_header(42, flexible=True) == b"\x00\x00\x00\x2a\x00"
    assert decode_response_header(b"\x00\x00\x00\x2a" + BODY, flexible=False) == (42, 4)
    assert decode_response_header(b"\x00\x00\x00\x2a\x00" + BODY, flexible=True) == (42, 5)
    assert decode_response_header(b"\x00\x00\x00\x2a\x01\x00\x01\x07", flexible=True) == (42, 8)
    with pytest.raises(DecodeError):
        decode_response_header(b"\x00\x00", flexible=False)
    with pytest.raises(DecodeError):
        decode_response_header(b"\x00\x00\x00\x01", flexible=True)


def test_api_versions_response_uses_header_v0_with_a_flexible_body():
    r = messages.ApiVersionsResponse
    body = messages.encode_response(18, 3, r(api_keys=[r.ApiVersion(api_key=0, max_version=11)]))
    frame = encode_response_header(7, flexible=False) + body
    correlation_id, offset = decode_response_header(frame, flexible=False)
    assert (correlation_id, offset) == (7, 4)
    assert messages.decode_response(18, 3, frame[offset:]).api_keys[0].max_version == 11


@pytest.mark.parametrize("client_id", [None, "kafka-python"])
@pytest.mark.parametrize("flexible", [False, True])
def test_headers_match_kafka_python(flexible, client_id):
    version = 12 if flexible else 8
    theirs = KpRequestHeader(
        request_api_key=3, request_api_version=version, correlation_id=5, client_id=client_id
    )
    assert theirs.encode(flexible=flexible) == encode_request_header(3, version, 5, client_id)
    resp = KpResponseHeader(correlation_id=5).encode(flexible=flexible)
    assert resp == encode_response_header(5, flexible)
