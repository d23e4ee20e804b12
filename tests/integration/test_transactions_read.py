"""Transactions, the read side, on a real broker: the last stable offset, read_committed
consumers (confluent-kafka, isolation.level=read_committed), the aborted transactions a
read_committed Fetch lists, ListOffsets under read_committed, DescribeProducers and
producer id expiration.

No client can write transaction markers without a transaction coordinator, so the
transactional batches and their markers are appended on the broker's own loop through
its ReplicaManager (`BrokerHandle.call`): the data as a Produce would (AppendOrigin.
CLIENT), the markers as WriteTxnMarkers does (AppendOrigin.COORDINATOR). Everything
else goes over TCP.
"""

from __future__ import annotations

import time
import uuid

import trio
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer
from kafka import TopicPartition as KpTopicPartition

from kafka_compat.cluster.client import BrokerClient
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.records import build_batch, build_end_txn_marker
from storage.log import AppendOrigin
from tests.integration.test_producer_ids import new_producer_id

GUARD_S = 60

FetchRequest = messages.request_type(ApiKey.FETCH)
ListOffsetsRequest = messages.request_type(ApiKey.LIST_OFFSETS)
DescribeProducersRequest = messages.request_type(ApiKey.DESCRIBE_PRODUCERS)
READ_UNCOMMITTED, READ_COMMITTED = 0, 1
NOT_EXPIRING = {"producer_id_expiration_ms": 86400000}


def _topic() -> str:
    return "txn-" + uuid.uuid4().hex[:8]


class Txn:
    """One transactional producer's batches and markers, appended in the broker."""

    def __init__(self, handle, topic: str, producer_id: int, timestamp: int | None = None):
        self.handle = handle
        self.topic = topic
        self.producer_id = producer_id
        self.sequence = 0
        self.timestamp = timestamp

    async def _append(self, data: bytes, origin: AppendOrigin) -> int:
        async def append():
            manager = self.handle.broker.replica_manager
            results = await manager.append_records(
                {(self.topic, 0): data}, required_acks=-1, timeout_ms=10_000, origin=origin
            )
            return results[(self.topic, 0)]

        result = await trio.to_thread.run_sync(self.handle.call, append)
        assert result.error_code == 0, result
        return result.info.first_offset

    async def send(self, *values: bytes) -> int:
        """Transactional data (as a Produce would append it); its first offset."""
        ts = self.timestamp or int(time.time() * 1000)
        data = build_batch(
            [(b"k", value, [], ts) for value in values],
            producer_id=self.producer_id,
            producer_epoch=0,
            base_sequence=self.sequence,
            transactional=True,
        )
        self.sequence += len(values)
        return await self._append(data, AppendOrigin.CLIENT)

    async def end(self, commit: bool, coordinator_epoch: int = 3) -> int:
        data = build_end_txn_marker(
            commit=commit,
            producer_id=self.producer_id,
            producer_epoch=0,
            coordinator_epoch=coordinator_epoch,
            timestamp=self.timestamp or int(time.time() * 1000),
        )
        return await self._append(data, AppendOrigin.COORDINATOR)


async def _plain(handle, topic: str, *values: bytes) -> None:
    def produce():
        producer = Producer({"bootstrap.servers": handle.bootstrap, "linger.ms": 0})
        for value in values:
            producer.produce(topic, value=value, partition=0)
            producer.flush(GUARD_S)  # one batch each, in order
        assert len(producer) == 0

    await trio.to_thread.run_sync(produce)


async def _create(handle, topic: str) -> None:
    def create():
        admin = AdminClient({"bootstrap.servers": handle.bootstrap})
        futures = admin.create_topics([NewTopic(topic, 1, 1)])
        futures[topic].result(GUARD_S)

    await trio.to_thread.run_sync(create)


async def _request(handle, api_key: int, version: int, request):
    async with BrokerClient("127.0.0.1", handle.port, "txn-test") as client:
        with trio.fail_after(GUARD_S):
            return await client.send(api_key, version, request)


