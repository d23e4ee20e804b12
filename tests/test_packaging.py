"""The wheel holds everything `kafka-compat serve` and the pytest plugin need: built
from this checkout with `python -m build --wheel` and installed into a fresh venv,
its `kafka-compat` script starts a broker that answers ApiVersions and serves
/metrics, `--version` prints the package metadata's version, and pytest in that venv
runs a test file with the plugin's `kafka_broker` and `kafka_topic` fixtures.

The wheel is built without build isolation (offline), by this env's `build`,
setuptools and wheel (the `test` extras), and installed with `pip install --no-index
--no-deps`; the fresh venv sees the dependencies (and pytest, confluent-kafka)
through a .pth file naming this interpreter's site-packages (installing them from
PyPI is pip's job, not checked here). The venv does not see the checkout, so a
package, module or entry point left out of the wheel fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import sysconfig
import time
import urllib.request
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The console's assets (kafka_compat/http/console/static/), one of each kind.
STATIC = ("/", "/static/style.css", "/static/app.js", "/static/views/topic.js")


def _get_metrics(port: int, deadline: float) -> str:
    """/metrics's body once the HTTP listener (started after the Kafka one) answers."""
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                return r.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _api_versions(port: int, deadline: float) -> int:
    """Send ApiVersions v0 (header v1) once the port accepts; the answer's error code."""
    request = struct.pack(">hhih", 18, 0, 7, 4) + b"test"
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    with sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        data = b""
        while len(data) < 10:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    correlation_id, error_code = struct.unpack_from(">ih", data, 4)
    assert correlation_id == 7
    return error_code


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel of this checkout installed; its bin directory."""
    tmp = tmp_path_factory.mktemp("packaging")
    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources.
    src = tmp / "src"
    for name in ("pyproject.toml", "README.md", "protocol", "storage", "kafka_compat"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy(ROOT / name, src / name)
    dist = tmp / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), "."],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (wheel,) = dist.glob("kafka_compat-*.whl")
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The dependencies, from this interpreter's site-packages (but not the checkout:
    # an editable install of it there is a .pth file this one does not read).
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-index",
            "--no-deps",
            str(wheel),
        ],
        # Not from the checkout: pip would take its kafka_compat.egg-info (an editable
        # install's) for the package already installed, and install nothing.
        cwd=tmp,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    return env_dir / "bin"


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_the_installed_script_serves(installed, tmp_path):
    port, http_port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [
            str(installed / "kafka-compat"),
            "serve",
            "--port",
            str(port),
            "--http-port",
            str(http_port),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        cwd=tmp_path,  # not the checkout: nothing imported from it by accident
        env=_clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _api_versions(port, time.monotonic() + 60) == 0
        where = subprocess.run(
            [
                str(installed / "python"),
                "-c",
                "import kafka_compat, protocol, storage; "
                "print(kafka_compat.__file__, protocol.__file__, storage.__file__)",
            ],
            cwd=tmp_path,
            env=_clean_env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert str(ROOT) not in where  # the installed copies, not the checkout
        # /metrics: the HTTP side's dependencies came with the package.
        assert "kafka_server_brokertopicmetrics" in _get_metrics(http_port, time.monotonic() + 60)
        # The console's page and JS modules are package data in the wheel.
        for path in STATIC:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}{path}", timeout=10) as r:
                assert r.status == 200 and r.read(), path
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr[-3000:]


def test_the_installed_script_prints_its_version(installed, tmp_path):
    result = subprocess.run(
        [str(installed / "kafka-compat"), "--version"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    version = next(
        line.split("=", 1)[1].strip().strip('"')
        for line in (ROOT / "pyproject.toml").read_text().splitlines()
        if line.startswith("version")
    )
    assert result.stdout == f"kafka-compat {version}\n"


# A user's test file: the fixtures, a client round trip, and where the plugin came from.
_PLUGIN_TEST = """
import kafka_compat.pytest_plugin
from confluent_kafka import Consumer, Producer


def test_round_trip(kafka_broker, kafka_topic):
    topic = kafka_topic(partitions=2)
    servers = {"bootstrap.servers": kafka_broker.bootstrap_servers}
    producer = Producer(servers)
    producer.produce(topic, b"hello", partition=1)
    assert producer.flush(30) == 0
    consumer = Consumer({**servers, "group.id": "g", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    try:
        assert consumer.poll(30).value() == b"hello"
    finally:
        consumer.close()
    print("PLUGIN_FILE=" + kafka_compat.pytest_plugin.__file__)
"""


def test_the_installed_pytest_plugin_gives_a_broker_and_topics(installed, tmp_path):
    (tmp_path / "test_user.py").write_text(_PLUGIN_TEST)
    result = subprocess.run(
        [str(installed / "python"), "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout
    plugin_file = result.stdout.split("PLUGIN_FILE=", 1)[1].split()[0]
    assert plugin_file.startswith(str(installed.parent)), plugin_file  # the wheel's copy
