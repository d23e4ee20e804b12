"""The HTTP listener's configuration: on by default for `serve` at 127.0.0.1:9644,
moved by --http-port or http.listener, off with --http-port 0, and a taken port stops
start-up with a message naming http.listener."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request

import pytest

from kafka_compat.broker import Broker
from kafka_compat.cli import _serve_overrides, build_parser
from kafka_compat.config import BrokerConfig, ConfigError, load_broker_config
from tests.listening import wait_listening

GUARD_S = 60


def serve_overrides(*argv: str, config: str | None = None) -> dict[str, str]:
    args = build_parser().parse_args(["serve", *argv])
    base = load_broker_config(config, {})
    return _serve_overrides(args, base)


def test_serve_turns_the_http_listener_on_at_9644_unless_told_otherwise(tmp_path):
    assert serve_overrides()["http.listener"] == "127.0.0.1:9644"
    assert serve_overrides("--http-port", "9700")["http.listener"] == "127.0.0.1:9700"
    assert serve_overrides("--http-port", "0")["http.listener"] == ""
    properties = tmp_path / "server.properties"
    properties.write_text("http.listener=0.0.0.0:9800\n")
    assert "http.listener" not in serve_overrides(config=str(properties))
    assert serve_overrides("--http-port", "9801", config=str(properties))["http.listener"] == (
        "0.0.0.0:9801"
    )
    properties.write_text("http.listener=\n")  # off in the file stays off
    assert "http.listener" not in serve_overrides(config=str(properties))


def test_an_invalid_http_listener_names_the_key():
    with pytest.raises(ConfigError, match="http.listener"):
        BrokerConfig({"http.listener": "9644"})


def test_a_taken_http_port_stops_start_up_naming_http_listener(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "kafka_compat", "serve", "--port", "0"]
            + ["--data-dir", str(tmp_path / "data"), "--http-port", str(port)],
            capture_output=True,
            text=True,
            timeout=GUARD_S,
        )
    assert done.returncode == 1
    assert "http.listener" in done.stderr and f"127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


async def test_a_taken_http_port_fails_the_embedded_broker_too(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = BrokerConfig(
            {
                "listeners": "PLAINTEXT://127.0.0.1:0",
                "log.dirs": str(tmp_path),
                "http.listener": f"127.0.0.1:{port}",
            }
        )
        with pytest.raises(BaseException) as raised:
            await Broker(config).serve()
    error = raised.value
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    assert isinstance(error, ConfigError) and "http.listener" in str(error)


def test_http_port_0_serves_kafka_without_an_http_listener(tmp_path):
    log_path = tmp_path / "broker.log"
    command = [sys.executable, "-m", "kafka_compat", "serve", "--port", "0", "--http-port", "0"]
    command += ["--data-dir", str(tmp_path / "data")]
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        wait_listening(proc, log_path, 0)
        assert "HTTP listener" not in log_path.read_text()
    finally:
        proc.terminate()
        proc.wait(GUARD_S)


def test_the_http_listener_serves_the_console_and_metrics(broker_factory):
    broker = broker_factory(http_listener="127.0.0.1:0")
    base = f"http://127.0.0.1:{broker.broker.http_port}"
    with urllib.request.urlopen(base + "/", timeout=GUARD_S) as resp:
        page = resp.read().decode()
    assert "kafka-compat console" in page and 'href="/metrics"' in page
    with urllib.request.urlopen(base + "/metrics", timeout=GUARD_S) as resp:
        assert b"kafka_server_replicamanager_partitioncount" in resp.read()


def test_starting_a_broker_imports_no_http_library():
    """The HTTP stack is imported after the Kafka listener answers (fast start-up)."""
    code = (
        "import sys, kafka_compat.broker, kafka_compat.cli; "
        "print(sorted(m for m in ('starlette', 'hypercorn', 'prometheus_client', 'anyio') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr
