"""The replica manager: which partitions this broker leads or follows, the follower
fetchers, and ISR maintenance (Kafka's ReplicaManager and ReplicaFetcherManager).

- `become_leader_or_follower` applies a LeaderAndIsr request: for each partition
  whose leader epoch is newer, this broker becomes its leader (the log's epoch cache
  gets the new epoch's start offset; __consumer_offsets partitions are loaded by the
  group coordinator) or a follower of the named leader (the partition moves to the
  fetcher for that broker, truncation first; the coordinator unloads it).
- One `FollowerFetcher` per source broker, each a task in the manager's
  `replica_tasks` nursery, fetches all the partitions this broker follows there:
  first OffsetForLeaderEpoch for the partitions that must truncate (a new follower,
  or a restarted one), then Fetch with replica_id = this broker, appending the
  leader's batches as they are (`append_as_follower`) and taking the leader's high
  watermark from the answer.
- ISR: the leader shrinks it when a follower has not caught up for
  `replica.lag.time.max.ms` (checked every half of that) and expands it when a
  follower reaches the high watermark (checked as its fetch arrives); either change
  goes through `isr_updater` (the metadata store's version-checked write) first.
- `stop_replicas` applies StopReplica: the partition stops being fetched or led, and
  its log is deleted when asked.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import trio

from kafka_compat.cluster.client import BrokerClient, BrokerClientError
from kafka_compat.replica import IsrUpdater, Partition
from kafka_compat.topics import OFFSETS_TOPIC
from protocol import messages
from protocol.errors import ErrorCode
from storage.errors import LogError, StorageError

if TYPE_CHECKING:
    from kafka_compat.broker import Broker

log = logging.getLogger(__name__)

FETCH = 1
OFFSET_FOR_LEADER_EPOCH = 23
FETCH_VERSION = 12
OFFSET_FOR_LEADER_EPOCH_VERSION = 3

FetchRequest = messages.request_type(FETCH)
EpochRequest = messages.request_type(OFFSET_FOR_LEADER_EPOCH)
LeaderAndIsrResponse = messages.response_type(4)


def _now_ms() -> int:
    return int(time.time() * 1000)


class ReplicaManager:
    def __init__(self, broker: Broker):
        self.broker = broker
        self.controller_epoch = -1
        self.fetchers: dict[int, FollowerFetcher] = {}
        self.isr_updater: IsrUpdater | None = None
        self._nursery: trio.Nursery | None = None
        config = broker.config
        self.lag_max_ms = config["replica.lag.time.max.ms"]

    async def run(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Own the follower fetchers and the ISR checks until cancelled."""
        try:
            async with trio.open_nursery() as replica_tasks:
                self._nursery = replica_tasks
                replica_tasks.start_soon(self._shrink_isrs)
                task_status.started()
                await trio.sleep_forever()
        finally:
            self._nursery = None
            self.fetchers.clear()

    # ---- LeaderAndIsr ----------------------------------------------------------------

    def become_leader_or_follower(self, request, version: int):
        """Apply a LeaderAndIsr request; the response with an error per partition."""
        if request.controller_epoch < self.controller_epoch:
            return LeaderAndIsrResponse(error_code=ErrorCode.STALE_CONTROLLER_EPOCH)
        self.controller_epoch = request.controller_epoch
        leaders = {b.broker_id: (b.host_name, b.port) for b in request.live_leaders}
        errors: list[tuple[str, bytes, int, int]] = []
        if version >= 2:
            states = [
                (t.topic_name, getattr(t, "topic_id", None), s)
                for t in request.topic_states
                for s in t.partition_states
            ]
        else:
            states = [(s.topic_name, None, s) for s in request.ungrouped_partition_states]
        for topic, topic_id, state in states:
            error = ErrorCode.NONE
            try:
                error = self._apply_partition_state(topic, topic_id, state, leaders)
            except LogError as exc:
                log.warning("LeaderAndIsr for %s-%d failed: %s", topic, state.partition_index, exc)
                error = exc.error_code
            errors.append((topic, topic_id or bytes(16), state.partition_index, error))
        Error = LeaderAndIsrResponse.LeaderAndIsrPartitionError
        if version >= 5:
            by_topic: dict[bytes, list] = {}
            for _, topic_id, index, error in errors:
                by_topic.setdefault(topic_id, []).append(
                    Error(partition_index=index, error_code=error)
                )
            return LeaderAndIsrResponse(
                topics=[
                    LeaderAndIsrResponse.LeaderAndIsrTopicError(
                        topic_id=topic_id, partition_errors=parts
                    )
                    for topic_id, parts in by_topic.items()
                ]
            )
        return LeaderAndIsrResponse(
            partition_errors=[
                Error(topic_name=topic, partition_index=index, error_code=error)
                for topic, _, index, error in errors
            ]
        )

    def _apply_partition_state(self, topic: str, topic_id, state, leaders) -> int:
        broker = self.broker
        local = broker.node_id
        if local not in state.replicas:
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        partition = broker.host_partition(topic, state.partition_index, topic_id)
        if partition.hosted and state.leader_epoch < partition.leader_epoch:
            log.info(
                "%s: ignoring LeaderAndIsr with leader epoch %d below %d",
                partition,
                state.leader_epoch,
                partition.leader_epoch,
            )
            return ErrorCode.STALE_CONTROLLER_EPOCH
        partition.hosted = True
        index = state.partition_index
        if state.leader == local:
            was_leader = partition.is_leader and partition.leader_epoch == state.leader_epoch
            self._remove_from_fetcher(partition)
            partition.log.maybe_assign_epoch_start_offset(state.leader_epoch)
            partition.make_leader(
                state.leader_epoch, list(state.isr), list(state.replicas), state.partition_epoch
            )
            if not was_leader:
                log.info(
                    "%s: leader at epoch %d, ISR %s, HW %d, LEO %d",
                    partition,
                    state.leader_epoch,
                    list(state.isr),
                    partition.high_watermark,
                    partition.log.log_end_offset,
                )
                if topic == OFFSETS_TOPIC:
                    self._spawn(broker.group_coordinator.load_partition, index)
        else:
            changed = partition.make_follower(
                state.leader,
                state.leader_epoch,
                list(state.isr),
                list(state.replicas),
                state.partition_epoch,
            )
            if topic == OFFSETS_TOPIC:
                broker.group_coordinator.unload_partition(index)
            endpoint = leaders.get(state.leader)
            if endpoint is None:
                cached = broker.metadata_cache.brokers.get(state.leader)
                endpoint = None if cached is None else (cached.host, cached.port)
            if changed or partition.fetcher is None:
                self._remove_from_fetcher(partition)
                if state.leader >= 0 and endpoint is not None:
                    self._fetcher_for(state.leader, endpoint).add(partition)
                else:
                    log.info("%s: leader %d not available, not fetching", partition, state.leader)
        return ErrorCode.NONE

    def _fetcher_for(self, leader: int, endpoint: tuple[str, int]) -> FollowerFetcher:
        fetcher = self.fetchers.get(leader)
        if fetcher is not None and fetcher.endpoint != endpoint:
            fetcher.stop()
            fetcher = None
        if fetcher is None:
            fetcher = FollowerFetcher(self, leader, endpoint)
            self.fetchers[leader] = fetcher
            if self._nursery is not None:
                self._nursery.start_soon(fetcher.run)
        return fetcher

    def _remove_from_fetcher(self, partition: Partition) -> None:
        fetcher = partition.fetcher
        if fetcher is not None:
            fetcher.remove(partition)
            if not fetcher.partitions:
                fetcher.stop()
                if self.fetchers.get(fetcher.leader) is fetcher:
                    del self.fetchers[fetcher.leader]

    # ---- StopReplica -----------------------------------------------------------------

    def stop_replica(self, topic: str, index: int, delete: bool) -> int:
        partition = self.broker.partition(topic, index)
        if partition is None:
            return ErrorCode.NONE
        self._remove_from_fetcher(partition)
        if topic == OFFSETS_TOPIC:
            self.broker.group_coordinator.unload_partition(index)
        partition.make_follower(-1, partition.leader_epoch, [], partition.replicas, 0)
        if delete:
            self.broker.unhost_partition(topic, index)
        return ErrorCode.NONE

    # ---- ISR -------------------------------------------------------------------------

    def maybe_expand_isr(self, partition: Partition) -> None:
        """A follower fetched: if it caught up, ask for it back in the ISR."""
        if self.isr_updater is None or self._nursery is None:
            return
        new_isr = partition.isr_to_expand()
        if new_isr is not None:
            partition.isr_change_pending()  # one change at a time, from this tick on
            self._nursery.start_soon(partition.change_isr, new_isr, self.isr_updater)

    async def _shrink_isrs(self) -> None:
        interval = self.lag_max_ms / 2000
        while True:
            await trio.sleep(interval)
            if self.isr_updater is None:
                continue
            now = _now_ms()
            for parts in list(self.broker.partitions.values()):
                for partition in parts:
                    if len(partition.isr) < 2 or not partition.is_leader:
                        continue
                    new_isr = partition.isr_to_shrink(self.lag_max_ms, now)
                    if new_isr is not None:
                        log.info(
                            "%s: shrinking ISR %s -> %s (lag over %d ms)",
                            partition,
                            partition.isr,
                            new_isr,
                            self.lag_max_ms,
                        )
                        await partition.change_isr(new_isr, self.isr_updater)

    def _spawn(self, fn, *args) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(fn, *args)


