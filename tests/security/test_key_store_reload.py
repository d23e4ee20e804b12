"""Key stores reloaded at run time through AlterConfigs, as Kafka's SslFactory does: a
new file or one rewritten in place, the subject/SAN checks, and the inter-broker
listener's check that its peers would accept the new certificate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource

from tests.security.certs import make_certs
from tests.security.listener_props import GUARD_S, address, tls_props


def test_key_store_reloads_through_alter_configs(start_broker, certs, tmp_path):
    from confluent_kafka.admin import (
        AlterConfigOpType,
        ConfigEntry,
        ConfigSource,
    )

    broker = start_broker(
        {
            "listeners": "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
            **tls_props(certs, "listener.name.ssl."),
        }
    )
    renewed = make_certs(tmp_path / "renewed")  # another CA and broker certificate

    def connects(ca: Path) -> bool:
        return connects_with(broker, "SSL", ca)

    assert connects(certs.ca) and not connects(renewed.ca)
    admin = AdminClient({"bootstrap.servers": address(broker, "PLAINTEXT")})

    def alter(location: str):
        entry = ConfigEntry(
            "listener.name.ssl.ssl.keystore.location",
            location,
            incremental_operation=AlterConfigOpType.SET,
        )
        resource = ConfigResource("BROKER", "0", incremental_configs=[entry])
        return admin.incremental_alter_configs([resource])[resource]

    # A key store that does not load is refused, and the old one stays.
    with pytest.raises(KafkaException, match="ssl.keystore.location"):
        alter(str(tmp_path / "missing.pem")).result(GUARD_S)
    assert connects(certs.ca)
    alter(str(renewed.broker_keystore)).result(GUARD_S)
    assert connects(renewed.ca) and not connects(certs.ca)
    # DescribeConfigs shows the listener's settings: dynamic, static, never a secret.
    described = admin.describe_configs([ConfigResource("BROKER", "0")])
    entries = next(iter(described.values())).result(GUARD_S)
    location = entries["listener.name.ssl.ssl.keystore.location"]
    assert location.value == str(renewed.broker_keystore)
    assert location.source == ConfigSource.DYNAMIC_BROKER_CONFIG.value
    assert entries["listener.name.ssl.ssl.truststore.location"].value == str(certs.ca)


def connects_with(broker, listener: str, ca: Path) -> bool:
    producer = Producer(
        {
            "bootstrap.servers": address(broker, listener),
            "security.protocol": "SSL",
            "ssl.ca.location": str(ca),
        }
    )
    try:
        producer.list_topics(timeout=3)
    except KafkaException:
        return False
    return True


def test_a_reloaded_key_store_must_keep_the_subject_and_sans(start_broker, certs, tmp_path):
    """As Kafka's SslFactory: a new key store whose certificate has another subject DN,
    or lacks a SAN of the one in use, is refused with INVALID_REQUEST (unless
    ssl.allow.dn.changes / ssl.allow.san.changes); one that adds SANs is taken."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry
    from confluent_kafka.error import KafkaError

    from tests.security.certs import make_key_store

    broker = start_broker(
        {
            "listeners": "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,OTHER://127.0.0.1:0",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SSL,OTHER:SSL",
            **tls_props(certs, "listener.name.ssl."),
            **tls_props(certs, "listener.name.other."),
            "listener.name.other.ssl.allow.dn.changes": "true",
            "listener.name.other.ssl.allow.san.changes": "true",
        }
    )
    admin = AdminClient({"bootstrap.servers": address(broker, "PLAINTEXT")})

    def alter(listener: str, location: Path):
        entry = ConfigEntry(
            f"listener.name.{listener}.ssl.keystore.location",
            str(location),
            incremental_operation=AlterConfigOpType.SET,
        )
        resource = ConfigResource("BROKER", "0", incremental_configs=[entry])
        return admin.incremental_alter_configs([resource])[resource]

    # In use: CN=localhost,O=acme with SANs localhost and 127.0.0.1.
    other_dn = make_key_store(tmp_path / "other-dn.pem", "kafka-1", "localhost")
    fewer_sans = make_key_store(tmp_path / "fewer-sans.pem", "localhost", "localhost")
    with pytest.raises(KafkaException) as refused:
        alter("ssl", other_dn).result(GUARD_S)
    error = refused.value.args[0]
    assert error.code() == KafkaError.INVALID_REQUEST
    assert "Keystore DistinguishedName does not match" in error.str()
    assert "CN=kafka-1,O=acme" in error.str()
    with pytest.raises(KafkaException, match="Keystore SubjectAltNames do not match"):
        alter("ssl", fewer_sans).result(GUARD_S)
    # Still the old certificate on SSL; OTHER allows both changes.
    assert connects_with(broker, "SSL", certs.ca)
    alter("other", other_dn).result(GUARD_S)
    # A renewal that names more (another CA, the same subject, a SAN more) is taken.
    more = make_key_store(tmp_path / "more.pem", "localhost", "localhost", "kafka.example")
    with pytest.raises(KafkaException, match="SubjectAltNames"):  # 127.0.0.1 is gone
        alter("ssl", more).result(GUARD_S)
    renewed = make_certs(tmp_path / "renewed")
    alter("ssl", renewed.broker_keystore).result(GUARD_S)
    assert connects_with(broker, "SSL", renewed.ca)


