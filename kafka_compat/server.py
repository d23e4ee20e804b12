"""The Kafka protocol listener: one Trio task per connection.

A connection's requests are read one frame at a time and answered in order, one
at a time, the way Kafka's broker mutes a channel while a request is in flight.
A frame over `socket.request.max.bytes`, an unknown API or version, or a body
that does not parse closes that connection with one log line; everything else
keeps running. While a client quota is set (quotas/), a request over its quota gets
`throttle_time_ms` and its connection is not read for that long (channel muting).

Each connection belongs to one listener (security/listeners.py). On SSL and SASL_SSL
listeners the stream is wrapped in TLS (trio.SSLStream) and the handshake runs under
a timeout, so a client that speaks plaintext or stalls mid-handshake loses only its
own connection. On SASL listeners the connection is unauthenticated until
SaslAuthenticate succeeds (apis/sasl.py): only ApiVersions, SaslHandshake and
SaslAuthenticate are served before, anything else closes it; after SaslHandshake v0
the client's tokens come as raw size-prefixed frames without a request header.
"""

from __future__ import annotations

import logging
import ssl
import struct
import time
from time import perf_counter

import trio

from kafka_compat.apis.handlers import COORDINATOR_APIS, HANDLERS, TXN_COORDINATOR_APIS, Api
from kafka_compat.apis.registry import CLOSE_CONNECTION, Components, RequestContext
from kafka_compat.metrics import REQUEST_WAIT, RequestMetrics
from kafka_compat.quotas.connection_quotas import BUSY, Connection
from kafka_compat.quotas.throttling import EXEMPT_APIS, client_throttles, handle_with_quotas
from kafka_compat.security.listeners import Endpoint
from kafka_compat.security.session import ANONYMOUS, KafkaPrincipal, Session
from kafka_compat.security.tls import NoMatchingRule, PrincipalMapper, subject_dn
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from protocol.headers import RequestHeader, decode_request_header, encode_response_header
from protocol.messages import DecodeError

log = logging.getLogger(__name__)

_SIZE = struct.Struct(">i")
_SIZE_HEADER = struct.Struct(">hh")  # a request's api key and version
_RECV_CHUNK = 65536
API_VERSIONS_KEY = ApiKey.API_VERSIONS
# What a SASL listener serves before authentication (Kafka's SaslServerAuthenticator).
_BEFORE_AUTHENTICATION = frozenset(
    {ApiKey.API_VERSIONS, ApiKey.SASL_HANDSHAKE, ApiKey.SASL_AUTHENTICATE}
)
_REAUTHENTICATION = frozenset({ApiKey.SASL_HANDSHAKE, ApiKey.SASL_AUTHENTICATE})
TLS_HANDSHAKE_TIMEOUT_S = 10.0
FETCH_KEY = ApiKey.FETCH
_API_NAMES = messages.API_NAMES
_REPLICA_STATE_MIN_VERSION = 15  # Fetch v15 moved replica_id into replica_state


class RequestClock:
    """The request in flight on a connection, for Kafka's RequestMetrics: its API name
    (and FetchConsumer / FetchFollower), version, and when its handler started."""

    __slots__ = ("name", "fetch_name", "version", "dispatched")

    def __init__(self) -> None:
        self.name: str | None = None
        self.fetch_name: str | None = None
        self.version = 0
        self.dispatched = 0.0


class FrameTooLarge(Exception):
    pass


