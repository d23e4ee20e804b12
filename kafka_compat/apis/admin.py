"""Topic and cluster administration.

CreateTopics: v0-7
    Behavior: partitions and replication factor default to num.partitions and
    default.replication.factor (-1); explicit assignments are honoured when they name
    live brokers; cluster mode (as Kafka 2.8): any broker writes the assignment to
    ZooKeeper and answers once its metadata shows the partitions' leaders; configs
    are validated (INVALID_CONFIG names the key); validate_only checks everything
    and creates nothing. Errors: TOPIC_ALREADY_EXISTS,
    INVALID_TOPIC_EXCEPTION, INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR (more
    replicas than live brokers), INVALID_REPLICA_ASSIGNMENT, INVALID_REQUEST for a
    topic named twice. The controller mutation quota (quotas/controller_mutation.py)
    counts the partitions created, here and in DeleteTopics and CreatePartitions:
    strict (THROTTLING_QUOTA_EXCEEDED for a topic met with an exhausted quota) from
    CreateTopics v6, DeleteTopics v5, CreatePartitions v3; permissive (done, then
    throttled) below.
    Version notes: v1 ValidateOnly, ErrorMessage · v5 flexible,
    NumPartitions/ReplicationFactor/Configs in the answer · v7 TopicId.
DeleteTopics: v0-6
    Behavior: removes the topic and its partition directories. Unknown topic:
    UNKNOWN_TOPIC_OR_PARTITION (by name) or UNKNOWN_TOPIC_ID (v6, by id).
    delete.topic.enable=false: TOPIC_DELETION_DISABLED (INVALID_REQUEST below v3,
    as Kafka) for every topic named, existing or not.
    Version notes: v1 ThrottleTimeMs · v3 TOPIC_DELETION_DISABLED · v4 flexible · v5
    ErrorMessage · v6 topics by name or id.
CreatePartitions: v0-3
    Behavior: grows a topic; fewer or equal partitions than now is INVALID_PARTITIONS.
    Version notes: v2 flexible.
DeleteRecords: v0-2
    Behavior: moves each partition's log start offset up to the given offset (-1:
    the high watermark); consumers can no longer read below it, ListOffsets
    earliest follows, and retention removes the segments wholly below it. An offset
    past the high watermark is OFFSET_OUT_OF_RANGE.
    Version notes: v2 flexible.
DescribeCluster: v0-1
    Behavior: single node: this broker is the whole cluster and its controller;
    cluster mode: the live brokers and controller from the metadata cache.
    Version notes: v1 EndpointType.
Configs are in configs.py.
"""

from __future__ import annotations

from kafka_compat.apis.configs import topic_config_entries
from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.cluster.store import (
    InvalidPartitions,
    InvalidReplicationFactor,
    NoSuchTopic,
    StoreError,
    TopicExists,
)
from kafka_compat.config import ConfigError, validate_topic_configs
from kafka_compat.quotas.controller_mutation import ControllerMutationQuota, ThrottlingQuotaExceeded
from kafka_compat.security.acl_types import CLUSTER_NAME, AclOperation, ResourceType
from kafka_compat.topics import INTERNAL_TOPICS, topic_name_error
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from storage.errors import LogError

CreateTopicsResponse = messages.response_type(ApiKey.CREATE_TOPICS)
DeleteTopicsResponse = messages.response_type(ApiKey.DELETE_TOPICS)
DeleteRecordsResponse = messages.response_type(ApiKey.DELETE_RECORDS)
CreatePartitionsResponse = messages.response_type(ApiKey.CREATE_PARTITIONS)
DescribeClusterResponse = messages.response_type(ApiKey.DESCRIBE_CLUSTER)


class AdminError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


# ---- the controller mutation quota (quotas/controller_mutation.py) ----


def _record_mutations(quota: ControllerMutationQuota, partitions: int) -> None:
    try:
        quota.record(partitions)
    except ThrottlingQuotaExceeded as exc:
        raise AdminError(ErrorCode.THROTTLING_QUOTA_EXCEEDED, str(exc)) from None


def _throttled(ctx: RequestContext, quota: ControllerMutationQuota, response):
    """Kafka's sendResponseMaybeThrottleWithControllerQuota: the quota's throttle goes
    in the response and mutes the connection (server.py), or delays an old client's
    response."""
    throttle = quota.throttle_time_ms()
    if throttle > 0:
        response.throttle_time_ms = throttle
        ctx.session.throttle_ms = max(ctx.session.throttle_ms, throttle)
    return response


# ---- CreateTopics ----


