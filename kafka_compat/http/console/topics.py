"""Topics: the list, one topic's partitions and configs, create, delete, alter configs.

Reads come from the components (the metadata store on a single node, the metadata
cache in a cluster; sizes and offsets from the replicas this broker hosts). Writes go
through the broker's own CreateTopics, DeleteTopics and IncrementalAlterConfigs
handlers, so they check and answer exactly as for a client (INVALID_CONFIG naming the
key, TOPIC_ALREADY_EXISTS, INVALID_REPLICATION_FACTOR, ...).
"""

from __future__ import annotations

from typing import Any

import trio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kafka_compat.apis.configs import topic_config_entries
from kafka_compat.apis.registry import Components
from kafka_compat.http.console.common import (
    ApiError,
    body,
    call_api,
    integer,
    is_cluster,
    kafka_error,
    require_writes,
)
from kafka_compat.replica import OfflineLog, Partition, RemoteLog
from kafka_compat.topics import INTERNAL_TOPICS
from protocol import messages
from protocol.api_keys import ApiKey
from storage.errors import LogError

PIECE = 500  # partitions summed between two checkpoints
RESOURCE_TOPIC = 2
OP_SET, OP_DELETE = 0, 1
SOURCE_NAMES = {
    1: "topic",
    2: "dynamic broker",
    3: "dynamic default broker",
    4: "broker",
    5: "default",
    6: "dynamic broker logger",
}


def topic_names(components: Components) -> list[str]:
    if is_cluster(components):
        return sorted(components.metadata_cache.topics)
    return sorted(components.store.topics)


def partition_states(components: Components, name: str) -> list[dict[str, Any]] | None:
    """Leader, replicas and ISR per partition as this broker knows them; None: no topic."""
    if is_cluster(components):
        cache = components.metadata_cache
        parts = cache.topics.get(name)
        if parts is None:
            return None
        return [
            {
                "partition": index,
                "leader": state.leader if state.leader in cache.brokers else -1,
                "leader_epoch": state.leader_epoch,
                "replicas": list(state.replicas),
                "isr": list(state.isr),
                "offline_replicas": [r for r in state.replicas if r not in cache.brokers],
            }
            for index, state in sorted(parts.items())
        ]
    partitions = components.replica_manager.partitions.get(name)
    if partitions is None or name not in components.store.topics:
        return None
    node = components.node_id
    return [
        {
            "partition": p.index,
            "leader": node,
            "leader_epoch": p.leader_epoch,
            "replicas": [node],
            "isr": [node],
            "offline_replicas": [node] if isinstance(p.log, OfflineLog) else [],
        }
        for p in partitions
    ]


def local_figures(partition: Partition | None) -> dict[str, Any] | None:
    """Size and offsets of this broker's replica; None when it holds none."""
    if partition is None or isinstance(partition.log, RemoteLog):
        return None
    if isinstance(partition.log, OfflineLog):
        return {"offline": True}
    log = partition.log
    try:
        return {
            "size": log.size,
            "log_start_offset": log.log_start_offset,
            "log_end_offset": log.log_end_offset,
            "high_watermark": partition.high_watermark,
            "is_leader": partition.is_leader,
        }
    except LogError:
        return {"offline": True}


async def list_topics(request: Request, components: Components) -> dict[str, Any]:
    rm = components.replica_manager
    topics = []
    counted = 0
    for name in topic_names(components):
        states = partition_states(components, name) or []
        size = 0
        messages_count = 0
        for partition in rm.partitions.get(name) or ():
            figures = local_figures(partition)
            if figures and "size" in figures:
                size += figures["size"]
                if figures["is_leader"]:
                    messages_count += figures["high_watermark"] - figures["log_start_offset"]
        under = sum(1 for s in states if len(s["isr"]) < len(s["replicas"]))
        topics.append(
            {
                "name": name,
                "internal": name in INTERNAL_TOPICS,
                "partitions": len(states),
                "replication_factor": len(states[0]["replicas"]) if states else 0,
                "under_replicated": under,
                "offline": sum(1 for s in states if s["leader"] < 0),
                "size": size,
                "messages": messages_count,
            }
        )
        counted += len(states)
        if counted >= PIECE:
            counted = 0
            await trio.sleep(0)
    return {"topics": topics, "cluster": is_cluster(components)}


def _topic_or_404(components: Components, name: str) -> list[dict[str, Any]]:
    states = partition_states(components, name)
    if states is None:
        raise ApiError(404, f"Topic {name} does not exist.")
    return states


