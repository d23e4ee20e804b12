"""End-to-end latency: a producer at a fixed rate, a consumer polling, side by side.

For every broker named in ``--brokers`` (the same names and start options as
produce_consume.py, whose helpers start and stop them), a confluent-kafka producer
sends ``--rate`` messages per second for ``--seconds`` (acks=1, linger.ms=0), each
carrying its send time; a consumer in the same process (fetch.wait.max.ms=500, the
broker's delayed fetch is what answers it) records when each one arrives. The report
gives p50/p99/max of send->receive per broker, brokers interleaved ``--repeat`` times.
This is the waiting-fetch path: the consumer sits in a long poll and the broker must
wake it when the high watermark moves.

Not part of the test suite: it prints figures, it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import statistics
import struct
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
import produce_consume as pc  # noqa: E402

STAMP = struct.Struct(">d")


def measure(bootstrap: str, rate: int, seconds: float) -> list[float]:
    """Send->receive latencies in milliseconds of one run."""
    topic = f"latency-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    pc.create_topic(admin, topic, 1)
    count = int(rate * seconds)
    received: list[float] = []
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": topic,
            "fetch.wait.max.ms": 500,
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    done = threading.Event()

    def consume() -> None:
        deadline = time.monotonic() + seconds + 30
        while len(received) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            received.append((time.time() - STAMP.unpack(message.value()[:8])[0]) * 1000)
        done.set()

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    time.sleep(1.0)  # the consumer is in its long poll
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": "1"})
    start = time.monotonic()
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        producer.produce(topic, STAMP.pack(time.time()) + b"x" * 92)
        producer.poll(0)
    producer.flush(30)
    done.wait(seconds + 60)
    consumer.close()
    pc.delete_topic(admin, topic)
    return received


def main() -> int:
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--rate", type=int, default=1000, help="messages per second")
    own.add_argument("--seconds", type=float, default=10.0, help="seconds per run")
    mine, rest = own.parse_known_args()
    args = pc.parse_args(rest)  # --brokers, --repeat, --kafka-compat-cmd, --baseline-cmd ...
    rate, seconds = mine.rate, mine.seconds
    specs = pc.broker_specs(args)
    results: dict[str, list[float]] = {b: [] for b in args.broker_list}
    with tempfile.TemporaryDirectory(prefix="latency-") as workdir:
        running = {b: pc.start(specs[b], Path(workdir)) for b in args.broker_list}
        try:
            for repeat in range(args.repeat):
                order = args.broker_list[repeat % len(args.broker_list) :]
                order += args.broker_list[: repeat % len(args.broker_list)]
                for name in order:
                    results[name] += measure(running[name].bootstrap, rate, seconds)
        finally:
            for broker in running.values():
                pc.stop(broker)
    print(f"== end-to-end latency, {rate} msg/s for {seconds:g} s, x{args.repeat}")
    print(f"   {'broker':<14}{'received':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, values in results.items():
        if not values:
            print(f"   {name:<14}  nothing received")
            continue
        values.sort()
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        print(
            f"   {name:<14}{len(values):>10}{statistics.median(values):>9.2f}"
            f"{p99:>9.2f}{values[-1]:>9.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
