"""Transactional offsets pending in a group move with its coordinator. Real ZooKeeper,
3 broker processes: the TxnOffsetCommit batch is replicated to the followers of the
group's __consumer_offsets partition, and the broker that becomes its leader when the
coordinator dies loads the offsets as still pending (the marker has not come)."""

from __future__ import annotations

import time

from kafka_compat.tools.connection import Connection
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401
from tests.cluster.test_failover import GUARD_S, create_topic

TOPIC = "txn-failover"
GROUP = "txn-failover-group"
RETRIABLE = {
    ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
    ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.NOT_COORDINATOR,
}


def connect(broker) -> Connection:
    host, port = broker.bootstrap.rsplit(":", 1)
    return Connection(host, int(port), 30.0)


def find_coordinator(cluster, not_id: int | None = None) -> int:
    """The live broker that answers for GROUP (and is not `not_id`), once it does."""
    FindCoordinator = messages.request_type(ApiKey.FIND_COORDINATOR)
    deadline = time.monotonic() + GUARD_S
    while True:
        assert time.monotonic() < deadline, "the group has no coordinator"
        for broker in cluster.brokers.values():
            if not broker.alive:
                continue
            with connect(broker) as conn:
                found = conn.request(
                    ApiKey.FIND_COORDINATOR, FindCoordinator(key=GROUP, key_type=0), 2
                )
            node = found.node_id
            if found.error_code == 0 and node != not_id and cluster.brokers[node].alive:
                return node
        time.sleep(0.2)


def until_answered(call):
    """call() -> error code: again while the coordinator moves or loads."""
    deadline = time.monotonic() + GUARD_S
    while (result := call()) in RETRIABLE:
        assert time.monotonic() < deadline, f"still {ErrorCode(result).name}"
        time.sleep(0.2)
    return result


def test_pending_offsets_move_with_the_coordinator(cluster_factory):
    # A made-up producer (no transaction coordinator state): KIP-890's check is off.
    cluster = cluster_factory(3, transaction_partition_verification_enable="false")
    create_topic(cluster.bootstrap, TOPIC, partitions=1)
    coordinator = find_coordinator(cluster)
    Commit = messages.request_type(ApiKey.TXN_OFFSET_COMMIT)
    commit = Commit(
        transactional_id="txn",
        group_id=GROUP,
        producer_id=7000,
        producer_epoch=0,
        topics=[
            Commit.TxnOffsetCommitRequestTopic(
                name=TOPIC,
                partitions=[
                    Commit.TxnOffsetCommitRequestPartition(
                        partition_index=0, committed_offset=42, committed_metadata=""
                    )
                ],
            )
        ],
    )
    with connect(cluster.brokers[coordinator]) as conn:

        def txn_commit() -> int:
            answer = conn.request(ApiKey.TXN_OFFSET_COMMIT, commit, 3)
            return answer.topics[0].partitions[0].error_code

        assert until_answered(txn_commit) == 0
    cluster.brokers[coordinator].kill()
    successor = find_coordinator(cluster, not_id=coordinator)
    Fetch = messages.request_type(ApiKey.OFFSET_FETCH)
    with connect(cluster.brokers[successor]) as conn:

        def fetch(require_stable: bool):
            answer = conn.request(
                ApiKey.OFFSET_FETCH,
                Fetch(
                    group_id=GROUP,
                    topics=[Fetch.OffsetFetchRequestTopic(name=TOPIC, partition_indexes=[0])],
                    require_stable=require_stable,
                ),
                7,
            )
            if answer.error_code:
                return answer.error_code
            partition = answer.topics[0].partitions[0]
            return partition.committed_offset, partition.error_code

        assert until_answered(lambda: fetch(True)) == (-1, ErrorCode.UNSTABLE_OFFSET_COMMIT)
        assert fetch(False) == (-1, 0)
