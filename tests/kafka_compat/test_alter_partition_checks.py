"""cluster/alter_partition.py and cluster/features.py: the controller's checks, without
ZooKeeper (the cluster tests check them over the wire)."""

from __future__ import annotations

from kafka_compat.cluster.alter_partition import LEADER_RECOVERING, validate_alter_partition
from kafka_compat.cluster.features import (
    SAFE_DOWNGRADE,
    UNSAFE_DOWNGRADE,
    UPGRADE,
    apply_feature_updates,
    decode_feature_znode,
    encode_feature_znode,
)
from kafka_compat.cluster.zk_data import PartitionState
from protocol.errors import ErrorCode

CURRENT = PartitionState(leader=1, leader_epoch=5, isr=[1, 2, 3], controller_epoch=1, version=7)
LIVE = {1, 2, 3}


def check(isr, *, epoch=5, recovery=0, partition_epoch=7, live=LIVE, version=3, current=CURRENT):
    return validate_alter_partition(
        current, 1, epoch, isr, recovery, partition_epoch, live, version
    )


def test_alter_partition_checks_in_kafkas_order():
    assert check([1, 2], current=None) == (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None)
    assert check([1, 2], partition_epoch=8) == (ErrorCode.NOT_CONTROLLER, None)
    assert check([1, 2], epoch=6) == (ErrorCode.NOT_CONTROLLER, None)
    assert check([1, 2], epoch=4) == (ErrorCode.FENCED_LEADER_EPOCH, None)
    assert check([1, 2, 3], partition_epoch=3) == (ErrorCode.NONE, CURRENT)
    assert check([1, 2], partition_epoch=6) == (ErrorCode.INVALID_UPDATE_VERSION, None)
    assert check([1, 2], recovery=LEADER_RECOVERING) == (ErrorCode.INVALID_REQUEST, None)
    assert check([1], recovery=LEADER_RECOVERING) == (ErrorCode.INVALID_REQUEST, None)
    assert check([1, 2], live={1, 3}) == (ErrorCode.INELIGIBLE_REPLICA, None)
    assert check([1, 2], live={1, 3}, version=1) == (ErrorCode.OPERATION_NOT_ATTEMPTED, None)
    assert check([1, 2]) == (ErrorCode.NONE, None)


def test_feature_updates_against_a_finalized_feature():
    supported = {"y.version": (1, 3)}
    existing = {"x.version": 2, "y.version": 1}
    target, results = apply_feature_updates(
        existing,
        [
            ("x.version", 1, UNSAFE_DOWNGRADE),  # ZooKeeper mode: as without SAFE
            ("y.version", 3, UPGRADE),
            ("z.version", 1, UPGRADE),
        ],
        supported,
    )
    assert target == {"x.version": 2, "y.version": 3}
    assert results["x.version"][0] == ErrorCode.INVALID_REQUEST
    assert results["y.version"] == (ErrorCode.NONE, None)
    assert results["z.version"][0] == ErrorCode.INVALID_REQUEST
    target, results = apply_feature_updates(existing, [("y.version", 0, SAFE_DOWNGRADE)])
    assert target == {"x.version": 2}
    assert results == {"y.version": (ErrorCode.NONE, None)}


def test_feature_znode_round_trip_and_version_1():
    assert decode_feature_znode(encode_feature_znode({"x.version": 2})) == (1, {"x.version": 2})
    v1 = b'{"version":1,"status":1,"features":{"x":{"min_version_level":1,"max_version_level":3}}}'
    assert decode_feature_znode(v1) == (1, {"x": 3})
