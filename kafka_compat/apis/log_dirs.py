"""DescribeLogDirs: v0-4 · AlterReplicaLogDirs: v0-2

Behavior: DescribeLogDirs lists every directory of `log.dirs` (`log.dir` when unset),
    in the configured order, as Kafka's ReplicaManager.describeLogDirs
    (kafka-log-dirs.sh, AdminClient describeLogDirs): the logs it holds with each one's
    size (the bytes of its segments) and offset lag (high watermark minus log end
    offset, never below 0: 0 for a current log; for a future log, IsFutureKey, the
    current log's end offset minus the future log's; -1 when the partition has no
    local log); null topics: every log. Like Kafka, every topic with a log in the dir
    is listed, with only the asked partitions (so possibly none); unknown partitions
    are left out. A failed (offline) directory, or one whose volume cannot be read,
    answers KAFKA_STORAGE_ERROR without topics.
    AlterReplicaLogDirs moves each named partition's log to the named directory of
    this broker while it keeps serving (ReplicaManager.alter_replica_log_dirs: a
    future log filled in the background, swapped in once it caught up):
    LOG_DIR_NOT_FOUND for a path that is not one of `log.dirs`, KAFKA_STORAGE_ERROR
    for an offline directory or partition (or while any directory is offline),
    REPLICA_NOT_AVAILABLE for a known partition not hosted here (the directory is
    remembered for when it is created), UNKNOWN_TOPIC_OR_PARTITION otherwise (likewise
    remembered, as Kafka does).
Version notes: DescribeLogDirs v0 = v1 · v2 flexible · v3 top-level ErrorCode · v4
    TotalBytes, UsableBytes (the volume's, from statvfs). AlterReplicaLogDirs v0 = v1
    · v2 flexible.
Left out: authorization (no ACLs yet); the replica.alter.log.dirs.io.max.bytes.per.second
    throttle.
"""

from __future__ import annotations

import os

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.security.acl_types import AclOperation
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from storage.log import Log

DescribeLogDirsResponse = messages.response_type(ApiKey.DESCRIBE_LOG_DIRS)
Result = DescribeLogDirsResponse.DescribeLogDirsResult
TopicResult = DescribeLogDirsResponse.DescribeLogDirsTopic
PartitionResult = DescribeLogDirsResponse.DescribeLogDirsPartition
AlterReplicaLogDirsResponse = messages.response_type(ApiKey.ALTER_REPLICA_LOG_DIRS)
AlterTopicResult = AlterReplicaLogDirsResponse.AlterReplicaLogDirTopicResult
AlterPartitionResult = AlterReplicaLogDirsResponse.AlterReplicaLogDirPartitionResult

INVALID_OFFSET_LAG = -1


@api(ApiKey.DESCRIBE_LOG_DIRS, 0, 4)
async def handle_describe_log_dirs(ctx: RequestContext, request):
    if not ctx.authorize_cluster(AclOperation.DESCRIBE):
        # Kafka: no results (v3+ also says why).
        return DescribeLogDirsResponse(
            throttle_time_ms=0, error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED, results=[]
        )
    wanted = None
    if request.topics is not None:
        wanted = {(t.topic, p) for t in request.topics for p in t.partitions}
    replicas = ctx.replica_manager
    dirs = replicas.log_manager
    futures_by_dir: dict = {}
    for future in dirs.future_logs.values():
        futures_by_dir.setdefault(dirs.dir_of(future), []).append(future)
    results = []
    for path, manager in dirs.managers.items():
        log_dir = str(path)
        if not dirs.is_online(path):
            results.append(Result(error_code=ErrorCode.KAFKA_STORAGE_ERROR, log_dir=log_dir))
            continue
        try:
            volume = os.statvfs(path)
        except OSError:
            results.append(Result(error_code=ErrorCode.KAFKA_STORAGE_ERROR, log_dir=log_dir))
            continue
        by_topic: dict[str, list[PartitionResult]] = {}
        logs = [(value, False) for value in manager.logs().values()]
        logs.extend((value, True) for value in futures_by_dir.get(path, ()))
        for value, is_future in logs:
            answers = by_topic.setdefault(value.topic, [])
            if wanted is not None and (value.topic, value.partition) not in wanted:
                continue
            answers.append(
                PartitionResult(
                    partition_index=value.partition,
                    partition_size=value.size,
                    offset_lag=_offset_lag(replicas, value, is_future),
                    is_future_key=is_future,
                )
            )
        results.append(
            Result(
                error_code=ErrorCode.NONE,
                log_dir=log_dir,
                topics=[TopicResult(name=name, partitions=p) for name, p in by_topic.items()],
                total_bytes=volume.f_blocks * volume.f_frsize,
                usable_bytes=volume.f_bavail * volume.f_frsize,
            )
        )
    return DescribeLogDirsResponse(throttle_time_ms=0, error_code=ErrorCode.NONE, results=results)


def _offset_lag(replicas, value: Log, is_future: bool) -> int:
    partition = replicas.get_partition(value.topic, value.partition)
    if partition is None or not isinstance(partition.log, Log):
        return INVALID_OFFSET_LAG
    if is_future:
        return partition.log.log_end_offset - value.log_end_offset
    return max(partition.high_watermark - value.log_end_offset, 0)


@api(ApiKey.ALTER_REPLICA_LOG_DIRS, 0, 2)
async def handle_alter_replica_log_dirs(ctx: RequestContext, request):
    wanted: dict[tuple[str, int], str] = {}
    for entry in request.dirs:
        for topic in entry.topics:
            for index in topic.partitions:
                wanted[(topic.name, index)] = entry.path
    if ctx.authorize_cluster(AclOperation.ALTER):
        errors = ctx.replica_manager.alter_replica_log_dirs(wanted)
    else:
        errors = dict.fromkeys(wanted, ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    by_topic: dict[str, list[AlterPartitionResult]] = {}
    for (topic, index), error in errors.items():
        by_topic.setdefault(topic, []).append(
            AlterPartitionResult(partition_index=index, error_code=error)
        )
    return AlterReplicaLogDirsResponse(
        throttle_time_ms=0,
        results=[AlterTopicResult(topic_name=t, partitions=p) for t, p in by_topic.items()],
    )
