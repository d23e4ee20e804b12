"""Group membership (Kafka's classic rebalance protocol), answered by kafka_compat.groups.

JoinGroup: v0-9
    Behavior: the first join of a new member gets MEMBER_ID_REQUIRED with its member id
    (v4+, KIP-394; static members are exempt); the answer comes when the join round
    ends: every member rejoined, or the rebalance timeout passed (the first round of a
    new group waits group.initial.rebalance.delay.ms). The leader gets every member's
    metadata for the chosen protocol (the most preferred one all members support).
    Errors: INVALID_GROUP_ID (empty id), INVALID_SESSION_TIMEOUT (outside
    group.min/max.session.timeout.ms), INCONSISTENT_GROUP_PROTOCOL, UNKNOWN_MEMBER_ID,
    FENCED_INSTANCE_ID, GROUP_MAX_SIZE_REACHED, COORDINATOR_LOAD_IN_PROGRESS.
    Version notes: v1 RebalanceTimeoutMs (v0: the session timeout) · v2 ThrottleTimeMs
    · v4 MEMBER_ID_REQUIRED · v5 GroupInstanceId (static membership) · v6 flexible
    · v7 ProtocolType, nullable ProtocolName · v8 Reason · v9 SkipAssignment (a static
    leader rejoining a stable group keeps the current assignment).
SyncGroup: v0-5
    Behavior: the leader's assignment is stored in __consumer_offsets, then every
    member's SyncGroup returns its part; followers wait for it. Members that do not
    sync within the rebalance timeout are removed. Errors: ILLEGAL_GENERATION,
    UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS, FENCED_INSTANCE_ID,
    INCONSISTENT_GROUP_PROTOCOL (v5 protocol type/name mismatch).
    Version notes: v1 ThrottleTimeMs · v3 GroupInstanceId · v4 flexible · v5 ProtocolType,
    ProtocolName.
Heartbeat: v0-4
    Behavior: restarts the member's session timeout; REBALANCE_IN_PROGRESS tells a
    member of a rebalancing group to rejoin. While the group loads: NONE, as Kafka.
    Version notes: v1 ThrottleTimeMs · v3 GroupInstanceId · v4 flexible.
LeaveGroup: v0-5
    Behavior: removes members (v3+ several at once, or by group.instance.id alone) and
    rebalances the rest. v0-2 answer the member's error at the top level.
    Version notes: v1 ThrottleTimeMs · v3 Members · v4 flexible · v5 Reason.
DescribeGroups: v0-5
    Behavior: state, protocol type and protocol, members with client id, host
    ("/address", as Kafka), metadata and assignment (the last two only when Stable).
    An unknown group is "Dead" with no members and no error. A KIP-848 group shows its
    state, protocol type "consumer", its assignor as protocol, and each member's
    subscription and assignment in the consumer protocol's format.
    Version notes: v1 ThrottleTimeMs · v3 AuthorizedOperations (always "not
    requested", -2147483648) · v4 GroupInstanceId · v5 flexible.
ListGroups: v0-5
    Behavior: every group this broker coordinates; v4 states filter (case-insensitive),
    v5 types filter and GroupType: "classic", or "consumer" for KIP-848 groups
    (ConsumerGroupHeartbeat), whose states are Empty, Assigning, Reconciling, Stable.
    Version notes: v1 ThrottleTimeMs · v3 flexible · v4 StatesFilter, GroupState
    · v5 TypesFilter, GroupType.
DeleteGroups: v0-2
    Behavior: deletes empty groups (classic or KIP-848) and their offsets (tombstones
    in __consumer_offsets).
    Errors: GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP. Version notes: v2 flexible.
    JoinGroup to a KIP-848 group with members: INCONSISTENT_GROUP_PROTOCOL; to an empty
    one: it becomes a classic group again (its offsets stay).
Left out: DescribeGroups v6 (KIP-1043 error messages for new-protocol groups), classic
    members inside KIP-848 groups (the migration policy acts as "disabled") and share
    groups. ConsumerGroupHeartbeat is consumer_group.py.
"""

from __future__ import annotations

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.security.acl_types import AclOperation, ResourceType
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

JoinGroupResponse = messages.response_type(ApiKey.JOIN_GROUP)
HeartbeatResponse = messages.response_type(ApiKey.HEARTBEAT)
LeaveGroupResponse = messages.response_type(ApiKey.LEAVE_GROUP)
SyncGroupResponse = messages.response_type(ApiKey.SYNC_GROUP)
DescribeGroupsResponse = messages.response_type(ApiKey.DESCRIBE_GROUPS)
ListGroupsResponse = messages.response_type(ApiKey.LIST_GROUPS)
DeleteGroupsResponse = messages.response_type(ApiKey.DELETE_GROUPS)


def client_host(ctx: RequestContext) -> str:
    """The client's address the way Kafka shows it: "/127.0.0.1"."""
    host = ctx.peer.rsplit(":", 1)[0] if ":" in ctx.peer else ctx.peer
    return "/" + host


