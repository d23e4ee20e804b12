"""KIP-890 part 1 on the partition leader: a transactional batch is appended only if
the coordinator has its partition in the producer's ongoing transaction
(`transaction.partition.verification.enable`).

As Kafka's ReplicaManager does, a partition whose producer state already holds an
open transaction of this producer id and epoch needs no check: only the first batch
of a transaction on each partition pays (that state is the per (partition, producer
id, epoch) cache, and a marker clears it). The check asks this broker's coordinator
directly when it serves the id, else the coordinator's broker with AddPartitionsToTxn
v4 `verify_only`. Coordinator errors become what a Produce v3-11 client expects
(Kafka's AddPartitionsToTxnManager and ReplicaManager): TRANSACTION_ABORTABLE ->
INVALID_TXN_STATE, PRODUCER_FENCED -> INVALID_PRODUCER_EPOCH, retriable coordinator
errors -> NOT_ENOUGH_REPLICAS (retried without a metadata refresh).

Left out: Kafka's VerificationGuard (a marker written between the check and the
append is not detected).
"""

from __future__ import annotations

import logging

from kafka_compat.cluster.client import BrokerClient, BrokerClientError
from kafka_compat.cluster.metadata_cache import MetadataCache
from kafka_compat.replica_manager import ReplicaManager
from kafka_compat.topics import TRANSACTION_STATE_TOPIC
from kafka_compat.txn.coordinator import TransactionCoordinator
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]
VERIFY_VERSION = 4

_RETRIABLE = frozenset(
    {
        ErrorCode.CONCURRENT_TRANSACTIONS,
        ErrorCode.NETWORK_EXCEPTION,
        ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
        ErrorCode.COORDINATOR_NOT_AVAILABLE,
        ErrorCode.NOT_COORDINATOR,
    }
)


def produce_error(code: int) -> int:
    """A coordinator's verification error as a Produce v3-11 answer."""
    if code == ErrorCode.TRANSACTION_ABORTABLE:
        return ErrorCode.INVALID_TXN_STATE
    if code == ErrorCode.PRODUCER_FENCED:
        return ErrorCode.INVALID_PRODUCER_EPOCH
    if code in _RETRIABLE:
        return ErrorCode.NOT_ENOUGH_REPLICAS
    return code


class PartitionVerifier:
    def __init__(
        self,
        coordinator: TransactionCoordinator,
        replica_manager: ReplicaManager,
        metadata_cache: MetadataCache,
        node_id: int,
        *,
        cluster_mode: bool,
        request_timeout_ms: int,
    ):
        self.coordinator = coordinator
        self.replica_manager = replica_manager
        self.metadata_cache = metadata_cache
        self.node_id = node_id
        self.cluster_mode = cluster_mode
        self.request_timeout_ms = request_timeout_ms
        self.clients: dict[int, BrokerClient] = {}

    def needs_verification(self, tp: TopicPartition, producer_id: int, epoch: int) -> bool:
        """No open transaction of this producer id and epoch on the partition yet."""
        partition = self.replica_manager.get_partition(*tp)
        if partition is None or not partition.is_leader:
            return False  # the append answers NOT_LEADER_OR_FOLLOWER or the like
        return not partition.has_open_transaction(producer_id, epoch)

    async def verify(
        self, transactional_id: str, producer_id: int, epoch: int, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """A Produce error per partition that failed verification (absent: verified)."""
        errors = await self._ask(transactional_id, producer_id, epoch, partitions)
        return {tp: produce_error(e) for tp, e in errors.items() if e != ErrorCode.NONE}

    async def _ask(
        self, transactional_id: str, producer_id: int, epoch: int, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, int]:
        coordinator = self.coordinator
        if not self.cluster_mode:
            return coordinator.verify_partitions(transactional_id, producer_id, epoch, partitions)
        index = coordinator.partition_for(transactional_id)
        leader = self.metadata_cache.leader(TRANSACTION_STATE_TOPIC, index)
        if leader is None:
            return dict.fromkeys(partitions, ErrorCode.COORDINATOR_NOT_AVAILABLE)
        if leader.broker_id == self.node_id:
            return coordinator.verify_partitions(transactional_id, producer_id, epoch, partitions)
        client = self.clients.get(leader.broker_id)
        if client is None or (client.host, client.port) != (leader.host, leader.port):
            timeout = self.request_timeout_ms / 1000
            client = BrokerClient(
                leader.host,
                leader.port,
                f"txn-verifier-{self.node_id}",
                connect_timeout=timeout,
                request_timeout=timeout,
            )
            self.clients[leader.broker_id] = client
        by_topic: dict[str, list[int]] = {}
        for topic, p in partitions:
            by_topic.setdefault(topic, []).append(p)
        Request = messages.AddPartitionsToTxnRequest
        request = Request(
            transactions=[
                Request.AddPartitionsToTxnTransaction(
                    transactional_id=transactional_id,
                    producer_id=producer_id,
                    producer_epoch=epoch,
                    verify_only=True,
                    topics=[
                        Request.AddPartitionsToTxnTopic(name=t, partitions=ps)
                        for t, ps in by_topic.items()
                    ],
                )
            ]
        )
        try:
            response = await client.send(ApiKey.ADD_PARTITIONS_TO_TXN, VERIFY_VERSION, request)
        except BrokerClientError as exc:
            log.info("Verifying %s with broker %d: %s", transactional_id, leader.broker_id, exc)
            return dict.fromkeys(partitions, ErrorCode.NETWORK_EXCEPTION)
        if response.error_code:
            return dict.fromkeys(partitions, response.error_code)
        results = dict.fromkeys(partitions, ErrorCode.UNKNOWN_SERVER_ERROR)
        for txn in response.results_by_transaction:
            for topic in txn.topic_results:
                for p in topic.results_by_partition:
                    results[(topic.name, p.partition_index)] = p.partition_error_code
        return results

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()
        self.clients.clear()
