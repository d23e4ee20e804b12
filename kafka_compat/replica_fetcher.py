"""Follower fetchers: one task per leader broker, replicating every partition this
broker follows there (Kafka's ReplicaFetcherThread).

A fetcher first truncates the partitions that must (a new follower, or a restarted
one) by leader epoch (OffsetForLeaderEpoch, KIP-101/279), then fetches with
replica_id = this broker, appending the leader's batches as they are
(`append_as_follower`) and taking the leader's high watermark from the answer. It runs
in the replica manager's `replica_tasks` nursery; `stop()` cancels it.
"""

from __future__ import annotations

import logging

import trio

from kafka_compat.cluster.client import (
    BrokerAuthenticationFailed,
    BrokerClient,
    BrokerClientError,
)
from kafka_compat.config import BrokerConfig
from kafka_compat.events import Signal
from kafka_compat.fetch_session import INITIAL_EPOCH, INVALID_SESSION_ID, next_epoch
from kafka_compat.metrics import BrokerTopicStats
from kafka_compat.replica import Partition
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from storage.errors import LogError, StorageError
from storage.log_dirs import LogDirs

log = logging.getLogger(__name__)

FETCH_VERSION = 12
OFFSET_FOR_LEADER_EPOCH_VERSION = 3

FetchRequest = messages.request_type(ApiKey.FETCH)
EpochRequest = messages.request_type(ApiKey.OFFSET_FOR_LEADER_EPOCH)


class FollowerFetchSession:
    """The follower's side of a fetch session on its leader (Kafka's
    FetchSessionHandler): a full fetch opens it, then each fetch names only the
    partitions whose fetch parameters changed, and those this follower stopped
    fetching (forgotten); the leader answers only partitions that changed."""

    def __init__(self) -> None:
        self.session_id = INVALID_SESSION_ID
        self.epoch = INITIAL_EPOCH
        # What the leader's session holds: key -> the fetch parameters last sent
        self.sent: dict[tuple[str, int], tuple] = {}

    def build(self, wanted: dict) -> tuple[int, int, dict, list[tuple[str, int]]]:
        """(session id, epoch, the partitions to send, the keys to forget)."""
        if self.session_id == INVALID_SESSION_ID or self.epoch == INITIAL_EPOCH:
            # A full fetch; epoch 0 with our old id also closes that session.
            self.sent = {key: _params(p) for key, p in wanted.items()}
            return self.session_id, INITIAL_EPOCH, wanted, []
        sent = self.sent
        to_send = {}
        for key, fetch_partition in wanted.items():
            params = _params(fetch_partition)
            if sent.get(key) != params:
                sent[key] = params
                to_send[key] = fetch_partition
        forgotten = [key for key in sent if key not in wanted]
        for key in forgotten:
            del sent[key]
        return self.session_id, self.epoch, to_send, forgotten

    def handle_response(self, response, full: bool) -> bool:
        """Advance the session; False on a session error (its partitions hold nothing)."""
        error = response.error_code
        if error != ErrorCode.NONE:
            if error == ErrorCode.FETCH_SESSION_ID_NOT_FOUND:
                self.session_id = INVALID_SESSION_ID
            self.epoch = INITIAL_EPOCH
            return False
        if full or response.session_id == INVALID_SESSION_ID:
            # A new session (or none: the leader's cache had no room, or it closed ours).
            self.session_id = response.session_id
            self.epoch = next_epoch(INITIAL_EPOCH) if self.session_id else INITIAL_EPOCH
        else:
            self.epoch = next_epoch(self.epoch)
        return True

    def reset(self) -> None:
        self.epoch = INITIAL_EPOCH


def _params(fetch_partition) -> tuple:
    return (
        fetch_partition.fetch_offset,
        fetch_partition.log_start_offset,
        fetch_partition.current_leader_epoch,
        fetch_partition.partition_max_bytes,
    )


