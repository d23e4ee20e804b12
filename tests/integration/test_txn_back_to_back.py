"""Back-to-back transactions: EndTxn is answered before the markers and the Complete*
state are written (as in Kafka), so a producer's next AddPartitionsToTxn usually
arrives while they are. The coordinator lets it wait for them (up to 50 ms) instead of
answering CONCURRENT_TRANSACTIONS, which clients retry only after 20 ms or more."""

from __future__ import annotations

import trio

from protocol.errors import ErrorCode
from tests.integration.test_transactions import GUARD_S, consume_all, producer, wait_for_state

TRANSACTIONS = 20


def slow_markers(broker, delay_s: float) -> list[int]:
    """Delay every marker delivery by `delay_s`; the AddPartitionsToTxn answers, listed."""
    coordinator = broker.broker.txn_coordinator
    send, add_partitions = coordinator.marker_sender.send, coordinator.add_partitions
    answers: list[int] = []

    async def delayed_send(marker, still_current):
        await trio.sleep(delay_s)
        return await send(marker, still_current)

    async def recorded_add_partitions(*args):
        error = await add_partitions(*args)
        answers.append(error)
        return error

    coordinator.marker_sender.send = delayed_send
    coordinator.add_partitions = recorded_add_partitions
    return answers


def run_transactions(p, topic: str) -> list[bytes]:
    """TRANSACTIONS transactions of 5 records, each begun as the last is committed."""
    sent = []
    for i in range(TRANSACTIONS):
        p.begin_transaction()
        for j in range(5):
            sent.append(b"%d-%d" % (i, j))
            p.produce(topic, value=sent[-1])
        p.commit_transaction(GUARD_S)
    return sent


def committed(broker, transactional_id: str, topic: str) -> list[bytes]:
    wait_for_state(broker.port, transactional_id, "CompleteCommit")
    return consume_all(broker.bootstrap, topic, "read_committed")


def test_the_next_transaction_waits_for_the_last_ones_markers(broker):
    p = producer(broker.bootstrap, "back-to-back")
    answers = slow_markers(broker, 0.01)  # each completion takes >= 10 ms
    sent = run_transactions(p, "back-to-back")
    # Every AddPartitionsToTxn came while the previous transaction completed (the
    # client sends it right after the commit) and was answered once it had.
    assert answers == [ErrorCode.NONE] * TRANSACTIONS
    assert committed(broker, "back-to-back", "back-to-back") == sent


def test_markers_slower_than_the_wait_are_still_concurrent_transactions(broker):
    p = producer(broker.bootstrap, "slow-markers")
    answers = slow_markers(broker, 0.2)  # longer than the coordinator waits
    sent = run_transactions(p, "slow-markers")
    assert ErrorCode.CONCURRENT_TRANSACTIONS in answers
    assert answers.count(ErrorCode.NONE) == TRANSACTIONS  # each one, once retried
    assert set(answers) == {ErrorCode.NONE, ErrorCode.CONCURRENT_TRANSACTIONS}
    assert committed(broker, "slow-markers", "slow-markers") == sent


def test_a_new_instance_initialised_as_the_last_one_commits_waits_for_it(broker):
    first = producer(broker.bootstrap, "replaced")
    slow_markers(broker, 0.01)
    coordinator = broker.broker.txn_coordinator
    init_producer_id, answers = coordinator.init_producer_id, []

    async def recorded_init_producer_id(*args):
        answer = await init_producer_id(*args)
        answers.append(answer.error)
        return answer

    coordinator.init_producer_id = recorded_init_producer_id
    first.begin_transaction()
    first.produce("replaced", value=b"from the first instance")
    first.commit_transaction(GUARD_S)
    second = producer(broker.bootstrap, "replaced")  # InitProducerId at once
    assert answers == [ErrorCode.NONE]  # not CONCURRENT_TRANSACTIONS, retried later
    second.begin_transaction()
    second.produce("replaced", value=b"from the second")
    second.commit_transaction(GUARD_S)
    assert committed(broker, "replaced", "replaced") == [
        b"from the first instance",
        b"from the second",
    ]
