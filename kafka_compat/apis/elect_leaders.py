"""ElectLeaders: v0-2

Behavior: the controller's API (kafka-leader-election.sh, AdminClient
    electLeaders): another broker answers NOT_CONTROLLER and clients go to the
    controller. Preferred elections (type 0) make each partition's first replica its
    leader when it is live and in the ISR (PREFERRED_LEADER_NOT_AVAILABLE otherwise,
    ELECTION_NOT_NEEDED if it leads already); unclean elections (type 1) give a
    partition without a live leader an in-sync replica if one is live, else the
    first live replica (ELIGIBLE_LEADERS_NOT_AVAILABLE if none); a partition with a
    live leader: ELECTION_NOT_NEEDED. Null partitions: every partition. The answer
    comes once the new state is in ZooKeeper and LeaderAndIsr is on its way (Kafka
    also waits for the new leaders to confirm). Single node: every partition already
    has its only replica as leader: ELECTION_NOT_NEEDED.
Version notes: v1 ElectionType, top-level ErrorCode · v2 flexible.
"""

from __future__ import annotations

from kafka_compat.apis.registry import RequestContext, api, by_topic
from kafka_compat.cluster.election import PREFERRED_ELECTION, UNCLEAN_ELECTION
from kafka_compat.cluster.store import NotController
from kafka_compat.security.acl_types import AclOperation
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

ElectLeadersResponse = messages.response_type(ApiKey.ELECT_LEADERS)


@api(ApiKey.ELECT_LEADERS, 0, 2)
async def handle_elect_leaders(ctx: RequestContext, request):
    election_type = request.election_type if ctx.version >= 1 else PREFERRED_ELECTION
    wanted = None
    if request.topic_partitions is not None:
        wanted = [(t.topic, p) for t in request.topic_partitions for p in t.partitions]
    if not ctx.authorize_cluster(AclOperation.ALTER):
        return _answer(
            ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
            _each(wanted, ErrorCode.CLUSTER_AUTHORIZATION_FAILED),
        )
    if election_type not in (PREFERRED_ELECTION, UNCLEAN_ELECTION):
        return _answer(ErrorCode.INVALID_REQUEST, _each(wanted, ErrorCode.INVALID_REQUEST))
    if ctx.cluster is not None:
        controller = ctx.controller
        try:
            if controller is None:
                raise NotController
            results = await controller.elect_leaders(election_type, wanted)
        except NotController:
            return _answer(ErrorCode.NOT_CONTROLLER, _each(wanted, ErrorCode.NOT_CONTROLLER))
    else:
        replica_manager = ctx.replica_manager
        if wanted is None:
            wanted = [(p.topic, p.index) for p in replica_manager.all_partitions()]
        results = {
            key: (
                ErrorCode.ELECTION_NOT_NEEDED
                if replica_manager.get_partition(*key) is not None
                else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                None,
            )
            for key in wanted
        }
    return _answer(ErrorCode.NONE, results)


def _each(wanted, error: ErrorCode) -> dict:
    return {key: (error, None) for key in wanted or ()}


def _answer(error: ErrorCode, results: dict) -> object:
    Result = ElectLeadersResponse.PartitionResult
    return ElectLeadersResponse(
        error_code=error,
        replica_election_results=[
            ElectLeadersResponse.ReplicaElectionResult(
                topic=topic,
                partition_result=[
                    Result(partition_id=p, error_code=code, error_message=message)
                    for p, (code, message) in parts
                ],
            )
            for topic, parts in by_topic(results).items()
        ],
    )