def _fetch(topic: str, offset: int, isolation: int, max_wait_ms: int = 0):
    return FetchRequest(
        replica_id=-1,
        max_wait_ms=max_wait_ms,
        min_bytes=1,
        max_bytes=1 << 20,
        isolation_level=isolation,
        topics=[
            FetchRequest.FetchTopic(
                topic=topic,
                partitions=[
                    FetchRequest.FetchPartition(
                        partition=0,
                        current_leader_epoch=-1,
                        fetch_offset=offset,
                        log_start_offset=-1,
                        partition_max_bytes=1 << 20,
                    )
                ],
            )
        ],
    )


async def _fetch_partition(handle, topic, offset, isolation, version=12, max_wait_ms=0):
    response = await _request(
        handle, ApiKey.FETCH, version, _fetch(topic, offset, isolation, max_wait_ms)
    )
    (part,) = response.responses[0].partitions
    assert part.error_code == 0
    return part


async def _latest(handle, topic: str, isolation: int) -> int:
    request = ListOffsetsRequest(
        replica_id=-1,
        isolation_level=isolation,
        topics=[
            ListOffsetsRequest.ListOffsetsTopic(
                name=topic,
                partitions=[
                    ListOffsetsRequest.ListOffsetsPartition(
                        partition_index=0, current_leader_epoch=-1, timestamp=-1
                    )
                ],
            )
        ],
    )
    response = await _request(handle, ApiKey.LIST_OFFSETS, 7, request)
    (part,) = response.topics[0].partitions
    assert part.error_code == 0
    return part.offset


def _consume(bootstrap: str, topic: str, isolation: str, wanted: int, settle_s: float = 0):
    """Values (offset, value) a fresh consumer reads from the start: until it has
    `wanted`, then `settle_s` more seconds to show that nothing else comes."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "g-" + uuid.uuid4().hex[:6],
            "isolation.level": isolation,
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 100,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = []
    try:
        deadline = time.monotonic() + GUARD_S
        while len(got) < wanted and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and not message.error():
                got.append((message.offset(), message.value()))
        settle = time.monotonic() + settle_s
        while time.monotonic() < settle:
            message = consumer.poll(0.2)
            if message is not None and not message.error():
                got.append((message.offset(), message.value()))
    finally:
        consumer.close()
    return got


def _consume_kafka_python(bootstrap: str, topic: str, isolation: str, wanted: int):
    """(offset, value) pairs kafka-python's consumer reads from the start."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level=isolation,
        enable_auto_commit=False,
        consumer_timeout_ms=int(GUARD_S * 1000),
    )
    consumer.assign([KpTopicPartition(topic, 0)])
    consumer.seek(KpTopicPartition(topic, 0), 0)
    got = []
    try:
        for message in consumer:
            got.append((message.offset, message.value))
            if len(got) >= wanted:
                break
        end = consumer.end_offsets([KpTopicPartition(topic, 0)])
    finally:
        consumer.close()
    return got, end[KpTopicPartition(topic, 0)]


async def _new_producer_id(handle) -> int:
    return await new_producer_id(handle.port)


