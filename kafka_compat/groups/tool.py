"""What `kafka-compat groups list|describe` shows, fetched the way any Kafka client would.

A small blocking client over a plain socket, speaking the protocol with our own
codec: ApiVersions picks each request's version (the highest both sides know, up to
what this tool reads), FindCoordinator locates the group's coordinator,
DescribeGroups and OffsetFetch read the group there, and Metadata plus ListOffsets
(latest) on the partitions' leaders give the log end offsets the lag is measured
against. It works against any broker, ours or Kafka's.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field

from kafka_compat.groups import consumer_protocol
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from protocol.headers import decode_response_header, encode_request_header

# The newest version of each request whose answer this tool reads.
_MAX_VERSIONS = {
    ApiKey.API_VERSIONS: 0,
    ApiKey.METADATA: 12,
    ApiKey.LIST_OFFSETS: 7,
    ApiKey.FIND_COORDINATOR: 4,
    ApiKey.DESCRIBE_GROUPS: 5,
    ApiKey.OFFSET_FETCH: 7,
    ApiKey.LIST_GROUPS: 4,
}
_RETRIABLE = {
    ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
    ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.NOT_COORDINATOR,
}
_SIZE = struct.Struct(">i")
LATEST_TIMESTAMP = -1


class ToolError(Exception):
    """Something the user should read: the broker refused, or cannot be reached."""


def parse_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ToolError(f"expected HOST:PORT, got {address!r}")
    return host or "127.0.0.1", int(port)


class Connection:
    """One blocking connection to a broker; requests answered one at a time."""

    def __init__(self, host: str, port: int, timeout: float, client_id: str = "kafka-compat"):
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise ToolError(f"cannot connect to {host}:{port}: {exc}") from None
        self.address = f"{host}:{port}"
        self.client_id = client_id
        self._correlation = 0
        self.versions: dict[int, tuple[int, int]] = {ApiKey.API_VERSIONS: (0, 0)}
        answer = self.request(ApiKey.API_VERSIONS, messages.request_type(ApiKey.API_VERSIONS)())
        self.versions = {k.api_key: (k.min_version, k.max_version) for k in answer.api_keys}

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def version(self, api_key: int) -> int:
        newest = messages.spec_versions(api_key)[1]
        ours = min(newest, _MAX_VERSIONS.get(api_key, newest))
        theirs = self.versions.get(api_key)
        if theirs is None or theirs[0] > ours:
            name = messages.API_NAMES.get(api_key, api_key)
            raise ToolError(f"{self.address} does not serve {name} in a version this tool reads")
        return min(ours, theirs[1])

    def request(self, api_key: int, body, version: int | None = None) -> object:
        """Send one request (at `version`, else the highest both sides know), read its answer."""
        if version is None:
            version = self.version(api_key)
        self._correlation += 1
        header = encode_request_header(api_key, version, self._correlation, self.client_id)
        payload = header + messages.encode_request(api_key, version, body)
        try:
            self.sock.sendall(_SIZE.pack(len(payload)) + payload)
            (size,) = _SIZE.unpack(self._recv(4))
            frame = self._recv(size)
        except OSError as exc:
            raise ToolError(f"{self.address}: {exc}") from None
        flexible = api_key != ApiKey.API_VERSIONS and messages.is_flexible(api_key, version)
        try:
            correlation, offset = decode_response_header(frame, flexible)
            if correlation != self._correlation:
                raise ToolError(
                    f"{self.address}: answer to request {correlation}, not {self._correlation}"
                )
            return messages.decode_response(api_key, version, memoryview(frame)[offset:])
        except messages.DecodeError as exc:
            raise ToolError(f"{self.address}: unreadable answer ({exc})") from None

    def _recv(self, n: int) -> bytes:
        data = bytearray()
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ToolError(f"{self.address} closed the connection")
            data += chunk
        return bytes(data)


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


class GroupTool:
    """The queries behind `kafka-compat groups`, against a bootstrap broker."""

    def __init__(self, bootstrap: str, timeout: float = 10.0):
        self.timeout = timeout
        self.bootstrap = Connection(*parse_address(bootstrap), timeout)
        self._connections: dict[tuple[str, int], Connection] = {}

    def close(self) -> None:
        self.bootstrap.close()
        for connection in self._connections.values():
            connection.close()

    def __enter__(self) -> GroupTool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _connect(self, host: str, port: int) -> Connection:
        key = (host, port)
        if key not in self._connections:
            self._connections[key] = Connection(host, port, self.timeout)
        return self._connections[key]

    def _retrying(self, attempt):
        """Run `attempt()` until it returns something other than a retriable error code."""
        deadline = time.monotonic() + self.timeout
        while True:
            error, result = attempt()
            if error not in _RETRIABLE or time.monotonic() >= deadline:
                if error:
                    raise ToolError(ErrorCode(error).name)
                return result
            time.sleep(0.1)

    def _metadata(self, topics: list[str] | None):
        Request = messages.request_type(ApiKey.METADATA)
        wanted = None if topics is None else [Request.MetadataRequestTopic(name=t) for t in topics]
        return self.bootstrap.request(
            ApiKey.METADATA, Request(topics=wanted, allow_auto_topic_creation=False)
        )

    # ---- list ----

    def list_groups(self, states: list[str] = ()) -> list[tuple[str, str, str]]:
        """(group id, protocol type, state) of every group on every broker."""
        brokers = self._metadata([]).brokers
        groups: dict[str, tuple[str, str, str]] = {}
        Request = messages.request_type(ApiKey.LIST_GROUPS)
        for broker in brokers:
            connection = self._connect(broker.host, broker.port)
            has_states = connection.version(ApiKey.LIST_GROUPS) >= 4
            if states and not has_states:
                raise ToolError(f"{connection.address} cannot filter groups by state")

            def attempt(connection=connection):
                answer = connection.request(ApiKey.LIST_GROUPS, Request(states_filter=list(states)))
                return answer.error_code, answer

            for g in self._retrying(attempt).groups:
                state = g.group_state if has_states else ""
                groups[g.group_id] = (g.group_id, g.protocol_type, state)
        return sorted(groups.values())

    # ---- describe ----

    def _coordinator(self, group_id: str) -> Connection:
        Request = messages.request_type(ApiKey.FIND_COORDINATOR)

        def attempt():
            if self.bootstrap.version(ApiKey.FIND_COORDINATOR) >= 4:
                answer = self.bootstrap.request(
                    ApiKey.FIND_COORDINATOR, Request(key_type=0, coordinator_keys=[group_id])
                )
                found = answer.coordinators[0]
            else:
                found = self.bootstrap.request(
                    ApiKey.FIND_COORDINATOR, Request(key=group_id, key_type=0)
                )
            return found.error_code, (found.host, found.port)

        return self._connect(*self._retrying(attempt))

    def describe_group(self, group_id: str) -> GroupView | None:
        """The group's members, assignments and per-partition lag; None if it does not exist."""
        coordinator = self._coordinator(group_id)
        Describe = messages.request_type(ApiKey.DESCRIBE_GROUPS)

        def describe():
            answer = coordinator.request(ApiKey.DESCRIBE_GROUPS, Describe(groups=[group_id]))
            return answer.groups[0].error_code, answer.groups[0]

        described = self._retrying(describe)
        Fetch = messages.request_type(ApiKey.OFFSET_FETCH)

        def fetch():
            answer = coordinator.request(ApiKey.OFFSET_FETCH, Fetch(group_id=group_id, topics=None))
            return answer.error_code, answer

        committed = {
            (t.name, p.partition_index): p.committed_offset
            for t in self._retrying(fetch).topics
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
        metadata = self._metadata(sorted({t for t, _ in partitions}))
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
            answer = self._connect(*brokers[leader]).request(
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


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    return [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def _dash(value) -> str:
    return "-" if value is None else str(value)


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
                    _dash(m.group_instance_id),
                    m.client_id,
                    m.host,
                    "?" if m.partitions is None else str(len(m.partitions)),
                    assigned,
                ]
            )
        lines += _table(
            ["MEMBER-ID", "INSTANCE-ID", "CLIENT-ID", "HOST", "#PARTITIONS", "ASSIGNMENT"], rows
        )
    else:
        lines.append(f"Consumer group '{view.group_id}' has no active members.")
    lines.append("")
    rows = [
        [
            p.topic,
            str(p.partition),
            _dash(p.committed),
            _dash(p.log_end_offset),
            _dash(p.lag),
            _dash(p.member_id),
        ]
        for p in view.partitions
    ]
    lines += _table(
        ["TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "MEMBER-ID"], rows
    )
    return "\n".join(lines)


def format_groups(groups: list[tuple[str, str, str]]) -> str:
    rows = [[g, t or "-", s or "-"] for g, t, s in groups]
    return "\n".join(_table(["GROUP", "PROTOCOL-TYPE", "STATE"], rows))
