"""DescribeClientQuotas: v0-1; AlterClientQuotas: v0-1

Behavior: Kafka 3.9's ZkAdminManager over the quota store (quotas/store.py): user,
    client-id, (user, client-id) and IP entities, `<default>` ones as a null name,
    written by whichever broker got the request with a config change notification
    every broker applies (quotas/client_quotas.py enforces them). Describe needs
    DESCRIBE_CONFIGS on the cluster, Alter ALTER_CONFIGS (CLUSTER_AUTHORIZATION_FAILED,
    for every entry). Describe's filter: match type 0 an exact name, 1 the default, 2
    any name; strict leaves out entities with types the filter does not name; a
    duplicate or empty entity type, or an IP component beside a user or client-id one,
    is INVALID_REQUEST, any other type UNSUPPORTED_VERSION (top-level error). Alter
    answers per entry: an empty entity, an unknown type, an empty name, an IP with a
    user or client-id, an IP that is neither an address nor resolvable, an unknown key
    or a fractional LONG value is INVALID_REQUEST with Kafka's message; validate_only
    checks without writing.
Version notes: v1 flexible.
Left out: values must be positive (Kafka's ZooKeeper path stores zero and negative
    values unchecked; we refuse them with KRaft's message).
"""

from __future__ import annotations

import logging

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.cluster.store import StoreError
from kafka_compat.quotas.store import (
    CLIENT_ID,
    IP,
    USER,
    InvalidQuota,
    QuotaEntity,
    check_ip_entity,
    entity_path,
    validate_ops,
)
from kafka_compat.security.acl_types import AclOperation
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

log = logging.getLogger(__name__)

DescribeResponse = messages.response_type(ApiKey.DESCRIBE_CLIENT_QUOTAS)
AlterResponse = messages.response_type(ApiKey.ALTER_CLIENT_QUOTAS)
MATCH_EXACT, MATCH_DEFAULT, MATCH_ANY = 0, 1, 2


class _Unsupported(Exception):
    pass


def _filter(components) -> dict[str, tuple[bool, str | None]]:
    """{entity type: (name wanted, the name or None for the default)}; a missing
    type is not in it. (name wanted False: any name, MATCH_ANY.)"""
    wanted: dict[str, tuple[bool, str | None]] = {}
    for c in components:
        if c.entity_type in wanted:
            what = "client" if c.entity_type == CLIENT_ID else c.entity_type
            raise InvalidQuota(f"Duplicate {what} filter component entity type")
        if c.entity_type == "":
            raise InvalidQuota("Unexpected empty filter component entity type")
        if c.entity_type not in (USER, CLIENT_ID, IP):
            raise _Unsupported(f"Custom entity type '{c.entity_type}' not supported")
        if c.match_type == MATCH_EXACT:
            if c.match is None:
                raise InvalidQuota(f"Request specified {c.entity_type} without a name")
            wanted[c.entity_type] = (True, c.match)
        elif c.match_type == MATCH_DEFAULT:
            wanted[c.entity_type] = (True, None)
        elif c.match_type == MATCH_ANY:
            wanted[c.entity_type] = (False, None)
        else:
            raise InvalidQuota(f"Unexpected match type: {c.match_type}")
    if IP in wanted and (USER in wanted or CLIENT_ID in wanted):
        raise InvalidQuota(
            "Invalid entity filter component combination, IP filter component should not "
            "be used with user or clientId filter component."
        )
    return wanted


def _matches(entity: QuotaEntity, wanted: dict[str, tuple[bool, str | None]], strict: bool) -> bool:
    """Kafka's ZkAdminManager.handleDescribeClientQuotas/handleDescribeIpQuotas."""
    if IP in entity:
        if USER in wanted or CLIENT_ID in wanted:
            return False
        if IP not in wanted:
            return not strict
        exact, name = wanted[IP]
        return entity[IP] == name if exact else True
    if IP in wanted:
        return False
    for entity_type in (USER, CLIENT_ID):
        if entity_type in wanted:
            if entity_type not in entity:
                return False
            exact, name = wanted[entity_type]
            if exact and entity[entity_type] != name:
                return False
        elif strict and entity_type in entity:
            return False
    return True


@api(ApiKey.DESCRIBE_CLIENT_QUOTAS, 0, 1)
async def handle_describe_client_quotas(ctx: RequestContext, request):
    if not ctx.authorize_cluster(AclOperation.DESCRIBE_CONFIGS):
        return DescribeResponse(
            throttle_time_ms=0,
            error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
            error_message=None,
            entries=None,
        )
    try:
        wanted = _filter(request.components)
    except (InvalidQuota, _Unsupported) as exc:
        code = ErrorCode.INVALID_REQUEST
        if isinstance(exc, _Unsupported):
            code = ErrorCode.UNSUPPORTED_VERSION
        return DescribeResponse(
            throttle_time_ms=0, error_code=code, error_message=str(exc), entries=None
        )
    entries = []
    for entity, values in ctx.components.quota_store.entries():
        if not _matches(entity, wanted, request.strict):
            continue
        entries.append(
            DescribeResponse.EntryData(
                entity=[
                    DescribeResponse.EntityData(entity_type=t, entity_name=n)
                    for t, n in entity.items()
                ],
                values=[
                    DescribeResponse.ValueData(key=k, value=v) for k, v in sorted(values.items())
                ],
            )
        )
    return DescribeResponse(throttle_time_ms=0, error_code=0, error_message=None, entries=entries)


def _entity(entry) -> QuotaEntity:
    return {e.entity_type: e.entity_name for e in entry.entity}


@api(ApiKey.ALTER_CLIENT_QUOTAS, 0, 1)
async def handle_alter_client_quotas(ctx: RequestContext, request):
    allowed = ctx.authorize_cluster(AclOperation.ALTER_CONFIGS)
    results = []
    changed = False
    for entry in request.entries:
        code, message = ErrorCode.NONE, None
        if not allowed:
            code = ErrorCode.CLUSTER_AUTHORIZATION_FAILED
        else:
            entity = _entity(entry)
            try:
                _, keys = entity_path(entity)
                await check_ip_entity(entity)
                ops = [(op.key, None if op.remove else op.value) for op in entry.ops]
                set_keys, removed = validate_ops(keys, ops)
                if not request.validate_only:
                    await ctx.components.quota_store.alter(entity, set_keys, removed)
                    changed = True
            except InvalidQuota as exc:
                code, message = ErrorCode.INVALID_REQUEST, str(exc)
            except StoreError as exc:
                log.info("Error encountered while updating client quotas: %s", exc)
                code, message = ErrorCode.UNKNOWN_SERVER_ERROR, str(exc)
        results.append(
            AlterResponse.EntryData(
                error_code=code,
                error_message=message,
                entity=[
                    AlterResponse.EntityData(entity_type=e.entity_type, entity_name=e.entity_name)
                    for e in entry.entity
                ],
            )
        )
    if changed:
        ctx.components.reload_quotas()
    return AlterResponse(throttle_time_ms=0, entries=results)
