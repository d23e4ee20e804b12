"""Transactions: Kafka's transaction coordinator (ZooKeeper-era, transaction version 0).

    records.py        __transaction_state keys and values (Kafka's schemas), partitioning
    metadata.py       one transactional id's state and Kafka's transitions
    state_manager.py  TransactionStateManager: __transaction_state (load, write, expiry)
    coordinator.py    TransactionCoordinator: InitProducerId, AddPartitionsToTxn, EndTxn,
                      Describe/ListTransactions, timeouts
    markers.py        writing COMMIT/ABORT markers and sending them to partition leaders
    verification.py   KIP-890 part 1: a partition leader's check of transactional batches

The request handlers are kafka_compat/apis/txn.py, producer_id.py (InitProducerId),
coordinator.py (FindCoordinator key type 1) and produce.py (the verification). The
group coordinator is reached only through calls wired in broker.py and the handlers
(GroupCoordinator.complete_txn_offsets), never imported.
"""
