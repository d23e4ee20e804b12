"""KafkaJS 2.2.4 (npm, pinned in compat-tests/kafkajs/package-lock.json) against a
running kafka-compat broker: transactions. `./dev test` installs the package with
`npm ci`; node runs compat-tests/kafkajs/transactions.js, which commits, aborts and
commits again (the last with offsets sent to the transaction), then reads the topic
read_committed (KafkaJS's default) and prints what it saw."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

KAFKAJS = Path(__file__).resolve().parent / "kafkajs"
NODE = shutil.which("node")


def run_script(script: str, *args: str) -> dict:
    assert NODE is not None, "node is not installed"
    assert (KAFKAJS / "node_modules" / "kafkajs").is_dir(), "run `./dev test`: it runs npm ci"
    done = subprocess.run(
        [NODE, str(KAFKAJS / script), *args],
        capture_output=True,
        text=True,
        timeout=180,  # failure guard, not a timing
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_kafkajs_transactions_commit_abort_and_send_offsets(served_broker, topic_name):
    topic = topic_name("kafkajs-txn")
    result = run_script("transactions.js", served_broker.bootstrap, topic, f"{topic}-group")
    # read_committed: the aborted record is never seen, the committed ones in order.
    assert result["seen"] == ["committed-1", "committed-2", "committed-3"]
    # The offset sent with the last transaction became the group's committed offset.
    assert result["committed"] == [[0, "2"]]
