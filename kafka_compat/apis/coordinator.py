"""FindCoordinator: v0-4

Behavior: this single broker coordinates every group and transactional id, so it
    answers with itself; v4 answers each of the batched keys.
Version notes: v1 KeyType, ErrorMessage · v3 flexible · v4 batched CoordinatorKeys.
Left out: the group coordinator itself (JoinGroup etc.) lands with consumer groups.
"""

from __future__ import annotations

from kafka_compat.apis import RequestContext, api
from protocol import messages

FindCoordinatorResponse = messages.response_type(10)


@api(10, 0, 4)
async def handle_find_coordinator(ctx: RequestContext, request):
    broker = ctx.broker
    if ctx.version < 4:
        return FindCoordinatorResponse(node_id=broker.node_id, host=broker.host, port=broker.port)
    return FindCoordinatorResponse(
        coordinators=[
            FindCoordinatorResponse.Coordinator(
                key=key, node_id=broker.node_id, host=broker.host, port=broker.port
            )
            for key in request.coordinator_keys
        ]
    )
