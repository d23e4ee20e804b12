"""The Kafka protocol listener: one Trio task per connection.

A connection's requests are read one frame at a time and answered in order, one
at a time, the way Kafka's broker mutes a channel while a request is in flight.
A frame over `socket.request.max.bytes`, an unknown API or version, or a body
that does not parse closes that connection with one log line; everything else
keeps running.
"""

from __future__ import annotations

import logging
import struct

import trio

from kafka_compat.apis.handlers import REGISTRY, Api
from kafka_compat.apis.registry import CLOSE_CONNECTION, Components, RequestContext
from kafka_compat.security.session import Session
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from protocol.headers import RequestHeader, decode_request_header, encode_response_header
from protocol.messages import DecodeError

log = logging.getLogger(__name__)

_SIZE = struct.Struct(">i")
_RECV_CHUNK = 65536
API_VERSIONS_KEY = ApiKey.API_VERSIONS


class FrameTooLarge(Exception):
    pass


class FrameReader:
    """Reads size-prefixed frames from a socket into fresh bytearrays.

    Each frame gets its own writable buffer so that produce can patch record
    batches in place (offsets) and hand them to storage without a copy.
    """

    def __init__(self, sock: trio.socket.SocketType, max_size: int):
        self.sock = sock
        self.max_size = max_size
        self.pending = bytearray()

    async def read_frame(self) -> bytearray | None:
        """The next frame's body, or None at end of stream."""
        while len(self.pending) < 4:
            chunk = await self.sock.recv(_RECV_CHUNK)
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
            received = await self.sock.recv_into(view[have:], size - have)
            if not received:
                return None
            have += received
        return frame


def _api_versions_fallback() -> bytes:
    """ApiVersions v0 body with UNSUPPORTED_VERSION, so the client can downgrade."""
    from kafka_compat.apis.api_versions import api_versions_response

    response = api_versions_response(ErrorCode.UNSUPPORTED_VERSION)
    return messages.encode_response(API_VERSIONS_KEY, 0, response)


async def serve_connection(stream: trio.SocketStream, components: Components) -> None:
    """Answer one client's requests until it disconnects or misbehaves."""
    try:
        host, port = stream.socket.getpeername()[:2]
        peer = f"{host}:{port}"
    except OSError:
        host, peer = "", "?"
    session = Session(peer_host=host)
    reader = FrameReader(stream.socket, components.config["socket.request.max.bytes"])
    try:
        while True:
            try:
                frame = await reader.read_frame()
            except FrameTooLarge as exc:
                log.warning(
                    "Closing connection from %s: request size %d exceeds socket.request.max.bytes "
                    "(%d)",
                    peer,
                    exc.args[0],
                    reader.max_size,
                )
                return
            if frame is None:
                return
            try:
                response = await _handle_frame(frame, components, peer, session)
            except Exception:
                # A bug in one handler costs its connection, never the broker.
                log.exception("Closing connection from %s: error while handling a request", peer)
                return
            if response is False:
                return
            if response is not None:
                await stream.send_all(response)
    except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
        return
    finally:
        with trio.CancelScope(shield=True):
            await stream.aclose()


async def _handle_frame(
    frame: bytearray, components: Components, peer: str, session: Session
) -> bytes | None | bool:
    """The response frame, None for no response (acks=0), False to close."""
    view = memoryview(frame)
    try:
        header = decode_request_header(view)
    except DecodeError as exc:
        log.warning("Closing connection from %s: malformed request header (%s)", peer, exc)
        return False
    entry: Api | None = REGISTRY.get(header.api_key)
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
    ctx = RequestContext(components, header, version, peer, session)
    response = await entry.handler(ctx, request)
    if response is None:
        return None
    if response is CLOSE_CONNECTION:
        return False
    return _response_frame(header, version, response)


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
