"""`kafka-compat consume`, like kafka-console-consumer.sh: print records, one a line.

Where to start: `--partition P --offset earliest|latest|N`, else a group's committed
offsets (`--group G`; partitions without one start at the beginning with
`--from-beginning`, else at the end, Kafka's auto.offset.reset), else the beginning
(`--from-beginning`) or the end of every partition of `--topic` (or of every topic
whose name `--include REGEX` matches, internal ones left out). With `--group` the
tool is a classic group member (tools/group_member.py: JoinGroup, SyncGroup with the
range assignor, Heartbeat, LeaveGroup), sharing the partitions with the group's other
consumers and committing what it printed in its generation; with `--group` and
`--partition` it commits as a group without members does (generation -1).

Output: Kafka's DefaultMessageFormatter fields (`--property print.timestamp=true`,
print.partition, print.offset, print.headers, print.key, print.value, key.separator,
headers.separator, line.separator, null.literal), values as text, JSON (compact, one
line) or hex (`--format`). `--output json` prints one document with every record.
Stops after --max-messages, or when nothing arrived for --timeout-ms, or on Ctrl-C;
"Processed a total of N messages" goes to stderr as Kafka prints it.

Fetch on each leader (v4-12, read_uncommitted unless --isolation-level), batches
read with protocol/records (decompressed there), control batches skipped.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time

from kafka_compat.tools.common import (
    Progress,
    UsageError,
    add_connection_arguments,
    add_output_argument,
    parse_properties,
    print_json,
    run,
)
from kafka_compat.tools.connection import AdminTool, ToolError
from kafka_compat.tools.group_member import GroupMember
from kafka_compat.tools.groups import commit_offsets
from protocol import messages, records
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

EARLIEST, LATEST = -2, -1
READ_COMMITTED = 1
PARTITION_MAX_BYTES = 1 << 20
REFRESH_ERRORS = {
    ErrorCode.NOT_LEADER_OR_FOLLOWER,
    ErrorCode.LEADER_NOT_AVAILABLE,
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    ErrorCode.FENCED_LEADER_EPOCH,
    ErrorCode.UNKNOWN_LEADER_EPOCH,
}


def render_value(data: bytes | None, fmt: str, null: str) -> str:
    if data is None:
        return null
    if fmt == "hex":
        return data.hex()
    text = data.decode("utf-8", errors="replace")
    if fmt == "json":
        try:
            return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
        except ValueError:
            return text
    return text


class Formatter:
    """Kafka's DefaultMessageFormatter, field for field."""

    def __init__(self, props: dict[str, str], value_format: str) -> None:
        def flag(name: str, default: str = "false") -> bool:
            return props.get(name, default).lower() == "true"

        self.timestamp = flag("print.timestamp")
        self.partition = flag("print.partition")
        self.offset = flag("print.offset")
        self.headers = flag("print.headers")
        self.key = flag("print.key")
        self.value = flag("print.value", "true")
        self.separator = props.get("key.separator", "\t")
        self.line_separator = props.get("line.separator", "\n")
        self.headers_separator = props.get("headers.separator", ",")
        self.null = props.get("null.literal", "null")
        self.format = value_format

    def line(self, partition: int, record: records.Record, log_append_time: bool) -> str:
        fields = []
        if self.timestamp:
            kind = "LogAppendTime" if log_append_time else "CreateTime"
            fields.append(f"{kind}:{record.timestamp}")
        if self.partition:
            fields.append(f"Partition:{partition}")
        if self.offset:
            fields.append(f"Offset:{record.offset}")
        if self.headers:
            fields.append(
                self.headers_separator.join(
                    f"{k}:{render_value(v, 'text', self.null)}" for k, v in record.headers
                )
                or "NO_HEADERS"
            )
        if self.key:
            fields.append(render_value(record.key, "text", self.null))
        if self.value:
            fields.append(render_value(record.value, self.format, self.null))
        return self.separator.join(fields) + self.line_separator


def record_document(topic: str, partition: int, record: records.Record, fmt: str, append: bool):
    return {
        "topic": topic,
        "partition": partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
        "timestamp_type": "LogAppendTime" if append else "CreateTime",
        "key": render_value(record.key, "text", None) if record.key is not None else None,
        "value": render_value(record.value, fmt, None) if record.value is not None else None,
        "headers": [
            [k, None if v is None else v.decode("utf-8", errors="replace")]
            for k, v in record.headers
        ],
    }


def skip_aborted(batches: list, aborted_transactions) -> list:
    """read_committed: blank (data None) the batches of aborted transactions, as Kafka's
    Fetcher skips them with the fetch answer's aborted list (producer id, first offset):
    a producer's batches from its first offset on are aborted until its ABORT marker.
    They stay in the list so that the position moves past them."""
    pending = sorted((a.first_offset, a.producer_id) for a in aborted_transactions)
    aborting: set[int] = set()
    kept = []
    for header, data in batches:
        while pending and pending[0][0] <= header.last_offset:
            aborting.add(pending.pop(0)[1])
        if header.is_control:
            if header.producer_id in aborting:
                control, _ = records.read_end_txn_marker(data)
                if control == records.CONTROL_ABORT:
                    aborting.discard(header.producer_id)
        elif header.is_transactional and header.producer_id in aborting:
            data = None
        kept.append((header, data))
    return kept


