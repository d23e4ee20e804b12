"""franz-go (github.com/twmb/franz-go: kgo v1.22.3, kadm v1.20.0) against a running
kafka-compat broker. franz-go negotiates: it sends the highest version of each request
that both sides know.

compat-tests/go/cmd/franz runs the scenarios in one process and prints one JSON line
each (each scenario creates its own topics and groups with kadm); each test here
asserts what the client received in one scenario.
"""

from __future__ import annotations

import subprocess
import uuid
from typing import Any

import pytest

from tests.scenarios import scenario_lines, scenario_result

SCENARIOS = [
    "produce_consume",
    "group_commit",
    "admin_topics",
    "admin_groups",
    "transactions",
    "many_partitions",
]
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
# kgo.MaxVersions pinned to an old Kafka release, as such a broker would cap them:
# Produce v2 / Fetch v3 with message format v1 at 0.10.2 (no idempotence: no
# InitProducerId), Produce v3 and record batches at 0.11, the versions of 2.1.
PINNED = ["0.10.2", "0.11.0", "2.1.0"]
RUNS = ["negotiated", *PINNED]


@pytest.fixture(scope="module")
def franz_results(go_program, served_broker) -> dict[str, dict[str, dict[str, Any]]]:
    """run -> {scenario: JSON line}; every run's process started at once."""
    procs = {}
    for run in RUNS:
        prefix = f"franz-{run}-{uuid.uuid4().hex[:8]}".replace(".", "_")
        args = ["-bootstrap", served_broker.bootstrap, "-prefix", prefix]
        if run == "negotiated":
            scenarios = SCENARIOS
        else:
            args += ["-max-versions", run]
            scenarios = ["produce_consume", "group_commit"]
        procs[run] = subprocess.Popen(
            [str(go_program("franz")), *args, *scenarios],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    results = {}
    for run, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)  # failure guard, not a timing
        assert proc.returncode == 0, f"franz program ({run}) failed:\n{stdout}\n{stderr}"
        results[run] = scenario_lines(stdout, stderr)
    return results


def result(
    results: dict[str, dict[str, dict[str, Any]]], scenario: str, run: str = "negotiated"
) -> dict[str, Any]:
    return scenario_result(results[run][scenario])


@pytest.mark.parametrize("run", RUNS)
def test_produce_each_codec_and_consume_partitions(franz_results, run):
    got = result(franz_results, "produce_consume", run)
    # One acks=all ProduceSync per codec (idempotent from 0.11; zstd falls back to
    # no compression below Produce v7), 4 records alternating partitions.
    assert got["produced_offsets"] == {
        codec: [2 * n, 2 * n + 1, 2 * n, 2 * n + 1] for n, codec in enumerate(CODECS)
    }
    base = 1_700_000_000_000
    p0 = got["consumed"]["0"]  # from the start
    assert [r["offset"] for r in p0] == list(range(10))
    assert [r["value"] for r in p0] == [f"{codec}-{j}" for codec in CODECS for j in (0, 2)]
    assert [r["key"] for r in p0] == [f"k{i}" for i in range(0, 20, 2)]
    assert [r["timestamp"] for r in p0] == [base + i * 1000 for i in range(0, 20, 2)]
    if run in ("negotiated", "0.11.0", "2.1.0"):
        assert [r["headers"] for r in p0] == [{"codec": c} for c in CODECS for _ in (0, 2)]
    else:  # message format v1: no headers
        assert all("headers" not in r for r in p0)
    p1 = got["consumed"]["1"]  # from offset 7
    assert [(r["offset"], r["value"]) for r in p1] == [(7, "lz4-3"), (8, "zstd-1"), (9, "zstd-3")]
    # ListOffsets: end, start, and the first offset at or after a timestamp.
    assert got["listed_offsets"] == {
        "end": {"0": 10, "1": 10},
        "start": {"0": 0, "1": 0},
        "after_5500ms": {"0": 3, "1": 3},
    }


