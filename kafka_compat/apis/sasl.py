"""SaslHandshake: v0-1, SaslAuthenticate: v0-2

Behavior: on a SASL listener (SASL_PLAINTEXT, SASL_SSL) a connection starts
    unauthenticated: until SaslAuthenticate succeeds, server.py answers only
    ApiVersions, SaslHandshake and SaslAuthenticate and closes the connection on
    anything else. SaslHandshake picks one of the listener's `sasl.enabled.mechanisms`
    (`listener.name.<l>.sasl.enabled.mechanisms` first) from security/sasl.py's
    mechanisms (each module imported when a listener enables it); an unknown one
    answers UNSUPPORTED_SASL_MECHANISM with the enabled list. After SaslHandshake v0
    the tokens come raw, without Kafka headers (server.py); after v1 in
    SaslAuthenticate. A failed login answers SASL_AUTHENTICATION_FAILED with
    the mechanism's message after `connection.failed.authentication.delay.ms`, and is
    logged with the peer and the user who tried; the connection is closed after the
    answer, as after UNSUPPORTED_SASL_MECHANISM (Kafka does both).
    On success the session's principal is `User:<name>`.
Version notes: SaslAuthenticate v1+ carries session_lifetime_ms (0: no
    re-authentication); v2 is flexible.
    KIP-368: with `connections.max.reauth.ms` (listener.name.<l>. first) > 0, or a
    mechanism's credential lifetime (OAUTHBEARER, a delegation token), the login's
    session lifetime is the smaller; SaslAuthenticate v1+ tells it to the client, which
    logs in again on the same connection (SaslHandshake v1 with the same mechanism, then
    SaslAuthenticate; the principal may not change). A connection past its lifetime is
    closed on its next request other than a re-authentication (server.py), whatever the
    client's version.
    A handshake on a connection that is already authenticated on a non-SASL listener
    answers ILLEGAL_SASL_STATE, as Kafka's KafkaApis does.
"""

from __future__ import annotations

import logging

import trio

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.config import ConfigError
from kafka_compat.security.listeners import LISTENER_PREFIX, listener_config
from kafka_compat.security.sasl import (
    SaslAuthenticationError,
    SaslContext,
    SaslExchange,
    mechanism_server,
)
from kafka_compat.security.session import KafkaPrincipal
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

log = logging.getLogger(__name__)

SaslHandshakeResponse = messages.response_type(ApiKey.SASL_HANDSHAKE)
SaslAuthenticateResponse = messages.response_type(ApiKey.SASL_AUTHENTICATE)


def enabled_mechanisms(config, listener: str) -> list[str]:
    value = listener_config(config, listener, "sasl.enabled.mechanisms") or ""
    return [m.strip().upper() for m in value.split(",") if m.strip()]


@api(ApiKey.SASL_HANDSHAKE, 0, 1)
async def handle_sasl_handshake(ctx: RequestContext, request):
    session = ctx.session
    # Re-authentication (KIP-368): v1, on a SASL listener, with the same mechanism.
    reauthentication = session.authenticated and session.sasl_mechanism is not None
    if session.sasl is not None or (
        session.authenticated
        and not (
            reauthentication and ctx.version >= 1 and request.mechanism == session.sasl_mechanism
        )
    ):
        return SaslHandshakeResponse(error_code=ErrorCode.ILLEGAL_SASL_STATE, mechanisms=[])
    enabled = enabled_mechanisms(ctx.config, session.listener)
    mechanism = request.mechanism
    make_server = mechanism_server(mechanism) if mechanism in enabled else None
    if make_server is None:
        log.info(
            "Unsupported SASL mechanism %r from %s on listener %s (enabled: %s)",
            mechanism,
            ctx.peer,
            session.listener,
            ",".join(enabled),
        )
        if not session.authenticated:
            session.close_after_response = True  # as Kafka, after the answer
        return SaslHandshakeResponse(
            error_code=ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms=enabled
        )
    context = SaslContext(session.listener, mechanism, ctx.config, ctx.components)
    try:
        server = make_server(context)
    except ConfigError as exc:
        log.error("SASL %s on listener %s cannot start: %s", mechanism, session.listener, exc)
        return SaslHandshakeResponse(
            error_code=ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms=enabled
        )
    session.sasl = SaslExchange(mechanism, server, ctx.version == 0, reauthentication)
    return SaslHandshakeResponse(error_code=ErrorCode.NONE, mechanisms=enabled)