def test_a_key_store_rewritten_in_place_reloads_on_alter_configs(start_broker, certs, tmp_path):
    """cert-manager style: the file is replaced under the same name, then an
    AlterConfigs of the broker (same value) reloads it, as Kafka does; the DN/SAN
    check applies to it too."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry

    from tests.security.certs import make_key_store

    keystore = tmp_path / "live.pem"
    shutil.copy(certs.broker_keystore, keystore)
    broker = start_broker(
        {
            "listeners": "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
            **tls_props(certs, "listener.name.ssl."),
            "listener.name.ssl.ssl.keystore.location": str(keystore),
        }
    )
    admin = AdminClient({"bootstrap.servers": address(broker, "PLAINTEXT")})

    def alter_same():
        entry = ConfigEntry(
            "listener.name.ssl.ssl.keystore.location",
            str(keystore),
            incremental_operation=AlterConfigOpType.SET,
        )
        resource = ConfigResource("BROKER", "0", incremental_configs=[entry])
        return admin.incremental_alter_configs([resource])[resource]

    renewed = make_certs(tmp_path / "renewed")
    shutil.copy(renewed.broker_keystore, keystore)
    assert connects_with(broker, "SSL", certs.ca)  # not before the AlterConfigs
    alter_same().result(GUARD_S)
    assert connects_with(broker, "SSL", renewed.ca) and not connects_with(broker, "SSL", certs.ca)
    make_key_store(keystore, "kafka-1", "localhost", "127.0.0.1")
    with pytest.raises(KafkaException, match="Keystore DistinguishedName does not match"):
        alter_same().result(GUARD_S)
    assert connects_with(broker, "SSL", renewed.ca)


def test_the_inter_broker_listener_takes_only_stores_its_peers_would_accept(
    start_broker, certs, tmp_path
):
    """Kafka's SslEngineValidator: on the inter-broker listener a certificate from a
    CA the current trust store does not know is refused (the peers, with the same
    trust store, would refuse it); trusting both CAs first, then the new certificate,
    is the way through."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry

    broker = start_broker(
        {
            "listeners": "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
            "inter.broker.listener.name": "SSL",
            **tls_props(certs, "listener.name.ssl."),
            "listener.name.ssl.ssl.client.auth": "required",
        }
    )
    admin = AdminClient({"bootstrap.servers": address(broker, "PLAINTEXT")})

    def alter(**configs: str):
        entries = [
            ConfigEntry(
                f"listener.name.ssl.ssl.{key.replace('_', '.')}",
                value,
                incremental_operation=AlterConfigOpType.SET,
            )
            for key, value in configs.items()
        ]
        resource = ConfigResource("BROKER", "0", incremental_configs=entries)
        return admin.incremental_alter_configs([resource])[resource]

    # Same subject and SANs, another CA (named otherwise: OpenSSL picks issuers by name).
    renewed = make_certs(tmp_path / "renewed", ca_cn="next-ca")
    with pytest.raises(KafkaException, match="inter-broker listener"):
        alter(keystore_location=str(renewed.broker_keystore)).result(GUARD_S)
    both = tmp_path / "both-cas.pem"
    both.write_bytes(certs.ca.read_bytes() + renewed.ca.read_bytes())
    alter(truststore_location=str(both)).result(GUARD_S)
    alter(keystore_location=str(renewed.broker_keystore)).result(GUARD_S)
    assert broker.broker.listener_stores["SSL"].certificate.issuer.rfc4514_string() == (
        "CN=next-ca,O=acme"
    )
