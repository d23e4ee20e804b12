"""The replica manager: the partitions this broker holds and the data path through
them (Kafka's ReplicaManager). Handlers and coordinators never touch a log: they ask
this.

- The partition registry: every partition of a known topic, hosted here (a `Log`) or
  not (a `RemoteLog`, answering NOT_LEADER_OR_FOLLOWER in cluster mode); opening logs
  at start-up, hosting and unhosting (LeaderAndIsr / StopReplica), metadata updates,
  topic config application, and the high-watermark checkpoint.
- `append_records`: validation, min.insync.replicas, the append on each partition's
  leader, and the acks=all wait, for Produce and for the coordinators' own writes.
- `fetch_records`: follower positions (ISR, high watermark), reads from followers
  (KIP-392, replica_selector.py), each partition's read up to its isolation bound,
  and the delayed fetch (delayed_fetch.py): a fetch short of min_bytes waits for
  what can satisfy it (a high-watermark advance for consumers, a log-end advance for
  followers, a role change), counting positions, and reads the response once.
- `become_leader_or_follower` applies a LeaderAndIsr request: for each partition
  whose leader epoch is newer, this broker becomes its leader (the log's epoch cache
  gets the new epoch's start offset) or a follower of the named leader (the
  partition moves to the fetcher for that broker, truncation first). Leadership
  listeners (the group coordinator for __consumer_offsets) hear about both.
- ISR: the leader shrinks it when a follower has not caught up for
  `replica.lag.time.max.ms` (checked every half of that) and expands it when a
  follower reaches the high watermark (checked as its fetch arrives); either change
  goes through `isr_updater` (the metadata store's version-checked write) first.
- `stop_replica` applies StopReplica: the partition stops being fetched or led, and
  its log is deleted when asked.

Everything here runs on the Trio loop; opening logs at start-up, closing and
checkpointing are blocking and are called from worker threads by their owners.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, NamedTuple

import trio

from kafka_compat.clock import Clock, wall_clock_ms
from kafka_compat.cluster.metadata_cache import MetadataCache
from kafka_compat.cluster.store import MetadataStore, TopicMetadata
from kafka_compat.config import BrokerConfig
from kafka_compat.delayed_fetch import FetchPartition, FetchRead, FetchResult
from kafka_compat.metrics import BrokerTopicStats, add_request_wait
from kafka_compat.replica import (
    FetchIsolation,
    IsrUpdater,
    OfflineLog,
    Partition,
    RemoteLog,
)
from kafka_compat.replica_alter_log_dirs import ReplicaAlterLogDirsManager
from kafka_compat.replica_selector import RACK_AWARE_SELECTOR, RackAwareReplicaSelector
from protocol import messages
from protocol.errors import ErrorCode
from protocol.records import InvalidRecordError
from storage.errors import LogError
from storage.log import AppendOrigin, Log, LogAppendInfo
from storage.log_config import LogConfig
from storage.log_dirs import LogDirs

if TYPE_CHECKING:
    from kafka_compat.replica_fetcher import FollowerFetcher

log = logging.getLogger(__name__)


# Told the partition index when this broker becomes a partition's leader (a task in the
# replica manager's nursery: loading a coordinator's state takes a while) or stops being.
BecameLeader = Callable[[int], Awaitable[None]]
BecameFollower = Callable[[int], None]


class AppendResult(NamedTuple):
    """One partition's outcome of `append_records` (Kafka's PartitionResponse)."""

    error_code: int
    error_message: str | None = None
    info: LogAppendInfo | None = None
    record_errors: list[tuple[int, str | None]] | None = None  # KIP-467


# A NamedTuple built without its Python-level __new__: per partition on the data path.
_new_tuple = tuple.__new__
_UNKNOWN_TOPIC_OR_PARTITION = AppendResult(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)


class ReplicaManager:
    def __init__(
        self,
        config: BrokerConfig,
        node_id: int,
        metadata_cache: MetadataCache,
        *,
        time_ms: Clock = wall_clock_ms,
    ):
        self.config = config
        self.node_id = node_id
        self.metadata_cache = metadata_cache
        self.time_ms = time_ms
        self.partitions: dict[str, list[Partition]] = {}
        # Set by `startup` once the data dir and the metadata store are open.
        self.log_manager: LogDirs | None = None
        self.store: MetadataStore | None = None
        self._saved_high_watermarks: dict[tuple[str, int], int] = {}
        self.controller_epoch = -1
        self.fetchers: dict[int, FollowerFetcher] = {}
        self.isr_updater: IsrUpdater | None = None
        self._leadership: dict[str, tuple[BecameLeader, BecameFollower]] = {}
        self._nursery: trio.Nursery | None = None
        self.lag_max_ms = config["replica.lag.time.max.ms"]
        # Moves between log dirs (AlterReplicaLogDirs), one task each in our nursery.
        self.moves = ReplicaAlterLogDirsManager(self)
        # Cluster mode: tells the controller a log dir failed (Kafka's
        # /log_dir_event_notification); wired by the broker.
        self.on_log_dir_failure: Callable[[], Awaitable[None]] | None = None
        # What /metrics reads (kafka_compat/metrics.py): per-topic counters, ISR
        # changes, and the delayed operations waiting now (Kafka's purgatory sizes).
        self.topic_stats = BrokerTopicStats()
        self.isr_shrinks = 0
        self.isr_expands = 0
        self.delayed_produces = 0
        self.delayed_fetches = 0

    async def run(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Own the follower fetchers and the ISR checks until cancelled."""
        try:
            async with trio.open_nursery() as replica_tasks:
                self._nursery = replica_tasks
                replica_tasks.start_soon(self._shrink_isrs)
                self._watch_log_dirs()
                task_status.started()
                await trio.sleep_forever()
        finally:
            self._nursery = None
            self.fetchers.clear()
            self.moves.clear()
            if self.log_manager is not None:
                self.log_manager.on_dir_failure = None

    def on_leadership_change(
        self, topic: str, became_leader: BecameLeader, became_follower: BecameFollower
    ) -> None:
        """Call `became_leader(index)` / `became_follower(index)` when this broker starts or
        stops leading a partition of `topic` (Kafka's onLeadershipChange callback)."""
        self._leadership[topic] = (became_leader, became_follower)

    # ---- the partition registry -------------------------------------------------------

    def startup(self, log_manager: LogDirs, store: MetadataStore) -> None:
        """Open (recover) every partition's log found in the data dir. Blocking: called
        from a worker thread before the broker serves."""
        self.log_manager = log_manager
        self.store = store
        log_manager.load({name: self.log_config(t.configs) for name, t in store.topics.items()})
        # replication-offset-checkpoint: where each partition's HW was.
        self._saved_high_watermarks = dict(log_manager.high_watermarks)

    def log_config(self, overrides: dict[str, str]) -> LogConfig:
        return LogConfig.from_topic_configs({**self.config.topic_defaults(), **overrides})

    def get_partition(self, topic: str, index: int) -> Partition | None:
        partitions = self.partitions.get(topic)
        if partitions is None or not 0 <= index < len(partitions):
            return None
        return partitions[index]

    def topic_partitions(self, topic: str) -> list[Partition] | None:
        """Every partition of `topic` this broker knows (hosted or not), by index."""
        return self.partitions.get(topic)

    def all_partitions(self) -> Iterator[Partition]:
        for parts in list(self.partitions.values()):
            yield from parts

    def open_partitions(self, topic: TopicMetadata, is_new: bool = True) -> None:
        """Single node: this broker leads every partition of `topic`; open or create
        the logs of those it does not have yet. `is_new`: the partitions were just
        created (at start-up they were not: with a log dir offline, a missing log may
        be in it, and is not created empty elsewhere; as Kafka's getOrCreateLog)."""
        config = self.log_config(topic.configs)
        existing = self.partitions.setdefault(topic.name, [])
        for index in range(len(existing), topic.partitions):
            log_ = self.log_manager.get_log(topic.name, index)
            offline = self.log_manager.offline_reason(topic.name, index)
            if offline is not None:
                log_ = OfflineLog(f"{topic.name}-{index}", offline)
            else:
                if log_ is None:
                    try:
                        log_ = self.log_manager.create_log(topic.name, index, config, is_new)
                    except LogError as exc:
                        log_ = OfflineLog(f"{topic.name}-{index}", str(exc))
                else:
                    log_.config = config
                if isinstance(log_, Log):
                    log_.assign_topic_id(topic.topic_id)
            existing.append(
                Partition(
                    topic.name,
                    index,
                    log_,
                    local_id=self.node_id,
                    high_watermark=self._saved_high_watermarks.get((topic.name, index)),
                    time_ms=self.time_ms,
                )
            )

    def delete_partitions(self, topic: str) -> None:
        """Single node: a deleted topic's partitions and logs go."""
        for partition in self.partitions.pop(topic, []):
            self.moves.cancel((topic, partition.index))
            self.log_manager.delete_log(topic, partition.index)
        self.topic_stats.remove(topic)

    def remove_stray_logs(self) -> None:
        """Cluster mode, at start-up: delete the local replicas that ZooKeeper's metadata
        no longer has here (Kafka's stray replicas): of a topic deleted while this
        broker was down, of an older topic of the same name, of a partition not
        assigned to this broker."""
        for (topic, index), log_ in self.log_manager.logs().items():
            meta = self.store.topics.get(topic)
            assignment = self.store.assignments.get(topic)
            replicas = assignment.partitions.get(index, ()) if assignment is not None else ()
            if meta is None:
                reason = "its topic no longer exists"
            elif log_.topic_id not in (None, meta.topic_id) and meta.topic_id != bytes(16):
                reason = "it belongs to an older topic of that name"
            elif self.node_id not in replicas:
                reason = "this broker is not one of its replicas"
            else:
                continue
            log.warning("%s: stray replica, deleted: %s", log_.dir, reason)
            self.log_manager.delete_log(topic, index)
            self._saved_high_watermarks.pop((topic, index), None)

    def _placeholders(self, topic: str, count: int) -> list[Partition]:
        existing = self.partitions.setdefault(topic, [])
        for index in range(len(existing), count):
            existing.append(self._remote(topic, index))
        return existing

    def _remote(self, topic: str, index: int) -> Partition:
        return Partition(
            topic,
            index,
            RemoteLog(f"{topic}-{index}"),
            local_id=self.node_id,
            leader_id=-1,
            time_ms=self.time_ms,
        )

    def host_partition(
        self, topic: str, index: int, topic_id: bytes | None, is_new: bool = True
    ) -> Partition:
        """LeaderAndIsr named this broker a replica: the partition with its log
        (opened, or created empty; not while a log dir is offline unless `is_new`)."""
        parts = self._placeholders(topic, index + 1)
        partition = parts[index]
        if not isinstance(partition.log, RemoteLog):
            return partition
        meta = self.store.topics.get(topic)
        config = self.log_config(meta.configs if meta is not None else {})
        offline = self.log_manager.offline_reason(topic, index)
        if offline is not None:
            log_ = OfflineLog(f"{topic}-{index}", offline)
        else:
            log_ = self.log_manager.get_log(topic, index)
            known = topic_id is not None and topic_id != bytes(16)
            if log_ is not None and known and log_.topic_id not in (None, topic_id):
                # Left from an older topic of the same name, deleted while this broker
                # was away: never serve it as the new one.
                log.warning("%s: replica of an older topic of that name: deleted", log_.dir)
                self.log_manager.delete_log(topic, index)
                log_ = None
            if log_ is None:
                log_ = self.log_manager.create_log(topic, index, config, is_new)
            else:
                log_.config = config
            if known:
                log_.assign_topic_id(topic_id)
        partition = Partition(
            topic,
            index,
            log_,
            local_id=self.node_id,
            high_watermark=self._saved_high_watermarks.get((topic, index), 0),
            leader_id=-1,
            time_ms=self.time_ms,
        )
        parts[index] = partition
        self.moves.resume(partition)
        return partition

    def unhost_partition(self, topic: str, index: int) -> None:
        """StopReplica with delete: the log goes; the partition stays known."""
        parts = self.partitions.get(topic)
        if parts is None or index >= len(parts):
            return
        if not isinstance(parts[index].log, RemoteLog):
            self.moves.cancel((topic, index))
            self.log_manager.delete_log(topic, index)
            self._saved_high_watermarks.pop((topic, index), None)
        parts[index] = self._remote(topic, index)
        if topic not in self.metadata_cache.topics and all(
            isinstance(p.log, RemoteLog) for p in parts
        ):
            del self.partitions[topic]  # a deleted topic: nothing of it left here

    def on_metadata_update(self, updates) -> None:
        """UpdateMetadata: known partitions of known topics are listed (hosted or
        not); partitions this broker does not host learn their leader; deleted
        topics whose replicas are gone from here are forgotten."""
        cache = self.metadata_cache
        for topic, _, index, state in updates:
            if state is None:
                continue
            parts = self._placeholders(topic, index + 1)
            partition = parts[index]
            if isinstance(partition.log, RemoteLog):
                partition.leader_id = state.leader
                partition.leader_epoch = state.leader_epoch
        for topic in list(self.partitions):
            if topic not in cache.topics and all(
                isinstance(p.log, RemoteLog) for p in self.partitions[topic]
            ):
                del self.partitions[topic]

    def apply_topic_configs(self, names: Iterable[str]) -> None:
        """Give the local logs of `names` the store's current configs (also when another
        broker changed them: cluster mode calls this on ZooKeeper's notification)."""
        for name in names:
            topic = self.store.topics.get(name)
            if topic is None:
                continue
            config = self.log_config(topic.configs)
            for partition in self.partitions.get(name, ()):
                if not isinstance(partition.log, (OfflineLog, RemoteLog)):
                    partition.log.config = config

    def high_watermarks(self) -> dict[tuple[str, int], int]:
        """Each hosted partition's high watermark (taken on the loop thread)."""
        return {
            (p.topic, p.index): p.high_watermark
            for p in self.all_partitions()
            if not isinstance(p.log, OfflineLog | RemoteLog)
        }

    def checkpoint_high_watermarks(self, marks: dict | None = None) -> None:
        """Write replication-offset-checkpoint (it fsyncs: a worker thread)."""
        self.log_manager.checkpoint_high_watermarks(
            self.high_watermarks() if marks is None else marks
        )

    def shutdown(self) -> None:
        """Checkpoint the high watermarks and close every log (blocking: a worker
        thread, after serving stopped)."""
        if self.log_manager is not None:
            self.checkpoint_high_watermarks()
            self.log_manager.close()
            self.log_manager = None

    # ---- the data path: append -------------------------------------------------------

    async def append_records(
        self,
        entries: dict[tuple[str, int], bytes | memoryview],
        *,
        required_acks: int,
        timeout_ms: int,
        origin: AppendOrigin,
    ) -> dict[tuple[str, int], AppendResult]:
        """Append one batch set to each partition's leader; with acks=all (-1) wait until
        every appended batch is replicated (the high watermark passes it), in parallel,
        or `timeout_ms` passed. An error per partition, never an exception."""
        results: dict[tuple[str, int], AppendResult] = {}
        waits = []
        topic_stats = self.topic_stats.topic
        for key, records in entries.items():
            partition = self.get_partition(*key)
            if partition is None:
                results[key] = _UNKNOWN_TOPIC_OR_PARTITION
                continue
            stats = topic_stats(key[0])
            stats.total_produce_requests += 1
            try:
                info = partition.append_to_leader(records, required_acks, origin)
            except InvalidRecordError as exc:
                results[key] = AppendResult(
                    exc.error_code, str(exc) or None, None, exc.record_errors
                )
                stats.failed_produce(exc.error_code, len(records))
                continue
            except LogError as exc:
                results[key] = AppendResult(exc.error_code, str(exc) or None)
                stats.failed_produce(exc.error_code, len(records))
                continue
            results[key] = _new_tuple(AppendResult, (ErrorCode.NONE, None, info))
            # Kafka's BytesIn/MessagesIn: the request's record batch bytes, the records
            # given offsets (a retried duplicate batch adds none).
            stats.bytes_in += len(records)
            if not info.duplicate and info.last_offset >= 0:
                stats.messages_in += info.last_offset - info.first_offset + 1
            if (
                required_acks == -1
                and info.last_offset >= 0
                and partition.high_watermark <= info.last_offset
            ):
                waits.append((key, partition, info.last_offset))
        if waits:
            now = trio.current_time()
            deadline = now + timeout_ms / 1000
            self.delayed_produces += 1
            try:
                await self._wait_replicated(waits, results, deadline)
            finally:
                self.delayed_produces -= 1
                add_request_wait(trio.current_time() - now)
        return results

    @staticmethod
    async def _wait_replicated(waits, results: dict, deadline: float) -> None:
        """acks=all: every appended batch waits, in parallel, for its high watermark
        (Kafka's DelayedProduce)."""

        async def wait_one(key, partition: Partition, last_offset: int) -> None:
            error = await partition.wait_replicated(last_offset, deadline)
            if error:
                results[key] = AppendResult(error)

        if len(waits) == 1:
            await wait_one(*waits[0])
            return
        async with trio.open_nursery() as replication_waits:
            for wait in waits:
                replication_waits.start_soon(wait_one, *wait)

    # ---- the data path: fetch --------------------------------------------------------

    async def fetch_records(
        self,
        wanted: list[tuple[str, FetchPartition]],
        *,
        replica_id: int,
        max_wait_ms: int,
        min_bytes: int,
        max_bytes: int,
        isolation: FetchIsolation,
        follower_reads: bool = False,
        client_rack: str | None = None,
    ) -> list[FetchResult]:
        """Read each wanted partition (results in the same order). A follower's fetch
        (replica_id >= 0) first records its position (ISR, high watermark). Short of
        min_bytes, wait up to max_wait_ms for what can satisfy it (Kafka's
        DelayedFetch)."""
        partitions = [self.get_partition(topic, p.partition) for topic, p in wanted]
        if replica_id >= 0:
            isolation = FetchIsolation.LOG_END
            for (_, request_part), partition in zip(wanted, partitions, strict=True):
                if (
                    partition is not None
                    and partition.is_leader
                    and not isinstance(partition.log, OfflineLog)  # read: KAFKA_STORAGE_ERROR
                ):
                    partition.update_follower(replica_id, request_part.fetch_offset)
                    self.maybe_expand_isr(partition)
        selector = None
        if (
            follower_reads
            and client_rack
            and self.config["replica.selector.class"] == RACK_AWARE_SELECTOR
        ):
            selector = RackAwareReplicaSelector(self.metadata_cache, self.node_id, client_rack)
        read = FetchRead(wanted, partitions, max_bytes, isolation, follower_reads, selector)
        results = read.read_all()
        if not (read.total >= min_bytes or read.has_error or max_wait_ms <= 0):
            now = trio.current_time()
            self.delayed_fetches += 1
            try:
                results = await read.wait(results, min_bytes, max_wait_ms)
            finally:
                self.delayed_fetches -= 1
                add_request_wait(trio.current_time() - now)
        if read.total or read.has_error:
            self.topic_stats.count_fetch(partitions, results, replica_id >= 0)
        return results

    # ---- LeaderAndIsr ----------------------------------------------------------------

    def become_leader_or_follower(self, request, version: int):
        """Apply a LeaderAndIsr request; the response with an error per partition."""
        if request.controller_epoch < self.controller_epoch:
            return messages.LeaderAndIsrResponse(error_code=ErrorCode.STALE_CONTROLLER_EPOCH)
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
        Error = messages.LeaderAndIsrResponse.LeaderAndIsrPartitionError
        if version >= 5:
            by_topic: dict[bytes, list] = {}
            for _, topic_id, index, error in errors:
                by_topic.setdefault(topic_id, []).append(
                    Error(partition_index=index, error_code=error)
                )
            return messages.LeaderAndIsrResponse(
                topics=[
                    messages.LeaderAndIsrResponse.LeaderAndIsrTopicError(
                        topic_id=topic_id, partition_errors=parts
                    )
                    for topic_id, parts in by_topic.items()
                ]
            )
        return messages.LeaderAndIsrResponse(
            partition_errors=[
                Error(topic_name=topic, partition_index=index, error_code=error)
                for topic, _, index, error in errors
            ]
        )

    def _apply_partition_state(self, topic: str, topic_id, state, leaders) -> int:
        local = self.node_id
        if local not in state.replicas:
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        is_new = getattr(state, "is_new", False)
        partition = self.host_partition(topic, state.partition_index, topic_id, is_new)
        if isinstance(partition.log, OfflineLog):
            return ErrorCode.KAFKA_STORAGE_ERROR  # its log dir failed (as Kafka)
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
                listener = self._leadership.get(topic)
                if listener is not None:
                    self._spawn(listener[0], index)
        else:
            changed = partition.make_follower(
                state.leader,
                state.leader_epoch,
                list(state.isr),
                list(state.replicas),
                state.partition_epoch,
            )
            self._became_follower(topic, index)
            endpoint = leaders.get(state.leader)
            if endpoint is None:
                cached = self.metadata_cache.brokers.get(state.leader)
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
            # Imported here: only a follower (cluster mode) fetches; a single node
            # does not load it at start-up.
            from kafka_compat.replica_fetcher import FollowerFetcher

            fetcher = FollowerFetcher(self.config, self.node_id, self.log_manager, leader, endpoint)
            fetcher.topic_stats = self.topic_stats
            self.fetchers[leader] = fetcher
            self._spawn(fetcher.run)
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
        partition = self.get_partition(topic, index)
        if partition is None:
            return ErrorCode.NONE
        self._remove_from_fetcher(partition)
        self._became_follower(topic, index)
        partition.make_follower(-1, partition.leader_epoch, [], partition.replicas, 0)
        if delete:
            self.unhost_partition(topic, index)
        return ErrorCode.NONE

    # ---- log dirs: failures and moves (AlterReplicaLogDirs) ---------------------------

    def _watch_log_dirs(self) -> None:
        """Hear of failed log dirs (from any thread) on the loop; resume the moves a
        restart interrupted."""
        dirs = self.log_manager
        if dirs is None:
            return
        token = trio.lowlevel.current_trio_token()

        def failed(path, _reason: str) -> None:
            try:
                token.run_sync_soon(self._dir_failed, path)
            except trio.RunFinishedError:
                pass  # shutting down: the next start finds the dir as it is

        dirs.on_dir_failure = failed
        for path in list(dirs.offline_dirs):
            self._dir_failed(path)  # failed before the replicas ran
        for partition in self.all_partitions():
            self.moves.resume(partition)

    def _dir_failed(self, path) -> None:
        """A log dir failed: its partitions go offline (KAFKA_STORAGE_ERROR), the others
        keep serving (Kafka's ReplicaManager.handleLogDirFailure)."""
        dirs = self.log_manager
        if dirs is None:
            return
        keys, abandoned = dirs.take_dir_offline(path)
        reason = dirs.offline_dirs.get(path, "log directory offline")
        for key in abandoned:
            self.moves.cancel(key)
        offline = []
        for topic, index in keys:
            partition = self.get_partition(topic, index)
            if partition is None or isinstance(partition.log, (OfflineLog, RemoteLog)):
                continue
            self.moves.cancel((topic, index))
            self._remove_from_fetcher(partition)
            # Reads and writes answer KAFKA_STORAGE_ERROR from now on; in a cluster the
            # controller elects another leader once told (on_log_dir_failure).
            partition.log = OfflineLog(f"{topic}-{index}", reason)
            if partition.is_leader:
                self._became_follower(topic, index)  # a coordinator unloads its partition
            offline.append(f"{topic}-{index}")
        if not keys and not abandoned:
            return
        log.error(
            "Log dir %s failed: partitions %s offline, moves of %s stopped",
            path,
            ", ".join(offline) or "none",
            ", ".join(f"{t}-{i}" for t, i in abandoned) or "none",
        )
        if self.on_log_dir_failure is not None and self._nursery is not None:
            self._spawn(self.on_log_dir_failure)

    def alter_replica_log_dirs(self, wanted: dict[tuple[str, int], str]) -> dict:
        """AlterReplicaLogDirs: move each partition's log to the named log dir of this
        broker (Kafka's ReplicaManager.alterReplicaLogDirs); an error code each."""
        return self.moves.alter(wanted)

    # ---- ISR -------------------------------------------------------------------------

    def maybe_expand_isr(self, partition: Partition) -> None:
        """A follower fetched: if it caught up, ask for it back in the ISR."""
        if self.isr_updater is None:
            return
        new_isr = partition.isr_to_expand()
        if new_isr is not None:
            self.isr_expands += 1
            partition.isr_change_pending()  # one change at a time, from this tick on
            self._spawn(partition.change_isr, new_isr, self.isr_updater)

    async def _shrink_isrs(self) -> None:
        interval = self.lag_max_ms / 2000
        while True:
            await trio.sleep(interval)
            if self.isr_updater is None:
                continue
            now = self.time_ms()
            for partition in self.all_partitions():
                if (
                    len(partition.isr) < 2
                    or not partition.is_leader
                    or isinstance(partition.log, OfflineLog)
                ):
                    continue
                new_isr = partition.isr_to_shrink(self.lag_max_ms, now)
                if new_isr is not None:
                    self.isr_shrinks += 1
                    log.info(
                        "%s: shrinking ISR %s -> %s (lag over %d ms)",
                        partition,
                        partition.isr,
                        new_isr,
                        self.lag_max_ms,
                    )
                    await partition.change_isr(new_isr, self.isr_updater)

    def _became_follower(self, topic: str, index: int) -> None:
        listener = self._leadership.get(topic)
        if listener is not None:
            listener[1](index)

    @property
    def running(self) -> bool:
        """Whether `run` is under way (tasks can be spawned)."""
        return self._nursery is not None

    def _spawn(self, fn, *args) -> None:
        if self._nursery is None:
            raise RuntimeError(f"replica manager not running: cannot start {fn.__name__}")
        self._nursery.start_soon(fn, *args)
