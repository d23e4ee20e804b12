"""OAUTHBEARER with a JWKS endpoint over HTTPS (`sasl.oauthbearer.jwks.endpoint.url=
https://...`), as Kafka's RefreshingHttpsJwks: fetched at start-up (trusting the JAAS
config's ssl.truststore.*), refreshed periodically, refreshed at once (rate-limited)
for a token whose kid is unknown; confluent-kafka logs in with signed JWTs."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import AdminClient

from kafka_compat.config import ConfigError
from kafka_compat.security.jwks import RefreshingHttpsJwks, jwks_ssl_context
from tests.conftest import BrokerHandle
from tests.security.certs import make_certs
from tests.security.jwks_server import JwksServer

GUARD_S = 30.0
VALIDATOR = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"


@pytest.fixture
def certs(tmp_path):
    return make_certs(tmp_path / "certs")


@pytest.fixture
def idp(certs):
    server = JwksServer(certs.broker_keystore)
    server.add_key("k1")
    yield server
    server.close()


def trusting(certs) -> dict[str, str]:
    return {"ssl.truststore.type": "PEM", "ssl.truststore.location": str(certs.ca)}


def refreshing(idp, certs, refresh_ms=3_600_000, **kwargs) -> RefreshingHttpsJwks:
    return RefreshingHttpsJwks(
        idp.url,
        ssl_context=jwks_ssl_context(trusting(certs)),
        refresh_ms=refresh_ms,
        retry_backoff_ms=kwargs.get("backoff_ms", 10),
        retry_backoff_max_ms=kwargs.get("backoff_max_ms", 40),
        clock=kwargs.get("clock", time.monotonic),
    )


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + GUARD_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_keys_are_fetched_at_start_and_an_unknown_kid_refreshes_them_once_a_minute(idp, certs):
    now = [1000.0]
    jwks = refreshing(idp, certs, clock=lambda: now[0])
    try:
        assert set(jwks.keys()) == {"k1"} and idp.requests == 1
        idp.add_key("k2")
        assert jwks.maybe_expedite_refresh("k2") is True
        wait_until(lambda: "k2" in jwks.keys(), "the refresh never brought k2")
        # Rate-limited per kid: asked again within the minute, no refresh.
        assert jwks.maybe_expedite_refresh("k3") is True
        wait_until(lambda: jwks.refreshes == 3, "no refresh for k3")
        assert jwks.maybe_expedite_refresh("k3") is False
        now[0] += 61
        assert jwks.maybe_expedite_refresh("k3") is True
    finally:
        jwks.close()


def test_periodic_refresh_and_a_failing_endpoint_keeps_the_old_keys(idp, certs):
    jwks = refreshing(idp, certs, refresh_ms=100)
    try:
        idp.add_key("k2")
        wait_until(lambda: "k2" in jwks.keys(), "no periodic refresh")
        idp.fail = True
        seen = idp.requests
        wait_until(lambda: idp.requests >= seen + 3, "no retries while failing")
        assert set(jwks.keys()) == {"k1", "k2"}
    finally:
        jwks.close()


def test_an_endpoint_that_is_not_trusted_or_not_there_stops_start_up(idp, certs):
    # The test CA is not among the system's: the certificate does not verify.
    with pytest.raises(ConfigError, match="CERTIFICATE_VERIFY_FAILED"):
        RefreshingHttpsJwks(
            idp.url,
            ssl_context=jwks_ssl_context({}),
            refresh_ms=1000,
            retry_backoff_ms=10,
            retry_backoff_max_ms=10,
        )
    idp.fail = True
    with pytest.raises(ConfigError, match="Cannot fetch the JWKS"):
        refreshing(idp, certs)


def oauth_props(idp, certs, **extra) -> dict[str, str]:
    options = " ".join(f'{k}="{v}"' for k, v in trusting(certs).items())
    return {
        "listeners": "SASL_PLAINTEXT://127.0.0.1:0",
        "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "OAUTHBEARER",
        "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config": (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
            f"{options};"
        ),
        "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class": VALIDATOR,
        "sasl.oauthbearer.jwks.endpoint.url": idp.url,
        "sasl.oauthbearer.expected.audience": "kafka",
        **extra,
    }


def login(handle, token_fn) -> list[KafkaError]:
    """Connect an AdminClient with OAUTHBEARER and token_fn: the authentication errors
    it reports until it lists the topics (or none)."""
    errors: list[KafkaError] = []

    def oauth_cb(_config):
        token = token_fn()
        return token, time.time() + 600

    admin = AdminClient(
        {
            "bootstrap.servers": handle.bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "OAUTHBEARER",
            "oauth_cb": oauth_cb,
            "error_cb": errors.append,
        }
    )
    try:
        admin.list_topics(timeout=5)
        return []
    except Exception:
        return [e for e in errors if e.code() == KafkaError._AUTHENTICATION] or errors


def test_confluent_kafka_logs_in_with_a_token_signed_by_a_rotated_key(idp, certs, tmp_path):
    handle = BrokerHandle(tmp_path / "broker", oauth_props(idp, certs))
    handle.start()
    try:
        claims = {"sub": "svc", "aud": "kafka"}
        assert login(handle, lambda: idp.token("k1", exp=time.time() + 600, **claims)) == []
        # The IdP rotates to k2: the first login with it is refused (and refreshes the
        # keys), a later one gets in, without waiting for the hourly refresh.
        idp.add_key("k2")
        before = idp.requests
        deadline = time.monotonic() + GUARD_S
        while login(handle, lambda: idp.token("k2", exp=time.time() + 600, **claims)):
            assert time.monotonic() < deadline, "a k2 token never got in"
        assert idp.requests == before + 1  # one refresh, asked for by the unknown kid
    finally:
        handle.stop()


def test_a_jwks_endpoint_that_cannot_be_fetched_stops_start_up(idp, certs, tmp_path):
    idp.fail = True
    handle = BrokerHandle(tmp_path / "broker", oauth_props(idp, certs))
    with pytest.raises(Exception, match="Cannot fetch the JWKS"):
        handle.start()
