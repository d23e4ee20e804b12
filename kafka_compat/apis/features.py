"""UpdateFeatures: v0-1

Behavior: the controller's API (Kafka's ZooKeeper-mode KafkaController.updateFeatures;
    the Java AdminClient's updateFeatures and kafka-features.sh send it to the
    controller): another broker answers NOT_CONTROLLER. Each update is checked
    against the finalized level in /feature (cluster/features.py, Kafka's order and
    messages): an empty name, an unknown upgrade type, deleting a feature that is
    not finalized, a level below 1 without a downgrade type, the same level, a lower
    level without SAFE_DOWNGRADE, a downgrade type with a higher level, and a feature
    the brokers do not support are INVALID_REQUEST. As a Kafka 3.9 ZooKeeper broker,
    no feature is supported, so only deletions of a finalized feature pass. The
    valid updates are written to /feature together (fenced by the controller
    epoch; FEATURE_UPDATE_FAILED if it changed meanwhile) and the answer waits, up
    to timeoutMs, until this broker's copy has the new epoch. Single node: no
    feature is finalized or supported, every update fails the same checks.
Version notes: v0 AllowDowngrade (true: SAFE_DOWNGRADE) · v1 UpgradeType (UNSAFE_DOWNGRADE
    is refused like an upgrade below the level, as Kafka's ZooKeeper controller),
    ValidateOnly (ignored, as Kafka's ZooKeeper controller).
"""

from __future__ import annotations

import trio

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.cluster.features import (
    FEATURE_UPDATE_FAILED_MESSAGE,
    SAFE_DOWNGRADE,
    SINGLE_NODE,
    UPGRADE,
    apply_feature_updates,
)
from kafka_compat.cluster.store import NotController
from kafka_compat.security.acl_types import AclOperation
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

UpdateFeaturesResponse = messages.response_type(ApiKey.UPDATE_FEATURES)
Result = UpdateFeaturesResponse.UpdatableFeatureResult


@api(ApiKey.UPDATE_FEATURES, 0, 1)
async def handle_update_features(ctx: RequestContext, request):
    if not ctx.authorize_cluster(AclOperation.ALTER):
        return UpdateFeaturesResponse(error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED, results=[])
    updates = []
    for update in request.feature_updates:
        if ctx.version == 0:
            upgrade_type = SAFE_DOWNGRADE if update.allow_downgrade else UPGRADE
        else:
            upgrade_type = update.upgrade_type
        updates.append((update.feature, update.max_version_level, upgrade_type))
    if ctx.cluster is None:
        _, results = apply_feature_updates(SINGLE_NODE.features, updates)
        return _answer(results)
    controller = ctx.controller
    before = ctx.cluster.features
    waiter = before.changed.waiter()
    try:
        if controller is None:
            raise NotController
        results = await controller.update_features(updates)
    except NotController:
        return UpdateFeaturesResponse(
            error_code=ErrorCode.NOT_CONTROLLER,
            error_message="This is not the correct controller for this cluster.",
            results=[],
        )
    if results is None:
        failed = (ErrorCode.FEATURE_UPDATE_FAILED, FEATURE_UPDATE_FAILED_MESSAGE)
        results = {name: failed for name, _, _ in updates}
    elif any(error == ErrorCode.NONE for error, _ in results.values()):
        # Kafka waits until its feature cache has the new epoch (the watch's news).
        with trio.move_on_after(max(request.timeout_ms, 0) / 1000):
            await waiter.wait()
    return _answer(results)


def _answer(results: dict[str, tuple[int, str | None]]):
    # Kafka answers a valid update with ApiError(NONE), whose message is "NONE".
    return UpdateFeaturesResponse(
        error_code=ErrorCode.NONE,
        results=[
            Result(
                feature=name,
                error_code=error,
                error_message=message if message is not None else ErrorCode(error).name,
            )
            for name, (error, message) in results.items()
        ],
    )
