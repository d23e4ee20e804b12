"""Fetch v13-17 (KIP-516 topic ids) as Kafka 3.9 answers it, over TCP.

- ApiVersions advertises Fetch 0-17, as a Kafka 3.9 ZooKeeper broker.
- A v13+ fetch names its topics by the id Metadata returns and gets records back under
  that id; an unknown id is UNKNOWN_TOPIC_ID; after the topic is deleted and
  re-created under the same name, the old id is UNKNOWN_TOPIC_ID and the new one reads.
- A session opened with topic ids must be continued with them, and one opened with
  names with names: else FETCH_SESSION_TOPIC_ID_ERROR; incremental v13+ fetches answer
  only what changed, forgetting by id.
- v15+ carries the follower's id in ReplicaState: a consumer's fetch (none) reads
  only up to the high watermark.
- librdkafka (2.16) negotiates Fetch v13+ and consumes the topic.
"""

from __future__ import annotations

import logging
import re

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kafka_compat.tools.connection import Connection
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from protocol.records import iter_batch_headers

GUARD_S = 30.0
F = messages.request_type(ApiKey.FETCH)
M = messages.request_type(ApiKey.METADATA)


@pytest.fixture
def conn(broker):
    host, port = broker.bootstrap.rsplit(":", 1)
    connection = Connection(host, int(port), GUARD_S)
    yield connection
    connection.close()


def create_topic(bootstrap: str, topic: str, partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=partitions)])[topic].result(GUARD_S)


def delete_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.delete_topics([topic])[topic].result(GUARD_S)


def produce(bootstrap: str, topic: str, count: int, partition: int = 0) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(count):
        producer.produce(topic, value=b"v%d" % i, partition=partition)
    assert producer.flush(GUARD_S) == 0


def topic_id(conn: Connection, topic: str) -> bytes:
    answer = conn.request(ApiKey.METADATA, M(topics=[M.MetadataRequestTopic(name=topic)]), 12)
    assert answer.topics[0].error_code == ErrorCode.NONE
    return answer.topics[0].topic_id


def fetch(
    conn: Connection,
    version: int,
    offsets: dict[tuple[object, int], int],
    *,
    session_id: int = 0,
    epoch: int = -1,
    forgotten: dict[object, list[int]] | None = None,
):
    """One Fetch; topics keyed by id (bytes) from v13, else by name."""
    by_id = version >= 13
    topics: dict[object, list] = {}
    for (topic, partition), offset in offsets.items():
        topics.setdefault(topic, []).append(
            F.FetchPartition(partition=partition, fetch_offset=offset, partition_max_bytes=1 << 20)
        )

    def named(topic, **fields):
        return {"topic_id": topic, **fields} if by_id else {"topic": topic, **fields}

    request = F(
        replica_id=-1,
        max_wait_ms=0,
        min_bytes=1,
        max_bytes=1 << 20,
        session_id=session_id,
        session_epoch=epoch,
        topics=[F.FetchTopic(**named(t, partitions=p)) for t, p in topics.items()],
        forgotten_topics_data=[
            F.ForgottenTopic(**named(t, partitions=p)) for t, p in (forgotten or {}).items()
        ],
        rack_id="",
    )
    return conn.request(ApiKey.FETCH, request, version)


def answered(response) -> dict[tuple[object, int], object]:
    return {
        (t.topic_id if t.topic_id != bytes(16) else t.topic, p.partition_index): p
        for t in response.responses
        for p in t.partitions
    }


def record_count(records) -> int:
    return sum(h.records_count for _, h in iter_batch_headers(bytes(records or b"")))


def test_api_versions_advertises_fetch_0_17(conn):
    assert conn.versions[ApiKey.FETCH] == (0, 17)


