"""What the HTTP side costs produce/consume throughput: one kafka-compat broker with its
HTTP listener on, the produce_consume.py workload run with /metrics scraped every
``--interval`` seconds (a thread doing what Prometheus does) and without, interleaved
in the same run; medians and the ratio scraped/unscraped are printed, for throughput
and for the broker's CPU time per message (user + system, all its threads, from
/proc/<pid>/stat): on a loaded machine the CPU figure is the steadier estimate of what
scraping costs a CPU-bound broker.

``--topics N`` first creates N extra topics of ``--extra-partitions`` partitions each
(with one record each) so that a scrape has many partitions to report.

    python benchmarks/http_overhead.py [--sizes 100] [--partitions 1,3] [--repeat 5]

Not part of the test suite: it prints figures, it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent))
import produce_consume as pc  # noqa: E402

# The scraper runs in its own process, started once: a thread here would take the GIL
# from the benchmark's Python consumer loop, and a process per run would spend a Python
# start-up's CPU inside the measured runs of a 2-core machine. "on"/"off" on its stdin
# turn scraping on and off; it prints each scrape's seconds and size.
SCRAPER = """
import os, sys, threading, time, urllib.request
url, interval = sys.argv[1], float(sys.argv[2])
on = threading.Event()
def control():
    for line in sys.stdin:
        on.set() if line.strip() == "on" else on.clear()
    os._exit(0)
threading.Thread(target=control, daemon=True).start()
while True:
    on.wait()
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as resp:
        size = len(resp.read())
    print(time.perf_counter() - started, size, flush=True)
    time.sleep(interval)
"""


class Scraper:
    """GET /metrics every `interval` seconds from a child process (what Prometheus
    does) while `scraping()`; `times` and `sizes` of the scrapes once closed."""

    def __init__(self, url: str, interval: float) -> None:
        self.times: list[float] = []
        self.sizes: list[int] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SCRAPER, url, str(interval)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def set(self, on: bool) -> None:
        self.proc.stdin.write("on\n" if on else "off\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        out, _ = self.proc.communicate(timeout=60)  # closes stdin: the child exits
        for line in out.splitlines():
            elapsed, size = line.split()
            self.times.append(float(elapsed))
            self.sizes.append(int(size))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all threads (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def extra_topics(bootstrap: str, topics: int, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = [f"extra-{i}-{uuid.uuid4().hex[:6]}" for i in range(topics)]
    for future in admin.create_topics([NewTopic(n, partitions, 1) for n in names]).values():
        future.result(60)
    producer = Producer({"bootstrap.servers": bootstrap})
    for name in names:
        for p in range(partitions):
            producer.produce(name, b"x", partition=p)
    producer.flush(60)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="100", help="message sizes (default: 100)")
    p.add_argument("--messages", type=int, default=None, help="messages per run")
    p.add_argument("--partitions", default="1,3", help="partition counts (default: 1,3)")
    p.add_argument("--acks", default="1")
    p.add_argument("--repeat", type=int, default=5, help="runs per mode (default: 5)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between scrapes")
    p.add_argument("--topics", type=int, default=0, help="extra topics to report")
    p.add_argument("--extra-partitions", type=int, default=10)
    p.add_argument("--kafka-compat-cmd", default=pc.default_kafka_compat_cmd())
    args = p.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    http_port = pc.free_port()
    prefix = [*shlex.split(args.kafka_compat_cmd), "--http-port", str(http_port)]
    spec = pc.BrokerSpec(
        "kafka-compat",
        lambda port, data_dir: [
            *prefix,
            *("--host", pc.HOST, "--port", str(port), "--data-dir", str(data_dir)),
        ],
    )
    url = f"http://{pc.HOST}:{http_port}/metrics"
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; scrape every {args.interval}s")
    workdir = Path(tempfile.mkdtemp(prefix="kc-http-bench-"))
    broker = pc.start(spec, workdir)
    scraper = None
    try:
        if args.topics:
            extra_topics(broker.bootstrap, args.topics, args.extra_partitions)
        pc.run_once(broker, pc.Workload(100, 2_000, 1, "1"))  # warm-up
        scraper = Scraper(url, args.interval)
        cpu_totals = {"none": 0.0, "scraped": 0.0}
        for size in [pc.parse_size(s) for s in args.sizes.split(",")]:
            for partitions in [int(x) for x in args.partitions.split(",")]:
                for acks in args.acks.split(","):
                    n = args.messages or pc.default_messages(size)
                    w = pc.Workload(size, n, partitions, acks)
                    rates: dict[str, list[tuple[float, float]]] = {"none": [], "scraped": []}
                    cpu: dict[str, list[float]] = {"none": [], "scraped": []}
                    for rep in range(args.repeat):
                        order = ["none", "scraped"] if rep % 2 == 0 else ["scraped", "none"]
                        for mode in order:
                            cpu_before = cpu_seconds(broker.proc.pid)
                            scraper.set(mode == "scraped")
                            sample = pc.run_once(broker, w)
                            scraper.set(False)
                            used = cpu_seconds(broker.proc.pid) - cpu_before
                            cpu_totals[mode] += used
                            cpu[mode].append(used / n)
                            rates[mode].append((n / sample.produce_s, n / sample.consume_s))
                    none = [statistics.median(r[i] for r in rates["none"]) for i in (0, 1)]
                    scraped = [statistics.median(r[i] for r in rates["scraped"]) for i in (0, 1)]
                    print(f"== {w.label()} (median of {args.repeat})")
                    print(
                        f"   no scrape     produce {none[0]:>10,.0f} msg/s  consume "
                        f"{none[1]:>10,.0f} msg/s"
                    )
                    print(
                        f"   scraped       produce {scraped[0]:>10,.0f} msg/s  consume "
                        f"{scraped[1]:>10,.0f} msg/s"
                    )
                    print(
                        f"   scraped/none  produce {scraped[0] / none[0]:>10.3f}x       consume "
                        f"{scraped[1] / none[1]:>10.3f}x"
                    )
                    cpu_none, cpu_scraped = (statistics.median(cpu[m]) for m in ("none", "scraped"))
                    print(
                        f"   broker CPU per message: {cpu_none * 1e6:.2f} us without, "
                        f"{cpu_scraped * 1e6:.2f} us scraped ({cpu_scraped / cpu_none:.3f}x)"
                    )
        scraper.close()
        scrape_times, sizes = scraper.times, scraper.sizes
        if scrape_times:
            per_scrape = (cpu_totals["scraped"] - cpu_totals["none"]) / len(scrape_times)
            print(
                f"broker CPU per scrape (scraped runs - unscraped runs, / scrapes): "
                f"{per_scrape * 1e3:.1f} ms; every {args.interval:g} s that is "
                f"{per_scrape / args.interval * 100:.1f} % of the broker's core"
            )
            print(
                f"scrapes: {len(scrape_times)}, median {statistics.median(scrape_times) * 1e3:.1f}"
                f" ms, max {max(scrape_times) * 1e3:.1f} ms, {statistics.median(sizes):,.0f} bytes"
            )
    finally:
        if scraper is not None and scraper.proc.poll() is None:
            scraper.proc.kill()
        pc.stop(broker)
    return 0


if __name__ == "__main__":
    sys.exit(main())
