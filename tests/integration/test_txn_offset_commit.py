"""TxnOffsetCommit over TCP, with our codec as the client (every version 0-4).

Offsets committed in a transaction stay pending: OffsetFetch still answers the last
committed offset, and with RequireStable (v7+) UNSTABLE_OFFSET_COMMIT for the
partition, until the transaction coordinator's marker lands in __consumer_offsets.
The WriteTxnMarkers handler is not part of this suite; the tests append the marker
inside the broker's own Trio loop as that handler does, and tell the group
coordinator. KIP-447 checks run against a group joined over the wire, and against a
confluent-kafka consumer's group.
"""

from __future__ import annotations

import struct
import time

import pytest
import trio
from confluent_kafka import Consumer, Producer, TopicPartition

from kafka_compat.tools.connection import Connection
from kafka_compat.topics import OFFSETS_TOPIC
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from protocol.records import build_end_txn_marker
from storage.log import AppendOrigin

GUARD_S = 30.0
TOPIC = "txn-topic"
PID, EPOCH = 4000, 0
TXN_COMMIT, FETCH, JOIN, SYNC = (
    ApiKey.TXN_OFFSET_COMMIT,
    ApiKey.OFFSET_FETCH,
    ApiKey.JOIN_GROUP,
    ApiKey.SYNC_GROUP,
)
UNSTABLE = ErrorCode.UNSTABLE_OFFSET_COMMIT


def req(api_key: int, **fields):
    return messages.request_type(api_key)(**fields)


@pytest.fixture
def broker(broker_factory):
    # The group side alone: the made-up producer PID has no transaction coordinator
    # state, so KIP-890's check (tested at the end, on a verifying broker) is off.
    return broker_factory(
        group_initial_rebalance_delay_ms="0",
        num_partitions="2",
        transaction_partition_verification_enable="false",
    )


@pytest.fixture
def verifying_broker(broker_factory):
    return broker_factory(group_initial_rebalance_delay_ms="0", num_partitions="2")


def connect(broker) -> Connection:
    host, port = broker.bootstrap.rsplit(":", 1)
    conn = Connection(host, int(port), GUARD_S)
    Metadata = messages.request_type(ApiKey.METADATA)
    # Auto-create the topic the offsets are for.
    conn.request(ApiKey.METADATA, Metadata(topics=[Metadata.MetadataRequestTopic(name=TOPIC)]))
    return conn


@pytest.fixture
def conn(broker):
    with connect(broker) as connection:
        yield connection


def txn_commit(conn, group, offsets, version=4, *, pid=PID, epoch=EPOCH, txn_id="txn-id", **fields):
    """{partition: error} for TxnOffsetCommit of {partition: offset} on TOPIC."""
    Request = messages.request_type(TXN_COMMIT)
    topic = Request.TxnOffsetCommitRequestTopic(
        name=TOPIC,
        partitions=[
            Request.TxnOffsetCommitRequestPartition(
                partition_index=p, committed_offset=o, committed_metadata=f"txn-{o}"
            )
            for p, o in offsets.items()
        ],
    )
    answer = conn.request(
        TXN_COMMIT,
        req(
            TXN_COMMIT,
            transactional_id=txn_id,
            group_id=group,
            producer_id=pid,
            producer_epoch=epoch,
            topics=[topic],
            **fields,
        ),
        version,
    )
    return {p.partition_index: p.error_code for t in answer.topics for p in t.partitions}


def fetch(conn, group, version=7, require_stable=False):
    """{partition: (offset, error)} for partitions 0 and 1 of TOPIC."""
    Request = messages.request_type(FETCH)
    if version >= 8:
        body = req(
            FETCH,
            groups=[
                Request.OffsetFetchRequestGroup(
                    group_id=group,
                    topics=[Request.OffsetFetchRequestTopics(name=TOPIC, partition_indexes=[0, 1])],
                )
            ],
            require_stable=require_stable,
        )
        answer = conn.request(FETCH, body, version)
        assert answer.groups[0].error_code == 0
        topics = answer.groups[0].topics
    else:
        body = req(
            FETCH,
            group_id=group,
            topics=[Request.OffsetFetchRequestTopic(name=TOPIC, partition_indexes=[0, 1])],
            require_stable=require_stable,
        )
        answer = conn.request(FETCH, body, version)
        assert answer.error_code == 0
        topics = answer.topics
    return {
        p.partition_index: (p.committed_offset, p.error_code) for t in topics for p in t.partitions
    }


