"""Finalized features (KIP-584) as a Kafka 3.9 ZooKeeper-mode cluster keeps them.

The cluster's finalized features live in the /feature znode, which the controller
creates on election ({"version":2,"status":1,"features":{}}, Kafka's FeatureZNode) and
rewrites on UpdateFeatures; its znode version is the finalized features epoch.
Every broker watches it (cluster/membership.py) and reports it in ApiVersions v3+.

A Kafka 3.9 broker in ZooKeeper mode supports no feature (KafkaServer builds
BrokerFeatures.createEmpty(); metadata.version, kraft.version, group.version and
transaction.version are KRaft's), so SupportedFeatures is empty, the controller
finalizes none, and UpdateFeatures can only delete a feature some other broker
finalized. The validation below is Kafka's (KafkaController.validateFeatureUpdate),
in its order, with its messages.

A single node has no ZooKeeper: it answers as a ZooKeeper cluster whose /feature was
just created (no features, epoch 0), which nothing can change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from kafka_compat.events import Signal
from protocol.errors import ErrorCode

__all__ = [
    "FEATURE_PATH",
    "FEATURE_UPDATE_FAILED_MESSAGE",
    "SAFE_DOWNGRADE",
    "SINGLE_NODE",
    "SUPPORTED_FEATURES",
    "UNSAFE_DOWNGRADE",
    "UPGRADE",
    "FeatureCache",
    "FinalizedFeatures",
    "apply_feature_updates",
    "decode_feature_znode",
    "enable_feature_versioning",
    "encode_feature_znode",
    "update_feature_znode",
    "validate_feature_update",
]

FEATURE_PATH = "/feature"
# FeatureZNode versions: 2 (IBP 3.3+) dropped min_version_level; status 1 = enabled.
ZNODE_VERSION = 2
STATUS_DISABLED, STATUS_ENABLED = 0, 1
UNKNOWN_EPOCH = -1  # ApiVersionsResponse.UNKNOWN_FINALIZED_FEATURES_EPOCH
# UpdateFeatures v1 UpgradeType (v0: AllowDowngrade true = SAFE_DOWNGRADE).
UNKNOWN_UPGRADE_TYPE, UPGRADE, SAFE_DOWNGRADE, UNSAFE_DOWNGRADE = 0, 1, 2, 3

# Kafka's FeatureUpdateFailedException text (the zero-arg ApiError message).
FEATURE_UPDATE_FAILED_MESSAGE = (
    "Unable to update finalized features due to an unexpected server error."
)
# name -> (min, max) version this broker supports: none, as a Kafka 3.9 ZK broker.
SUPPORTED_FEATURES: dict[str, tuple[int, int]] = {}


@dataclass(frozen=True)
class FinalizedFeatures:
    """Finalized feature name -> version level, and the epoch (/feature's version)."""

    features: dict[str, int] = field(default_factory=dict)
    epoch: int = UNKNOWN_EPOCH


SINGLE_NODE = FinalizedFeatures({}, 0)


def encode_feature_znode(features: dict[str, int]) -> bytes:
    return json.dumps(
        {
            "features": {name: {"max_version_level": level} for name, level in features.items()},
            "version": ZNODE_VERSION,
            "status": STATUS_ENABLED,
        },
        separators=(",", ":"),
    ).encode()


def decode_feature_znode(data: bytes) -> tuple[int, dict[str, int]]:
    """(status, features) of a /feature znode, v1 (min and max levels) or v2."""
    node = json.loads(data)
    if node.get("version") not in (1, 2):
        raise ValueError(f"unsupported /feature version: {node.get('version')}")
    features = {
        name: int(levels["max_version_level"])
        for name, levels in (node.get("features") or {}).items()
    }
    return int(node.get("status", STATUS_DISABLED)), features


class FeatureCache:
    """A broker's copy of /feature (Kafka's ZkMetadataCache features), kept by a watch."""

    def __init__(self) -> None:
        self.finalized = FinalizedFeatures()
        self.changed = Signal()

    def update(self, data: bytes | None, version: int | None) -> None:
        """The watch saw /feature change (None: it does not exist)."""
        if data is None or version is None:
            self.finalized = FinalizedFeatures()
        else:
            status, features = decode_feature_znode(data)
            if status == STATUS_ENABLED:
                self.finalized = FinalizedFeatures(features, version)
            else:
                self.finalized = FinalizedFeatures()
        self.changed.fire()


# ---- UpdateFeatures ----------------------------------------------------------------


def _is_delete(level: int, upgrade_type: int) -> bool:
    return level < 1 and upgrade_type != UPGRADE


def _new_level(name: str, level: int, supported) -> tuple[int | None, int, str | None]:
    """Kafka's newFinalizedVersionOrIncompatibilityError: the level must be one this
    broker (and so every broker: they all run this code) supports."""
    versions = supported.get(name)
    if versions is None:
        return (
            None,
            ErrorCode.INVALID_REQUEST,
            "Could not apply finalized feature update because the provided feature"
            " is not supported.",
        )
    low, high = versions
    if level < low or level > high:
        return (
            None,
            ErrorCode.INVALID_REQUEST,
            "Could not apply finalized feature update because the provided"
            f" versionLevel:{level} is lower than the supported minVersion:{low}.",
        )
    return level, ErrorCode.NONE, None


def validate_feature_update(
    name: str,
    level: int,
    upgrade_type: int,
    existing: int | None,
    supported: dict[str, tuple[int, int]] = SUPPORTED_FEATURES,
) -> tuple[int | None, int, str | None]:
    """(new level, or None to delete; error code; message) for one update."""
    if not name:
        return None, ErrorCode.INVALID_REQUEST, "Feature name can not be empty."
    if upgrade_type not in (UPGRADE, SAFE_DOWNGRADE, UNSAFE_DOWNGRADE):
        return None, ErrorCode.INVALID_REQUEST, "Received unknown upgrade type."
    if _is_delete(level, upgrade_type):
        if existing is None:
            return None, ErrorCode.INVALID_REQUEST, "Can not delete non-existing finalized feature."
        return None, ErrorCode.NONE, None
    if level < 1:
        return (
            None,
            ErrorCode.INVALID_REQUEST,
            f"Can not provide versionLevel: {level} less than 1 without setting the"
            " SAFE downgradeType in the request.",
        )
    if existing is None:
        return _new_level(name, level, supported)
    if level == existing:
        verb = "downgrade" if upgrade_type == SAFE_DOWNGRADE else "upgrade"
        return (
            None,
            ErrorCode.INVALID_REQUEST,
            f"Can not {verb} a finalized feature from existing versionLevel:{existing}"
            " to the same value.",
        )
    if level < existing and upgrade_type != SAFE_DOWNGRADE:
        return (
            None,
            ErrorCode.INVALID_REQUEST,
            f"Can not downgrade finalized feature from existing versionLevel:{existing}"
            f" to provided versionLevel:{level} without setting the downgradeType to"
            " SAFE in the request.",
        )
    if upgrade_type != UPGRADE and level > existing:
        return (
            None,
            ErrorCode.INVALID_REQUEST,
            f"When the downgradeType is set to SAFE in the request, the provided"
            f" versionLevel:{level} can not be greater than existing versionLevel:{existing}.",
        )
    return _new_level(name, level, supported)


def apply_feature_updates(
    existing: dict[str, int],
    updates: list[tuple[str, int, int]],
    supported: dict[str, tuple[int, int]] = SUPPORTED_FEATURES,
) -> tuple[dict[str, int], dict[str, tuple[int, str | None]]]:
    """Kafka's processFeatureUpdatesWithActiveController: each (name, level, upgrade
    type) checked against the existing levels; the valid ones make the target set.
    Returns (target features, {name: (error, message)})."""
    target = dict(existing)
    results: dict[str, tuple[int, str | None]] = {}
    for name, level, upgrade_type in updates:
        new, error, message = validate_feature_update(
            name, level, upgrade_type, existing.get(name), supported
        )
        if error == ErrorCode.NONE:
            if new is None:
                target.pop(name, None)
            else:
                target[name] = new
        results[name] = (error, message)
    return target, results


# ---- the controller's side (store: the ZooKeeper store, cluster/zk_store.py) --------


async def enable_feature_versioning(store, controller_epoch_version: int | None) -> None:
    """Kafka's KafkaController.enableFeatureVersioning, on election: /feature exists
    and is enabled (a disabled one loses its features); written only if it changes."""
    found = await store.get_raw(FEATURE_PATH)
    if found is None:
        await store.write_znode(
            FEATURE_PATH, encode_feature_znode({}), None, controller_epoch_version
        )
        return
    status, _ = decode_feature_znode(found[0])
    if status != STATUS_ENABLED:
        await store.write_znode(
            FEATURE_PATH, encode_feature_znode({}), found[1], controller_epoch_version
        )


async def update_feature_znode(
    store, controller_epoch_version: int | None, updates: list[tuple[str, int, int]]
) -> dict[str, tuple[int, str | None]]:
    """UpdateFeatures on the controller: check the updates against /feature, write the
    valid ones (fenced, version-checked). (error, message) per feature; the valid
    ones fail with FEATURE_UPDATE_FAILED if /feature changed meanwhile."""
    found = await store.get_raw(FEATURE_PATH)
    existing = {} if found is None else decode_feature_znode(found[0])[1]
    target, results = apply_feature_updates(existing, updates)
    if target != existing:
        version = await store.write_znode(
            FEATURE_PATH,
            encode_feature_znode(target),
            None if found is None else found[1],
            controller_epoch_version,
        )
        if version is None:
            failed = (ErrorCode.FEATURE_UPDATE_FAILED, FEATURE_UPDATE_FAILED_MESSAGE)
            return {
                name: failed if error == ErrorCode.NONE else (error, message)
                for name, (error, message) in results.items()
            }
    return results