class ConsumerTool(AdminTool):
    MAX_VERSIONS = {
        ApiKey.METADATA: 12,
        ApiKey.FETCH: 12,
        ApiKey.LIST_OFFSETS: 8,
        ApiKey.FIND_COORDINATOR: 4,
        ApiKey.OFFSET_FETCH: 7,
        ApiKey.OFFSET_COMMIT: 8,
    }

    def committed(
        self, group: str, partitions: list[tuple[str, int]]
    ) -> dict[tuple[str, int], int]:
        coordinator = self.coordinator(group, 0)
        Request = messages.request_type(ApiKey.OFFSET_FETCH)
        topics: dict[str, list[int]] = {}
        for t, p in partitions:
            topics.setdefault(t, []).append(p)
        request = Request(
            group_id=group,
            topics=[
                Request.OffsetFetchRequestTopic(name=t, partition_indexes=ps)
                for t, ps in topics.items()
            ],
        )

        def attempt():
            answer = coordinator.request(ApiKey.OFFSET_FETCH, request)
            return answer.error_code, answer

        return {
            (t.name, p.partition_index): p.committed_offset
            for t in self.retrying(attempt).topics
            for p in t.partitions
            if p.committed_offset >= 0
        }

    def commit(self, group: str, positions: dict[tuple[str, int], int]) -> None:
        commit_offsets(self, group, positions)

    def fetch(
        self, positions: dict[tuple[str, int], int], isolation: int, wait_ms: int
    ) -> list[tuple[str, int, list[tuple[records.BatchHeader, bytes]], int]]:
        """One Fetch per leader: (topic, partition, whole batches, error code) each."""
        leaders = self.leaders(sorted({t for t, _ in positions}))
        by_leader: dict[int, tuple] = {}
        for tp, offset in positions.items():
            connection = leaders.get(tp)
            if connection is not None:
                by_leader.setdefault(id(connection), (connection, {}))[1][tp] = offset
        if not by_leader:
            time.sleep(wait_ms / 1000)
            return []
        Request = messages.request_type(ApiKey.FETCH)
        found = []
        for connection, wanted in by_leader.values():
            topics: dict[str, list] = {}
            for (t, p), offset in wanted.items():
                topics.setdefault(t, []).append(
                    Request.FetchPartition(
                        partition=p,
                        current_leader_epoch=-1,
                        fetch_offset=offset,
                        log_start_offset=-1,
                        partition_max_bytes=PARTITION_MAX_BYTES,
                    )
                )
            try:
                answer = connection.request(
                    ApiKey.FETCH,
                    Request(
                        replica_id=-1,
                        max_wait_ms=wait_ms,
                        min_bytes=1,
                        max_bytes=50 * PARTITION_MAX_BYTES,
                        isolation_level=isolation,
                        session_id=0,
                        session_epoch=-1,
                        topics=[
                            Request.FetchTopic(topic=t, partitions=ps) for t, ps in topics.items()
                        ],
                    ),
                )
            except ToolError:  # the leader went away: the next round asks the cluster again
                self.forget(connection)
                time.sleep(0.1)
                continue
            if answer.error_code:
                raise ToolError(ErrorCode(answer.error_code).name)
            for t in answer.responses:
                for p in t.partitions:
                    data = bytes(p.records or b"")
                    batches = [
                        (header, data[pos : pos + header.size])
                        for pos, header in records.iter_batch_headers(data)
                    ]
                    if isolation == READ_COMMITTED and p.aborted_transactions:
                        batches = skip_aborted(batches, p.aborted_transactions)
                    found.append((t.topic, p.partition_index, batches, p.error_code))
        return found


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "consume", help="print records of a topic (kafka-console-consumer.sh)"
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--topic")
    which.add_argument("--include", metavar="REGEX", help="every topic whose name matches")
    parser.add_argument("--group", help="start at, and commit to, this group's offsets")
    parser.add_argument("--from-beginning", action="store_true")
    parser.add_argument("--partition", type=int, help="only this partition")
    parser.add_argument("--offset", help="with --partition: earliest, latest or an offset")
    parser.add_argument("--max-messages", type=int, help="stop after this many records")
    parser.add_argument("--timeout-ms", type=int, help="stop when nothing came for this long")
    parser.add_argument(
        "--property",
        action="append",
        default=[],
        metavar="K=V",
        help="print.timestamp, print.partition, print.offset, print.headers, print.key, "
        "print.value, key.separator, headers.separator, line.separator, null.literal",
    )
    parser.add_argument("--format", choices=("text", "json", "hex"), default="text", help="values")
    parser.add_argument(
        "--isolation-level",
        choices=("read_uncommitted", "read_committed"),
        default="read_uncommitted",
    )
    add_connection_arguments(parser)
    add_output_argument(parser)
    parser.set_defaults(run=lambda args: run(main, args))