@api(ApiKey.CREATE_TOPICS, 0, 7)
async def handle_create_topics(ctx: RequestContext, request):
    names = [t.name for t in request.topics]
    results = []
    quota = ctx.controller_mutation_quota(strict=ctx.version >= 6)
    may_create = ctx.authorize_cluster(AclOperation.CREATE)  # else CREATE on each topic
    for topic in request.topics:
        # Kafka answers a null ErrorMessage on success.
        result = CreateTopicsResponse.CreatableTopicResult(name=topic.name, error_message=None)
        try:
            if names.count(topic.name) > 1:
                raise AdminError(
                    ErrorCode.INVALID_REQUEST, f"Create topics request names {topic.name} twice."
                )
            if not may_create and not ctx.authorize(
                AclOperation.CREATE, ResourceType.TOPIC, topic.name
            ):
                raise AdminError(ErrorCode.TOPIC_AUTHORIZATION_FAILED, "Authorization failed.")
            partitions, replication, configs = _check_new_topic(ctx, topic)
            if not request.validate_only:
                _record_mutations(quota, partitions)
            result.num_partitions = partitions
            result.replication_factor = replication
            assignment = (
                {a.partition_index: list(a.broker_ids) for a in topic.assignments}
                if topic.assignments
                else None
            )
            if request.validate_only:
                topic_id = bytes(16)
            else:
                try:
                    created = await ctx.admin.create_topic(
                        topic.name, partitions, configs, replication, assignment
                    )
                except StoreError as exc:
                    raise AdminError(_store_error_code(exc), str(exc)) from None
                topic_id = created.topic_id
            result.topic_id = topic_id
            if ctx.version >= 5:
                result.configs = _created_configs(ctx, configs)
        except AdminError as exc:
            result.error_code = exc.code
            result.error_message = str(exc)
        results.append(result)
    return _throttled(ctx, quota, CreateTopicsResponse(topics=results))


def _check_new_topic(ctx, topic) -> tuple[int, int, dict[str, str]]:
    why = topic_name_error(topic.name)
    if why is not None:
        raise AdminError(ErrorCode.INVALID_TOPIC_EXCEPTION, why)
    if topic.name in ctx.store.topics:
        raise AdminError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{topic.name}' already exists.")
    live_brokers = ctx.admin.live_broker_ids()
    if topic.assignments:
        if topic.num_partitions != -1 or topic.replication_factor != -1:
            raise AdminError(
                ErrorCode.INVALID_REQUEST,
                "Both numPartitions or replicationFactor and replicasAssignments were set. "
                "Both cannot be used at the same time.",
            )
        for assignment in topic.assignments:
            unknown = set(assignment.broker_ids) - set(live_brokers)
            if unknown or not assignment.broker_ids:
                raise AdminError(
                    ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                    f"Replica assignment {assignment.broker_ids} names unknown brokers.",
                )
            if len(set(assignment.broker_ids)) != len(assignment.broker_ids):
                raise AdminError(
                    ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                    _duplicate_brokers(assignment.broker_ids, assignment.partition_index),
                )
        indexes = sorted(a.partition_index for a in topic.assignments)
        if indexes != list(range(len(indexes))):
            raise AdminError(
                ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                "Partitions should be a consecutive 0-based integer sequence",
            )
        partitions = len(indexes)
        replication = len(topic.assignments[0].broker_ids)
    else:
        partitions = topic.num_partitions
        replication = topic.replication_factor
        if partitions == -1:
            partitions = ctx.config["num.partitions"]
        if replication == -1:
            replication = ctx.config["default.replication.factor"]
        if partitions <= 0:
            raise AdminError(
                ErrorCode.INVALID_PARTITIONS, "Number of partitions must be larger than 0."
            )
        if replication <= 0:
            raise AdminError(
                ErrorCode.INVALID_REPLICATION_FACTOR,
                "Replication factor must be larger than 0.",
            )
        if replication > len(live_brokers):
            raise AdminError(
                ErrorCode.INVALID_REPLICATION_FACTOR,
                f"Replication factor: {replication} larger than available brokers: "
                f"{len(live_brokers)}.",
            )
    try:
        configs = validate_topic_configs({c.name: c.value for c in topic.configs})
    except ConfigError as exc:
        raise AdminError(ErrorCode.INVALID_CONFIG, str(exc)) from None
    return partitions, replication, configs


def _created_configs(ctx, overrides: dict[str, str]):
    Config = CreateTopicsResponse.CreatableTopicConfigs
    return [
        Config(name=name, value=value, config_source=source, read_only=False, is_sensitive=False)
        for name, value, source, _ in topic_config_entries(ctx, overrides)
    ]


