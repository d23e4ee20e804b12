"""Transactions on a single broker, with real transactional producers.

The coordinator's side (kafka_compat/txn/): commit and abort end with a control
batch on each partition (an offset read_uncommitted consumers skip), the states
DescribeTransactions and ListTransactions show, fencing by a second producer with the
same transactional id, the broker aborting a transaction left open past its timeout,
state that survives a restart (including a commit whose markers were not yet
written), KIP-890's refusal of a batch for a partition never added to the
transaction, and kafka-python's and aiokafka's transactional producers.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import trio
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from kafka_compat.cluster.client import BrokerClient
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from protocol.records import build_batch

GUARD_S = 60.0


def wait_until(condition: Callable[[], bool], what: Callable[[], str] | str) -> None:
    """Poll `condition` until true; the guard only turns a hang into a failure."""
    deadline = time.monotonic() + GUARD_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(what() if callable(what) else what)
        time.sleep(0.05)


def producer(bootstrap: str, transactional_id: str, **extra) -> Producer:
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": transactional_id, **extra})
    p.init_transactions(GUARD_S)
    return p


def consume_all(bootstrap: str, topic: str, isolation: str, expected_end: int | None = None):
    """Every record of partition 0 a consumer of this isolation level gets, as values."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{isolation}-{time.monotonic_ns()}",
            "isolation.level": isolation,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    values = []
    deadline = time.monotonic() + GUARD_S
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                if message.error().code() == -191:  # _PARTITION_EOF
                    position = consumer.position([TopicPartition(topic, 0)])[0].offset
                    if expected_end is None or position >= expected_end:
                        return values
                    continue
                raise KafkaException(message.error())
            values.append(message.value())
        raise AssertionError(f"no end of partition seen; got {values}")
    finally:
        consumer.close()


def high_watermark(bootstrap: str, topic: str) -> int:
    # read_uncommitted: librdkafka's default (read_committed) would answer the LSO.
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "watermarks",
            "isolation.level": "read_uncommitted",
        }
    )
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=GUARD_S)[1]
    finally:
        consumer.close()


async def _send(port: int, api_key: int, version: int, request):
    async with BrokerClient("127.0.0.1", port, "test") as client:
        with trio.fail_after(GUARD_S):
            return await client.send(api_key, version, request)


def send(port: int, api_key: int, version: int, request):
    return trio.run(_send, port, api_key, version, request)


def describe(port: int, transactional_id: str):
    """DescribeTransactions for one id, retried while the coordinator loads (after a
    restart), as a client does."""
    request = messages.request_type(ApiKey.DESCRIBE_TRANSACTIONS)(
        transactional_ids=[transactional_id]
    )
    found = []

    def loaded() -> bool:
        found[:] = send(port, ApiKey.DESCRIBE_TRANSACTIONS, 0, request).transaction_states
        return found[0].error_code != ErrorCode.COORDINATOR_LOAD_IN_PROGRESS

    wait_until(loaded, f"the coordinator of {transactional_id} never loaded")
    return found[0]


def list_transactions(port: int, states=(), producer_ids=(), duration=-1):
    request = messages.request_type(ApiKey.LIST_TRANSACTIONS)(
        state_filters=list(states), producer_id_filters=list(producer_ids), duration_filter=duration
    )
    response = send(port, ApiKey.LIST_TRANSACTIONS, 1, request)
    assert response.error_code == 0
    return {
        s.transactional_id: (s.producer_id, s.transaction_state)
        for s in response.transaction_states
    }


def wait_for_state(port: int, transactional_id: str, state: str):
    found = []

    def reached() -> bool:
        found[:] = [describe(port, transactional_id)]
        return found[0].error_code == 0 and found[0].transaction_state == state

    wait_until(reached, lambda: f"{transactional_id} never reached {state}: {found}")
    return found[0]


# ---- commit and abort ----------------------------------------------------------------


