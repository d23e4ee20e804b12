"""Hand-built frames: what the broker does with bad input, and ApiVersions on the wire.

A bad frame (oversized or negative size prefix, garbage, an unknown API key or version,
a truncated or garbled body) closes that one connection; the broker, other open
connections and new clients carry on. ApiVersions is checked byte by byte: v0 and v3
answers (header v0, no tagged fields nobody asked for), and an unsupported version gets
UNSUPPORTED_VERSION with a v0 body so the client can downgrade on the same connection.
Produce v2 (the old message format) is refused, as Kafka 4.0 refuses it, and nothing of
it is stored.
"""

from __future__ import annotations

import random
import socket
import struct
import time
import zlib

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

GUARD_S = 30.0
API_PRODUCE = 0
API_FETCH = 1
API_METADATA = 3
API_VERSIONS = 18
UNSUPPORTED_VERSION = 35


# -- frames ------------------------------------------------------------------------------


def connect(bootstrap: str) -> socket.socket:
    host, port = bootstrap.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=GUARD_S)


def kafka_string(s: bytes | None) -> bytes:
    return struct.pack(">h", -1) if s is None else struct.pack(">h", len(s)) + s


def request_frame(
    api_key: int,
    version: int,
    correlation_id: int,
    body: bytes,
    client_id: bytes = b"raw-test",
    flexible: bool = False,
) -> bytes:
    """Size prefix + request header v1 (v2 when flexible: an empty tagged section) + body."""
    header = struct.pack(">hhi", api_key, version, correlation_id) + kafka_string(client_id)
    if flexible:
        header += b"\x00"
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(buf)}/{n} bytes")
        buf += chunk
    return bytes(buf)


def recv_response(sock: socket.socket) -> bytes:
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    assert 4 <= size < 10 * 1024 * 1024, f"response size {size}"
    return recv_exact(sock, size)


def assert_closed_by_broker(sock: socket.socket) -> None:
    """The broker closes the connection (EOF or reset) and sends no response first."""
    sock.settimeout(GUARD_S)
    received = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"broker kept the connection open for {GUARD_S}s after bad input")
    assert received == b"", f"broker answered bad input with {received[:64]!r}"


class Reader:
    """Sequential reads of a response body."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def unpack(self, fmt: str):
        values = struct.unpack_from(">" + fmt, self.data, self.pos)
        self.pos += struct.calcsize(">" + fmt)
        return values if len(values) > 1 else values[0]

    def uvarint(self) -> int:
        shift = value = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    def string(self) -> bytes | None:
        n = self.unpack("h")
        if n < 0:
            return None
        s = self.data[self.pos : self.pos + n]
        self.pos += n
        return s

    def at_end(self) -> bool:
        return self.pos == len(self.data)


def parse_api_versions_v0(body: bytes, correlation_id: int) -> tuple[int, dict[int, tuple]]:
    r = Reader(body)
    assert r.unpack("i") == correlation_id
    error = r.unpack("h")
    n = r.unpack("i")
    ranges: dict[int, tuple[int, int]] = {}
    for _ in range(n):
        key, lo, hi = r.unpack("hhh")
        assert key not in ranges, f"api key {key} listed twice"
        ranges[key] = (lo, hi)
    assert r.at_end(), f"{len(body) - r.pos} bytes after the v0 body"
    return error, ranges


def api_versions_v0(correlation_id: int) -> bytes:
    return request_frame(API_VERSIONS, 0, correlation_id, b"")


# -- a second, well-behaved client -------------------------------------------------------


def assert_broker_still_serves(broker, topic: str) -> None:
    """Metadata, produce and consume work for a real client on fresh connections."""
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    md = admin.list_topics(timeout=GUARD_S)
    assert len(md.brokers) == 1, f"brokers in metadata: {md.brokers}"
    if topic not in md.topics:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[
            topic
        ].result(timeout=GUARD_S)

    errors: list = []
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    producer.produce(topic, key=b"still", value=b"alive", on_delivery=lambda e, m: errors.append(e))
    assert producer.flush(GUARD_S) == 0
    assert errors == [None]

    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": "bystander",
            "enable.auto.commit": False,
            "auto.offset.reset": "error",
        }
    )
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=GUARD_S)
        consumer.assign([TopicPartition(topic, 0, high - 1)])
        deadline = time.monotonic() + GUARD_S
        msgs: list = []
        while not msgs and time.monotonic() < deadline:
            msgs = consumer.consume(num_messages=1, timeout=0.5)
        assert len(msgs) == 1 and msgs[0].error() is None
        assert (msgs[0].key(), msgs[0].value()) == (b"still", b"alive")
    finally:
        consumer.close()


# -- bad frames --------------------------------------------------------------------------


def metadata_header(version: int, flexible: bool = False) -> bytes:
    """A Metadata request's frame without its size prefix or body: header only."""
    return request_frame(API_METADATA, version, 7, b"", flexible=flexible)[4:]


