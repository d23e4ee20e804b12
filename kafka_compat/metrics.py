"""The broker's own counters: what /metrics (kafka_compat/http/metrics.py) reads at
scrape time, kept as plain numbers so that the data path pays one addition per
request or per partition of a request, never per record, and imports nothing but error codes.

- `BrokerTopicStats`: Kafka's BrokerTopicMetrics per topic (messages and bytes in,
  bytes out, total produce requests, failed produce and fetch requests); the all-topics
  figures are
  sums taken at scrape time. The replica manager owns it and counts in
  `append_records` / `fetch_records`.
- `RequestMetrics`: Kafka's RequestMetrics per API (request count per version; total,
  queue, local, remote and response-send times), counted by server.py once per
  request. Times keep the last `RESERVOIR` samples per API (Kafka's histograms
  decay; ours slide) for the quantiles, and exact counts and sums.
- `SocketServerStats`: open connections and connections created, per listener.
- `REQUEST_WAIT`: the connection task's cell where a delayed operation (the acks=all
  wait, a fetch short of min_bytes) adds the seconds it waited: Kafka's remote time.

Everything here runs on the Trio loop; a scrape copies it there (http/metrics.py).
"""

from __future__ import annotations

from contextvars import ContextVar

from protocol.errors import ErrorCode

RESERVOIR = 1024  # samples kept per API and time, for the quantiles
_MASK = RESERVOIR - 1


# Errors that do not count as failed produce / fetch requests: Kafka's FailedProduce- and
# FailedFetchRequestsPerSec count the broker's unexpected failures, not these.
EXPECTED_PRODUCE_ERRORS = frozenset(
    {
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.NOT_LEADER_OR_FOLLOWER,
        ErrorCode.MESSAGE_TOO_LARGE,
        ErrorCode.RECORD_LIST_TOO_LARGE,
        ErrorCode.CORRUPT_MESSAGE,
        ErrorCode.KAFKA_STORAGE_ERROR,
    }
)
EXPECTED_FETCH_ERRORS = frozenset(
    {
        ErrorCode.NONE,
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.NOT_LEADER_OR_FOLLOWER,
        ErrorCode.UNKNOWN_LEADER_EPOCH,
        ErrorCode.FENCED_LEADER_EPOCH,
        ErrorCode.REPLICA_NOT_AVAILABLE,
        ErrorCode.KAFKA_STORAGE_ERROR,
        ErrorCode.OFFSET_OUT_OF_RANGE,
        ErrorCode.INCONSISTENT_TOPIC_ID,
    }
)


class TopicStats:
    """One topic's BrokerTopicMetrics counters (monotonic totals)."""

    __slots__ = (
        "messages_in",
        "bytes_in",
        "bytes_out",
        "bytes_rejected",
        "total_produce_requests",
        "failed_produce_requests",
        "failed_fetch_requests",
        "replication_bytes_in",
        "replication_bytes_out",
    )

    def __init__(self) -> None:
        self.messages_in = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.bytes_rejected = 0
        self.total_produce_requests = 0
        self.failed_produce_requests = 0
        self.failed_fetch_requests = 0
        self.replication_bytes_in = 0
        self.replication_bytes_out = 0

    def failed_produce(self, error_code: int, size: int) -> None:
        """A partition's append failed with `error_code` (`size` bytes of batches)."""
        if error_code not in EXPECTED_PRODUCE_ERRORS:
            self.failed_produce_requests += 1
        if error_code in (ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.RECORD_LIST_TOO_LARGE):
            self.bytes_rejected += size  # Kafka's BytesRejectedPerSec


class BrokerTopicStats:
    """Per-topic counters, created when a topic first counts and dropped with the topic
    (Kafka's BrokerTopicStats.removeMetrics)."""

    def __init__(self) -> None:
        self.topics: dict[str, TopicStats] = {}

    def topic(self, name: str) -> TopicStats:
        stats = self.topics.get(name)
        if stats is None:
            stats = self.topics[name] = TopicStats()
        return stats

    def remove(self, name: str) -> None:
        self.topics.pop(name, None)

    def count_fetch(self, partitions, results, follower: bool) -> None:
        """Kafka's BytesOut (ReplicationBytesOut for a follower) and FailedFetchRequests,
        per partition that returned records or an error (results: FetchResult tuples,
        error code first, records sixth)."""
        for partition, result in zip(partitions, results, strict=True):
            records = result[5]
            error = result[0]
            if partition is None or not (records or error):
                continue
            stats = self.topic(partition.topic)
            if records:
                if follower:
                    stats.replication_bytes_out += len(records)
                else:
                    stats.bytes_out += len(records)
            if error not in EXPECTED_FETCH_ERRORS:
                stats.failed_fetch_requests += 1


class Timings:
    """One API's request times (seconds): exact count and sums, and the last
    RESERVOIR samples of each time for the quantiles."""

    __slots__ = ("count", "sums", "samples")

    # total, request queue, local, remote, response send (Kafka's names, in order)
    NAMES = ("totaltimems", "requestqueuetimems", "localtimems", "remotetimems")
    NAMES += ("responsesendtimems",)

    def __init__(self) -> None:
        self.count = 0
        self.sums = [0.0] * 5
        self.samples = [[0.0] * RESERVOIR for _ in range(5)]

    def record(self, total: float, queue: float, local: float, remote: float, send: float):
        i = self.count & _MASK
        self.count += 1
        sums, samples = self.sums, self.samples
        sums[0] += total
        sums[1] += queue
        sums[2] += local
        sums[3] += remote
        sums[4] += send
        samples[0][i] = total
        samples[1][i] = queue
        samples[2][i] = local
        samples[3][i] = remote
        samples[4][i] = send


class RequestMetrics:
    """Kafka's kafka.network RequestMetrics: requests per (API name, version) and the
    request times per API name (Fetch also as FetchConsumer / FetchFollower)."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = {}
        self.timings: dict[str, Timings] = {}

    def record(
        self,
        name: str,
        version: int,
        total: float,
        queue: float,
        local: float,
        remote: float,
        send: float,
    ) -> None:
        key = (name, version)
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1
        timings = self.timings.get(name)
        if timings is None:
            timings = self.timings[name] = Timings()
        timings.record(total, queue, local, remote, send)


class SocketServerStats:
    """Open connections and connections created per listener (Kafka's
    socket-server-metrics connection-count and connection-creation-total)."""

    def __init__(self) -> None:
        self.open: dict[str, int] = {}
        self.created: dict[str, int] = {}

    def opened(self, listener: str) -> None:
        self.open[listener] = self.open.get(listener, 0) + 1
        self.created[listener] = self.created.get(listener, 0) + 1

    def closed(self, listener: str) -> None:
        self.open[listener] -= 1


# The seconds the current request spent waiting on a delayed operation: a one-element
# list per connection task, reset by server.py before each request.
REQUEST_WAIT: ContextVar[list[float]] = ContextVar("REQUEST_WAIT")


def add_request_wait(seconds: float) -> None:
    """Kafka's remote time: the current request waited on a delayed operation."""
    cell = REQUEST_WAIT.get(None)
    if cell is not None:
        cell[0] += seconds
