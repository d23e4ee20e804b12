"""The broker's own SASL logins (security/login.py), checked against our servers: the
unsecured OAUTHBEARER token validates with Kafka's unsecured validator, a token file
is read at each login, and the configs Kafka refuses are refused with the key named."""

from __future__ import annotations

import pytest

from kafka_compat.config import BrokerConfig, ConfigError
from kafka_compat.security.login import OAuthBearerClient, PlainClient, inter_broker_login
from kafka_compat.security.oauthbearer import OAuthBearerSaslServer, UnsecuredValidator
from kafka_compat.security.scram_client import ScramClient

OAUTH_MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
HANDLER = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler"


def config(mechanism: str, **props: str) -> BrokerConfig:
    return BrokerConfig(
        {
            "listeners": "CLIENT://127.0.0.1:9092,INTERNAL://127.0.0.1:9093",
            "listener.security.protocol.map": "CLIENT:PLAINTEXT,INTERNAL:SASL_PLAINTEXT",
            "inter.broker.listener.name": "INTERNAL",
            "sasl.mechanism.inter.broker.protocol": mechanism,
            "listener.name.internal.sasl.enabled.mechanisms": mechanism,
            **props,
        }
    )


def test_plain_and_scram_logins_come_from_the_listeners_jaas_config():
    plain = config(
        "PLAIN",
        **{
            "listener.name.internal.plain.sasl.jaas.config": (
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                'username="broker" password="pw" user_broker="pw";'
            )
        },
    )
    mechanism, principal, factory = inter_broker_login(plain, "INTERNAL")
    assert (mechanism, principal) == ("PLAIN", "broker")
    assert isinstance(factory(), PlainClient) and factory().initial() == b"\0broker\0pw"
    scram = config(
        "SCRAM-SHA-256",
        **{
            "listener.name.internal.scram-sha-256.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                'username="broker" password="pw";'
            )
        },
    )
    mechanism, principal, factory = inter_broker_login(scram, "INTERNAL")
    assert (mechanism, principal) == ("SCRAM-SHA-256", "broker")
    assert isinstance(factory(), ScramClient)


def test_scram_without_the_brokers_own_login_is_refused():
    scram = config(
        "SCRAM-SHA-512",
        **{
            "listener.name.internal.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            )
        },
    )
    with pytest.raises(ConfigError, match='username="..." password="..."'):
        inter_broker_login(scram, "INTERNAL")
    with pytest.raises(ConfigError, match="no JAAS config"):
        inter_broker_login(config("SCRAM-SHA-512"), "INTERNAL")


def test_an_unsecured_token_passes_kafkas_unsecured_validator():
    jaas = (
        f'{OAUTH_MODULE} required unsecuredLoginStringClaim_sub="broker" '
        'unsecuredLoginListClaim_scope=",kafka,admin" unsecuredLoginExtension_traceId="x1";'
    )
    cfg = config("OAUTHBEARER", **{"listener.name.internal.oauthbearer.sasl.jaas.config": jaas})
    mechanism, principal, factory = inter_broker_login(cfg, "INTERNAL")
    assert (mechanism, principal) == ("OAUTHBEARER", "broker")
    server = OAuthBearerSaslServer(UnsecuredValidator({"unsecuredValidatorRequiredScope": "kafka"}))
    client = factory()
    assert client.evaluate(server.evaluate(client.initial())) is None
    assert server.complete and server.authorization_id == "broker"
    assert server.extensions == {"traceId": "x1"}
    assert 3_500_000 < server.session_lifetime_ms <= 3_600_000


def test_a_token_file_is_read_at_each_login(tmp_path):
    token = tmp_path / "broker.jwt"
    token.write_text("aaa.bbb.ccc\n")
    cfg = config(
        "OAUTHBEARER",
        **{
            "listener.name.internal.oauthbearer.sasl.jaas.config": f"{OAUTH_MODULE} required;",
            "listener.name.internal.oauthbearer.sasl.login.callback.handler.class": HANDLER,
            "sasl.oauthbearer.token.endpoint.url": token.as_uri(),
        },
    )
    _, principal, factory = inter_broker_login(cfg, "INTERNAL")
    assert principal is None  # not a JWT we can read: no ACL warning at start-up
    assert factory().initial() == b"n,,\x01auth=Bearer aaa.bbb.ccc\x01\x01"
    token.write_text("ddd.eee.fff")
    assert isinstance(factory(), OAuthBearerClient)
    assert b"ddd.eee.fff" in factory().initial()


def test_an_unsecured_login_needs_a_subject_and_other_handlers_are_refused():
    bare = config(
        "OAUTHBEARER",
        **{"listener.name.internal.oauthbearer.sasl.jaas.config": f"{OAUTH_MODULE} required;"},
    )
    with pytest.raises(ConfigError, match="unsecuredLoginStringClaim_sub"):
        inter_broker_login(bare, "INTERNAL")
    other = config(
        "OAUTHBEARER",
        **{
            "listener.name.internal.oauthbearer.sasl.jaas.config": f"{OAUTH_MODULE} required;",
            "sasl.login.callback.handler.class": "com.example.MyLogin",
        },
    )
    with pytest.raises(ConfigError, match="not supported"):
        inter_broker_login(other, "INTERNAL")


def test_an_error_challenge_is_acknowledged():
    client = OAuthBearerClient("t.o.k")
    assert client.evaluate(b'{"status":"invalid_token"}') == b"\x01"
    assert client.evaluate(b"") is None
