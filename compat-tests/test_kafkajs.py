"""KafkaJS 2.2.4 (npm, pinned in compat-tests/kafkajs/package-lock.json) against a
running kafka-compat broker. `./dev test` installs the package with `npm ci`; node runs
compat-tests/kafkajs/transactions.js, which commits, aborts and commits again (the last
with offsets sent to the transaction), then reads the topic read_committed (KafkaJS's
default) and prints what it saw; and security.js, every security mode of
tests/security/matrix.py's broker (TLS, client certificates, SASL)."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.security.matrix import MODES, Mode, SecureBroker

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


# ---- over TLS and SASL (tests/security/matrix.py's broker) ----
# KafkaJS 2.2.4 does PLAIN, SCRAM-SHA-256/512 and OAUTHBEARER (its oauthBearerProvider
# returns the token: an unsecured one or a signed JWT), TLS with a client certificate.

SECURE_MODES = list(MODES)


def kafkajs_case(broker: SecureBroker, name: str, mode: Mode, password: str | None = None):
    case: dict = {
        "name": name,
        "bootstrap": broker.address(mode.listener),
        "topic": f"kafkajs-{name}-{uuid.uuid4().hex[:6]}",
        "count": 5,
        "ssl": None,
        "sasl": None,
    }
    if mode.tls:
        case["ssl"] = {"ca": str(broker.certs.ca)}
    if mode.protocol == "SSL":
        case["ssl"].update(cert=str(broker.certs.client_cert), key=str(broker.certs.client_key))
    if mode.mechanism == "OAUTHBEARER":
        case["sasl"] = {"mechanism": "oauthbearer", "token": broker.token(mode)}
    elif mode.mechanism:
        case["sasl"] = {
            "mechanism": mode.mechanism.lower(),
            "username": mode.username,
            "password": password or mode.password,
        }
    return case


@pytest.fixture(scope="module")
def kafkajs_secure(secure_broker: SecureBroker) -> dict:
    """Every mode's case and one wrong password, run side by side in one node process."""
    cases = [kafkajs_case(secure_broker, name, MODES[name]) for name in SECURE_MODES]
    wrong = kafkajs_case(secure_broker, "wrong-password", MODES["SASL_SSL-SCRAM-SHA-512"], "nope")
    wrong["retries"] = 0
    assert NODE is not None, "node is not installed"
    done = subprocess.run(
        [NODE, str(KAFKAJS / "security.js")],
        input=json.dumps([*cases, wrong]),
        capture_output=True,
        text=True,
        timeout=180,  # failure guard, not a timing
    )
    assert done.returncode == 0, f"security.js failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", SECURE_MODES)
def test_kafkajs_over_tls_and_sasl(kafkajs_secure, mode):
    assert kafkajs_secure[mode] == {"ok": True, "values": [f"m{i}" for i in range(5)]}


def test_kafkajs_wrong_password(kafkajs_secure):
    got = kafkajs_secure["wrong-password"]
    assert got["ok"] is False
    assert got["error"] == "KafkaJSSASLAuthenticationError", got
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in got["message"]