def test_commit_writes_the_records_and_a_commit_marker(broker):
    p = producer(broker.bootstrap, "committer")
    p.begin_transaction()
    for i in range(10):
        p.produce("committed", value=b"c%d" % i)
    p.commit_transaction(GUARD_S)
    # Ten records and the COMMIT control batch, which consumers never see.
    assert high_watermark(broker.bootstrap, "committed") == 11
    assert consume_all(broker.bootstrap, "committed", "read_uncommitted") == [
        b"c%d" % i for i in range(10)
    ]
    state = wait_for_state(broker.port, "committer", "CompleteCommit")
    assert state.topics == []
    p.begin_transaction()
    p.produce("committed", value=b"second")
    p.flush(GUARD_S)
    ongoing = describe(broker.port, "committer")
    assert ongoing.transaction_state == "Ongoing"
    assert [(t.topic, t.partitions) for t in ongoing.topics] == [("committed", [0])]
    p.commit_transaction(GUARD_S)
    assert high_watermark(broker.bootstrap, "committed") == 13


def test_read_committed_consumers_see_committed_records_only(broker):
    p = producer(broker.bootstrap, "mixed")
    p.begin_transaction()
    p.produce("mixed", value=b"kept")
    p.commit_transaction(GUARD_S)
    p.begin_transaction()
    p.produce("mixed", value=b"dropped")
    p.flush(GUARD_S)
    p.abort_transaction(GUARD_S)
    p.begin_transaction()
    p.produce("mixed", value=b"kept too")
    p.commit_transaction(GUARD_S)
    assert consume_all(broker.bootstrap, "mixed", "read_committed", expected_end=6) == [
        b"kept",
        b"kept too",
    ]


def test_abort_writes_an_abort_marker_and_keeps_the_records_for_read_uncommitted(broker):
    p = producer(broker.bootstrap, "aborter")
    p.begin_transaction()
    for i in range(5):
        p.produce("aborted", value=b"a%d" % i)
    p.flush(GUARD_S)
    p.abort_transaction(GUARD_S)
    assert high_watermark(broker.bootstrap, "aborted") == 6
    assert consume_all(broker.bootstrap, "aborted", "read_uncommitted") == [
        b"a%d" % i for i in range(5)
    ]
    wait_for_state(broker.port, "aborter", "CompleteAbort")
    assert list_transactions(broker.port, states=["CompleteAbort"]) == {
        "aborter": (describe(broker.port, "aborter").producer_id, "CompleteAbort")
    }


# ---- the coordinator's states and errors ---------------------------------------------


def test_list_transactions_filters_by_state_producer_id_and_duration(broker):
    a = producer(broker.bootstrap, "list-a")
    b = producer(broker.bootstrap, "list-b")
    a.begin_transaction()
    a.produce("listed", value=b"x")
    a.flush(GUARD_S)
    id_a = describe(broker.port, "list-a").producer_id
    id_b = describe(broker.port, "list-b").producer_id
    assert list_transactions(broker.port) == {
        "list-a": (id_a, "Ongoing"),
        "list-b": (id_b, "Empty"),
    }
    assert list_transactions(broker.port, states=["Ongoing"]) == {"list-a": (id_a, "Ongoing")}
    assert list_transactions(broker.port, producer_ids=[id_b]) == {"list-b": (id_b, "Empty")}
    # Running longer than an hour: none of the open ones.
    assert "list-a" not in list_transactions(broker.port, duration=3_600_000)
    request = messages.request_type(ApiKey.LIST_TRANSACTIONS)(
        state_filters=["NoSuchState"], producer_id_filters=[]
    )
    response = send(broker.port, ApiKey.LIST_TRANSACTIONS, 0, request)
    assert response.unknown_state_filters == ["NoSuchState"]
    assert response.transaction_states == []
    a.abort_transaction(GUARD_S)
    b.flush(0)


