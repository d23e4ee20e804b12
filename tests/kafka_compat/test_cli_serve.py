"""`kafka-compat serve`'s command line as a user meets it: a bad argument is reported
with serve's own usage (the fast start path builds only serve's parser), `--help` and
an unknown command list every command, and a Kafka listener on a taken port stops
start-up with a message naming the listener and its address."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from kafka_compat import cli

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


def test_a_taken_listener_port_stops_start_up_naming_the_listener(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = kafka_compat(
            "serve",
            *("--port", str(port), "--data-dir", str(tmp_path / "data"), "--http-port", "0"),
        )
    assert done.returncode == 1
    assert f"kafka-compat: listener PLAINTEXT: 127.0.0.1:{port} is already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_taken_port_of_another_listener_names_that_listener(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = kafka_compat(
            "serve",
            *("--data-dir", str(tmp_path / "data"), "--http-port", "0"),
            *("--override", f"listeners=PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:{port}"),
            *(
                "--override",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
            ),
        )
    assert done.returncode == 1
    assert f"kafka-compat: listener INTERNAL: 127.0.0.1:{port} is already in use" in done.stderr
    assert "Traceback" not in done.stderr
