"""The pytest plugin's cost to a test suite: `kafka_broker` ready, a `kafka_topic`.

Each run is a fresh `python -m pytest` process on a small generated test file:
`test_broker(kafka_broker)`, then `test_first_topic(kafka_topic)` and five
`test_topic_N(kafka_topic)` whose bodies call `kafka_topic()` once (a conftest.py
prints each phase's duration). What the fixtures add to a test: for the first one its
setup, the session's broker (its imports, shared with pytest's process, and its
start); for the others setup and call, a topic (on the fresh broker the first
CreateTopics and Metadata compile their codecs on both sides). A second, in-process
measurement splits the broker's readiness into importing trio, importing
kafka_compat.testing (the broker's modules) and `EmbeddedBroker.start()` (data dir,
thread, Trio loop, listener bound).

    python benchmarks/fixture.py --runs 10

Medians over `--runs`; bytecode caching is on (PYTHONDONTWRITEBYTECODE removed, as for
an installed wheel). Prints figures and asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

TOPICS = 5
TEST_FILE = "def test_broker(kafka_broker):\n    pass\n\n\n" + "".join(
    f"def test_{name}(kafka_topic):\n    kafka_topic()\n\n\n"
    for name in ["first_topic", *(f"topic_{i}" for i in range(TOPICS))]
)

# Each test's setup and call times at full precision (--durations prints 10 ms steps).
CONFTEST = """
def pytest_runtest_logreport(report):
    if report.when in ("setup", "call"):
        print(f"\\nPHASE {report.nodeid.split('::')[-1]} {report.duration!r}")
"""

IN_PROCESS = r"""
import sys, time
start = time.perf_counter()
import pytest  # what a test process has loaded before any fixture
base = time.perf_counter()
import trio
t_trio = time.perf_counter()
from kafka_compat.testing import EmbeddedBroker
t_import = time.perf_counter()
broker = EmbeddedBroker().start()
t_start = time.perf_counter()
broker.create_topic()
t_topic = time.perf_counter()
broker.stop()
print(t_trio - base, t_import - t_trio, t_start - t_import, t_topic - t_start)
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def pytest_run(tmp: Path) -> dict[str, float]:
    """One pytest process: each test's setup plus call seconds, by test name."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", str(tmp)],
        cwd=tmp,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-3000:] + done.stderr[-3000:])
    took: dict[str, float] = {}
    for m in re.finditer(r"^PHASE (\S+) (\S+)$", done.stdout, re.M):
        took[m[1]] = took.get(m[1], 0.0) + float(m[2])
    return took


def in_process_run() -> list[float]:
    done = subprocess.run(
        [sys.executable, "-c", IN_PROCESS],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return [float(x) for x in done.stdout.split()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs (default 10)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    setups: list[dict[str, float]] = []
    phases: list[list[float]] = []
    with tempfile.TemporaryDirectory(prefix="fixture-bench-") as tmp:
        (Path(tmp) / "test_fixtures.py").write_text(TEST_FILE)
        (Path(tmp) / "conftest.py").write_text(CONFTEST)
        pytest_run(Path(tmp))  # untimed: writes the bytecode cache
        for i in range(args.runs):
            setups.append(pytest_run(Path(tmp)))
            phases.append(in_process_run())
            s = setups[-1]
            print(
                f"run {i + 1:2d}  kafka_broker {s['test_broker'] * 1000:5.0f} ms  "
                f"first kafka_topic {s['test_first_topic'] * 1000:4.0f} ms  "
                f"fresh kafka_topic {statistics.median(s[f'test_topic_{n}'] for n in range(TOPICS)) * 1000:4.0f} ms"  # noqa: E501
            )
    load_after = os.getloadavg()
    print(
        f"\nload average before {load_before[0]:.2f}, after {load_after[0]:.2f}; "
        f"{os.cpu_count()} cores; medians of {args.runs} runs"
    )

    def med(values) -> str:
        return f"{statistics.median(values) * 1000:6.0f} ms"

    print(f"kafka_broker (the first test)       {med(s['test_broker'] for s in setups)}")
    print(f"kafka_topic on the fresh broker     {med(s['test_first_topic'] for s in setups)}")
    fresh = [s[f"test_topic_{n}"] for s in setups for n in range(TOPICS)]
    print(f"kafka_topic, later tests            {med(fresh)}")
    print("in-process, after `import pytest`:")
    for i, name in enumerate(
        ("import trio", "import kafka_compat.testing", "EmbeddedBroker.start()", "first topic")
    ):
        print(f"  {name:33s} {med(p[i] for p in phases)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
