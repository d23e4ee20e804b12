"""CreateAcls: v0-3, DescribeAcls: v0-3, DeleteAcls: v0-3

Behavior: Kafka's AclApis over the ACL store (security/acls.py): every broker
    answers, and every broker enforces the result (cluster mode: ZooKeeper's change
    notifications). CreateAcls and DeleteAcls need ALTER on the cluster, DescribeAcls
    DESCRIBE (CLUSTER_AUTHORIZATION_FAILED); without an authorizer
    (authorizer.class.name unset) they answer SECURITY_DISABLED. A creation with an
    UNKNOWN or ANY value, a MATCH pattern, an empty name, a CLUSTER resource not
    named kafka-cluster or a principal that is not Type:name answers INVALID_REQUEST
    for that creation; a filter with an UNKNOWN value answers INVALID_REQUEST.
    DescribeAcls lists the matching bindings grouped by resource pattern; DeleteAcls
    answers per filter what it removed.
Version notes: v1 pattern types (PREFIXED, MATCH/ANY filters; v0 is LITERAL only) ·
    v2 flexible · v3 USER resources (KIP-554's, stored but not enforced).
Left out: nothing of the API; ACLs on USER resources are kept but no API checks them
    (delegation tokens are not served).
"""

from __future__ import annotations

import logging

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.security.acl_types import (
    CLUSTER_NAME,
    AclOperation,
    PatternType,
    Permission,
    ResourceType,
)
from kafka_compat.security.authorizer import (
    AccessControlEntry,
    AclBinding,
    AclBindingFilter,
    ResourcePattern,
)
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

log = logging.getLogger(__name__)

CreateAclsResponse = messages.response_type(ApiKey.CREATE_ACLS)
DescribeAclsResponse = messages.response_type(ApiKey.DESCRIBE_ACLS)
DeleteAclsResponse = messages.response_type(ApiKey.DELETE_ACLS)

_NO_AUTHORIZER = "No Authorizer is configured on the broker"


def _enum(kind, value: int):
    try:
        return kind(value)
    except ValueError:
        return kind.UNKNOWN


def _binding(ctx: RequestContext, c) -> AclBinding | str:
    """The creation as a binding, or why it is invalid."""
    resource_type = _enum(ResourceType, c.resource_type)
    pattern_type = _enum(PatternType, c.resource_pattern_type if ctx.version >= 1 else 3)
    operation = _enum(AclOperation, c.operation)
    permission = _enum(Permission, c.permission_type)
    if resource_type in (ResourceType.UNKNOWN, ResourceType.ANY):
        return "Invalid resource type"
    if pattern_type not in (PatternType.LITERAL, PatternType.PREFIXED):
        return f"Invalid pattern type {pattern_type.name}: LITERAL or PREFIXED only"
    if operation in (AclOperation.UNKNOWN, AclOperation.ANY):
        return "Invalid operation"
    if permission in (Permission.UNKNOWN, Permission.ANY):
        return "Invalid permission type"
    if not c.resource_name:
        return "Invalid empty resource name specified"
    if resource_type == ResourceType.CLUSTER and c.resource_name != CLUSTER_NAME:
        return f"The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
    kind, sep, name = (c.principal or "").partition(":")
    if not sep or not kind or not name:
        return f"Invalid principal {c.principal!r}: expected Type:name"
    if not c.host:
        return "Invalid empty host"
    return AclBinding(
        ResourcePattern(resource_type, c.resource_name, pattern_type),
        AccessControlEntry(c.principal, c.host, operation, permission),
    )


def _filter(ctx: RequestContext, f) -> AclBindingFilter:
    return AclBindingFilter(
        _enum(ResourceType, f.resource_type_filter),
        f.resource_name_filter,
        _enum(PatternType, f.pattern_type_filter if ctx.version >= 1 else 3),
        f.principal_filter,
        f.host_filter,
        _enum(AclOperation, f.operation),
        _enum(Permission, f.permission_type),
    )