def framed(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


BAD_FRAMES = {
    # Size prefixes that must be refused before anything is allocated or read.
    "size_over_100_mib": struct.pack(">i", 200 * 1024 * 1024) + b"\x00" * 64,
    "negative_size": struct.pack(">i", -5) + b"\x00" * 64,
    # A valid size around bodies that make no sense.
    "garbage_all_ff": framed(b"\xff" * 64),
    "garbage_random": framed(random.Random(42).randbytes(200)),
    "unknown_api_key": request_frame(9_999, 0, 1, b"\x00" * 16),
    "unsupported_metadata_version": request_frame(API_METADATA, 99, 1, b"\x00" * 16),
    "header_shorter_than_its_fields": framed(struct.pack(">hh", API_METADATA, 1)),
    # Metadata v1: topics array of 1 whose name claims 30000 bytes; 5 are there.
    "metadata_v1_truncated_topic_name": framed(
        metadata_header(1) + struct.pack(">ih", 1, 30_000) + b"abcde"
    ),
    # Metadata v4: topics array of 1000 entries; the body ends after the count.
    "metadata_v4_array_longer_than_body": framed(metadata_header(4) + struct.pack(">i", 1_000)),
    # Metadata v12 (flexible): compact array length as an unterminated varint.
    "metadata_v12_broken_varint": framed(metadata_header(12, flexible=True) + b"\xff" * 6),
    # Metadata v12: compact array of 3 topics; the first one's name claims 1000 bytes.
    "metadata_v12_truncated_topic_name": framed(
        metadata_header(12, flexible=True) + b"\x04" + b"\x00" * 16 + b"\xe9\x07" + b"abc"
    ),
}


@pytest.mark.parametrize("frame", list(BAD_FRAMES.values()), ids=list(BAD_FRAMES))
def test_bad_frame_closes_only_its_own_connection(broker, frame):
    bystander = connect(broker.bootstrap)
    bad = connect(broker.bootstrap)
    try:
        try:
            bad.sendall(frame)
        except (BrokenPipeError, ConnectionResetError):
            pass  # already closed on the size prefix: also right
        assert_closed_by_broker(bad)

        # A connection opened before the bad one still gets answers.
        bystander.sendall(api_versions_v0(123))
        error, ranges = parse_api_versions_v0(recv_response(bystander), 123)
        assert error == 0 and API_METADATA in ranges
    finally:
        bad.close()
        bystander.close()
    assert_broker_still_serves(broker, "after-bad-input")


# -- ApiVersions by hand -----------------------------------------------------------------


def test_api_versions_v0_lists_the_served_apis(broker):
    sock = connect(broker.bootstrap)
    try:
        sock.sendall(api_versions_v0(41))
        error, ranges = parse_api_versions_v0(recv_response(sock), 41)
    finally:
        sock.close()
    assert error == 0
    for key in (API_PRODUCE, API_FETCH, API_METADATA, API_VERSIONS):
        assert key in ranges, f"api key {key} not advertised: {sorted(ranges)}"
    for key, (lo, hi) in ranges.items():
        assert 0 <= lo <= hi, f"api key {key}: range {lo}..{hi}"
    # Produce is advertised from v0 as Kafka 4.0 does (KAFKA-18659: librdkafka looks for
    # it to decide compression support); v0-v2 carry message formats v0/v1.
    assert ranges[API_PRODUCE][0] == 0
    assert ranges[API_VERSIONS][0] == 0 and ranges[API_VERSIONS][1] >= 3


def test_api_versions_v3_response_has_header_v0_and_empty_tagged_sections(broker):
    body = b"\x0bkafka-test" + b"\x061.0.0" + b"\x00"  # compact strings + tagged fields
    sock = connect(broker.bootstrap)
    try:
        sock.sendall(request_frame(API_VERSIONS, 3, 77, body, flexible=True))
        r = Reader(recv_response(sock))
    finally:
        sock.close()
    # Response header v0: the correlation id and nothing else (no tagged fields).
    assert r.unpack("i") == 77
    assert r.unpack("h") == 0
    n = r.uvarint() - 1
    ranges = {}
    for _ in range(n):
        key, lo, hi = r.unpack("hhh")
        assert r.uvarint() == 0, f"api key {key}: non-empty tagged fields"
        ranges[key] = (lo, hi)
    r.unpack("i")  # throttle_time_ms
    # librdkafka < 2.2 mis-skips a non-empty top-level tagged section ("Read underflow").
    assert r.uvarint() == 0, "top-level tagged fields written nobody asked for"
    assert r.at_end(), f"{len(r.data) - r.pos} trailing bytes"
    for key in (API_PRODUCE, API_FETCH, API_METADATA, API_VERSIONS):
        assert key in ranges


def test_unsupported_api_versions_version_gets_error_35_and_a_v0_body(broker):
    body = b"\x0bkafka-test" + b"\x061.0.0" + b"\x00"
    sock = connect(broker.bootstrap)
    try:
        sock.sendall(request_frame(API_VERSIONS, 99, 5, body, flexible=True))
        error, ranges = parse_api_versions_v0(recv_response(sock), 5)
        assert error == UNSUPPORTED_VERSION
        assert API_VERSIONS in ranges, "the error body must say which versions to use"
        lo, hi = ranges[API_VERSIONS]
        assert lo == 0 and 3 <= hi < 99

        # The client downgrades on the same connection.
        sock.sendall(api_versions_v0(6))
        error, ranges = parse_api_versions_v0(recv_response(sock), 6)
        assert error == 0 and API_PRODUCE in ranges
    finally:
        sock.close()


# -- Produce v2: the old message format --------------------------------------------------


def message_set_v1(key: bytes, value: bytes, timestamp: int) -> bytes:
    """One magic-1 message in a message set (offset, size, crc, magic, attrs, ts, k, v)."""
    content = (
        struct.pack(">bbq", 1, 0, timestamp)
        + struct.pack(">i", len(key))
        + key
        + struct.pack(">i", len(value))
        + value
    )
    message = struct.pack(">I", zlib.crc32(content)) + content
    return struct.pack(">qi", 0, len(message)) + message


def test_produce_v2_with_the_old_message_format_is_converted(broker):
    """Kafka 3.x converts magic 0/1 message sets to v2 batches on append
    (tests/integration/test_legacy_formats.py covers the formats and codecs)."""
    topic = "old-format"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(
        timeout=GUARD_S
    )
    message_set = message_set_v1(b"old", b"format", 1_600_000_000_000)
    body = (
        struct.pack(">hi", 1, 10_000)  # acks=1, timeout
        + struct.pack(">i", 1)
        + kafka_string(topic.encode())
        + struct.pack(">i", 1)
        + struct.pack(">i", 0)  # partition
        + struct.pack(">i", len(message_set))
        + message_set
    )
    sock = connect(broker.bootstrap)
    try:
        sock.sendall(request_frame(API_PRODUCE, 2, 9, body))
        sock.settimeout(GUARD_S)
        r = Reader(recv_response(sock))
        assert r.unpack("i") == 9
        answers = []
        for _ in range(r.unpack("i")):
            r.string()
            for _ in range(r.unpack("i")):
                answers.append(r.unpack("ihqq")[:3])
        assert answers == [(0, 0, 0)]  # partition 0, no error, base offset 0
    finally:
        sock.close()


# -- SASL before authentication -----------------------------------------------------------

API_SASL_HANDSHAKE = 17
API_SASL_AUTHENTICATE = 36
PLAIN_JAAS = (
    'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-pw";'
)


@pytest.fixture
def sasl_broker(tmp_path):
    """A broker with one SASL_PLAINTEXT listener (PLAIN, user alice)."""
    from tests.conftest import BrokerHandle

    handle = BrokerHandle(
        tmp_path / "sasl",
        {
            "listeners": "SASL_PLAINTEXT://127.0.0.1:0",
            "security.inter.broker.protocol": "SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": "PLAIN",
            "sasl.jaas.config": PLAIN_JAAS,
        },
    )
    handle.start()
    yield handle
    handle.stop()


def sasl_handshake(sock: socket.socket, version: int, mechanism: bytes) -> tuple[int, list[str]]:
    sock.sendall(request_frame(API_SASL_HANDSHAKE, version, 7, kafka_string(mechanism)))
    reader = Reader(recv_response(sock))
    assert reader.unpack("i") == 7
    error, count = reader.unpack("hi")
    mechanisms = []
    for _ in range(count):
        size = reader.unpack("h")
        mechanisms.append(reader.data[reader.pos : reader.pos + size].decode())
        reader.pos += size
    return error, mechanisms


def assert_sasl_broker_serves(bootstrap: str) -> None:
    """A good PLAIN login still works, and its Metadata is answered."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": "alice",
            "sasl.password": "alice-pw",
        }
    )
    assert producer.list_topics(timeout=GUARD_S).brokers


def test_requests_before_sasl_authentication_close_the_connection(sasl_broker):
    sock = connect(sasl_broker.bootstrap)
    try:
        # ApiVersions is answered before authentication ...
        sock.sendall(api_versions_v0(5))
        error, ranges = parse_api_versions_v0(recv_response(sock), 5)
        assert error == 0 and ranges[API_SASL_AUTHENTICATE] == (0, 2)
        # ... Metadata is not: the connection is closed without an answer.
        sock.sendall(request_frame(API_METADATA, 1, 6, struct.pack(">i", -1)))
        assert_closed_by_broker(sock)
    finally:
        sock.close()
    assert_sasl_broker_serves(sasl_broker.bootstrap)


def test_unknown_sasl_mechanism_lists_the_enabled_ones(sasl_broker):
    with connect(sasl_broker.bootstrap) as sock:
        assert sasl_handshake(sock, 1, b"GSSAPI") == (33, ["PLAIN"])  # UNSUPPORTED_SASL_MECHANISM
        assert_closed_by_broker(sock)  # as Kafka, once the answer is sent


def test_sasl_handshake_v0_raw_tokens(sasl_broker):
    # After SaslHandshake v0 the PLAIN token travels raw; the answer is an empty raw token.
    with connect(sasl_broker.bootstrap) as sock:
        assert sasl_handshake(sock, 0, b"PLAIN") == (0, ["PLAIN"])
        token = b"\x00alice\x00alice-pw"
        sock.sendall(struct.pack(">i", len(token)) + token)
        assert recv_exact(sock, 4) == b"\x00\x00\x00\x00"
        sock.sendall(request_frame(API_METADATA, 1, 8, struct.pack(">i", -1)))
        reader = Reader(recv_response(sock))
        assert reader.unpack("i") == 8


@pytest.mark.parametrize(
    "version, token",
    [
        (0, b"garbage without separators"),  # v0: a raw token PLAIN cannot parse
        (0, b"\x00alice\x00wrong"),  # v0: a wrong password closes (no error field)
        (1, None),  # v1: SaslAuthenticate claiming 1000 bytes, 3 sent
    ],
    ids=["raw-garbage", "raw-wrong-password", "authenticate-truncated"],
)
def test_bad_sasl_frames_close_only_their_connection(sasl_broker, version, token):
    bystander = connect(sasl_broker.bootstrap)
    bad = connect(sasl_broker.bootstrap)
    try:
        sasl_handshake(bad, version, b"PLAIN")
        if token is not None:
            bad.sendall(struct.pack(">i", len(token)) + token)
        else:
            body = struct.pack(">i", 1000) + b"abc"
            bad.sendall(request_frame(API_SASL_AUTHENTICATE, 0, 9, body))
        assert_closed_by_broker(bad)
        bystander.sendall(api_versions_v0(11))
        assert parse_api_versions_v0(recv_response(bystander), 11)[0] == 0
    finally:
        bad.close()
        bystander.close()
    assert_sasl_broker_serves(sasl_broker.bootstrap)


def test_failed_sasl_authenticate_answers_with_a_message(sasl_broker):
    with connect(sasl_broker.bootstrap) as sock:
        sasl_handshake(sock, 1, b"PLAIN")
        token = b"\x00alice\x00wrong"
        body = struct.pack(">i", len(token)) + token
        sock.sendall(request_frame(API_SASL_AUTHENTICATE, 0, 12, body))
        reader = Reader(recv_response(sock))
        assert reader.unpack("i") == 12
        error, size = reader.unpack("hh")
        message = reader.data[reader.pos : reader.pos + size].decode()
        assert (error, message) == (58, "Authentication failed: Invalid username or password")
        assert_closed_by_broker(sock)  # as Kafka, once the answer is sent
    assert_sasl_broker_serves(sasl_broker.bootstrap)
