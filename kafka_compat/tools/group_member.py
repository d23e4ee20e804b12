"""A classic consumer group member for the console consumer (`consume --group`):
JoinGroup, SyncGroup (the leader assigns with Kafka's RangeAssignor), Heartbeat,
OffsetCommit with its generation, LeaveGroup, over the tools' blocking client. Two
console consumers in one group share its partitions, as kafka-console-consumer's do.
"""

from __future__ import annotations

import time

from kafka_compat.groups import consumer_protocol
from kafka_compat.tools.connection import AdminTool, Connection, ToolError
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

ASSIGNOR = "range"
SESSION_TIMEOUT_MS = 10_000
REBALANCE_TIMEOUT_MS = 30_000
HEARTBEAT_INTERVAL_S = 3.0
# Answers that mean "join again": the group moved on without this member's generation.
REJOIN = frozenset(
    {
        ErrorCode.REBALANCE_IN_PROGRESS,
        ErrorCode.ILLEGAL_GENERATION,
        ErrorCode.UNKNOWN_MEMBER_ID,
        ErrorCode.FENCED_INSTANCE_ID,
    }
)


def range_assign(
    subscriptions: dict[str, set[str]], partitions: dict[str, list[int]]
) -> dict[str, dict[str, list[int]]]:
    """Kafka's RangeAssignor: per topic, its subscribers sorted by member id get
    consecutive ranges, the first ones one partition more when it does not divide."""
    assignment: dict[str, dict[str, list[int]]] = {m: {} for m in subscriptions}
    for topic, ids in partitions.items():
        members = sorted(m for m, topics in subscriptions.items() if topic in topics)
        if not members:
            continue
        share, extra = divmod(len(ids), len(members))
        start = 0
        for i, member in enumerate(members):
            count = share + (1 if i < extra else 0)
            if count:
                assignment[member][topic] = ids[start : start + count]
            start += count
    return assignment


