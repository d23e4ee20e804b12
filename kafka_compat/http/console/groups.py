"""Consumer groups: the list with states and total lag, one group (members, their
assignments, committed offset, log end offset and lag per partition), resetting its
offsets, deleting it.

Read from this broker's group coordinator (the groups whose __consumer_offsets
partition it leads; in a cluster the page says which broker coordinates the others).
Lag is Kafka's: the partition's log end offset as a consumer sees it (the high
watermark) minus the committed offset. A reset commits as kafka-consumer-groups.sh
does (a commit with no member, which the coordinator accepts only while the group is
Empty): a group with members is refused with Kafka's message. Delete is the
coordinator's DeleteGroups (NON_EMPTY_GROUP while it has members).
"""

from __future__ import annotations

from typing import Any

import trio
from starlette.requests import Request

from kafka_compat.apis.registry import Components
from kafka_compat.groups import consumer_protocol
from kafka_compat.groups.records import OffsetAndMetadata
from kafka_compat.http.console.common import (
    ApiError,
    body,
    broker_label,
    integer,
    is_cluster,
    kafka_error,
    require_writes,
)
from kafka_compat.replica import FetchIsolation, OfflineLog, RemoteLog
from kafka_compat.topics import OFFSETS_TOPIC
from protocol.errors import ErrorCode
from storage.errors import LogError

INACTIVE_STATES = ("Empty", "Dead")
PIECE = 200  # groups summed between two checkpoints
EARLIEST, LATEST = -2, -1


def _log_end(components: Components, topic: str, index: int) -> int | None:
    """The high watermark of a partition this broker leads; None when it does not."""
    partition = components.replica_manager.get_partition(topic, index)
    if partition is None or isinstance(partition.log, RemoteLog | OfflineLog):
        return None
    if not partition.is_leader:
        return None
    return partition.high_watermark


def _committed(components: Components, group_id: str) -> dict[tuple[str, int], int]:
    _, offsets = components.group_coordinator.fetch_offsets(group_id, None)
    return {tp: o.offset for tp, o in offsets.items() if isinstance(o, OffsetAndMetadata)}


def _coordinator_error(components: Components, group_id: str, code: int) -> ApiError:
    if code == ErrorCode.NOT_COORDINATOR and is_cluster(components):
        index = components.group_coordinator.partition_for(group_id)
        state = components.metadata_cache.topics.get(OFFSETS_TOPIC, {}).get(index)
        if state is not None:
            label = broker_label(components, state.leader)
            return ApiError(
                409,
                f"Group {group_id} is coordinated by broker {state.leader}, not this broker",
                coordinator=label,
            )
    return kafka_error(code)


async def list_groups(request: Request, components: Components) -> dict[str, Any]:
    error, listed = (await components.start_group_coordinator()).list_groups()
    if error and error != ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
        raise kafka_error(error)
    groups = []
    for n, (group_id, protocol_type, state, group_type) in enumerate(sorted(listed)):
        lag = 0
        unknown = False
        for (topic, index), offset in _committed(components, group_id).items():
            end = _log_end(components, topic, index)
            if end is None:
                unknown = True
            else:
                lag += max(end - offset, 0)
        _, summary = components.group_coordinator.describe_group(group_id)
        groups.append(
            {
                "group_id": group_id,
                "protocol_type": protocol_type,
                "state": state,
                "type": group_type,
                "members": len(summary.members),
                "lag": lag,
                "lag_complete": not unknown,
            }
        )
        if n % PIECE == PIECE - 1:
            await trio.sleep(0)
    return {"groups": groups, "loading": error == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS}


async def describe_group(request: Request, components: Components) -> dict[str, Any]:
    group_id = request.path_params["group"]
    coordinator = await components.start_group_coordinator()
    error, summary = coordinator.describe_group(group_id)
    if error:
        raise _coordinator_error(components, group_id, error)
    committed = _committed(components, group_id)
    if summary.state == "Dead" and not committed:
        raise ApiError(404, f"Group {group_id} does not exist.")
    members = []
    owner: dict[tuple[str, int], str] = {}
    for member in summary.members:
        assigned = None
        if summary.protocol_type == consumer_protocol.PROTOCOL_TYPE:
            assigned = consumer_protocol.assigned_partitions(member.assignment)
        by_topic: dict[str, list[int]] = {}
        for topic, index in assigned or ():
            by_topic.setdefault(topic, []).append(index)
            owner[(topic, index)] = member.member_id
        members.append(
            {
                "member_id": member.member_id,
                "group_instance_id": member.group_instance_id,
                "client_id": member.client_id,
                "host": member.client_host,
                "assignment": [
                    {"topic": t, "partitions": sorted(ps)} for t, ps in sorted(by_topic.items())
                ],
            }
        )
    partitions = []
    total = 0
    for tp in sorted(set(committed) | set(owner)):
        offset = committed.get(tp)
        end = _log_end(components, *tp)
        lag = None if offset is None or end is None else max(end - offset, 0)
        total += lag or 0
        partitions.append(
            {
                "topic": tp[0],
                "partition": tp[1],
                "committed": offset,
                "log_end_offset": end,
                "lag": lag,
                "member_id": owner.get(tp),
            }
        )
    return {
        "group_id": group_id,
        "state": summary.state,
        "protocol_type": summary.protocol_type,
        "protocol": summary.protocol,
        "coordinator": components.node_id,
        "members": members,
        "partitions": partitions,
        "total_lag": total,
    }


