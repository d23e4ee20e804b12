"""The /metrics text of a snapshot, read back by prometheus_client's parser: the
per-partition lines written outside prometheus_client are valid, escaped, and carry
the same figures."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from kafka_compat.http.metrics import Snapshot, render


def parsed(snap: Snapshot) -> dict[str, list]:
    families = text_string_to_metric_families(render(snap).decode())
    return {family.name: family.samples for family in families}


def test_partition_and_lag_lines_parse_with_their_labels_and_values():
    snap = Snapshot()
    snap.cluster_id = "abc"
    # topic, partition, size, start, end, high watermark, leader, replicas, isr, min isr, segs
    snap.partitions = [("orders", 0, 4096, 10, 120, 100, True, 3, 2, 2, 1)]
    odd_group = 'a "quoted" \\ group\nwith a newline'
    snap.offsets = [(odd_group, "orders", 0, 40), ("plain", "orders", 0, 100)]
    families = parsed(snap)

    (size,) = families["kafka_log_log_size"]
    assert size.labels == {"topic": "orders", "partition": "0"} and size.value == 4096
    assert families["kafka_log_log_logendoffset"][0].value == 120
    assert families["kafka_cluster_partition_underreplicated"][0].value == 1
    assert families["kafka_cluster_partition_insyncreplicascount"][0].value == 2
    lags = {s.labels["group"]: s.value for s in families["kafka_consumergroup_group_lag"]}
    assert lags == {odd_group: 60, "plain": 0}  # against the high watermark, not the log end
    (latest,) = families["kafka_partition_latest_offset"]
    assert latest.labels == {"cluster_name": "abc", "topic": "orders", "partition": "0"}
    assert latest.value == 100
    assert {s.labels["group"]: s.value for s in families["kafka_consumergroup_group_max_lag"]} == {
        odd_group: 60,
        "plain": 0,
    }
