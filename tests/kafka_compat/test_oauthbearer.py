"""OAUTHBEARER server side (security/oauthbearer.py), without a broker: Kafka's
unsecured tokens and signed JWTs against a JWKS file, with tokens made here, and the
JSON error challenge then SASL_AUTHENTICATION_FAILED's message as Kafka."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from kafka_compat.config import ConfigError
from kafka_compat.security.oauthbearer import (
    JWT_VALIDATOR,
    JwksValidator,
    OAuthBearerSaslServer,
    UnsecuredValidator,
    validator_for,
)
from kafka_compat.security.sasl import MECHANISMS, SaslAuthenticationError

INVALID = (
    "Authentication failed during authentication due to invalid credentials with "
    "SASL mechanism OAUTHBEARER"
)


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def unsecured_token(**claims) -> str:
    """What Kafka's OAuthBearerUnsecuredLoginCallbackHandler makes
    (unsecuredLoginStringClaim_sub=...)."""
    now = time.time()
    body = {"iat": now, "exp": now + 3600, "sub": "alice", **claims}
    body = {k: v for k, v in body.items() if v is not None}
    return f"{b64({'alg': 'none'})}.{b64(body)}."


def client_response(token: str, authzid: str = "", **extensions: str) -> bytes:
    kvs = "".join(f"{k}={v}\x01" for k, v in extensions.items())
    return f"n,{'a=' + authzid if authzid else ''},\x01auth=Bearer {token}\x01{kvs}\x01".encode()


def fails_with_challenge(server: OAuthBearerSaslServer, response: bytes) -> str:
    """The JSON challenge, then the message the client gets after acknowledging it."""
    challenge = server.evaluate(response).decode()
    assert not server.complete
    with pytest.raises(SaslAuthenticationError) as failed:
        server.evaluate(b"\x01")
    assert str(failed.value) == challenge
    return challenge


def test_unsecured_token_logs_in_with_lifetime_and_extensions() -> None:
    server = OAuthBearerSaslServer(UnsecuredValidator({}))
    assert server.evaluate(client_response(unsecured_token(), traceId="abc 123")) == b""
    assert server.complete
    assert server.authorization_id == "alice"
    assert server.extensions == {"traceId": "abc 123"}
    assert 3_500_000 < server.session_lifetime_ms <= 3_600_000
    assert server.token_expiry_ms > time.time() * 1000


def test_unsecured_expired_token_gets_invalid_token() -> None:
    server = OAuthBearerSaslServer(UnsecuredValidator({}))
    token = unsecured_token(iat=time.time() - 100, exp=time.time() - 10)
    assert fails_with_challenge(server, client_response(token)) == '{"status":"invalid_token"}'


def test_unsecured_clock_skew_and_principal_claim_options() -> None:
    options = {
        "unsecuredValidatorAllowableClockSkewMs": "60000",
        "unsecuredValidatorPrincipalClaimName": "client_id",
    }
    server = OAuthBearerSaslServer(UnsecuredValidator(options))
    token = unsecured_token(exp=time.time() - 10, iat=time.time() - 100, client_id="svc-1")
    server.evaluate(client_response(token))
    assert server.authorization_id == "svc-1"
    assert server.session_lifetime_ms == 0


def test_unsecured_required_scope() -> None:
    validator = UnsecuredValidator({"unsecuredValidatorRequiredScope": "kafka write"})
    server = OAuthBearerSaslServer(validator)
    challenge = fails_with_challenge(server, client_response(unsecured_token(scope="kafka")))
    assert challenge == '{"status":"insufficient_scope", "scope":"[kafka, write]"}'
    ok = OAuthBearerSaslServer(validator)
    ok.evaluate(client_response(unsecured_token(scope="read kafka write")))
    assert ok.complete


@pytest.mark.parametrize(
    "token",
    [
        unsecured_token(sub=None),  # no principal
        unsecured_token(exp=None),  # no expiry
        f"{b64({'alg': 'HS256'})}.{b64({'sub': 'a', 'exp': time.time() + 60})}.",
        f"{b64({'alg': 'none'})}.{b64({'sub': 'a', 'exp': time.time() + 60})}.c2ln",
        "not-a-jwt",
    ],
    # Stable ids (the tokens hold the time): pytest-xdist's workers must collect alike.
    ids=["no-sub", "no-exp", "signed-alg", "unsecured-with-signature", "not-a-jwt"],
)
def test_unsecured_bad_tokens(token: str) -> None:
    server = OAuthBearerSaslServer(UnsecuredValidator({}))
    assert fails_with_challenge(server, client_response(token)) == '{"status":"invalid_token"}'


@pytest.mark.parametrize(
    "response",
    [
        b"",
        b"garbage",
        b"n,,\x01auth=Basic abc\x01\x01",
        b"n,,\x01\x01",  # no auth
        b"y,,\x01auth=Bearer a.b.\x01\x01",
        b"n,,auth=Bearer a.b.\x01\x01",
        b"\x01",  # an acknowledgement with no error to acknowledge
        b"\xff",
    ],
)
def test_malformed_client_responses(response: bytes) -> None:
    server = OAuthBearerSaslServer(UnsecuredValidator({}))
    with pytest.raises(SaslAuthenticationError) as failed:
        server.evaluate(response)
    assert str(failed.value) == INVALID


def test_authzid_must_be_the_principal() -> None:
    server = OAuthBearerSaslServer(UnsecuredValidator({}))
    server.evaluate(client_response(unsecured_token(), authzid="alice"))
    assert server.complete
    other = OAuthBearerSaslServer(UnsecuredValidator({}))
    with pytest.raises(SaslAuthenticationError, match=r"authorization id \(bob\)"):
        other.evaluate(client_response(unsecured_token(), authzid="bob"))


# ---- signed JWTs against a JWKS file ----


@pytest.fixture(scope="module")
def keys():
    return {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in "ab"}


@pytest.fixture
def jwks_file(tmp_path, keys):
    path = tmp_path / "jwks.json"
    entries = []
    for kid in ("a",):  # key "b" is not published
        jwk = json.loads(RSAAlgorithm.to_jwk(keys[kid].public_key()))
        entries.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
    path.write_text(json.dumps({"keys": entries}))
    return path


def signed(keys, kid: str = "a", **claims) -> str:
    now = int(time.time())
    body = {"sub": "svc", "iat": now, "exp": now + 600, "aud": "kafka", "iss": "https://idp"}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, keys[kid], algorithm="RS256", headers={"kid": kid})


def jwks_validator(path, **kwargs) -> JwksValidator:
    kwargs.setdefault("audience", ["kafka"])
    kwargs.setdefault("issuer", "https://idp")
    return JwksValidator(path.as_uri(), **kwargs)


def test_signed_token_logs_in(keys, jwks_file) -> None:
    server = OAuthBearerSaslServer(jwks_validator(jwks_file))
    server.evaluate(client_response(signed(keys)))
    assert server.complete and server.authorization_id == "svc"
    assert 500_000 < server.session_lifetime_ms <= 600_000


def test_sub_claim_name(keys, jwks_file) -> None:
    server = OAuthBearerSaslServer(jwks_validator(jwks_file, sub_claim="client_id"))
    server.evaluate(client_response(signed(keys, client_id="app-7")))
    assert server.authorization_id == "app-7"


@pytest.mark.parametrize(
    "change",
    [
        {"kid": "b"},  # signed by a key the JWKS does not have
        {"aud": "other"},
        {"iss": "https://evil"},
        {"exp": int(time.time()) - 120},  # beyond the 30 s skew
        {"exp": None},
        {"sub": None},
    ],
)
def test_signed_token_refused(keys, jwks_file, change) -> None:
    server = OAuthBearerSaslServer(jwks_validator(jwks_file))
    token = signed(keys, **change)
    assert fails_with_challenge(server, client_response(token)) == '{"status":"invalid_token"}'


def test_within_clock_skew_and_tampered(keys, jwks_file) -> None:
    server = OAuthBearerSaslServer(jwks_validator(jwks_file))
    server.evaluate(client_response(signed(keys, exp=int(time.time()) - 5)))
    assert server.complete
    header, body, signature = signed(keys).split(".")
    forged = b64({**json.loads(base64.urlsafe_b64decode(body + "==")), "sub": "admin"})
    other = OAuthBearerSaslServer(jwks_validator(jwks_file))
    token = f"{header}.{forged}.{signature}"
    assert fails_with_challenge(other, client_response(token)) == '{"status":"invalid_token"}'


def test_unsigned_token_refused_by_the_jwt_validator(jwks_file) -> None:
    server = OAuthBearerSaslServer(jwks_validator(jwks_file))
    token = unsecured_token(aud="kafka", iss="https://idp")
    assert fails_with_challenge(server, client_response(token)) == '{"status":"invalid_token"}'


def test_jwks_file_is_reread_when_it_changes(keys, jwks_file) -> None:
    validator = jwks_validator(jwks_file)
    entries = json.loads(jwks_file.read_text())["keys"]
    jwk = json.loads(RSAAlgorithm.to_jwk(keys["b"].public_key()))
    entries.append({**jwk, "kid": "b", "alg": "RS256"})
    jwks_file.write_text(json.dumps({"keys": entries}))
    import os

    os.utime(jwks_file, (time.time() + 5, time.time() + 5))
    server = OAuthBearerSaslServer(validator)
    server.evaluate(client_response(signed(keys, kid="b")))
    assert server.complete


# ---- choosing the validator from the listener's config ----


class Config:
    """The parts of BrokerConfig the mechanism reads (listener overrides included)."""

    def __init__(self, values: dict[str, str]) -> None:
        self.listener_props = {k: v for k, v in values.items() if k.startswith("listener.name.")}
        self.values = {k: v for k, v in values.items() if not k.startswith("listener.name.")}

    def __getitem__(self, key: str):
        return self.values[key]

    def parse_key(self, name: str, raw: str) -> str:
        return raw


JAAS = (
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
    'unsecuredLoginStringClaim_sub="admin" unsecuredValidatorRequiredScope="kafka";'
)


def test_validator_from_config(jwks_file) -> None:
    unsecured = validator_for(
        Config({"listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config": JAAS}),
        "SASL_PLAINTEXT",
    )
    assert isinstance(unsecured, UnsecuredValidator)
    assert unsecured.required_scope == ["kafka"]
    signed_ = validator_for(
        Config(
            {
                "listener.name.sasl_ssl.oauthbearer.sasl.jaas.config": JAAS,
                "listener.name.sasl_ssl.oauthbearer.sasl.server.callback.handler.class": (
                    JWT_VALIDATOR
                ),
                "sasl.oauthbearer.jwks.endpoint.url": jwks_file.as_uri(),
                "sasl.oauthbearer.expected.audience": "kafka,other",
                "sasl.oauthbearer.expected.issuer": "https://idp",
            }
        ),
        "SASL_SSL",
    )
    assert isinstance(signed_, JwksValidator)
    assert signed_.audience == ["kafka", "other"] and signed_.clock_skew_s == 30
    with pytest.raises(ConfigError, match="no JAAS config"):
        validator_for(Config({}), "SASL_PLAINTEXT")
    with pytest.raises(ConfigError, match="not supported"):
        validator_for(
            Config(
                {
                    "sasl.jaas.config": JAAS,
                    "listener.name.x.oauthbearer.sasl.server.callback.handler.class": "com.Foo",
                }
            ),
            "X",
        )
    with pytest.raises(ConfigError, match="expected a file://, https:// or http:// URL"):
        JwksValidator("ftp://idp/jwks")


def test_mechanism_is_registered() -> None:
    assert "OAUTHBEARER" in MECHANISMS
