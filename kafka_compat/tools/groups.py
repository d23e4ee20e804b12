"""What `kafka-compat groups list|describe` shows, fetched the way any Kafka client would.

Over the tools' blocking client (tools/connection.py): FindCoordinator locates the
group's coordinator,
DescribeGroups and OffsetFetch read the group there, and Metadata plus ListOffsets
(latest) on the partitions' leaders give the log end offsets the lag is measured
against. It works against any broker, ours or Kafka's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kafka_compat.groups import consumer_protocol
from kafka_compat.tools.connection import AdminTool, ToolError, dash, table
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

LATEST_TIMESTAMP = -1


@dataclass
class MemberView:
    member_id: str
    group_instance_id: str | None
    client_id: str
    host: str
    partitions: list[tuple[str, int]] | None  # None: not a consumer-protocol assignment


@dataclass
class PartitionView:
    topic: str
    partition: int
    committed: int | None  # None: nothing committed
    log_end_offset: int | None  # None: unknown
    member_id: str | None  # the member it is assigned to

    @property
    def lag(self) -> int | None:
        if self.committed is None or self.log_end_offset is None:
            return None
        return max(self.log_end_offset - self.committed, 0)


@dataclass
class GroupView:
    group_id: str
    state: str
    protocol_type: str
    protocol: str
    members: list[MemberView] = field(default_factory=list)
    partitions: list[PartitionView] = field(default_factory=list)


class GroupTool(AdminTool):
    """The queries behind `kafka-compat groups`, against a bootstrap broker."""

    # The newest version of each request whose answer this tool reads.
    MAX_VERSIONS = {
        ApiKey.METADATA: 12,
        ApiKey.LIST_OFFSETS: 7,
        ApiKey.FIND_COORDINATOR: 4,
        ApiKey.DESCRIBE_GROUPS: 5,
        ApiKey.OFFSET_FETCH: 7,
        ApiKey.LIST_GROUPS: 4,
    }

    # ---- list ----

    def list_groups(self, states: list[str] = ()) -> list[tuple[str, str, str]]:
        """(group id, protocol type, state) of every group on every broker."""
        brokers = self.metadata([]).brokers
        groups: dict[str, tuple[str, str, str]] = {}
        Request = messages.request_type(ApiKey.LIST_GROUPS)
        for broker in brokers:
            connection = self.connect(broker.host, broker.port)
            has_states = connection.version(ApiKey.LIST_GROUPS) >= 4
            if states and not has_states:
                raise ToolError(f"{connection.address} cannot filter groups by state")

            def attempt(connection=connection):
                answer = connection.request(ApiKey.LIST_GROUPS, Request(states_filter=list(states)))
                return answer.error_code, answer

            for g in self.retrying(attempt).groups:
                state = g.group_state if has_states else ""
                groups[g.group_id] = (g.group_id, g.protocol_type, state)
        return sorted(groups.values())

    # ---- describe ----

    def describe_group(self, group_id: str) -> GroupView | None:
        """The group's members, assignments and per-partition lag; None if it does not exist."""
        coordinator = self.coordinator(group_id, 0)
        Describe = messages.request_type(ApiKey.DESCRIBE_GROUPS)

        def describe():
            answer = coordinator.request(ApiKey.DESCRIBE_GROUPS, Describe(groups=[group_id]))
            return answer.groups[0].error_code, answer.groups[0]

        described = self.retrying(describe)
        Fetch = messages.request_type(ApiKey.OFFSET_FETCH)

        def fetch():
            answer = coordinator.request(ApiKey.OFFSET_FETCH, Fetch(group_id=group_id, topics=None))
            return answer.error_code, answer

        committed = {
            (t.name, p.partition_index): p.committed_offset
            for t in self.retrying(fetch).topics
            for p in t.partitions
            if p.committed_offset >= 0
        }
        if described.group_state == "Dead" and not committed:
            return None
        view = GroupView(
            group_id, described.group_state, described.protocol_type, described.protocol_data
        )
        owner: dict[tuple[str, int], str] = {}
        for m in described.members:
            partitions = None
            if described.protocol_type == consumer_protocol.PROTOCOL_TYPE:
                partitions = consumer_protocol.assigned_partitions(m.member_assignment)
            for tp in partitions or ():
                owner[tp] = m.member_id
            view.members.append(
                MemberView(m.member_id, m.group_instance_id, m.client_id, m.client_host, partitions)
            )
        wanted = sorted(set(committed) | set(owner))
        ends = self._log_end_offsets(wanted)
        view.partitions = [
            PartitionView(t, p, committed.get((t, p)), ends.get((t, p)), owner.get((t, p)))
            for t, p in wanted
        ]
        return view

    def _log_end_offsets(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Latest offsets, asked of each partition's leader."""
        if not partitions:
            return {}
        metadata = self.metadata(sorted({t for t, _ in partitions}))
        brokers = {b.node_id: (b.host, b.port) for b in metadata.brokers}
        leaders = {
            (t.name, p.partition_index): p.leader_id for t in metadata.topics for p in t.partitions
        }
        by_leader: dict[int, list[tuple[str, int]]] = {}
        for tp in partitions:
            leader = leaders.get(tp, -1)
            if leader in brokers:
                by_leader.setdefault(leader, []).append(tp)
        Request = messages.request_type(ApiKey.LIST_OFFSETS)
        ends = {}
        for leader, tps in by_leader.items():
            topics: dict[str, list] = {}
            for t, p in tps:
                topics.setdefault(t, []).append(
                    Request.ListOffsetsPartition(partition_index=p, timestamp=LATEST_TIMESTAMP)
                )
            answer = self.connect(*brokers[leader]).request(
                ApiKey.LIST_OFFSETS,
                Request(
                    replica_id=-1,
                    topics=[
                        Request.ListOffsetsTopic(name=t, partitions=ps) for t, ps in topics.items()
                    ],
                ),
            )
            for t in answer.topics:
                for p in t.partitions:
                    if p.error_code == ErrorCode.NONE:
                        ends[(t.name, p.partition_index)] = p.offset
        return ends


# ---- text ----


def format_group(view: GroupView) -> str:
    protocol = f"{view.protocol_type}/{view.protocol}" if view.protocol else view.protocol_type
    lines = [
        f"Group {view.group_id}: state {view.state}, protocol {protocol or '-'}, "
        f"{len(view.members)} members",
        "",
    ]
    if view.members:
        rows = []
        for m in view.members:
            if m.partitions is None:
                assigned = "?"
            else:
                assigned = ",".join(f"{t}-{p}" for t, p in sorted(m.partitions)) or "-"
            rows.append(
                [
                    m.member_id,
                    dash(m.group_instance_id),
                    m.client_id,
                    m.host,
                    "?" if m.partitions is None else str(len(m.partitions)),
                    assigned,
                ]
            )
        lines += table(
            ["MEMBER-ID", "INSTANCE-ID", "CLIENT-ID", "HOST", "#PARTITIONS", "ASSIGNMENT"], rows
        )
    else:
        lines.append(f"Consumer group '{view.group_id}' has no active members.")
    lines.append("")
    rows = [
        [
            p.topic,
            str(p.partition),
            dash(p.committed),
            dash(p.log_end_offset),
            dash(p.lag),
            dash(p.member_id),
        ]
        for p in view.partitions
    ]
    lines += table(
        ["TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "MEMBER-ID"], rows
    )
    return "\n".join(lines)


def format_groups(groups: list[tuple[str, str, str]]) -> str:
    rows = [[g, t or "-", s or "-"] for g, t, s in groups]
    return "\n".join(table(["GROUP", "PROTOCOL-TYPE", "STATE"], rows))
