"""The transaction coordinator's decisions, with its log and markers faked: what
InitProducerId, AddPartitionsToTxn and EndTxn answer in each state, epoch exhaustion,
fencing and the timeout abort (Kafka's TransactionCoordinator)."""

from __future__ import annotations

import trio
import trio.testing

from kafka_compat.txn.coordinator import TransactionCoordinator
from kafka_compat.txn.metadata import MAX_EPOCH
from kafka_compat.txn.state_manager import TransactionStateManager, TxnConfig
from protocol.errors import ErrorCode


class FakeLogTopic:
    """__transaction_state of one partition that accepts every append."""

    leads_all = True

    def __init__(self) -> None:
        self.appended: list[bytes] = []
        self.exists = False

    def partition_count(self) -> int | None:
        return 1 if self.exists else None

    async def create(self, config) -> int:
        self.exists = True
        return 1

    def leader_epoch(self, index: int) -> int:
        return 0

    def log(self, index: int):
        return None

    async def append(self, index: int, batch: bytes, timeout_ms: int) -> int:
        self.appended.append(batch)
        return ErrorCode.NONE


class FakeProducerIds:
    def __init__(self) -> None:
        self.next = 100

    async def generate_producer_id(self) -> int:
        self.next += 1
        return self.next


class FakeMarkers:
    def __init__(self) -> None:
        self.sent = []
        self.now_ms = None

    async def send(self, marker, still_current) -> bool:
        self.sent.append(marker)
        return True

    async def aclose(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 1_000

    def __call__(self) -> int:
        return self.now


async def start(nursery, clock=None) -> tuple[TransactionCoordinator, FakeMarkers]:
    clock = clock or Clock()
    markers = FakeMarkers()
    config = TxnConfig(num_partitions=1, max_timeout_ms=60_000, abort_interval_ms=10**9)
    coordinator = TransactionCoordinator(
        TransactionStateManager(FakeLogTopic(), config, time_ms=clock),
        FakeProducerIds(),
        markers,
        time_ms=clock,
    )
    await nursery.start(coordinator.run)
    return coordinator, markers


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


async def test_a_transaction_from_init_to_commit(nursery):
    c, markers = await start(nursery)
    assert await c.init_producer_id("t", 70_000, None) == (
        ErrorCode.INVALID_TRANSACTION_TIMEOUT,
        -1,
        -1,
    )
    error, pid, epoch = await c.init_producer_id("t", 10_000, None)
    assert (error, epoch) == (0, 0)
    assert await c.end_transaction("t", pid, 0, True) == (ErrorCode.INVALID_TXN_STATE, -1, -1)
    assert (
        await c.add_partitions("t", pid + 1, 0, {("a", 0)}) == ErrorCode.INVALID_PRODUCER_ID_MAPPING
    )
    assert await c.add_partitions("t", pid, 1, {("a", 0)}) == ErrorCode.PRODUCER_FENCED
    assert await c.add_partitions("t", pid, 0, {("a", 0), ("b", 1)}) == 0
    assert c.verify_partitions("t", pid, 0, [("a", 0), ("c", 0)]) == {
        ("a", 0): 0,
        ("c", 0): ErrorCode.TRANSACTION_ABORTABLE,
    }
    assert (await c.end_transaction("t", pid, 0, True)).error == 0
    await settle()
    (marker,) = markers.sent
    assert (marker.commit, marker.partitions) == (True, (("a", 0), ("b", 1)))
    assert c.describe("t").state == "CompleteCommit"
    # A retried commit is answered again; an abort now is a state error.
    assert (await c.end_transaction("t", pid, 0, True)).error == 0
    assert (await c.end_transaction("t", pid, 0, False)).error == ErrorCode.INVALID_TXN_STATE


async def test_an_exhausted_epoch_gets_a_new_producer_id(nursery):
    c, _ = await start(nursery)
    _, pid, _ = await c.init_producer_id("t", 10_000, None)
    _, _, metadata = c.state_manager.get("t")
    metadata.producer_epoch = MAX_EPOCH - 1
    error, new_pid, epoch = await c.init_producer_id("t", 10_000, None)
    assert (error, epoch) == (0, 0) and new_pid != pid


async def test_init_on_an_open_transaction_fences_it_and_aborts(nursery):
    c, markers = await start(nursery)
    _, pid, _ = await c.init_producer_id("t", 10_000, None)
    await c.add_partitions("t", pid, 0, {("a", 0)})
    # The first answer asks the client to retry while the abort completes.
    assert (await c.init_producer_id("t", 10_000, None)).error == ErrorCode.CONCURRENT_TRANSACTIONS
    await settle()
    (marker,) = markers.sent
    assert (marker.commit, marker.producer_epoch) == (False, 1)
    assert await c.init_producer_id("t", 10_000, None) == (0, pid, 2)
    assert (await c.end_transaction("t", pid, 0, True)).error == ErrorCode.PRODUCER_FENCED


async def test_a_transaction_past_its_timeout_is_aborted(nursery):
    clock = Clock()
    c, markers = await start(nursery, clock)
    _, pid, _ = await c.init_producer_id("t", 5_000, None)
    await c.add_partitions("t", pid, 0, {("a", 0)})
    clock.now += 4_000
    await c.abort_timed_out_transactions()
    assert c.describe("t").state == "Ongoing"
    clock.now += 2_000
    await c.abort_timed_out_transactions()
    await settle()
    assert c.describe("t")[1:2] == ("CompleteAbort",)
    assert c.describe("t").producer_epoch == 1  # the producer is fenced
    assert [m.commit for m in markers.sent] == [False]
    assert c.list_transactions([], ["CompleteAbort"])[2] == [("t", pid, "CompleteAbort")]