@api(ApiKey.CREATE_ACLS, 0, 3)
async def handle_create_acls(ctx: RequestContext, request):
    Result = CreateAclsResponse.AclCreationResult

    def each(code: ErrorCode, message: str | None) -> object:
        return CreateAclsResponse(
            results=[Result(error_code=code, error_message=message) for _ in request.creations]
        )

    if not ctx.authorize_cluster(AclOperation.ALTER):
        return each(ErrorCode.CLUSTER_AUTHORIZATION_FAILED, None)
    if ctx.components.acls is None:
        return each(ErrorCode.SECURITY_DISABLED, _NO_AUTHORIZER)
    results: list[tuple[ErrorCode, str | None]] = []
    valid: list[AclBinding] = []
    for creation in request.creations:
        binding = _binding(ctx, creation)
        if isinstance(binding, str):
            results.append((ErrorCode.INVALID_REQUEST, binding))
        else:
            valid.append(binding)
            results.append((ErrorCode.NONE, None))
    try:
        await ctx.components.acls.create(valid)
    except Exception as exc:
        log.warning("Could not create ACLs: %s", exc)
        results = [
            (ErrorCode.UNKNOWN_SERVER_ERROR, str(exc)) if code == ErrorCode.NONE else (code, m)
            for code, m in results
        ]
    return CreateAclsResponse(
        results=[Result(error_code=code, error_message=m) for code, m in results]
    )


@api(ApiKey.DESCRIBE_ACLS, 0, 3)
async def handle_describe_acls(ctx: RequestContext, request):
    if not ctx.authorize_cluster(AclOperation.DESCRIBE):
        return DescribeAclsResponse(error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    authorizer = ctx.components.authorizer
    if authorizer is None:
        return DescribeAclsResponse(
            error_code=ErrorCode.SECURITY_DISABLED, error_message=_NO_AUTHORIZER
        )
    wanted = _filter(ctx, request)
    reason = wanted.invalid_reason()
    if reason is not None:
        return DescribeAclsResponse(error_code=ErrorCode.INVALID_REQUEST, error_message=reason)
    grouped: dict[ResourcePattern, list[AccessControlEntry]] = {}
    for binding in authorizer.cache.bindings():
        if wanted.matches(binding):
            grouped.setdefault(binding.pattern, []).append(binding.entry)
    Resource = DescribeAclsResponse.DescribeAclsResource
    Description = DescribeAclsResponse.AclDescription
    return DescribeAclsResponse(
        error_code=ErrorCode.NONE,
        resources=[
            Resource(
                resource_type=pattern.resource_type,
                resource_name=pattern.name,
                pattern_type=pattern.pattern_type,
                acls=[
                    Description(
                        principal=e.principal,
                        host=e.host,
                        operation=e.operation,
                        permission_type=e.permission,
                    )
                    for e in entries
                ],
            )
            for pattern, entries in grouped.items()
        ],
    )


@api(ApiKey.DELETE_ACLS, 0, 3)
async def handle_delete_acls(ctx: RequestContext, request):
    FilterResult = DeleteAclsResponse.DeleteAclsFilterResult
    Matching = DeleteAclsResponse.DeleteAclsMatchingAcl

    def each(code: ErrorCode, message: str | None) -> object:
        return DeleteAclsResponse(
            filter_results=[
                FilterResult(error_code=code, error_message=message) for _ in request.filters
            ]
        )

    if not ctx.authorize_cluster(AclOperation.ALTER):
        return each(ErrorCode.CLUSTER_AUTHORIZATION_FAILED, None)
    acls = ctx.components.acls
    if acls is None:
        return each(ErrorCode.SECURITY_DISABLED, _NO_AUTHORIZER)
    filters = [_filter(ctx, f) for f in request.filters]
    valid = [f for f in filters if f.invalid_reason() is None]
    try:
        removed = dict(zip(valid, await acls.delete(valid), strict=True))
    except Exception as exc:
        log.warning("Could not delete ACLs: %s", exc)
        return each(ErrorCode.UNKNOWN_SERVER_ERROR, str(exc))
    results = []
    for f in filters:
        reason = f.invalid_reason()
        if reason is not None:
            results.append(FilterResult(error_code=ErrorCode.INVALID_REQUEST, error_message=reason))
            continue
        results.append(
            FilterResult(
                error_code=ErrorCode.NONE,
                matching_acls=[
                    Matching(
                        error_code=ErrorCode.NONE,
                        resource_type=b.pattern.resource_type,
                        resource_name=b.pattern.name,
                        pattern_type=b.pattern.pattern_type,
                        principal=b.entry.principal,
                        host=b.entry.host,
                        operation=b.entry.operation,
                        permission_type=b.entry.permission,
                    )
                    for b in removed[f]
                ],
            )
        )
    return DeleteAclsResponse(filter_results=results)
