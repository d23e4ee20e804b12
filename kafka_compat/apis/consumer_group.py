"""The KIP-848 consumer group protocol, answered by kafka_compat.groups (consumer_coordinator.py).

ConsumerGroupHeartbeat: v0-1
    Behavior: joins (MemberEpoch 0; the coordinator picks the member id when none is
    given), heartbeats, reconciles and leaves (-1; a static member's -2 keeps its
    place) a group of type "consumer". The answer carries the member's epoch, the
    heartbeat interval (group.consumer.heartbeat.interval.ms) and, when it changed or
    the request was a full one, the partitions the member may use now: partitions
    leave their owner before another member gets them. Server assignors: uniform and
    range (group.consumer.assignors, the first the default; ServerAssignor picks).
    Members silent for group.consumer.session.timeout.ms, or that do not revoke within
    their rebalance timeout, are fenced. An empty classic group converts on the first
    heartbeat. Errors: INVALID_REQUEST (Kafka's checks and messages),
    UNSUPPORTED_ASSIGNOR, GROUP_ID_NOT_FOUND (not a consumer group: a classic group
    with members), UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH, FENCED_INSTANCE_ID,
    UNRELEASED_INSTANCE_ID, GROUP_MAX_SIZE_REACHED (group.consumer.max.size),
    INVALID_REGULAR_EXPRESSION, NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS.
    Version notes: v0 flexible (Kafka 3.9) · v1 SubscribedTopicRegex (Kafka 4.0):
    matched with Python's re.fullmatch against every topic but the internal ones
    (RE2/J syntax: the common subset is the same; Python's backreferences and
    lookarounds are accepted where RE2/J refuses them).
ConsumerGroupDescribe: v0
    Behavior: state (Empty, Assigning, Reconciling, Stable), group epoch, assignment
    epoch, assignor, and each member's epoch, client, subscription, current and target
    assignment (topic ids and names). A group that is not a consumer group:
    GROUP_ID_NOT_FOUND. Version notes: v0 flexible.
Left out: rack-aware assignment (RackId is kept and shown, not used), client-side
    assignors (KIP-848's ClientAssignors were never released) and classic members
    joining a consumer group (group.consumer.migration.policy: as "disabled").
"""

from __future__ import annotations

from kafka_compat.apis.groups import client_host
from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.groups.consumer_coordinator import HeartbeatRequest
from kafka_compat.security.acl_types import AclOperation, ResourceType
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

HeartbeatResponse = messages.response_type(ApiKey.CONSUMER_GROUP_HEARTBEAT)
DescribeResponse = messages.response_type(ApiKey.CONSUMER_GROUP_DESCRIBE)


@api(ApiKey.CONSUMER_GROUP_HEARTBEAT, 0, 1)
async def handle_consumer_group_heartbeat(ctx: RequestContext, request):
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id):
        return HeartbeatResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    owned = (
        None
        if request.topic_partitions is None
        else {bytes(tp.topic_id): set(tp.partitions) for tp in request.topic_partitions}
    )
    result = await ctx.group_coordinator.consumer_group_heartbeat(
        HeartbeatRequest(
            group_id=request.group_id,
            member_id=request.member_id,
            member_epoch=request.member_epoch,
            instance_id=request.instance_id,
            rack_id=request.rack_id,
            rebalance_timeout_ms=request.rebalance_timeout_ms,
            subscribed_topic_names=request.subscribed_topic_names,
            subscribed_topic_regex=request.subscribed_topic_regex,
            server_assignor=request.server_assignor,
            owned=owned,
            client_id=ctx.header.client_id or "",
            client_host=client_host(ctx),
        )
    )
    assignment = None
    if result.assignment is not None and not result.error:
        Partitions = HeartbeatResponse.TopicPartitions
        assignment = HeartbeatResponse.Assignment(
            topic_partitions=[
                Partitions(topic_id=topic_id, partitions=sorted(partitions))
                for topic_id, partitions in sorted(result.assignment.items())
            ]
        )
    return HeartbeatResponse(
        error_code=result.error,
        error_message=result.message,
        member_id=result.member_id,
        member_epoch=result.member_epoch,
        heartbeat_interval_ms=result.heartbeat_interval_ms,
        assignment=assignment,
    )


@api(ApiKey.CONSUMER_GROUP_DESCRIBE, 0, 0)
async def handle_consumer_group_describe(ctx: RequestContext, request):
    coordinator = ctx.group_coordinator
    Described = DescribeResponse.DescribedGroup
    Member = DescribeResponse.Member
    Assignment = DescribeResponse.Assignment
    TopicPartitions = DescribeResponse.TopicPartitions
    names = coordinator.consumer.topic_names()

    def assignment(parts):
        return Assignment(
            topic_partitions=[
                TopicPartitions(topic_id=t, topic_name=names[t], partitions=sorted(ps))
                for t, ps in sorted(parts.items())
                if t in names and ps
            ]
        )

    groups = []
    for group_id in request.group_ids:
        if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, group_id):
            code = ErrorCode.GROUP_AUTHORIZATION_FAILED
            groups.append(Described(error_code=code, group_id=group_id))
            continue
        error, message, group = coordinator.consumer_group_describe(group_id)
        if error or group is None:
            groups.append(
                Described(
                    error_code=error or ErrorCode.GROUP_ID_NOT_FOUND,
                    error_message=message,
                    group_id=group_id,
                )
            )
            continue
        groups.append(
            Described(
                group_id=group_id,
                group_state=str(group.state),
                group_epoch=group.group_epoch,
                assignment_epoch=group.assignment_epoch,
                assignor_name=group.preferred_assignor(coordinator.consumer.default_assignor),
                members=[
                    Member(
                        member_id=m.member_id,
                        instance_id=m.instance_id,
                        rack_id=m.rack_id,
                        member_epoch=m.member_epoch,
                        client_id=m.client_id,
                        client_host=m.client_host,
                        subscribed_topic_names=list(m.subscribed_topic_names),
                        subscribed_topic_regex=m.subscribed_topic_regex,
                        assignment=assignment(m.assigned),
                        target_assignment=assignment(group.target_for(m.member_id)),
                    )
                    for m in group.members.values()
                ],
            )
        )
    return DescribeResponse(groups=groups)