def _store_error_code(exc: Exception) -> int:
    if isinstance(exc, TopicExists):
        return ErrorCode.TOPIC_ALREADY_EXISTS
    if isinstance(exc, InvalidReplicationFactor):
        return ErrorCode.INVALID_REPLICATION_FACTOR
    if isinstance(exc, InvalidPartitions):
        return ErrorCode.INVALID_PARTITIONS
    if isinstance(exc, NoSuchTopic):
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    return ErrorCode.REQUEST_TIMED_OUT  # ZooKeeper unreachable: retriable


# ---- DeleteTopics ----


@api(ApiKey.DELETE_TOPICS, 0, 6)
async def handle_delete_topics(ctx: RequestContext, request):
    if ctx.version >= 6:
        wanted = [(t.name, t.topic_id) for t in request.topics]
    else:
        wanted = [(name, None) for name in request.topic_names]
    results = []
    quota = ctx.controller_mutation_quota(strict=ctx.version >= 5)
    for name, topic_id in wanted:
        result = DeleteTopicsResponse.DeletableTopicResult(
            name=name, topic_id=topic_id or bytes(16)
        )
        if not ctx.config["delete.topic.enable"]:
            # Checked before anything else, as Kafka: every topic, known or not.
            result.error_code = (
                ErrorCode.TOPIC_DELETION_DISABLED if ctx.version >= 3 else ErrorCode.INVALID_REQUEST
            )
            results.append(result)
            continue
        if name is None:
            name = next((t.name for t in ctx.store.topics.values() if t.topic_id == topic_id), None)
            result.name = name
            if name is None:
                result.error_code = ErrorCode.UNKNOWN_TOPIC_ID
                results.append(result)
                continue
        topic = ctx.store.topics.get(name)
        if not ctx.authorize(AclOperation.DELETE, ResourceType.TOPIC, name):
            result.error_code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
            result.error_message = "Authorization failed."
        elif topic is None:
            result.error_code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            result.error_message = "This server does not host this topic-partition."
        else:
            result.topic_id = topic.topic_id
            try:
                _record_mutations(quota, topic.partitions)
                await ctx.admin.delete_topic(name)
                if ctx.cluster is None and ctx.group_coordinator is not None:
                    # A cluster's brokers hear of it in UpdateMetadata (replication.py)
                    deleted = [(name, index) for index in range(topic.partitions)]
                    ctx.group_coordinator.on_partitions_deleted(deleted)
            except AdminError as exc:
                result.error_code = exc.code
                result.error_message = str(exc)
            except StoreError as exc:
                result.error_code = _store_error_code(exc)
                result.error_message = str(exc)
        results.append(result)
    return _throttled(ctx, quota, DeleteTopicsResponse(responses=results))


# ---- CreatePartitions ----


def _duplicate_brokers(broker_ids, partition: int) -> str:
    listed = ", ".join(map(str, broker_ids))
    return (
        f"Duplicate brokers not allowed in replica assignment: {listed} "
        f"for partition id {partition}."
    )


def _inconsistent_replication(ctx: RequestContext, current, assignments) -> str | None:
    """New partitions must have partition 0's replication factor (Kafka's message)."""
    first = ctx.metadata_cache.topics.get(current.name, {}).get(0)
    if first is None:
        return None
    expected = len(first.replicas)
    bad = [
        (current.partitions + i, len(a.broker_ids))
        for i, a in enumerate(assignments)
        if len(a.broker_ids) != expected
    ]
    if not bad:
        return None
    return (
        f"Inconsistent replication factor between partitions, partition 0 has {expected} "
        f"while partitions [{', '.join(str(p) for p, _ in bad)}] have replication factors "
        f"[{', '.join(str(rf) for _, rf in bad)}], respectively."
    )


