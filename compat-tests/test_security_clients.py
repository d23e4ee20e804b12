"""The Python clients and kcat over real TLS and SASL: confluent-kafka, kafka-python,
aiokafka and kcat, each in every mode it supports, against one broker with every kind
of listener (tests/security/matrix.py): SASL_SSL with SCRAM-SHA-256 and -512,
SASL_PLAINTEXT with PLAIN, SSL with a client certificate (ssl.client.auth=required),
and OAUTHBEARER over SASL_SSL with an unsecured token and with a signed JWT.

Each case produces five records to a topic of its own and consumes them back; one
wrong-password case per client must fail clearly (an authentication error, not a
hang). confluent-kafka also fetches its signed JWT from an OIDC token endpoint
(`sasl.oauthbearer.method=oidc`). Not covered: kcat with a signed JWT (librdkafka gets
one only from a callback or an OIDC endpoint, and Debian's kcat is built without the
libcurl that OIDC needs).
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient

from tests import installed
from tests.security.matrix import MODES, Mode, SecureBroker

GUARD_S = 30.0  # failure guard for waits, never a timing
COUNT = 5
ALL = list(MODES)
SUPPORTED = {
    "confluent-kafka": ALL,
    "kafka-python": ALL,
    "aiokafka": ALL,
    "kcat": [m for m in ALL if m != "SASL_SSL-OAUTHBEARER-signed"],
}
CASES = [(client, mode) for client, modes in SUPPORTED.items() for mode in modes]


def expected() -> list[bytes]:
    return [f"m{i}".encode() for i in range(COUNT)]


def new_topic(client: str, mode: str) -> str:
    return f"sec-{client}-{mode}-{uuid.uuid4().hex[:6]}"


# ---- confluent-kafka ----


def confluent_conf(broker: SecureBroker, mode: Mode, **extra) -> dict:
    conf = broker.librdkafka(mode, **extra)
    if mode.signed:
        conf["oauth_cb"] = broker.oauth_cb(mode)
    return conf


def confluent_roundtrip(
    broker: SecureBroker, mode: Mode, topic: str, conf: dict | None = None
) -> list[bytes]:
    conf = conf or confluent_conf(broker, mode)
    producer = Producer({**conf, "linger.ms": 0})
    for value in expected():
        producer.produce(topic, value)
    assert producer.flush(GUARD_S) == 0
    consumer = Consumer({**conf, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    values: list[bytes] = []
    try:
        deadline = time.monotonic() + GUARD_S
        while len(values) < COUNT and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None:
                assert msg.error() is None, msg.error()
                values.append(msg.value())
    finally:
        consumer.close()
    return values


# ---- kafka-python ----


def kafka_python_security(broker: SecureBroker, mode: Mode, password: str | None = None) -> dict:
    from kafka.net.sasl.oauth import AbstractTokenProvider

    class Token(AbstractTokenProvider):
        def token(self):
            return broker.token(mode)

    security: dict = {
        "bootstrap_servers": broker.address(mode.listener),
        "security_protocol": mode.protocol,
    }
    if mode.tls:
        security["ssl_cafile"] = str(broker.certs.ca)
    if mode.protocol == "SSL":
        security["ssl_certfile"] = str(broker.certs.client_cert)
        security["ssl_keyfile"] = str(broker.certs.client_key)
    if mode.mechanism:
        security["sasl_mechanism"] = mode.mechanism
    if mode.mechanism == "OAUTHBEARER":
        security["sasl_oauth_token_provider"] = Token()
    elif mode.username:
        security["sasl_plain_username"] = mode.username
        security["sasl_plain_password"] = password or mode.password
    return security


def kafka_python_roundtrip(broker: SecureBroker, mode: Mode, topic: str) -> list[bytes]:
    from kafka import KafkaConsumer, KafkaProducer

    security = kafka_python_security(broker, mode)
    producer = KafkaProducer(linger_ms=0, **security)
    try:
        futures = [producer.send(topic, value) for value in expected()]
        for future in futures:
            future.get(timeout=GUARD_S)
    finally:
        producer.close()
    consumer = KafkaConsumer(
        topic,
        group_id=f"g-{topic}",
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(GUARD_S * 1000),
        **security,
    )
    values: list[bytes] = []
    try:
        for message in consumer:
            values.append(message.value)
            if len(values) == COUNT:
                break
    finally:
        consumer.close()
    return values


# ---- aiokafka ----


def aiokafka_security(broker: SecureBroker, mode: Mode, password: str | None = None) -> dict:
    from aiokafka.abc import AbstractTokenProvider
    from aiokafka.helpers import create_ssl_context

    class Token(AbstractTokenProvider):
        async def token(self):
            return broker.token(mode)

    security: dict = {
        "bootstrap_servers": broker.address(mode.listener),
        "security_protocol": mode.protocol,
    }
    if mode.protocol == "SSL":
        security["ssl_context"] = create_ssl_context(
            cafile=str(broker.certs.ca),
            certfile=str(broker.certs.client_cert),
            keyfile=str(broker.certs.client_key),
        )
    elif mode.tls:
        security["ssl_context"] = create_ssl_context(cafile=str(broker.certs.ca))
    if mode.mechanism:
        security["sasl_mechanism"] = mode.mechanism
    if mode.mechanism == "OAUTHBEARER":
        security["sasl_oauth_token_provider"] = Token()
    elif mode.username:
        security["sasl_plain_username"] = mode.username
        security["sasl_plain_password"] = password or mode.password
    return security


def aiokafka_roundtrip(broker: SecureBroker, mode: Mode, topic: str) -> list[bytes]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    async def roundtrip() -> list[bytes]:
        producer = AIOKafkaProducer(**aiokafka_security(broker, mode))
        await producer.start()
        try:
            for value in expected():
                await producer.send_and_wait(topic, value)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            group_id=f"g-{topic}",
            auto_offset_reset="earliest",
            **aiokafka_security(broker, mode),
        )
        await consumer.start()
        values: list[bytes] = []
        try:
            while len(values) < COUNT:
                message = await asyncio.wait_for(consumer.getone(), GUARD_S)
                values.append(message.value)
        finally:
            await consumer.stop()
        return values

    return asyncio.run(roundtrip())


# ---- kcat ----


def kcat_options(broker: SecureBroker, mode: Mode, **overrides: str) -> list[str]:
    conf = broker.librdkafka(mode, **overrides)
    options = ["-b", conf.pop("bootstrap.servers")]
    for key, value in conf.items():
        options += ["-X", f"{key}={value}"]
    return options


def kcat_roundtrip(broker: SecureBroker, mode: Mode, topic: str) -> list[bytes]:
    options = kcat_options(broker, mode)
    lines = b"".join(value + b"\n" for value in expected())
    subprocess.run(["kcat", *options, "-P", "-t", topic], input=lines, check=True, timeout=GUARD_S)
    out = subprocess.run(
        ["kcat", *options, "-C", "-t", topic, "-o", "beginning", "-c", str(COUNT), "-e"],
        capture_output=True,
        check=True,
        timeout=GUARD_S,
    )
    return out.stdout.split()


ROUNDTRIPS = {
    "confluent-kafka": confluent_roundtrip,
    "kafka-python": kafka_python_roundtrip,
    "aiokafka": aiokafka_roundtrip,
    "kcat": kcat_roundtrip,
}


@pytest.mark.parametrize(("client", "mode"), CASES, ids=[f"{c}-{m}" for c, m in CASES])
def test_produce_and_consume(secure_broker: SecureBroker, client: str, mode: str) -> None:
    if client == "kcat":
        installed.kcat()
    topic = new_topic(client, mode)
    assert ROUNDTRIPS[client](secure_broker, MODES[mode], topic) == expected()


# ---- confluent-kafka fetching its signed JWT from an OIDC token endpoint ----


def test_confluent_kafka_oidc_token_endpoint(secure_broker: SecureBroker):
    # sasl.oauthbearer.method=oidc (KIP-768 in librdkafka): the client asks the endpoint
    # for a token with its client id and secret, then logs in with it.
    endpoint = secure_broker.token_endpoint
    seen = len(endpoint.requests)
    mode = MODES["SASL_SSL-OAUTHBEARER-signed"]
    conf = secure_broker.librdkafka(
        mode,
        **{
            "sasl.oauthbearer.method": "oidc",
            "sasl.oauthbearer.client.id": "app",
            "sasl.oauthbearer.client.secret": "app-secret",
            "sasl.oauthbearer.token.endpoint.url": endpoint.url,
        },
    )
    topic = new_topic("confluent-kafka", "oidc")
    assert confluent_roundtrip(secure_broker, mode, topic, conf) == expected()
    authorization, body = endpoint.requests[seen]
    assert body == b"grant_type=client_credentials"
    assert authorization == "Basic " + base64.b64encode(b"app:app-secret").decode()


# ---- wrong passwords: a clear failure, not a hang ----

SCRAM_512 = MODES["SASL_SSL-SCRAM-SHA-512"]
INVALID = "invalid credentials with SASL mechanism SCRAM-SHA-512"
FAILED = f"Authentication failed during authentication due to {INVALID}"


def test_confluent_kafka_wrong_password(secure_broker: SecureBroker) -> None:
    errors: list[KafkaError] = []
    conf = confluent_conf(secure_broker, SCRAM_512, **{"sasl.password": "wrong"})
    admin = AdminClient({**conf, "error_cb": errors.append})
    deadline = time.monotonic() + GUARD_S
    while not any(e.code() == KafkaError._AUTHENTICATION for e in errors):
        assert time.monotonic() < deadline, f"no authentication error, only {errors}"
        admin.poll(0.2)
    assert any(INVALID in e.str() for e in errors), errors


def test_kafka_python_wrong_password(secure_broker: SecureBroker, caplog) -> None:
    # kafka-python retries a failed bootstrap until max_block_ms, logging each
    # SaslAuthenticationFailedError with the broker's message.
    from kafka import KafkaProducer
    from kafka.errors import KafkaError as KafkaPythonError

    security = kafka_python_security(secure_broker, SCRAM_512, password="wrong")
    with pytest.raises(KafkaPythonError):
        KafkaProducer(bootstrap_timeout_ms=5000, **security).close()
    assert f"SaslAuthenticationFailedError: {FAILED}" in caplog.text


def test_aiokafka_wrong_password(secure_broker: SecureBroker, caplog) -> None:
    # start() gives up with KafkaConnectionError; the broker's message is in the log.
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError as AioKafkaError

    async def start() -> None:
        producer = AIOKafkaProducer(**aiokafka_security(secure_broker, SCRAM_512, password="wrong"))
        try:
            await asyncio.wait_for(producer.start(), GUARD_S)
        finally:
            await producer.stop()

    with pytest.raises(AioKafkaError):
        asyncio.run(start())
    assert f"SaslAuthenticationFailed: {FAILED}" in caplog.text


def test_kcat_wrong_password(secure_broker: SecureBroker) -> None:
    installed.kcat()
    options = kcat_options(secure_broker, SCRAM_512, **{"sasl.password": "wrong"})
    done = subprocess.run(
        ["kcat", *options, "-L", "-m", "5"], capture_output=True, text=True, timeout=GUARD_S
    )
    assert done.returncode != 0
    assert INVALID in done.stderr