def complete(broker, group: str, *, commit: bool, pid=PID, epoch=EPOCH) -> None:
    """What WriteTxnMarkers does for __consumer_offsets, in the broker's Trio loop."""
    coordinator = broker.broker.group_coordinator

    async def write_marker() -> None:
        index = coordinator.partition_for(group)
        key = (OFFSETS_TOPIC, index)
        marker = build_end_txn_marker(
            commit=commit, producer_id=pid, producer_epoch=epoch, coordinator_epoch=0, timestamp=0
        )
        result = await broker.broker.replica_manager.append_records(
            {key: marker}, required_acks=-1, timeout_ms=5000, origin=AppendOrigin.COORDINATOR
        )
        assert result[key].error_code == 0
        coordinator.complete_txn_offsets(pid, {index}, commit)

    trio.from_thread.run(write_marker, trio_token=broker.trio_token)


def wait_loaded(broker) -> None:
    """Until the restarted broker has read __consumer_offsets back."""
    trio.from_thread.run(broker.broker.group_coordinator.wait_loaded, trio_token=broker.trio_token)


@pytest.mark.parametrize("version", range(5))
def test_pending_until_the_marker_at_each_version(broker, conn, version):
    assert conn.versions[TXN_COMMIT] == (0, 4)  # ApiVersions
    group = f"txn-{version}"
    assert txn_commit(conn, group, {0: 10, 1: 11, 7: 1}, version) == {
        0: 0,
        1: 0,
        7: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    }
    # Not committed yet: invisible, and unstable to those who ask for stable offsets.
    assert fetch(conn, group) == {0: (-1, 0), 1: (-1, 0)}
    assert fetch(conn, group, require_stable=True) == {0: (-1, UNSTABLE), 1: (-1, UNSTABLE)}
    assert fetch(conn, group, 8, require_stable=True) == {0: (-1, UNSTABLE), 1: (-1, UNSTABLE)}
    complete(broker, group, commit=True)
    assert fetch(conn, group, require_stable=True) == {0: (10, 0), 1: (11, 0)}
    assert fetch(conn, group, 8, require_stable=True) == {0: (10, 0), 1: (11, 0)}


def test_an_aborted_transaction_leaves_the_committed_offsets(broker, conn):
    Commit = messages.request_type(ApiKey.OFFSET_COMMIT)
    committed = conn.request(
        ApiKey.OFFSET_COMMIT,
        req(
            ApiKey.OFFSET_COMMIT,
            group_id="aborting",
            generation_id_or_member_epoch=-1,
            member_id="",
            topics=[
                Commit.OffsetCommitRequestTopic(
                    name=TOPIC,
                    partitions=[
                        Commit.OffsetCommitRequestPartition(partition_index=0, committed_offset=3)
                    ],
                )
            ],
        ),
    )
    assert committed.topics[0].partitions[0].error_code == 0
    assert txn_commit(conn, "aborting", {0: 10}) == {0: 0}
    assert fetch(conn, "aborting") == {0: (3, 0), 1: (-1, 0)}
    assert fetch(conn, "aborting", require_stable=True)[0] == (-1, UNSTABLE)
    complete(broker, "aborting", commit=False)
    assert fetch(conn, "aborting", require_stable=True) == {0: (3, 0), 1: (-1, 0)}


def test_errors_before_the_write(conn):
    assert txn_commit(conn, "", {0: 1}) == {0: ErrorCode.INVALID_GROUP_ID}
    # A commit older than the producer's epoch is fenced by the log's producer state.
    assert txn_commit(conn, "fenced", {0: 1}, epoch=2) == {0: 0}
    assert txn_commit(conn, "fenced", {0: 2}, epoch=1) == {0: ErrorCode.INVALID_PRODUCER_EPOCH}
    big = "x" * 5000  # offset.metadata.max.bytes is 4096
    Request = messages.request_type(TXN_COMMIT)
    answer = conn.request(
        TXN_COMMIT,
        req(
            TXN_COMMIT,
            transactional_id="t",
            group_id="big",
            producer_id=PID,
            producer_epoch=EPOCH,
            topics=[
                Request.TxnOffsetCommitRequestTopic(
                    name=TOPIC,
                    partitions=[
                        Request.TxnOffsetCommitRequestPartition(
                            partition_index=0, committed_offset=1, committed_metadata=big
                        )
                    ],
                )
            ],
        ),
    )
    assert answer.topics[0].partitions[0].error_code == ErrorCode.OFFSET_METADATA_TOO_LARGE


