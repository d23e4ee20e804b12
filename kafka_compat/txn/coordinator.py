"""The transaction coordinator (Kafka's TransactionCoordinator).

Serves the transactional ids of the `__transaction_state` partitions this broker
leads: InitProducerId (new producer ids, epoch bumps, fencing an open transaction,
KIP-360 recovery), AddPartitionsToTxn (and the KIP-890 verification form),
EndTxn, DescribeTransactions and ListTransactions. Every state change is written
before it is answered (state_manager.py); EndTxn writes PrepareCommit/PrepareAbort,
answers, then sends the markers (markers.py) and writes CompleteCommit/CompleteAbort
once every partition has its marker. A partition loaded with a transaction in a
Prepare state is finished the same way. The producer's next AddPartitionsToTxn, which
often arrives meanwhile (or a new instance's InitProducerId), waits briefly for that
instead of being answered CONCURRENT_TRANSACTIONS at once.

Background work lives in `run`'s nursery: loading at start-up, the marker senders,
aborting transactions past their timeout
(`transaction.abort.timed.out.transaction.cleanup.interval.ms`) and removing idle
transactional ids (`transactional.id.expiration.ms`, checked every
`transaction.remove.expired.transaction.cleanup.interval.ms`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import NamedTuple

import trio

from kafka_compat.clock import Clock, wall_clock_ms
from kafka_compat.cluster.store import StoreError
from kafka_compat.producer_ids import ProducerIdManager
from kafka_compat.txn.markers import TxnMarker, TxnMarkerSender
from kafka_compat.txn.metadata import (
    EXPIRABLE_STATES,
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    PREPARE_STATES,
    TransactionMetadata,
    TransactionState,
    TxnTransit,
    is_epoch_exhausted,
)
from kafka_compat.txn.state_manager import TransactionStateManager
from protocol.errors import ErrorCode

log = logging.getLogger(__name__)

S = TransactionState
TopicPartition = tuple[str, int]

# EndTxn is answered before the markers and the Complete* state are written, and a
# producer's next AddPartitionsToTxn usually arrives meanwhile (or a new instance's
# InitProducerId): it waits this long for them before answering CONCURRENT_TRANSACTIONS,
# which clients retry only after 20 ms (AddPartitionsToTxn) or 100 ms or more.
COMPLETION_WAIT_S = 0.05


class ProducerIdAndEpoch(NamedTuple):
    error: int
    producer_id: int = NO_PRODUCER_ID
    producer_epoch: int = NO_PRODUCER_EPOCH


class TxnDescription(NamedTuple):
    """DescribeTransactions' view of one id."""

    error: int
    state: str = ""
    timeout_ms: int = 0
    start_ms: int = -1
    producer_id: int = NO_PRODUCER_ID
    producer_epoch: int = NO_PRODUCER_EPOCH
    partitions: tuple[TopicPartition, ...] = ()