async def authenticate(
    ctx_peer: str, session, config, token: bytes
) -> tuple[bytes, str | None, int]:
    """Run one token through the session's mechanism: (challenge, error message or
    None, session lifetime in ms or 0). On success the session is authenticated; on
    failure the login is over (and a re-authenticating session loses its login)."""
    exchange: SaslExchange = session.sasl
    try:
        challenge = exchange.server.evaluate(bytes(token))
        if exchange.server.complete and exchange.reauthentication:
            name = exchange.server.authorization_id
            if name != session.principal.name:
                raise SaslAuthenticationError(
                    f"Cannot change principals during re-authentication from "
                    f"{session.principal}: User:{name}",
                    name,
                )
    except SaslAuthenticationError as exc:
        session.sasl = None
        session.authenticated = False
        session.close_after_response = True
        log.warning(
            "Failed authentication with %s (%s) on listener %s, mechanism %s, user %s",
            ctx_peer,
            exc,
            session.listener,
            exchange.mechanism,
            exc.user,
        )
        # Kafka delays the answer, slowing password guessing.
        await trio.sleep(config["connection.failed.authentication.delay.ms"] / 1000)
        return b"", str(exc), 0
    lifetime_ms = 0
    if exchange.server.complete:
        session.principal = KafkaPrincipal("User", exchange.server.authorization_id)
        session.token_authenticated = exchange.server.token_authenticated
        session.authenticated = True
        session.sasl = None
        session.sasl_mechanism = exchange.mechanism
        lifetimes = [
            ms
            for ms in (
                _max_reauth_ms(config, session.listener, exchange.mechanism),
                exchange.server.session_lifetime_ms,
            )
            if ms
        ]
        lifetime_ms = min(lifetimes) if lifetimes else 0
        session.expires_at = trio.current_time() + lifetime_ms / 1000 if lifetime_ms else None
        log.info(
            "%s %s as %s on listener %s (%s)",
            ctx_peer,
            "re-authenticated" if exchange.reauthentication else "authenticated",
            session.principal,
            session.listener,
            exchange.mechanism,
        )
    return challenge, None, lifetime_ms


@api(ApiKey.SASL_AUTHENTICATE, 0, 2)
async def handle_sasl_authenticate(ctx: RequestContext, request):
    session = ctx.session
    exchange = session.sasl
    if exchange is None or exchange.raw:
        return SaslAuthenticateResponse(
            error_code=ErrorCode.ILLEGAL_SASL_STATE,
            error_message="Unexpected SaslAuthenticate: no SASL handshake in progress",
            auth_bytes=b"",
        )
    challenge, error, lifetime_ms = await authenticate(
        ctx.peer, session, ctx.config, request.auth_bytes
    )
    if error is not None:
        return SaslAuthenticateResponse(
            error_code=ErrorCode.SASL_AUTHENTICATION_FAILED, error_message=error, auth_bytes=b""
        )
    return SaslAuthenticateResponse(
        error_code=ErrorCode.NONE,
        error_message=None,
        auth_bytes=challenge,
        session_lifetime_ms=lifetime_ms,
    )


def _max_reauth_ms(config, listener: str, mechanism: str) -> int | None:
    """listener.name.<l>.<mechanism>.connections.max.reauth.ms, else the listener's or
    the broker's connections.max.reauth.ms (Kafka's SaslChannelBuilder)."""
    per_mechanism = config.listener_props.get(
        f"{LISTENER_PREFIX}{listener.lower()}.{mechanism.lower()}.connections.max.reauth.ms"
    )
    if per_mechanism is not None:
        return int(per_mechanism.strip())
    return listener_config(config, listener, "connections.max.reauth.ms")