def subscription() -> bytes:
    cls = messages.data_type("ConsumerProtocolSubscription")
    return struct.pack(">h", 0) + messages.encode_data(
        "ConsumerProtocolSubscription", 0, cls(topics=[TOPIC])
    )


def join_group(conn, group: str, instance: str | None = None) -> tuple[str, int]:
    """Join and sync as the group's only member: (member id, generation)."""
    Join = messages.request_type(JOIN)

    def join(member_id: str):
        return conn.request(
            JOIN,
            req(
                JOIN,
                group_id=group,
                session_timeout_ms=30000,
                rebalance_timeout_ms=30000,
                member_id=member_id,
                group_instance_id=instance,
                protocol_type="consumer",
                protocols=[Join.JoinGroupRequestProtocol(name="range", metadata=subscription())],
            ),
        )

    joined = join("")
    if joined.error_code == ErrorCode.MEMBER_ID_REQUIRED:
        joined = join(joined.member_id)
    assert joined.error_code == 0
    Sync = messages.request_type(SYNC)
    synced = conn.request(
        SYNC,
        req(
            SYNC,
            group_id=group,
            generation_id=joined.generation_id,
            member_id=joined.member_id,
            group_instance_id=instance,
            assignments=[
                Sync.SyncGroupRequestAssignment(member_id=joined.member_id, assignment=b"")
            ],
        ),
    )
    assert synced.error_code == 0
    return joined.member_id, joined.generation_id


def test_kip_447_checks_the_member_against_the_group(conn):
    member, generation = join_group(conn, "members")

    def commit(**fields):
        return txn_commit(conn, "members", {0: 5}, 3, **fields)[0]

    assert commit(member_id=member, generation_id=generation + 1) == ErrorCode.ILLEGAL_GENERATION
    assert commit(member_id="stranger", generation_id=generation) == ErrorCode.UNKNOWN_MEMBER_ID
    assert commit(member_id=member, generation_id=generation) == 0
    # v2 names no member: a producer of an older client is not checked.
    assert txn_commit(conn, "members", {0: 6}, 2, pid=PID + 1)[0] == 0

    static_member, static_generation = join_group(conn, "static", instance="instance-1")
    fenced = txn_commit(
        conn,
        "static",
        {0: 5},
        3,
        member_id="an-older-member-id",
        group_instance_id="instance-1",
        generation_id=static_generation,
    )
    assert fenced == {0: ErrorCode.FENCED_INSTANCE_ID}
    accepted = txn_commit(
        conn,
        "static",
        {0: 5},
        3,
        member_id=static_member,
        group_instance_id="instance-1",
        generation_id=static_generation,
    )
    assert accepted == {0: 0}


def test_kip_447_with_a_confluent_kafka_consumer(broker, conn):
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": "confluent-group",
            "enable.auto.commit": False,
            "session.timeout.ms": 10000,
        }
    )
    try:
        consumer.subscribe([TOPIC])
        deadline = time.monotonic() + GUARD_S
        while not consumer.assignment():
            assert time.monotonic() < deadline, "the consumer never got its assignment"
            consumer.poll(0.1)
        member = consumer.memberid()
        # The group's first generation: one consumer, one join round.
        assert txn_commit(
            conn, "confluent-group", {0: 5}, 3, member_id=member, generation_id=1
        ) == {0: 0}
        wrong = txn_commit(conn, "confluent-group", {0: 5}, 3, member_id=member, generation_id=2)
        assert wrong == {0: ErrorCode.ILLEGAL_GENERATION}
        complete(broker, "confluent-group", commit=True)
        committed = consumer.committed([TopicPartition(TOPIC, 0)], timeout=GUARD_S)
        assert committed[0].offset == 5
    finally:
        consumer.close()