async def test_an_open_transaction_holds_read_committed_consumers_at_the_lso(broker):
    topic = _topic()
    await _create(broker, topic)
    await _plain(broker, topic, b"p0", b"p1", b"p2")  # 0-2
    txn = Txn(broker, topic, await _new_producer_id(broker))
    assert await txn.send(b"t3", b"t4") == 3
    await _plain(broker, topic, b"p5", b"p6")  # 5-6
    assert await _latest(broker, topic, READ_UNCOMMITTED) == 7
    assert await _latest(broker, topic, READ_COMMITTED) == 3

    everything = await trio.to_thread.run_sync(
        _consume, broker.bootstrap, topic, "read_uncommitted", 7
    )
    assert [v for _, v in everything] == [b"p0", b"p1", b"p2", b"t3", b"t4", b"p5", b"p6"]
    committed = await trio.to_thread.run_sync(
        _consume, broker.bootstrap, topic, "read_committed", 3, 1.0
    )
    assert committed == [(0, b"p0"), (1, b"p1"), (2, b"p2")]
    committed, end = await trio.to_thread.run_sync(
        _consume_kafka_python, broker.bootstrap, topic, "read_committed", 3
    )
    assert committed == [(0, b"p0"), (1, b"p1"), (2, b"p2")] and end == 3
    part = await _fetch_partition(broker, topic, 3, READ_COMMITTED)
    assert (part.high_watermark, part.last_stable_offset) == (7, 3)
    assert part.aborted_transactions == [] and not part.records

    assert await txn.end(commit=True) == 7
    assert await _latest(broker, topic, READ_COMMITTED) == 8
    committed = await trio.to_thread.run_sync(
        _consume, broker.bootstrap, topic, "read_committed", 7
    )
    assert [v for _, v in committed] == [b"p0", b"p1", b"p2", b"t3", b"t4", b"p5", b"p6"]


async def test_aborted_transactions_are_listed_and_skipped_by_read_committed_consumers(
    broker_factory,
):
    broker = broker_factory(**NOT_EXPIRING)
    topic = _topic()
    await _create(broker, topic)
    first = Txn(broker, topic, await _new_producer_id(broker))
    second = Txn(broker, topic, await _new_producer_id(broker))
    assert await first.send(b"a0", b"a1") == 0
    await _plain(broker, topic, b"p2")
    assert await second.send(b"c3") == 3
    assert await first.end(commit=False) == 4
    assert await second.end(commit=True) == 5
    await _plain(broker, topic, b"p6")

    async def check() -> None:
        for version in (4, 12):
            part = await _fetch_partition(broker, topic, 0, READ_COMMITTED, version)
            assert (part.high_watermark, part.last_stable_offset) == (7, 7)
            assert [(a.producer_id, a.first_offset) for a in part.aborted_transactions] == [
                (first.producer_id, 0)
            ]
            assert part.records  # aborted data and markers too: the client drops them
            part = await _fetch_partition(broker, topic, 5, READ_COMMITTED, version)
            assert part.aborted_transactions == []
            part = await _fetch_partition(broker, topic, 0, READ_UNCOMMITTED, version)
            assert part.aborted_transactions is None
        committed = await trio.to_thread.run_sync(
            _consume, broker.bootstrap, topic, "read_committed", 3, 1.0
        )
        assert committed == [(2, b"p2"), (3, b"c3"), (6, b"p6")]
        committed, end = await trio.to_thread.run_sync(
            _consume_kafka_python, broker.bootstrap, topic, "read_committed", 3
        )
        assert committed == [(2, b"p2"), (3, b"c3"), (6, b"p6")] and end == 7
        everything = await trio.to_thread.run_sync(
            _consume, broker.bootstrap, topic, "read_uncommitted", 5
        )
        assert [v for _, v in everything] == [b"a0", b"a1", b"p2", b"c3", b"p6"]

    await check()
    await trio.to_thread.run_sync(broker.restart)  # the .txnindex is read back
    await check()


async def test_a_read_committed_fetch_parked_at_the_lso_wakes_when_the_commit_is_written(
    broker,
):
    topic = _topic()
    await _create(broker, topic)
    txn = Txn(broker, topic, await _new_producer_id(broker))
    await txn.send(b"t0", b"t1")
    answer = {}

    async def parked_fetch():
        answer["part"] = await _fetch_partition(
            broker, topic, 0, READ_COMMITTED, max_wait_ms=10 * GUARD_S * 1000
        )

    async def waiters() -> int:
        return len(broker.broker.replica_manager.get_partition(topic, 0)._hw_waiters)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(parked_fetch)
        with trio.fail_after(GUARD_S):
            while not await trio.to_thread.run_sync(broker.call, waiters):
                await trio.sleep(0.01)
        # The high watermark moves, the LSO does not: the fetch stays parked.
        await _plain(broker, topic, b"p2")  # woke the fetch, which parks again
        with trio.fail_after(GUARD_S):
            while "part" not in answer and not await trio.to_thread.run_sync(broker.call, waiters):
                await trio.sleep(0.01)
        assert "part" not in answer
        await txn.end(commit=True)
    part = answer["part"]
    assert (part.high_watermark, part.last_stable_offset) == (4, 4)
    assert part.aborted_transactions == []
    assert part.records