class FollowerFetcher:
    """Fetches every partition this broker follows on one leader broker."""

    def __init__(
        self,
        config: BrokerConfig,
        node_id: int,
        log_manager: LogDirs,
        leader: int,
        endpoint: tuple[str, int],
    ):
        self.node_id = node_id
        self.log_manager = log_manager
        self.leader = leader
        self.endpoint = endpoint
        self.partitions: dict[tuple[str, int], Partition] = {}
        self.truncating: set[tuple[str, int]] = set()
        self._changed = Signal()
        self._cancel = trio.CancelScope()
        self.max_wait_ms = config["replica.fetch.wait.max.ms"]
        self.max_bytes = config["replica.fetch.max.bytes"]
        self.response_max_bytes = config["replica.fetch.response.max.bytes"]
        self.backoff = config["replica.fetch.backoff.ms"] / 1000
        self.session = FollowerFetchSession()
        # ReplicationBytesIn (/metrics): the replica manager's per-topic counters.
        self.topic_stats = BrokerTopicStats()

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
        self._changed.fire()

    async def run(self) -> None:
        host, port = self.endpoint
        with self._cancel:
            async with BrokerClient(
                host,
                port,
                f"replica-fetcher-{self.node_id}",
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
                        level = (
                            logging.ERROR
                            if isinstance(exc, BrokerAuthenticationFailed)
                            else logging.INFO
                        )
                        log.log(logging.DEBUG if failing else level, "%s: %s", self, exc)
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
                await trio.to_thread.run_sync(self.log_manager.checkpoint)
            except StorageError as exc:
                log.error("Checkpoint after truncation: %s", exc)

    async def _truncate_by_epoch(self, client: BrokerClient, by_topic, asked) -> bool:
        """Ask the leader where each log stops agreeing (OffsetForLeaderEpoch) and
        truncate there. Returns whether any log was truncated."""
        truncated = False
        request = EpochRequest(
            replica_id=self.node_id,
            topics=[
                EpochRequest.OffsetForLeaderTopic(topic=t, partitions=parts)
                for t, parts in by_topic.items()
            ],
        )
        response = await client.send(
            ApiKey.OFFSET_FOR_LEADER_EPOCH, OFFSET_FOR_LEADER_EPOCH_VERSION, request
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
        wanted: dict[tuple[str, int], object] = {}
        asked: dict[tuple[str, int], tuple[Partition, int, int]] = {}
        for key, partition in self.partitions.items():
            offset = partition.log.log_end_offset
            asked[key] = (partition, partition.leader_epoch, offset)
            wanted[key] = FetchRequest.FetchPartition(
                partition=key[1],
                current_leader_epoch=partition.leader_epoch,
                fetch_offset=offset,
                log_start_offset=partition.log.log_start_offset,
                partition_max_bytes=self.max_bytes,
            )
        session = self.session
        session_id, epoch, to_send, forgotten = session.build(wanted)
        by_topic: dict[str, list] = {}
        for (topic, _), fetch_partition in to_send.items():
            by_topic.setdefault(topic, []).append(fetch_partition)
        forgotten_by_topic: dict[str, list[int]] = {}
        for topic, index in forgotten:
            forgotten_by_topic.setdefault(topic, []).append(index)
        request = FetchRequest(
            replica_id=self.node_id,
            max_wait_ms=self.max_wait_ms,
            min_bytes=1,
            max_bytes=self.response_max_bytes,
            isolation_level=0,
            session_id=session_id,
            session_epoch=epoch,
            topics=[FetchRequest.FetchTopic(topic=t, partitions=p) for t, p in by_topic.items()],
            forgotten_topics_data=[
                FetchRequest.ForgottenTopic(topic=t, partitions=p)
                for t, p in forgotten_by_topic.items()
            ],
            rack_id="",
        )
        try:
            response = await client.send(ApiKey.FETCH, FETCH_VERSION, request)
        except BrokerClientError:
            session.reset()  # what the leader holds is unknown: start over with a full fetch
            raise
        if not session.handle_response(response, epoch == INITIAL_EPOCH):
            log.debug("%s: fetch session error %s", self, ErrorCode(response.error_code).name)
            return  # the next round is a full fetch
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
            records = data.records or b""
            try:
                partition.append_as_follower(records, data.high_watermark)
            except LogError as exc:
                log.warning("%s: cannot append fetched data: %s", partition, exc)
                self.truncating.add(key)
                return False
            if records:
                self.topic_stats.topic(key[0]).replication_bytes_in += len(records)
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