@api(ApiKey.CREATE_PARTITIONS, 0, 3)
async def handle_create_partitions(ctx: RequestContext, request):
    results = []
    quota = ctx.controller_mutation_quota(strict=ctx.version >= 3)
    for topic in request.topics:
        result = CreatePartitionsResponse.CreatePartitionsTopicResult(name=topic.name)
        current = ctx.store.topics.get(topic.name)
        if not ctx.authorize(AclOperation.ALTER, ResourceType.TOPIC, topic.name):
            result.error_code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
            result.error_message = "Authorization failed."
        elif current is None:
            result.error_code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            result.error_message = f"The topic '{topic.name}' does not exist."
        elif topic.name in INTERNAL_TOPICS:
            # More partitions would move every group to another coordinator partition.
            result.error_code = ErrorCode.INVALID_REQUEST
            result.error_message = (
                f"Cannot change the partition count of internal topic {topic.name}"
            )
        elif topic.count < current.partitions:
            result.error_code = ErrorCode.INVALID_PARTITIONS
            result.error_message = (
                f"Topic currently has {current.partitions} partitions, which is higher than "
                f"the requested {topic.count}."
            )
        elif topic.count == current.partitions:
            result.error_code = ErrorCode.INVALID_PARTITIONS
            result.error_message = f"Topic already has {current.partitions} partitions."
        elif topic.assignments is not None and (
            len(topic.assignments) != topic.count - current.partitions
            or any(set(a.broker_ids) - set(ctx.admin.live_broker_ids()) for a in topic.assignments)
        ):
            result.error_code = ErrorCode.INVALID_REPLICA_ASSIGNMENT
            result.error_message = "Replica assignment does not match the new partitions."
        elif topic.assignments is not None and any(
            len(set(a.broker_ids)) != len(a.broker_ids) for a in topic.assignments
        ):
            result.error_code = ErrorCode.INVALID_REPLICA_ASSIGNMENT
            result.error_message = next(
                _duplicate_brokers(a.broker_ids, current.partitions + i)
                for i, a in enumerate(topic.assignments)
                if len(set(a.broker_ids)) != len(a.broker_ids)
            )
        elif topic.assignments is not None and (
            inconsistent := _inconsistent_replication(ctx, current, topic.assignments)
        ):
            result.error_code = ErrorCode.INVALID_REPLICA_ASSIGNMENT
            result.error_message = inconsistent
        elif not request.validate_only:
            try:
                # Explicit replicas keep their order: the first is the preferred leader.
                assignment = (
                    {
                        current.partitions + i: list(a.broker_ids)
                        for i, a in enumerate(topic.assignments)
                    }
                    if topic.assignments is not None
                    else None
                )
                _record_mutations(quota, topic.count - current.partitions)
                await ctx.admin.add_partitions(topic.name, topic.count, assignment)
            except AdminError as exc:
                result.error_code = exc.code
                result.error_message = str(exc)
            except StoreError as exc:
                result.error_code = _store_error_code(exc)
                result.error_message = str(exc)
        results.append(result)
    return _throttled(ctx, quota, CreatePartitionsResponse(results=results))


# ---- DeleteRecords ----


@api(ApiKey.DELETE_RECORDS, 0, 2)
async def handle_delete_records(ctx: RequestContext, request):
    TopicResult = DeleteRecordsResponse.DeleteRecordsTopicResult
    PartitionResult = DeleteRecordsResponse.DeleteRecordsPartitionResult
    topics = []
    deletable = ctx.authorized(
        AclOperation.DELETE, ResourceType.TOPIC, (t.name for t in request.topics)
    )
    for topic in request.topics:
        results = []
        for wanted in topic.partitions:
            result = PartitionResult(partition_index=wanted.partition_index, low_watermark=-1)
            partition = ctx.replica_manager.get_partition(topic.name, wanted.partition_index)
            if topic.name not in deletable:
                result.error_code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
            elif partition is None:
                result.error_code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                try:
                    result.low_watermark = partition.delete_records_on_leader(wanted.offset)
                except LogError as exc:
                    result.error_code = exc.error_code
            results.append(result)
        topics.append(TopicResult(name=topic.name, partitions=results))
    return DeleteRecordsResponse(topics=topics)


# ---- DescribeCluster ----


@api(ApiKey.DESCRIBE_CLUSTER, 0, 1)
async def handle_describe_cluster(ctx: RequestContext, request):
    response = await _describe_cluster(ctx)
    if request.include_cluster_authorized_operations:
        response.cluster_authorized_operations = (
            ctx.authorized_operations(ResourceType.CLUSTER, CLUSTER_NAME)
            if ctx.authorize_cluster(AclOperation.DESCRIBE)
            else 0
        )
    return response


async def _describe_cluster(ctx: RequestContext):
    if ctx.cluster is not None:
        cache = ctx.metadata_cache
        await cache.wait_ready()
        return DescribeClusterResponse(
            cluster_id=ctx.store.cluster_id,
            controller_id=cache.controller_id,
            brokers=[
                DescribeClusterResponse.DescribeClusterBroker(
                    broker_id=b.broker_id, host=b.host, port=b.port, rack=b.rack
                )
                for b in _on_listener(cache.brokers.values(), ctx.session.listener)
            ],
        )
    host, port = ctx.components.endpoint(ctx.session.listener)
    return DescribeClusterResponse(
        cluster_id=ctx.store.cluster_id,
        controller_id=ctx.node_id,
        brokers=[
            DescribeClusterResponse.DescribeClusterBroker(
                broker_id=ctx.node_id, host=host, port=port
            )
        ],
    )


def _on_listener(brokers, listener: str) -> list:
    """The brokers as a client of `listener` reaches them (those without it left out)."""
    return [b for b in (b.on(listener) for b in brokers) if b is not None]
