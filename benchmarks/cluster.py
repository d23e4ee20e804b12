"""A 3-broker cluster (kafka-compat dev-cluster: Debian's ZooKeeper, broker processes on
loopback): replicated throughput, acks=all latency and failover time, one run.

1. create a topic with replication factor 3, ``min.insync.replicas=2``, 3 partitions;
2. produce N messages (confluent-kafka, ``linger.ms=5``) with acks=1, then acks=all
   (idempotent), each timed from the first produce to the flush;
3. produce ``--latency-records`` single records with acks=all, each flushed at once:
   median and p99 from produce to acknowledgement;
4. SIGKILL the leader of partition 0 while acks=all records go to it one by one and
   report how long produce was stalled (about the ZooKeeper session timeout, the time
   ZooKeeper takes to notice); restart it, then SIGTERM the leader (controlled
   shutdown) the same way.

There is no peer to run side by side (the peers measured elsewhere do not replicate);
compare runs on the same machine. Prints figures, asserts nothing about time.

    python benchmarks/cluster.py --messages 200000 --session-timeout-ms 6000
"""

from __future__ import annotations

import argparse
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kafka_compat.devcluster import DevCluster, free_port

TOPIC = "bench-replicated"


def produce_rate(bootstrap: str, count: int, size: int, acks: str) -> float:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": acks,
            "enable.idempotence": acks == "all",
            "linger.ms": 5,
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    value = b"x" * size
    start = time.perf_counter()
    for i in range(count):
        while True:
            try:
                producer.produce(TOPIC, value, partition=i % 3)
                break
            except BufferError:
                producer.poll(0.01)
    producer.flush(120)
    return count / (time.perf_counter() - start)


def ack_latencies(bootstrap: str, count: int) -> list[float]:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    times = []
    for _ in range(count):
        start = time.perf_counter()
        producer.produce(TOPIC, b"x" * 100, partition=0)
        producer.flush(60)
        times.append(time.perf_counter() - start)
    return times


def leader_of(bootstrap: str, partition: int) -> int:
    meta = AdminClient({"bootstrap.servers": bootstrap}).list_topics(TOPIC, timeout=10)
    return meta.topics[TOPIC].partitions[partition].leader


def stall_after(cluster: DevCluster, victim: int, sig: int) -> float:
    """Send `sig` to broker `victim` while acks=all records go to partition 0 one at a
    time; the longest gap between two acknowledgements, in seconds."""
    producer = Producer(
        {
            "bootstrap.servers": cluster.bootstrap,
            "acks": "all",
            "linger.ms": 0,
            "message.timeout.ms": 120000,
            "retry.backoff.ms": 50,
            "topic.metadata.refresh.interval.ms": 1000,
        }
    )
    acked: list[float] = []

    def on_ack(error, _message) -> None:
        if error is None:
            acked.append(time.perf_counter())

    def send(n: int) -> None:
        for _ in range(n):
            producer.produce(TOPIC, b"x", partition=0, on_delivery=on_ack)
            producer.flush(120)
            time.sleep(0.005)

    send(50)
    cluster.brokers[victim].proc.send_signal(sig)
    send(200)
    return max(b - a for a, b in zip(acked, acked[1:], strict=False))


def restart(cluster: DevCluster, broker_id: int) -> None:
    """Start a killed broker again and wait until it is back in every ISR."""
    broker = cluster.brokers[broker_id]
    broker.proc.wait()
    with open(broker.log_path, "ab") as log_file:
        broker.proc = subprocess.Popen(broker.command, stdout=log_file, stderr=subprocess.STDOUT)
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    deadline = time.monotonic() + 120
    while True:
        partitions = admin.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions.values()
        if all(broker_id in p.isrs for p in partitions):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"broker {broker_id} did not rejoin the ISRs")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--latency-records", type=int, default=2000)
    parser.add_argument("--session-timeout-ms", type=int, default=6000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cluster = DevCluster(
            3,
            base_port=_free_base(),
            data_dir=Path(tmp),
            overrides=[
                f"zookeeper.session.timeout.ms={args.session_timeout_ms}",
                "offsets.topic.replication.factor=3",
            ],
            out=lambda _line: None,
        )
        cluster.start()
        try:
            admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
            while len(admin.list_topics(timeout=10).brokers) < 3:  # all registered
                time.sleep(0.1)
            topic = NewTopic(TOPIC, 3, 3, config={"min.insync.replicas": "2"})
            admin.create_topics([topic])[TOPIC].result(60)
            for acks in ("1", "all"):
                rate = produce_rate(cluster.bootstrap, args.messages, args.size, acks)
                print(f"produce acks={acks:>3}: {rate:>12,.0f} msg/s ({args.size} B)")
            times = sorted(ack_latencies(cluster.bootstrap, args.latency_records))
            p50 = statistics.median(times) * 1000
            p99 = times[int(len(times) * 0.99) - 1] * 1000
            print(f"one record, acks=all: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
            leader = leader_of(cluster.bootstrap, 0)
            stall = stall_after(cluster, leader, signal.SIGKILL)
            print(
                f"SIGKILL of the leader: produce stalled {stall:.2f} s "
                f"(session timeout {args.session_timeout_ms / 1000:.1f} s)"
            )
            restart(cluster, leader)
            leader = leader_of(cluster.bootstrap, 0)
            stall = stall_after(cluster, leader, signal.SIGTERM)
            print(f"SIGTERM of the next leader (controlled shutdown): stalled {stall:.3f} s")
        finally:
            cluster.stop()


def _free_base() -> int:
    """A base port with the three ports after it free (brokers use base+0..2)."""
    while True:
        base = free_port()
        ports = [base + i for i in range(3)]
        if all(_port_free(p) for p in ports):
            return base


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


if __name__ == "__main__":
    main()
