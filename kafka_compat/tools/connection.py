"""A small blocking client over a plain socket, speaking the protocol with our own
codec, for the command-line tools. ApiVersions picks each request's version: the
highest both sides know, up to what the tool reads (its `max_versions`)."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from typing import Any, TypeVar

from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from protocol.headers import decode_response_header, encode_request_header

RETRIABLE = frozenset(
    {
        ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
        ErrorCode.COORDINATOR_NOT_AVAILABLE,
        ErrorCode.NOT_COORDINATOR,
    }
)
_SIZE = struct.Struct(">i")
T = TypeVar("T")


class ToolError(Exception):
    """Something the user should read: the broker refused, or cannot be reached."""


def parse_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ToolError(f"expected HOST:PORT, got {address!r}")
    return host or "127.0.0.1", int(port)


class Connection:
    """One blocking connection to a broker; requests answered one at a time."""

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float,
        client_id: str = "kafka-compat",
        max_versions: dict[int, int] | None = None,
        security=None,
    ):
        """`security`: a tools.security.ClientSecurity for TLS and SASL (None: plaintext)."""
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise ToolError(f"cannot connect to {host}:{port}: {exc}") from None
        self.sock = sock
        if security is not None:
            from kafka_compat.tools.security import LoginError

            try:
                self.sock = security.wrap(sock, host)
            except LoginError as exc:
                raise ToolError(str(exc)) from None
        self.address = f"{host}:{port}"
        self.client_id = client_id
        self.max_versions = {ApiKey.API_VERSIONS: 0, **(max_versions or {})}
        self._correlation = 0
        self.versions: dict[int, tuple[int, int]] = {ApiKey.API_VERSIONS: (0, 0)}
        answer = self.request(ApiKey.API_VERSIONS, messages.request_type(ApiKey.API_VERSIONS)())
        self.versions = {k.api_key: (k.min_version, k.max_version) for k in answer.api_keys}
        if security is not None and security.sasl:
            from kafka_compat.tools.security import LoginError, authenticate

            try:
                authenticate(self, security)
            except (ToolError, LoginError) as exc:
                self.close()
                raise ToolError(str(exc)) from None

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def version(self, api_key: int) -> int:
        newest = messages.spec_versions(api_key)[1]
        ours = min(newest, self.max_versions.get(api_key, newest))
        theirs = self.versions.get(api_key)
        if theirs is None or theirs[0] > ours:
            name = messages.API_NAMES.get(api_key, api_key)
            raise ToolError(f"{self.address} does not serve {name} in a version this tool reads")
        return min(ours, theirs[1])

    def request(
        self, api_key: int, body, version: int | None = None, expect_response: bool = True
    ) -> Any:
        """Send one request (at `version`, else the highest both sides know), read its
        answer (none for a Produce with acks=0: `expect_response=False`)."""
        if version is None:
            version = self.version(api_key)
        self._correlation += 1
        header = encode_request_header(api_key, version, self._correlation, self.client_id)
        payload = header + messages.encode_request(api_key, version, body)
        try:
            self.sock.sendall(_SIZE.pack(len(payload)) + payload)
            if not expect_response:
                return None
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


class AdminTool:
    """A bootstrap connection, connections to other brokers on demand, and the lookups
    every tool needs (metadata, coordinators, partition leaders)."""

    MAX_VERSIONS: dict[int, int] = {}
    # How every connection logs in (`--command-config`; tools.security.ClientSecurity).
    security = None

    def __init__(self, bootstrap: str, timeout: float = 10.0):
        """`bootstrap`: HOST:PORT[,HOST:PORT...]; the first that answers is used."""
        self.timeout = timeout
        self._connections: dict[tuple[str, int], Connection] = {}
        # Where to look for another broker when the bootstrap one goes away.
        self._addresses = [parse_address(a.strip()) for a in bootstrap.split(",") if a.strip()]
        self.bootstrap = self._connect_any()

    def _connect_any(self) -> Connection:
        failures = []
        for address in self._addresses:
            try:
                return self.connect(*address)
            except ToolError as exc:
                failures.append(str(exc))
        raise ToolError("; ".join(failures) or "no bootstrap server given")

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def connect(self, host: str, port: int) -> Connection:
        key = (host, port)
        if key not in self._connections:
            self._connections[key] = Connection(
                host, port, self.timeout, max_versions=self.MAX_VERSIONS, security=self.security
            )
        return self._connections[key]

    def forget(self, connection: Connection) -> None:
        """Drop a connection that failed; the next `connect` to its address opens anew."""
        for key, known in list(self._connections.items()):
            if known is connection:
                del self._connections[key]
                connection.close()

    def retrying(self, attempt: Callable[[], tuple[int, T]]) -> T:
        """Run `attempt()` until it returns something other than a retriable error code."""
        deadline = time.monotonic() + self.timeout
        while True:
            error, result = attempt()
            if error not in RETRIABLE or time.monotonic() >= deadline:
                if error:
                    raise ToolError(ErrorCode(error).name)
                return result
            time.sleep(0.1)

    def metadata(self, topics: list[str] | None):
        Request = messages.request_type(ApiKey.METADATA)
        wanted = None if topics is None else [Request.MetadataRequestTopic(name=t) for t in topics]
        request = Request(topics=wanted, allow_auto_topic_creation=False)
        try:
            answer = self.bootstrap.request(ApiKey.METADATA, request)
        except ToolError:
            # The broker we asked went away: ask another one we know of.
            self.forget(self.bootstrap)
            self.bootstrap = self._connect_any()
            answer = self.bootstrap.request(ApiKey.METADATA, request)
        for b in answer.brokers:
            if (b.host, b.port) not in self._addresses:
                self._addresses.append((b.host, b.port))
        return answer

    def brokers(self) -> list[Connection]:
        """A connection to every broker in the cluster."""
        return [self.connect(b.host, b.port) for b in self.metadata([]).brokers]

    def coordinator(self, key: str, key_type: int) -> Connection:
        """The coordinator of a group (key type 0) or a transactional id (1)."""
        Request = messages.request_type(ApiKey.FIND_COORDINATOR)

        def attempt():
            if self.bootstrap.version(ApiKey.FIND_COORDINATOR) >= 4:
                answer = self.bootstrap.request(
                    ApiKey.FIND_COORDINATOR, Request(key_type=key_type, coordinator_keys=[key])
                )
                found = answer.coordinators[0]
            else:
                found = self.bootstrap.request(
                    ApiKey.FIND_COORDINATOR, Request(key=key, key_type=key_type)
                )
            return found.error_code, (found.host, found.port)

        return self.connect(*self.retrying(attempt))

    def leaders(self, topics: list[str]) -> dict[tuple[str, int], Connection | None]:
        """Each partition of `topics` -> a connection to its leader (None: no leader, or
        one that cannot be reached)."""
        metadata = self.metadata(sorted(set(topics)))
        brokers = {b.node_id: (b.host, b.port) for b in metadata.brokers}
        found: dict[tuple[str, int], Connection | None] = {}
        for t in metadata.topics:
            if t.error_code:
                raise ToolError(f"topic {t.name}: {ErrorCode(t.error_code).name}")
            for p in t.partitions:
                address = brokers.get(p.leader_id)
                connection = None
                if address is not None:
                    try:
                        connection = self.connect(*address)
                    except ToolError:
                        pass  # a leader that died: metadata will name another soon
                found[(t.name, p.partition_index)] = connection
        return found

    def partitions_of(self, topics: list[str]) -> dict[str, list[int]]:
        """Each topic's partition indexes, sorted; an unknown topic raises ToolError."""
        found: dict[str, list[int]] = {}
        for t in self.metadata(sorted(set(topics))).topics:
            if t.error_code:
                raise ToolError(f"topic {t.name}: {ErrorCode(t.error_code).name}")
            found[t.name] = sorted(p.partition_index for p in t.partitions)
        return found

    def list_offsets(
        self, partitions: list[tuple[str, int]], timestamp: int
    ) -> dict[tuple[str, int], tuple[int, int]]:
        """ListOffsets on each partition's leader: (offset, timestamp) per partition for
        `timestamp` (-1 latest, -2 earliest, -3 max timestamp, else the first offset at
        or after it; offset -1 when there is none). A refusal raises ToolError."""
        if not partitions:
            return {}
        leaders = self.leaders(sorted({t for t, _ in partitions}))
        by_leader: dict[int, tuple[Connection, list[tuple[str, int]]]] = {}
        for tp in partitions:
            connection = leaders.get(tp)
            if connection is None:
                if tp not in leaders:
                    raise ToolError(f"partition {tp[0]}-{tp[1]} does not exist")
                raise ToolError(f"partition {tp[0]}-{tp[1]} has no leader")
            by_leader.setdefault(id(connection), (connection, []))[1].append(tp)
        Request = messages.request_type(ApiKey.LIST_OFFSETS)
        found: dict[tuple[str, int], tuple[int, int]] = {}
        for connection, tps in by_leader.values():
            topics: dict[str, list] = {}
            for t, p in tps:
                topics.setdefault(t, []).append(
                    Request.ListOffsetsPartition(partition_index=p, timestamp=timestamp)
                )
            answer = connection.request(
                ApiKey.LIST_OFFSETS,
                Request(
                    replica_id=-1,
                    isolation_level=0,
                    topics=[
                        Request.ListOffsetsTopic(name=t, partitions=ps) for t, ps in topics.items()
                    ],
                ),
            )
            for t in answer.topics:
                for p in t.partitions:
                    if p.error_code:
                        name = ErrorCode(p.error_code).name
                        raise ToolError(f"partition {t.name}-{p.partition_index}: {name}")
                    found[(t.name, p.partition_index)] = (p.offset, p.timestamp)
        return found


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Columns padded to their widest cell, as Kafka's tools print them."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    return [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def dash(value) -> str:
    return "-" if value is None else str(value)
