"""SaslHandshake: v0-1

Behavior: no SASL mechanism is enabled on this broker; every handshake answers
    UNSUPPORTED_SASL_MECHANISM with an empty mechanism list.
Left out: SaslAuthenticate and any authentication.
"""

from __future__ import annotations

from kafka_compat.apis.registry import RequestContext, api
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

SaslHandshakeResponse = messages.response_type(ApiKey.SASL_HANDSHAKE)


@api(ApiKey.SASL_HANDSHAKE, 0, 1)
async def handle_sasl_handshake(ctx: RequestContext, request):
    return SaslHandshakeResponse(error_code=ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms=[])
