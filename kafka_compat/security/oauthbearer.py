"""SASL OAUTHBEARER (RFC 7628), the server side, as Kafka's OAuthBearerSaslServer.

The client's one message: a GS2 header, then key=value pairs separated by ^A:

    n,[a=<authzid>],^Aauth=Bearer <token>^A[<extension>=<value>^A...]^A

The token is checked by one of Kafka's two validators, chosen like Kafka by the
listener's `listener.name.<l>.oauthbearer.sasl.server.callback.handler.class`:

- unset: OAuthBearerUnsecuredValidatorCallbackHandler, for development. Unsigned JWTs
  (alg "none", empty signature) with `exp` and a principal claim; the options come
  from the listener's OAuthBearerLoginModule JAAS config: unsecuredValidator-
  PrincipalClaimName (sub), -ScopeClaimName (scope), -RequiredScope (space separated),
  -AllowableClockSkewMs (0).
- org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler:
  signed JWTs checked with PyJWT against the keys of `sasl.oauthbearer.jwks.endpoint.
  url` (a file, re-read when it changes, or an HTTPS endpoint refreshed in the
  background: security/jwks.py), with
  `sasl.oauthbearer.expected.audience` / `.expected.issuer` when set, `exp` required,
  `sasl.oauthbearer.sub.claim.name` naming the user, `.clock.skew.seconds` allowed.

A token that fails answers a challenge with Kafka's JSON error ({"status":
"invalid_token"}, or "insufficient_scope" with the scope); the client acknowledges it
with ^A and the login fails with that JSON as the message (SASL_AUTHENTICATION_FAILED).
Extensions are accepted and kept (`extensions`), as both of Kafka's validators do.
`session_lifetime_ms` is what is left of the token's life at login, for KIP-368
re-authentication (`token_expiry_ms`: the expiry itself, ms since the epoch).
"""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import time
from typing import Any

from kafka_compat.config import ConfigError
from kafka_compat.security.jwks import FileJwks, RefreshingHttpsJwks, jwks_source
from kafka_compat.security.listeners import listener_config
from kafka_compat.security.plain import parse_jaas
from kafka_compat.security.sasl import MECHANISMS, SaslAuthenticationError, SaslContext

__all__ = [
    "JwksValidator",
    "OAuthBearerSaslServer",
    "TokenError",
    "UnsecuredValidator",
    "ValidatedToken",
]

log = logging.getLogger(__name__)

LOGIN_MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
JWT_VALIDATOR = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
UNSECURED_VALIDATOR = (
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerUnsecuredValidatorCallbackHandler"
)
# Kafka 3.x also knows the older package names of the same classes.
_JWT_VALIDATORS = {
    JWT_VALIDATOR,
    "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerValidatorCallbackHandler",
}
_SEP = "\x01"
_CLIENT_RESPONSE = re.compile(
    r"n,(?:a=(?P<authzid>(?:[\x01-\x2b\x2d-\x3c\x3e-\x7f]|=2C|=3D)+))?,"
    r"\x01(?P<kvpairs>(?:[A-Za-z]+=[\x21-\x7e \t\r\n]+\x01)*)\x01",
    re.DOTALL,
)
_AUTH = re.compile(r"(?P<scheme>\w+) +(?P<token>[-_~+/.a-zA-Z0-9]+=*)")
_EXTENSION_KEY = re.compile(r"[A-Za-z]+")


class TokenError(Exception):
    """A token that does not validate: `status` and `scope` go into the JSON challenge."""

    def __init__(self, message: str, status: str = "invalid_token", scope: str | None = None):
        super().__init__(message)
        self.status = status
        self.scope = scope

    def json(self) -> str:
        # Kafka's OAuthBearerSaslServer.jsonErrorResponse, spacing included.
        text = f'{{"status":"{self.status}"'
        if self.scope is not None:
            text += f', "scope":"{self.scope}"'
        return text + "}"


