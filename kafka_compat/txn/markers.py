"""Transaction markers: writing them (WriteTxnMarkers' work, on a partition leader) and
sending them (Kafka's TransactionMarkerChannelManager, on the coordinator).

`write_txn_markers` appends one COMMIT/ABORT control batch per partition through the
replica manager (AppendOrigin.COORDINATOR, acks=all) and, for `__consumer_offsets`
partitions that got theirs, hands the partitions to the group coordinator
(`complete_txn_offsets`: pending transactional offsets become committed, or vanish).
The WriteTxnMarkers handler and the coordinator's own broker both use it.

`TxnMarkerSender.send` delivers one transaction's markers: partitions led here are
written directly, the others go to their leaders in one WriteTxnMarkers request per
broker (BrokerClient). A partition whose leader is unknown or moved is retried after
the metadata changes; markers for a deleted topic are dropped, as Kafka does.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable
from typing import NamedTuple

import trio

from kafka_compat.cluster.client import BrokerClient, BrokerClientError
from kafka_compat.cluster.metadata_cache import BrokerEndpoint, MetadataCache
from kafka_compat.replica_manager import ReplicaManager
from kafka_compat.topics import OFFSETS_TOPIC
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from protocol.records import build_end_txn_marker
from storage.log import AppendOrigin

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]
# complete_txn_offsets(producer_id, __consumer_offsets partitions, commit)
CompleteTxnOffsets = Callable[[int, set[int], bool], object]

WRITE_TXN_MARKERS_VERSION = 1
RETRY_BACKOFF_S = 0.1

# Kafka's TransactionMarkerRequestCompletionHandler: errors worth another try.
RETRIABLE_MARKER_ERRORS = frozenset(
    {
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.NOT_LEADER_OR_FOLLOWER,
        ErrorCode.NOT_ENOUGH_REPLICAS,
        ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        ErrorCode.REQUEST_TIMED_OUT,
        ErrorCode.KAFKA_STORAGE_ERROR,
        ErrorCode.LEADER_NOT_AVAILABLE,
        ErrorCode.NETWORK_EXCEPTION,
        ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
        ErrorCode.COORDINATOR_NOT_AVAILABLE,
        ErrorCode.NOT_COORDINATOR,
    }
)
# The partition leader knows a newer producer epoch or coordinator: stop sending.
FENCED_MARKER_ERRORS = frozenset(
    {ErrorCode.INVALID_PRODUCER_EPOCH, ErrorCode.TRANSACTION_COORDINATOR_FENCED}
)


class TxnMarker(NamedTuple):
    """One transaction's end, for some of its partitions (a WritableTxnMarker)."""

    producer_id: int
    producer_epoch: int
    commit: bool
    coordinator_epoch: int
    partitions: tuple[TopicPartition, ...]


async def write_txn_markers(
    replica_manager: ReplicaManager,
    markers: Iterable[TxnMarker],
    complete_txn_offsets: CompleteTxnOffsets | None,
    timeout_ms: int,
    now_ms: int,
) -> list[dict[TopicPartition, int]]:
    """Append each marker's control batches; an error code per partition, per marker."""
    results: list[dict[TopicPartition, int]] = []
    for marker in markers:
        batch = build_end_txn_marker(
            commit=marker.commit,
            producer_id=marker.producer_id,
            producer_epoch=marker.producer_epoch,
            coordinator_epoch=marker.coordinator_epoch,
            timestamp=now_ms,
        )
        entries = {tp: bytearray(batch) for tp in marker.partitions}
        appended = await replica_manager.append_records(
            entries, required_acks=-1, timeout_ms=timeout_ms, origin=AppendOrigin.COORDINATOR
        )
        errors = {tp: appended[tp].error_code for tp in marker.partitions}
        offsets_partitions = {
            index
            for (topic, index), error in errors.items()
            if topic == OFFSETS_TOPIC and not error
        }
        if offsets_partitions and complete_txn_offsets is not None:
            try:
                done = complete_txn_offsets(marker.producer_id, offsets_partitions, marker.commit)
                if inspect.isawaitable(done):
                    await done
            except Exception:
                log.exception("Completing transactional offsets of producer %d", marker.producer_id)
                for index in offsets_partitions:
                    errors[(OFFSETS_TOPIC, index)] = ErrorCode.UNKNOWN_SERVER_ERROR
        results.append(errors)
    return results


