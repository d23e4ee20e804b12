"""Applying the client quotas to one request (server.py calls `handle_with_quotas`
only while some quota is set, so the hot path without quotas pays one check).

As Kafka's KafkaApis and RequestHandlerHelper:
- Produce records the request's size against producer_byte_rate; Fetch (from a
  consumer) records its response's record bytes against consumer_byte_rate, its
  max_bytes capped to what the quota allows in one window; when that fetch is over
  the quota its records are withheld (the bytes unrecorded), as Kafka answers a
  throttled fetch with an empty response.
- Every API but the exempt ones (ApiVersions, SASL, the inter-broker APIs, a
  follower's Fetch, Produce with acks=0) records the time the handler ran on the
  event loop (its own steps, not the time it waited for replication or a long poll:
  Kafka's request handler thread time) as a percentage of one thread against
  request_percentage.
- The throttle time is the larger of the two (or of the controller mutation quota's,
  which the admin handlers leave in `session.throttle_ms`), recorded in that quota's
  throttle-time metric; it goes into the response's
  throttle_time_ms and `session.throttle_ms`, and server.py mutes the connection
  for that long: after sending the response to a client that throttles itself
  (KIP-219, Kafka's shouldClientThrottle versions), before it to an older one.
"""

from __future__ import annotations

import time
import types
from typing import Any

from kafka_compat.quotas.client_quotas import ClientQuotas
from protocol.api_keys import ApiKey

__all__ = ["EXEMPT_APIS", "client_throttles", "handle_with_quotas"]

EXEMPT_APIS = frozenset(
    {
        ApiKey.API_VERSIONS,
        ApiKey.SASL_HANDSHAKE,
        ApiKey.SASL_AUTHENTICATE,
        # Kafka's clusterAction APIs (inter-broker).
        ApiKey.LEADER_AND_ISR,
        ApiKey.STOP_REPLICA,
        ApiKey.UPDATE_METADATA,
        ApiKey.CONTROLLED_SHUTDOWN,
        ApiKey.WRITE_TXN_MARKERS,
        ApiKey.ALTER_PARTITION,
    }
)
# Kafka's AbstractResponse.shouldClientThrottle: from which version the client
# throttles itself (the broker sends the response at once, then mutes the channel);
# other APIs and older versions get their response after the throttle time.
_CLIENT_THROTTLES_FROM = {
    ApiKey.PRODUCE: 6,
    ApiKey.FETCH: 8,
    ApiKey.LIST_OFFSETS: 3,
    ApiKey.METADATA: 6,
    ApiKey.OFFSET_COMMIT: 4,
    ApiKey.OFFSET_FETCH: 4,
    ApiKey.FIND_COORDINATOR: 2,
    ApiKey.JOIN_GROUP: 3,
    ApiKey.HEARTBEAT: 2,
    ApiKey.LEAVE_GROUP: 2,
    ApiKey.SYNC_GROUP: 2,
    ApiKey.DESCRIBE_GROUPS: 2,
    ApiKey.LIST_GROUPS: 2,
    ApiKey.CREATE_TOPICS: 3,
    ApiKey.DELETE_TOPICS: 2,
    ApiKey.DELETE_RECORDS: 1,
    ApiKey.INIT_PRODUCER_ID: 1,
    ApiKey.ADD_PARTITIONS_TO_TXN: 1,
    ApiKey.ADD_OFFSETS_TO_TXN: 1,
    ApiKey.END_TXN: 1,
    ApiKey.TXN_OFFSET_COMMIT: 1,
    ApiKey.DESCRIBE_ACLS: 1,
    ApiKey.CREATE_ACLS: 1,
    ApiKey.DELETE_ACLS: 1,
    ApiKey.DESCRIBE_CONFIGS: 2,
    ApiKey.ALTER_CONFIGS: 1,
    ApiKey.ALTER_REPLICA_LOG_DIRS: 1,
    ApiKey.DESCRIBE_LOG_DIRS: 1,
    ApiKey.CREATE_PARTITIONS: 1,
    ApiKey.DELETE_GROUPS: 1,
    ApiKey.ELECT_LEADERS: 0,
    ApiKey.INCREMENTAL_ALTER_CONFIGS: 0,
    ApiKey.ALTER_PARTITION_REASSIGNMENTS: 0,
    ApiKey.LIST_PARTITION_REASSIGNMENTS: 0,
    ApiKey.OFFSET_DELETE: 0,
    ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS: 0,
    ApiKey.ALTER_USER_SCRAM_CREDENTIALS: 0,
}


