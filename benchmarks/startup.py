"""Start-up time: from exec of `kafka-compat serve` to its first ApiVersions answer.

Each run starts the broker on a free port with a fresh data dir (a path that does not
exist yet, inside a new temp dir), connects as soon as the port accepts, sends an
ApiVersions v3 request and stops the clock when the whole response is in (error code
0 checked), and reads the CPU time the broker used by then (/proc/<pid>/stat, 10 ms
ticks: less sensitive to other load than the wall clock). The process then idles
``--idle`` seconds and its resident set size (VmRSS) is read, then it is stopped
with SIGTERM (SIGKILL after 15 s). Each round also times a floor, the same Python
starting, importing trio and exiting: what any Trio broker pays first.

``--first-requests`` also times, on a new connection right after that answer, what a
client's first use of the fresh broker costs: Metadata, CreateTopics (one partition),
Produce (one batch, acks=1), Fetch of that batch and a consumer group's FindCoordinator
(the group coordinator starts and creates __consumer_offsets), each request's round
trip on its own (work the broker defers from start-up, such as loading a handler
module, compiling a codec or starting a coordinator, lands here).

Several commands can be compared in one invocation (``--cmd``, repeatable); their runs
are interleaved round-robin so machine noise falls on all of them. The report gives
the median, min and max of ``--runs`` runs per command, the median idle RSS, and the
load average before and after (the machines here are shared: compare within a run).

    python benchmarks/startup.py                               # python -m kafka_compat
    python benchmarks/startup.py --cmd "python -m kafka_compat serve" \
        --cmd ".venv/bin/kafka-compat serve" --runs 10

``--host/--port/--data-dir`` are appended to every command. Bytecode caching is on
(PYTHONDONTWRITEBYTECODE is removed from the brokers' environment, as pip compiles
an installed wheel's modules) and each command gets one untimed warm-up run, so the
figures are those of an installed broker. ``--keep-environment`` leaves
PYTHONDONTWRITEBYTECODE as the environment has it: with it set, a checkout that has
no __pycache__ yet compiles its modules from source at every start (point ``--cmd``
at a fresh copy, e.g. from ``git archive``, to measure that). Not part of the test
suite: it prints figures and asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
DEADLINE_S = 60.0
STOP_TIMEOUT_S = 15.0

# ApiVersions v3: request header v2 (api key, version, correlation id, client id,
# empty tagged fields) and a body of two compact strings and empty tagged fields.
_CLIENT = b"startup-bench"
_HEADER = struct.pack(">hhih", 18, 3, 1, len(_CLIENT)) + _CLIENT + b"\x00"
_BODY = bytes([len(_CLIENT) + 1]) + _CLIENT + bytes([2]) + b"1" + b"\x00"
API_VERSIONS_V3 = struct.pack(">i", len(_HEADER) + len(_BODY)) + _HEADER + _BODY


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(n)
        if not chunk:
            raise ConnectionError("broker closed the connection")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def ask_api_versions(port: int, deadline: float) -> None:
    """Connect (retrying until the port accepts), send ApiVersions v3, read the answer."""
    while True:
        try:
            sock = socket.create_connection((HOST, port), timeout=DEADLINE_S)
            break
        except ConnectionRefusedError:
            if time.perf_counter() > deadline:
                raise TimeoutError("the broker did not listen in time") from None
            time.sleep(0.001)
    with sock:
        sock.sendall(API_VERSIONS_V3)
        (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
        body = _recv_exactly(sock, size)
    # Response header v0 (correlation id), then the body's error code.
    correlation_id, error_code = struct.unpack_from(">ih", body)
    if correlation_id != 1 or error_code != 0:
        raise RuntimeError(f"ApiVersions answered correlation {correlation_id}, error {error_code}")


TOPIC = "startup-bench"
FIRST_REQUESTS = ("Metadata", "CreateTopics", "Produce", "Fetch", "FindCoordinator")


def _first_requests() -> list[tuple[int, int, bytes]]:
    """(api key, version, framed request) of FIRST_REQUESTS, encoded by our codec."""
    from protocol import messages
    from protocol.headers import encode_request_header
    from protocol.records import build_batch

    batch = build_batch([(b"key", b"value" * 20, (), int(time.time() * 1000))])
    produce = messages.ProduceRequest
    fetch = messages.FetchRequest
    bodies = [
        (3, 12, messages.MetadataRequest(topics=[], allow_auto_topic_creation=False)),
        (
            19,
            7,
            messages.CreateTopicsRequest(
                topics=[
                    messages.CreateTopicsRequest.CreatableTopic(
                        name=TOPIC, num_partitions=1, replication_factor=1
                    )
                ],
                timeout_ms=30000,
            ),
        ),
        (
            0,
            9,
            produce(
                acks=1,
                timeout_ms=30000,
                topic_data=[
                    produce.TopicProduceData(
                        name=TOPIC,
                        partition_data=[produce.PartitionProduceData(index=0, records=batch)],
                    )
                ],
            ),
        ),
        (
            1,
            12,
            fetch(
                max_wait_ms=0,
                min_bytes=1,
                max_bytes=1 << 20,
                topics=[
                    fetch.FetchTopic(
                        topic=TOPIC,
                        partitions=[
                            fetch.FetchPartition(
                                partition=0, fetch_offset=0, partition_max_bytes=1 << 20
                            )
                        ],
                    )
                ],
            ),
        ),
        # A consumer group's first request: the group coordinator starts (and creates
        # __consumer_offsets) on it.
        (10, 4, messages.FindCoordinatorRequest(key_type=0, coordinator_keys=[TOPIC])),
    ]
    framed = []
    for correlation_id, (key, version, body) in enumerate(bodies, start=2):
        data = encode_request_header(key, version, correlation_id, "startup-bench")
        data += messages.encode_request(key, version, body)
        framed.append((key, version, struct.pack(">i", len(data)) + data))
    return framed


def time_first_requests(port: int, requests: list[tuple[int, int, bytes]]) -> list[float]:
    """Each request's round trip in seconds, in order, on one new connection; every
    answer is checked for a top-level or partition error."""
    from protocol import messages
    from protocol.headers import decode_response_header

    times = []
    with socket.create_connection((HOST, port), timeout=DEADLINE_S) as sock:
        for key, version, data in requests:
            start = time.perf_counter()
            sock.sendall(data)
            (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
            body = _recv_exactly(sock, size)
            times.append(time.perf_counter() - start)
            _, offset = decode_response_header(body, messages.is_flexible(key, version))
            response = messages.decode_response(key, version, memoryview(body)[offset:])
            errors = [getattr(response, "error_code", 0)]
            errors += [c.error_code for c in getattr(response, "coordinators", [])]
            for topic in getattr(response, "topics", None) or getattr(response, "responses", []):
                errors.append(getattr(topic, "error_code", 0))
                for part in getattr(topic, "partitions", None) or getattr(
                    topic, "partition_responses", []
                ):
                    errors.append(getattr(part, "error_code", 0))
            if any(errors):
                raise RuntimeError(f"api key {key} answered errors {errors}")
    return times


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (10 ms ticks): less sensitive to
    other load than the wall clock, though a busy VM inflates it too."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def one_run(
    cmd: list[str],
    idle_s: float,
    http: bool = False,
    first: list[tuple[int, int, bytes]] | None = None,
) -> tuple[float, float, int, list[float]]:
    """(seconds from exec to the ApiVersions answer, CPU seconds used by then, idle
    RSS in KiB, the `first` requests' round trips). With ``http`` the broker's HTTP
    listener is on (a free port), as `serve` has it by default; it starts after the
    Kafka listener answers."""
    with tempfile.TemporaryDirectory(prefix="startup-bench-") as tmp:
        port = free_port()
        data_dir = Path(tmp) / "data"  # does not exist yet: the broker creates it
        argv = [*cmd, "--host", HOST, "--port", str(port), "--data-dir", str(data_dir)]
        # Never the default 9644: another broker on this machine may have it.
        argv += ["--http-port", str(free_port() if http else 0)]
        with open(Path(tmp) / "broker.log", "wb") as log:
            start = time.perf_counter()
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
            try:
                ask_api_versions(port, start + DEADLINE_S)
                elapsed = time.perf_counter() - start
                cpu = cpu_seconds(proc.pid)
                first_times = time_first_requests(port, first) if first else []
                time.sleep(idle_s)
                if proc.poll() is not None:
                    raise RuntimeError(f"broker exited with {proc.returncode}")
                rss = rss_kib(proc.pid)
            except BaseException:
                stop(proc)
                sys.stderr.write((Path(tmp) / "broker.log").read_text(errors="replace")[-3000:])
                raise
            stop(proc)
    return elapsed, cpu, rss, first_times


FLOOR_CMD = "python -c 'import trio'"


def time_floor(python: str) -> tuple[float, float]:
    """(wall, CPU) seconds for the same Python to start, import trio and exit: what
    any Trio broker pays before its own code runs (a reference for the figures)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([python, "-c", "import trio"], check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def default_cmd() -> str:
    return f"{shlex.quote(sys.executable)} -m kafka_compat serve"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cmd",
        action="append",
        default=[],
        help="command prefix to start a broker (repeatable); default: python -m kafka_compat",
    )
    parser.add_argument("--runs", type=int, default=10, help="runs per command (default 10)")
    parser.add_argument("--idle", type=float, default=1.0, help="seconds idle before RSS")
    parser.add_argument(
        "--keep-environment",
        action="store_true",
        help="leave PYTHONDONTWRITEBYTECODE as it is in the environment",
    )
    parser.add_argument(
        "--http",
        choices=("off", "on", "both"),
        default="off",
        help="the HTTP listener: off (--http-port 0), on (a free port, as `serve` "
        "has it by default), or both, as two interleaved variants of each command",
    )
    parser.add_argument(
        "--first-requests",
        action="store_true",
        help="also time a client's first Metadata, CreateTopics, Produce, Fetch and "
        "FindCoordinator",
    )
    parser.add_argument(
        "--installed",
        action="store_true",
        help="run the package the commands' environment has installed (e.g. a wheel in "
        "another venv), not this checkout's; the floor uses --floor-python",
    )
    parser.add_argument(
        "--floor-python",
        default=sys.executable,
        help="the Python the floor runs (default: this one); give the installed "
        "broker's venv Python with --installed",
    )
    args = parser.parse_args(argv)
    first = _first_requests() if args.first_requests else None
    if not args.keep_environment:
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    cmds = args.cmd or [default_cmd()]
    env_path = os.environ.get("PYTHONPATH", "")
    if not args.installed and str(REPO) not in env_path.split(os.pathsep):
        # Run this checkout's package, not whatever the venv has installed.
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env_path) if p)
    http_modes = {"off": (False,), "on": (True,), "both": (False, True)}[args.http]
    variants = [(c, h) for c in cmds for h in http_modes]
    label = {v: v[0] + ("  [http on]" if v[1] else "") for v in variants}
    load_before = os.getloadavg()
    samples: dict[tuple[str, bool], list[tuple[float, float, int, list[float]]]] = {
        v: [] for v in variants
    }
    floor: list[tuple[float, float]] = []
    for c, h in variants:  # untimed: writes the bytecode cache, warms the page cache
        one_run(shlex.split(c), 0.0, h, first)
    for i in range(args.runs):
        k = i % len(variants)
        for v in variants[k:] + variants[:k]:  # rotating order
            elapsed, cpu, rss, first_times = one_run(shlex.split(v[0]), args.idle, v[1], first)
            samples[v].append((elapsed, cpu, rss, first_times))
            print(
                f"run {i + 1:2d}  {elapsed * 1000:7.1f} ms  cpu {cpu * 1000:5.0f} ms  "
                f"{rss / 1024:6.1f} MiB  {label[v]}"
            )
        floor.append(time_floor(args.floor_python))
    load_after = os.getloadavg()
    print(
        f"\nload average before {load_before[0]:.2f} {load_before[1]:.2f}, "
        f"after {load_after[0]:.2f} {load_after[1]:.2f}; {os.cpu_count()} cores"
    )
    print(f"{'median ms':>10} {'min':>7} {'max':>7} {'CPU ms':>7} {'idle RSS MiB':>13}  command")
    walls = [w * 1000 for w, _ in floor]
    cpus = [c * 1000 for _, c in floor]
    print(
        f"{statistics.median(walls):10.1f} {min(walls):7.1f} {max(walls):7.1f} "
        f"{statistics.median(cpus):7.0f} {'':13}  floor: {FLOOR_CMD} (exec to exit)"
    )
    for v, runs in samples.items():
        times = [t * 1000 for t, _, _, _ in runs]
        cpu = statistics.median(u for _, u, _, _ in runs) * 1000
        rss = statistics.median(r for _, _, r, _ in runs) / 1024
        print(
            f"{statistics.median(times):10.1f} {min(times):7.1f} {max(times):7.1f} "
            f"{cpu:7.0f} {rss:13.1f}  {label[v]}"
        )
    if first:
        print("\nfirst requests after start-up, median ms of round trip (min)")
        print("".join(f"{name:>16}" for name in FIRST_REQUESTS) + f"{'Produce+Fetch':>16}  command")
        for v, runs in samples.items():
            columns = [[f[i] * 1000 for *_, f in runs] for i in range(len(FIRST_REQUESTS))]
            columns.append([(f[2] + f[3]) * 1000 for *_, f in runs])
            cells = [f"{statistics.median(c):7.1f} ({min(c):5.1f})" for c in columns]
            print("".join(f"{cell:>16}" for cell in cells) + f"  {label[v]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
