"""`kafka-compat offsets`, like kafka-get-offsets.sh: each partition's offset for a
time (-1 or latest, -2 or earliest, -3 or max-timestamp, or milliseconds since the
epoch: the first offset at or after it), printed `topic:partition:offset` (nothing
after the last colon when no record is that late). ListOffsets on each leader.
"""

from __future__ import annotations

import argparse
import re

from kafka_compat.tools.common import (
    UsageError,
    add_connection_arguments,
    add_output_argument,
    print_json,
    run,
)
from kafka_compat.tools.connection import AdminTool, ToolError
from protocol.api_keys import ApiKey

NAMED_TIMES = {"latest": -1, "earliest": -2, "max-timestamp": -3}


def parse_time(text: str) -> int:
    if text in NAMED_TIMES:
        return NAMED_TIMES[text]
    try:
        value = int(text)
    except ValueError:
        raise UsageError(
            f"--time {text!r}: expected -1, -2, -3, latest, earliest, max-timestamp or a timestamp"
        ) from None
    if value < -3:
        raise UsageError(f"--time {text!r} is not a time")
    return value


def parse_partitions(text: str | None) -> set[int] | None:
    """`0,2,5-7` -> {0, 2, 5, 6, 7}."""
    if not text:
        return None
    found: set[int] = set()
    try:
        for part in text.split(","):
            first, sep, last = part.strip().partition("-")
            found.update(range(int(first), int(last) + 1) if sep else [int(first)])
    except ValueError:
        raise UsageError(f"--partitions {text!r}: expected numbers and ranges") from None
    return found


class OffsetsTool(AdminTool):
    MAX_VERSIONS = {ApiKey.METADATA: 12, ApiKey.LIST_OFFSETS: 8}

    def offsets(
        self,
        pattern: str | None,
        partitions: set[int] | None,
        timestamp: int,
        include_internal: bool = True,
    ) -> dict[tuple[str, int], int | None]:
        regex = re.compile(pattern) if pattern else None
        chosen = []
        for t in self.metadata(None).topics:
            if t.error_code or (t.is_internal and not include_internal):
                continue
            if regex is not None and not regex.fullmatch(t.name):
                continue
            chosen += [
                (t.name, p.partition_index)
                for p in t.partitions
                if partitions is None or p.partition_index in partitions
            ]
        if pattern and not chosen:
            raise ToolError("Could not match any topic-partitions with the specified filters")
        found = self.list_offsets(sorted(chosen), timestamp)
        return {tp: (o if o >= 0 else None) for tp, (o, _) in sorted(found.items())}


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "offsets", help="partitions' offsets at a time (kafka-get-offsets.sh)"
    )
    parser.add_argument("--topic", help="a regular expression (every topic without it)")
    parser.add_argument("--partitions", help="partition ids: 0,2,5-7 (all without it)")
    parser.add_argument(
        "--time", default="-1", help="-1/latest, -2/earliest, -3/max-timestamp or epoch ms"
    )
    parser.add_argument("--exclude-internal-topics", action="store_true")
    add_connection_arguments(parser)
    add_output_argument(parser)
    parser.set_defaults(run=lambda args: run(main, args))


def main(args: argparse.Namespace) -> int:
    timestamp = parse_time(args.time)
    partitions = parse_partitions(args.partitions)
    try:
        re.compile(args.topic or "")
    except re.error as exc:
        raise UsageError(f"--topic {args.topic!r} is not a regular expression: {exc}") from None
    with OffsetsTool(args.bootstrap_server, args.timeout) as tool:
        found = tool.offsets(args.topic, partitions, timestamp, not args.exclude_internal_topics)
    if args.output == "json":
        print_json(
            {"offsets": [{"topic": t, "partition": p, "offset": o} for (t, p), o in found.items()]}
        )
    elif found:
        print("\n".join(f"{t}:{p}:{'' if o is None else o}" for (t, p), o in found.items()))
    return 0