def client_throttles(api_key: int, version: int) -> bool:
    first = _CLIENT_THROTTLES_FROM.get(api_key)
    return first is not None and version >= first


@types.coroutine
def _timed(coro, spent: list[float]):
    """Run the handler's coroutine, adding the time each of its steps takes on the
    loop to spent[0] (Trio's traps pass through unchanged)."""
    clock = time.perf_counter
    value: Any = None
    error: BaseException | None = None
    while True:
        start = clock()
        try:
            yielded = coro.throw(error) if error is not None else coro.send(value)
        except StopIteration as done:
            spent[0] += clock() - start
            return done.value
        spent[0] += clock() - start
        error = None
        try:
            value = yield yielded
        except BaseException as exc:  # noqa: BLE001 -- handed to the handler, as await does
            error, value = exc, None


def _replica_id(request) -> int:
    state = getattr(request, "replica_state", None)
    if state is not None and state.replica_id >= 0:
        return state.replica_id
    return getattr(request, "replica_id", -1)


def _fetched_bytes(response) -> int:
    return sum(len(p.records or b"") for t in response.responses for p in t.partitions)


def _withhold_records(response) -> None:
    for topic in response.responses:
        for partition in topic.partitions:
            partition.records = b""
            partition.aborted_transactions = None


async def handle_with_quotas(quotas: ClientQuotas, handler, ctx, request, size: int):
    """The handler's response, with the quotas recorded and the throttle applied
    (module docstring)."""
    api_key = ctx.header.api_key
    user = ctx.session.principal.name
    client_id = ctx.header.client_id or ""
    consumer_fetch = api_key == ApiKey.FETCH and _replica_id(request) < 0
    if consumer_fetch and quotas.fetch.enabled and ctx.version >= 3:
        allowed = quotas.fetch.max_value_in_window(user, client_id)
        if allowed is not None and allowed < request.max_bytes:
            request.max_bytes = max(int(allowed), 1)
    if api_key == ApiKey.FETCH and not consumer_fetch:
        return await handler(ctx, request)  # replication: exempt
    spent = [0.0]
    if quotas.request.enabled:
        response = await _timed(handler(ctx, request), spent)
    else:
        response = await handler(ctx, request)
    now_ms = time.monotonic() * 1000
    # Kafka throttles by the larger of the bandwidth (or controller mutation) quota's
    # and the request quota's throttle, recorded in that one's throttle-time metric.
    throttle = ctx.session.throttle_ms  # the controller mutation quota's (apis/admin.py)
    manager = quotas.controller_mutation
    if api_key == ApiKey.PRODUCE and quotas.produce.enabled:
        throttle = quotas.produce.record(user, client_id, size, now_ms)
        manager = quotas.produce
    fetched = 0
    if consumer_fetch and quotas.fetch.enabled and response is not None:
        fetched = _fetched_bytes(response)
        throttle = quotas.fetch.record(user, client_id, fetched, now_ms)
        manager = quotas.fetch
    if quotas.request.enabled and not (api_key == ApiKey.PRODUCE and request.acks == 0):
        request_throttle = quotas.request.record(user, client_id, spent[0] * 100, now_ms)
        if request_throttle > 0 and request_throttle >= throttle:  # ties: the request's
            throttle, manager = request_throttle, quotas.request
    if throttle > 0:
        if fetched:
            quotas.fetch.unrecord(user, client_id, fetched, now_ms)
            _withhold_records(response)
        manager.record_throttle(user, client_id, throttle, now_ms)
        if getattr(response, "throttle_time_ms", None) is not None:
            response.throttle_time_ms = throttle
        ctx.session.throttle_ms = throttle
    return response
