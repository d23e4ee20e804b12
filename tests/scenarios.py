"""What compat-tests' scenario programs (the Java client, Kafka Streams and the Go
clients' drivers) print: one JSON line per scenario, {"scenario", "ok", "result" or
"error", ...}. Reading them and reporting a scenario that failed in the client."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

Entry = dict[str, Any]


def scenario_lines(stdout: str, stderr: str, client: str | None = None) -> dict[str, Entry]:
    """The program's entries by scenario name, each with the program's stderr; `client`:
    the version every entry must report."""
    results = {}
    for line in stdout.splitlines():
        entry = json.loads(line)
        if client is not None:
            assert entry["client"] == client
        entry["stderr"] = stderr
        results[entry["scenario"]] = entry
    return results


def run_scenarios(command: list[str], what: str, client: str | None = None) -> dict[str, Entry]:
    """Run a scenario program to its end; its entries by scenario name."""
    # The timeout is a failure guard, not a timing (each scenario has its own guard).
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{what} failed:\n{done.stdout}\n{done.stderr}"
    return scenario_lines(done.stdout, done.stderr, client)


def scenario_result(entry: Entry, label: str = "", log_chars: int = 4000) -> Any:
    """The scenario's result, or the test fails with the client's error and log."""
    if not entry["ok"]:
        pytest.fail(
            f"{label or entry['scenario']} failed in the client: {entry['error']}\n"
            f"partial result: {entry.get('result')}\n"
            f"--- client log ---\n{entry['stderr'][-log_chars:]}"
        )
    return entry["result"]
