"""AlterPartition (KIP-497): a partition leader's ISR change, asked of the controller.

The leader (cluster/membership.py) sends the ISR it wants with its leader epoch and
the partition epoch it knows (the /state znode's version, Kafka's zkVersion); the
controller (cluster/controller.py) checks each partition as Kafka 3.9's ZooKeeper
controller does (KafkaController.tryProcessAlterPartition), in this order:

- unknown partition: UNKNOWN_TOPIC_OR_PARTITION (unknown topic id: UNKNOWN_TOPIC_ID);
- a newer partition or leader epoch than the controller's: NOT_CONTROLLER (the
  controller is likely stale);
- an older leader epoch: FENCED_LEADER_EPOCH;
- already the state asked for (whatever the partition epoch): answered as it is;
- an older partition epoch: INVALID_UPDATE_VERSION;
- RECOVERING with more than one replica, or RECOVERED back to RECOVERING:
  INVALID_REQUEST;
- a new ISR member that is not a live broker, or is shutting down:
  INELIGIBLE_REPLICA (v2+; OPERATION_NOT_ATTEMPTED before).

The rest is written to ZooKeeper (version-checked, fenced by the controller epoch;
a conflict is INVALID_UPDATE_VERSION) and answered with the new state: leader,
leader epoch, ISR, recovery state and the new partition epoch, which the leader
adopts. An unknown or stale broker epoch in the request is STALE_BROKER_EPOCH for
the whole request.
"""

from __future__ import annotations

from kafka_compat.cluster.zk_data import PartitionState as LeaderIsr
from protocol.errors import ErrorCode

__all__ = ["INELIGIBLE_REPLICA_MIN_VERSION", "LEADER_RECOVERING", "validate_alter_partition"]

LEADER_RECOVERED, LEADER_RECOVERING = 0, 1
INELIGIBLE_REPLICA_MIN_VERSION = 2  # KIP-841's errors


def validate_alter_partition(
    current: LeaderIsr | None,
    broker_id: int,
    leader_epoch: int,
    new_isr: list[int],
    recovery_state: int,
    partition_epoch: int,
    eligible: set[int],
    version: int,
) -> tuple[int, LeaderIsr | None]:
    """(error, state): (NONE, current) when the partition already is as asked,
    (NONE, None) when the change is to be written, else (error, None)."""
    if current is None:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None
    if partition_epoch > current.version or leader_epoch > current.leader_epoch:
        return ErrorCode.NOT_CONTROLLER, None
    if leader_epoch < current.leader_epoch:
        return ErrorCode.FENCED_LEADER_EPOCH, None
    if (
        current.leader == broker_id
        and list(new_isr) == list(current.isr)
        and recovery_state == current.leader_recovery_state
    ):
        return ErrorCode.NONE, current  # idempotent: a retry of an applied change
    if partition_epoch < current.version:
        return ErrorCode.INVALID_UPDATE_VERSION, None
    if recovery_state == LEADER_RECOVERING and len(new_isr) > 1:
        return ErrorCode.INVALID_REQUEST, None
    if current.leader_recovery_state == LEADER_RECOVERED and recovery_state == LEADER_RECOVERING:
        return ErrorCode.INVALID_REQUEST, None
    if set(new_isr) - eligible:
        if version >= INELIGIBLE_REPLICA_MIN_VERSION:
            return ErrorCode.INELIGIBLE_REPLICA, None
        return ErrorCode.OPERATION_NOT_ATTEMPTED, None
    return ErrorCode.NONE, None