class FrameReader:
    """Reads size-prefixed frames from a socket into fresh bytearrays.

    Each frame gets its own writable buffer so that produce can patch record
    batches in place (offsets) and hand them to storage without a copy.
    """

    def __init__(self, stream: trio.abc.ReceiveStream, max_size: int):
        if isinstance(stream, trio.SocketStream):
            # Plaintext: the socket itself, reading large frames in place.
            self.recv = stream.socket.recv
            self.recv_into = stream.socket.recv_into
        else:
            self.recv = stream.receive_some
            self.recv_into = self._receive_into
            self.stream = stream
            # TLS: the records trio.SSLStream has already received are decrypted
            # here without a trip through the scheduler each (receive_some returns
            # one record, often 2-16 KB: a 1 MB produce request took ~100 trips,
            # each an epoll; benchmarks/security.py). trio keeps the SSLObject in
            # `_ssl_object` (since 2017); without it, every record goes through
            # receive_some as before.
            self.ssl_object = getattr(stream, "_ssl_object", None)
        self.max_size = max_size
        self.pending = bytearray()

    async def _receive_into(self, view: memoryview, size: int) -> int:
        chunk = await self.stream.receive_some(min(size, _RECV_CHUNK))
        have = len(chunk)
        view[:have] = chunk
        # No await below: no other task touches the SSLObject meanwhile (trio's
        # rule). It only reads what trio already took from the socket (its memory
        # BIO), never the socket; anything it has to send (a TLS 1.3 KeyUpdate
        # answer) stays queued before the next response's bytes.
        ssl_object = self.ssl_object
        while chunk and have < size and ssl_object is not None:
            try:
                got = ssl_object.read(size - have, view[have:])
            except ssl.SSLWantReadError:
                break  # the next record is still on its way
            except ssl.SSLError as exc:
                raise trio.BrokenResourceError from exc
            if not got:
                break  # close_notify: the next receive_some sees it
            have += got
        return have

    async def read_frame(self) -> bytearray | None:
        """The next frame's body, or None at end of stream."""
        while len(self.pending) < 4:
            chunk = await self.recv(_RECV_CHUNK)
            if not chunk:
                return None
            self.pending += chunk
        (size,) = _SIZE.unpack_from(self.pending)
        if size < 0 or size > self.max_size:
            raise FrameTooLarge(size)
        end = 4 + size
        if len(self.pending) >= end:
            frame = self.pending[4:end]
            del self.pending[:end]
            return frame
        frame = bytearray(size)
        have = len(self.pending) - 4
        frame[:have] = memoryview(self.pending)[4:]
        self.pending = bytearray()
        view = memoryview(frame)
        while have < size:
            received = await self.recv_into(view[have:], size - have)
            if not received:
                return None
            have += received
        return frame


def _api_versions_fallback() -> bytes:
    """ApiVersions v0 body with UNSUPPORTED_VERSION, so the client can downgrade."""
    from kafka_compat.apis.api_versions import api_versions_response

    response = api_versions_response(ErrorCode.UNSUPPORTED_VERSION)
    return messages.encode_response(API_VERSIONS_KEY, 0, response)


