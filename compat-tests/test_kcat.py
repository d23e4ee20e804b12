"""kcat (Debian's 1.7.1, librdkafka 2.0.2) against a running kafka-compat broker.

Covers what people do with kcat day to day: ``-L`` metadata, ``-P`` produce (keys with
``-K``, headers with ``-H``, explicit partitions with ``-p``, every ``-z`` codec),
``-C -e`` consume from the beginning, from an offset inside a batch and from the end,
and ``-Q`` offsets by timestamp. librdkafka 2.0.2 is old enough to trip on broker
details newer clients forgive (tagged fields in ApiVersions, null record sets), so
passing here is a real compatibility statement.

Consumes pass ``-X check.crcs=true`` so librdkafka verifies every batch's CRC-32C:
a broker that assigns offsets must not disturb the CRC-covered bytes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests import installed

KCAT = shutil.which("kcat") or shutil.which("kafkacat") or "kcat"


@pytest.fixture(autouse=True)
def _kcat_installed() -> None:
    installed.kcat()


# A hang guard only: kcat normally answers in well under a second.
KCAT_TIMEOUT_S = 120
# kcat's own waits, so a misbehaving broker fails the test instead of hanging it.
KCAT_COMMON = ["-m", "30", "-X", "message.timeout.ms=30000"]
CONSUME_FORMAT = "%p\t%o\t%k\t%s\t%h\n"


@dataclass(frozen=True)
class Consumed:
    """One message as kcat printed it with CONSUME_FORMAT."""

    partition: int
    offset: int
    key: str
    value: str
    headers: str


def kcat(broker: Any, *args: str, stdin: bytes | None = None) -> str:
    """Run kcat against the broker, require exit status 0, return its stdout."""
    cmd = [KCAT, "-b", broker.bootstrap, *KCAT_COMMON, *args]
    res = subprocess.run(cmd, input=stdin, capture_output=True, timeout=KCAT_TIMEOUT_S)
    assert res.returncode == 0, (
        f"kcat exited {res.returncode}: {' '.join(cmd)}\n"
        f"stderr:\n{res.stderr.decode(errors='replace')}\n"
        f"--- broker output ---\n{broker.log_tail()}"
    )
    return res.stdout.decode()


def kcat_produce(broker: Any, topic: str, lines: list[str], *args: str) -> None:
    """Produce one message per line with ``kcat -P``."""
    kcat(broker, "-P", "-t", topic, *args, stdin="".join(f"{line}\n" for line in lines).encode())


def kcat_consume(broker: Any, topic: str, *args: str) -> list[Consumed]:
    """Consume with ``kcat -C -e`` (exit at the end of every partition) and parse."""
    out = kcat(
        broker, "-C", "-t", topic, "-e", "-X", "check.crcs=true", "-f", CONSUME_FORMAT, *args
    )
    messages = []
    for line in out.splitlines():
        partition, offset, key, value, headers = line.split("\t")
        messages.append(Consumed(int(partition), int(offset), key, value, headers))
    return messages


def by_partition(messages: list[Consumed]) -> dict[int, list[Consumed]]:
    """Group consumed messages by partition, keeping the order kcat printed them in."""
    grouped: dict[int, list[Consumed]] = {}
    for msg in messages:
        grouped.setdefault(msg.partition, []).append(msg)
    return grouped


def metadata(broker: Any, topic: str | None = None) -> dict[str, Any]:
    """``kcat -L -J`` parsed."""
    args = ["-L", "-J"] + (["-t", topic] if topic else [])
    return json.loads(kcat(broker, *args))


def topic_metadata(md: dict[str, Any], topic: str) -> dict[str, Any]:
    """The entry for ``topic`` in ``kcat -L -J`` output."""
    matches = [t for t in md["topics"] if t["topic"] == topic]
    assert len(matches) == 1, f"{topic!r} not listed once in {md['topics']!r}"
    return matches[0]


def test_metadata_lists_the_broker_and_every_partition(
    served_broker: Any, create_topic: Callable[..., None], topic_name: Callable[[str], str]
) -> None:
    topic = topic_name("")
    create_topic(topic, partitions=3)

    md = metadata(served_broker)

    assert len(md["brokers"]) == 1
    broker = md["brokers"][0]
    assert broker["name"] == served_broker.bootstrap
    assert md["controllerid"] == broker["id"]
    entry = topic_metadata(md, topic)
    assert "error" not in entry, entry
    assert [p["partition"] for p in entry["partitions"]] == [0, 1, 2]
    for part in entry["partitions"]:
        assert "error" not in part, part
        assert part["leader"] == broker["id"]
        assert part["replicas"] == [{"id": broker["id"]}]
        assert part["isrs"] == [{"id": broker["id"]}]


def test_metadata_for_one_topic_lists_only_that_topic(
    served_broker: Any, create_topic: Callable[..., None], topic_name: Callable[[str], str]
) -> None:
    wanted, other = topic_name("wanted"), topic_name("other")
    create_topic(wanted, partitions=2)
    create_topic(other)

    md = metadata(served_broker, wanted)

    assert [t["topic"] for t in md["topics"]] == [wanted]
    assert [p["partition"] for p in md["topics"][0]["partitions"]] == [0, 1]


def test_produce_auto_creates_topic_with_default_partition_count(
    served_broker: Any, topic_name: Callable[[str], str]
) -> None:
    topic = topic_name("auto")

    kcat_produce(served_broker, topic, ["k1:first", "k2:second"], "-K:")

    entry = topic_metadata(metadata(served_broker, topic), topic)
    assert [p["partition"] for p in entry["partitions"]] == [0]
    assert kcat_consume(served_broker, topic) == [
        Consumed(0, 0, "k1", "first", ""),
        Consumed(0, 1, "k2", "second", ""),
    ]


def test_keyed_messages_with_headers_to_explicit_partitions_come_back_in_order(
    served_broker: Any, create_topic: Callable[..., None], topic_name: Callable[[str], str]
) -> None:
    topic = topic_name("")
    create_topic(topic, partitions=3)
    sent: dict[int, list[tuple[str, str]]] = {}
    for partition in (2, 0, 1):
        pairs = [(f"key-{partition}-{i}", f"value {partition}/{i}") for i in range(25)]
        sent[partition] = pairs
        kcat_produce(
            served_broker,
            topic,
            [f"{k}:{v}" for k, v in pairs],
            "-K:",
            "-p",
            str(partition),
            "-H",
            f"origin=kcat-{partition}",
            "-H",
            "dup=1",
            "-H",
            "dup=2",
            "-H",
            "novalue",
        )

    got = by_partition(kcat_consume(served_broker, topic))

    assert sorted(got) == [0, 1, 2]
    for partition, pairs in sent.items():
        expected_headers = f"origin=kcat-{partition},dup=1,dup=2,novalue=NULL"
        assert got[partition] == [
            Consumed(partition, offset, key, value, expected_headers)
            for offset, (key, value) in enumerate(pairs)
        ]


def test_message_without_key_delimiter_has_no_key(
    served_broker: Any, create_topic: Callable[..., None], topic_name: Callable[[str], str]
) -> None:
    topic = topic_name("")
    create_topic(topic)

    kcat_produce(served_broker, topic, ["just a value", "k:v"], "-K:")

    out = kcat(served_broker, "-C", "-t", topic, "-e", "-J")
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["offset"], r["key"], r["payload"]) for r in records] == [
        (0, None, "just a value"),
        (1, "k", "v"),
    ]


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_batches_round_trip(
    served_broker: Any,
    create_topic: Callable[..., None],
    topic_name: Callable[[str], str],
    codec: str,
) -> None:
    topic = topic_name(codec)
    create_topic(topic, partitions=2)
    # Repetitive values so the codec really compresses; linger so batches hold many records.
    lines = {
        p: [f"k{p}-{i}:{codec} payload {p}-{i} " + "abcdefgh" * 20 for i in range(300)]
        for p in (0, 1)
    }
    for partition, part_lines in lines.items():
        kcat_produce(
            served_broker,
            topic,
            part_lines,
            "-K:",
            "-z",
            codec,
            "-p",
            str(partition),
            "-X",
            "linger.ms=50",
        )

    got = by_partition(kcat_consume(served_broker, topic))

    for partition, part_lines in lines.items():
        expected = []
        for offset, line in enumerate(part_lines):
            key, value = line.split(":", 1)
            expected.append(Consumed(partition, offset, key, value, ""))
        assert got[partition] == expected


def test_consume_from_an_offset_inside_a_batch_and_from_the_end(
    served_broker: Any, create_topic: Callable[..., None], topic_name: Callable[[str], str]
) -> None:
    topic = topic_name("")
    create_topic(topic)
    # One kcat run with a long linger: the ten records travel as one batch.
    kcat_produce(
        served_broker, topic, [f"k{i}:v{i}" for i in range(10)], "-K:", "-X", "linger.ms=200"
    )

    from_4 = kcat_consume(served_broker, topic, "-p", "0", "-o", "4")
    last_3 = kcat_consume(served_broker, topic, "-p", "0", "-o", "-3")
    two_from_start = kcat_consume(served_broker, topic, "-p", "0", "-o", "beginning", "-c", "2")

    assert from_4 == [Consumed(0, i, f"k{i}", f"v{i}", "") for i in range(4, 10)]
    assert last_3 == [Consumed(0, i, f"k{i}", f"v{i}", "") for i in range(7, 10)]
    assert two_from_start == [Consumed(0, i, f"k{i}", f"v{i}", "") for i in range(2)]


def _produce_with_timestamps(
    bootstrap: str, topic: str, partition: int, stamps: list[int], one_batch: bool
) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 200 if one_batch else 0, "acks": "all"}
    )
    errors: list[Any] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(err)

    for i, ts in enumerate(stamps):
        producer.produce(
            topic,
            value=f"v{i}",
            key=f"k{i}",
            partition=partition,
            timestamp=ts,
            on_delivery=on_delivery,
        )
        if not one_batch:
            assert producer.flush(60) == 0
    assert producer.flush(60) == 0
    assert errors == []


def query_offset(broker: Any, topic: str, partition: int, timestamp: int) -> int:
    """``kcat -Q -J -t topic:partition:timestamp`` -> the offset it reports."""
    out = json.loads(kcat(broker, "-Q", "-J", "-t", f"{topic}:{partition}:{timestamp}"))
    answer = out[topic][str(partition)]
    assert "error" not in answer, answer
    return answer["offset"]


@pytest.mark.parametrize("one_batch", [True, False], ids=["one-batch", "batch-per-record"])
def test_offsets_for_times_find_the_first_record_at_or_after_the_timestamp(
    served_broker: Any,
    create_topic: Callable[..., None],
    topic_name: Callable[[str], str],
    one_batch: bool,
) -> None:
    topic = topic_name("")
    create_topic(topic, partitions=2)
    t0 = 1_700_000_000_000
    stamps = [t0 + 1000 * i for i in range(10)]
    _produce_with_timestamps(served_broker.bootstrap, topic, 1, stamps, one_batch)

    # The timestamps we chose are the ones stored (CreateTime).
    out = kcat(served_broker, "-C", "-t", topic, "-p", "1", "-e", "-f", "%o %T\n")
    assert [tuple(map(int, line.split())) for line in out.splitlines()] == list(enumerate(stamps))

    q = lambda ts: query_offset(served_broker, topic, 1, ts)  # noqa: E731
    assert q(t0 - 60_000) == 0
    assert q(t0) == 0
    assert q(t0 + 1) == 1
    assert q(t0 + 3000) == 3
    assert q(t0 + 3500) == 4
    assert q(t0 + 9000) == 9
    assert q(t0 + 9001) == -1  # no record that late: Kafka answers offset -1
    assert q(-2) == 0  # earliest
    assert q(-1) == 10  # latest: the log end offset
    # The other partition is empty: earliest and latest are both 0, any time is -1.
    assert query_offset(served_broker, topic, 0, -2) == 0
    assert query_offset(served_broker, topic, 0, -1) == 0
    assert query_offset(served_broker, topic, 0, t0) == -1


def test_records_survive_a_clean_restart(
    broker_starter: Callable[[Path], Any], tmp_path: Path, topic_name: Callable[[str], str]
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    topic = topic_name("")
    first = broker_starter(data_dir)
    admin = AdminClient({"bootstrap.servers": first.bootstrap})
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(timeout=60)
    for partition in (0, 1):
        kcat_produce(
            first,
            topic,
            [f"k{partition}-{i}:v{partition}-{i}" for i in range(20)],
            "-K:",
            "-p",
            str(partition),
            "-H",
            "h=1",
        )
    before = kcat_consume(first, topic)
    assert first.stop() == 0, first.log_tail()

    second = broker_starter(data_dir)
    after = kcat_consume(second, topic)

    assert len(before) == 40
    assert by_partition(after) == by_partition(before)
    assert [
        p["partition"] for p in topic_metadata(metadata(second, topic), topic)["partitions"]
    ] == [0, 1]
    assert second.stop() == 0, second.log_tail()


@pytest.mark.parametrize(
    ("fallback", "codec"),
    [("0.10.0", "none"), ("0.10.0", "gzip"), ("0.10.0", "lz4"), ("0.9.0", "gzip")],
)
def test_old_broker_version_fallback_round_trip(
    served_broker: Any,
    create_topic: Callable[..., None],
    topic_name: Callable[[str], str],
    fallback: str,
    codec: str,
) -> None:
    """kcat told the broker is 0.10.0 or 0.9.0 (no ApiVersions): Produce v2/v1 with
    message format v1/v0, Fetch v2/v1 of down-converted batches."""
    topic = topic_name(f"{fallback}-{codec}".replace(".", "_"))
    create_topic(topic)
    old = ["-X", "api.version.request=false", "-X", f"broker.version.fallback={fallback}"]
    lines = [f"key-{i}:value-{i}" for i in range(20)]
    kcat_produce(served_broker, topic, lines, "-K", ":", "-p", "0", "-z", codec, *old)
    consumed = kcat_consume(served_broker, topic, *old)
    assert [(m.offset, m.key, m.value) for m in consumed] == [
        (i, f"key-{i}", f"value-{i}") for i in range(20)
    ]