class TransactionCoordinator:
    def __init__(
        self,
        state_manager: TransactionStateManager,
        producer_ids: ProducerIdManager,
        marker_sender: TxnMarkerSender,
        *,
        time_ms: Clock = wall_clock_ms,
    ):
        self.state_manager = state_manager
        self.config = state_manager.config
        self.producer_ids = producer_ids
        self.marker_sender = marker_sender
        marker_sender.now_ms = time_ms
        self.time_ms = time_ms
        self._nursery: trio.Nursery | None = None
        self._loaded = trio.Event()
        # Set once a transaction's markers and Complete* state are written (or given up).
        self._completions: dict[str, trio.Event] = {}
        # Closed when the coordinator stops (the produce path's verifier's clients).
        self.on_stop: list[Callable[[], Awaitable[None]]] = [marker_sender.aclose]

    # ---- lifecycle -------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self._nursery is not None

    async def run(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Load the partitions this broker leads, then own the markers and the periodic
        cleanups until cancelled. Started as soon as requests can be answered
        (COORDINATOR_LOAD_IN_PROGRESS until loaded)."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                partitions = self.state_manager.startup()
                task_status.started()
                for index in partitions:
                    await self.load_partition(index)
                self._loaded.set()
                nursery.start_soon(
                    self._every, self.config.abort_interval_ms, self.abort_timed_out_transactions
                )
                nursery.start_soon(
                    self._every,
                    self.config.remove_expired_interval_ms,
                    self.remove_expired_transactional_ids,
                )
        finally:
            self._nursery = None
            with trio.CancelScope(shield=True):
                for close in self.on_stop:
                    await close()

    async def wait_loaded(self) -> None:
        await self._loaded.wait()

    @staticmethod
    async def _every(interval_ms: int, fn) -> None:
        while True:
            await trio.sleep(interval_ms / 1000)
            try:
                await fn()
            except Exception:
                log.exception("Transaction coordinator: %s failed", fn.__name__)

    def partition_for(self, transactional_id: str) -> int:
        return self.state_manager.partition_for(transactional_id)

    async def ensure_topic(self) -> int:
        """Create __transaction_state on first use; an error code."""
        return await self.state_manager.ensure_topic()

    async def load_partition(self, index: int) -> None:
        """This broker leads `index` now: load it and finish what its previous
        coordinator left in PrepareCommit / PrepareAbort."""
        for metadata in await self.state_manager.load_partition(index):
            epoch = self.state_manager.epochs.get(index)
            if epoch is None or metadata.pending_state is not None or not self.active:
                continue
            self._start_completion(metadata, epoch, metadata.prepare_complete(self.time_ms()))

    def unload_partition(self, index: int) -> None:
        self.state_manager.unload_partition(index)

    def _spawn(self, fn, *args) -> None:
        if self._nursery is None:
            raise RuntimeError("the transaction coordinator is not running")
        self._nursery.start_soon(fn, *args)

    # ---- InitProducerId --------------------------------------------------------------

    async def init_producer_id(
        self, transactional_id: str, timeout_ms: int, expected: tuple[int, int] | None
    ) -> ProducerIdAndEpoch:
        """Kafka's handleInitProducerId for a transactional id; `expected` is the
        request's (producer id, epoch) when given (KIP-360)."""
        if transactional_id == "":
            return ProducerIdAndEpoch(ErrorCode.INVALID_REQUEST)
        if not 0 < timeout_ms <= self.config.max_timeout_ms:
            return ProducerIdAndEpoch(ErrorCode.INVALID_TRANSACTION_TIMEOUT)
        if not self.active:
            return ProducerIdAndEpoch(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        error = await self.ensure_topic()
        if error:
            return ProducerIdAndEpoch(error)
        error, _, metadata = self.state_manager.get(transactional_id)
        if error:
            return ProducerIdAndEpoch(error)
        if metadata is None:
            new_id = await self._new_producer_id()
            if new_id is None:
                return ProducerIdAndEpoch(ErrorCode.COORDINATOR_NOT_AVAILABLE)
            error, _, metadata = self.state_manager.get(transactional_id)
            if error:
                return ProducerIdAndEpoch(error)
            if metadata is None:
                metadata = self.state_manager.put_if_absent(
                    TransactionMetadata(
                        transactional_id,
                        new_id,
                        timeout_ms=timeout_ms,
                        last_update_ms=self.time_ms(),
                    )
                )
        rotated_id = None
        if metadata.is_epoch_exhausted and metadata.state in EXPIRABLE_STATES:
            rotated_id = await self._new_producer_id()
            if rotated_id is None:
                return ProducerIdAndEpoch(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        error, coordinator_epoch, current = await self._after_completion(transactional_id)
        if error or current is not metadata:
            return ProducerIdAndEpoch(error or ErrorCode.CONCURRENT_TRANSACTIONS)
        result = self._prepare_init(metadata, timeout_ms, expected, rotated_id)
        if isinstance(result, int):
            return ProducerIdAndEpoch(result)
        if result.state == S.PREPARE_EPOCH_FENCE:
            # Abort the open transaction first; the client retries and gets the epoch
            # bumped a second time once the abort is complete.
            ended = await self._end_transaction(
                transactional_id,
                result.producer_id,
                result.producer_epoch,
                commit=False,
                from_client=False,
            )
            return ProducerIdAndEpoch(ended.error or ErrorCode.CONCURRENT_TRANSACTIONS)
        error = await self.state_manager.append_transition(metadata, coordinator_epoch, result)
        if error:
            return ProducerIdAndEpoch(error)
        log.info(
            "Initialized transactional id %s with producer id %d and epoch %d",
            transactional_id,
            metadata.producer_id,
            metadata.producer_epoch,
        )
        return ProducerIdAndEpoch(ErrorCode.NONE, metadata.producer_id, metadata.producer_epoch)

    def _prepare_init(
        self,
        metadata: TransactionMetadata,
        timeout_ms: int,
        expected: tuple[int, int] | None,
        rotated_id: int | None,
    ) -> TxnTransit | int:
        if metadata.pending_transition_in_progress:
            return ErrorCode.CONCURRENT_TRANSACTIONS
        if expected is not None:
            expected_id, expected_epoch = expected
            valid = (
                metadata.producer_epoch == NO_PRODUCER_EPOCH
                or expected_id == metadata.producer_id
                or (expected_id == metadata.prev_producer_id and is_epoch_exhausted(expected_epoch))
            )
            if not valid:
                return ErrorCode.PRODUCER_FENCED
        state = metadata.state
        if state in PREPARE_STATES:
            return ErrorCode.CONCURRENT_TRANSACTIONS
        now = self.time_ms()
        if state in EXPIRABLE_STATES:
            if metadata.is_epoch_exhausted and (
                expected is None or expected[1] == metadata.producer_epoch
            ):
                return metadata.prepare_producer_id_rotation(
                    rotated_id, timeout_ms, now, expected is not None
                )
            transit = metadata.prepare_increment_producer_epoch(
                timeout_ms, None if expected is None else expected[1], now
            )
            return ErrorCode.PRODUCER_FENCED if transit is None else transit
        if state == S.ONGOING:
            return metadata.prepare_fence_producer_epoch()
        log.error("Transactional id %s in state %s", metadata.transactional_id, state.name)
        return ErrorCode.UNKNOWN_SERVER_ERROR

    async def _new_producer_id(self) -> int | None:
        try:
            return await self.producer_ids.generate_producer_id()
        except (StoreError, OSError) as exc:
            log.warning("Cannot reserve producer ids: %s", exc)
            return None

    # ---- AddPartitionsToTxn ----------------------------------------------------------

    def _check_producer(
        self, metadata: TransactionMetadata | None, producer_id: int, epoch: int
    ) -> int:
        if metadata is None or metadata.producer_id != producer_id:
            return ErrorCode.INVALID_PRODUCER_ID_MAPPING
        if metadata.producer_epoch != epoch:
            return ErrorCode.PRODUCER_FENCED
        return ErrorCode.NONE

    async def add_partitions(
        self, transactional_id: str, producer_id: int, epoch: int, partitions: set[TopicPartition]
    ) -> int:
        """Kafka's handleAddPartitionsToTransaction: one error for all the partitions."""
        if not transactional_id:
            return ErrorCode.INVALID_REQUEST
        error, coordinator_epoch, metadata = await self._after_completion(transactional_id)
        if error:
            return error
        error = self._check_producer(metadata, producer_id, epoch)
        if error:
            return error
        if metadata.pending_transition_in_progress or metadata.state in PREPARE_STATES:
            return ErrorCode.CONCURRENT_TRANSACTIONS
        if metadata.state == S.ONGOING and partitions <= metadata.partitions:
            return ErrorCode.NONE
        transit = metadata.prepare_add_partitions(partitions, self.time_ms())
        return await self.state_manager.append_transition(metadata, coordinator_epoch, transit)

    def verify_partitions(
        self,
        transactional_id: str,
        producer_id: int,
        epoch: int,
        partitions: Iterable[TopicPartition],
    ) -> dict[TopicPartition, int]:
        """KIP-890: is each partition in the producer's ongoing transaction? NONE, or
        TRANSACTION_ABORTABLE for one that is not (Kafka's
        handleVerifyPartitionsInTransaction)."""
        partitions = list(partitions)
        if not transactional_id:
            return dict.fromkeys(partitions, ErrorCode.INVALID_REQUEST)
        error, _, metadata = self.state_manager.get(transactional_id)
        if not error:
            error = self._check_producer(metadata, producer_id, epoch)
        if not error and metadata.state in PREPARE_STATES:
            error = ErrorCode.CONCURRENT_TRANSACTIONS
        if error:
            return dict.fromkeys(partitions, error)
        return {
            tp: ErrorCode.NONE if tp in metadata.partitions else ErrorCode.TRANSACTION_ABORTABLE
            for tp in partitions
        }

    # ---- EndTxn ----------------------------------------------------------------------

    async def end_transaction(
        self, transactional_id: str, producer_id: int, epoch: int, commit: bool
    ) -> ProducerIdAndEpoch:
        return await self._end_transaction(
            transactional_id, producer_id, epoch, commit=commit, from_client=True
        )

    async def _end_transaction(
        self,
        transactional_id: str,
        producer_id: int,
        epoch: int,
        *,
        commit: bool,
        from_client: bool,
    ) -> ProducerIdAndEpoch:
        if not transactional_id:
            return ProducerIdAndEpoch(ErrorCode.INVALID_REQUEST)
        error, coordinator_epoch, metadata = self.state_manager.get(transactional_id)
        if error:
            return ProducerIdAndEpoch(error)
        if metadata is None or metadata.producer_id != producer_id:
            return ProducerIdAndEpoch(ErrorCode.INVALID_PRODUCER_ID_MAPPING)
        current = (metadata.producer_id, metadata.producer_epoch)
        if (from_client and epoch != metadata.producer_epoch) or epoch < metadata.producer_epoch:
            return ProducerIdAndEpoch(ErrorCode.PRODUCER_FENCED)
        fencing = metadata.pending_state == S.PREPARE_EPOCH_FENCE
        if metadata.pending_transition_in_progress and not fencing:
            return ProducerIdAndEpoch(ErrorCode.CONCURRENT_TRANSACTIONS)
        state = metadata.state
        if state == S.ONGOING:
            if fencing and commit:
                return ProducerIdAndEpoch(ErrorCode.INVALID_TXN_STATE)
            if fencing:
                # The fence's epoch goes into the PrepareAbort (never to a client).
                metadata.pending_state = None
                metadata.producer_epoch = epoch
                metadata.last_producer_epoch = NO_PRODUCER_EPOCH
            target = S.PREPARE_COMMIT if commit else S.PREPARE_ABORT
            transit = metadata.prepare_abort_or_commit(target, self.time_ms())
        elif state == (S.COMPLETE_COMMIT if commit else S.COMPLETE_ABORT):
            return ProducerIdAndEpoch(ErrorCode.NONE, *current)  # a retry of what is done
        elif state == (S.PREPARE_COMMIT if commit else S.PREPARE_ABORT):
            return ProducerIdAndEpoch(ErrorCode.CONCURRENT_TRANSACTIONS)
        else:
            log.debug(
                "EndTxn(%s) for %s in state %s",
                "commit" if commit else "abort",
                transactional_id,
                state.display_name,
            )
            return ProducerIdAndEpoch(ErrorCode.INVALID_TXN_STATE)
        error = await self.state_manager.append_transition(metadata, coordinator_epoch, transit)
        if error:
            if (
                fencing
                and self.state_manager.epochs.get(self.partition_for(transactional_id))
                == coordinator_epoch
            ):
                metadata.has_failed_epoch_fence = True
            return ProducerIdAndEpoch(error)
        # Written: check nothing moved meanwhile, answer, then send the markers.
        error, epoch_now, current_metadata = self.state_manager.get(transactional_id)
        if error or epoch_now != coordinator_epoch or current_metadata is not metadata:
            return ProducerIdAndEpoch(error or ErrorCode.NOT_COORDINATOR)
        if metadata.pending_transition_in_progress or metadata.state != transit.state:
            return ProducerIdAndEpoch(ErrorCode.CONCURRENT_TRANSACTIONS)
        self._start_completion(
            metadata, coordinator_epoch, metadata.prepare_complete(self.time_ms())
        )
        return ProducerIdAndEpoch(ErrorCode.NONE, metadata.producer_id, metadata.producer_epoch)

    async def _after_completion(
        self, transactional_id: str
    ) -> tuple[int, int, TransactionMetadata | None]:
        """state_manager.get(transactional_id), once the id's last transaction is
        completed if it is being completed (waiting at most COMPLETION_WAIT_S)."""
        found = self.state_manager.get(transactional_id)
        _, _, metadata = found
        done = self._completions.get(transactional_id)
        if done is not None and metadata is not None and metadata.state in PREPARE_STATES:
            with trio.move_on_after(COMPLETION_WAIT_S):
                await done.wait()
            found = self.state_manager.get(transactional_id)
        return found

    def _start_completion(
        self, metadata: TransactionMetadata, coordinator_epoch: int, complete: TxnTransit
    ) -> None:
        done = self._completions[metadata.transactional_id] = trio.Event()
        self._spawn(self._complete_transaction, metadata, coordinator_epoch, complete, done)

    async def _complete_transaction(
        self,
        metadata: TransactionMetadata,
        coordinator_epoch: int,
        complete: TxnTransit,
        done: trio.Event,
    ) -> None:
        try:
            await self._send_markers_and_complete(metadata, coordinator_epoch, complete)
        finally:
            done.set()
            if self._completions.get(metadata.transactional_id) is done:
                del self._completions[metadata.transactional_id]

    async def _send_markers_and_complete(
        self, metadata: TransactionMetadata, coordinator_epoch: int, complete: TxnTransit
    ) -> None:
        """Send the markers of a Prepare* transaction, then write its Complete* state
        (retried until written or this broker is no longer its coordinator)."""
        commit = metadata.state == S.PREPARE_COMMIT
        marker = TxnMarker(
            metadata.producer_id,
            metadata.producer_epoch,
            commit,
            coordinator_epoch,
            tuple(sorted(metadata.partitions)),
        )
        transactional_id = metadata.transactional_id

        def still_current() -> bool:
            error, epoch, current = self.state_manager.get(transactional_id)
            return not error and epoch == coordinator_epoch and current is metadata

        delivered = await self.marker_sender.send(marker, still_current)
        if not delivered:
            if still_current():
                metadata.pending_state = None
            return
        while still_current():
            metadata.pending_state = complete.state
            error = await self.state_manager.append_transition(
                metadata, coordinator_epoch, complete
            )
            if error == ErrorCode.NONE:
                log.debug("%s: %s", transactional_id, complete.state.display_name)
                return
            if error == ErrorCode.NOT_COORDINATOR:
                return
            log.info(
                "Writing %s for %s: %s; retrying",
                complete.state.display_name,
                transactional_id,
                ErrorCode(error).name,
            )
            await trio.sleep(0.1)

    # ---- timeouts and expiry ---------------------------------------------------------

    async def abort_timed_out_transactions(self) -> None:
        """Abort every transaction open past its timeout, bumping its producer's epoch
        (Kafka's abortTimedOutTransactions)."""
        for metadata in self.state_manager.timed_out_transactions(self.time_ms()):
            if metadata.pending_transition_in_progress or metadata.state != S.ONGOING:
                continue
            transit = metadata.prepare_fence_producer_epoch()
            log.info(
                "Aborting transaction %s of producer %d: open longer than %d ms",
                metadata.transactional_id,
                metadata.producer_id,
                metadata.timeout_ms,
            )
            result = await self._end_transaction(
                metadata.transactional_id,
                transit.producer_id,
                transit.producer_epoch,
                commit=False,
                from_client=False,
            )
            if result.error:
                log.info(
                    "Aborting timed-out transaction %s: %s",
                    metadata.transactional_id,
                    ErrorCode(result.error).name,
                )

    async def remove_expired_transactional_ids(self) -> None:
        """Tombstone the ids idle longer than transactional.id.expiration.ms."""
        for metadata in self.state_manager.expired_ids(self.time_ms()):
            error, epoch, current = self.state_manager.get(metadata.transactional_id)
            if error or current is not metadata or metadata.pending_transition_in_progress:
                continue
            transit = metadata.prepare_dead()
            error = await self.state_manager.append_transition(metadata, epoch, transit)
            if error:
                log.info("Cannot expire %s: %s", metadata.transactional_id, ErrorCode(error).name)
            else:
                log.info("Expired transactional id %s", metadata.transactional_id)

    # ---- DescribeTransactions and ListTransactions ------------------------------------

    def describe(self, transactional_id: str) -> TxnDescription:
        if not self.active:
            return TxnDescription(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        if not transactional_id:
            return TxnDescription(ErrorCode.INVALID_REQUEST)
        error, _, metadata = self.state_manager.get(transactional_id)
        if error:
            return TxnDescription(error)
        if metadata is None or metadata.state == S.DEAD:
            return TxnDescription(ErrorCode.TRANSACTIONAL_ID_NOT_FOUND)
        return TxnDescription(
            ErrorCode.NONE,
            metadata.state.display_name,
            metadata.timeout_ms,
            metadata.start_ms,
            metadata.producer_id,
            metadata.producer_epoch,
            tuple(sorted(metadata.partitions)),
        )

    def list_transactions(
        self, producer_ids: Iterable[int], states: Iterable[str], duration_ms: int = -1
    ) -> tuple[int, list[str], list[tuple[str, int, str]]]:
        """(error, unknown state filters, [(transactional id, producer id, state)])."""
        if not self.active:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, [], []
        if self.state_manager.loading:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, [], []
        wanted_ids = set(producer_ids)
        unknown = [s for s in states if TransactionState.from_name(s) is None]
        wanted_states = {TransactionState.from_name(s) for s in states} - {None}
        if states and not wanted_states:
            return ErrorCode.NONE, unknown, []
        now = self.time_ms()
        found = []
        for m in self.state_manager.all_transactions():
            if m.state == S.DEAD:
                continue
            if wanted_ids and m.producer_id not in wanted_ids:
                continue
            if wanted_states and m.state not in wanted_states:
                continue
            if duration_ms >= 0 and now - m.start_ms <= duration_ms:
                continue
            found.append((m.transactional_id, m.producer_id, m.state.display_name))
        return ErrorCode.NONE, unknown, found
