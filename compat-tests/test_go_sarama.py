"""Sarama, the Go client, against a running kafka-compat broker: the newest
github.com/IBM/sarama (v1.61.1, which caps its request versions to the broker's
ApiVersions) and github.com/Shopify/sarama v1.38.1 (which does not negotiate: it sends
what its configured `Version` implies, e.g. Produce v0 / Fetch v0 / OffsetCommit v1 at
0.8.2, DescribeConfigs v0 at 0.11).

compat-tests/go/cmd/sarama runs the scenarios and prints one JSON line each; every
(Sarama release, Version) pair runs as its own process, all at once, against the
module's broker. Sarama itself refuses consumer groups below Version 0.10.2 and admin
requests below 0.10.1 (ErrUnsupportedVersion before sending), so those pairs do not
run them.
"""

from __future__ import annotations

import subprocess
import uuid
from typing import Any

import pytest
from confluent_kafka import Producer

from tests.scenarios import scenario_lines, scenario_result

# (binary, Sarama release, Config.Version)
RUNS = [
    ("sarama", "1.61.1", "0.8.2.0"),
    ("sarama", "1.61.1", "0.10.2.0"),
    ("sarama", "1.61.1", "2.1.0"),
    ("sarama", "1.61.1", "3.6.0"),
    ("sarama-shopify", "1.38.1", "0.8.2.0"),
    ("sarama-shopify", "1.38.1", "0.9.0.0"),  # Produce/Fetch v1, OffsetCommit v2
    ("sarama-shopify", "1.38.1", "0.10.2.0"),
    ("sarama-shopify", "1.38.1", "0.11.0.0"),  # DescribeConfigs v0, CreateTopics v1
    ("sarama-shopify", "1.38.1", "2.1.0"),
    ("sarama-shopify", "1.38.1", "3.3.1"),  # the newest Version v1.38.1 knows
]
RUN_IDS = [f"{release}-v{version}" for _, release, version in RUNS]


def at_least(version: str, minimum: tuple[int, ...]) -> bool:
    return tuple(int(part) for part in version.split(".")) >= minimum


def scenarios_for(version: str) -> list[str]:
    names = ["produce_consume", "offset_manager", "read_foreign"]
    if at_least(version, (0, 10, 2)):
        names += ["consumer_group", "group_rebalance", "admin"]
    if at_least(version, (0, 11)):  # Sarama's idempotent/transactional producer
        names.append("transactions")
    if at_least(version, (2, 3)):  # Sarama's static membership (KIP-345)
        names.append("static_member")
    if at_least(version, (2, 0)):  # last: a refused request closes the connection
        names.append("log_dirs")
    return names


FOREIGN_CODECS = ["gzip", "snappy", "lz4", "zstd"]
FOREIGN_BASE_MS = 1_600_000_000_000


def write_foreign(bootstrap: str, topic: str) -> None:
    """What librdkafka writes (record batches): 3 keyed records with a header and a
    timestamp per codec, then a committed transaction of 2 (its marker at offset 14)."""
    for n, codec in enumerate(FOREIGN_CODECS):
        producer = Producer(
            {"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 50}
        )
        for i in range(3):
            producer.produce(
                topic,
                key=f"{codec}-k{i}",
                value=f"{codec}-{i}",
                partition=0,
                headers=[("codec", codec.encode())],
                timestamp=FOREIGN_BASE_MS + (3 * n + i) * 1000,
            )
        assert producer.flush(30) == 0
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"{topic}-tx"})
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(2):
        producer.produce(topic, value=f"t{i}", partition=0, timestamp=FOREIGN_BASE_MS + 20_000)
    producer.commit_transaction(30)