class FollowerFetcher:
    """Fetches every partition this broker follows on one leader broker."""

    def __init__(self, manager: ReplicaManager, leader: int, endpoint: tuple[str, int]):
        self.manager = manager
        self.leader = leader
        self.endpoint = endpoint
        self.partitions: dict[tuple[str, int], Partition] = {}
        self.truncating: set[tuple[str, int]] = set()
        self._changed = trio.Event()
        self._cancel = trio.CancelScope()
        config = manager.broker.config
        self.max_wait_ms = config["replica.fetch.wait.max.ms"]
        self.max_bytes = config["replica.fetch.max.bytes"]
        self.response_max_bytes = config["replica.fetch.response.max.bytes"]
        self.backoff = config["replica.fetch.backoff.ms"] / 1000

    def __repr__(self) -> str:
        return f"FollowerFetcher(leader {self.leader} at {self.endpoint[0]}:{self.endpoint[1]})"

    def add(self, partition: Partition) -> None:
        key = (partition.topic, partition.index)
        self.partitions[key] = partition
        self.truncating.add(key)
        partition.fetcher = self
        self._wake()

    def remove(self, partition: Partition) -> None:
        key = (partition.topic, partition.index)
        if self.partitions.get(key) is partition:
            del self.partitions[key]
            self.truncating.discard(key)
        partition.fetcher = None
        self._wake()

    def stop(self) -> None:
        self._cancel.cancel()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def run(self) -> None:
        broker = self.manager.broker
        host, port = self.endpoint
        with self._cancel:
            async with BrokerClient(
                host,
                port,
                f"replica-fetcher-{broker.node_id}",
                connect_timeout=5.0,
                request_timeout=self.max_wait_ms / 1000 + 10,
            ) as client:
                log.info("%s started", self)
                failing = False
                while True:
                    if not self.partitions:
                        await self._changed.wait()
                        continue
                    try:
                        if self.truncating:
                            await self._truncate(client)
                        if self.partitions and not self.truncating:
                            await self._fetch(client)
                    except BrokerClientError as exc:
                        # Once per outage: the controller tells us when the leader moves.
                        log.log(logging.DEBUG if failing else logging.INFO, "%s: %s", self, exc)
                        failing = True
                        with trio.move_on_after(self.backoff):
                            await self._changed.wait()
                    else:
                        failing = False

    async def _truncate(self, client: BrokerClient) -> None:
        """Truncate by leader epoch (KIP-101, KIP-279) before fetching."""
        wanted = {key: self.partitions[key] for key in self.truncating if key in self.partitions}
        by_topic: dict[str, list] = {}
        asked: dict[tuple[str, int], tuple[Partition, int, int]] = {}
        truncated = False
        for key, partition in wanted.items():
            latest = partition.log.latest_epoch
            if latest is None:
                # Nothing written under any epoch: the high watermark is safe.
                truncated |= self._truncate_to(partition, partition.high_watermark)
                self.truncating.discard(key)
                continue
            asked[key] = (partition, partition.leader_epoch, latest)
            by_topic.setdefault(key[0], []).append(
                EpochRequest.OffsetForLeaderPartition(
                    partition=key[1],
                    current_leader_epoch=partition.leader_epoch,
                    leader_epoch=latest,
                )
            )
        if by_topic:
            truncated |= await self._truncate_by_epoch(client, by_topic, asked)
        if truncated:
            # As Kafka's LogManager.truncateTo: a recovery point on disk above the cut
            # would skip checking the records written there next after an OS crash.
            try:
                await trio.to_thread.run_sync(self.manager.broker.log_manager.checkpoint)
            except StorageError as exc:
                log.error("Checkpoint after truncation: %s", exc)

    async def _truncate_by_epoch(self, client: BrokerClient, by_topic, asked) -> bool:
        """Ask the leader where each log stops agreeing (OffsetForLeaderEpoch) and
        truncate there. Returns whether any log was truncated."""
        truncated = False
        request = EpochRequest(
            replica_id=self.manager.broker.node_id,
            topics=[
                EpochRequest.OffsetForLeaderTopic(topic=t, partitions=parts)
                for t, parts in by_topic.items()
            ],
        )
        response = await client.send(
            OFFSET_FOR_LEADER_EPOCH, OFFSET_FOR_LEADER_EPOCH_VERSION, request
        )
        retry = False
        answers = self._current_answers(response.topics, asked, lambda r: r.partition)
        for key, partition, latest, result in answers:
            if result.error_code != ErrorCode.NONE:
                retry = True
                continue
            offset = _truncation_offset(partition, latest, result)
            truncated |= self._truncate_to(partition, offset)
            self.truncating.discard(key)
        if retry:
            with trio.move_on_after(self.backoff):
                await self._changed.wait()
        return truncated

    def _truncate_to(self, partition: Partition, offset: int) -> bool:
        end = partition.log.log_end_offset
        if offset >= end:
            return False
        log.info(
            "%s: truncating to %d (log end %d) following leader %d",
            partition,
            offset,
            end,
            self.leader,
        )
        partition.truncate_to(offset)
        return True

    async def _fetch(self, client: BrokerClient) -> None:
        by_topic: dict[str, list] = {}
        asked: dict[tuple[str, int], tuple[Partition, int, int]] = {}
        for key, partition in self.partitions.items():
            offset = partition.log.log_end_offset
            asked[key] = (partition, partition.leader_epoch, offset)
            by_topic.setdefault(key[0], []).append(
                FetchRequest.FetchPartition(
                    partition=key[1],
                    current_leader_epoch=partition.leader_epoch,
                    fetch_offset=offset,
                    log_start_offset=partition.log.log_start_offset,
                    partition_max_bytes=self.max_bytes,
                )
            )
        request = FetchRequest(
            replica_id=self.manager.broker.node_id,
            max_wait_ms=self.max_wait_ms,
            min_bytes=1,
            max_bytes=self.response_max_bytes,
            isolation_level=0,
            session_id=0,
            session_epoch=-1,
            topics=[FetchRequest.FetchTopic(topic=t, partitions=p) for t, p in by_topic.items()],
            forgotten_topics_data=[],
            rack_id="",
        )
        response = await client.send(FETCH, FETCH_VERSION, request)
        backoff = False
        answers = self._current_answers(response.responses, asked, lambda d: d.partition_index)
        for key, partition, offset, data in answers:
            if not self._handle_fetched(partition, key, offset, data):
                backoff = True
        if backoff:
            with trio.move_on_after(self.backoff):
                await self._changed.wait()

    def _current_answers(self, topics, asked, index_of):
        """(key, partition, what was asked, answer) for each answered partition that this
        fetcher still follows at the epoch it asked with (else the next round asks
        again). `asked` maps keys to (partition, leader epoch, value)."""
        for topic in topics:
            for answer in topic.partitions:
                key = (topic.topic, index_of(answer))
                entry = asked.get(key)
                if entry is None:
                    continue
                partition, epoch, value = entry
                if self.partitions.get(key) is partition and partition.leader_epoch == epoch:
                    yield key, partition, value, answer

    def _handle_fetched(self, partition: Partition, key, offset: int, data) -> bool:
        """Apply one partition's answer; False asks for a backoff."""
        error = data.error_code
        if error == ErrorCode.NONE:
            if partition.log.log_end_offset != offset:
                return True  # truncated meanwhile; fetch again from the new end
            try:
                partition.append_as_follower(data.records or b"", data.high_watermark)
            except LogError as exc:
                log.warning("%s: cannot append fetched data: %s", partition, exc)
                self.truncating.add(key)
                return False
            return True
        if error == ErrorCode.OFFSET_OUT_OF_RANGE:
            leader_start = data.log_start_offset
            if leader_start >= 0 and offset < leader_start:
                log.info(
                    "%s: behind the leader's log start %d, restarting there",
                    partition,
                    leader_start,
                )
                partition.log.truncate_fully_and_start_at(leader_start)
                partition.high_watermark = leader_start
            else:
                self.truncating.add(key)
            return True
        if error in (ErrorCode.FENCED_LEADER_EPOCH, ErrorCode.NOT_LEADER_OR_FOLLOWER):
            # The controller has news for us; keep asking until it arrives.
            return False
        log.debug("%s: fetch error %s", partition, ErrorCode(error).name)
        return False


def _truncation_offset(partition: Partition, asked_epoch: int, result) -> int:
    """Where a follower's log stops agreeing with the leader's (Kafka 2.8's rule)."""
    log_ = partition.log
    if result.end_offset < 0 or result.leader_epoch < 0:
        # The leader knows no epoch this old: keep what is committed.
        return min(partition.high_watermark, log_.log_end_offset)
    if result.leader_epoch == asked_epoch:
        return min(result.end_offset, log_.log_end_offset)
    # The leader's largest epoch at or below ours is older than ours: what we have of
    # that epoch ends where the leader's does, or earlier.
    _, ours = log_.end_offset_for_epoch(result.leader_epoch)
    if ours < 0:
        return min(result.end_offset, log_.log_end_offset)
    return min(result.end_offset, ours, log_.log_end_offset)