def test_find_coordinator_describe_an_unknown_id_and_a_timeout_too_long(broker_factory):
    broker = broker_factory(transaction_max_timeout_ms=10000)
    request = messages.request_type(ApiKey.INIT_PRODUCER_ID)(
        transactional_id="too-long", transaction_timeout_ms=20000, producer_id=-1, producer_epoch=-1
    )
    response = send(broker.port, ApiKey.INIT_PRODUCER_ID, 4, request)
    assert response.error_code == ErrorCode.INVALID_TRANSACTION_TIMEOUT
    find = messages.request_type(ApiKey.FIND_COORDINATOR)(key_type=1, coordinator_keys=["a", "b"])
    coordinators = send(broker.port, ApiKey.FIND_COORDINATOR, 4, find).coordinators
    assert [(c.key, c.error_code, c.port) for c in coordinators] == [
        ("a", 0, broker.port),
        ("b", 0, broker.port),
    ]
    # FindCoordinator created __transaction_state: this broker serves every id.
    assert describe(broker.port, "nobody").error_code == ErrorCode.TRANSACTIONAL_ID_NOT_FOUND


def test_a_batch_for_a_partition_not_in_the_transaction_is_refused(broker):
    """KIP-890 part 1: a transactional batch the coordinator did not see added (a late
    or stray write) answers INVALID_TXN_STATE and is not stored."""
    p = producer(broker.bootstrap, "verified")
    p.begin_transaction()
    p.produce("stray", value=b"in the transaction")
    p.flush(GUARD_S)  # 'stray' partition 0 is in the transaction, created
    state = describe(broker.port, "verified")
    ProduceRequest = messages.request_type(ApiKey.PRODUCE)
    before = high_watermark(broker.bootstrap, "stray")

    def produce(partition_topic: str, epoch: int):
        batch = build_batch(
            [(None, b"stray", (), int(time.time() * 1000))],
            producer_id=state.producer_id,
            producer_epoch=epoch,
            base_sequence=0,
            transactional=True,
        )
        request = ProduceRequest(
            transactional_id="verified",
            acks=-1,
            timeout_ms=5000,
            topic_data=[
                ProduceRequest.TopicProduceData(
                    name=partition_topic,
                    partition_data=[ProduceRequest.PartitionProduceData(index=0, records=batch)],
                )
            ],
        )
        response = send(broker.port, ApiKey.PRODUCE, 9, request)
        return response.responses[0].partition_responses[0].error_code

    other = Producer({"bootstrap.servers": broker.bootstrap})
    other.produce("not-added", value=b"creates the topic")
    other.flush(GUARD_S)
    assert produce("not-added", state.producer_epoch) == ErrorCode.INVALID_TXN_STATE
    assert high_watermark(broker.bootstrap, "not-added") == 1
    assert produce("not-added", state.producer_epoch - 1 if state.producer_epoch else 5) in (
        ErrorCode.INVALID_PRODUCER_EPOCH,
    )
    assert high_watermark(broker.bootstrap, "stray") == before
    p.abort_transaction(GUARD_S)


# ---- fencing and timeouts ------------------------------------------------------------


def test_a_second_producer_with_the_same_id_fences_the_first(broker):
    first = producer(broker.bootstrap, "shared-id")
    first.begin_transaction()
    first.produce("fenced", value=b"from the first")
    first.flush(GUARD_S)
    epoch_before = describe(broker.port, "shared-id").producer_epoch

    second = producer(broker.bootstrap, "shared-id")  # aborts the first's transaction
    after = describe(broker.port, "shared-id")
    # One bump to fence (written with the abort), one for the new producer.
    assert after.producer_epoch == epoch_before + 2
    assert after.transaction_state in ("Empty", "CompleteAbort")

    with pytest.raises(KafkaException) as raised:
        first.commit_transaction(GUARD_S)
    error = raised.value.args[0]
    assert error.fatal() or error.code() in (
        ErrorCode.PRODUCER_FENCED,
        ErrorCode.INVALID_PRODUCER_EPOCH,
    ), error

    second.begin_transaction()
    second.produce("fenced", value=b"from the second")
    second.commit_transaction(GUARD_S)
    # The first's record, its ABORT marker, the second's record and its COMMIT marker.
    assert high_watermark(broker.bootstrap, "fenced") == 4
    wait_for_state(broker.port, "shared-id", "CompleteCommit")


