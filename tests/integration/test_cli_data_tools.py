"""`kafka-compat produce`, `consume` and `dump-log` against a real broker and a real
client: what the console producer sends confluent-kafka reads back exactly (keys,
values, headers, the partition Kafka's murmur2 partitioner picks); what
confluent-kafka produces the console consumer prints in Kafka's formats; and
dump-log's view of a log an idempotent client wrote (offsets, keys, values,
headers, producer id and sequences, the producer snapshot, the checkpoints).
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kafka_compat import cli

GUARD_S = 60.0


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def create(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(GUARD_S)


def consume_all(bootstrap: str, topic: str, count: int) -> list:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"check-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    got = []
    deadline = time.monotonic() + GUARD_S
    while len(got) < count:
        assert time.monotonic() < deadline, f"read {len(got)} of {count}"
        message = consumer.poll(0.2)
        if message is not None and not message.error():
            got.append(message)
    consumer.close()
    return got


def test_produce_sends_what_confluent_kafka_reads(broker, capsys, monkeypatch):
    b = ("--bootstrap-server", broker.bootstrap)
    create(broker.bootstrap, "console-in", 3)
    lines = [
        "trace:abc,empty:\tuser-1:hello",
        "\tuser-2:{not json but text}",
        "flag\tNULL:a value with a null key",
        "origin:x\tuser-3:NULL",
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    code, out, _ = run(
        capsys,
        "produce", "--topic", "console-in", "--acks", "1",
        "--property", "parse.key=true", "--property", "key.separator=:",
        "--property", "parse.headers=true", "--property", "null.marker=NULL",
        "--compression-type", "gzip", "--output", "json", *b,
    )  # fmt: skip
    assert code == 0 and json.loads(out)["records"] == 4
    got = {m.value(): m for m in consume_all(broker.bootstrap, "console-in", 4)}
    hello = got[b"hello"]
    assert hello.key() == b"user-1"
    assert hello.headers() == [("trace", b"abc"), ("empty", b"")]
    assert got[b"{not json but text}"].headers() is None
    nokey = got[b"a value with a null key"]
    assert nokey.key() is None and nokey.headers() == [("flag", None)]
    (tombstone,) = [m for m in got.values() if m.key() == b"user-3"]
    assert got[None] is tombstone and tombstone.headers() == [("origin", b"x")]

    # Keyed records land where Kafka's Java client (murmur2) puts them.
    reference = Producer({"bootstrap.servers": broker.bootstrap, "partitioner": "murmur2_random"})
    expected = {}
    for key in (b"user-1", b"user-2", b"user-3"):
        reference.produce(
            "console-in", key=key, value=b"ref",
            on_delivery=lambda err, m: expected.__setitem__(m.key(), m.partition()),
        )  # fmt: skip
    assert reference.flush(GUARD_S) == 0
    assert {k: got_m.partition() for k, got_m in ((m.key(), m) for m in got.values()) if k} == (
        expected
    )

    # --format hex values, one fixed partition; a bad line is refused with exit 1.
    monkeypatch.setattr("sys.stdin", io.StringIO("00ff10\n"))
    code, _, _ = run(
        capsys, "produce", "--topic", "console-in", "--partition", "2", "--format", "hex", *b
    )
    assert code == 0
    (binary,) = [
        m for m in consume_all(broker.bootstrap, "console-in", 8) if m.value() == b"\x00\xff\x10"
    ]
    assert binary.partition() == 2
    monkeypatch.setattr("sys.stdin", io.StringIO("no separator here\n"))
    code, _, err = run(
        capsys, "produce", "--topic", "console-in", "--property", "parse.key=true", *b
    )
    assert code == 1 and "No key separator found on line" in err
    monkeypatch.setattr("sys.stdin", io.StringIO("x\n"))
    code, _, err = run(capsys, "produce", "--topic", "no-such-topic", *b)
    assert code == 1 and "no-such-topic" in err


def test_consume_prints_what_confluent_kafka_produced(broker, capsys):
    b = ("--bootstrap-server", broker.bootstrap)
    create(broker.bootstrap, "console-out", 2)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(6):
        producer.produce(
            "console-out",
            key=b"k%d" % i,
            value=json.dumps({"n": i}).encode(),
            partition=i % 2,
            headers=[("h", b"v%d" % i)],
            timestamp=1_700_000_000_000 + i,
        )
    producer.produce("console-out", key=None, value=b"\x00\x01", partition=0)
    assert producer.flush(GUARD_S) == 0

    code, out, err = run(
        capsys,
        "consume", "--topic", "console-out", "--from-beginning", "--max-messages", "7",
        "--property", "print.key=true", "--property", "print.partition=true",
        "--property", "print.offset=true", "--property", "print.headers=true",
        "--property", "print.timestamp=true", "--property", "key.separator=|", *b,
    )  # fmt: skip
    assert code == 0 and "Processed a total of 7 messages" in err
    lines = sorted(out.splitlines())
    assert 'CreateTime:1700000000000|Partition:0|Offset:0|h:v0|k0|{"n": 0}' in lines
    assert 'CreateTime:1700000000005|Partition:1|Offset:2|h:v5|k5|{"n": 5}' in lines
    assert any(
        re.fullmatch(r"CreateTime:\d+\|Partition:0\|Offset:3\|NO_HEADERS\|null\|\x00\x01", x)
        for x in lines
    )

    # One partition from an offset, values as hex; the timeout ends it (exit 0).
    code, out, err = run(
        capsys, "consume", "--topic", "console-out", "--partition", "0", "--offset", "3",
        "--format", "hex", "--timeout-ms", "500", *b,
    )  # fmt: skip
    assert (code, out) == (0, "0001\n") and "Processed a total of 1 messages" in err
    code, out, _ = run(
        capsys, "consume", "--topic", "console-out", "--partition", "1", "--offset", "earliest",
        "--max-messages", "3", "--format", "json", "--output", "json", *b,
    )  # fmt: skip
    records = json.loads(out)["records"]
    assert [(r["offset"], r["key"], r["value"], r["headers"]) for r in records] == [
        (0, "k1", '{"n":1}', [["h", "v1"]]),
        (1, "k3", '{"n":3}', [["h", "v3"]]),
        (2, "k5", '{"n":5}', [["h", "v5"]]),
    ]

    # --group: starts from the beginning, commits what it printed; a second run
    # has nothing left; confluent-kafka sees the committed offsets.
    group = ("--group", "console-group", "--from-beginning", "--timeout-ms", "500")
    code, out, _ = run(capsys, "consume", "--topic", "console-out", *group, *b)
    assert code == 0 and len(out.splitlines()) == 7
    code, out, _ = run(capsys, "consume", "--topic", "console-out", *group, *b)
    assert (code, out) == (0, "")
    checker = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "console-group"})
    offsets = checker.committed([TopicPartition("console-out", p) for p in (0, 1)], timeout=GUARD_S)
    checker.close()
    assert [tp.offset for tp in offsets] == [4, 3]

    code, out, _ = run(
        capsys, "consume", "--include", "console-o.t", "--from-beginning", "--timeout-ms", "500", *b
    )
    assert len(out.splitlines()) == 7
    code, _, err = run(capsys, "consume", "--topic", "console-out", "--offset", "2", *b)
    assert code == 2 and "The partition is required when offset is specified." in err
    code, _, err = run(capsys, "consume", "--topic", "absent", "--timeout-ms", "100", *b)
    assert code == 1 and "absent" in err


def test_dump_log_shows_what_an_idempotent_client_wrote(broker, capsys):
    create(broker.bootstrap, "dumped", 1)
    producer = Producer(
        {"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "linger.ms": 0}
    )
    for i in range(5):
        producer.produce(
            "dumped", key=b"key-%d" % i, value=b"value-%d" % i, headers=[("n", b"%d" % i)]
        )
        producer.flush(GUARD_S)  # one batch per record: five sequences, five batches
    producer.produce("dumped", key=None, value=None)
    assert producer.flush(GUARD_S) == 0
    partition_dir = broker.data_dir / "dumped-0"
    segment = partition_dir / "00000000000000000000.log"

    code, out, _ = run(capsys, "dump-log", "--files", str(segment), "--print-data-log")
    assert code == 0
    lines = out.splitlines()
    assert lines[:2] == [f"Dumping {segment}", "Log starting offset: 0"]
    batches = [line for line in lines if line.startswith("baseOffset:")]
    records = [line for line in lines if line.startswith("| offset:")]
    assert len(batches) == 6 and len(records) == 6
    producer_ids = {re.search(r"producerId: (\d+)", line)[1] for line in batches}
    assert len(producer_ids) == 1  # one idempotent producer, id >= 0
    for i, line in enumerate(records[:5]):
        assert re.fullmatch(
            rf"\| offset: {i} CreateTime: \d+ keySize: 5 valueSize: 7 sequence: {i} "
            rf"headerKeys: \[n\] key: key-{i} payload: value-{i}",
            line,
        ), line
    assert re.search(
        r"keySize: -1 valueSize: -1 sequence: 5 headerKeys: \[\]$",
        records[5],
    )
    assert all("isvalid: true" in line and "compresscodec: none" in line for line in batches)

    # Without --deep-iteration only batches; --output json for scripts.
    code, out, _ = run(capsys, "dump-log", "--files", str(segment))
    assert not any(line.startswith("| offset:") for line in out.splitlines())
    code, out, _ = run(
        capsys, "dump-log", "--files", str(segment), "--print-data-log", "--output", "json"
    )
    (dumped,) = json.loads(out)["files"]
    found = [e["record"] for e in dumped["entries"] if "record" in e]
    assert [(r["offset"], r["key"], r["payload"], r["headers"]) for r in found[:2]] == [
        (0, "key-0", "value-0", {"n": "0"}),
        (1, "key-1", "value-1", {"n": "1"}),
    ]
    producer_id = int(producer_ids.pop())

    # A stopped broker leaves its producer snapshot and checkpoints: the data dir dump.
    broker.stop()
    code, out, _ = run(capsys, "dump-log", "--files", str(broker.data_dir))
    assert code == 0
    sections = {}
    current = None
    for line in out.splitlines():
        if line.startswith("Dumping "):
            current = line.removeprefix("Dumping ")
            sections[current] = []
        else:
            sections[current].append(line)
    recovery = sections[str(broker.data_dir / "recovery-point-offset-checkpoint")]
    assert "topic: dumped partition: 0 offset: 6" in recovery
    snapshots = [
        name
        for name in sections
        if name.startswith(str(partition_dir)) and name.endswith(".snapshot")
    ]
    assert snapshots, sorted(sections)
    snapshot = sections[snapshots[-1]]
    assert any(
        line.startswith(f"producerId: {producer_id} producerEpoch: 0 ")
        and "lastSequence: 5 lastOffset: 5" in line
        for line in snapshot
    ), snapshot
    assert sections[str(partition_dir / "leader-epoch-checkpoint")] == ["epoch: 0 startOffset: 0"]
    index = sections[str(partition_dir / "00000000000000000000.timeindex")]
    assert all(re.fullmatch(r"timestamp: \d+ offset: \d", line) for line in index)

    code, _, err = run(capsys, "dump-log", "--files", str(broker.data_dir / "missing.log"))
    assert code == 1 and "no such file" in err
    broker.start()  # the fixture stops it at the end


def test_consume_read_committed_skips_aborted_transactions(broker, capsys):
    b = ("--bootstrap-server", broker.bootstrap)
    create(broker.bootstrap, "txns", 1)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "cli-txn"})
    producer.init_transactions(GUARD_S)
    for outcome in ("committed-1", "aborted", "committed-2"):
        producer.begin_transaction()
        for i in range(3):
            producer.produce("txns", value=f"{outcome}-{i}".encode())
        producer.flush(GUARD_S)
        if outcome == "aborted":
            producer.abort_transaction(GUARD_S)
        else:
            producer.commit_transaction(GUARD_S)
    consume = ("consume", "--topic", "txns", "--from-beginning", "--timeout-ms", "1000", *b)
    code, out, _ = run(capsys, *consume, "--isolation-level", "read_committed")
    assert code == 0
    assert out.split() == [f"committed-{n}-{i}" for n in (1, 2) for i in range(3)]
    code, out, _ = run(capsys, *consume)
    assert len(out.split()) == 9  # read_uncommitted: the aborted records too

    # The coordinator's log, read back with --transaction-log-decoder.
    logs = ",".join(str(d) for d in broker.data_dir.glob("__transaction_state-*"))
    code, out, _ = run(capsys, "dump-log", "--files", logs, "--transaction-log-decoder")
    assert code == 0
    states = [
        json.loads(line.split(" payload: ")[1])["data"]["transactionStatus"]
        for line in out.splitlines()
        if '"transactionalId":"cli-txn"' in line
    ]
    # Kafka's TransactionState ids: Empty 0, Ongoing 1, PrepareCommit 2, PrepareAbort 3,
    # CompleteCommit 4, CompleteAbort 5.
    assert states[0] == 0 and {2, 3, 4, 5} <= set(states)


def test_consume_shares_a_group_with_a_confluent_consumer(broker_factory):
    """`consume --group` is a classic group member: it takes half of the partitions from
    a running confluent-kafka consumer of the group, commits what it printed, and
    gives them back when it leaves."""
    broker = broker_factory(group_initial_rebalance_delay_ms="0")
    create(broker.bootstrap, "shared", 2)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for p in (0, 1):
        for i in range(5):
            producer.produce("shared", value=b"p%d-%d" % (p, i), partition=p)
    assert producer.flush(GUARD_S) == 0
    other = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": "shared-group",
            "auto.offset.reset": "latest",
            "enable.auto.commit": False,
            "heartbeat.interval.ms": 500,
        }
    )
    other.subscribe(["shared"])
    deadline = time.monotonic() + GUARD_S
    while len(other.assignment()) < 2:
        assert time.monotonic() < deadline, "the confluent consumer never got both partitions"
        other.poll(0.1)

    tool = subprocess.Popen(
        [
            sys.executable, "-m", "kafka_compat", "consume", "--topic", "shared",
            "--group", "shared-group", "--from-beginning", "--max-messages", "5",
            "--property", "print.partition=true", "--property", "key.separator=:",
            "--bootstrap-server", broker.bootstrap,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(cli.__file__).parents[1])},
    )  # fmt: skip
    sizes = set()
    try:
        while tool.poll() is None:
            assert time.monotonic() < deadline, "the console consumer did not finish"
            other.poll(0.1)
            sizes.add(len(other.assignment()))
        out, err = tool.communicate()
    finally:
        if tool.poll() is None:
            tool.kill()
    assert tool.returncode == 0, err
    lines = out.decode().splitlines()
    (partition,) = {line.split(":")[1] for line in lines}  # all from the one it was given
    assert lines == [f"Partition:{partition}:p{partition}-{i}" for i in range(5)]
    assert 1 in sizes  # the confluent consumer gave that partition up meanwhile
    while len(other.assignment()) < 2:  # and gets it back once the tool left
        assert time.monotonic() < deadline, "the partition never came back"
        other.poll(0.1)
    (committed,) = other.committed([TopicPartition("shared", int(partition))], timeout=GUARD_S)
    assert committed.offset == 5
    other.close()


def test_produce_is_idempotent_with_acks_all(broker, capsys, monkeypatch):
    b = ("--bootstrap-server", broker.bootstrap)
    create(broker.bootstrap, "idem", 1)
    monkeypatch.setattr("sys.stdin", io.StringIO("a\nb\nc\nd\ne\n"))
    code, out, _ = run(
        capsys, "produce", "--topic", "idem", "--batch-size", "2", "--output", "json", *b
    )
    producer_id = json.loads(out)["producer_id"]
    assert code == 0 and producer_id >= 0
    segment = broker.data_dir / "idem-0" / "00000000000000000000.log"
    code, out, _ = run(capsys, "dump-log", "--files", str(segment), "--output", "json")
    batches = [e["batch"] for e in json.loads(out)["files"][0]["entries"] if "batch" in e]
    assert [(b["producer_id"], b["base_sequence"], b["last_sequence"]) for b in batches] == [
        (producer_id, 0, 1),
        (producer_id, 2, 3),
        (producer_id, 4, 4),
    ]
    code, out, _ = run(
        capsys, "transactions", "describe-producers", "--topic", "idem", "--partition", "0",
        "--output", "json", *b,
    )  # fmt: skip
    (described,) = json.loads(out)["producers"]
    assert (described["producer_id"], described["last_sequence"]) == (producer_id, 4)
    # acks=1 is not idempotent, as in Kafka.
    monkeypatch.setattr("sys.stdin", io.StringIO("f\n"))
    code, out, _ = run(capsys, "produce", "--topic", "idem", "--acks", "1", "--output", "json", *b)
    assert json.loads(out)["producer_id"] == -1


def test_consume_to_a_file_draws_progress_on_a_terminal_only(broker, tmp_path):
    create(broker.bootstrap, "many", 1)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20})
    for i in range(2000):
        producer.produce("many", value=b"%d" % i)
    assert producer.flush(GUARD_S) == 0
    command = [
        sys.executable, "-m", "kafka_compat", "consume", "--topic", "many", "--from-beginning",
        "--max-messages", "2000", "--bootstrap-server", broker.bootstrap,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(cli.__file__).parents[1])}
    terminal, their_end = pty.openpty()
    with open(tmp_path / "out.txt", "wb") as out:
        done = subprocess.run(command, stdout=out, stderr=their_end, env=env, timeout=GUARD_S)
    os.close(their_end)
    drawn = b""
    while True:
        try:
            chunk = os.read(terminal, 65536)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(terminal)
    assert done.returncode == 0
    assert (tmp_path / "out.txt").read_text().split() == [str(i) for i in range(2000)]
    assert b"\rconsumed [##############################] 2000/2000" in drawn
    assert b"Processed a total of 2000 messages" in drawn
    # Without a terminal: no bar, only Kafka's closing line.
    with open(tmp_path / "out.txt", "wb") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, env=env, timeout=GUARD_S)
    assert done.stderr.decode().strip() == "Processed a total of 2000 messages"
