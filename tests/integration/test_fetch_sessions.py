"""Incremental fetch sessions (KIP-227) as Kafka 3.9 answers them, over TCP.

- A full fetch (epoch 0) opens a session; incremental fetches (epoch 1, 2, ...) name
  only changed partitions and get back only partitions that changed (records, high
  watermark); forgotten partitions leave the session.
- A wrong epoch is INVALID_FETCH_SESSION_EPOCH, an unknown id
  FETCH_SESSION_ID_NOT_FOUND; epoch -1 closes the session (a sessionless fetch).
- A full cache (max.incremental.fetch.session.cache.slots) opens no session for a
  consumer, but a follower's session evicts the smallest consumer session.
- An incremental fetch waits (min_bytes / max_wait_ms) on all the session's partitions.
- kafka-python (incremental fetch sessions on by default) consumes 200 partitions
  through one session.
"""

from __future__ import annotations

import threading
import time

import trio
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer
from kafka import TopicPartition as KpTopicPartition

from kafka_compat.cluster.client import BrokerClient
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

GUARD_S = 30.0
F = messages.request_type(ApiKey.FETCH)
VERSION = 12


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions)])
    futures[topic].result(timeout=GUARD_S)


def produce(bootstrap: str, topic: str, partitions: list[int], count: int = 1) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for partition in partitions:
        for i in range(count):
            producer.produce(topic, value=b"v%d" % i, partition=partition)
    assert producer.flush(GUARD_S) == 0


def fetch(
    port: int,
    topic: str,
    offsets: dict[int, int],
    *,
    session_id: int = 0,
    epoch: int = -1,
    forgotten: list[int] = (),
    replica_id: int = -1,
    max_wait_ms: int = 0,
):
    request = F(
        replica_id=replica_id,
        max_wait_ms=max_wait_ms,
        min_bytes=1,
        max_bytes=1 << 20,
        isolation_level=0,
        session_id=session_id,
        session_epoch=epoch,
        topics=[
            F.FetchTopic(
                topic=topic,
                partitions=[
                    F.FetchPartition(partition=p, fetch_offset=o, partition_max_bytes=1 << 20)
                    for p, o in offsets.items()
                ],
            )
        ]
        if offsets
        else [],
        forgotten_topics_data=[F.ForgottenTopic(topic=topic, partitions=list(forgotten))]
        if forgotten
        else [],
        rack_id="",
    )

    async def send():
        async with BrokerClient("127.0.0.1", port, "session-test") as client:
            with trio.fail_after(GUARD_S):
                return await client.send(ApiKey.FETCH, VERSION, request)

    return trio.run(send)


def answered(response) -> dict[int, tuple[int, int, int]]:
    """partition -> (error, high watermark, bytes of records)."""
    return {
        p.partition_index: (p.error_code, p.high_watermark, len(p.records or b""))
        for t in response.responses
        for p in t.partitions
    }


def open_session(port: int, topic: str, offsets: dict[int, int]):
    response = fetch(port, topic, offsets, epoch=0)
    assert response.error_code == 0
    assert response.session_id != 0
    return response


def test_incremental_fetches_answer_only_changed_partitions(broker):
    topic = "sessions"
    create_topic(broker.bootstrap, topic, 10)
    produce(broker.bootstrap, topic, list(range(10)))
    full = open_session(broker.port, topic, dict.fromkeys(range(10), 0))
    session = full.session_id
    assert sorted(answered(full)) == list(range(10))
    assert all(size > 0 and hw == 1 for _, hw, size in answered(full).values())

    # The consumer moved past the record in every partition: nothing changed.
    quiet = fetch(broker.port, topic, dict.fromkeys(range(10), 1), session_id=session, epoch=1)
    assert (quiet.error_code, quiet.session_id, answered(quiet)) == (0, session, {})

    produce(broker.bootstrap, topic, [3])
    # Nothing to tell the broker: the session holds the fetch offsets.
    news = fetch(broker.port, topic, {}, session_id=session, epoch=2)
    assert news.session_id == session
    assert list(answered(news)) == [3]
    error, high_watermark, size = answered(news)[3]
    assert (error, high_watermark) == (0, 2) and size > 0

    # Partition 3 forgotten: its news no longer comes, partition 4's does.
    produce(broker.bootstrap, topic, [3, 4])
    forgot = fetch(broker.port, topic, {}, session_id=session, epoch=3, forgotten=[3])
    assert list(answered(forgot)) == [4]
    # Added back at its new offset: answered once (new to the session).
    back = fetch(broker.port, topic, {3: 3, 4: 2}, session_id=session, epoch=4)
    assert list(answered(back)) == [3]
    assert answered(back)[3][2] == 0  # at the log end: no records, the watermark news