@api(ApiKey.JOIN_GROUP, 0, 9)
async def handle_join_group(ctx: RequestContext, request):
    version = ctx.version
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id):
        return JoinGroupResponse(
            error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED,
            generation_id=-1,
            protocol_name=None if version >= 7 else "",
            leader="",
            member_id="",
        )
    result = await ctx.group_coordinator.join_group(
        request.group_id,
        request.member_id,
        request.group_instance_id,
        ctx.header.client_id or "",
        client_host(ctx),
        request.session_timeout_ms if version == 0 else request.rebalance_timeout_ms,
        request.session_timeout_ms,
        request.protocol_type,
        [(p.name, p.metadata) for p in request.protocols],
        require_known_member_id=version >= 4 and request.group_instance_id is None,
        supports_skip_assignment=version >= 9,
        reason=request.reason,
    )
    protocol_name = result.protocol_name
    if protocol_name is None and version < 7:
        protocol_name = ""  # not nullable before v7
    return JoinGroupResponse(
        error_code=result.error,
        generation_id=result.generation_id,
        protocol_type=result.protocol_type,
        protocol_name=protocol_name,
        leader=result.leader_id,
        skip_assignment=result.skip_assignment,
        member_id=result.member_id,
        members=[
            JoinGroupResponse.JoinGroupResponseMember(
                member_id=member_id, group_instance_id=instance_id, metadata=metadata
            )
            for member_id, instance_id, metadata in result.members
        ],
    )


@api(ApiKey.SYNC_GROUP, 0, 5)
async def handle_sync_group(ctx: RequestContext, request):
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id):
        return SyncGroupResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED, assignment=b"")
    result = await ctx.group_coordinator.sync_group(
        request.group_id,
        request.generation_id,
        request.member_id,
        request.group_instance_id,
        request.protocol_type,
        request.protocol_name,
        {a.member_id: a.assignment for a in request.assignments},
    )
    return SyncGroupResponse(
        error_code=result.error,
        protocol_type=result.protocol_type,
        protocol_name=result.protocol_name,
        assignment=result.assignment,
    )


@api(ApiKey.HEARTBEAT, 0, 4)
async def handle_heartbeat(ctx: RequestContext, request):
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id):
        return HeartbeatResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    error = ctx.group_coordinator.heartbeat(
        request.group_id, request.member_id, request.group_instance_id, request.generation_id
    )
    return HeartbeatResponse(error_code=error)


@api(ApiKey.LEAVE_GROUP, 0, 5)
async def handle_leave_group(ctx: RequestContext, request):
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id):
        return LeaveGroupResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    if ctx.version < 3:
        leaving = [(request.member_id, None)]
    else:
        leaving = [(m.member_id, m.group_instance_id) for m in request.members]
    error, results = ctx.group_coordinator.leave_group(request.group_id, leaving)
    if ctx.version < 3:
        # One member: its error is the answer's (Kafka's LeaveGroupResponse.getError).
        if not error:
            error = next((e for _, _, e in results if e), ErrorCode.NONE)
        return LeaveGroupResponse(error_code=error)
    return LeaveGroupResponse(
        error_code=error,
        members=[
            LeaveGroupResponse.MemberResponse(
                member_id=member_id, group_instance_id=instance_id, error_code=member_error
            )
            for member_id, instance_id, member_error in results
        ],
    )


@api(ApiKey.DESCRIBE_GROUPS, 0, 5)
async def handle_describe_groups(ctx: RequestContext, request):
    coordinator = ctx.group_coordinator
    Described = DescribeGroupsResponse.DescribedGroup
    Member = DescribeGroupsResponse.DescribedGroupMember
    groups = []
    for group_id in request.groups:
        if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, group_id):
            groups.append(
                Described(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED, group_id=group_id)
            )
            continue
        error, summary = coordinator.describe_group(group_id)
        groups.append(
            Described(
                error_code=error,
                group_id=group_id,
                group_state=summary.state,
                protocol_type=summary.protocol_type,
                protocol_data=summary.protocol,
                members=[
                    Member(
                        member_id=m.member_id,
                        group_instance_id=m.group_instance_id,
                        client_id=m.client_id,
                        client_host=m.client_host,
                        member_metadata=m.metadata,
                        member_assignment=m.assignment,
                    )
                    for m in summary.members
                ],
            )
        )
        if ctx.version >= 3 and request.include_authorized_operations:
            groups[-1].authorized_operations = ctx.authorized_operations(
                ResourceType.GROUP, group_id
            )
    return DescribeGroupsResponse(groups=groups)


@api(ApiKey.LIST_GROUPS, 0, 5)
async def handle_list_groups(ctx: RequestContext, request):
    error, groups = ctx.group_coordinator.list_groups(request.states_filter, request.types_filter)
    if not ctx.authorize_cluster(AclOperation.DESCRIBE):
        # Kafka: DESCRIBE on the cluster lists every group, else those described.
        visible = ctx.authorized(AclOperation.DESCRIBE, ResourceType.GROUP, (g[0] for g in groups))
        groups = [g for g in groups if g[0] in visible]
    return ListGroupsResponse(
        error_code=error,
        groups=[
            ListGroupsResponse.ListedGroup(
                group_id=group_id,
                protocol_type=protocol_type,
                group_state=state,
                group_type=group_type,
            )
            for group_id, protocol_type, state, group_type in groups
        ],
    )


@api(ApiKey.DELETE_GROUPS, 0, 2)
async def handle_delete_groups(ctx: RequestContext, request):
    deletable = ctx.authorized(AclOperation.DELETE, ResourceType.GROUP, request.groups_names)
    results = await ctx.group_coordinator.delete_groups(
        [g for g in request.groups_names if g in deletable]
    )
    denied = [g for g in request.groups_names if g not in deletable]
    results.update(dict.fromkeys(denied, ErrorCode.GROUP_AUTHORIZATION_FAILED))
    return DeleteGroupsResponse(
        results=[
            DeleteGroupsResponse.DeletableGroupResult(group_id=group_id, error_code=error)
            for group_id, error in results.items()
        ]
    )
