"""What `./dev` installs for the tests and some of them need: kcat (apt), java with
Kafka 3.9's tools (compat-tests/kafka-tools, resolved by Maven), node with KafkaJS
(compat-tests/kafkajs, npm). A test that needs one calls the function here first: when
it is missing the test fails saying how to get it. It never skips, as a skip in CI
would hide a broken install."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS_CLASSPATH = ROOT / "compat-tests" / "kafka-tools" / "target" / "classpath.txt"
KAFKAJS = ROOT / "compat-tests" / "kafkajs" / "node_modules" / "kafkajs"


def kcat() -> str:
    """kcat's path."""
    path = shutil.which("kcat") or shutil.which("kafkacat")
    if path is None:
        pytest.fail("kcat is not installed: `./dev test` installs it (apt package kcat)")
    return path


def kafka_tools_classpath() -> Path:
    """The classpath file of Kafka's tools (java is on the PATH too)."""
    if shutil.which("java") is None or not TOOLS_CLASSPATH.is_file():
        pytest.fail("needs java and compat-tests/kafka-tools resolved: `./dev test` installs them")
    return TOOLS_CLASSPATH


def kafkajs() -> Path:
    """The KafkaJS package directory (node is on the PATH too)."""
    if shutil.which("node") is None or not KAFKAJS.is_dir():
        pytest.fail("needs node and compat-tests/kafkajs installed: `./dev test` does it")
    return KAFKAJS
