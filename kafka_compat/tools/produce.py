"""`kafka-compat produce`, like kafka-console-producer.sh: one record per stdin line.

Line format (Kafka's LineMessageReader properties, `--property k=v`):
`parse.key=true` splits key and value at `key.separator` (default TAB);
`parse.headers=true` reads headers first, up to `headers.delimiter` (TAB), as
`k:v,k2:v2` (`headers.separator` ",", `headers.key.separator` ":"; a header without
a value is null); `null.marker` makes a key, value or header value equal to it null.
`--format json` checks each value is JSON, `hex` reads values as hex.

Records go out in v2 batches built by protocol/records.build_batch, one Produce per
leader; a key picks its partition with Kafka's murmur2 partitioner (as the Java and
librdkafka clients' `murmur2_random` do), records without a key go round robin, or
`--partition` fixes it. From a terminal each line is sent at once; from a pipe lines
are sent in batches of up to --batch-size records. With acks=all (the default) the
producer is idempotent, as Kafka's is by default: an InitProducerId id and epoch and
per-partition sequences in each batch (`--producer-property enable.idempotence=false`
turns it off).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from kafka_compat.tools.common import (
    UsageError,
    add_connection_arguments,
    add_output_argument,
    parse_properties,
    print_json,
    run,
)
from kafka_compat.tools.connection import AdminTool, ToolError
from protocol import messages, records
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

CODECS = {
    "none": records.COMPRESSION_NONE,
    "gzip": records.COMPRESSION_GZIP,
    "snappy": records.COMPRESSION_SNAPPY,
    "lz4": records.COMPRESSION_LZ4,
    "zstd": records.COMPRESSION_ZSTD,
}
_MASK = 0xFFFFFFFF
# Produce answers after which the same batch goes again (Kafka's retriable errors).
RETRIABLE_PRODUCE = frozenset(
    {
        ErrorCode.NOT_LEADER_OR_FOLLOWER,
        ErrorCode.LEADER_NOT_AVAILABLE,
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.NOT_ENOUGH_REPLICAS,
        ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        ErrorCode.REQUEST_TIMED_OUT,
        ErrorCode.FENCED_LEADER_EPOCH,
    }
)


def murmur2(data: bytes) -> int:
    """Kafka's Utils.murmur2 (32-bit, seed 0x9747b28c), as a signed int."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    end = length & ~3
    for i in range(0, end, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & _MASK
        k ^= k >> r
        k = (k * m) & _MASK
        h = (h * m) & _MASK
        h ^= k
    tail = length & 3
    if tail == 3:
        h ^= data[end + 2] << 16
    if tail >= 2:
        h ^= data[end + 1] << 8
    if tail >= 1:
        h ^= data[end]
        h = (h * m) & _MASK
    h ^= h >> 13
    h = (h * m) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for_key(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class LineReader:
    """One stdin line -> (key, value, headers), by Kafka's console producer properties."""

    def __init__(self, props: dict[str, str], value_format: str) -> None:
        def flag(name: str) -> bool:
            return props.get(name, "false").lower() == "true"

        self.parse_key = flag("parse.key")
        self.parse_headers = flag("parse.headers")
        self.key_separator = props.get("key.separator", "\t")
        self.headers_delimiter = props.get("headers.delimiter", "\t")
        self.headers_separator = props.get("headers.separator", ",")
        self.headers_key_separator = props.get("headers.key.separator", ":")
        self.null_marker = props.get("null.marker")
        self.ignore_error = flag("ignore.error")
        self.value_format = value_format

    def _bytes(self, text: str) -> bytes | None:
        if self.null_marker is not None and text == self.null_marker:
            return None
        return text.encode("utf-8")

    def read(self, line: str) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]:
        headers: list[tuple[str, bytes | None]] = []
        rest = line
        if self.parse_headers:
            head, sep, rest = rest.partition(self.headers_delimiter)
            if not sep:
                if not self.ignore_error:
                    raise ToolError(f"No headers delimiter found on line: {line!r}")
                head, rest = "", line
            for item in head.split(self.headers_separator) if head else ():
                name, sep, value = item.partition(self.headers_key_separator)
                headers.append((name, self._bytes(value) if sep else None))
        key = None
        if self.parse_key:
            key_text, sep, rest = rest.partition(self.key_separator)
            if not sep:
                if not self.ignore_error:
                    raise ToolError(f"No key separator found on line: {line!r}")
                key_text, rest = None, key_text
            key = None if key_text is None else self._bytes(key_text)
        return key, self._value(rest), headers

    def _value(self, text: str) -> bytes | None:
        if self.null_marker is not None and text == self.null_marker:
            return None
        if self.value_format == "hex":
            try:
                return bytes.fromhex(text)
            except ValueError:
                raise ToolError(f"not hex: {text!r}") from None
        if self.value_format == "json":
            try:
                json.loads(text)
            except ValueError as exc:
                raise ToolError(f"not JSON ({exc}): {text!r}") from None
        return text.encode("utf-8")


class ProducerTool(AdminTool):
    MAX_VERSIONS = {ApiKey.METADATA: 12, ApiKey.PRODUCE: 9, ApiKey.INIT_PRODUCER_ID: 4}

    def __init__(
        self,
        bootstrap: str,
        timeout: float,
        topic: str,
        acks: int,
        codec: int,
        idempotent: bool = False,
    ):
        super().__init__(bootstrap, timeout)
        self.topic = topic
        self.acks = acks
        self.codec = codec
        self.producer_id, self.producer_epoch = -1, -1
        self.sequences: dict[int, int] = {}  # partition -> next sequence
        if idempotent:
            self.init_producer_id()
        self.refresh()
        self._next = 0
        self.sent = 0
        self.offsets: list[tuple[int, int]] = []  # (partition, base offset) of each batch

    def init_producer_id(self) -> None:
        """An idempotent producer's id and epoch (InitProducerId without a transactional
        id), as the Java producer gets them by default with acks=all."""
        Request = messages.request_type(ApiKey.INIT_PRODUCER_ID)

        def attempt():
            answer = self.bootstrap.request(
                ApiKey.INIT_PRODUCER_ID,
                Request(transactional_id=None, transaction_timeout_ms=2**31 - 1),
            )
            return answer.error_code, answer

        answer = self.retrying(attempt)
        self.producer_id, self.producer_epoch = answer.producer_id, answer.producer_epoch

    def refresh(self) -> None:
        self.partition_leaders = {p: c for (_, p), c in self.leaders_of().items()}
        self.partitions = sorted(self.partition_leaders)

    def leaders_of(self):
        metadata = self.metadata([self.topic])
        (t,) = metadata.topics
        if t.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
            raise ToolError(f"Topic {self.topic} not present in metadata")
        return self.leaders([self.topic])

    def partition_for(self, key: bytes | None, fixed: int | None) -> int:
        if fixed is not None:
            if fixed not in self.partition_leaders:
                raise ToolError(f"partition {self.topic}-{fixed} does not exist")
            return fixed
        if key is not None:
            return partition_for_key(key, len(self.partitions))
        self._next += 1
        return self.partitions[self._next % len(self.partitions)]

    def send(self, batch: dict[int, list]) -> None:
        """Records by partition: one batch per partition, one Produce per leader. A
        partition whose leader moved (or died) is sent again, the same batch with the
        same sequence, to its new leader until --timeout runs out."""
        pending: dict[int, bytes] = {}
        for partition, items in batch.items():
            sequence = -1
            if self.producer_id >= 0:
                sequence = self.sequences.get(partition, 0)
                self.sequences[partition] = records.increment_sequence(sequence, len(items))
            pending[partition] = records.build_batch(
                items,
                compression=self.codec,
                producer_id=self.producer_id,
                producer_epoch=self.producer_epoch,
                base_sequence=sequence,
            )
        deadline = time.monotonic() + self.timeout
        while True:
            failed = self._send_once(pending)
            if not failed:
                break
            if time.monotonic() >= deadline:
                partition, detail = next(iter(failed.items()))
                raise ToolError(
                    f"Error when sending message to topic {self.topic} "
                    f"partition {partition}: {detail}"
                )
            time.sleep(0.2)
            self.refresh()
            pending = {p: pending[p] for p in failed}
        self.sent += sum(len(v) for v in batch.values())

    def _send_once(self, pending: dict[int, bytes]) -> dict[int, str]:
        """Send each partition's batch to its leader; the retriable failures by partition
        (a refusal that is not retriable raises ToolError)."""
        Request = messages.request_type(ApiKey.PRODUCE)
        failed: dict[int, str] = {}
        by_leader: dict[int, tuple] = {}
        for partition, data in pending.items():
            connection = self.partition_leaders.get(partition)
            if connection is None:
                failed[partition] = "no leader"
                continue
            by_leader.setdefault(id(connection), (connection, []))[1].append(
                Request.PartitionProduceData(index=partition, records=data)
            )
        for connection, partitions in by_leader.values():
            request = Request(
                transactional_id=None,
                acks=self.acks,
                timeout_ms=int(self.timeout * 1000),
                topic_data=[Request.TopicProduceData(name=self.topic, partition_data=partitions)],
            )
            try:
                answer = connection.request(ApiKey.PRODUCE, request, expect_response=self.acks != 0)
            except ToolError as exc:  # the leader went away: ask the cluster again
                self.forget(connection)
                failed.update((p.index, str(exc)) for p in partitions)
                continue
            if answer is None:
                continue
            for t in answer.responses:
                for p in t.partition_responses:
                    if p.error_code in RETRIABLE_PRODUCE:
                        failed[p.index] = ErrorCode(p.error_code).name
                    elif p.error_code:
                        detail = p.error_message or ErrorCode(p.error_code).name
                        raise ToolError(
                            f"Error when sending message to topic {self.topic} "
                            f"partition {p.index}: {detail}"
                        )
                    else:
                        self.offsets.append((p.index, p.base_offset))
        return failed


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "produce", help="send stdin lines as records (kafka-console-producer.sh)"
    )
    parser.add_argument("--topic", required=True)
    parser.add_argument(
        "--property",
        action="append",
        default=[],
        metavar="K=V",
        help="parse.key, key.separator, parse.headers, headers.delimiter, headers.separator, "
        "headers.key.separator, null.marker, ignore.error",
    )
    parser.add_argument("--partition", type=int, help="send every record to this partition")
    parser.add_argument("--format", choices=("text", "json", "hex"), default="text", help="values")
    parser.add_argument(
        "--request-required-acks", "--acks", dest="acks", default="-1", help="-1/all, 0 or 1"
    )
    parser.add_argument(
        "--producer-property",
        action="append",
        default=[],
        metavar="K=V",
        help="acks, compression.type",
    )
    parser.add_argument(
        "--compression-codec", "--compression-type", dest="compression", choices=sorted(CODECS)
    )
    parser.add_argument(
        "--batch-size", type=int, default=500, help="records per request from a pipe"
    )
    add_connection_arguments(parser)
    add_output_argument(parser)
    parser.set_defaults(run=lambda args: run(main, args))


