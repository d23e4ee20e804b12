"""`kafka-compat serve`'s command line as a user meets it: a bad argument is reported
with serve's own usage (the fast start path builds only serve's parser), `--help` and
an unknown command list every command, a Kafka listener on a taken port stops start-up
with a message naming the listener and its address, and --host, --port and
--advertised-host apply to listeners given by --override."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import pytest
from confluent_kafka.admin import AdminClient

from kafka_compat import cli
from kafka_compat.config import load_broker_config
from tests.listening import wait_listening

GUARD_S = 60  # a hang guard, never a timing


def kafka_compat(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kafka_compat", *argv],
        capture_output=True,
        text=True,
        timeout=GUARD_S,
    )


def test_a_bad_serve_argument_prints_serves_usage_and_names_it():
    done = kafka_compat("serve", "--bogus")
    assert done.returncode == 2
    assert done.stderr.startswith("usage: kafka-compat serve [-h] [--config CONFIG]")
    assert done.stderr.splitlines()[-1] == (
        "kafka-compat serve: error: unrecognized arguments: --bogus"
    )
    assert done.stdout == ""


def test_an_unknown_argument_of_a_nested_tool_command_gets_that_commands_usage(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["transactions", "list", "--bogus", "x"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: kafka-compat transactions list [-h]")
    assert err.splitlines()[-1] == (
        "kafka-compat transactions list: error: unrecognized arguments: --bogus x"
    )


COMMANDS = "{serve,topics,configs,groups,produce,consume,offsets,dump-log,transactions,users,"


def test_help_and_an_unknown_command_list_every_command():
    done = kafka_compat("--help")
    assert done.returncode == 0 and COMMANDS in done.stdout
    done = kafka_compat("bogus")
    assert done.returncode == 2 and COMMANDS in done.stderr
    assert "invalid choice: 'bogus'" in done.stderr


@pytest.mark.parametrize("listener", ["PLAINTEXT", "INTERNAL"])
def test_a_taken_listener_port_stops_start_up_naming_the_listener(tmp_path, listener):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        if listener == "PLAINTEXT":  # the first listener, moved by --port
            where = ["--port", str(port)]
        else:  # another one, from --override
            where = [
                *("--override", f"listeners=PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:{port}"),
                *(
                    "--override",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
                ),
            ]
        done = kafka_compat(
            "serve", *where, *("--data-dir", str(tmp_path / "data"), "--http-port", "0")
        )
    assert done.returncode == 1
    assert f"kafka-compat: listener {listener}: 127.0.0.1:{port} is already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_advertised_host_applies_to_listeners_given_by_override(tmp_path):
    """--advertised-host moves the first listener's advertised address, as an
    advertised.listeners entry would, also when the listeners come from --override (the
    port stays the one it listens on); the other listeners keep theirs."""
    log_path = tmp_path / "broker.log"
    command = [sys.executable, "-m", "kafka_compat", "serve", "--advertised-host", "localhost"]
    command += ["--data-dir", str(tmp_path / "data"), "--http-port", "0"]
    command += ["--override", "listeners=EXTERNAL://127.0.0.1:0,INTERNAL://127.0.0.1:0"]
    command += [
        "--override",
        "listener.security.protocol.map=EXTERNAL:PLAINTEXT,INTERNAL:PLAINTEXT",
    ]
    command += ["--override", "inter.broker.listener.name=INTERNAL"]
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        port = wait_listening(proc, log_path, 0)
        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"})
        [broker] = admin.list_topics(timeout=GUARD_S).brokers.values()
        assert (broker.host, broker.port) == ("localhost", port)
        internal = re.search(r"listener INTERNAL \(PLAINTEXT\) on 127\.0\.0\.1:(\d+), "
                             r"advertised (\S+):(\d+)", log_path.read_text())  # fmt: skip
        assert internal is not None and internal.group(2, 3) == ("127.0.0.1", internal[1])
    finally:
        proc.terminate()
        proc.wait(GUARD_S)


def test_advertised_flags_follow_the_listener_that_host_and_port_move(tmp_path):
    def advertised(*argv: str) -> str:
        args = cli.build_parser("serve").parse_args(["serve", *argv])
        base = load_broker_config(args.config, cli.override_items(args))
        return cli._serve_overrides(args, base)["advertised.listeners"]

    assert advertised("--port", "19092", "--advertised-host", "kafka.example") == (
        "PLAINTEXT://kafka.example:19092"
    )
    # A wildcard is not an address to give clients: 127.0.0.1, as without the flag.
    assert advertised("--host", "0.0.0.0", "--advertised-port", "29092") == (
        "PLAINTEXT://127.0.0.1:29092"
    )
    # The file's advertised.listeners naming the listener is where the flags start from.
    properties = tmp_path / "server.properties"
    properties.write_text("advertised.listeners=PLAINTEXT://a.example:7000\n")
    config = ("--config", str(properties))
    assert advertised(*config, "--port", "19092", "--advertised-port", "7001") == (
        "PLAINTEXT://a.example:7001"
    )


def test_host_and_port_move_the_first_of_the_listeners_given_by_override():
    override = ["--override", "listeners=EXTERNAL://127.0.0.1:0,INTERNAL://127.0.0.1:0"]
    override += [
        "--override",
        "listener.security.protocol.map=EXTERNAL:PLAINTEXT,INTERNAL:PLAINTEXT",
    ]
    override += ["--override", "inter.broker.listener.name=INTERNAL"]
    args = cli.build_parser("serve").parse_args(
        ["serve", *override, "--host", "0.0.0.0", "--port", "19092"]
    )
    overrides = cli._serve_overrides(args, load_broker_config(None, cli.override_items(args)))
    assert overrides["listeners"] == "EXTERNAL://0.0.0.0:19092,INTERNAL://127.0.0.1:0"
    assert overrides["inter.broker.listener.name"] == "INTERNAL"  # other overrides kept
