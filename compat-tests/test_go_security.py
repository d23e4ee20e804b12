"""The Go clients over TLS and SASL: franz-go, Sarama (github.com/IBM/sarama) and
segmentio/kafka-go in every mode of tests/security/matrix.py's broker: SASL_SSL with
SCRAM-SHA-256 and -512, SASL_PLAINTEXT with PLAIN, SSL with a client certificate,
OAUTHBEARER over SASL_SSL with an unsecured token and a signed JWT (the clients take the
token as it is; kafka-go has no OAUTHBEARER mechanism, cmd/kafkago brings a small one),
and a wrong password each.

compat-tests/go's programs take -tls-ca/-tls-cert/-tls-key and -sasl-mechanism/
-sasl-user/-sasl-password/-sasl-token (internal/security) and run the `roundtrip`
scenario: five records "m0".."m4" to a topic of their own, read back. Every case runs
as its own process, all at once.
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from tests.security.matrix import MODES, SecureBroker

CLIENTS = ["franz", "sarama", "kafkago"]
CASES = [(client, mode) for client in CLIENTS for mode in MODES]
WRONG = [(client, "wrong-password") for client in CLIENTS]


@pytest.fixture(scope="module")
def go_secure(go_program, secure_broker: SecureBroker) -> dict[tuple[str, str], dict]:
    procs = {}
    for client, mode in [*CASES, *WRONG]:
        if mode == "wrong-password":
            flags = secure_broker.go_flags(MODES["SASL_SSL-SCRAM-SHA-512"], password="nope")
        else:
            flags = secure_broker.go_flags(MODES[mode])
        prefix = f"go-{client}-{mode}-{uuid.uuid4().hex[:6]}"
        procs[client, mode] = subprocess.Popen(
            [str(go_program(client)), *flags, "-prefix", prefix, "roundtrip"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    results = {}
    for key, proc in procs.items():
        out, err = proc.communicate(timeout=180)  # failure guard, not a timing
        assert proc.returncode == 0, f"{key} failed:\n{out}\n{err}"
        results[key] = {**json.loads(out.strip().splitlines()[-1]), "stderr": err[-3000:]}
    return results


@pytest.mark.parametrize(("client", "mode"), CASES, ids=[f"{c}-{m}" for c, m in CASES])
def test_go_client_over_tls_and_sasl(go_secure, client, mode):
    got = go_secure[client, mode]
    assert got["ok"], f"{got.get('error')}\n{got['stderr']}"
    assert got["result"]["values"] == [f"m{i}" for i in range(5)]


@pytest.mark.parametrize("client", CLIENTS)
def test_go_client_wrong_password(go_secure, client):
    got = go_secure[client, "wrong-password"]
    assert got["ok"] is False
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in got["error"], got


def test_franz_go_delegation_tokens(go_program, secure_broker: SecureBroker):
    """kadm creates a token as alice (SCRAM-SHA-512 over SASL_SSL); clients logging in with
    it (scram.Auth IsToken) produce and consume; describe, renew, expire."""
    flags = secure_broker.go_flags(MODES["SASL_SSL-SCRAM-SHA-512"])
    prefix = f"go-franz-tokens-{uuid.uuid4().hex[:6]}"
    done = subprocess.run(
        [str(go_program("franz")), *flags, "-prefix", prefix, "tokens"],
        capture_output=True,
        text=True,
        timeout=180,  # failure guard, not a timing
    )
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout.strip().splitlines()[-1])
    assert line["ok"], f"{line.get('error')}\n{done.stderr[-3000:]}"
    got = line["result"]
    assert (got["owner"], got["lifetime_ms"]) == ("User:alice", 604_800_000)
    assert got["values"] == [f"m{i}" for i in range(5)]
    assert "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED" in got["create_with_token"]
    assert got["described"] is True
    assert 59 <= got["renewed_in_s"] <= 90
    assert "DELEGATION_TOKEN_NOT_FOUND" in got["renew_after_expire"]
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in got["login_after_expire"]
