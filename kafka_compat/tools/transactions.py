"""What `kafka-compat transactions list|describe|describe-producers|abort` does, over
the protocol like Kafka's kafka-transactions.sh, against any broker.

- list: ListTransactions on every broker (each answers for the ids it coordinates).
- describe: FindCoordinator (key type 1), then DescribeTransactions there.
- describe-producers: DescribeProducers on the partition's leader.
- abort: a hanging transaction (a producer whose coordinator no longer knows the
  transaction): DescribeProducers finds the producer whose open transaction starts at
  the given offset, then WriteTxnMarkers writes an ABORT marker for it on the leader.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from kafka_compat.tools.connection import AdminTool, Connection, ToolError, table
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

TRANSACTION_KEY_TYPE = 1


@dataclass
class TransactionView:
    transactional_id: str
    coordinator: int
    producer_id: int
    producer_epoch: int
    state: str
    timeout_ms: int
    start_time_ms: int  # -1: no transaction open
    partitions: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class ProducerView:
    producer_id: int
    producer_epoch: int
    coordinator_epoch: int
    last_sequence: int
    last_timestamp: int
    txn_start_offset: int  # -1: no open transaction


class TransactionTool(AdminTool):
    """The queries behind `kafka-compat transactions`, against a bootstrap broker."""

    MAX_VERSIONS = {
        ApiKey.METADATA: 12,
        ApiKey.FIND_COORDINATOR: 4,
        ApiKey.LIST_TRANSACTIONS: 1,
        ApiKey.DESCRIBE_TRANSACTIONS: 0,
        ApiKey.DESCRIBE_PRODUCERS: 0,
        ApiKey.WRITE_TXN_MARKERS: 1,
    }

    def list_transactions(
        self, states: list[str] = (), producer_ids: list[int] = ()
    ) -> list[tuple[str, int, int, str]]:
        """(transactional id, coordinator id, producer id, state) of every id."""
        Request = messages.request_type(ApiKey.LIST_TRANSACTIONS)
        found = []
        for broker in self.metadata([]).brokers:
            connection = self.connect(broker.host, broker.port)
            request = Request(state_filters=list(states), producer_id_filters=list(producer_ids))

            def attempt(connection=connection, request=request):
                answer = connection.request(ApiKey.LIST_TRANSACTIONS, request)
                return answer.error_code, answer

            answer = self.retrying(attempt)
            if answer.unknown_state_filters:
                raise ToolError(f"unknown states: {', '.join(answer.unknown_state_filters)}")
            found += [
                (t.transactional_id, broker.node_id, t.producer_id, t.transaction_state)
                for t in answer.transaction_states
            ]
        return sorted(found)

    def describe_transaction(self, transactional_id: str) -> TransactionView:
        coordinator = self.coordinator(transactional_id, TRANSACTION_KEY_TYPE)
        Request = messages.request_type(ApiKey.DESCRIBE_TRANSACTIONS)

        def attempt():
            answer = coordinator.request(
                ApiKey.DESCRIBE_TRANSACTIONS, Request(transactional_ids=[transactional_id])
            )
            state = answer.transaction_states[0]
            return state.error_code, state

        state = self.retrying(attempt)
        return TransactionView(
            transactional_id,
            self._node_id(coordinator),
            state.producer_id,
            state.producer_epoch,
            state.transaction_state,
            state.transaction_timeout_ms,
            state.transaction_start_time_ms,
            sorted((t.topic, p) for t in state.topics for p in t.partitions),
        )

    def _node_id(self, connection: Connection) -> int:
        for b in self.metadata([]).brokers:
            if f"{b.host}:{b.port}" == connection.address:
                return b.node_id
        return -1

    def _leader(self, topic: str, partition: int) -> Connection:
        leader = self.leaders([topic]).get((topic, partition), False)
        if leader is False:
            raise ToolError(f"{topic}-{partition} does not exist")
        if leader is None:
            raise ToolError(f"{topic}-{partition} has no leader")
        return leader

    def describe_producers(self, topic: str, partition: int) -> list[ProducerView]:
        Request = messages.request_type(ApiKey.DESCRIBE_PRODUCERS)
        answer = self._leader(topic, partition).request(
            ApiKey.DESCRIBE_PRODUCERS,
            Request(topics=[Request.TopicRequest(name=topic, partition_indexes=[partition])]),
        )
        result = answer.topics[0].partitions[0]
        if result.error_code:
            detail = f": {result.error_message}" if result.error_message else ""
            raise ToolError(f"{topic}-{partition}: {ErrorCode(result.error_code).name}{detail}")
        return [
            ProducerView(
                p.producer_id,
                p.producer_epoch,
                p.coordinator_epoch,
                p.last_sequence,
                p.last_timestamp,
                p.current_txn_start_offset,
            )
            for p in result.active_producers
        ]

    def abort(
        self,
        topic: str,
        partition: int,
        *,
        start_offset: int | None = None,
        producer_id: int | None = None,
        producer_epoch: int | None = None,
        coordinator_epoch: int | None = None,
    ) -> None:
        """Write an ABORT marker for a hanging transaction: the one starting at
        `start_offset`, or the given producer id, epoch and coordinator epoch."""
        if start_offset is not None:
            matching = [
                p
                for p in self.describe_producers(topic, partition)
                if p.txn_start_offset == start_offset
            ]
            if not matching:
                raise ToolError(
                    f"no open transaction starts at offset {start_offset} of {topic}-{partition}"
                )
            producer = matching[0]
            producer_id, producer_epoch = producer.producer_id, producer.producer_epoch
            coordinator_epoch = max(producer.coordinator_epoch, 0)
        Request = messages.request_type(ApiKey.WRITE_TXN_MARKERS)
        marker = Request.WritableTxnMarker(
            producer_id=producer_id,
            producer_epoch=producer_epoch,
            transaction_result=False,
            topics=[Request.WritableTxnMarkerTopic(name=topic, partition_indexes=[partition])],
            coordinator_epoch=coordinator_epoch,
        )
        answer = self._leader(topic, partition).request(
            ApiKey.WRITE_TXN_MARKERS, Request(markers=[marker])
        )
        error = answer.markers[0].topics[0].partitions[0].error_code
        if error:
            raise ToolError(f"{topic}-{partition}: {ErrorCode(error).name}")


# ---- text ----


def format_transactions(rows: list[tuple[str, int, int, str]]) -> str:
    return "\n".join(
        table(
            ["TransactionalId", "Coordinator", "ProducerId", "TransactionState"],
            [[t, str(c), str(p), s] for t, c, p, s in rows],
        )
    )


def format_transaction(view: TransactionView, now_ms: int | None = None) -> str:
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    started = view.start_time_ms if view.start_time_ms >= 0 else None
    duration = None if started is None else max(now_ms - started, 0)
    row = [
        str(view.coordinator),
        view.transactional_id,
        str(view.producer_id),
        str(view.producer_epoch),
        view.state,
        str(view.timeout_ms),
        "None" if started is None else str(started),
        "None" if duration is None else str(duration),
        ",".join(f"{t}-{p}" for t, p in view.partitions),
    ]
    header = [
        "CoordinatorId",
        "TransactionalId",
        "ProducerId",
        "ProducerEpoch",
        "TransactionState",
        "TransactionTimeoutMs",
        "CurrentTransactionStartTimeMs",
        "TransactionDurationMs",
        "TopicPartitions",
    ]
    return "\n".join(table(header, [row]))


def format_producers(producers: list[ProducerView]) -> str:
    header = [
        "ProducerId",
        "ProducerEpoch",
        "LatestCoordinatorEpoch",
        "LastSequence",
        "LastTimestamp",
        "CurrentTransactionStartOffset",
    ]
    rows = [
        [
            str(p.producer_id),
            str(p.producer_epoch),
            str(p.coordinator_epoch),
            str(p.last_sequence),
            str(p.last_timestamp),
            "None" if p.txn_start_offset < 0 else str(p.txn_start_offset),
        ]
        for p in producers
    ]
    return "\n".join(table(header, rows))
