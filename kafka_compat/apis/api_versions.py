"""ApiVersions: v0-4

Behavior: lists every API in the handler registry with the versions this broker
    serves. An unsupported ApiVersions version gets UNSUPPORTED_VERSION with a v0
    body (header v0 always), so the client can retry with a version we speak.
Version notes: v1 ThrottleTimeMs · v3 flexible (ClientSoftwareName/Version) · v4 same.
Left out: supported/finalized features (tagged fields; librdkafka < 2.2 mis-skips
    a non-empty tagged section, so we write none).
"""

from __future__ import annotations

from kafka_compat.apis.registry import REGISTRY, RequestContext, api
from protocol import messages
from protocol.api_keys import ApiKey

ApiVersionsResponse = messages.response_type(ApiKey.API_VERSIONS)


def api_versions_response(error_code: int = 0):
    return ApiVersionsResponse(
        error_code=error_code,
        api_keys=[
            ApiVersionsResponse.ApiVersion(
                api_key=entry.key, min_version=entry.min_version, max_version=entry.max_version
            )
            for entry in sorted(REGISTRY.values(), key=lambda e: e.key)
        ],
    )


@api(ApiKey.API_VERSIONS, 0, 4)
async def handle_api_versions(ctx: RequestContext, request):
    return api_versions_response()
