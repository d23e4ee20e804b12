"""/metrics: the broker's state in the Prometheus text format, with the names Kafka's
jmx_exporter rules give Kafka's MBeans (prometheus/jmx_exporter example_configs/
kafka-2_0_0.yml and the Strimzi rules) and the consumer-group lag names of
kafka-lag-exporter. docs/metrics.md lists every name.

A scrape is two steps: `Snapshot.take` copies what it needs from the components into
plain tuples on the Trio loop (in-memory reads only: no disk I/O, no client); the text
is then written from that copy a family at a time, with a checkpoint between
families so that Kafka requests are served in between. Nothing is updated on the
data path for this module: the counters are kafka_compat/metrics.py's, the gauges are
read at scrape time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import trio
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric

from kafka_compat.apis.registry import Components
from kafka_compat.dynamic_config import sanitize_entity
from kafka_compat.metrics import RESERVOIR, Timings
from kafka_compat.replica import OfflineLog, RemoteLog

# The classic text format (every name here is a legacy-valid one): Prometheus 2 and 3,
# and every other scraper, read it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Kafka's histogram percentiles as jmx_exporter labels them (50thPercentile -> "0.50").
QUANTILES = (("0.50", 0.50), ("0.75", 0.75), ("0.95", 0.95), ("0.98", 0.98), ("0.99", 0.99))
QUANTILES += (("0.999", 0.999),)
BROKER_STATE_RUNNING = 3  # Kafka's BrokerState.RUNNING
BULK_PIECE = 2000  # per-partition lines written between two checkpoints

# (metric name suffix, TopicStats attribute, help); per topic and summed for all topics.
TOPIC_COUNTERS = (
    ("messagesin", "messages_in", "Records appended to the topic's leaders (MessagesInPerSec)"),
    ("bytesin", "bytes_in", "Record batch bytes of produce requests appended (BytesInPerSec)"),
    ("bytesout", "bytes_out", "Record batch bytes sent to consumers (BytesOutPerSec)"),
    ("bytesrejected", "bytes_rejected", "Bytes of batches refused as too large"),
    ("totalproducerequests", "total_produce_requests", "Partitions of produce requests"),
    ("failedproducerequests", "failed_produce_requests", "Failed partition appends"),
    ("failedfetchrequests", "failed_fetch_requests", "Failed partition reads"),
)
# Broker-wide only, as Kafka has them.
REPLICATION_COUNTERS = (
    ("replicationbytesin", "replication_bytes_in", "Record bytes fetched from leaders"),
    ("replicationbytesout", "replication_bytes_out", "Record bytes sent to followers"),
)
TIME_DOCS = (
    "Request time in ms, from the request read to its response sent (TotalTimeMs)",
    "Time in ms from the request read to its handler (decoding) (RequestQueueTimeMs)",
    "Time in ms in the handler, less waits on delayed operations (LocalTimeMs)",
    "Time in ms waiting on acks=all replication or fetch.min.bytes (RemoteTimeMs)",
    "Time in ms writing the response to the socket (ResponseSendTimeMs)",
)
_TOPIC_FIELDS = tuple(attr for _, attr, _ in TOPIC_COUNTERS + REPLICATION_COUNTERS)
# The client quotas' per-client metrics: (resource, ClientQuotas attribute, the rate's
# Kafka attribute name), as kafka.server:type=<resource>,user=<u>,client-id=<c>.
QUOTA_RESOURCES = (
    ("Produce", "produce", "byte_rate"),
    ("Fetch", "fetch", "byte_rate"),
    ("Request", "request", "request_time"),
    ("ControllerMutation", "controller_mutation", "mutation_rate"),
)
QUOTA_DOCS = {
    "byte_rate": "Bytes per second of a user / client-id, as its quota measures them",
    "request_time": "Request handler time of a user / client-id, in % of one thread",
    "mutation_rate": "Partitions created or deleted per second by a user / client-id",
    "tokens": "What is left in a user / client-id's controller mutation token bucket",
    "throttle_time": "Average throttle time in ms of a user / client-id (NaN: none)",
}


class Snapshot:
    """Everything one scrape reports, copied on the loop."""

    def __init__(self) -> None:
        self.node_id = 0
        self.cluster_id = ""
        self.topics: list[tuple] = []  # (name, *TopicStats fields in _TOPIC_FIELDS order)
        self.requests: list[tuple[tuple[str, int], int]] = []
        self.timings: list[tuple[str, int, list[float], list[list[float]]]] = []
        # (topic, partition, size, log start, log end, high watermark, is leader,
        #  replicas, isr, min isr, segments); offline replicas only counted
        self.partitions: list[tuple] = []
        self.offline_replicas = 0
        self.isr_shrinks = 0
        self.isr_expands = 0
        self.delayed_produces = 0
        self.delayed_fetches = 0
        self.connections: dict[str, int] = {}
        self.connections_created: dict[str, int] = {}
        self.controller = (0, 0, 0, 0)  # active count, offline partitions, partitions, topics
        self.offsets: list[tuple[str, str, int, int]] = []  # (group, topic, partition, offset)
        # (Kafka attribute, resource, user, client-id, value): the client quota metrics
        self.quotas: list[tuple[str, str, str, str, float]] = []
        self.taken_at = 0.0

    @classmethod
    def take(cls, components: Components) -> Snapshot:
        snap = cls()
        snap.taken_at = time.monotonic()
        snap.node_id = components.node_id
        store = components.store
        snap.cluster_id = getattr(store, "cluster_id", "") or ""
        rm = components.replica_manager
        snap.topics = [
            (name, *(getattr(stats, f) for f in _TOPIC_FIELDS))
            for name, stats in rm.topic_stats.topics.items()
        ]
        metrics = components.request_metrics
        snap.requests = list(metrics.requests.items())
        snap.timings = [
            (name, t.count, list(t.sums), [list(s) for s in t.samples])
            for name, t in metrics.timings.items()
        ]
        partitions = snap.partitions
        offline = 0
        for partition in rm.all_partitions():
            log = partition.log
            if isinstance(log, RemoteLog):
                continue
            if isinstance(log, OfflineLog):
                offline += 1
                continue
            partitions.append(
                (
                    partition.topic,
                    partition.index,
                    log.size,
                    log.log_start_offset,
                    log.log_end_offset,
                    partition.high_watermark,
                    partition.is_leader,
                    len(partition.replicas),
                    len(partition.isr),
                    partition.min_insync_replicas,
                    len(log.segments),
                )
            )
        snap.offline_replicas = offline
        snap.isr_shrinks = rm.isr_shrinks
        snap.isr_expands = rm.isr_expands
        snap.delayed_produces = rm.delayed_produces
        snap.delayed_fetches = rm.delayed_fetches
        sockets = components.socket_stats
        snap.connections = dict(sockets.open)
        snap.connections_created = dict(sockets.created)
        snap.controller = _controller(components)
        coordinator = components.group_coordinator  # None: no group seen yet
        groups = coordinator.manager.groups if coordinator is not None else {}
        snap.offsets = [
            (group_id, topic, index, committed.offset)
            for group_id, group in groups.items()
            for (topic, index), committed in group.offsets.items()
        ]
        if components.quotas is not None:
            snap.quotas = _quota_samples(components.quotas)
        return snap


def _quota_samples(quotas) -> list[tuple[str, str, str, str, float]]:
    """Kafka's per-client quota sensors: a rate and the average throttle time of every
    (user, client-id) measured while that quota was set, and the token bucket of the
    controller mutation quota."""
    now_ms = time.monotonic() * 1000
    samples = []
    for resource, attribute, rate_name in QUOTA_RESOURCES:
        manager = getattr(quotas, attribute)
        for user, client_id, rate, throttle in manager.client_metrics(now_ms):
            samples.append((rate_name, resource, user, client_id, rate))
            samples.append(("throttle_time", resource, user, client_id, throttle))
    mutations = quotas.controller_mutation
    mutations.expire_buckets(now_ms)
    for user, client_id in list(mutations.buckets):
        tokens = mutations.tokens_of((user, client_id))
        if tokens is not None:
            samples.append(("tokens", "ControllerMutation", user, client_id, tokens))
    return samples


def _controller(components: Components) -> tuple[int, int, int, int]:
    """(active controller count, offline partitions, partitions, topics): a single node
    is its own controller; in a cluster only the active controller reports the cluster's
    figures (as Kafka's KafkaController gauges)."""
    cluster = components.cluster
    if cluster is None:
        rm = components.replica_manager
        parts = [p for p in rm.all_partitions() if not isinstance(p.log, RemoteLog)]
        offline = sum(1 for p in parts if isinstance(p.log, OfflineLog))
        return 1, offline, len(parts), len(rm.partitions)
    controller = cluster.active_controller
    if controller is None:
        return 0, 0, 0, 0
    ctx = controller.ctx
    offline = sum(1 for s in ctx.states.values() if s.leader < 0 or s.leader not in ctx.live)
    return 1, offline, len(ctx.states), len(ctx.assignments)


class MetricsEndpoint:
    """Renders /metrics; remembers the previous scrape for the connection creation rate."""

    def __init__(self, components: Components) -> None:
        self.components = components
        self._previous: tuple[float, dict[str, int]] | None = None

    async def render(self) -> bytes:
        """The text, written a family at a time with a checkpoint between families:
        Kafka requests are served in between. (On the loop rather than in a worker
        thread: a CPU-bound thread makes each of the loop's socket calls wait for the
        GIL, and a busy broker then stalls for the whole render.)"""
        snap = Snapshot.take(self.components)
        previous, self._previous = self._previous, (snap.taken_at, snap.connections_created)
        out = []
        for chunk in _chunks(snap, previous):
            out.append(chunk)
            await trio.sleep(0)
        return b"".join(out)


def render(snap: Snapshot, previous: tuple[float, dict[str, int]] | None = None) -> bytes:
    """The Prometheus text of a snapshot, in one go."""
    return b"".join(_chunks(snap, previous))


def _chunks(snap: Snapshot, previous) -> Iterator[bytes]:
    """The text family by family: prometheus_client writes every family; the
    per-partition and per-offset samples of `_Bulk` families follow their family's
    HELP/TYPE lines, written here (prometheus_client spends tens of microseconds per
    sample on checks that our fixed names and Kafka's topic names do not need: 1,000
    partitions took half a second)."""
    for family in _Families(snap, previous).collect():
        yield generate_latest(_One(family))
        if isinstance(family, _Bulk):
            yield from family.pieces()


class _One:
    """One family, as a collector."""

    def __init__(self, family: Metric) -> None:
        self.family = family

    def collect(self) -> list[Metric]:
        return [self.family]


class _Bulk(Metric):
    """A high-cardinality family whose samples are text lines: `head`, then `line(item)`
    for each of `items`, written BULK_PIECE items at a time (a checkpoint between)."""

    def __init__(
        self,
        name: str,
        doc: str,
        items: Sequence = (),
        line: Callable[[Any], str] | None = None,
        kind: str = "gauge",
        head: str = "",
    ) -> None:
        super().__init__(name, doc, kind)
        self.items = items
        self.line = line
        self.head = head

    def pieces(self) -> Iterator[bytes]:
        if self.head:
            yield self.head.encode()
        items, line = self.items, self.line
        for start in range(0, len(items), BULK_PIECE):
            yield "".join(map(line, items[start : start + BULK_PIECE])).encode()


def _label(value: str) -> str:
    """A label value escaped as the text format wants (topic names never need it)."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


class _Families:
    """A collector over one snapshot (prometheus_client's `collect()` protocol)."""

    def __init__(self, snap: Snapshot, previous) -> None:
        self.snap = snap
        self.previous = previous

    def collect(self) -> Iterator[Metric]:
        snap = self.snap
        yield from _topic_metrics(snap)
        yield from _request_metrics(snap)
        yield from _replica_manager_metrics(snap)
        yield from _controller_metrics(snap)
        yield from _log_metrics(snap)
        yield from _socket_metrics(snap, self.previous)
        yield from _quota_metrics(snap)
        yield from _lag_metrics(snap)


def _metric(name: str, doc: str, kind: str) -> Metric:
    return Metric(name, doc, kind)


def _gauge(name: str, doc: str, value: float, labels: dict | None = None) -> Metric:
    metric = Metric(name, doc, "gauge")
    metric.add_sample(name, labels or {}, value)
    return metric


def _topic_metrics(snap: Snapshot) -> Iterator[Metric]:
    for i, (suffix, _, doc) in enumerate(TOPIC_COUNTERS, start=1):
        name = f"kafka_server_brokertopicmetrics_{suffix}_total"
        yield _Bulk(
            name[:-6],
            doc,
            snap.topics,
            lambda t, name=name, i=i: f'{name}{{topic="{t[0]}"}} {t[i]}\n',
            kind="counter",
            head=f"{name} {sum(t[i] for t in snap.topics)}\n",
        )
    for j, (suffix, _, doc) in enumerate(REPLICATION_COUNTERS, start=len(TOPIC_COUNTERS) + 1):
        name = f"kafka_server_brokertopicmetrics_{suffix}"
        metric = _metric(name, doc, "counter")
        metric.add_sample(name + "_total", {}, sum(t[j] for t in snap.topics))
        yield metric


def _request_metrics(snap: Snapshot) -> Iterator[Metric]:
    name = "kafka_network_requestmetrics_requests"
    metric = _metric(name, "Requests served, per API and version (RequestsPerSec)", "counter")
    for (request, version), count in sorted(snap.requests):
        metric.add_sample(name + "_total", {"request": request, "version": str(version)}, count)
    yield metric
    for k, time_name in enumerate(Timings.NAMES):
        name = f"kafka_network_requestmetrics_{time_name}"
        metric = _metric(name, TIME_DOCS[k], "summary")
        for request, count, sums, samples in sorted(snap.timings, key=lambda t: t[0]):
            labels = {"request": request}
            values = sorted(samples[k][: min(count, RESERVOIR)])
            for label, q in QUANTILES:
                value = values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else 0
                metric.add_sample(name, {**labels, "quantile": label}, value)
            metric.add_sample(name + "_count", labels, count)
            metric.add_sample(name + "_sum", labels, sums[k] * 1000)
        yield metric


def _replica_manager_metrics(snap: Snapshot) -> Iterator[Metric]:
    leaders = [p for p in snap.partitions if p[6]]
    under_replicated = sum(1 for p in leaders if p[8] < p[7])
    under_min_isr = sum(1 for p in leaders if p[8] < p[9])
    at_min_isr = sum(1 for p in leaders if p[8] == p[9])
    prefix = "kafka_server_replicamanager_"
    yield _gauge(
        prefix + "underreplicatedpartitions",
        "Led partitions whose ISR < replicas",
        under_replicated,
    )
    yield _gauge(
        prefix + "underminisrpartitioncount", "Led partitions whose ISR < min ISR", under_min_isr
    )
    yield _gauge(
        prefix + "atminisrpartitioncount", "Led partitions whose ISR = min ISR", at_min_isr
    )
    yield _gauge(
        prefix + "offlinereplicacount", "Replicas in failed log dirs", snap.offline_replicas
    )
    yield _gauge(prefix + "leadercount", "Partitions this broker leads", len(leaders))
    yield _gauge(prefix + "partitioncount", "Partitions this broker holds", len(snap.partitions))
    for suffix, value in (("isrshrinks", snap.isr_shrinks), ("isrexpands", snap.isr_expands)):
        metric = _metric(
            prefix + suffix, f"ISR {suffix[3:]} (Isr{suffix[3:].title()}PerSec)", "counter"
        )
        metric.add_sample(prefix + suffix + "_total", {}, value)
        yield metric
    name = "kafka_server_delayedoperationpurgatory_purgatorysize"
    metric = _metric(name, "Requests waiting on a delayed operation", "gauge")
    metric.add_sample(name, {"delayedOperation": "Produce"}, snap.delayed_produces)
    metric.add_sample(name, {"delayedOperation": "Fetch"}, snap.delayed_fetches)
    yield metric
    yield _gauge("kafka_server_kafkaserver_brokerstate", "3: running", BROKER_STATE_RUNNING)
    for name, doc, value in (
        ("kafka_cluster_partition_underreplicated", "1 if led and ISR < replicas",
         lambda p: 1 if p[8] < p[7] else 0),
        ("kafka_cluster_partition_insyncreplicascount", "ISR size (led)", lambda p: p[8]),
        ("kafka_cluster_partition_replicascount", "Replicas (led)", lambda p: p[7]),
    ):  # fmt: skip
        yield _Bulk(
            name,
            doc,
            leaders,
            lambda p, name=name, value=value: (
                f'{name}{{topic="{p[0]}",partition="{p[1]}"}} {value(p)}\n'
            ),
        )


def _controller_metrics(snap: Snapshot) -> Iterator[Metric]:
    active, offline, partitions, topics = snap.controller
    prefix = "kafka_controller_kafkacontroller_"
    yield _gauge(prefix + "activecontrollercount", "1 on the active controller", active)
    yield _gauge(prefix + "offlinepartitionscount", "Partitions without a live leader", offline)
    yield _gauge(prefix + "globalpartitioncount", "Partitions in the cluster", partitions)
    yield _gauge(prefix + "globaltopiccount", "Topics in the cluster", topics)


def _log_metrics(snap: Snapshot) -> Iterator[Metric]:
    families = [
        ("kafka_log_log_size", "Bytes of the partition's log segments", 2),
        ("kafka_log_log_logstartoffset", "The log start offset", 3),
        ("kafka_log_log_logendoffset", "The log end offset", 4),
        ("kafka_log_log_numlogsegments", "The log's segments", 10),
    ]
    for name, doc, field in families:
        yield _Bulk(
            name,
            doc,
            snap.partitions,
            lambda p, name=name, f=field: f'{name}{{topic="{p[0]}",partition="{p[1]}"}} {p[f]}\n',
        )


def _socket_metrics(snap: Snapshot, previous) -> Iterator[Metric]:
    prefix = "kafka_server_socket_server_metrics_"
    count = _metric(prefix + "connection_count", "Open connections", "gauge")
    created = _metric(prefix + "connection_creation", "Connections accepted", "counter")
    rate = _metric(
        prefix + "connection_creation_rate",
        "Connections accepted per second, since the previous scrape",
        "gauge",
    )
    for listener in sorted(snap.connections_created):
        labels = {"listener": listener, "networkProcessor": "0"}
        count.add_sample(count.name, labels, snap.connections.get(listener, 0))
        total = snap.connections_created[listener]
        created.add_sample(created.name + "_total", labels, total)
        per_second = 0.0
        if previous is not None and snap.taken_at > previous[0]:
            before = previous[1].get(listener, 0)
            per_second = (total - before) / (snap.taken_at - previous[0])
        rate.add_sample(rate.name, labels, per_second)
    yield from (count, created, rate)


def _quota_metrics(snap: Snapshot) -> Iterator[Metric]:
    """jmx_exporter's Kafka rules: kafka_server_quota_<attribute>{resource, user,
    clientId}, each label only when the MBean has the tag (Kafka leaves out an empty
    user or client-id)."""
    families = {
        attribute: _metric(f"kafka_server_quota_{attribute}", doc, "gauge")
        for attribute, doc in QUOTA_DOCS.items()
    }
    for attribute, resource, user, client_id, value in sorted(snap.quotas, key=str):
        labels = {"resource": resource}
        if user:
            labels["user"] = sanitize_entity(user)
        if client_id:
            labels["clientId"] = client_id
        metric = families[attribute]
        metric.add_sample(metric.name, labels, value)
    yield from families.values()


def _lag_metrics(snap: Snapshot) -> Iterator[Metric]:
    """kafka-lag-exporter's names: lag = the partition's latest offset (its high
    watermark, what ListOffsets LATEST answers) - the group's committed offset, for the
    partitions this broker holds."""
    cluster = snap.cluster_id
    latest = {(p[0], p[1]): p[5] for p in snap.partitions}
    max_lag: dict[str, int] = {}
    sum_lag: dict[str, int] = {}
    topic_sum: dict[tuple[str, str], int] = {}
    offsets = sorted(snap.offsets)
    lags = []  # (group, topic, partition, lag)
    for group, topic, index, committed in offsets:
        end = latest.get((topic, index))
        if end is None:
            continue
        value = max(0, end - committed)
        lags.append((group, topic, index, value))
        max_lag[group] = max(max_lag.get(group, 0), value)
        sum_lag[group] = sum_lag.get(group, 0) + value
        topic_sum[group, topic] = topic_sum.get((group, topic), 0) + value
    cluster_label = f'{{cluster_name="{_label(cluster)}",group="'
    for name, doc, items in (
        ("kafka_consumergroup_group_offset", "Committed offset", offsets),
        ("kafka_consumergroup_group_lag", "Latest offset - committed offset", lags),
    ):
        yield _Bulk(
            name,
            doc,
            items,
            lambda o, name=name: (
                f'{name}{cluster_label}{_label(o[0])}",topic="{o[1]}",partition="{o[2]}"}} {o[3]}\n'
            ),
        )
    for name, doc, values in (
        ("kafka_consumergroup_group_max_lag", "A group's largest partition lag", max_lag),
        ("kafka_consumergroup_group_sum_lag", "A group's lag over its partitions", sum_lag),
    ):
        metric = _metric(name, doc, "gauge")
        for group, value in sorted(values.items()):
            metric.add_sample(name, {"cluster_name": cluster, "group": group}, value)
        yield metric
    name = "kafka_consumergroup_group_topic_sum_lag"
    yield _Bulk(
        name,
        "A group's lag over a topic's partitions",
        sorted(topic_sum.items()),
        lambda e: f'{name}{cluster_label}{_label(e[0][0])}",topic="{e[0][1]}"}} {e[1]}\n',
    )
    for name, doc, field in (
        ("kafka_partition_latest_offset", "The partition's high watermark", 5),
        ("kafka_partition_earliest_offset", "The partition's log start offset", 3),
    ):
        prefix = f'{name}{{cluster_name="{_label(cluster)}",topic="'
        yield _Bulk(
            name,
            doc,
            snap.partitions,
            lambda p, prefix=prefix, f=field: f'{prefix}{p[0]}",partition="{p[1]}"}} {p[f]}\n',
        )
