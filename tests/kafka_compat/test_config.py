"""Broker configuration: Kafka's key names, defaults, and errors that name the key."""

import subprocess
import sys

import pytest

from kafka_compat.config import (
    BrokerConfig,
    ConfigError,
    load_broker_config,
    validate_topic_configs,
)
from kafka_compat.properties import PropertiesError, parse_properties
from kafka_compat.security.listeners import listener_config


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


def test_properties_as_javas_properties_load_reads_them():
    text = (
        "key value\n"  # a blank separates too
        "spaced  =  v  \n"
        "even=ends in a backslash\\\\\n"  # an escaped backslash: no continuation
        "next=line\n"
        "escapes=\\u0041\\t\\=\\:\\\\.\n"  # a regex's \\. is \.
        "a\\ b=c\n"
        "jaas=Module required \\\n"
        '    username="u" \\\n'
        "# not a comment: part of the value\n"
        "hash=#value\n"
    )
    assert parse_properties(text) == {
        "key": "value",
        "spaced": "v",
        "even": "ends in a backslash\\",
        "next": "line",
        "escapes": "A\t=:\\.",
        "a b": "c",
        "jaas": 'Module required username="u" # not a comment: part of the value',
        "hash": "#value",
    }
    with pytest.raises(PropertiesError, match="Malformed"):
        parse_properties("bad=\\u12x4\n")


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
        # SASL between brokers: Kafka's default mechanism GSSAPI is not served.
        (
            {
                "listeners": "SASL_SSL://127.0.0.1:9093",
                "sasl.enabled.mechanisms": "PLAIN",
                "security.inter.broker.protocol": "SASL_SSL",
                "zookeeper.connect": "zk:2181",
            },
            "sasl.mechanism.inter.broker.protocol",
        ),
        (
            {"sasl.mechanism.inter.broker.protocol": "GSSAPI"},
            "sasl.mechanism.inter.broker.protocol",
        ),
        # Kafka's check: the brokers' own mechanism must be enabled on their listener.
        (
            {
                "listeners": "SASL_PLAINTEXT://127.0.0.1:9093",
                "sasl.enabled.mechanisms": "PLAIN",
                "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
                "security.inter.broker.protocol": "SASL_PLAINTEXT",
                "zookeeper.connect": "zk:2181",
            },
            "sasl.mechanism.inter.broker.protocol",
        ),
        # The broker's OAUTHBEARER login from a token endpoint over HTTPS: not served.
        (
            {"sasl.oauthbearer.token.endpoint.url": "https://idp.example.com/token"},
            "sasl.oauthbearer.token.endpoint.url",
        ),
        ({"listeners": "INTERNAL://:9092"}, "listeners"),  # no protocol for INTERNAL
        ({"advertised.listeners": "SASL_PLAINTEXT://h:9092"}, "advertised.listeners"),
        # A SASL listener on Kafka's default mechanism, GSSAPI, which is not served.
        ({"listeners": "SASL_PLAINTEXT://:9092"}, "sasl.enabled.mechanisms"),
        ({"sasl.enabled.mechanisms": "SCRAM-SHA-512,GSSAPI"}, "sasl.enabled.mechanisms"),
        (
            {"listener.name.client.sasl.enabled.mechanisms": "PLAIN,GSSAPI"},
            "listener.name.client.sasl.enabled.mechanisms",
        ),
        (
            {"listener.name.internal.gssapi.sasl.jaas.config": "x"},
            "listener.name.internal.gssapi.sasl.jaas.config",
        ),
        ({"ssl.engine.factory.class": "x.Y"}, "ssl.engine.factory.class"),
        ({"principal.builder.class": "com.example.Builder"}, "principal.builder.class"),
        ({"authorizer.class.name": "com.example.MyAuthorizer"}, "authorizer.class.name"),
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


def test_several_listeners_with_their_protocols():
    config = BrokerConfig(
        {
            "listeners": "CLIENT://0.0.0.0:9092,internal://127.0.0.1:9093,SSL://:9094",
            "advertised.listeners": "CLIENT://kafka.example:19092",
            "listener.security.protocol.map": "CLIENT:SASL_SSL,INTERNAL:PLAINTEXT,SSL:SSL",
            "inter.broker.listener.name": "INTERNAL",
            "sasl.enabled.mechanisms": "PLAIN",
            "listener.name.client.ssl.client.auth": "required",
        }
    )
    assert [(e.listener, e.protocol) for e in config.listeners] == [
        ("CLIENT", "SASL_SSL"),
        ("INTERNAL", "PLAINTEXT"),
        ("SSL", "SSL"),
    ]
    assert [(e.host, e.port) for e in config.advertised_listeners] == [
        ("kafka.example", 19092),
        ("127.0.0.1", 9093),
        ("127.0.0.1", 9094),
    ]
    assert config.inter_broker_listener == "INTERNAL"
    assert listener_config(config, "CLIENT", "ssl.client.auth") == "required"
    assert listener_config(config, "SSL", "ssl.client.auth") == "none"


def test_inter_broker_listener_and_protocol_are_exclusive():
    with pytest.raises(ConfigError, match="Only one of inter.broker.listener.name"):
        BrokerConfig(
            {
                "inter.broker.listener.name": "PLAINTEXT",
                "security.inter.broker.protocol": "PLAINTEXT",
            }
        )


def test_plaintext_spelled_out_is_accepted():
    config = BrokerConfig(
        {
            "listeners": "CLIENT://127.0.0.1:9092",
            "listener.security.protocol.map": "CLIENT:PLAINTEXT",
            "inter.broker.listener.name": "CLIENT",
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


def test_port_flag_moves_the_first_listener_and_keeps_its_protocol():
    import argparse

    from kafka_compat.cli import _serve_overrides

    base = BrokerConfig(
        {
            "listeners": "SASL_SSL://0.0.0.0:9093,INTERNAL://127.0.0.1:9092",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,INTERNAL:PLAINTEXT",
            "inter.broker.listener.name": "INTERNAL",
            "sasl.enabled.mechanisms": "PLAIN",
        }
    )
    args = argparse.Namespace(
        host=None,
        port=19093,
        advertised_host=None,
        advertised_port=None,
        data_dir=None,
        zookeeper=None,
        broker_id=None,
        override=[],
    )
    overrides = _serve_overrides(args, base)
    assert overrides["listeners"] == "SASL_SSL://0.0.0.0:19093,INTERNAL://127.0.0.1:9092"


def test_quota_keys_kafka_39_has_and_the_ones_it_removed():
    config = BrokerConfig({"quota.window.num": "2", "quota.window.size.seconds": "3"})
    assert (config["quota.window.num"], config["quota.window.size.seconds"]) == (2, 3)
    with pytest.raises(ConfigError, match=r"quota\.window\.num"):
        BrokerConfig({"quota.window.num": "0"})
    # Kafka 3.0 removed the static defaults: unknown (a warning), as in Kafka 3.9.
    config = BrokerConfig({"quota.producer.default": "1024"})
    assert "quota.producer.default" not in config.explicit
    with pytest.raises(ConfigError, match="ClientQuotaCallback cannot be loaded"):
        BrokerConfig({"client.quota.callback.class": "com.example.Quotas"})
