"""The parsing and formatting pieces of the CLI tools, without a broker: Kafka's
--add-config syntax, the console producer's line format, the console consumer's
field order, murmur2 as Kafka's Java client computes it, and a progress bar that
only a terminal sees."""

from __future__ import annotations

import io

import pytest

from kafka_compat.tools.common import Progress, UsageError
from kafka_compat.tools.configs import parse_add_config
from kafka_compat.tools.consume import Formatter
from kafka_compat.tools.groups import parse_datetime, parse_duration, parse_topic_partitions
from kafka_compat.tools.offsets import parse_partitions, parse_time
from kafka_compat.tools.produce import LineReader, murmur2, partition_for_key
from protocol.records import Record


def test_add_config_keeps_bracketed_lists_whole():
    assert parse_add_config("retention.ms=1000,cleanup.policy=[compact,delete]") == {
        "retention.ms": "1000",
        "cleanup.policy": "compact,delete",
    }
    with pytest.raises(UsageError):
        parse_add_config("retention.ms")


def test_line_reader_reads_headers_key_and_value_like_kafkas_line_reader():
    reader = LineReader(
        {"parse.key": "true", "parse.headers": "true", "key.separator": "=", "null.marker": "-"},
        "text",
    )
    assert reader.read("a:1,b,c:-\tk=v=w") == (
        b"k",
        b"v=w",
        [("a", b"1"), ("b", None), ("c", None)],
    )
    assert reader.read("\t-=-") == (None, None, [])
    hex_values = LineReader({}, "hex")
    assert hex_values.read("00ff") == (None, b"\x00\xff", [])


def test_murmur2_partitions_as_the_java_client():
    # Values from Kafka's UtilsTest.testMurmur2 and DefaultPartitioner.
    assert murmur2(b"21") == -973932308
    assert murmur2(b"foobar") == -790332482
    assert murmur2(b"a-little-bit-long-string") == -985981536
    assert partition_for_key(b"foobar", 3) == (-790332482 & 0x7FFFFFFF) % 3


def test_formatter_prints_kafkas_fields_in_kafkas_order():
    formatter = Formatter(
        {
            "print.timestamp": "true",
            "print.partition": "true",
            "print.offset": "true",
            "print.headers": "true",
            "print.key": "true",
            "key.separator": " | ",
        },
        "json",
    )
    record = Record(7, 1000, b"k", b'{"a": 1}', [("h", b"x"), ("n", None)])
    assert formatter.line(2, record, False) == (
        'CreateTime:1000 | Partition:2 | Offset:7 | h:x,n:null | k | {"a":1}\n'
    )
    record = Record(8, 5, None, None, [])
    assert (
        formatter.line(0, record, True)
        == "LogAppendTime:5 | Partition:0 | Offset:8 | NO_HEADERS | null | null\n"
    )


def test_time_and_partition_arguments():
    assert [parse_time(t) for t in ("latest", "earliest", "max-timestamp", "-1", "123")] == [
        -1,
        -2,
        -3,
        -1,
        123,
    ]
    with pytest.raises(UsageError):
        parse_time("-4")
    assert parse_partitions("0,2,5-7") == {0, 2, 5, 6, 7}
    assert parse_topic_partitions(["a", "b:0,2"]) == [("a", None), ("b", [0, 2])]
    assert parse_datetime("1970-01-01T00:00:01.500Z") == 1500
    assert parse_datetime("1970-01-01T01:00:00.000+01:00") == 0
    with pytest.raises(UsageError):
        parse_datetime("yesterday")
    assert parse_duration("PT0.5S") == 500
    assert parse_duration("P1DT2H3M4S") == ((24 + 2) * 60 + 3) * 60_000 + 4000
    with pytest.raises(UsageError):
        parse_duration("5 minutes")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_drawn_on_a_terminal_only():
    piped = io.StringIO()
    with Progress("dumping", 10, stream=piped) as progress:
        progress.advance(10)
    assert piped.getvalue() == ""
    terminal = Terminal()
    with Progress("dumping", 10, stream=terminal) as progress:
        progress.advance(5)
    assert terminal.getvalue().endswith("\rdumping [###############               ] 5/10\n")


def test_range_assignor_gives_consecutive_ranges_first_members_more():
    from kafka_compat.tools.group_member import range_assign

    subscriptions = {"b": {"t", "u"}, "a": {"t"}, "c": {"t"}}
    plan = range_assign(subscriptions, {"t": [0, 1, 2, 3, 4], "u": [0, 1]})
    assert plan == {"a": {"t": [0, 1]}, "b": {"t": [2, 3], "u": [0, 1]}, "c": {"t": [4]}}


def test_kafka_consumer_groups_flags_become_subcommands():
    from kafka_compat.tools.groups import kafka_style

    server = ["--bootstrap-server", "h:1"]
    assert kafka_style(["groups", "--describe", "--group", "g", *server]) == [
        "groups", "describe", "g", *server
    ]  # fmt: skip
    assert kafka_style(["groups", "--list", *server]) == ["groups", "list", *server]
    reset = ["--group", "g", "--all-topics", "--to-earliest", "--execute"]
    assert kafka_style(["groups", "--reset-offsets", *reset]) == [
        "groups", "reset-offsets", *reset
    ]  # fmt: skip
    assert kafka_style(["groups", "--delete", "--group", "g"]) == [
        "groups",
        "delete",
        "--group",
        "g",
    ]
    assert kafka_style(["groups", "list"]) == ["groups", "list"]
    assert kafka_style(["topics", "--list"]) == ["topics", "--list"]