class GroupMember:
    def __init__(self, tool: AdminTool, group_id: str, topics: list[str]) -> None:
        self.tool = tool
        self.group_id = group_id
        self.topics = sorted(topics)
        self.member_id = ""
        self.generation = -1
        self._coordinator: Connection | None = None
        self._heartbeat_at = 0.0

    def _connection(self) -> Connection:
        if self._coordinator is None:
            self._coordinator = self.tool.coordinator(self.group_id, 0)
        return self._coordinator

    def join(self) -> list[tuple[str, int]]:
        """Join (again) and return this member's partitions."""
        deadline = time.monotonic() + REBALANCE_TIMEOUT_MS / 1000 + self.tool.timeout
        while True:
            if time.monotonic() > deadline:
                raise ToolError(f"could not join group {self.group_id}")
            assigned = self._try_join()
            if assigned is not None:
                self._heartbeat_at = time.monotonic()
                return assigned
            time.sleep(0.1)

    def _try_join(self) -> list[tuple[str, int]] | None:
        connection = self._connection()
        # A join waits for the rebalance: longer than an ordinary request.
        connection.sock.settimeout(REBALANCE_TIMEOUT_MS / 1000 + self.tool.timeout)
        try:
            Join = messages.request_type(ApiKey.JOIN_GROUP)
            request = Join(
                group_id=self.group_id,
                session_timeout_ms=SESSION_TIMEOUT_MS,
                rebalance_timeout_ms=REBALANCE_TIMEOUT_MS,
                member_id=self.member_id,
                group_instance_id=None,
                protocol_type=consumer_protocol.PROTOCOL_TYPE,
                protocols=[
                    Join.JoinGroupRequestProtocol(
                        name=ASSIGNOR,
                        metadata=consumer_protocol.encode_subscription(self.topics),
                    )
                ],
                reason=None,
            )
            joined = connection.request(ApiKey.JOIN_GROUP, request)
            if joined.error_code == ErrorCode.MEMBER_ID_REQUIRED:
                self.member_id = joined.member_id
                return None
            if joined.error_code in (ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.ILLEGAL_GENERATION):
                self.member_id = ""
                return None
            if joined.error_code in (
                ErrorCode.NOT_COORDINATOR,
                ErrorCode.COORDINATOR_NOT_AVAILABLE,
                ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
            ):
                self._coordinator = None
                return None
            if joined.error_code == ErrorCode.REBALANCE_IN_PROGRESS:
                return None
            if joined.error_code:
                raise ToolError(f"group {self.group_id}: {ErrorCode(joined.error_code).name}")
            self.member_id = joined.member_id
            self.generation = joined.generation_id
            Sync = messages.request_type(ApiKey.SYNC_GROUP)
            assignments = []
            if joined.leader == joined.member_id:
                assignments = self._assign(joined.members, Sync)
            synced = connection.request(
                ApiKey.SYNC_GROUP,
                Sync(
                    group_id=self.group_id,
                    generation_id=self.generation,
                    member_id=self.member_id,
                    group_instance_id=None,
                    protocol_type=consumer_protocol.PROTOCOL_TYPE,
                    protocol_name=ASSIGNOR,
                    assignments=assignments,
                ),
            )
            if synced.error_code in REJOIN:
                return None
            if synced.error_code:
                raise ToolError(f"group {self.group_id}: {ErrorCode(synced.error_code).name}")
            return sorted(consumer_protocol.assigned_partitions(synced.assignment) or [])
        finally:
            connection.sock.settimeout(self.tool.timeout)

    def _assign(self, members, Sync) -> list:
        subscriptions = {
            m.member_id: consumer_protocol.subscription_topics(m.metadata) or set() for m in members
        }
        wanted = sorted(set().union(*subscriptions.values()))
        partitions = self.tool.partitions_of(wanted) if wanted else {}
        plan = range_assign(subscriptions, partitions)
        return [
            Sync.SyncGroupRequestAssignment(
                member_id=m, assignment=consumer_protocol.encode_assignment(owned)
            )
            for m, owned in plan.items()
        ]

    def heartbeat(self) -> bool:
        """Heartbeat when one is due; False when the group asks this member to rejoin."""
        now = time.monotonic()
        if now - self._heartbeat_at < HEARTBEAT_INTERVAL_S:
            return True
        self._heartbeat_at = now
        Request = messages.request_type(ApiKey.HEARTBEAT)
        answer = self._connection().request(
            ApiKey.HEARTBEAT,
            Request(
                group_id=self.group_id,
                generation_id=self.generation,
                member_id=self.member_id,
                group_instance_id=None,
            ),
        )
        if answer.error_code in REJOIN:
            return False
        if answer.error_code:
            raise ToolError(f"group {self.group_id}: {ErrorCode(answer.error_code).name}")
        return True

    def commit(self, offsets: dict[tuple[str, int], int]) -> bool:
        """OffsetCommit in this member's generation; False when it must rejoin first."""
        if not offsets:
            return True
        Request = messages.request_type(ApiKey.OFFSET_COMMIT)
        topics: dict[str, list] = {}
        for (t, p), offset in sorted(offsets.items()):
            topics.setdefault(t, []).append(
                Request.OffsetCommitRequestPartition(
                    partition_index=p, committed_offset=offset, committed_metadata=""
                )
            )
        answer = self._connection().request(
            ApiKey.OFFSET_COMMIT,
            Request(
                group_id=self.group_id,
                generation_id_or_member_epoch=self.generation,
                member_id=self.member_id,
                topics=[
                    Request.OffsetCommitRequestTopic(name=t, partitions=ps)
                    for t, ps in topics.items()
                ],
            ),
        )
        errors = [p.error_code for t in answer.topics for p in t.partitions if p.error_code]
        if errors and errors[0] in REJOIN:
            return False
        if errors:
            raise ToolError(f"group {self.group_id}: {ErrorCode(errors[0]).name}")
        return True

    def leave(self) -> None:
        if not self.member_id:
            return
        Request = messages.request_type(ApiKey.LEAVE_GROUP)
        try:
            self._connection().request(
                ApiKey.LEAVE_GROUP,
                Request(
                    group_id=self.group_id,
                    member_id=self.member_id,
                    members=[
                        Request.MemberIdentity(
                            member_id=self.member_id,
                            group_instance_id=None,
                            reason="the console consumer is closing",
                        )
                    ],
                ),
            )
        except ToolError:
            pass  # the session timeout removes it anyway