def test_a_transaction_open_past_its_timeout_is_aborted_by_the_broker(broker_factory):
    broker = broker_factory(transaction_abort_timed_out_transaction_cleanup_interval_ms=100)
    p = producer(broker.bootstrap, "slow", **{"transaction.timeout.ms": 1000})
    p.begin_transaction()
    p.produce("timed-out", value=b"never committed")
    p.flush(GUARD_S)
    epoch = describe(broker.port, "slow").producer_epoch
    aborted = wait_for_state(broker.port, "slow", "CompleteAbort")
    assert aborted.producer_epoch == epoch + 1  # the producer is fenced
    assert high_watermark(broker.bootstrap, "timed-out") == 2  # record + ABORT marker
    with pytest.raises(KafkaException):
        p.commit_transaction(GUARD_S)


# ---- restarts --------------------------------------------------------------------------


def test_transaction_state_survives_a_restart(broker):
    p = producer(broker.bootstrap, "durable")
    p.begin_transaction()
    p.produce("durable", value=b"one")
    p.commit_transaction(GUARD_S)
    before = describe(broker.port, "durable")
    p.flush(0)
    broker.restart()
    after = describe(broker.port, "durable")
    assert (after.transaction_state, after.producer_id, after.producer_epoch) == (
        "CompleteCommit",
        before.producer_id,
        before.producer_epoch,
    )
    again = producer(broker.bootstrap, "durable")
    bumped = describe(broker.port, "durable")
    assert (bumped.producer_id, bumped.producer_epoch) == (
        before.producer_id,
        before.producer_epoch + 1,
    )
    again.begin_transaction()
    again.produce("durable", value=b"two")
    again.commit_transaction(GUARD_S)
    assert high_watermark(broker.bootstrap, "durable") == 4


def test_a_commit_whose_markers_were_not_written_is_completed_after_a_restart(broker):
    p = producer(broker.bootstrap, "interrupted")
    p.begin_transaction()
    p.produce("interrupted", value=b"committed before the crash")
    p.flush(GUARD_S)

    async def never_delivered(marker, still_current):
        await trio.sleep_forever()

    # The coordinator answers the commit once PrepareCommit is written; its markers
    # then never go out before the broker stops.
    broker.broker.txn_coordinator.marker_sender.send = never_delivered
    p.commit_transaction(GUARD_S)
    assert describe(broker.port, "interrupted").transaction_state == "PrepareCommit"
    assert high_watermark(broker.bootstrap, "interrupted") == 1
    broker.restart()
    wait_for_state(broker.port, "interrupted", "CompleteCommit")
    assert high_watermark(broker.bootstrap, "interrupted") == 2  # the COMMIT marker


# ---- kafka-python --------------------------------------------------------------------


def test_kafka_python_transactional_producer(broker):
    from kafka import KafkaProducer

    kp = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id="kafka-python")
    try:
        kp.init_transactions()
        kp.begin_transaction()
        for i in range(3):
            kp.send("kafka-python-txn", value=b"kp%d" % i)
        kp.commit_transaction()
        kp.begin_transaction()
        kp.send("kafka-python-txn", value=b"aborted")
        kp.flush()
        kp.abort_transaction()
    finally:
        kp.close(timeout=10)
    # 3 records + COMMIT, 1 record + ABORT.
    assert high_watermark(broker.bootstrap, "kafka-python-txn") == 6
    wait_for_state(broker.port, "kafka-python", "CompleteAbort")


# ---- the coordinator's errors, over the protocol ---------------------------------------


