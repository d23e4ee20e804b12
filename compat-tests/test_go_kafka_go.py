"""segmentio/kafka-go v0.4.51 against a running kafka-compat broker: Conn-level admin
and data, Writer, Reader (partition and group), Client.DescribeConfigs / ListOffsets /
OffsetFetch.

compat-tests/go/cmd/kafkago runs the scenarios in one process and prints one JSON line
each; each test here asserts what the client received in one scenario.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.scenarios import run_scenarios, scenario_result

SCENARIOS = ["conn_admin", "writer_reader", "reader_group", "client_configs", "client_admin"]


@pytest.fixture(scope="module")
def kafkago_results(go_program, served_broker) -> dict[str, dict[str, Any]]:
    prefix = f"kafkago-{uuid.uuid4().hex[:8]}"
    command = [str(go_program("kafkago")), "-bootstrap", served_broker.bootstrap]
    return run_scenarios([*command, "-prefix", prefix, *SCENARIOS], "kafkago program")


def result(results: dict[str, dict[str, Any]], scenario: str) -> dict[str, Any]:
    return scenario_result(results[scenario])


def test_conn_create_produce_read_batch_delete(kafkago_results):
    got = result(kafkago_results, "conn_admin")
    # Conn.CreateTopics ignores TOPIC_ALREADY_EXISTS by design.
    assert got["create_again"] == ""
    assert got["partitions"] == [0, 1, 2]
    assert got["produce_max_version"] == 11  # Kafka 3.9's
    assert got["first_last"] == [0, 5]
    assert got["batch_from_2"] == ["2:k2=c2", "3:k3=c3", "4:k4=c4"]
    assert got["gone"]


def test_writer_and_partition_reader(kafkago_results):
    got = result(kafkago_results, "writer_reader")
    # Hash balancer: each key's records on one partition, in order, with their headers.
    # Each entry: "offset:key=value;i=header".
    parsed = {
        p: [(int(r.split(":")[0]), *r.split(":", 1)[1].split("=", 1)) for r in records]
        for p, records in got["by_partition"].items()
    }
    assert sorted(parsed) == ["0", "1"]
    for records in parsed.values():
        assert [offset for offset, _, _ in records] == [0, 1, 2, 3, 4]
        (key,) = {key for _, key, _ in records}  # one key per partition
        parity = int(key[-1])
        assert [rest for _, _, rest in records] == [f"w{i};i={i}" for i in range(parity, 10, 2)]
    # Reader.SetOffset(3) on partition 0.
    assert got["at_3"] == f"3:{parsed['0'][3][2].split(';')[0]}"


def test_reader_group_commits_and_resumes(kafkago_results):
    got = result(kafkago_results, "reader_group")
    assert got["first"] == ["a", "b", "c", "d", "e", "f"]
    assert got["committed"] == {"0": 3, "1": 3}
    assert got["resumed"] == ["g", "h"]


def test_client_describe_configs_and_list_offsets(kafkago_results):
    got = result(kafkago_results, "client_configs")
    assert got["configs"] == {"cleanup.policy": "compact", "retention.ms": "604800000"}
    assert got["first_last"] == [0, 0]


def test_client_admin_requests(kafkago_results):
    got = result(kafkago_results, "client_admin")
    assert got["create_again"].startswith("[36] Topic Already Exists")
    assert got["partitions"] == 3  # CreatePartitions 1 -> 3
    # IncrementalAlterConfigs SET and APPEND, then AlterConfigs replacing every override.
    assert got["configs_incremental"] == {
        "cleanup.policy": "delete,compact",
        "retention.ms": "1234",
        "max.message.bytes": "1048588",
    }
    assert got["configs_replaced"] == {
        "cleanup.policy": "delete",
        "retention.ms": "604800000",
        "max.message.bytes": "50000",
    }
    # OffsetCommit with generation -1 (no members) and OffsetFetch: offset/metadata.
    assert got["fetched"] == {"0": "5/m", "1": "-1/", "2": "1/"}
    # A group made by offset commits alone has no protocol type, and is Empty.
    assert got["listed_protocol_type"] == ""
    assert got["described_state"] == "Empty"
    assert got["state_after_delete"] == "Dead"
    assert got["after_delete"].startswith("[3] Unknown Topic Or Partition")