class ValidatedToken:
    def __init__(self, principal: str, expiry_ms: int, scope: set[str]) -> None:
        self.principal = principal
        self.expiry_ms = expiry_ms
        self.scope = scope


def _now_ms() -> float:
    return time.time() * 1000


def _b64url_json(part: str, what: str) -> dict:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenError(f"Invalid JWT {what}: {exc}") from None
    if not isinstance(decoded, dict):
        raise TokenError(f"Invalid JWT {what}: not a JSON object")
    return decoded


def _scope_of(claims: dict, name: str) -> set[str]:
    value = claims.get(name)
    if isinstance(value, str):
        return set(value.split())
    if isinstance(value, list):
        return {str(v) for v in value}
    return set()


class UnsecuredValidator:
    """Kafka's OAuthBearerUnsecuredValidatorCallbackHandler (module docstring)."""

    def __init__(self, options: dict[str, str]) -> None:
        self.principal_claim = options.get("unsecuredValidatorPrincipalClaimName", "sub")
        self.scope_claim = options.get("unsecuredValidatorScopeClaimName", "scope")
        self.required_scope = options.get("unsecuredValidatorRequiredScope", "").split()
        try:
            self.skew_ms = int(options.get("unsecuredValidatorAllowableClockSkewMs", "0"))
        except ValueError:
            raise ConfigError("unsecuredValidatorAllowableClockSkewMs must be a number") from None

    def validate(self, token: str) -> ValidatedToken:
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("An unsecured JWS must have 3 parts")
        if parts[2]:
            raise TokenError("An unsecured JWS must have an empty signature")
        header = _b64url_json(parts[0], "header")
        claims = _b64url_json(parts[1], "payload")
        if header.get("alg") != "none":
            raise TokenError('An unsecured JWS must have alg "none"')
        now = _now_ms()
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise TokenError("Required claim exp is missing or not a number")
        expiry_ms = math.floor(exp * 1000)
        if now > expiry_ms + self.skew_ms:
            raise TokenError(f"The token expired at {expiry_ms} (now {now})")
        iat = claims.get("iat")
        if isinstance(iat, (int, float)) and not isinstance(iat, bool):
            if iat * 1000 > now + self.skew_ms:
                raise TokenError(f"The token is issued in the future ({iat})")
            if iat * 1000 > expiry_ms:
                raise TokenError("The token expires before it is issued")
        principal = claims.get(self.principal_claim)
        if not isinstance(principal, str) or not principal.strip():
            raise TokenError(f"Required claim {self.principal_claim} is missing")
        scope = _scope_of(claims, self.scope_claim)
        missing = [s for s in self.required_scope if s not in scope]
        if missing:
            # Kafka puts the Java List's toString() of the required scope there.
            raise TokenError(
                f"The provided scope was missing a required scope ({missing[0]})",
                status="insufficient_scope",
                scope="[" + ", ".join(self.required_scope) + "]",
            )
        return ValidatedToken(principal, expiry_ms, scope)


