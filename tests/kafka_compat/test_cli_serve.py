"""`kafka-compat serve`'s command line as a user meets it: a bad argument is reported
with serve's own usage (the fast start path builds only serve's parser), `--help` and
an unknown command list every command."""

from __future__ import annotations

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