class TxnMarkerSender:
    """Delivers markers to partition leaders, this broker's own included."""

    def __init__(
        self,
        node_id: int,
        replica_manager: ReplicaManager,
        metadata_cache: MetadataCache,
        *,
        cluster_mode: bool,
        request_timeout_ms: int,
    ):
        self.node_id = node_id
        self.replica_manager = replica_manager
        self.metadata_cache = metadata_cache
        self.cluster_mode = cluster_mode
        self.request_timeout_ms = request_timeout_ms
        self.complete_txn_offsets: CompleteTxnOffsets | None = None  # wired by broker.py
        self.clients: dict[int, BrokerClient] = {}
        self.now_ms: Callable[[], int] = lambda: 0

    async def send(self, marker: TxnMarker, still_current: Callable[[], bool]) -> bool:
        """Deliver `marker` to every partition's leader, retrying until each has it (or
        its topic is gone). False if the leaders answered that the producer or the
        coordinator was fenced, or `still_current()` turned false (the coordinator moved)."""
        pending = set(marker.partitions)
        while pending:
            if not still_current():
                return False
            by_broker, unknown = self._leaders(pending)
            pending = set(unknown)
            results: dict[TopicPartition, int] = {}
            async with trio.open_nursery() as sends:
                for broker, partitions in by_broker.items():
                    sends.start_soon(self._send_to, broker, marker, partitions, results)
            for tp, error in results.items():
                if error == ErrorCode.NONE:
                    continue
                if error in FENCED_MARKER_ERRORS:
                    log.info(
                        "Markers of producer %d fenced at %s: %s",
                        marker.producer_id,
                        tp,
                        ErrorCode(error).name,
                    )
                    return False
                if error in (
                    ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT,
                    ErrorCode.UNSUPPORTED_VERSION,
                ):
                    continue  # as Kafka: the partition cannot take markers, move on
                if error not in RETRIABLE_MARKER_ERRORS:
                    log.warning(
                        "Marker for %s of producer %d: %s",
                        tp,
                        marker.producer_id,
                        ErrorCode(error).name,
                    )
                pending.add(tp)
            if pending:
                with trio.move_on_after(RETRY_BACKOFF_S * 10):
                    if self.cluster_mode:
                        await self.metadata_cache.wait_changed()
                    else:
                        await trio.sleep(RETRY_BACKOFF_S)
                await trio.sleep(RETRY_BACKOFF_S)
        return True

    def _leaders(
        self, partitions: set[TopicPartition]
    ) -> tuple[dict[int | None, list[TopicPartition]], list[TopicPartition]]:
        """Partitions by leader (None: this broker); those without a known leader; the
        partitions of deleted topics are dropped."""
        by_broker: dict[int | None, list[TopicPartition]] = {}
        unknown: list[TopicPartition] = []
        for tp in sorted(partitions):
            topic, index = tp
            if not self.cluster_mode:
                if self.replica_manager.topic_partitions(topic) is None:
                    log.info("Dropping the marker for %s-%d: topic deleted", topic, index)
                    continue
                by_broker.setdefault(None, []).append(tp)
                continue
            if topic not in self.metadata_cache.topics:
                log.info("Dropping the marker for %s-%d: topic deleted", topic, index)
                continue
            leader = self.metadata_cache.leader(topic, index)
            if leader is None:
                unknown.append(tp)
            else:
                key = None if leader.broker_id == self.node_id else leader.broker_id
                by_broker.setdefault(key, []).append(tp)
        return by_broker, unknown

    async def _send_to(
        self,
        broker: int | None,
        marker: TxnMarker,
        partitions: list[TopicPartition],
        results: dict[TopicPartition, int],
    ) -> None:
        part = marker._replace(partitions=tuple(partitions))
        if broker is None:
            (errors,) = await write_txn_markers(
                self.replica_manager,
                [part],
                self.complete_txn_offsets,
                self.request_timeout_ms,
                self.now_ms(),
            )
            results.update(errors)
            return
        endpoint = self.metadata_cache.brokers.get(broker)
        if endpoint is None:
            results.update(dict.fromkeys(partitions, ErrorCode.LEADER_NOT_AVAILABLE))
            return
        try:
            response = await self._client(endpoint).send(
                ApiKey.WRITE_TXN_MARKERS, WRITE_TXN_MARKERS_VERSION, _request(part)
            )
        except BrokerClientError as exc:
            log.info("WriteTxnMarkers to broker %d: %s", broker, exc)
            results.update(dict.fromkeys(partitions, ErrorCode.NETWORK_EXCEPTION))
            return
        for result in response.markers:
            for topic in result.topics:
                for p in topic.partitions:
                    results[(topic.name, p.partition_index)] = p.error_code

    def _client(self, endpoint: BrokerEndpoint) -> BrokerClient:
        client = self.clients.get(endpoint.broker_id)
        if client is None or (client.host, client.port) != (endpoint.host, endpoint.port):
            timeout = self.request_timeout_ms / 1000
            client = BrokerClient(
                endpoint.host,
                endpoint.port,
                f"txn-marker-sender-{self.node_id}",
                connect_timeout=timeout,
                request_timeout=timeout,
            )
            self.clients[endpoint.broker_id] = client
        return client

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()
        self.clients.clear()


def _request(marker: TxnMarker):
    by_topic: dict[str, list[int]] = {}
    for topic, index in marker.partitions:
        by_topic.setdefault(topic, []).append(index)
    return messages.WriteTxnMarkersRequest(
        markers=[
            messages.WriteTxnMarkersRequest.WritableTxnMarker(
                producer_id=marker.producer_id,
                producer_epoch=marker.producer_epoch,
                transaction_result=marker.commit,
                topics=[
                    messages.WriteTxnMarkersRequest.WritableTxnMarkerTopic(
                        name=name, partition_indexes=indexes
                    )
                    for name, indexes in by_topic.items()
                ],
                coordinator_epoch=marker.coordinator_epoch,
            )
        ]
    )
