"""Start-up cost of many partitions: create 100 topics x 100 partitions, write a
little to each, restart the broker, and print start-up time, resident memory and
open file descriptors (before and after the restart).

    python benchmarks/many_partitions.py [--topics 100] [--partitions 100]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(data_dir: Path, port: int) -> tuple[subprocess.Popen, float]:
    """Start the broker; seconds until it answers Metadata."""
    began = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kafka_compat", "serve", "--port", str(port), "--http-port", "0"]
        + ["--data-dir", str(data_dir), "--log-level", "WARNING"],
    )
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"})
    while True:
        try:
            admin.list_topics(timeout=1)
            return proc, time.monotonic() - began
        except Exception:
            if proc.poll() is not None:
                raise SystemExit("broker exited during start-up") from None
            time.sleep(0.05)


def footprint(pid: int) -> tuple[float, int]:
    """(resident MiB, open file descriptors) of a process."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kib = int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])
    return rss_kib / 1024, len(os.listdir(f"/proc/{pid}/fd"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topics", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=100)
    args = parser.parse_args()
    total = args.topics * args.partitions
    with tempfile.TemporaryDirectory(prefix="kc-many-") as tmp:
        data_dir, port = Path(tmp) / "data", free_port()
        proc, first_start = start(data_dir, port)
        bootstrap = f"127.0.0.1:{port}"
        admin = AdminClient({"bootstrap.servers": bootstrap})
        began = time.monotonic()
        names = [f"t{i:03d}" for i in range(args.topics)]
        for future in admin.create_topics(
            [NewTopic(name, args.partitions) for name in names], operation_timeout=600
        ).values():
            future.result(600)
        created = time.monotonic() - began
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50})
        began = time.monotonic()
        for name in names:
            for partition in range(args.partitions):
                producer.produce(name, value=b"x" * 100, partition=partition)
            producer.poll(0)
        assert producer.flush(600) == 0
        produced = time.monotonic() - began
        rss_before, fds_before = footprint(proc.pid)
        proc.terminate()
        proc.wait(600)
        proc, restart = start(data_dir, port)
        rss_after, fds_after = footprint(proc.pid)
        proc.terminate()
        proc.wait(600)
    print(f"{args.topics} topics x {args.partitions} partitions = {total} partitions")
    print(f"  first start (empty):        {first_start:8.2f} s")
    print(f"  create topics:              {created:8.2f} s")
    print(f"  produce 1 msg/partition:    {produced:8.2f} s")
    print(f"  before restart:             {rss_before:8.1f} MiB RSS, {fds_before} fds")
    print(f"  restart until Metadata:     {restart:8.2f} s")
    print(f"  after restart:              {rss_after:8.1f} MiB RSS, {fds_after} fds")


if __name__ == "__main__":
    main()
