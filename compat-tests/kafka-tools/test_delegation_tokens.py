"""Kafka 3.9.1's kafka-delegation-tokens against kafka-compat (tests/security/matrix.py's
broker, `delegation.token.secret.key` set): create, describe, renew and expire over
SASL_SSL with SCRAM-SHA-512, the console producer logging in with the token it made,
and the refusal on PLAINTEXT. How the tools run: this folder's conftest.py."""

from __future__ import annotations

import re
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from tests.security.matrix import MODES, SCRAM_USERS

SCRAM = MODES["SASL_SSL-SCRAM-SHA-512"]


def client_config(secure_broker, path: Path, user: str, jaas: str | None = None) -> Path:
    """A client.properties logging in as `user` (or with another JAAS login)."""
    props = secure_broker.java(SCRAM)
    props["sasl.jaas.config"] = jaas or (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{user}" password="{SCRAM_USERS[user]}";'
    )
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return path


def test_kafka_delegation_tokens_create_describe_renew_expire(
    secure_broker, kafka, tmp_path, unique
):
    bootstrap = ["--bootstrap-server", secure_broker.address(SCRAM.listener)]
    alice = [
        *bootstrap,
        "--command-config",
        str(client_config(secure_broker, tmp_path / "a", "alice")),
    ]
    admin = [
        *bootstrap,
        "--command-config",
        str(client_config(secure_broker, tmp_path / "b", "admin")),
    ]
    tool = "kafka-delegation-tokens"

    out = kafka(
        tool,
        *alice,
        "--create",
        "--max-life-time-period",
        "-1",
        "--renewer-principal",
        "User:admin",
    )
    token_id = re.search(r"Created delegation token with tokenId : (\S+)", out)[1]
    row = re.search(
        rf"^{re.escape(token_id)}\s+(\S+)\s+User:alice\s+User:alice\s+\[User:admin\]", out, re.M
    )
    assert row is not None, out
    hmac = row[1]

    out = kafka(tool, *alice, "--describe", "--owner-principal", "User:alice")
    assert re.search(rf"^{re.escape(token_id)}\s+{re.escape(hmac)}\s+User:alice", out, re.M), out
    # Without --owner-principal the tool sends an empty owners list, which Kafka answers
    # with no token (DescribeDelegationToken's "ownersListEmpty").
    assert "Total number of tokens : 0" in kafka(tool, *alice, "--describe")

    # The console producer logs in with the token (tokenauth) and writes as alice.
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{token_id}" password="{hmac}" tokenauth="true";'
    )
    with_token = client_config(secure_broker, tmp_path / "t", "alice", jaas)
    topic = unique("token-topic")
    kafka(
        "kafka-console-producer",
        *bootstrap,
        "--topic",
        topic,
        "--producer.config",
        str(with_token),
        stdin="written with a token\n",
    )
    consumer = Consumer({"bootstrap.servers": secure_broker.plaintext, "group.id": unique("g")})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        message = consumer.poll(30)
        assert message is not None and message.value() == b"written with a token"
    finally:
        consumer.close()

    # The renewer renews it; the owner expires it at once; then it is gone.
    out = kafka(tool, *admin, "--renew", "--hmac", hmac, "--renew-time-period", "3600000")
    assert "Completed renew operation. New expiry date : " in out
    out = kafka(tool, *alice, "--expire", "--hmac", hmac, "--expiry-time-period", "-1")
    assert "Completed expire operation. New expiry date : " in out
    out = kafka(tool, *alice, "--describe", "--owner-principal", "User:alice")
    assert token_id not in out
    out = kafka(tool, *admin, "--renew", "--hmac", hmac, "--renew-time-period", "1000", ok=False)
    assert "Delegation Token is not found on server." in out


def test_kafka_delegation_tokens_is_refused_on_plaintext(secure_broker, kafka, tmp_path):
    config = tmp_path / "plain.properties"
    config.write_text("")
    out = kafka(
        "kafka-delegation-tokens",
        "--bootstrap-server",
        secure_broker.plaintext,
        "--command-config",
        str(config),
        "--create",
        "--max-life-time-period",
        "-1",
        ok=False,
    )
    assert "Delegation Token requests are not allowed on PLAINTEXT/1-way SSL channels" in out
