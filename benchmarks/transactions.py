"""Transactional throughput beside idempotent throughput, and commit latency.

For every broker named in ``--brokers`` (the same names and start options as
produce_consume.py, whose helpers start and stop them), a confluent-kafka producer
sends ``--messages`` messages of 100 bytes to a 1-partition topic:

- idempotent: ``enable.idempotence=true`` (acks=all), one flush at the end;
- transactional, ``--txn-sizes`` records per transaction (default 100 and 1,000):
  begin, produce the records, commit; each ``commit_transaction()`` is timed.

The report gives messages per second per mode, and p50/p99 of the commit latency,
runs interleaved across brokers ``--repeat`` times (medians). Not part of the test
suite: it prints figures, it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
import produce_consume as pc  # noqa: E402

PAYLOAD = b"x" * 100


def idempotent_rate(bootstrap: str, topic: str, count: int) -> float:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5}
    )
    producer.produce(topic, PAYLOAD)  # producer id and metadata before the clock starts
    assert producer.flush(30) == 0
    start = time.monotonic()
    for _ in range(count):
        while True:
            try:
                producer.produce(topic, PAYLOAD)
                break
            except BufferError:
                producer.poll(0.01)
    assert producer.flush(60) == 0
    return count / (time.monotonic() - start)


def transactional_rate(
    bootstrap: str, topic: str, count: int, txn_size: int
) -> tuple[float, list[float]]:
    """(messages per second, commit latencies in ms)."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": f"bench-{uuid.uuid4().hex[:8]}",
            "linger.ms": 5,
        }
    )
    producer.init_transactions(30)
    producer.begin_transaction()  # metadata and the first AddPartitions before the clock
    producer.produce(topic, PAYLOAD)
    producer.commit_transaction(30)
    commits: list[float] = []
    start = time.monotonic()
    sent = 0
    while sent < count:
        producer.begin_transaction()
        for _ in range(min(txn_size, count - sent)):
            while True:
                try:
                    producer.produce(topic, PAYLOAD)
                    break
                except BufferError:
                    producer.poll(0.01)
            sent += 1
        before = time.monotonic()
        producer.commit_transaction(60)
        commits.append((time.monotonic() - before) * 1000)
    return count / (time.monotonic() - start), commits


def run(bootstrap: str, count: int, txn_sizes: list[int]) -> dict[str, tuple[float, list[float]]]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    results: dict[str, tuple[float, list[float]]] = {}
    topic = f"txn-bench-{uuid.uuid4().hex[:8]}"
    pc.create_topic(admin, topic, 1)
    try:
        results["idempotent"] = (idempotent_rate(bootstrap, topic, count), [])
        for size in txn_sizes:
            results[f"txn x{size}"] = transactional_rate(bootstrap, topic, count, size)
    finally:
        pc.delete_topic(admin, topic)
    return results


def main() -> int:
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--txn-sizes", default="100,1000", help="records per transaction")
    mine, rest = own.parse_known_args()
    if "--brokers" not in rest:
        rest = ["--brokers", "kafka-compat", *rest]
    args = pc.parse_args(rest)  # --brokers, --repeat, --messages, --kafka-compat-cmd ...
    txn_sizes = [int(s) for s in mine.txn_sizes.split(",")]
    count = args.messages or 200_000
    specs = pc.broker_specs(args)
    rates: dict[str, dict[str, list[float]]] = {b: {} for b in args.broker_list}
    commits: dict[str, dict[str, list[float]]] = {b: {} for b in args.broker_list}
    with tempfile.TemporaryDirectory(prefix="txn-bench-") as workdir:
        running = {b: pc.start(specs[b], Path(workdir)) for b in args.broker_list}
        try:
            for name in args.broker_list:  # warm-up
                run(running[name].bootstrap, 1000, txn_sizes)
            for repeat in range(args.repeat):
                order = args.broker_list[repeat % len(args.broker_list) :]
                order += args.broker_list[: repeat % len(args.broker_list)]
                for name in order:
                    for mode, (rate, latencies) in run(
                        running[name].bootstrap, count, txn_sizes
                    ).items():
                        rates[name].setdefault(mode, []).append(rate)
                        commits[name].setdefault(mode, []).extend(latencies)
        finally:
            for broker in running.values():
                pc.stop(broker)
    print(f"== transactions: {count:,} msgs of 100 B, 1 partition, median of {args.repeat}")
    print(f"   {'broker':<14}{'mode':<14}{'msgs/s':>10}{'commit p50 ms':>15}{'p99 ms':>9}")
    for name in args.broker_list:
        for mode, values in rates[name].items():
            latencies = sorted(commits[name][mode])
            p50 = p99 = "-"
            if latencies:
                p50 = f"{statistics.median(latencies):.2f}"
                p99 = f"{latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]:.2f}"
            print(f"   {name:<14}{mode:<14}{statistics.median(values):>10,.0f}{p50:>15}{p99:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