async def test_describe_producers_reports_each_producers_state(broker):
    topic = _topic()
    await _create(broker, topic)
    txn = Txn(broker, topic, await _new_producer_id(broker))
    await txn.send(b"t0", b"t1", b"t2")
    await _plain(broker, topic, b"p3")

    async def describe(name: str = topic):
        request = DescribeProducersRequest(
            topics=[DescribeProducersRequest.TopicRequest(name=name, partition_indexes=[0, 7])]
        )
        response = await _request(broker, ApiKey.DESCRIBE_PRODUCERS, 0, request)
        return response.topics[0].partitions

    ok, unknown = await describe()
    assert unknown.error_code == 3  # UNKNOWN_TOPIC_OR_PARTITION
    (state,) = [p for p in ok.active_producers if p.producer_id == txn.producer_id]
    assert (state.producer_epoch, state.last_sequence, state.current_txn_start_offset) == (
        0,
        2,
        0,
    )
    assert state.coordinator_epoch == -1 and state.last_timestamp > 0
    await txn.end(commit=False, coordinator_epoch=5)
    ok, _ = await describe()
    (state,) = [p for p in ok.active_producers if p.producer_id == txn.producer_id]
    assert (state.coordinator_epoch, state.current_txn_start_offset) == (5, -1)
    missing = await describe("no-such-topic-" + uuid.uuid4().hex[:6])
    assert [p.error_code for p in missing] == [3, 3]


async def test_idle_producers_expire_while_the_broker_runs_unless_a_transaction_is_open(
    broker_factory,
):
    broker = broker_factory(
        producer_id_expiration_ms=60_000, producer_id_expiration_check_interval_ms=50
    )
    topic = _topic()
    await _create(broker, topic)
    old = int(time.time() * 1000) - 3_600_000  # idle for an hour by its timestamps
    idle = Txn(broker, topic, await _new_producer_id(broker), timestamp=old)
    await idle.send(b"i0")
    await idle.end(commit=True)
    open_txn = Txn(broker, topic, await _new_producer_id(broker), timestamp=old)
    await open_txn.send(b"o0")

    async def producers() -> set[int]:
        request = DescribeProducersRequest(
            topics=[DescribeProducersRequest.TopicRequest(name=topic, partition_indexes=[0])]
        )
        response = await _request(broker, ApiKey.DESCRIBE_PRODUCERS, 0, request)
        return {p.producer_id for p in response.topics[0].partitions[0].active_producers}

    with trio.fail_after(GUARD_S):
        while idle.producer_id in await producers():
            await trio.sleep(0.05)
    assert open_txn.producer_id in await producers()


async def test_a_client_may_not_produce_transaction_markers(broker):
    topic = _topic()
    await _create(broker, topic)
    ProduceRequest = messages.request_type(ApiKey.PRODUCE)
    marker = build_end_txn_marker(
        commit=True,
        producer_id=await _new_producer_id(broker),
        producer_epoch=0,
        coordinator_epoch=0,
        timestamp=int(time.time() * 1000),
    )
    request = ProduceRequest(
        transactional_id=None,
        acks=-1,
        timeout_ms=10_000,
        topic_data=[
            ProduceRequest.TopicProduceData(
                name=topic,
                partition_data=[ProduceRequest.PartitionProduceData(index=0, records=marker)],
            )
        ],
    )
    response = await _request(broker, ApiKey.PRODUCE, 9, request)
    (part,) = response.responses[0].partition_responses
    assert part.error_code == 87  # INVALID_RECORD, as Kafka's LogValidator
    assert await _latest(broker, topic, READ_UNCOMMITTED) == 0