def main(args: argparse.Namespace, stdin=None) -> int:
    stdin = stdin or sys.stdin
    props = parse_properties(args.property)
    producer_props = parse_properties(args.producer_property, "--producer-property")
    acks_text = producer_props.get("acks", args.acks)
    acks = -1 if acks_text == "all" else int(acks_text) if acks_text.lstrip("-").isdigit() else None
    if acks not in (-1, 0, 1):
        raise UsageError(f"acks must be -1 (all), 0 or 1, got {acks_text!r}")
    compression = producer_props.get("compression.type", args.compression or "none")
    if compression not in CODECS:
        raise UsageError(f"unknown compression type {compression!r}")
    reader = LineReader(props, args.format)
    interactive = stdin.isatty()
    limit = 1 if interactive else max(args.batch_size, 1)
    # Kafka's producer is idempotent by default, which needs acks=all.
    idempotent = acks == -1 and producer_props.get("enable.idempotence", "true") != "false"
    with ProducerTool(
        args.bootstrap_server, args.timeout, args.topic, acks, CODECS[compression], idempotent
    ) as tool:
        pending: dict[int, list] = {}
        count = 0
        for line in stdin:
            line = line.rstrip("\n").removesuffix("\r")
            key, value, headers = reader.read(line)
            pending.setdefault(tool.partition_for(key, args.partition), []).append(
                (key, value, headers)
            )
            count += 1
            if count >= limit:
                tool.send(pending)
                pending, count = {}, 0
        if pending:
            tool.send(pending)
    if args.output == "json":
        print_json(
            {
                "topic": args.topic,
                "records": tool.sent,
                "producer_id": tool.producer_id,
                "batches": [{"partition": p, "base_offset": o} for p, o in tool.offsets],
            }
        )
    return 0