def test_pending_offsets_survive_a_restart_and_the_marker_commits_them(broker):
    with connect(broker) as conn:
        assert txn_commit(conn, "restart", {0: 10, 1: 11}) == {0: 0, 1: 0}
    broker.restart()
    wait_loaded(broker)
    with connect(broker) as conn:
        # Read back from the log: still pending for the producer.
        assert fetch(conn, "restart", require_stable=True) == {0: (-1, UNSTABLE), 1: (-1, UNSTABLE)}
        complete(broker, "restart", commit=True)
        assert fetch(conn, "restart", require_stable=True) == {0: (10, 0), 1: (11, 0)}
    broker.restart()
    wait_loaded(broker)
    with connect(broker) as conn:
        assert fetch(conn, "restart", require_stable=True) == {0: (10, 0), 1: (11, 0)}


def test_a_transactional_producer_commits_a_consumers_offsets(verifying_broker):
    """End to end: confluent-kafka's send_offsets_to_transaction with the consumer's
    group metadata (KIP-447)."""
    plain = Producer({"bootstrap.servers": verifying_broker.bootstrap})
    for i in range(10):
        plain.produce(TOPIC, f"r{i}".encode(), partition=0)
    assert plain.flush(GUARD_S) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": verifying_broker.bootstrap,
            "group.id": "eos",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    producer = Producer(
        {"bootstrap.servers": verifying_broker.bootstrap, "transactional.id": "eos-txn"}
    )
    try:
        consumer.subscribe([TOPIC])
        seen = 0
        deadline = time.monotonic() + GUARD_S
        while seen < 10:
            assert time.monotonic() < deadline, "the consumer did not get the records"
            message = consumer.poll(0.1)
            if message is not None and message.error() is None:
                seen += message.partition() == 0
        tp = TopicPartition(TOPIC, 0)
        producer.init_transactions(GUARD_S)
        for commit, offset in ((True, 10), (False, 5)):
            producer.begin_transaction()
            producer.produce(TOPIC, b"out", partition=1)
            producer.send_offsets_to_transaction(
                [TopicPartition(TOPIC, 0, offset)], consumer.consumer_group_metadata(), GUARD_S
            )
            if commit:
                producer.commit_transaction(GUARD_S)
            else:
                producer.abort_transaction(GUARD_S)
            assert consumer.committed([tp], timeout=GUARD_S)[0].offset == 10
    finally:
        consumer.close()


def _until_answered(call):
    """Retry while the transaction coordinator is being created or loaded."""
    deadline = time.monotonic() + GUARD_S
    while True:
        answer = call()
        if answer.error_code not in (
            ErrorCode.COORDINATOR_NOT_AVAILABLE,
            ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
            ErrorCode.NOT_COORDINATOR,
            ErrorCode.CONCURRENT_TRANSACTIONS,
        ):
            return answer
        assert time.monotonic() < deadline, f"still {ErrorCode(answer.error_code).name}"
        time.sleep(0.1)


def test_kip_890_offsets_need_the_group_added_to_the_transaction(verifying_broker):
    """A TxnOffsetCommit before AddOffsetsToTxn is refused and writes nothing; after
    it, the offsets are pending as usual."""
    with connect(verifying_broker) as conn:
        find = req(ApiKey.FIND_COORDINATOR, key_type=1, coordinator_keys=["verified"])
        _until_answered(lambda: conn.request(ApiKey.FIND_COORDINATOR, find, 4).coordinators[0])
        init = req(
            ApiKey.INIT_PRODUCER_ID, transactional_id="verified", transaction_timeout_ms=60000
        )
        ids = _until_answered(lambda: conn.request(ApiKey.INIT_PRODUCER_ID, init, 4))
        pid, epoch = ids.producer_id, ids.producer_epoch

        def commit():
            return txn_commit(
                conn, "verified-group", {0: 7}, pid=pid, epoch=epoch, txn_id="verified"
            )

        assert commit() == {0: ErrorCode.INVALID_TXN_STATE}
        assert fetch(conn, "verified-group", require_stable=True)[0] == (-1, 0)  # nothing pending
        add = req(
            ApiKey.ADD_OFFSETS_TO_TXN,
            transactional_id="verified",
            producer_id=pid,
            producer_epoch=epoch,
            group_id="verified-group",
        )
        added = _until_answered(lambda: conn.request(ApiKey.ADD_OFFSETS_TO_TXN, add, 3))
        assert added.error_code == 0
        assert commit() == {0: 0}
        assert fetch(conn, "verified-group", require_stable=True)[0] == (-1, UNSTABLE)