def init_producer_id(port: int, transactional_id: str, version: int = 4, expected=(-1, -1)):
    request = messages.request_type(ApiKey.INIT_PRODUCER_ID)(
        transactional_id=transactional_id,
        transaction_timeout_ms=60000,
        producer_id=expected[0],
        producer_epoch=expected[1],
    )
    response = send(port, ApiKey.INIT_PRODUCER_ID, version, request)
    return response.error_code, response.producer_id, response.producer_epoch


def end_txn(port: int, transactional_id: str, producer_id: int, epoch: int, commit: bool):
    request = messages.request_type(ApiKey.END_TXN)(
        transactional_id=transactional_id,
        producer_id=producer_id,
        producer_epoch=epoch,
        committed=commit,
    )
    return send(port, ApiKey.END_TXN, 3, request).error_code


def test_init_producer_id_bumps_the_epoch_and_checks_the_expected_producer(broker):
    find = messages.request_type(ApiKey.FIND_COORDINATOR)(key_type=1, key="raw")
    assert send(broker.port, ApiKey.FIND_COORDINATOR, 3, find).error_code == 0
    error, producer_id, epoch = init_producer_id(broker.port, "raw")
    assert (error, epoch) == (0, 0)
    assert init_producer_id(broker.port, "raw") == (0, producer_id, 1)
    # KIP-360: the producer passes the id and epoch it has.
    assert init_producer_id(broker.port, "raw", expected=(producer_id, 1)) == (0, producer_id, 2)
    # A retry of that bump (its answer lost) gets the same epoch again.
    assert init_producer_id(broker.port, "raw", expected=(producer_id, 1)) == (0, producer_id, 2)
    fenced = init_producer_id(broker.port, "raw", expected=(producer_id + 100, 0))
    assert fenced[0] == ErrorCode.PRODUCER_FENCED
    older = init_producer_id(broker.port, "raw", version=3, expected=(producer_id + 100, 0))
    assert older[0] == ErrorCode.INVALID_PRODUCER_EPOCH  # v3 predates PRODUCER_FENCED
    # Nothing to end: no transaction is open.
    assert end_txn(broker.port, "raw", producer_id, 2, True) == ErrorCode.INVALID_TXN_STATE
    assert end_txn(broker.port, "raw", producer_id, 1, True) == ErrorCode.PRODUCER_FENCED
    assert (
        end_txn(broker.port, "raw", producer_id + 1, 2, True)
        == ErrorCode.INVALID_PRODUCER_ID_MAPPING
    )
    assert end_txn(broker.port, "unknown", producer_id, 2, True) == (
        ErrorCode.INVALID_PRODUCER_ID_MAPPING
    )


def test_idle_transactional_ids_expire(broker_factory):
    broker = broker_factory(
        transactional_id_expiration_ms=500,
        transaction_remove_expired_transaction_cleanup_interval_ms=100,
    )
    p = producer(broker.bootstrap, "short-lived")
    p.begin_transaction()
    p.produce("expiring", value=b"x")
    p.commit_transaction(GUARD_S)
    wait_until(
        lambda: (
            describe(broker.port, "short-lived").error_code == ErrorCode.TRANSACTIONAL_ID_NOT_FOUND
        ),
        "the id never expired",
    )
    # Gone after a restart too: its tombstone is in __transaction_state.
    broker.restart()
    assert describe(broker.port, "short-lived").error_code == ErrorCode.TRANSACTIONAL_ID_NOT_FOUND