def _start_positions(tool: ConsumerTool, args, partitions: list[tuple[str, int]]):
    if args.partition is not None and args.offset is not None:
        if args.offset in ("earliest", "latest"):
            at = EARLIEST if args.offset == "earliest" else LATEST
        else:
            try:
                at = int(args.offset)
            except ValueError:
                raise UsageError(
                    f"--offset {args.offset!r}: earliest, latest or a number"
                ) from None
            if at < 0:
                raise UsageError("--offset must not be negative")
            return {partitions[0]: at}
        return {tp: o for tp, (o, _) in tool.list_offsets(partitions, at).items()}
    reset = EARLIEST if args.from_beginning else LATEST
    positions = tool.committed(args.group, partitions) if args.group else {}
    missing = [tp for tp in partitions if tp not in positions]
    for tp, (o, _) in tool.list_offsets(missing, reset).items():
        positions[tp] = o
    return positions


def main(args: argparse.Namespace) -> int:
    if args.partition is not None and args.topic is None:
        raise UsageError("--partition needs --topic")
    if args.offset is not None and args.partition is None:
        raise UsageError("The partition is required when offset is specified.")
    if args.offset is not None and args.from_beginning:
        raise UsageError("Options from-beginning and offset cannot be specified together.")
    formatter = Formatter(parse_properties(args.property), args.format)
    json_out = args.output == "json"
    isolation = 1 if args.isolation_level == "read_committed" else 0
    out = sys.stdout
    documents = []
    printed = 0
    # A bar only when the records go to a file and a person watches the terminal.
    progress = Progress("consumed", args.max_messages)
    progress.enabled = progress.enabled and not out.isatty()
    with ConsumerTool(args.bootstrap_server, args.timeout) as tool:
        if args.include is not None:
            try:
                regex = re.compile(args.include)
            except re.error as exc:
                raise UsageError(f"--include {args.include!r}: {exc}") from None
            names = [
                t.name
                for t in tool.metadata(None).topics
                if not t.error_code and not t.is_internal and regex.fullmatch(t.name)
            ]
            if not names:
                raise ToolError(f"no topic matches {args.include!r}")
        else:
            names = [args.topic]
        known = tool.partitions_of(names)
        member = None
        if args.partition is not None:
            if args.partition not in known[args.topic]:
                raise ToolError(f"partition {args.topic}-{args.partition} does not exist")
            partitions = [(args.topic, args.partition)]
        elif args.group:
            member = GroupMember(tool, args.group, names)
            partitions = member.join()
        else:
            partitions = [(t, p) for t in names for p in known[t]]
        positions = _start_positions(tool, args, partitions)
        committed = dict(positions)

        def commit() -> bool:
            nonlocal committed
            if not args.group or positions == committed:
                return True
            if member is None:
                tool.commit(args.group, positions)
            elif not member.commit(positions):
                return False
            committed = dict(positions)
            return True

        def rejoin() -> None:
            nonlocal positions, committed
            commit()  # what was printed, while the generation may still take it
            positions = _start_positions(tool, args, member.join())
            committed = dict(positions)

        def done() -> bool:
            return args.max_messages is not None and printed >= args.max_messages

        last_record = time.monotonic()
        try:
            while not done():
                wait_ms = 500
                if args.timeout_ms is not None:
                    left = args.timeout_ms / 1000 - (time.monotonic() - last_record)
                    if left <= 0:
                        break
                    wait_ms = max(1, min(wait_ms, int(left * 1000)))
                if member is not None and not member.heartbeat():
                    rejoin()
                for topic, partition, batches, error in tool.fetch(positions, isolation, wait_ms):
                    tp = (topic, partition)
                    if error == ErrorCode.OFFSET_OUT_OF_RANGE:
                        reset = EARLIEST if args.from_beginning else LATEST
                        positions[tp] = tool.list_offsets([tp], reset)[tp][0]
                        continue
                    if error in REFRESH_ERRORS:
                        time.sleep(0.1)
                        continue
                    if error:
                        raise ToolError(f"partition {topic}-{partition}: {ErrorCode(error).name}")
                    for header, data in batches:
                        if done():
                            break
                        if header.last_offset < positions[tp]:
                            continue
                        if data is not None and not header.is_control:
                            _, batch_records = records.decode_batch(data)
                            append_time = header.is_log_append_time
                            for record in batch_records:
                                if record.offset < positions[tp]:
                                    continue
                                if done():
                                    break
                                if json_out:
                                    documents.append(
                                        record_document(
                                            topic, partition, record, args.format, append_time
                                        )
                                    )
                                else:
                                    out.write(formatter.line(partition, record, append_time))
                                printed += 1
                                positions[tp] = record.offset + 1
                                progress.advance()
                                last_record = time.monotonic()
                        if not done():
                            positions[tp] = header.last_offset + 1
                out.flush()
                if not commit():
                    rejoin()
        except KeyboardInterrupt:
            pass
        finally:
            progress.close()
        commit()
        if member is not None:
            member.leave()
    if json_out:
        print_json({"records": documents})
    print(f"Processed a total of {printed} messages", file=sys.stderr)
    return 0
