"""Waiting for a broker process to listen: the port it binds is read from its log.

Brokers are started with --port 0 (or the port of their previous run), so the
kernel picks a free port at bind time; a port picked by the test and bound later
can be taken meanwhile, and a connect-probe would then find whatever holds it.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

START_TIMEOUT = 60
_LISTENING = re.compile(rb"kafka-compat broker \d+ listening on [\d.]+:(\d+)")


def wait_listening(proc: subprocess.Popen, log_path: Path, since: int) -> int:
    """The port the broker says it listens on, from its log after offset `since`
    (raises if `proc` exits first, e.g. when the port of its previous run is taken)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        with open(log_path, "rb") as log_file:
            log_file.seek(since)
            found = _LISTENING.search(log_file.read())
        if found:
            return int(found.group(1))
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited: {log_path.read_text()[-4000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"broker did not listen: {log_path.read_text()[-4000:]}")