def test_session_errors_and_close(broker):
    topic = "session-errors"
    create_topic(broker.bootstrap, topic, 2)
    session = open_session(broker.port, topic, {0: 0, 1: 0}).session_id

    wrong = fetch(broker.port, topic, {}, session_id=session, epoch=5)
    assert wrong.error_code == ErrorCode.INVALID_FETCH_SESSION_EPOCH
    assert (wrong.session_id, wrong.responses) == (0, [])
    unknown = fetch(broker.port, topic, {}, session_id=session ^ 0x5A5A, epoch=1)
    assert unknown.error_code == ErrorCode.FETCH_SESSION_ID_NOT_FOUND
    assert (unknown.session_id, unknown.responses) == (0, [])
    # The errors left the session as it was.
    assert fetch(broker.port, topic, {}, session_id=session, epoch=1).error_code == 0

    # Epoch -1 closes it and is answered as a sessionless full fetch.
    closing = fetch(broker.port, topic, {0: 0, 1: 0}, session_id=session, epoch=-1)
    assert (closing.error_code, closing.session_id) == (0, 0)
    assert sorted(answered(closing)) == [0, 1]
    gone = fetch(broker.port, topic, {}, session_id=session, epoch=2)
    assert gone.error_code == ErrorCode.FETCH_SESSION_ID_NOT_FOUND

    # Sessionless (id 0, epoch -1) creates nothing and answers everything every time.
    for _ in range(2):
        plain = fetch(broker.port, topic, {0: 0, 1: 0})
        assert (plain.error_code, plain.session_id, sorted(answered(plain))) == (0, 0, [0, 1])

    # A session whose last partition is forgotten is closed.
    session = open_session(broker.port, topic, {0: 0}).session_id
    emptied = fetch(broker.port, topic, {}, session_id=session, epoch=1, forgotten=[0])
    assert (emptied.error_code, emptied.session_id) == (0, 0)
    gone = fetch(broker.port, topic, {}, session_id=session, epoch=2)
    assert gone.error_code == ErrorCode.FETCH_SESSION_ID_NOT_FOUND


def test_full_cache_evicts_for_followers_only(broker_factory):
    broker = broker_factory(max_incremental_fetch_session_cache_slots=2)
    topic = "session-eviction"
    create_topic(broker.bootstrap, topic, 3)
    small = open_session(broker.port, topic, {0: 0}).session_id
    large = open_session(broker.port, topic, {0: 0, 1: 0}).session_id

    # Full, and both sessions are new: a consumer gets no session, but its answer.
    refused = fetch(broker.port, topic, {0: 0, 1: 0, 2: 0}, epoch=0)
    assert (refused.error_code, refused.session_id) == (0, 0)
    assert sorted(answered(refused)) == [0, 1, 2]

    # A follower's session (privileged) evicts the consumer session with fewest partitions.
    follower = fetch(broker.port, topic, {0: 0}, epoch=0, replica_id=7)
    assert follower.session_id not in (0, small, large)
    evicted = fetch(broker.port, topic, {}, session_id=small, epoch=1)
    assert evicted.error_code == ErrorCode.FETCH_SESSION_ID_NOT_FOUND
    kept = fetch(broker.port, topic, {}, session_id=large, epoch=1)
    assert (kept.error_code, kept.session_id) == (0, large)


def test_incremental_fetch_waits_on_the_whole_session(broker):
    topic = "session-wait"
    create_topic(broker.bootstrap, topic, 4)
    session = open_session(broker.port, topic, dict.fromkeys(range(4), 0)).session_id
    # The request names no partition; a record on partition 2 must end the wait.
    stop = threading.Event()

    def produce_until_stopped() -> None:
        while not stop.wait(0.2):
            produce(broker.bootstrap, topic, [2])

    producer = threading.Thread(target=produce_until_stopped)
    producer.start()
    try:
        waited = fetch(broker.port, topic, {}, session_id=session, epoch=1, max_wait_ms=20_000)
    finally:
        stop.set()
        producer.join()
    assert waited.error_code == 0
    assert list(answered(waited)) == [2]
    # Records: woken by them (a wait that ran out would answer the first, empty read).
    assert answered(waited)[2][2] > 0


def test_kafka_python_consumes_200_partitions_through_a_session(broker):
    topic = "session-many"
    partitions = 200
    create_topic(broker.bootstrap, topic, partitions)
    produce(broker.bootstrap, topic, list(range(partitions)), count=2)
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
    )
    consumer.assign([KpTopicPartition(topic, p) for p in range(partitions)])
    try:
        seen: dict[int, list[int]] = {}

        def consume_until(total: int) -> None:
            deadline = time.monotonic() + 60
            while sum(map(len, seen.values())) < total and time.monotonic() < deadline:
                for batch in consumer.poll(timeout_ms=200).values():
                    for record in batch:
                        seen.setdefault(record.partition, []).append(record.offset)

        consume_until(2 * partitions)
        assert seen == {p: [0, 1] for p in range(partitions)}
        sessions = broker.broker.components.fetch_sessions
        [session] = [s for s in list(sessions.sessions.values()) if len(s.partitions) == partitions]
        # More records later come through the incremental fetches.
        produce(broker.bootstrap, topic, [5, 150])
        consume_until(2 * partitions + 2)
        assert seen[5] == [0, 1, 2] and seen[150] == [0, 1, 2]
        assert sum(map(len, seen.values())) == 2 * partitions + 2
        assert sessions.get(session.id) is session
        assert session.epoch > 1  # they came through incremental fetches of that session
    finally:
        consumer.close()
