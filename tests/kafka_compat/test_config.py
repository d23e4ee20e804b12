"""Broker configuration: Kafka's key names, defaults, and errors that name the key."""

import subprocess
import sys

import pytest

from kafka_compat.config import (
    BrokerConfig,
    ConfigError,
    load_broker_config,
    parse_properties,
    validate_topic_configs,
)


def test_properties_syntax_comments_colons_and_continuations():
    text = (
        "# comment\n! also\nbroker.id=3\nlog.dirs : /tmp/a,/tmp/b\n"
        "listeners=PLAINTEXT://\\\n  h:1\n"
    )
    assert parse_properties(text) == {
        "broker.id": "3",
        "log.dirs": "/tmp/a,/tmp/b",
        "listeners": "PLAINTEXT://h:1",
    }


def test_defaults_are_kafkas():
    config = BrokerConfig({})
    assert (config.host, config.port) == ("127.0.0.1", 9092)
    assert config["num.partitions"] == 1
    assert config["auto.create.topics.enable"] is True
    assert config["message.max.bytes"] == 1048588
    assert config.retention_ms == 168 * 3_600_000
    assert config.topic_defaults()["max.message.bytes"] == "1048588"


def test_finest_grained_retention_key_wins():
    config = BrokerConfig({"log.retention.hours": "1", "log.retention.minutes": "5"})
    assert config.topic_defaults()["retention.ms"] == str(5 * 60_000)


@pytest.mark.parametrize(
    "key, value",
    [
        ("num.partitions", "zero"),
        ("num.partitions", "0"),
        ("auto.create.topics.enable", "yes"),
        ("log.cleanup.policy", "forever"),
        ("listeners", "localhost"),
        ("replica.selector.class", "com.example.NearestSelector"),
        ("leader.imbalance.per.broker.percentage", "-1"),
    ],
)
def test_invalid_value_names_the_key(key, value):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        BrokerConfig({key: value})


@pytest.mark.parametrize(
    "props, key",
    [
        ({"listeners": "SASL_SSL://127.0.0.1:9093"}, "listeners"),
        ({"listeners": "SSL://:9093"}, "listeners"),
        ({"listeners": "PLAINTEXT://:9092,SSL://:9093"}, "listeners"),
        (
            {"listeners": "INTERNAL://:9092", "listener.security.protocol.map": "INTERNAL:SSL"},
            "listeners",
        ),
        ({"advertised.listeners": "SASL_PLAINTEXT://h:9092"}, "advertised.listeners"),
        ({"ssl.keystore.location": "/etc/kafka/broker.p12"}, "ssl.keystore.location"),
        ({"sasl.enabled.mechanisms": "SCRAM-SHA-512"}, "sasl.enabled.mechanisms"),
        (
            {"listener.name.internal.ssl.keystore.type": "PEM"},
            "listener.name.internal.ssl.keystore.type",
        ),
        ({"authorizer.class.name": "com.example.MyAuthorizer"}, "authorizer.class.name"),
        ({"principal.builder.class": "com.example.Builder"}, "principal.builder.class"),
        ({"security.inter.broker.protocol": "SSL"}, "security.inter.broker.protocol"),
        ({"client.quota.callback.class": "com.example.Quotas"}, "client.quota.callback.class"),
    ],
)
def test_security_it_cannot_honour_stops_start_up(props, key):
    """A broker never serves a listener with less security than configured."""
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        BrokerConfig(props)


def test_kafkas_authorizer_and_its_keys_are_honoured():
    config = BrokerConfig(
        {
            "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
            "super.users": "User:admin;User:ops",
            "allow.everyone.if.no.acl.found": "true",
        }
    )
    assert config["allow.everyone.if.no.acl.found"] is True


def test_known_sasl_settings_without_a_sasl_listener_are_accepted():
    # Kafka's dynamic per-broker SASL settings weaken nothing on a PLAINTEXT broker.
    config = BrokerConfig({"sasl.kerberos.min.time.before.relogin": "60000"})
    assert config["sasl.kerberos.min.time.before.relogin"] == 60000


def test_plaintext_spelled_out_is_accepted():
    config = BrokerConfig(
        {
            "listeners": "CLIENT://127.0.0.1:9092",
            "listener.security.protocol.map": "CLIENT:PLAINTEXT",
            "inter.broker.listener.name": "CLIENT",
            "security.inter.broker.protocol": "PLAINTEXT",
        }
    )
    assert (config.host, config.port) == ("127.0.0.1", 9092)


def test_flags_override_the_file(tmp_path):
    path = tmp_path / "server.properties"
    path.write_text("num.partitions=4\nmessage.max.bytes=100\n")
    config = load_broker_config(path, {"num.partitions": "6"})
    assert config["num.partitions"] == 6
    assert config["message.max.bytes"] == 100


def test_topic_config_validation():
    assert validate_topic_configs({"retention.ms": "1000"}) == {"retention.ms": "1000"}
    with pytest.raises(ConfigError, match="retention.mss"):
        validate_topic_configs({"retention.mss": "1"})
    with pytest.raises(ConfigError, match="cleanup.policy"):
        validate_topic_configs({"cleanup.policy": "sometimes"})


def test_cli_refuses_an_invalid_config_with_the_key_in_the_message(tmp_path):
    path = tmp_path / "server.properties"
    path.write_text("message.max.bytes=lots\n")
    result = subprocess.run(
        [sys.executable, "-m", "kafka_compat", "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "message.max.bytes" in result.stderr


def test_every_key_has_kafkas_type_and_a_description():
    """DescribeConfigs v3+ never answers ConfigType UNKNOWN for a key we report."""
    from kafka_compat.config import BROKER_KEYS, TOPIC_KEYS
    from kafka_compat.config_docs import BROKER_CONFIG_DOCS, TOPIC_CONFIG_DOCS

    assert set(BROKER_CONFIG_DOCS) == set(BROKER_KEYS)
    assert set(TOPIC_CONFIG_DOCS) == set(TOPIC_KEYS)
    for _, doc in (*BROKER_CONFIG_DOCS.values(), *TOPIC_CONFIG_DOCS.values()):
        assert doc


def test_deprecated_message_format_version_is_accepted_and_checked():
    assert BrokerConfig({})["log.message.format.version"] == "3.0-IV1"
    assert BrokerConfig({"log.message.format.version": "0.10.2"})["log.message.format.version"]
    assert validate_topic_configs({"message.format.version": "2.8-IV1"})
    assert validate_topic_configs({"message.format.version": "0.10.0.0"})  # librdkafka's
    with pytest.raises(ConfigError, match=r"message\.format\.version"):
        validate_topic_configs({"message.format.version": "abc"})


def test_compression_levels_take_the_broker_value_of_the_same_name():
    config = BrokerConfig({"compression.gzip.level": "5"})
    assert config.topic_defaults()["compression.gzip.level"] == "5"
    assert config.topic_defaults()["compression.zstd.level"] == "3"
    assert config.topic_defaults()["message.timestamp.after.max.ms"] == str(2**63 - 1)
