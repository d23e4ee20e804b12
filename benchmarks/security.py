"""Produce/consume throughput over PLAINTEXT, SSL and SASL_SSL (SCRAM-SHA-512), same
broker, same run, with the ratios to PLAINTEXT.

One kafka-compat process listens on three listeners at once (PLAINTEXT, SSL,
SASL_SSL with SCRAM-SHA-512; certificates from kafka_compat/tools/dev_tls.py, the
SCRAM user from ``--add-scram``). Each round runs produce_consume.py's workload
(confluent-kafka, ``linger.ms=5``, no compression, a fresh topic created and deleted
over PLAINTEXT) once per listener, in a rotating order; the report shows medians.

    .venv/bin/python benchmarks/security.py
    .venv/bin/python benchmarks/security.py --sizes 100 --messages 1000000 --repeat 3

Not part of the test suite: it prints figures, it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient
from produce_consume import (
    HOST,
    REPO,
    BrokerSpec,
    Workload,
    consume,
    create_topic,
    default_messages,
    delete_topic,
    free_port,
    parse_size,
    produce,
    start,
    stop,
)

sys.path.insert(0, str(REPO))
from kafka_compat.tools.dev_tls import ensure_dev_tls  # noqa: E402

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_SSL")
USER, PASSWORD = "bench", "bench-secret"


def broker_command(serve_cmd: str, tls_dir: Path, ports: dict[str, int]):
    """produce_consume.start's command (PLAINTEXT on the port it picks, which it
    waits for; `ports` fills in as it does) and each listener's client config."""
    tls = ensure_dev_tls(tls_dir, [])
    keys = {
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(tls.broker_pem),
        "listener.name.sasl_ssl.sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
    }

    def command(port: int, data_dir: Path) -> list[str]:
        ports["PLAINTEXT"] = port
        listeners = ",".join(f"{p}://{HOST}:{ports[p]}" for p in PROTOCOLS)
        cmd = [*shlex.split(serve_cmd), "--data-dir", str(data_dir), "--http-port", "0"]
        cmd += ["--override", f"listeners={listeners}"]
        cmd += ["--add-scram", f"SCRAM-SHA-512=[name={USER},password={PASSWORD}]"]
        for key, value in keys.items():
            cmd += ["--override", f"{key}={value}"]
        return cmd

    security = {
        "PLAINTEXT": {},
        "SSL": {"security.protocol": "SSL", "ssl.ca.location": str(tls.ca)},
        "SASL_SSL": {
            "security.protocol": "SASL_SSL",
            "ssl.ca.location": str(tls.ca),
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": USER,
            "sasl.password": PASSWORD,
        },
    }
    return command, security


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100,1k", help="message sizes (default: 100,1k)")
    p.add_argument(
        "--messages", type=int, help="messages per run (default: 200,000 at 100 B, 50,000 at 1 KB)"
    )
    p.add_argument("--partitions", type=int, default=1, help="partitions (default: 1)")
    p.add_argument("--acks", default="1", help="producer acks (default: 1)")
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement (default: 3)")
    p.add_argument(
        "--protocols", default=",".join(PROTOCOLS), help="listeners to measure (default: all)"
    )
    p.add_argument(
        "--kafka-compat-cmd",
        default=os.environ.get(
            "KAFKA_COMPAT_SERVE_CMD", shlex.join([sys.executable, "-m", "kafka_compat", "serve"])
        ),
        help="command prefix (default: this Python's -m kafka_compat serve)",
    )
    p.add_argument(
        "--baseline-cmd",
        help="a second kafka-compat (e.g. another checkout: 'env PYTHONPATH=/tmp/old python -P"
        " -m kafka_compat serve'), measured in the same rounds as 'base ...'",
    )
    p.add_argument("--json", type=Path, help="also write all samples to this JSON file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    protocols = [p.strip().upper() for p in args.protocols.split(",") if p.strip()]
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    commands = {"": args.kafka_compat_cmd}
    if args.baseline_cmd:
        commands["base "] = args.baseline_cmd
    # A label per (broker, listener): "SSL", "base SSL".
    labels = [prefix + p for prefix in commands for p in protocols]
    samples: dict[tuple[int, str], list[tuple]] = {}
    with tempfile.TemporaryDirectory(prefix="kc-bench-security-") as tmp:
        workdir = Path(tmp)
        targets = {}  # label -> (pid, bootstrap, client security config)
        brokers = []
        try:
            for prefix, cmd in commands.items():
                ports = {p: free_port() for p in PROTOCOLS if p != "PLAINTEXT"}
                command, security = broker_command(cmd, workdir / "dev-tls", ports)
                name = prefix.strip() or "kafka-compat"
                brokers.append(start(BrokerSpec(name, command, cmd), workdir))
                for p in protocols:
                    target = (brokers[-1].proc.pid, f"{HOST}:{ports[p]}", security[p])
                    targets[prefix + p] = target
            admin = {
                prefix: AdminClient({"bootstrap.servers": broker.bootstrap})
                for prefix, broker in zip(commands, brokers, strict=True)
            }
            print(
                f"# {platform.python_implementation()} {platform.python_version()}, "
                f"{os.cpu_count()} CPUs; {commands}",
                flush=True,
            )
            for size in sizes:
                w = Workload(
                    size, args.messages or default_messages(size), args.partitions, args.acks
                )
                payload = os.urandom(size)
                for label in labels:  # untimed warm-up: connections, TLS session, SCRAM
                    small = Workload(size, 1000, w.partitions, w.acks)
                    run(admin[_prefix(label)], *targets[label], small, payload)
                for round_no in range(args.repeat):
                    shift = round_no % len(labels)
                    for label in labels[shift:] + labels[:shift]:
                        sample = run(admin[_prefix(label)], *targets[label], w, payload)
                        samples.setdefault((size, label), []).append(sample)
                        print(
                            f"  {w.label()} {label:<14} produce {w.messages / sample[0]:>9,.0f}"
                            f" msg/s  consume {w.messages / sample[1]:>9,.0f} msg/s"
                            f"  broker CPU {sample[2]:.2f} s + {sample[3]:.2f} s",
                            flush=True,
                        )
                for prefix in commands:
                    report(w, [prefix + p for p in protocols], samples, prefix)
        finally:
            admin = None  # before the brokers go: their reconnect attempts would be logged
            for broker in brokers:
                stop(broker)
    if args.json:
        args.json.write_text(
            json.dumps({f"{size}:{p}": s for (size, p), s in samples.items()}, indent=1)
        )
    return 0


def _prefix(label: str) -> str:
    return "base " if label.startswith("base ") else ""


def cpu_seconds(pid: int) -> float:
    """A process's user+system CPU time so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(admin, pid: int, bootstrap: str, security: dict, w: Workload, payload: bytes) -> tuple:
    """(produce s, consume s, broker CPU s while producing, ... while consuming)."""
    topic = f"bench-sec-{w.size}b-{uuid.uuid4().hex[:8]}"
    create_topic(admin, topic, w.partitions)
    try:
        cpu0 = cpu_seconds(pid)
        produce_s = produce(bootstrap, topic, w, payload, security)
        cpu1 = cpu_seconds(pid)
        consume_s = consume(bootstrap, topic, w, security)
        cpu2 = cpu_seconds(pid)
    finally:
        delete_topic(admin, topic)
    return produce_s, consume_s, cpu1 - cpu0, cpu2 - cpu1


def report(w: Workload, protocols: list[str], samples, prefix: str = "") -> None:
    """Medians per listener: msg/s (wall clock) and the broker's CPU time per MB of
    values (what a loaded machine distorts least), then the ratios to PLAINTEXT."""
    mb = w.messages * w.size / 1e6
    print(f"\n== {w.label()}  (median of {len(samples[(w.size, protocols[0])])})")
    print(
        f"   {'listener':<14} {'produce msg/s':>13} {'MB/s':>6} {'CPU ms/MB':>9}"
        f" {'consume msg/s':>13} {'MB/s':>6} {'CPU ms/MB':>9}"
    )
    medians = {}
    for p in protocols:
        runs = samples[(w.size, p)]
        row = (
            statistics.median(w.messages / s[0] for s in runs),
            statistics.median(s[2] * 1000 / mb for s in runs),
            statistics.median(w.messages / s[1] for s in runs),
            statistics.median(s[3] * 1000 / mb for s in runs),
        )
        medians[p] = row
        print(
            f"   {p:<14} {row[0]:>13,.0f} {row[0] * w.size / 1e6:>6.1f} {row[1]:>9.1f}"
            f" {row[2]:>13,.0f} {row[2] * w.size / 1e6:>6.1f} {row[3]:>9.1f}"
        )
    if prefix + "PLAINTEXT" in medians:
        base = medians[prefix + "PLAINTEXT"]
        for p in protocols:
            if p != prefix + "PLAINTEXT":
                r = [m / b if b else float("nan") for m, b in zip(medians[p], base, strict=True)]
                print(
                    f"   {p + '/PT':<14} {r[0]:>13.2f} {'':>6} {r[1]:>9.2f}"
                    f" {r[2]:>13.2f} {'':>6} {r[3]:>9.2f}"
                )
    print(flush=True)


if __name__ == "__main__":
    sys.exit(main())
