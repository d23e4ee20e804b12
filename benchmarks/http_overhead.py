"""What the HTTP side costs produce/consume throughput: one kafka-compat broker with its
HTTP listener on, the produce_consume.py workload run with /metrics scraped every
``--interval`` seconds (a thread doing what Prometheus does) and without, interleaved
in the same run; medians and the ratio scraped/unscraped are printed, for throughput
and for the broker's CPU time per message (user + system, all its threads, from
/proc/<pid>/stat): on a loaded machine the CPU figure is the steadier estimate of what
scraping costs a CPU-bound broker.

``--console`` adds a third mode, "console": the polling of a console page open on the
topic being written, with live tail on, replayed from a child process (the page's own
requests: /api/topics every 3 s to find the topic, /api/topics/<t> every 3 s, the tail
/api/topics/<t>/partitions/0/messages?from=offset every second). Replayed rather than a
browser, whose rendering would take the broker's CPU on a 2-core machine.

``--console-idle S`` measures the console itself on an idle broker: each page's load
time in headless Chromium (Debian's, through Playwright; navigation to the page's data
drawn), then the broker's CPU over S seconds with the overview page open (it polls) and
S seconds with no page.

``--topics N`` first creates N extra topics of ``--extra-partitions`` partitions each
(with one record each) so that a scrape has many partitions to report.

    python benchmarks/http_overhead.py [--sizes 100] [--partitions 1,3] [--repeat 5]
        [--console] [--console-idle 30]

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
import time
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
CONTROL = """
import json, os, sys, threading, time, urllib.parse, urllib.request
on = threading.Event()
def control():
    for line in sys.stdin:
        on.set() if line.strip() == "on" else on.clear()
    os._exit(0)
threading.Thread(target=control, daemon=True).start()
"""
SCRAPER = (
    CONTROL
    + """
url, interval = sys.argv[1], float(sys.argv[2])
while True:
    on.wait()
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as resp:
        size = len(resp.read())
    print(time.perf_counter() - started, size, flush=True)
    time.sleep(interval)
"""
)


# A console page open on the topic being written, live tail on: its requests, replayed.
CONSOLE = (
    CONTROL
    + """
base = sys.argv[1]
def get(path):
    started = time.perf_counter()
    with urllib.request.urlopen(base + path, timeout=30) as resp:
        body = resp.read()
    print(time.perf_counter() - started, len(body), flush=True)
    return json.loads(body)
topic, offset, tick = None, None, 0
while True:
    on.wait()
    try:
        if tick % 3 == 0:
            names = [t["name"] for t in get("/api/topics")["topics"]]
            names = [n for n in names if n.startswith("bench-")]
            if topic not in names:
                topic, offset = (names[0] if names else None), None
            if topic:
                get("/api/topics/" + urllib.parse.quote(topic))
        if topic:
            query = "from=end&limit=50"
            if offset is not None:
                query = f"from=offset&offset={offset}&limit=500"
            tail = f"/api/topics/{urllib.parse.quote(topic)}/partitions/0/messages?{query}"
            offset = get(tail)["next_offset"]
    except OSError:
        topic, offset = None, None  # the topic went: look again
    tick += 1
    time.sleep(1)