@pytest.fixture(scope="module")
def sarama_results(go_program, served_broker, create_topic) -> dict[str, dict[str, Any]]:
    """run id -> {scenario: JSON line}; every run's process started at once."""
    foreign = f"sarama-foreign-{uuid.uuid4().hex[:6]}"
    create_topic(foreign)
    write_foreign(served_broker.bootstrap, foreign)
    procs = {}
    for (binary, _, version), run_id in zip(RUNS, RUN_IDS, strict=True):
        prefix = f"sarama-{run_id}-{uuid.uuid4().hex[:6]}".replace(".", "_")
        create_topic(f"{prefix}-produce", partitions=2)
        create_topic(f"{prefix}-group", partitions=2)
        create_topic(f"{prefix}-offsets")
        create_topic(f"{prefix}-txn")
        create_topic(f"{prefix}-rebalance", partitions=2)
        args = ["-bootstrap", served_broker.bootstrap, "-version", version, "-prefix", prefix]
        args += ["-foreign", foreign, "-foreign-count", "14"]
        procs[run_id] = (
            prefix,
            subprocess.Popen(
                [str(go_program(binary)), *args, *scenarios_for(version)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
    results: dict[str, dict[str, Any]] = {}
    for run_id, (prefix, proc) in procs.items():
        stdout, stderr = proc.communicate(timeout=300)  # failure guard, not a timing
        assert proc.returncode == 0, f"{run_id}: sarama program failed:\n{stdout}\n{stderr}"
        results[run_id] = scenario_lines(stdout, stderr)
        for entry in results[run_id].values():
            entry["prefix"] = prefix
    return results


def result(results: dict[str, dict[str, Any]], run_id: str, scenario: str) -> dict[str, Any]:
    return scenario_result(results[run_id][scenario], f"{run_id} {scenario}")


@pytest.mark.parametrize("run", RUNS, ids=RUN_IDS)
def test_produce_and_partition_consumer(sarama_results, run):
    _, release, version = run
    got = result(sarama_results, f"{release}-v{version}", "produce_consume")
    # SyncProducer: 10 records over 2 partitions, the offsets the broker gave back.
    assert got["sent"] == [{"partition": i % 2, "offset": i // 2} for i in range(10)]
    # Then a compressed batch of 3 on partition 0 per codec the Version allows.
    codecs = ["gzip", "snappy"]
    if at_least(version, (0, 10)):
        codecs.append("lz4")
    if at_least(version, (2, 1)):
        codecs.append("zstd")
    assert got["codec_offsets"] == {
        codec: [5 + 3 * n, 6 + 3 * n, 7 + 3 * n] for n, codec in enumerate(codecs)
    }
    end = 5 + 3 * len(codecs)
    p0 = got["partition0"]
    assert [m["offset"] for m in p0] == list(range(end))
    batches = [f"{codec}{i}" for codec in codecs for i in range(3)]
    assert [m["value"] for m in p0] == ["v0", "v2", "v4", "v6", "v8", *batches]
    assert [m["key"] for m in p0] == ["k0", "k2", "k4", "k6", "k8"] + [""] * len(batches)
    base = 1_700_000_000_000
    if at_least(version, (0, 10)):  # message format v1+: CreateTime timestamps
        seconds = [0, 2, 4, 6, 8] + [20 + 3 * n + i for n in range(len(codecs)) for i in range(3)]
        expected = [base + s * 1000 for s in seconds]
    else:  # Produce v0 / Fetch v0: magic 0 messages carry no timestamp
        expected = [0] * end
    assert [m["timestamp"] for m in p0] == expected
    if at_least(version, (0, 11)):  # record headers need format v2
        assert [m.get("headers") for m in p0[:5]] == [{"h": str(i)} for i in (0, 2, 4, 6, 8)]
    else:
        assert all("headers" not in m for m in p0)
    # A partition consumer started at offset 2 of partition 1.
    p1 = got["partition1_from_2"]
    assert [(m["offset"], m["key"], m["value"]) for m in p1] == [
        (2, "k5", "v5"),
        (3, "k7", "v7"),
        (4, "k9", "v9"),
    ]
    assert (got["hwm0"], got["newest0"], got["oldest0"]) == (end, end, 0)


@pytest.mark.parametrize("run", RUNS, ids=RUN_IDS)
def test_partition_consumer_reads_what_librdkafka_wrote(sarama_results, run):
    _, release, version = run
    got = result(sarama_results, f"{release}-v{version}", "read_foreign")
    records = got["records"]
    # Fetch v0-3 get every codec's batch down-converted (magic 0 at 0.8.2, 1 at 0.10.2),
    # the commit marker left out; offsets are kept.
    assert [m["offset"] for m in records] == list(range(14))
    values = [f"{codec}-{i}" for codec in FOREIGN_CODECS for i in range(3)] + ["t0", "t1"]
    assert [m["value"] for m in records] == values
    keys = [f"{codec}-k{i}" for codec in FOREIGN_CODECS for i in range(3)] + ["", ""]
    assert [m["key"] for m in records] == keys
    if at_least(version, (0, 10)):
        expected = [FOREIGN_BASE_MS + s * 1000 for s in range(12)] + [FOREIGN_BASE_MS + 20_000] * 2
    else:
        expected = [0] * 14
    assert [m["timestamp"] for m in records] == expected
    if at_least(version, (0, 11)):
        assert [m.get("headers") for m in records[:12]] == [
            {"codec": codec} for codec in FOREIGN_CODECS for _ in range(3)
        ]
    else:
        assert all("headers" not in m for m in records)
    assert got["hwm"] == 15


@pytest.mark.parametrize("run", RUNS, ids=RUN_IDS)
def test_offset_manager_commit_and_fetch(sarama_results, run):
    _, release, version = run
    got = result(sarama_results, f"{release}-v{version}", "offset_manager")
    # Nothing committed yet: the manager falls back to Consumer.Offsets.Initial (oldest).
    assert (got["initial"], got["initial_metadata"]) == (-2, "")
    # MarkOffset(7, "meta-7") + Commit, read back by a new manager (OffsetFetch).
    assert (got["next"], got["metadata"]) == (7, "meta-7")


GROUP_RUNS = [run for run in RUNS if at_least(run[2], (0, 10, 2))]
GROUP_IDS = [f"{release}-v{version}" for _, release, version in GROUP_RUNS]


@pytest.mark.parametrize("run", GROUP_RUNS, ids=GROUP_IDS)
def test_consumer_group_commits_and_resumes(sarama_results, run):
    _, release, version = run
    got = result(sarama_results, f"{release}-v{version}", "consumer_group")
    assert got["first"] == ["a0", "a1", "a2", "a3", "a4", "b0", "b1", "b2", "b3", "b4"]
    assert got["claims"] == [0, 1]
    assert got["member_id_set"] and got["generation"] >= 1
    # While the member consumed: DescribeGroups and ListGroups.
    assert got["described"] == {
        "state": "Stable",
        "protocol_type": "consumer",
        "protocol": "range",
        "members": 1,
    }
    assert got["listed_type"] == "consumer"
    assert got["committed"] == {"0": 5, "1": 5}
    assert got["committed_all_topics"] == {"group/0": 5, "group/1": 5}
    # A new member resumes at the committed offsets: only the records written since.
    assert got["resumed"] == ["c0", "c1", "d0", "d1"]
    assert got["state_after_close"] == "Empty"


@pytest.mark.parametrize("run", GROUP_RUNS, ids=GROUP_IDS)
def test_consumer_group_rebalances_on_join_and_leave(sarama_results, run):
    _, release, version = run
    got = result(sarama_results, f"{release}-v{version}", "group_rebalance")
    assert got["a_alone"] == [0, 1]
    # B joins: a new generation splits the partitions (range: a gets 0, b gets 1).
    assert got["split"] == {"a": [0], "b": [1]}
    # A record on each partition goes to that partition's owner.
    assert got["received"] == ["a:0:r0", "b:1:r1"]
    # B leaves (LeaveGroup on close): A owns both again, in a later generation.
    assert got["a_after_b_left"] == [0, 1]
    assert got["generations_increase"]


@pytest.mark.parametrize("run", GROUP_RUNS, ids=GROUP_IDS)
def test_admin_topics_and_configs(sarama_results, run, admin):
    _, release, version = run
    run_id = f"{release}-v{version}"
    got = result(sarama_results, run_id, "admin")
    assert "already exists" in got["create_again_error"]
    assert got["partitions"] == 3
    assert (got["brokers"], got["controller"]) == (1, 0)
    assert got["deleted"]
    skipped = []
    if not at_least(version, (0, 11)):
        # Sarama sends DescribeConfigs, AlterConfigs and DeleteRecords from 0.11
        skipped += ["describe_configs", "alter_delete_records"]
    if not at_least(version, (1, 0)):
        # CreatePartitions from 1.0; Metadata below v4 would auto-create the deleted
        # topic (as on Kafka), so the test looks for it itself.
        skipped += ["create_partitions", "delete_group", "gone_check"]
        topic = sarama_results[run_id]["admin"]["prefix"] + "-admin"
        assert topic not in admin.list_topics(timeout=30).topics
    else:
        assert got["partitions_after"] == 4
        assert got["gone"]
    assert sorted(got["skipped"] or []) == sorted(skipped)
    if not at_least(version, (0, 11)):
        return
    assert got["listed"]
    assert (got["listed_partitions"], got["listed_replication"]) == (3, 1)
    assert got["listed_configs"]["retention.ms"] == "123456"
    assert got["listed_configs"]["cleanup.policy"] == "compact"
    configs = got["topic_configs"]
    if not at_least(version, (1, 1)):
        # DescribeConfigs v0: no config source, and IsDefault is always false (Kafka 3.9
        # never sets it), so Sarama's ListTopics lists every config as an override.
        assert got["listed_configs"]["segment.bytes"] == "1073741824"
        expected = {
            "retention.ms": "123456",
            "cleanup.policy": "compact",
            "segment.bytes": "1073741824",
            "min.insync.replicas": "1",
        }
        for name, value in expected.items():
            assert configs[name] == {
                "value": value,
                "default": False,
                "read_only": False,
                "source": "Unknown",
            }
    else:
        assert "segment.bytes" not in got["listed_configs"]
        for name, value in (("retention.ms", "123456"), ("cleanup.policy", "compact")):
            assert configs[name] == {
                "value": value,
                "default": False,
                "read_only": False,
                "source": "Topic",
            }
        assert configs["segment.bytes"] == {
            "value": "1073741824",
            "default": True,
            "read_only": False,
            "source": "Default",
        }
    assert got["broker_configs"] == {"num.partitions": "1", "log.retention.hours": "168"}
    # AlterConfigs (legacy) replaces every override; DeleteRecords moves the log start.
    assert got["configs_after_alter"] == {"retention.ms": "999000", "cleanup.policy": "delete"}
    assert got["oldest_after_delete_records"] == 3
    if at_least(version, (1, 1)):
        # DeleteGroups of the offset manager's group (offsets, no members).
        assert got["deleted_group_state"] == "Dead"
        assert got["deleted_group_offset"] == -1


TXN_RUNS = [run for run in RUNS if at_least(run[2], (0, 11))]
TXN_IDS = [f"{release}-v{version}" for _, release, version in TXN_RUNS]


@pytest.mark.parametrize("run", TXN_RUNS, ids=TXN_IDS)
def test_transactions_commit_abort_and_isolation(sarama_results, run):
    _, release, version = run
    got = result(sarama_results, f"{release}-v{version}", "transactions")
    # commit c0-c2 (marker at 3), abort a0-a1 (marker at 6), commit c3 (marker at 8).
    assert got["read_committed"] == ["0:c0", "1:c1", "2:c2", "7:c3"]
    assert got["read_uncommitted"] == ["0:c0", "1:c1", "2:c2", "4:a0", "5:a1", "7:c3"]


STATIC_RUNS = [run for run in RUNS if at_least(run[2], (2, 3))]


@pytest.mark.parametrize("run", STATIC_RUNS, ids=[f"{r[1]}-v{r[2]}" for r in STATIC_RUNS])
def test_static_member_comes_back_without_a_rebalance(sarama_results, run):
    _, release, version = run
    got = result(sarama_results, f"{release}-v{version}", "static_member")
    # Closed without LeaveGroup, rejoined with the same group.instance.id: a new member
    # id, the same generation and assignment (Kafka's Stable-group static rejoin).
    assert got == {
        "first_claims": [0, 1],
        "second_claims": [0, 1],
        "same_generation": True,
        "new_member_id": True,
    }


# Sarama 1.38.1 always sends DescribeLogDirs v0, which Kafka 3.9 serves (and so do we).
LOG_DIR_RUNS = [
    pytest.param(run, id=f"{run[1]}-v{run[2]}") for run in RUNS if at_least(run[2], (2, 0))
]


@pytest.mark.parametrize("run", LOG_DIR_RUNS)
def test_describe_log_dirs(sarama_results, run):
    _, release, version = run
    got = result(sarama_results, f"{release}-v{version}", "log_dirs")
    assert got["dirs"] >= 1
    assert got["partitions"] == [0, 1]
