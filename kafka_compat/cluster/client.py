"""A Kafka-protocol client for broker-to-broker requests (Trio).

The controller sends LeaderAndIsr, UpdateMetadata and StopReplica with it; a broker
sends ControlledShutdown to the controller and Fetch / OffsetForLeaderEpoch to the
leaders it follows. One `BrokerClient` is one persistent connection to one peer:

    async with BrokerClient("127.0.0.1", 9093, "broker-1") as peer:
        response = await peer.send(4, 7, messages.LeaderAndIsrRequest(...))

- Requests go one at a time (a `trio.Lock`), so responses pair with requests by
  construction; the correlation id is still checked. Concurrent `send` calls queue.
- The connection opens on the first `send`, and again after any failure. A request
  that fails on a connection that had served before, without a byte of its answer
  read (the peer restarted and the socket is stale), is retried once on a new one.
- Failures are exceptions, never hangs: `BrokerUnavailable` when the peer cannot be
  reached or the connection breaks, `BrokerRequestTimeout` (a `BrokerUnavailable`)
  when connecting or answering takes longer than the timeout, `BrokerProtocolError`
  for an answer that does not parse. After any of them the connection is closed, so
  the next `send` starts clean.
- Request headers are v0/v1/v2 as the API version requires (protocol.headers);
  responses are read with header v1 for flexible versions, v0 otherwise and always
  for ApiVersions.

Not for Produce with acks=0, which has no response.

Security: a client takes the inter-broker listener's security from the context
variable INTER_BROKER_SECURITY (broker.py sets it in the broker's task, so every
task of that broker inherits it): TLS around the stream, then a SASL login with the
mechanism's client (`SaslClient`: PLAIN, SCRAM, OAUTHBEARER, built by
security/login.py) over SaslHandshake v1 and SaslAuthenticate v1.
"""

from __future__ import annotations

import contextvars
import logging
import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import trio

from protocol import messages
from protocol.api_keys import ApiKey
from protocol.codec import DecodeError
from protocol.errors import ErrorCode
from protocol.headers import decode_response_header, encode_request_header

log = logging.getLogger(__name__)

__all__ = [
    "BrokerAuthenticationFailed",
    "BrokerClient",
    "BrokerClientError",
    "BrokerProtocolError",
    "BrokerRequestTimeout",
    "BrokerUnavailable",
]


class SaslClient(Protocol):
    """The client side of one SASL login: `initial()` is the first token; `evaluate`
    takes each server answer and returns the next token, or None when the login is
    over (it raises on an answer that does not check out, e.g. a SCRAM server
    signature)."""

    def initial(self) -> bytes: ...

    def evaluate(self, challenge: bytes) -> bytes | None: ...


@dataclass
class InterBrokerSecurity:
    """How a broker connects to its peers' inter-broker listener (read at each new
    connection: a reloaded key store replaces `ssl_context`)."""

    ssl_context: ssl.SSLContext | None = None  # SSL, SASL_SSL
    sasl_mechanism: str | None = None  # SASL_*: PLAIN, SCRAM-SHA-256/512, OAUTHBEARER
    sasl_client: Callable[[], SaslClient] | None = None  # a new login's client


INTER_BROKER_SECURITY: contextvars.ContextVar[InterBrokerSecurity | None] = contextvars.ContextVar(
    "inter_broker_security", default=None
)

_SIZE = struct.Struct(">i")
# Bigger than any response we ask for (fetch sizes are bounded by the caller); a
# larger size prefix means the stream is garbage.
MAX_RESPONSE_SIZE = 512 * 1024 * 1024
_RECV_CHUNK = 65536


class BrokerClientError(Exception):
    """Base of the errors `BrokerClient.send` raises."""


class BrokerUnavailable(BrokerClientError):
    """The peer cannot be reached, or the connection broke during the request."""


class BrokerRequestTimeout(BrokerUnavailable):
    """Connecting, or the answer to a request, took longer than the timeout."""


class BrokerAuthenticationFailed(BrokerUnavailable):
    """The peer refused this broker's SASL login (or failed to prove itself): a
    configuration error, not an outage."""


class BrokerProtocolError(BrokerClientError):
    """The peer's answer does not parse, or answers another request."""


class _Connection:
    """One socket and what has been read from it but not yet used."""

    def __init__(self, stream: trio.SocketStream):
        self.stream = stream
        self.pending = bytearray()
        self.served = 0  # requests answered on this connection

    async def read_frame(self, max_size: int) -> bytearray:
        """The next size-prefixed frame's body. Raises EOFError at end of stream."""
        while len(self.pending) < 4:
            await self._receive()
        (size,) = _SIZE.unpack_from(self.pending)
        if size < 0 or size > max_size:
            raise BrokerProtocolError(f"response size {size} is out of range")
        end = 4 + size
        while len(self.pending) < end:
            await self._receive(end - len(self.pending))
        frame = self.pending[4:end]
        del self.pending[:end]
        return frame

    async def _receive(self, wanted: int = _RECV_CHUNK) -> None:
        chunk = await self.stream.receive_some(max(wanted, _RECV_CHUNK))
        if not chunk:
            raise EOFError
        self.pending += chunk


