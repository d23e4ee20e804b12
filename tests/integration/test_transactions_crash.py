"""Transaction state survives SIGKILL: the broker process is killed right after
commits are acknowledged (their markers may not be written yet) and restarted on the
same data dir. Each time, the coordinator reloads __transaction_state, completes what
it finds in PrepareCommit, and the same transactional id initializes again with a
higher epoch; every committed record is in the log with its COMMIT marker."""

from __future__ import annotations

from tests.integration.test_transactions import (
    GUARD_S,
    consume_all,
    describe,
    high_watermark,
    producer,
    wait_for_state,
)

ROUNDS = 3
TRANSACTIONS = 5
RECORDS = 10


def test_committed_transactions_survive_sigkill(broker_process_factory):
    broker = broker_process_factory()
    epochs = []
    for round_ in range(ROUNDS):
        p = producer(broker.bootstrap, "crash-txn")
        epochs.append(describe(broker.port, "crash-txn").producer_epoch)
        for t in range(TRANSACTIONS):
            p.begin_transaction()
            for i in range(RECORDS):
                p.produce("crash", value=f"{round_}-{t}-{i}".encode())
            p.commit_transaction(GUARD_S)
        broker.kill()  # the last commit's markers may still be unwritten
        broker.start()
        wait_for_state(broker.port, "crash-txn", "CompleteCommit")
    assert epochs == sorted(set(epochs))  # every restart: the same id, a higher epoch
    expected = [
        f"{r}-{t}-{i}".encode()
        for r in range(ROUNDS)
        for t in range(TRANSACTIONS)
        for i in range(RECORDS)
    ]
    assert consume_all(broker.bootstrap, "crash", "read_uncommitted") == expected
    # One COMMIT marker per transaction at least (a marker whose completion was not
    # yet written when the broker died is written again).
    assert high_watermark(broker.bootstrap, "crash") >= len(expected) + ROUNDS * TRANSACTIONS