@pytest.mark.parametrize("version", [13, 14, 15, 16, 17])
def test_fetch_by_topic_id_reads_the_topic(broker, conn, version):
    create_topic(broker.bootstrap, "ids", 2)
    produce(broker.bootstrap, "ids", 3, partition=1)
    ident = topic_id(conn, "ids")
    assert ident != bytes(16)

    response = fetch(conn, version, {(ident, 0): 0, (ident, 1): 0})

    assert response.error_code == ErrorCode.NONE
    assert [t.topic_id for t in response.responses] == [ident]
    parts = answered(response)
    assert parts[(ident, 0)].error_code == ErrorCode.NONE
    assert parts[(ident, 0)].high_watermark == 0
    assert parts[(ident, 1)].error_code == ErrorCode.NONE
    assert parts[(ident, 1)].high_watermark == 3
    assert record_count(parts[(ident, 1)].records) == 3


def test_unknown_topic_id_and_a_recreated_topic(broker, conn):
    create_topic(broker.bootstrap, "reborn")
    produce(broker.bootstrap, "reborn", 2)
    old = topic_id(conn, "reborn")
    unknown = b"\x01" * 16

    parts = answered(fetch(conn, 13, {(old, 0): 0, (unknown, 0): 0}))
    assert parts[(old, 0)].error_code == ErrorCode.NONE
    assert parts[(unknown, 0)].error_code == ErrorCode.UNKNOWN_TOPIC_ID

    delete_topic(broker.bootstrap, "reborn")
    create_topic(broker.bootstrap, "reborn")
    produce(broker.bootstrap, "reborn", 1)
    new = topic_id(conn, "reborn")
    assert new != old

    parts = answered(fetch(conn, 13, {(old, 0): 0, (new, 0): 0}))
    assert parts[(old, 0)].error_code == ErrorCode.UNKNOWN_TOPIC_ID
    assert parts[(new, 0)].error_code == ErrorCode.NONE
    assert parts[(new, 0)].high_watermark == 1


def test_sessions_keep_to_topic_ids_or_names(broker, conn):
    create_topic(broker.bootstrap, "sess", 2)
    produce(broker.bootstrap, "sess", 2, partition=0)
    ident = topic_id(conn, "sess")

    # Opened with ids (v13): continued by ids, only what changed; names refused.
    full = fetch(conn, 13, {(ident, 0): 2, (ident, 1): 0}, epoch=0)
    assert full.error_code == ErrorCode.NONE and full.session_id > 0
    session = full.session_id
    quiet = fetch(conn, 13, {}, session_id=session, epoch=1)
    assert quiet.error_code == ErrorCode.NONE
    assert answered(quiet) == {}
    produce(broker.bootstrap, "sess", 1, partition=1)
    changed = fetch(conn, 16, {}, session_id=session, epoch=2, forgotten={ident: [0]})
    assert list(answered(changed)) == [(ident, 1)]
    assert answered(changed)[(ident, 1)].high_watermark == 1
    wrong = fetch(conn, 12, {}, session_id=session, epoch=3)
    assert wrong.error_code == ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR
    assert wrong.responses == []

    # Opened with names (v12): a v13 continuation is refused the same way.
    named = fetch(conn, 12, {("sess", 0): 0}, epoch=0)
    assert named.session_id > 0
    refused = fetch(conn, 13, {}, session_id=named.session_id, epoch=1)
    assert refused.error_code == ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR


def test_librdkafka_consumes_with_topic_id_fetches(broker):
    create_topic(broker.bootstrap, "rdk-ids", 2)
    for partition in (0, 1):
        produce(broker.bootstrap, "rdk-ids", 5, partition=partition)
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    logger = logging.getLogger("rdk-ids")
    logger.addHandler(Capture())
    logger.setLevel(logging.DEBUG)
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": "rdk-ids",
            "auto.offset.reset": "earliest",
            "debug": "protocol",
            "logger": logger,
        }
    )
    consumer.subscribe(["rdk-ids"])
    values = []
    try:
        for _ in range(200):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                values.append((msg.partition(), msg.value()))
            if len(values) == 10:
                break
    finally:
        consumer.close()
    assert sorted(values) == [(p, b"v%d" % i) for p in (0, 1) for i in range(5)]
    fetch_versions = {
        int(match.group(1))
        for line in lines
        if (match := re.search(r"Sent FetchRequest \(v(\d+)", line))
    }
    assert fetch_versions and min(fetch_versions) >= 13, fetch_versions