class BrokerClient:
    """One persistent connection to one broker; see the module docstring.

    `connect_timeout` and `request_timeout` are seconds (Kafka's controller uses
    30 s for both: controller.socket.timeout.ms); `send(timeout=...)` overrides the
    request timeout for one request (a follower's Fetch waits up to its max wait).
    """

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str | None,
        *,
        connect_timeout: float = 30.0,
        request_timeout: float = 30.0,
        max_response_size: int = MAX_RESPONSE_SIZE,
    ):
        self.host = host
        self.port = port
        self.client_id = client_id
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.max_response_size = max_response_size
        self._conn: _Connection | None = None
        self._lock = trio.Lock()
        self._next_correlation_id = 0
        self._api_versions: dict[int, tuple[int, int]] | None = None
        self._closed = False
        self.security = INTER_BROKER_SECURITY.get()

    def __repr__(self) -> str:
        return f"BrokerClient({self.host}:{self.port})"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        return self._conn is not None

    async def __aenter__(self) -> BrokerClient:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection; a later `send` raises BrokerUnavailable."""
        self._closed = True
        await self._disconnect()

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await trio.aclose_forcefully(conn.stream)

    async def _connect(self) -> _Connection:
        with trio.move_on_after(self.connect_timeout):
            try:
                stream = await trio.open_tcp_stream(self.host, self.port)
            except OSError as exc:
                raise BrokerUnavailable(f"cannot connect to broker {self.address}: {exc}") from exc
            security = self.security
            if security is not None and security.ssl_context is not None:
                tls = trio.SSLStream(stream, security.ssl_context, server_hostname=self.host)
                try:
                    await tls.do_handshake()
                except trio.BrokenResourceError as exc:
                    await trio.aclose_forcefully(stream)
                    raise BrokerUnavailable(
                        f"TLS handshake with broker {self.address} failed: {exc.__cause__}"
                    ) from exc
                stream = tls
            conn = _Connection(stream)
            if security is not None and security.sasl_mechanism is not None:
                try:
                    await self._sasl_login(conn, security)
                except BaseException:
                    await trio.aclose_forcefully(conn.stream)
                    raise
            return conn
        raise BrokerRequestTimeout(
            f"connecting to broker {self.address} took over {self.connect_timeout}s"
        )

    async def _sasl_login(self, conn: _Connection, security: InterBrokerSecurity) -> None:
        """SaslHandshake v1, then SaslAuthenticate v1 until the mechanism's client is
        done, on a new connection."""
        mechanism = security.sasl_mechanism
        self._conn = conn
        try:
            handshake = messages.request_type(ApiKey.SASL_HANDSHAKE)(mechanism=mechanism)
            await self._sasl_step(ApiKey.SASL_HANDSHAKE, handshake, mechanism)
            try:
                client = security.sasl_client()
                token: bytes | None = client.initial()
            except Exception as exc:  # e.g. the token file cannot be read
                raise BrokerAuthenticationFailed(
                    f"SASL {mechanism} login to broker {self.address} failed: {exc}"
                ) from exc
            while token is not None:
                request = messages.request_type(ApiKey.SASL_AUTHENTICATE)(auth_bytes=token)
                response = await self._sasl_step(ApiKey.SASL_AUTHENTICATE, request, mechanism)
                try:
                    token = client.evaluate(bytes(response.auth_bytes))
                except Exception as exc:  # the mechanism's own error (e.g. ScramClientError)
                    raise BrokerAuthenticationFailed(
                        f"SASL {mechanism} login to broker {self.address} failed: {exc}"
                    ) from exc
        except _StaleConnection as exc:
            raise BrokerUnavailable(
                f"connection to broker {self.address} failed during SASL login: {exc.reason}"
            ) from exc
        finally:
            self._conn = None

    async def _sasl_step(self, api_key: int, request: object, mechanism: str | None) -> object:
        body = messages.encode_request(api_key, 1, request)
        response = await self._exchange(api_key, 1, body, False, self.connect_timeout)
        if response.error_code != ErrorCode.NONE:
            message = (
                getattr(response, "error_message", None) or ErrorCode(response.error_code).name
            )
            raise BrokerAuthenticationFailed(
                f"SASL {mechanism} login to broker {self.address} failed: {message}"
            )
        return response

    async def send(
        self, api_key: int, version: int, request: object, *, timeout: float | None = None
    ) -> object:
        """Send `request` (a messages.*Request object) and return the decoded response.

        Raises BrokerUnavailable, BrokerRequestTimeout, BrokerProtocolError, or
        protocol.codec.EncodeError for a request object the version cannot carry.
        """
        body = messages.encode_request(api_key, version, request)  # EncodeError: caller's bug
        flexible = api_key != ApiKey.API_VERSIONS and messages.is_flexible(api_key, version)
        timeout = self.request_timeout if timeout is None else timeout
        async with self._lock:
            if self._closed:
                raise BrokerUnavailable(f"client for broker {self.address} is closed")
            for attempt in (0, 1):
                fresh = self._conn is None
                try:
                    return await self._exchange(api_key, version, body, flexible, timeout)
                except _StaleConnection as exc:
                    await self._disconnect()
                    if fresh or attempt == 1:
                        raise BrokerUnavailable(
                            f"connection to broker {self.address} failed: {exc.reason}"
                        ) from exc.__cause__
                    log.debug("Connection to %s was stale (%s); reconnecting", self, exc.reason)
                except BaseException:
                    # Timed out, cancelled or garbled mid-request: the stream is out of
                    # step with our requests now, so it cannot be reused.
                    await self._disconnect()
                    raise
        raise AssertionError("unreachable")

    async def _exchange(
        self, api_key: int, version: int, body: bytes, flexible: bool, timeout: float
    ) -> object:
        if self._conn is None:
            self._conn = await self._connect()
        conn = self._conn
        correlation_id = self._next_correlation_id
        self._next_correlation_id = (correlation_id + 1) & 0x7FFFFFFF
        header = encode_request_header(api_key, version, correlation_id, self.client_id)
        frame = b"".join((_SIZE.pack(len(header) + len(body)), header, body))
        name = messages.API_NAMES.get(api_key, api_key)
        with trio.move_on_after(timeout):
            read_anything = False
            try:
                await conn.stream.send_all(frame)
                response_frame = await conn.read_frame(self.max_response_size)
                read_anything = True
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, EOFError) as e:
                reason = "closed by the peer" if isinstance(e, EOFError) else repr(e)
                if not read_anything and not conn.pending:
                    raise _StaleConnection(reason) from e
                raise BrokerUnavailable(
                    f"connection to broker {self.address} broke during {name} v{version}: {reason}"
                ) from e
            try:
                got_id, offset = decode_response_header(response_frame, flexible)
                if got_id != correlation_id:
                    raise BrokerProtocolError(
                        f"broker {self.address} answered correlation id {got_id}, "
                        f"expected {correlation_id}"
                    )
                response = messages.decode_response(
                    api_key, version, memoryview(response_frame)[offset:]
                )
            except DecodeError as exc:
                raise BrokerProtocolError(
                    f"malformed {name} v{version} response from broker {self.address}: {exc}"
                ) from exc
            conn.served += 1
            return response
        raise BrokerRequestTimeout(
            f"broker {self.address} did not answer {name} v{version} within {timeout}s"
        )

    async def api_versions(self, *, refresh: bool = False) -> dict[int, tuple[int, int]]:
        """The peer's supported versions by api key, asked once and remembered.

        Asks with ApiVersions v3 and falls back to v0 when the peer says
        UNSUPPORTED_VERSION, as clients do.
        """
        if self._api_versions is None or refresh:
            request = messages.ApiVersionsRequest(
                client_software_name="kafka-compat", client_software_version="0.1.0"
            )
            response = await self.send(ApiKey.API_VERSIONS, 3, request)
            if response.error_code == ErrorCode.UNSUPPORTED_VERSION:
                response = await self.send(ApiKey.API_VERSIONS, 0, messages.ApiVersionsRequest())
            if response.error_code != ErrorCode.NONE:
                raise BrokerProtocolError(
                    f"broker {self.address} refused ApiVersions: error {response.error_code}"
                )
            self._api_versions = {
                k.api_key: (k.min_version, k.max_version) for k in response.api_keys
            }
        return self._api_versions

    async def pick_version(self, api_key: int, highest: int, lowest: int = 0) -> int:
        """The highest version of `api_key` in lowest..highest that the peer serves.

        Raises BrokerProtocolError when the ranges do not meet.
        """
        theirs = (await self.api_versions()).get(api_key)
        if theirs is not None:
            version = min(highest, theirs[1])
            if version >= max(lowest, theirs[0]):
                return version
        name = messages.API_NAMES.get(api_key, api_key)
        raise BrokerProtocolError(
            f"broker {self.address} serves no {name} version in {lowest}..{highest} "
            f"(it serves {theirs})"
        )


class _StaleConnection(Exception):
    """The connection failed before any of the answer arrived (maybe safe to retry)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