class ListenerSecurity:
    """What a listener's connections need: its endpoint, its TLS context (SSL,
    SASL_SSL) and its principal mapping rules."""

    def __init__(
        self,
        endpoint: Endpoint,
        tls_context: ssl.SSLContext | None = None,
        mapper: PrincipalMapper | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.tls_context = tls_context
        self.mapper = mapper


PLAINTEXT_LISTENER = ListenerSecurity(Endpoint("PLAINTEXT", "", 0, "PLAINTEXT"))


async def serve_connection(
    stream: trio.SocketStream,
    components: Components,
    listener: ListenerSecurity = PLAINTEXT_LISTENER,
    connection: Connection | None = None,
) -> None:
    """Answer one client's requests until it disconnects or misbehaves."""
    try:
        host, port = stream.socket.getpeername()[:2]
        peer = f"{host}:{port}"
    except OSError:
        host, peer = "", "?"
    endpoint = listener.endpoint
    session = Session(
        listener=endpoint.listener,
        security_protocol=endpoint.protocol,
        peer_host=host,
        authenticated=not endpoint.sasl,
    )
    socket_stats = components.socket_stats
    socket_stats.opened(endpoint.listener)
    try:
        if listener.tls_context is not None:
            tls = await _tls_handshake(stream, listener, session, peer)
            if tls is None:
                return
            stream = tls
        await _serve_requests(stream, components, session, peer, connection)
    except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
        return
    finally:
        socket_stats.closed(endpoint.listener)
        with trio.CancelScope(shield=True):
            await stream.aclose()


async def _tls_handshake(
    stream: trio.SocketStream, listener: ListenerSecurity, session: Session, peer: str
) -> trio.SSLStream | None:
    """The TLS stream once the handshake is done (the session's principal is then the
    client certificate's), or None if it failed or timed out (logged)."""
    tls = trio.SSLStream(stream, listener.tls_context, server_side=True)
    try:
        with trio.fail_after(TLS_HANDSHAKE_TIMEOUT_S):
            await tls.do_handshake()
    except trio.TooSlowError:
        log.info("Closing connection from %s: TLS handshake timed out", peer)
        await trio.aclose_forcefully(stream)
        return None
    except trio.BrokenResourceError as exc:
        # Plaintext to a TLS port, a rejected certificate, an unknown CA ...
        log.info("Closing connection from %s: failed TLS handshake (%s)", peer, exc.__cause__)
        await trio.aclose_forcefully(stream)
        return None
    der = tls.getpeercert(binary_form=True)
    if der and not listener.endpoint.sasl:
        try:
            name = listener.mapper.name(subject_dn(der))
        except NoMatchingRule as exc:
            log.warning("Closing connection from %s: %s (ssl.principal.mapping.rules)", peer, exc)
            await trio.aclose_forcefully(tls)
            return None
        session.principal = KafkaPrincipal("User", name)
        log.info(
            "%s connected over TLS as %s on listener %s", peer, session.principal, session.listener
        )
    elif not listener.endpoint.sasl:
        session.principal = ANONYMOUS
    return tls


async def _serve_requests(
    stream: trio.abc.Stream,
    components: Components,
    session: Session,
    peer: str,
    connection: Connection | None = None,
) -> None:
    reader = FrameReader(stream, components.config["socket.request.max.bytes"])
    metrics = components.request_metrics
    clock = RequestClock()
    wait = [0.0]  # seconds the request waits on delayed operations (remote time)
    REQUEST_WAIT.set(wait)
    while True:
        try:
            frame = await reader.read_frame()
        except FrameTooLarge as exc:
            log.warning(
                "Closing connection from %s: request size %d exceeds socket.request.max.bytes (%d)",
                peer,
                exc.args[0],
                reader.max_size,
            )
            return
        if frame is None:
            return
        if connection is not None:
            # Busy until answered: never idle meanwhile (a JoinGroup may wait minutes).
            connection.last_active = BUSY
        if session.sasl is not None and session.sasl.raw:
            # After SaslHandshake v0: a raw SASL token, answered by a raw one. (The
            # SASL handlers' module loads with the first SaslHandshake, not at start.)
            from kafka_compat.apis.sasl import authenticate

            challenge, error, _ = await authenticate(peer, session, components.config, frame)
            if error is not None:
                return  # v0 has no error message: Kafka closes the connection
            await stream.send_all(_SIZE.pack(len(challenge)) + challenge)
            if connection is not None:
                connection.last_active = time.monotonic()
            continue
        received = perf_counter()
        clock.name = None
        wait[0] = 0.0
        try:
            response = await _handle_frame(frame, components, peer, session, clock)
        except Exception:
            # A bug in one handler costs its connection, never the broker.
            log.exception("Closing connection from %s: error while handling a request", peer)
            return
        if response is False:
            return
        handled = perf_counter()
        throttle_ms = session.throttle_ms
        if throttle_ms:
            # Client quotas: the channel is muted for the throttle time (Kafka mutes
            # it after the response to a client that throttles itself, KIP-219, and
            # holds an older client's response that long).
            session.throttle_ms = 0
            if response is not None and not client_throttles(*_SIZE_HEADER.unpack_from(frame)):
                await trio.sleep(throttle_ms / 1000)
                throttle_ms = 0
        if response is not None:
            await stream.send_all(response)
        if connection is not None:
            connection.last_active = time.monotonic()  # least recently used goes first
        if clock.name is not None:
            _record(metrics, clock, received, handled, perf_counter(), wait[0])
        if throttle_ms:
            await trio.sleep(throttle_ms / 1000)
        if session.close_after_response:
            return


def _record(
    metrics: RequestMetrics,
    clock: RequestClock,
    received: float,
    handled: float,
    sent: float,
    remote: float,
) -> None:
    """One request's times (Kafka's RequestChannel.updateRequestMetrics): queue is
    from the frame read to its handler (decoding), local the handler less its waits on
    delayed operations (remote), response send the socket write."""
    queue = clock.dispatched - received
    local = handled - clock.dispatched - remote
    times = (sent - received, queue, local, remote, sent - handled)
    metrics.record(clock.name, clock.version, *times)
    if clock.fetch_name is not None:
        metrics.record(clock.fetch_name, clock.version, *times)


async def _start_coordinator(components: Components, api_key: int) -> None:
    """The coordinator that answers `api_key`, started on the first such request."""
    if api_key in TXN_COORDINATOR_APIS:
        await components.start_txn_coordinator()
    else:
        await components.start_group_coordinator()


async def _handle_frame(
    frame: bytearray,
    components: Components,
    peer: str,
    session: Session,
    clock: RequestClock | None = None,
) -> bytes | None | bool:
    """The response frame, None for no response (acks=0), False to close."""
    view = memoryview(frame)
    try:
        header = decode_request_header(view)
    except DecodeError as exc:
        log.warning("Closing connection from %s: malformed request header (%s)", peer, exc)
        return False
    if (
        session.expires_at is not None
        and header.api_key not in _REAUTHENTICATION
        and trio.current_time() > session.expires_at
    ):
        log.info(
            "Closing connection from %s: its SASL session (%s) expired (KIP-368, "
            "connections.max.reauth.ms) and it did not re-authenticate",
            peer,
            session.principal,
        )
        return False
    if not session.authenticated and header.api_key not in _BEFORE_AUTHENTICATION:
        log.warning(
            "Closing connection from %s: %s request before SASL authentication completed "
            "(listener %s)",
            peer,
            messages.API_NAMES.get(header.api_key, header.api_key),
            session.listener,
        )
        return False
    entry: Api | None = HANDLERS.get(header.api_key)
    version = header.api_version
    if entry is None or not entry.min_version <= version <= entry.max_version:
        if header.api_key == API_VERSIONS_KEY:
            body = _api_versions_fallback()
            return _frame(encode_response_header(header.correlation_id, False), body)
        log.warning(
            "Closing connection from %s: unsupported api key %d version %d (client %s)",
            peer,
            header.api_key,
            version,
            header.client_id,
        )
        return False
    if version < entry.min_accepted:
        log.warning(
            "Closing connection from %s: %s v%d uses a message format this broker does not "
            "store (client %s)",
            peer,
            messages.API_NAMES.get(header.api_key, header.api_key),
            version,
            header.client_id,
        )
        return False
    try:
        request = messages.decode_request(header.api_key, version, view[header.body_offset :])
    except DecodeError as exc:
        log.warning(
            "Closing connection from %s: malformed %s v%d request (%s)",
            peer,
            messages.API_NAMES.get(header.api_key),
            version,
            exc,
        )
        return False
    if header.api_key in COORDINATOR_APIS:
        await _start_coordinator(components, header.api_key)
    ctx = RequestContext(components, header, version, peer, session)
    if clock is not None:
        clock.name = _API_NAMES.get(header.api_key) or str(header.api_key)
        clock.version = version
        clock.fetch_name = _fetch_name(request, version) if header.api_key == FETCH_KEY else None
        clock.dispatched = perf_counter()
    quotas = components.quotas
    if quotas is not None and quotas.enabled and header.api_key not in EXEMPT_APIS:
        response = await handle_with_quotas(quotas, entry.handler, ctx, request, len(frame))
    else:
        response = await entry.handler(ctx, request)
    if response is None:
        return None
    if response is CLOSE_CONNECTION:
        return False
    return _response_frame(header, version, response)


def _fetch_name(request, version: int) -> str:
    """Kafka's request metrics split Fetch by who fetches."""
    if version >= _REPLICA_STATE_MIN_VERSION:
        state = request.replica_state
        replica_id = -1 if state is None else state.replica_id
    else:
        replica_id = request.replica_id
    return "FetchFollower" if replica_id >= 0 else "FetchConsumer"


def _response_frame(header: RequestHeader, version: int, response) -> bytes:
    # ApiVersions responses always use header v0, even for flexible bodies.
    flexible = header.api_key != API_VERSIONS_KEY and messages.is_flexible(header.api_key, version)
    # Size and header in front of the body's pieces, joined once: record data
    # (fetch) is copied a single time on its way to the socket.
    pieces = [b"", encode_response_header(header.correlation_id, flexible)]
    messages.encode_response_into(header.api_key, version, response, pieces)
    pieces[0] = _SIZE.pack(sum(map(len, pieces)))
    return b"".join(pieces)


def _frame(header: bytes, body: bytes) -> bytes:
    return b"".join((_SIZE.pack(len(header) + len(body)), header, body))