@pytest.mark.parametrize("run", RUNS)
def test_group_commit_and_resume(franz_results, run):
    got = result(franz_results, "group_commit", run)
    assert got["first"] == [f"first-{i}" for i in range(9)]
    assert got["committed"] == {"group/0": 3, "group/1": 3, "group/2": 3}
    # A new member resumes at the committed offsets.
    assert got["resumed"] == ["second-0", "second-1", "second-2"]
    assert got["committed_after"] == {"group/0": 4, "group/1": 4, "group/2": 4}


def test_kadm_topics_and_configs(franz_results):
    got = result(franz_results, "admin_topics")
    assert got["create_again"].startswith("TOPIC_ALREADY_EXISTS")
    assert (got["listed_partitions"], got["listed_replicas"], got["in_full_list"]) == (2, 1, True)

    def config(value: str, source: str) -> dict[str, str]:
        return {"value": value, "source": source}

    topic, default = "DYNAMIC_TOPIC_CONFIG", "DEFAULT_CONFIG"
    assert got["configs_created"] == {
        "retention.ms": config("86400000", topic),
        "cleanup.policy": config("delete", default),
        "max.message.bytes": config("1048588", default),
        "segment.bytes": config("1073741824", default),
    }
    # IncrementalAlterConfigs: SET, DELETE (back to the default), APPEND to a list.
    assert got["configs_incremental"] == {
        "retention.ms": config("604800000", default),
        "cleanup.policy": config("delete,compact", topic),
        "max.message.bytes": config("200000", topic),
        "segment.bytes": config("1073741824", default),
    }
    # The legacy AlterConfigs replaces every override.
    assert got["configs_replaced"] == {
        "retention.ms": config("604800000", default),
        "cleanup.policy": config("delete", default),
        "max.message.bytes": config("1048588", default),
        "segment.bytes": config("10485760", topic),
    }
    assert got["broker_configs"] == {
        "num.partitions": "1",
        "log.retention.hours": "168",
        "auto.create.topics.enable": "true",
    }
    assert got["partitions_after"] == 4
    assert got["low_watermark"] == got["start_after_delete_records"] == 3
    assert (got["brokers"], got["controller"]) == (1, 0)
    assert got["gone"]


def test_kadm_groups_and_offsets(franz_results):
    got = result(franz_results, "admin_groups")
    assert got["listed"] == {"protocol_type": "consumer", "state": "Stable"}
    assert got["described"] == {
        "state": "Stable",
        "protocol_type": "consumer",
        "protocol": "cooperative-sticky",
        "client_ids": ["franz-member"],
        "assigned": [0, 1],
    }
    # 6 records, the member committed 2 on partition 0 and nothing on partition 1.
    assert got["total_lag"] == 4
    assert got["admin_committed"] == {
        "0": {"at": 1, "metadata": "admin"},
        "1": {"at": 3, "metadata": ""},
    }
    assert got["partitions_after_offset_delete"] == [1]
    assert got["state_after_delete"] == "Dead"


def test_transactions_commit_abort_and_kadm_views(franz_results):
    got = result(franz_results, "transactions")
    # While the second (aborted) transaction was open: DescribeTransactions and
    # DescribeProducers (its first offset, after c0-c2 and their commit marker).
    assert got["described_open"] == {"state": "Ongoing", "partitions": [0], "producer_id_set": True}
    assert got["producer_txn_start_offsets"] == [4]
    assert got["listed_state"] == "CompleteCommit"
    assert got["read_committed"] == ["0:c0", "1:c1", "2:c2", "7:c3"]
    assert got["read_uncommitted"] == ["0:c0", "1:c1", "2:c2", "4:a0", "5:a1", "7:c3"]


def test_consumer_of_200_partitions_gets_each_and_then_only_what_changed(franz_results):
    got = result(franz_results, "many_partitions")
    # Offset 0 of every partition once, then offset 1 of the 20 written next.
    assert (got["first_partitions"], got["first_records"]) == (200, 200)
    assert got["second"] == list(range(0, 200, 10))