async def describe_topic(request: Request, components: Components) -> dict[str, Any]:
    name = request.path_params["topic"]
    states = _topic_or_404(components, name)
    rm = components.replica_manager
    for state in states:
        state["under_replicated"] = len(state["isr"]) < len(state["replicas"])
        state["local"] = local_figures(rm.get_partition(name, state["partition"]))
    topic = components.store.topics.get(name)
    return {
        "name": name,
        "topic_id": topic.topic_id.hex() if topic is not None else None,
        "internal": name in INTERNAL_TOPICS,
        "partitions": states,
        "configs": topic_configs(components, name),
        "node_id": components.node_id,
    }


def topic_configs(components: Components, name: str) -> list[dict[str, Any]]:
    """Every topic-level key with its value and where the value comes from (Kafka's
    DescribeConfigs precedence)."""
    topic = components.store.topics.get(name)
    overrides = topic.configs if topic is not None else {}
    return [
        {"name": key, "value": value, "source": SOURCE_NAMES.get(source, str(source))}
        for key, value, source, _ in topic_config_entries(components, overrides)
    ]


async def create_topic(request: Request, components: Components) -> Response:
    require_writes(components)
    data = await body(request)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ApiError(400, "name (the topic's name) is required")
    partitions = integer(data.get("partitions", -1), "partitions")
    replication = integer(data.get("replication_factor", -1), "replication_factor")
    configs = data.get("configs") or {}
    if not isinstance(configs, dict):
        raise ApiError(400, "configs must be an object of name: value")
    Req = messages.request_type(ApiKey.CREATE_TOPICS)
    topic = Req.CreatableTopic(
        name=name,
        num_partitions=partitions,
        replication_factor=replication,
        assignments=[],
        configs=[Req.CreatableTopicConfig(name=k, value=str(v)) for k, v in configs.items()],
    )
    timeout_ms = components.config["request.timeout.ms"]
    answer = await call_api(
        components,
        ApiKey.CREATE_TOPICS,
        Req(topics=[topic], timeout_ms=timeout_ms, validate_only=False),
    )
    result = answer.topics[0]
    if result.error_code:
        raise kafka_error(result.error_code, result.error_message)
    return JSONResponse(
        {"name": name, "partitions": result.num_partitions, "topic_id": result.topic_id.hex()},
        status_code=201,
    )


async def delete_topic(request: Request, components: Components) -> dict[str, Any]:
    require_writes(components)
    name = request.path_params["topic"]
    Req = messages.request_type(ApiKey.DELETE_TOPICS)
    answer = await call_api(
        components,
        ApiKey.DELETE_TOPICS,
        Req(
            topics=[Req.DeleteTopicState(name=name, topic_id=bytes(16))],
            topic_names=[name],
            timeout_ms=components.config["request.timeout.ms"],
        ),
    )
    result = answer.responses[0]
    if result.error_code:
        raise kafka_error(result.error_code, result.error_message)
    return {"deleted": name}


async def alter_configs(request: Request, components: Components) -> dict[str, Any]:
    """Body {"set": {name: value}, "delete": [name]}: IncrementalAlterConfigs SET and
    DELETE operations on the topic's overrides."""
    require_writes(components)
    name = request.path_params["topic"]
    _topic_or_404(components, name)
    data = await body(request)
    to_set = data.get("set") or {}
    to_delete = data.get("delete") or []
    if not isinstance(to_set, dict) or not isinstance(to_delete, list):
        raise ApiError(400, 'Expected {"set": {name: value}, "delete": [name]}')
    if not to_set and not to_delete:
        raise ApiError(400, "Nothing to change: give set and/or delete")
    Req = messages.request_type(ApiKey.INCREMENTAL_ALTER_CONFIGS)
    changes = [
        Req.AlterableConfig(name=k, config_operation=OP_SET, value=str(v))
        for k, v in to_set.items()
    ]
    changes += [
        Req.AlterableConfig(name=str(k), config_operation=OP_DELETE, value=None) for k in to_delete
    ]
    answer = await call_api(
        components,
        ApiKey.INCREMENTAL_ALTER_CONFIGS,
        Req(
            resources=[
                Req.AlterConfigsResource(
                    resource_type=RESOURCE_TOPIC, resource_name=name, configs=changes
                )
            ],
            validate_only=False,
        ),
    )
    result = answer.responses[0]
    if result.error_code:
        raise kafka_error(result.error_code, result.error_message)
    return {"name": name, "configs": topic_configs(components, name)}
