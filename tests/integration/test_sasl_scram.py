"""End-to-end SASL logins with SCRAM-SHA-256/512 and OAUTHBEARER over a
SASL_PLAINTEXT listener, with real clients (confluent-kafka, kafka-python)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from kafka_compat.security.credentials import ScramCredential
from tests.conftest import BrokerHandle

GUARD_S = 30  # failure guard for waits, never a timing

SCRAM_PROPS = {
    "listeners": "SASL_PLAINTEXT://127.0.0.1:0",
    "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512",
    # What a Kafka broker needs for its own (inter-broker) SCRAM login on the listener.
    "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config": (
        "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    ),
    "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": (
        "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    ),
}
OAUTH_JAAS = (
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
    'unsecuredLoginStringClaim_sub="admin"{options};'
)
OAUTH_PROPS = {
    "listeners": "SASL_PLAINTEXT://127.0.0.1:0",
    "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "OAUTHBEARER",
    "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config": OAUTH_JAAS.format(options=""),
}


@pytest.fixture
def start_broker(tmp_path):
    """start_broker(props) with Kafka's keys as they are (broker_factory's "_" for "."
    would break the listener names: listener.name.sasl_plaintext...)."""
    handles: list[BrokerHandle] = []

    def start(props: dict[str, str]) -> BrokerHandle:
        handle = BrokerHandle(tmp_path / f"broker-{len(handles)}", dict(props))
        handles.append(handle)
        handle.start()
        return handle

    yield start
    for handle in handles:
        handle.stop()


@pytest.fixture
def sasl_broker(start_broker):
    """A broker whose only listener is SASL_PLAINTEXT with SCRAM-SHA-256/512, and an
    `admin` SCRAM user put straight into its store (the first user has no one to
    create it over the protocol)."""
    handle = start_broker(SCRAM_PROPS)
    add_user(handle, "admin", "admin-secret")
    return handle


def add_user(handle, user: str, password: str, mechanisms=("SCRAM-SHA-256", "SCRAM-SHA-512")):
    configs = {m: ScramCredential.from_password(m, password).to_kafka() for m in mechanisms}
    handle.call(handle.broker.store.update_user_configs, user, configs, set())


def sasl(handle, mechanism: str, user: str, password: str, **extra) -> dict:
    return {
        "bootstrap.servers": handle.bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
        **extra,
    }


def produce_and_consume(conf: dict) -> list[bytes]:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    producer = Producer(conf)
    producer.produce(topic, b"hello over SASL")
    assert producer.flush(GUARD_S) == 0
    consumer = Consumer({**conf, "group.id": "g", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + GUARD_S
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                return [msg.value()]
        return []
    finally:
        consumer.close()


def authentication_error(conf: dict) -> str:
    """The first authentication error librdkafka reports for `conf`."""
    errors: list[KafkaError] = []
    admin = AdminClient({**conf, "error_cb": errors.append})
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        found = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
        if found:
            return found[0].str()
        admin.poll(0.2)
    raise AssertionError(f"no authentication error, only {errors}")


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_scram_login_produce_and_consume(sasl_broker, mechanism: str) -> None:
    add_user(sasl_broker, "alice", "alice-secret", [mechanism])
    conf = sasl(sasl_broker, mechanism, "alice", "alice-secret")
    assert produce_and_consume(conf) == [b"hello over SASL"]


def test_wrong_password_and_unknown_user_get_kafkas_message(sasl_broker) -> None:
    add_user(sasl_broker, "bob", "bob-secret", ["SCRAM-SHA-256"])
    expected = (
        "Authentication failed during authentication due to invalid credentials with "
        "SASL mechanism SCRAM-SHA-256"
    )
    assert expected in authentication_error(sasl(sasl_broker, "SCRAM-SHA-256", "bob", "wrong"))
    assert expected in authentication_error(sasl(sasl_broker, "SCRAM-SHA-256", "nobody", "x"))
    # bob has no SCRAM-SHA-512 credential.
    assert "SCRAM-SHA-512" in authentication_error(
        sasl(sasl_broker, "SCRAM-SHA-512", "bob", "bob-secret")
    )
    # The broker keeps serving the others.
    assert produce_and_consume(sasl(sasl_broker, "SCRAM-SHA-256", "admin", "admin-secret"))


def test_a_user_created_over_sasl_logs_in_and_a_deleted_one_no_longer(sasl_broker) -> None:
    admin = AdminClient(sasl(sasl_broker, "SCRAM-SHA-512", "admin", "admin-secret"))
    upsertion = UserScramCredentialUpsertion(
        "carol", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), b"carol-secret"
    )
    for future in admin.alter_user_scram_credentials([upsertion]).values():
        future.result(timeout=GUARD_S)
    carol = sasl(sasl_broker, "SCRAM-SHA-256", "carol", "carol-secret")
    assert produce_and_consume(carol) == [b"hello over SASL"]

    deletion = UserScramCredentialDeletion("carol", ScramMechanism.SCRAM_SHA_256)
    for future in admin.alter_user_scram_credentials([deletion]).values():
        future.result(timeout=GUARD_S)
    assert "invalid credentials" in authentication_error(carol)


def test_kafka_python_scram_login(sasl_broker) -> None:
    from kafka import KafkaProducer

    add_user(sasl_broker, "dave", "dave-secret")
    for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
        producer = KafkaProducer(
            bootstrap_servers=sasl_broker.bootstrap,
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism=mechanism,
            sasl_plain_username="dave",
            sasl_plain_password="dave-secret",
        )
        try:
            metadata = producer.send("kp-scram", b"v").get(timeout=GUARD_S)
            assert metadata.offset >= 0
        finally:
            producer.close()


# ---- OAUTHBEARER ----


@pytest.fixture
def oauth_broker(start_broker):
    def start(options: str = "", **extra: str):
        props = {
            **OAUTH_PROPS,
            "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config": OAUTH_JAAS.format(
                options=options
            ),
            **extra,
        }
        return start_broker(props)

    return start


def oauth_conf(handle, **extra) -> dict:
    return {
        "bootstrap.servers": handle.bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "OAUTHBEARER",
        **extra,
    }


def test_oauthbearer_unsecured_token(oauth_broker) -> None:
    handle = oauth_broker(' unsecuredValidatorRequiredScope="kafka"')
    ok = oauth_conf(
        handle,
        **{
            "enable.sasl.oauthbearer.unsecure.jwt": True,
            "sasl.oauthbearer.config": "principal=alice scope=kafka",
        },
    )
    assert produce_and_consume(ok) == [b"hello over SASL"]
    no_scope = oauth_conf(
        handle,
        **{
            "enable.sasl.oauthbearer.unsecure.jwt": True,
            "sasl.oauthbearer.config": "principal=alice scope=other",
        },
    )
    assert '{"status":"insufficient_scope", "scope":"[kafka]"}' in authentication_error(no_scope)


def test_oauthbearer_signed_jwt_against_a_jwks_file(oauth_broker, tmp_path) -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256"}]}))
    handle = oauth_broker(
        "",
        **{
            "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class": (
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
            ),
            "sasl.oauthbearer.jwks.endpoint.url": jwks.as_uri(),
            "sasl.oauthbearer.expected.audience": "kafka",
            "sasl.oauthbearer.expected.issuer": "https://idp.test",
        },
    )

    def token_for(audience: str):
        def oauth_cb(_config):
            expiry = time.time() + 600
            claims = {"sub": "svc", "aud": audience, "iss": "https://idp.test", "exp": expiry}
            token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
            return token, expiry

        return oauth_cb

    assert produce_and_consume(oauth_conf(handle, oauth_cb=token_for("kafka"))) == [
        b"hello over SASL"
    ]
    refused = authentication_error(oauth_conf(handle, oauth_cb=token_for("elsewhere")))
    assert '{"status":"invalid_token"}' in refused