def test_add_offsets_and_partitions_and_verification_over_the_protocol(broker):
    find = messages.request_type(ApiKey.FIND_COORDINATOR)(key_type=1, key="offsets-txn")
    assert send(broker.port, ApiKey.FIND_COORDINATOR, 3, find).error_code == 0
    error, producer_id, epoch = init_producer_id(broker.port, "offsets-txn")
    assert error == 0
    AddOffsets = messages.request_type(ApiKey.ADD_OFFSETS_TO_TXN)
    request = AddOffsets(
        transactional_id="offsets-txn", producer_id=producer_id, producer_epoch=epoch, group_id="g"
    )
    assert send(broker.port, ApiKey.ADD_OFFSETS_TO_TXN, 3, request).error_code == 0
    state = describe(broker.port, "offsets-txn")
    assert state.transaction_state == "Ongoing"
    # The group's __consumer_offsets partition (Java hash of "g" mod 50).
    assert [(t.topic, t.partitions) for t in state.topics] == [("__consumer_offsets", [3])]

    AddPartitions = messages.request_type(ApiKey.ADD_PARTITIONS_TO_TXN)
    request = AddPartitions(
        v3_and_below_transactional_id="offsets-txn",
        v3_and_below_producer_id=producer_id,
        v3_and_below_producer_epoch=epoch,
        v3_and_below_topics=[AddPartitions.AddPartitionsToTxnTopic(name="missing", partitions=[0])],
    )
    response = send(broker.port, ApiKey.ADD_PARTITIONS_TO_TXN, 3, request)
    (topic,) = response.results_by_topic_v3_and_below
    assert [p.partition_error_code for p in topic.results_by_partition] == [
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    ]
    # The broker form (v4): verify_only checks without adding.
    request = AddPartitions(
        transactions=[
            AddPartitions.AddPartitionsToTxnTransaction(
                transactional_id="offsets-txn",
                producer_id=producer_id,
                producer_epoch=epoch,
                verify_only=True,
                topics=[
                    AddPartitions.AddPartitionsToTxnTopic(
                        name="__consumer_offsets", partitions=[3, 4]
                    )
                ],
            )
        ]
    )
    response = send(broker.port, ApiKey.ADD_PARTITIONS_TO_TXN, 4, request)
    (txn,) = response.results_by_transaction
    (topic,) = txn.topic_results
    assert {p.partition_index: p.partition_error_code for p in topic.results_by_partition} == {
        3: ErrorCode.NONE,
        4: ErrorCode.TRANSACTION_ABORTABLE,
    }
    assert end_txn(broker.port, "offsets-txn", producer_id, epoch, True) == 0
    done = wait_for_state(broker.port, "offsets-txn", "CompleteCommit")
    assert done.topics == []


def test_offsets_sent_to_a_transaction_are_committed_with_it(broker):
    """Consume-transform-produce: the input offsets commit with the output records."""
    source = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(4):
        source.produce("input", value=b"in%d" % i)
    source.flush(GUARD_S)
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": "copier",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.assign([TopicPartition("input", 0, 0)])
    copied = []
    deadline = time.monotonic() + GUARD_S
    while len(copied) < 4 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            copied.append(message.value())
    p = producer(broker.bootstrap, "copier-txn")
    p.begin_transaction()
    for value in copied:
        p.produce("output", value=value)
    p.send_offsets_to_transaction(
        consumer.position(consumer.assignment()), consumer.consumer_group_metadata(), 10
    )
    p.commit_transaction(10)
    (committed,) = consumer.committed([TopicPartition("input", 0)], timeout=10)
    consumer.close()
    assert committed.offset == 4
    assert consume_all(broker.bootstrap, "output", "read_uncommitted") == copied


def test_aiokafka_transactional_producer(broker):
    import asyncio

    from aiokafka import AIOKafkaProducer

    async def run() -> None:
        p = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id="aiokafka")
        await p.start()
        try:
            async with p.transaction():
                for i in range(3):
                    await p.send("aiokafka-txn", b"ai%d" % i)
            await p.begin_transaction()
            await p.send_and_wait("aiokafka-txn", b"aborted")
            await p.abort_transaction()
        finally:
            await p.stop()

    asyncio.run(asyncio.wait_for(run(), GUARD_S))
    # 3 records + COMMIT, 1 record + ABORT.
    assert high_watermark(broker.bootstrap, "aiokafka-txn") == 6
    wait_for_state(broker.port, "aiokafka", "CompleteAbort")
