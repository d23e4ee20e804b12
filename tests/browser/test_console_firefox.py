"""The console in Firefox: Debian's firefox-esr driven over WebDriver BiDi by
puppeteer-core (tests/browser/firefox/, installed by ./dev with npm ci; no browser
download). Playwright's own Firefox needs its patched build, and its BiDi channel asks
firefox-esr 153 for commands it does not have yet, so Node drives this one.

One script run: a client's message shown (JSON pretty-printed), a message produced
from the page and read by a client, a group's lag, a screenshot."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from tests.browser.console_page import ARTIFACTS, SAVED

SCRIPT = Path(__file__).parent / "firefox" / "console.mjs"
GUARD_S = 120.0


def test_the_console_works_in_firefox(console_broker):
    topic, group = f"firefox-{uuid.uuid4().hex[:8]}", f"firefox-group-{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": console_broker.bootstrap})
    producer.produce(topic, key=b"k", value=b'{"browser": "firefox", "n": [1, 2]}')
    producer.produce(topic, value=b"second")
    assert producer.flush(GUARD_S) == 0
    committer = Consumer({"bootstrap.servers": console_broker.bootstrap, "group.id": group})
    committer.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
    committer.close()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "console-firefox.png"
    url = f"http://127.0.0.1:{console_broker.broker.http_port}/"
    done = subprocess.run(
        ["node", str(SCRIPT), url, topic, group, str(shot)],
        capture_output=True,
        text=True,
        timeout=GUARD_S,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    SAVED.append(shot)
    print(f"screenshot: {shot} ({result['version']})")

    assert result["errors"] == []
    assert result["value_format"] == "json"
    assert json.loads(result["value_text"]) == {"browser": "firefox", "n": [1, 2]}
    assert "\n" in result["value_text"]  # pretty-printed
    assert "offset 2" in result["produced"]
    assert result["total_lag"] == "2"  # committed 1; log end 3 with the page's message

    consumer = Consumer({"bootstrap.servers": console_broker.bootstrap, "group.id": group + "-r"})
    consumer.assign([TopicPartition(topic, 0, 2)])
    try:
        message = consumer.poll(GUARD_S)
        assert message is not None and message.error() is None
        assert (message.key(), message.value()) == (b"from-firefox", b"typed in Firefox")
    finally:
        consumer.close()