def _offset_bounds(components: Components, topic: str, index: int) -> tuple[int, int]:
    partition = components.replica_manager.get_partition(topic, index)
    if partition is None or isinstance(partition.log, RemoteLog) or not partition.is_leader:
        raise ApiError(409, f"{topic}-{index} is not led by this broker: reset it from its leader")
    try:
        return partition.log.log_start_offset, partition.high_watermark
    except LogError as exc:
        raise kafka_error(exc.error_code, str(exc)) from None


def _scope(components: Components, group_id: str, data: dict) -> list[tuple[str, int]]:
    """The partitions a reset applies to: the topic given (all its partitions, or
    `partitions`), else every partition the group has committed offsets for."""
    topic = data.get("topic")
    if not topic:
        scope = sorted(_committed(components, group_id))
        if not scope:
            raise ApiError(400, f"Group {group_id} has no committed offsets: name a topic")
        return scope
    parts = components.replica_manager.topic_partitions(topic)
    if parts is None:
        raise ApiError(404, f"Topic {topic} does not exist.")
    chosen = data.get("partitions")
    if chosen is None:
        return [(topic, p.index) for p in parts]
    indexes = sorted({integer(p, "partitions[]", 0) for p in chosen})
    for index in indexes:
        if index >= len(parts):
            raise ApiError(404, f"Topic {topic} has no partition {index}.")
    return [(topic, i) for i in indexes]


def _target(components: Components, tp: tuple[str, int], to: str, data: dict) -> int:
    start, end = _offset_bounds(components, *tp)
    if to == "earliest":
        return start
    if to == "latest":
        return end
    if to == "offset":
        return min(max(integer(data.get("offset"), "offset"), start), end)
    if to == "timestamp":
        timestamp = integer(data.get("timestamp"), "timestamp", 0)
        partition = components.replica_manager.get_partition(*tp)
        found = partition.offset_for_timestamp(timestamp, FetchIsolation.HIGH_WATERMARK)
        return end if found is None else found.offset
    raise ApiError(400, f"to must be earliest, latest, offset or timestamp, not {to!r}")


async def reset_offsets(request: Request, components: Components) -> dict[str, Any]:
    """Body {to: earliest|latest|offset|timestamp, offset, timestamp, topic, partitions,
    dry_run}: the new offsets (committed unless dry_run)."""
    require_writes(components)
    group_id = request.path_params["group"]
    data = await body(request)
    coordinator = await components.start_group_coordinator()
    error, summary = coordinator.describe_group(group_id)
    if error:
        raise _coordinator_error(components, group_id, error)
    if summary.state not in INACTIVE_STATES:
        raise ApiError(
            409,
            f"Assignments can only be reset if the group '{group_id}' is inactive, but the "
            f"current state is {summary.state}. Stop its consumers first.",
            state=summary.state,
        )
    to = data.get("to")
    plan = {tp: _target(components, tp, to, data) for tp in _scope(components, group_id, data)}
    offsets = [{"topic": t, "partition": p, "offset": o} for (t, p), o in sorted(plan.items())]
    if data.get("dry_run"):
        return {"group_id": group_id, "offsets": offsets, "committed": False}
    results = await coordinator.commit_offsets(
        group_id, "", None, -1, {tp: OffsetAndMetadata(o) for tp, o in plan.items()}
    )
    failed = {code for code in results.values() if code}
    if failed:
        code = failed.pop()
        if code == ErrorCode.UNKNOWN_MEMBER_ID:  # members joined meanwhile
            raise ApiError(409, f"Group {group_id} has members now: stop its consumers first")
        raise kafka_error(code)
    return {"group_id": group_id, "offsets": offsets, "committed": True}


async def delete_group(request: Request, components: Components) -> dict[str, Any]:
    require_writes(components)
    group_id = request.path_params["group"]
    coordinator = await components.start_group_coordinator()
    results = await coordinator.delete_groups([group_id])
    code = results.get(group_id, ErrorCode.NONE)
    if code == ErrorCode.NON_EMPTY_GROUP:
        raise ApiError(
            409,
            f"Group {group_id} is not empty: stop its consumers before deleting it",
            kafka_error="NON_EMPTY_GROUP",
        )
    if code:
        raise _coordinator_error(components, group_id, code)
    return {"deleted": group_id}
