"""`kafka-compat transactions` (kafka_compat/tools/transactions.py) against a real
broker: list and describe a transactional id a confluent-kafka producer holds open,
describe a partition's producers, and abort a hanging transaction (a transactional
batch the coordinator never heard of, which holds read_committed consumers at the
last stable offset until the tool writes its ABORT marker)."""

from __future__ import annotations

import trio
from confluent_kafka import Producer

from kafka_compat.cli import main
from tests.integration.test_transactions_read import (
    READ_COMMITTED,
    READ_UNCOMMITTED,
    Txn,
    _create,
    _latest,
    _new_producer_id,
    _topic,
)

GUARD_S = 60


async def cli(capsys, *args: str) -> tuple[int, str, str]:
    status = await trio.to_thread.run_sync(main, ["transactions", *args])
    out, err = capsys.readouterr()
    return status, out, err


async def test_list_and_describe_show_an_open_transaction(broker, capsys):
    topic = _topic()
    await _create(broker, topic)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "tool-txn"})

    def open_transaction() -> None:
        producer.init_transactions(GUARD_S)
        producer.begin_transaction()
        producer.produce(topic, b"inside", partition=0)
        assert producer.flush(GUARD_S) == 0

    await trio.to_thread.run_sync(open_transaction)
    server = ["--bootstrap-server", broker.bootstrap]
    status, out, _ = await cli(capsys, "list", *server)
    assert status == 0
    header, row = out.splitlines()
    assert header.split() == ["TransactionalId", "Coordinator", "ProducerId", "TransactionState"]
    assert row.split()[0] == "tool-txn" and row.split()[3] == "Ongoing"
    status, out, _ = await cli(capsys, "describe", "--transactional-id", "tool-txn", *server)
    assert status == 0
    described = dict(zip(*(line.split() for line in out.splitlines()), strict=True))
    assert described["TransactionState"] == "Ongoing"
    assert described["TopicPartitions"] == f"{topic}-0"
    assert int(described["TransactionDurationMs"]) >= 0
    status, out, _ = await cli(capsys, "list", "--state", "CompleteCommit", *server)
    assert status == 0 and "tool-txn" not in out
    await trio.to_thread.run_sync(producer.commit_transaction, GUARD_S)
    status, out, _ = await cli(capsys, "list", "--state", "CompleteCommit", *server)
    assert status == 0 and "tool-txn" in out
    status, _, err = await cli(capsys, "list", "--state", "Sleeping", *server)
    assert status == 1 and "Sleeping" in err


async def test_abort_ends_a_hanging_transaction(broker_factory, capsys):
    # Without KIP-890's check a stray transactional batch is accepted: a hanging
    # transaction, as brokers before 3.6 could get.
    broker = broker_factory(transaction_partition_verification_enable="false")
    topic = _topic()
    await _create(broker, topic)
    producer_id = await _new_producer_id(broker)
    hanging = Txn(broker, topic, producer_id)
    assert await hanging.send(b"h0", b"h1") == 0
    assert await _latest(broker, topic, READ_COMMITTED) == 0  # held at the LSO
    server = ["--bootstrap-server", broker.bootstrap]
    where = ["--topic", topic, "--partition", "0"]
    status, out, _ = await cli(capsys, "describe-producers", *where, *server)
    assert status == 0
    described = dict(zip(*(line.split() for line in out.splitlines()), strict=True))
    assert described["ProducerId"] == str(producer_id)
    assert described["CurrentTransactionStartOffset"] == "0"
    status, _, err = await cli(capsys, "abort", *where, "--start-offset", "1", *server)
    assert status == 1 and "no open transaction starts at offset 1" in err
    status, _, err = await cli(capsys, "abort", *where, "--start-offset", "0", *server)
    assert status == 0, err
    # The ABORT marker is offset 2: read_committed consumers move past it.
    assert await _latest(broker, topic, READ_COMMITTED) == 3
    assert await _latest(broker, topic, READ_UNCOMMITTED) == 3
    status, out, _ = await cli(capsys, "describe-producers", *where, *server)
    described = dict(zip(*(line.split() for line in out.splitlines()), strict=True))
    assert described["CurrentTransactionStartOffset"] == "None"


async def test_abort_needs_a_start_offset_or_the_producer(broker, capsys):
    status, _, err = await cli(
        capsys, "abort", "--topic", "t", "--partition", "0", "--bootstrap-server", broker.bootstrap
    )
    assert status == 2 and "--start-offset" in err
