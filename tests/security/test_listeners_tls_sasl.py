"""Listeners, TLS and SASL PLAIN with real clients over real TLS (confluent-kafka, aiokafka,
kafka-python, kcat): client certificates and their principal, SASL_PLAINTEXT and
SASL_SSL with PLAIN, two listeners at once (each client is told its own listener's
address), wrong passwords, clients speaking the wrong protocol to a port, TLS versions
and cipher suites. Re-authentication: test_sasl_reauthentication.py; key stores
reloaded at run time: test_key_store_reload.py."""

from __future__ import annotations

import logging
import socket
import ssl
import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource
from kafka import KafkaConsumer, KafkaProducer

from tests import installed
from tests.conftest import BrokerHandle
from tests.security.certs import CLIENT_SUBJECT
from tests.security.listener_props import GUARD_S, JAAS, address, tls_props


def produce_and_consume(common: dict, topic: str, count: int = 5) -> list[bytes]:
    producer = Producer({**common, "linger.ms": 0})
    for i in range(count):
        producer.produce(topic, f"m{i}".encode())
    assert producer.flush(GUARD_S) == 0
    consumer = Consumer(
        {**common, "group.id": f"g-{uuid.uuid4()}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    try:
        while len(values) < count:
            msg = consumer.poll(GUARD_S)
            assert msg is not None, f"only {len(values)} of {count} messages"
            assert msg.error() is None, msg.error()
            values.append(msg.value())
    finally:
        consumer.close()
    return values


def kafka_python_roundtrip(topic: str, **security) -> list[bytes]:
    producer = KafkaProducer(**security)
    producer.send(topic, b"from kafka-python").get(timeout=GUARD_S)
    producer.close()
    consumer = KafkaConsumer(
        topic, auto_offset_reset="earliest", consumer_timeout_ms=int(GUARD_S * 1000), **security
    )
    try:
        for message in consumer:
            if message.value == b"from kafka-python":
                return [message.value]
    finally:
        consumer.close()
    return []


# -- SSL with client certificates ---------------------------------------------------------


def test_ssl_with_client_certificates_and_their_principal(start_broker, certs, caplog):
    broker = start_broker(
        {
            "listeners": "SSL://127.0.0.1:0",
            **tls_props(certs),
            "ssl.client.auth": "required",
            "ssl.principal.mapping.rules": "RULE:^CN=(.*?),OU=(.*?),O=(.*)$/$1@$3/L,DEFAULT",
        }
    )
    bootstrap = address(broker, "SSL")
    common = {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SSL",
        "ssl.ca.location": str(certs.ca),
        "ssl.certificate.location": str(certs.client_cert),
        "ssl.key.location": str(certs.client_key),
    }
    with caplog.at_level(logging.INFO, logger="kafka_compat.server"):
        assert produce_and_consume(common, "tls-topic") == [f"m{i}".encode() for i in range(5)]
        got = kafka_python_roundtrip(
            "tls-topic",
            bootstrap_servers=bootstrap,
            security_protocol="SSL",
            ssl_cafile=str(certs.ca),
            ssl_certfile=str(certs.client_cert),
            ssl_keyfile=str(certs.client_key),
        )
        if installed.kcat():
            listing = subprocess.run(
                ["kcat", "-b", bootstrap, "-L", "-X", "security.protocol=SSL"]
                + ["-X", f"ssl.ca.location={certs.ca}"]
                + ["-X", f"ssl.certificate.location={certs.client_cert}"]
                + ["-X", f"ssl.key.location={certs.client_key}"],
                capture_output=True,
                check=True,
                timeout=GUARD_S,
            )
            assert b"tls-topic" in listing.stdout
    assert got == [b"from kafka-python"]
    # The broker logs each TLS client's principal: the DN, mapped by the rule.
    assert "as User:client@acme on listener SSL" in caplog.text

    # Metadata over TLS names the TLS listener's own address.
    admin = AdminClient(common)
    brokers = admin.list_topics(timeout=GUARD_S).brokers
    assert [(b.host, b.port) for b in brokers.values()] == [("127.0.0.1", broker.port)]

    # Without a client certificate (ssl.client.auth=required) the handshake fails.
    no_cert = Producer(
        {
            "bootstrap.servers": bootstrap,
            "security.protocol": "SSL",
            "ssl.ca.location": str(certs.ca),
        }
    )
    with pytest.raises(KafkaException):
        no_cert.list_topics(timeout=3)


def test_default_mapping_is_the_rfc2253_subject(start_broker, certs, caplog):
    broker = start_broker(
        {
            "listeners": "SSL://127.0.0.1:0",
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(certs.broker_p12),
            "ssl.keystore.password": "p12-secret",
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(certs.ca),
            "ssl.client.auth": "requested",
        }
    )
    common = {
        "bootstrap.servers": address(broker, "SSL"),
        "security.protocol": "SSL",
        "ssl.ca.location": str(certs.ca),
        "ssl.certificate.location": str(certs.client_cert),
        "ssl.key.location": str(certs.client_key),
    }
    with caplog.at_level(logging.INFO, logger="kafka_compat.server"):
        Producer(common).list_topics(timeout=GUARD_S)
    assert f"as User:{CLIENT_SUBJECT} on listener SSL" in caplog.text


# -- SASL PLAIN -----------------------------------------------------------------------------


def sasl_broker(start_broker, certs) -> BrokerHandle:
    return start_broker(
        {
            "listeners": "SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
            "sasl.enabled.mechanisms": "PLAIN",
            "security.inter.broker.protocol": "SASL_PLAINTEXT",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
            "listener.name.sasl_ssl.plain.sasl.jaas.config": JAAS,
            **tls_props(certs, "listener.name.sasl_ssl."),
        }
    )


def test_sasl_plain_over_plaintext_and_tls(start_broker, certs, caplog):
    broker = sasl_broker(start_broker, certs)
    plain_address, tls_address = address(broker, "SASL_PLAINTEXT"), address(broker, "SASL_SSL")
    login = {"sasl.mechanism": "PLAIN", "sasl.username": "alice", "sasl.password": "alice-pw"}
    over_plaintext = {"bootstrap.servers": plain_address, "security.protocol": "SASL_PLAINTEXT"}
    over_tls = {
        "bootstrap.servers": tls_address,
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": str(certs.ca),
    }
    with caplog.at_level(logging.INFO, logger="kafka_compat.apis.sasl"):
        assert len(produce_and_consume({**over_plaintext, **login}, "plain-topic")) == 5
        assert len(produce_and_consume({**over_tls, **login}, "plain-tls-topic")) == 5
    assert "authenticated as User:alice on listener SASL_PLAINTEXT (PLAIN)" in caplog.text
    assert "authenticated as User:alice on listener SASL_SSL (PLAIN)" in caplog.text

    # Each listener's clients are told that listener's address.
    for common, expected in ((over_plaintext, plain_address), (over_tls, tls_address)):
        brokers = AdminClient({**common, **login}).list_topics(timeout=GUARD_S).brokers
        assert [f"{b.host}:{b.port}" for b in brokers.values()] == [expected]

    # The JAAS config (passwords) is described as sensitive, without its value.
    admin = AdminClient({**over_plaintext, **login})
    described = admin.describe_configs([ConfigResource("BROKER", "0")])
    jaas = next(iter(described.values())).result(GUARD_S)[
        "listener.name.sasl_plaintext.plain.sasl.jaas.config"
    ]
    assert jaas.is_sensitive and jaas.value is None

    python_login = dict(
        sasl_mechanism="PLAIN", sasl_plain_username="admin", sasl_plain_password="admin-secret"
    )
    assert kafka_python_roundtrip(
        "kp-plain",
        bootstrap_servers=plain_address,
        security_protocol="SASL_PLAINTEXT",
        **python_login,
    ) == [b"from kafka-python"]
    assert kafka_python_roundtrip(
        "kp-tls",
        bootstrap_servers=tls_address,
        security_protocol="SASL_SSL",
        ssl_cafile=str(certs.ca),
        **python_login,
    ) == [b"from kafka-python"]


def test_kcat_over_sasl_ssl(start_broker, certs):
    installed.kcat()
    broker = sasl_broker(start_broker, certs)
    options = [
        "-b", address(broker, "SASL_SSL"),
        "-X", "security.protocol=SASL_SSL",
        "-X", f"ssl.ca.location={certs.ca}",
        "-X", "sasl.mechanism=PLAIN",
        "-X", "sasl.username=alice",
        "-X", "sasl.password=alice-pw",
    ]  # fmt: skip
    subprocess.run(
        ["kcat", *options, "-P", "-t", "kcat-topic"],
        input=b"one\ntwo\n",
        check=True,
        timeout=GUARD_S,
    )
    out = subprocess.run(
        ["kcat", *options, "-C", "-t", "kcat-topic", "-o", "beginning", "-c", "2", "-e"],
        capture_output=True,
        check=True,
        timeout=GUARD_S,
    )
    assert out.stdout.split() == [b"one", b"two"]


def test_wrong_password_fails_clearly_and_others_carry_on(start_broker, certs, caplog):
    broker = sasl_broker(start_broker, certs)
    common = {
        "bootstrap.servers": address(broker, "SASL_PLAINTEXT"),
        "security.protocol": "SASL_PLAINTEXT",
    }
    errors = []
    wrong = Producer(
        {
            **common,
            "sasl.mechanism": "PLAIN",
            "sasl.username": "alice",
            "sasl.password": "not-her-password",
            "error_cb": errors.append,
        }
    )
    with caplog.at_level(logging.INFO, logger="kafka_compat.apis.sasl"):
        with pytest.raises(KafkaException):
            wrong.list_topics(timeout=5)
    deadline = time.monotonic() + GUARD_S
    while not errors and time.monotonic() < deadline:
        wrong.poll(0.1)  # serves error_cb
    assert any("Invalid username or password" in str(e) for e in errors), errors
    del wrong
    assert "Failed authentication with 127.0.0.1" in caplog.text
    assert "user alice" in caplog.text
    login = {"sasl.mechanism": "PLAIN", "sasl.username": "admin", "sasl.password": "admin-secret"}
    assert len(produce_and_consume({**common, **login}, "still-serving")) == 5


# -- two listeners ------------------------------------------------------------------------


def test_two_listeners_each_client_gets_its_own(start_broker, certs):
    broker = start_broker(
        {
            "listeners": "INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0",
            "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:SSL",
            "inter.broker.listener.name": "INTERNAL",
            **tls_props(certs, "listener.name.external."),
        }
    )
    internal, external = address(broker, "INTERNAL"), address(broker, "EXTERNAL")
    plain = {"bootstrap.servers": internal}
    tls = {
        "bootstrap.servers": external,
        "security.protocol": "SSL",
        "ssl.ca.location": str(certs.ca),
    }
    assert len(produce_and_consume(plain, "shared")) == 5
    assert len(produce_and_consume(tls, "shared", count=10)) == 10  # the 5 above, and its 5
    for common, expected in ((plain, internal), (tls, external)):
        brokers = AdminClient(common).list_topics(timeout=GUARD_S).brokers
        assert [f"{b.host}:{b.port}" for b in brokers.values()] == [expected]


# -- the wrong protocol on a port ---------------------------------------------------------


def api_versions_v0() -> bytes:
    body = b"\x00\x12\x00\x00\x00\x00\x00\x01\x00\x04test"
    return len(body).to_bytes(4, "big") + body


def test_plaintext_to_tls_port_and_tls_to_plaintext_port(start_broker, certs):
    broker = start_broker(
        {
            "listeners": "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
            **tls_props(certs, "listener.name.ssl."),
        }
    )
    tls_port, plain_port = broker.broker.bound_ports["SSL"], broker.broker.bound_ports["PLAINTEXT"]
    # A half-open TLS handshake (connected, silent) blocks no one.
    silent = socket.create_connection(("127.0.0.1", tls_port), timeout=GUARD_S)
    # Plaintext Kafka to the TLS port: the connection is closed.
    with socket.create_connection(("127.0.0.1", tls_port), timeout=GUARD_S) as sock:
        sock.sendall(api_versions_v0())
        assert sock.recv(4096)[:1] in (b"", b"\x15")  # EOF or a TLS alert, never Kafka
    # TLS to the plaintext port: the handshake fails, nothing is served.
    context = ssl.create_default_context(cafile=str(certs.ca))
    with socket.create_connection(("127.0.0.1", plain_port), timeout=GUARD_S) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            context.wrap_socket(raw, server_hostname="127.0.0.1")
    # Everyone else is served on both listeners.
    tls = {
        "bootstrap.servers": f"127.0.0.1:{tls_port}",
        "security.protocol": "SSL",
        "ssl.ca.location": str(certs.ca),
    }
    assert len(produce_and_consume(tls, "after-bad")) == 5
    assert (
        len(produce_and_consume({"bootstrap.servers": f"127.0.0.1:{plain_port}"}, "after-bad", 10))
        == 10
    )
    silent.close()


def test_broker_with_an_unreadable_keystore_does_not_start(tmp_path, certs):
    from kafka_compat.broker import Broker
    from kafka_compat.config import BrokerConfig, ConfigError

    props = {"listeners": "SSL://127.0.0.1:0", "log.dirs": str(tmp_path), **tls_props(certs)}
    with pytest.raises(ConfigError, match="ssl.keystore.location"):
        Broker(BrokerConfig({**props, "ssl.keystore.location": str(tmp_path / "missing.pem")}))
    with pytest.raises(ConfigError, match="JKS"):
        Broker(BrokerConfig({**props, "ssl.keystore.type": "JKS"}))
    # Inline PEM (KIP-651) is read.
    inline = {
        **props,
        "ssl.keystore.location": "",
        "ssl.keystore.key": certs.broker_key,
        "ssl.keystore.certificate.chain": certs.broker_chain,
    }
    del inline["ssl.keystore.location"]
    Broker(BrokerConfig(inline))
    # An encrypted PEM key with ssl.key.password; a PKCS12 trust store.
    encrypted = {
        **props,
        "ssl.keystore.location": str(certs.broker_encrypted),
        "ssl.truststore.type": "PKCS12",
        "ssl.truststore.location": str(certs.ca_p12),
        "ssl.truststore.password": "p12-secret",
    }
    with pytest.raises(ConfigError, match="ssl.keystore"):
        Broker(BrokerConfig(encrypted))  # no ssl.key.password
    Broker(BrokerConfig({**encrypted, "ssl.key.password": "key-secret"}))


def test_principal_mapping_rules():
    from kafka_compat.security.tls import NoMatchingRule, PrincipalMapper

    mapper = PrincipalMapper(
        "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?)$/$1@$2/U"
    )
    assert mapper.name("CN=kafka-broker,OU=ServiceUsers,O=acme") == "kafka-broker"
    assert mapper.name("CN=alice,OU=eng,O=acme") == "ALICE@ENG"
    with pytest.raises(NoMatchingRule):
        mapper.name("O=nobody")
    assert PrincipalMapper("DEFAULT").name("CN=x,O=y") == "CN=x,O=y"


# -- TLS versions and cipher suites; aiokafka ---------------------------------------------


def test_enabled_protocols_and_cipher_suites(start_broker, certs):
    broker = start_broker(
        {
            "listeners": "SSL://127.0.0.1:0",
            **tls_props(certs),
            "ssl.enabled.protocols": "TLSv1.2",
            "ssl.cipher.suites": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        }
    )
    port = broker.broker.bound_ports["SSL"]

    def handshake(**options) -> tuple[str, str] | None:
        context = ssl.create_default_context(cafile=str(certs.ca))
        for name, value in options.items():
            if name == "ciphers":
                context.set_ciphers(value)
            else:
                setattr(context, name, value)
        with socket.create_connection(("127.0.0.1", port), timeout=GUARD_S) as raw:
            try:
                with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    return tls.version(), tls.cipher()[0]
            except (ssl.SSLError, ConnectionError):
                return None

    assert handshake() == ("TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384")
    assert handshake(minimum_version=ssl.TLSVersion.TLSv1_3) is None
    assert (
        handshake(ciphers="ECDHE-ECDSA-AES128-GCM-SHA256", maximum_version=ssl.TLSVersion.TLSv1_2)
        is None
    )


def test_aiokafka_over_sasl_ssl(start_broker, certs):
    import asyncio

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.helpers import create_ssl_context

    broker = sasl_broker(start_broker, certs)
    security = dict(
        bootstrap_servers=address(broker, "SASL_SSL"),
        security_protocol="SASL_SSL",
        ssl_context=create_ssl_context(cafile=str(certs.ca)),
        sasl_mechanism="PLAIN",
        sasl_plain_username="alice",
        sasl_plain_password="alice-pw",
    )

    async def roundtrip() -> bytes:
        producer = AIOKafkaProducer(**security)
        await producer.start()
        try:
            await producer.send_and_wait("aio-secure", b"from aiokafka")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer("aio-secure", auto_offset_reset="earliest", **security)
        await consumer.start()
        try:
            message = await asyncio.wait_for(consumer.getone(), GUARD_S)
        finally:
            await consumer.stop()
        return message.value

    assert asyncio.run(roundtrip()) == b"from aiokafka"
