"""ApiVersions: v0-4

Behavior: lists every API in the handler registry with the versions this broker
    serves. An unsupported ApiVersions version gets UNSUPPORTED_VERSION with a v0
    body (header v0 always), so the client can retry with a version we speak.
    v3+ carries the features as a Kafka 3.9 ZooKeeper broker does (tagged fields):
    SupportedFeatures empty (a ZooKeeper broker supports none), the finalized
    features of /feature (none unless another broker finalized some) and its epoch
    (the znode's version: 0 once the controller created it; 0 on a single node).
    librdkafka before 2.2 mis-skips a non-empty tagged section ("Read underflow"),
    so the features are written only for clients whose ClientSoftwareName/Version
    name one known to skip tagged fields (`features_are_safe`: the Java client,
    Sarama, franz-go, kafka-python, librdkafka >= 2.2); the others get Kafka's
    response without them (every tagged section empty).
Version notes: v1 ThrottleTimeMs · v3 flexible (ClientSoftwareName/Version), features
    (tagged) · v4 same, and features whose minimum level is 0 are no longer left
    out of SupportedFeatures (KAFKA-17492).
Left out: ZkMigrationReady (no KRaft migration).
"""

from __future__ import annotations

import re

from kafka_compat.apis.handlers import HANDLERS
from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.cluster.features import SINGLE_NODE, SUPPORTED_FEATURES, FinalizedFeatures
from protocol import messages
from protocol.api_keys import ApiKey

ApiVersionsResponse = messages.response_type(ApiKey.API_VERSIONS)
FEATURES_MIN_VERSION = 3
# librdkafka 2.2.0 fixed skipping tagged fields it does not know.
SAFE_LIBRDKAFKA = (2, 2)
_RDKAFKA_VERSION = re.compile(r"rdkafka-v?(\d+)\.(\d+)", re.IGNORECASE)
_LEADING_VERSION = re.compile(r"v?(\d+)\.(\d+)")
# ClientSoftwareName of clients that skip unknown tagged fields correctly.
TAG_READERS = frozenset({"apache-kafka-java", "sarama", "kgo", "kafka-python"})


def api_versions_response(error_code: int = 0):
    return ApiVersionsResponse(
        error_code=error_code,
        api_keys=[
            ApiVersionsResponse.ApiVersion(
                api_key=entry.key, min_version=entry.min_version, max_version=entry.max_version
            )
            for entry in sorted(HANDLERS.values(), key=lambda e: e.key)
        ],
    )


def features_are_safe(software_name: str | None, software_version: str | None) -> bool:
    """May this client get ApiVersions' tagged feature fields? Only clients known to
    skip tagged fields they do not read: the Java client (its AdminClient's
    describeFeatures and kafka-features.sh read them), Sarama, franz-go, kafka-python,
    and librdkafka from 2.2 on, named "librdkafka" (its default client.software.name,
    with its own version) or through a wrapper whose version names it
    (confluent-kafka-python sends "2.16.0-rdkafka-2.16.0"). Older librdkafka and any
    client we do not know get the section empty, as the design wants it unless asked
    (librdkafka < 2.2 mis-skips tagged fields)."""
    name = (software_name or "").lower()
    version = software_version or ""
    if name in TAG_READERS:
        return True
    found = _RDKAFKA_VERSION.search(version)
    if found is None and name == "librdkafka":
        found = _LEADING_VERSION.match(version)
    if found is None:
        return False
    return (int(found.group(1)), int(found.group(2))) >= SAFE_LIBRDKAFKA


def finalized_features(ctx: RequestContext) -> FinalizedFeatures:
    if ctx.cluster is None:
        return SINGLE_NODE
    return ctx.cluster.features.finalized


@api(ApiKey.API_VERSIONS, 0, 4)
async def handle_api_versions(ctx: RequestContext, request):
    response = api_versions_response()
    if ctx.version >= FEATURES_MIN_VERSION and features_are_safe(
        request.client_software_name, request.client_software_version
    ):
        _add_features(response, finalized_features(ctx), ctx.version)
    return response


def _add_features(response, finalized: FinalizedFeatures, version: int) -> None:
    """Kafka's ApiVersionsResponse.Builder: supported ranges (below v4 without those
    whose minimum is 0), finalized levels other than 0, and the epoch."""
    response.supported_features = [
        ApiVersionsResponse.SupportedFeatureKey(name=name, min_version=low, max_version=high)
        for name, (low, high) in SUPPORTED_FEATURES.items()
        if version >= 4 or low != 0
    ]
    response.finalized_features = [
        ApiVersionsResponse.FinalizedFeatureKey(
            name=name, min_version_level=level, max_version_level=level
        )
        for name, level in finalized.features.items()
        if level != 0
    ]
    response.finalized_features_epoch = finalized.epoch
