"""DescribeLogDirs: v1-4

Behavior: the broker's log directory (one: `log.dirs`' first entry, else `log.dir`)
    with the partitions whose logs it holds, as Kafka's ReplicaManager.describeLogDirs
    (kafka-log-dirs.sh, AdminClient describeLogDirs): each partition's size (the bytes
    of its segments) and offset lag (high watermark minus log end offset, never below
    0: 0 for a current log); null topics: every log. Like Kafka, every topic with a
    log in the dir is listed, with only the asked partitions (so possibly none);
    unknown partitions are left out. A directory that cannot be read answers
    KAFKA_STORAGE_ERROR without topics.
Version notes: v2 flexible · v3 top-level ErrorCode · v4 TotalBytes,
    UsableBytes (the volume's, from statvfs).
Left out: v0 (the compiled specs start at v1, as Kafka 4's; Kafka 3.9 clients send
    v1+); several log dirs (JBOD) and future logs (AlterReplicaLogDirs, IsFutureKey is
    always false); authorization (no ACLs yet).
"""

from __future__ import annotations

import os

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.replica import OfflineLog, RemoteLog
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

DescribeLogDirsResponse = messages.response_type(ApiKey.DESCRIBE_LOG_DIRS)
Result = DescribeLogDirsResponse.DescribeLogDirsResult
TopicResult = DescribeLogDirsResponse.DescribeLogDirsTopic
PartitionResult = DescribeLogDirsResponse.DescribeLogDirsPartition


@api(ApiKey.DESCRIBE_LOG_DIRS, 1, 4)
async def handle_describe_log_dirs(ctx: RequestContext, request):
    wanted = None
    if request.topics is not None:
        wanted = {(t.topic, p) for t in request.topics for p in t.partitions}
    log_dir = os.path.abspath(ctx.replica_manager.log_manager.log_dir)
    try:
        volume = os.statvfs(log_dir)
    except OSError:
        result = Result(error_code=ErrorCode.KAFKA_STORAGE_ERROR, log_dir=log_dir, topics=[])
        return DescribeLogDirsResponse(
            throttle_time_ms=0, error_code=ErrorCode.NONE, results=[result]
        )
    by_topic: dict[str, list[PartitionResult]] = {}
    for partition in ctx.replica_manager.all_partitions():
        log_ = partition.log
        if isinstance(log_, (RemoteLog, OfflineLog)):
            continue  # not hosted here, or its log could not be opened
        answers = by_topic.setdefault(partition.topic, [])
        if wanted is not None and (partition.topic, partition.index) not in wanted:
            continue
        answers.append(
            PartitionResult(
                partition_index=partition.index,
                partition_size=log_.size,
                offset_lag=max(partition.high_watermark - log_.log_end_offset, 0),
                is_future_key=False,
            )
        )
    result = Result(
        error_code=ErrorCode.NONE,
        log_dir=log_dir,
        topics=[TopicResult(name=name, partitions=parts) for name, parts in by_topic.items()],
        total_bytes=volume.f_blocks * volume.f_frsize,
        usable_bytes=volume.f_bavail * volume.f_frsize,
    )
    return DescribeLogDirsResponse(throttle_time_ms=0, error_code=ErrorCode.NONE, results=[result])