class JwksValidator:
    """Kafka's OAuthBearerValidatorCallbackHandler (PyJWT), its keys from a JWKS file
    or an HTTPS endpoint (security/jwks.py)."""

    def __init__(
        self,
        jwks_url: str,
        *,
        audience: list[str] | None = None,
        issuer: str | None = None,
        sub_claim: str = "sub",
        scope_claim: str = "scope",
        clock_skew_s: int = 30,
        source: FileJwks | RefreshingHttpsJwks | None = None,
    ) -> None:
        self.url = jwks_url
        self.source = source or jwks_source(jwks_url, {}, 3_600_000, 100, 10_000)
        self.audience = audience or None
        self.issuer = issuer
        self.sub_claim = sub_claim
        self.scope_claim = scope_claim
        self.clock_skew_s = clock_skew_s

    def validate(self, token: str) -> ValidatedToken:
        import jwt

        try:
            keys = self.source.keys()
        except ConfigError as exc:
            raise TokenError(str(exc)) from None
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError(f"Invalid JWT: {exc}") from None
        kid = header.get("kid")
        key = keys.get(kid)
        if key is None and kid is None and len(keys) == 1:
            key = next(iter(keys.values()))
        if key is None:
            # Kafka's RefreshingHttpsJwksVerificationKeyResolver: refuse this token, and
            # refresh the keys now (rate-limited) so that the next login may find it.
            refreshing = isinstance(kid, str) and self.source.maybe_expedite_refresh(kid)
            raise TokenError(
                f"No key in the JWKS for kid {kid!r}"
                + ("; a refresh of the JWKS is scheduled" if refreshing else "")
            )
        algorithm = header.get("alg")
        if not algorithm or algorithm == "none" or (key.algorithm_name not in (None, algorithm)):
            raise TokenError(f"Algorithm {algorithm!r} is not allowed for this key")
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.clock_skew_s,
                options={"require": ["exp"], "verify_aud": self.audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(f"Invalid JWT: {exc}") from None
        principal = claims.get(self.sub_claim)
        if not isinstance(principal, str) or not principal.strip():
            raise TokenError(f"Required claim {self.sub_claim} is missing")
        return ValidatedToken(
            principal, math.floor(claims["exp"] * 1000), _scope_of(claims, self.scope_claim)
        )


class OAuthBearerSaslServer:
    """One OAUTHBEARER exchange (SaslServer, kafka_compat/security/sasl.py)."""

    def __init__(self, validator: UnsecuredValidator | JwksValidator) -> None:
        self.validator = validator
        self.complete = False
        self.authorization_id = ""
        self.token_authenticated = False
        self.session_lifetime_ms: int | None = None
        self.token_expiry_ms: int | None = None
        self.extensions: dict[str, str] = {}
        self._error: str | None = None
        self.failure_reason = ""  # why the token was refused, for the broker's log

    def evaluate(self, token: bytes) -> bytes:
        if self.complete:
            raise _invalid("the OAUTHBEARER exchange is already complete")
        if token == _SEP.encode() and self._error is not None:
            # The client acknowledges our error challenge: the login fails with it.
            raise SaslAuthenticationError(self._error)
        self._error = None
        try:
            text = token.decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid("the OAUTHBEARER message is not UTF-8") from None
        match = _CLIENT_RESPONSE.fullmatch(text)
        if match is None:
            raise _invalid("Invalid OAUTHBEARER client first message")
        pairs = dict(kv.split("=", 1) for kv in match["kvpairs"].split(_SEP) if kv)
        auth = _AUTH.fullmatch(pairs.pop("auth", ""))
        if auth is None:
            raise _invalid("Invalid OAUTHBEARER client first message: no auth=Bearer <token>")
        if auth["scheme"].lower() != "bearer":
            raise _invalid(f"Invalid scheme in OAuth token: {auth['scheme']}")
        try:
            validated = self.validator.validate(auth["token"])
        except TokenError as exc:
            log.debug("OAUTHBEARER token refused: %s", exc)
            self.failure_reason = str(exc)
            self._error = exc.json()
            return self._error.encode()
        authzid = match["authzid"]
        if authzid:  # compared as sent, as Kafka does
            if authzid != validated.principal:
                raise SaslAuthenticationError(
                    "Authentication failed: Client requested an authorization id "
                    f"({authzid}) that is different from the token's principal name "
                    f"({validated.principal})",
                    user=validated.principal,
                )
        self.extensions = pairs
        self.authorization_id = validated.principal
        self.token_expiry_ms = validated.expiry_ms
        self.session_lifetime_ms = max(0, int(validated.expiry_ms - _now_ms()))
        self.complete = True
        return b""


def _invalid(why: str) -> SaslAuthenticationError:
    # A SaslException in Kafka: the client reads Kafka's generic wording.
    exc = SaslAuthenticationError(
        "Authentication failed during authentication due to invalid credentials with "
        "SASL mechanism OAUTHBEARER"
    )
    exc.add_note(why)
    return exc


# ---- configuration (the listener's keys) ----


def _jaas_options(text: str, key: str) -> dict[str, str]:
    """The options of a one-entry OAuthBearerLoginModule JAAS config."""
    module, options = parse_jaas(text, key)
    if module != LOGIN_MODULE:
        raise ConfigError(f"Invalid JAAS configuration in {key}: expected {LOGIN_MODULE}")
    return options


def validator_for(config: Any, listener: str) -> UnsecuredValidator | JwksValidator:
    """The listener's validator, as Kafka picks its server callback handler."""
    handler = listener_config(config, listener, "oauthbearer.sasl.server.callback.handler.class")
    key = f"listener.name.{listener.lower()}.oauthbearer.sasl.jaas.config"
    jaas = listener_config(config, listener, "oauthbearer.sasl.jaas.config")
    if jaas is None:
        key, jaas = "sasl.jaas.config", listener_config(config, listener, "sasl.jaas.config")
    if jaas is None:
        raise ConfigError(
            f"Listener {listener} enables OAUTHBEARER but has no JAAS config: set {key} to "
            f"{LOGIN_MODULE} required;"
        )
    options = _jaas_options(jaas, key)
    if handler is None or handler == UNSECURED_VALIDATOR:
        return UnsecuredValidator(options)
    if handler not in _JWT_VALIDATORS:
        raise ConfigError(
            f"listener.name.{listener.lower()}.oauthbearer.sasl.server.callback.handler.class "
            f"{handler!r} is not supported: use {JWT_VALIDATOR} or leave it unset"
        )
    url = listener_config(config, listener, "sasl.oauthbearer.jwks.endpoint.url")
    if not url:
        raise ConfigError(f"{JWT_VALIDATOR} needs sasl.oauthbearer.jwks.endpoint.url")
    audience = listener_config(config, listener, "sasl.oauthbearer.expected.audience")
    skew = listener_config(config, listener, "sasl.oauthbearer.clock.skew.seconds")
    settings = (
        url,
        _jwks_settings(config, listener, options),
        tuple(a.strip() for a in audience.split(",") if a.strip()) if audience else (),
        listener_config(config, listener, "sasl.oauthbearer.expected.issuer"),
        listener_config(config, listener, "sasl.oauthbearer.sub.claim.name") or "sub",
        listener_config(config, listener, "sasl.oauthbearer.scope.claim.name") or "scope",
        30 if skew is None else int(skew),
    )
    # One validator per setting: a JWKS file is re-read only when it changes, an HTTPS
    # one has one refresh thread (process-wide, also across in-process brokers).
    validator = _JWKS_VALIDATORS.get(settings)
    if validator is None:
        refresh_ms, backoff_ms, backoff_max_ms, tls_options = settings[1]
        validator = _JWKS_VALIDATORS[settings] = JwksValidator(
            url,
            audience=list(settings[2]) or None,
            issuer=settings[3],
            sub_claim=settings[4],
            scope_claim=settings[5],
            clock_skew_s=settings[6],
            source=jwks_source(url, dict(tls_options), refresh_ms, backoff_ms, backoff_max_ms),
        )
    return validator


def _jwks_settings(config: Any, listener: str, options: dict[str, str]) -> tuple:
    """(refresh ms, retry backoff ms, retry backoff max ms, the JAAS ssl.* options)."""

    def ms(key: str, default: int) -> int:
        value = listener_config(config, listener, f"sasl.oauthbearer.jwks.endpoint.{key}")
        return default if value is None else int(value)

    return (
        ms("refresh.ms", 3_600_000),
        ms("retry.backoff.ms", 100),
        ms("retry.backoff.max.ms", 10_000),
        tuple(sorted((k, v) for k, v in options.items() if k.startswith("ssl."))),
    )


_JWKS_VALIDATORS: dict[tuple, JwksValidator] = {}


def _oauthbearer_server(context: SaslContext) -> OAuthBearerSaslServer:
    return OAuthBearerSaslServer(validator_for(context.config, context.listener))


MECHANISMS["OAUTHBEARER"] = _oauthbearer_server