"""
)


class Scraper:
    """GET /metrics every `interval` seconds from a child process (what Prometheus
    does) while `scraping()`; `times` and `sizes` of the scrapes once closed. With
    `script=CONSOLE`, the console page's requests instead (`url` the HTTP base)."""

    def __init__(self, url: str, interval: float, script: str = SCRAPER) -> None:
        self.times: list[float] = []
        self.sizes: list[int] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script, url, str(interval)],
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
    p.add_argument("--console", action="store_true", help="also run with a console page open")
    p.add_argument(
        "--console-idle", type=float, default=0, help="seconds of idle CPU per console case"
    )
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
    base = f"http://{pc.HOST}:{http_port}"
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; scrape every {args.interval}s")
    workdir = Path(tempfile.mkdtemp(prefix="kc-http-bench-"))
    broker = pc.start(spec, workdir)
    pollers: dict[str, Scraper] = {}
    try:
        if args.topics:
            extra_topics(broker.bootstrap, args.topics, args.extra_partitions)
        if args.console_idle:
            console_idle(broker, base, args.console_idle)
        pc.run_once(broker, pc.Workload(100, 2_000, 1, "1"))  # warm-up
        pollers["scraped"] = Scraper(base + "/metrics", args.interval)
        if args.console:
            pollers["console"] = Scraper(base, 1.0, CONSOLE)
        modes = ["none", *pollers]
        cpu_totals = dict.fromkeys(modes, 0.0)
        for size in [pc.parse_size(s) for s in args.sizes.split(",")]:
            for partitions in [int(x) for x in args.partitions.split(",")]:
                for acks in args.acks.split(","):
                    n = args.messages or pc.default_messages(size)
                    w = pc.Workload(size, n, partitions, acks)
                    rates: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
                    cpu: dict[str, list[float]] = {m: [] for m in modes}
                    for rep in range(args.repeat):
                        order = modes[rep % len(modes) :] + modes[: rep % len(modes)]
                        for mode in order:
                            cpu_before = cpu_seconds(broker.proc.pid)
                            if mode in pollers:
                                pollers[mode].set(True)
                            sample = pc.run_once(broker, w)
                            if mode in pollers:
                                pollers[mode].set(False)
                            used = cpu_seconds(broker.proc.pid) - cpu_before
                            cpu_totals[mode] += used
                            cpu[mode].append(used / n)
                            rates[mode].append((n / sample.produce_s, n / sample.consume_s))
                    report(w, args.repeat, rates, cpu)
        for mode, poller in pollers.items():
            poller.close()
            what = "scrape" if mode == "scraped" else "console request"
            if poller.times:
                per = (cpu_totals[mode] - cpu_totals["none"]) / len(poller.times)
                print(
                    f"{mode}: {len(poller.times)} {what}s, median "
                    f"{statistics.median(poller.times) * 1e3:.1f} ms, max "
                    f"{max(poller.times) * 1e3:.1f} ms, {statistics.median(poller.sizes):,.0f} "
                    f"bytes; broker CPU per {what} ({mode} runs - runs without, / {what}s): "
                    f"{per * 1e3:.1f} ms"
                )
    finally:
        for poller in pollers.values():
            if poller.proc.poll() is None:
                poller.proc.kill()
        pc.stop(broker)
    return 0


def report(w, repeat: int, rates: dict, cpu: dict) -> None:
    """Medians per mode, and each mode against none."""
    print(f"== {w.label()} (median of {repeat})")
    med = {m: [statistics.median(r[i] for r in rates[m]) for i in (0, 1)] for m in rates}
    cpu_med = {m: statistics.median(cpu[m]) for m in cpu}
    none = med["none"]
    for mode, (produce_rate, consume_rate) in med.items():
        line = f"   {mode:<9} produce {produce_rate:>10,.0f} msg/s  consume "
        line += f"{consume_rate:>10,.0f} msg/s"
        line += f"  broker CPU/msg {cpu_med[mode] * 1e6:6.2f} us"
        if mode != "none":
            line += (
                f"  ({produce_rate / none[0]:.3f}x, {consume_rate / none[1]:.3f}x,"
                f" CPU {cpu_med[mode] / cpu_med['none']:.3f}x)"
            )
        print(line)


def console_idle(broker, base: str, seconds: float) -> None:
    """Each console page's load time in headless Chromium, then the broker's CPU while
    idle with the overview page open (polling) and with no page."""
    from playwright.sync_api import sync_playwright

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = f"console-{uuid.uuid4().hex[:6]}"
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(60)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(200):
        producer.produce(topic, b'{"n": %d}' % i, partition=i % 3)
    producer.flush(60)
    pages = {
        "overview": ("#/", "#brokers"),
        "topics": ("#/topics", "#topics"),
        "topic": (f"#/topics/{topic}", "#message-table"),
        "groups": ("#/groups", "#groups"),
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        page = browser.new_page()
        for name, (route, drawn) in pages.items():
            times = []
            for _ in range(5):
                page.goto("about:blank")
                started = time.perf_counter()
                page.goto(f"{base}/{route}")
                page.wait_for_selector(drawn)
                times.append(time.perf_counter() - started)
            print(f"page load {name:<9} median {statistics.median(times) * 1e3:6.1f} ms (of 5)")
        page.goto(f"{base}/#/")
        page.wait_for_selector("#brokers")
        before = cpu_seconds(broker.proc.pid)
        time.sleep(seconds)
        with_page = cpu_seconds(broker.proc.pid) - before
        page.goto("about:blank")
        browser.close()
    before = cpu_seconds(broker.proc.pid)
    time.sleep(seconds)
    without = cpu_seconds(broker.proc.pid) - before
    print(
        f"idle broker CPU over {seconds:g} s: {with_page / seconds * 100:.2f} % of a core with the "
        f"overview page open, {without / seconds * 100:.2f} % with none"
    )


if __name__ == "__main__":
    sys.exit(main())
