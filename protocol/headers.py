"""Request and response headers, written by hand: they are tiny and on every message.

Request header v0: api_key int16, api_version int16, correlation_id int32.
v1 adds client_id, a nullable string that stays NON-compact (int16 length) even in
v2; v2 adds a tagged-field section after it. A request uses v2 when its version is
flexible, else v1; ControlledShutdown v0 alone uses v0.

Response header v0: correlation_id int32; v1 adds a tagged-field section and goes
with flexible responses, except ApiVersions responses, which always use v0 so a
client can read the answer before it knows what the broker speaks. The caller
decides: ``encode_response_header(correlation_id, flexible=...)``.

The 4-byte size frame is the server's business, not this module's.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from protocol.codec import DecodeError, skip_tagged_fields
from protocol.messages import is_flexible

__all__ = [
    "RequestHeader",
    "decode_request_header",
    "decode_response_header",
    "encode_request_header",
    "encode_response_header",
    "request_header_version",
]

_V0 = struct.Struct(">hhi")
_V1 = struct.Struct(">hhih")  # v0 + the client_id length
_CORRELATION = struct.Struct(">i")

CONTROLLED_SHUTDOWN = 7


class RequestHeader(NamedTuple):
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    body_offset: int  # where the request body starts in the buffer


def request_header_version(api_key: int, api_version: int) -> int:
    """0, 1 or 2: which request header goes with this request."""
    if api_key == CONTROLLED_SHUTDOWN and api_version == 0:
        return 0
    return 2 if is_flexible(api_key, api_version) else 1


def decode_request_header(buf: memoryview | bytes) -> RequestHeader:
    """Decode the header at the start of a request (size frame already removed).

    An unknown api_key still yields api_key, version, correlation id and client id
    (read as header v1), so the caller can answer or close the connection properly.
    """
    try:
        api_key, api_version, correlation_id, n = _V1.unpack_from(buf, 0)
    except struct.error:
        # Shorter than a v1 header: only a v0 header (ControlledShutdown v0) fits.
        if len(buf) < _V0.size:
            raise DecodeError(f"request header truncated ({len(buf)} bytes)") from None
        api_key, api_version, correlation_id = _V0.unpack_from(buf, 0)
        n = None
    if api_key == CONTROLLED_SHUTDOWN and api_version == 0:
        return RequestHeader(api_key, api_version, correlation_id, None, _V0.size)
    if n is None:
        raise DecodeError(f"request header truncated ({len(buf)} bytes)")
    pos = 10
    if n < 0:
        client_id = None
    else:
        end = pos + n
        if end > len(buf):
            raise DecodeError("request header: client_id runs past the end")
        try:
            client_id = str(buf[pos:end], "utf-8")
        except UnicodeDecodeError as e:
            raise DecodeError(f"request header: client_id is not UTF-8: {e}") from None
        pos = end
    if is_flexible(api_key, api_version):
        try:
            pos = skip_tagged_fields(buf, pos)
        except (IndexError, DecodeError) as e:
            raise DecodeError(f"request header: bad tagged fields: {e!r}") from None
    return RequestHeader(api_key, api_version, correlation_id, client_id, pos)


def encode_request_header(
    api_key: int, api_version: int, correlation_id: int, client_id: str | None
) -> bytes:
    version = request_header_version(api_key, api_version)
    if version == 0:
        return _V0.pack(api_key, api_version, correlation_id)
    if client_id is None:
        head = _V1.pack(api_key, api_version, correlation_id, -1)
    else:
        cid = client_id.encode()
        head = _V1.pack(api_key, api_version, correlation_id, len(cid)) + cid
    return head + b"\x00" if version == 2 else head


def encode_response_header(correlation_id: int, flexible: bool) -> bytes:
    """Response header v1 if flexible else v0. ApiVersions: always pass flexible=False."""
    head = _CORRELATION.pack(correlation_id)
    return head + b"\x00" if flexible else head


def decode_response_header(buf: memoryview | bytes, flexible: bool) -> tuple[int, int]:
    """(correlation_id, body_offset) of a response."""
    try:
        (correlation_id,) = _CORRELATION.unpack_from(buf, 0)
        pos = skip_tagged_fields(buf, 4) if flexible else 4
    except (struct.error, IndexError, DecodeError) as e:
        raise DecodeError(f"response header: {e!r}") from None
    return correlation_id, pos
