"""CreateDelegationToken: v0-3; RenewDelegationToken: v0-2; ExpireDelegationToken:
v0-2; DescribeDelegationToken: v0-3

Behavior: delegation tokens (KIP-48) as Kafka 3.9's KafkaApis and
    DelegationTokenManagerZk (rules and storage: security/delegation_tokens.py and
    token_store.py). Every broker answers, writing to the store itself (ZooKeeper in a
    cluster, as Kafka's ZooKeeper mode, no forwarding).
    Not allowed, DELEGATION_TOKEN_REQUEST_NOT_ALLOWED, on a PLAINTEXT listener, on an
    SSL listener without a client certificate (User:ANONYMOUS), and on a connection that
    logged in with a delegation token. Without `delegation.token.secret.key` the APIs
    answer DELEGATION_TOKEN_AUTH_DISABLED (they are listed in ApiVersions all the same,
    as Kafka's).
    Create: the owner is the requester unless v3 names another (OwnerPrincipalType/
    Name), which needs CREATE_TOKENS on the User resource "<type>:<name>" of the owner
    (else DELEGATION_TOKEN_AUTHORIZATION_FAILED); renewers must be User principals
    (INVALID_PRINCIPAL_TYPE). Lifetimes as Kafka's: MaxLifetimeMs <= 0 or above
    `delegation.token.max.lifetime.ms` is the broker's; expiry is issue +
    `delegation.token.expiry.time.ms`, at most the max timestamp.
    Renew / Expire: by the token's HMAC; DELEGATION_TOKEN_NOT_FOUND for an unknown one,
    DELEGATION_TOKEN_OWNER_MISMATCH unless the principal is the owner or a renewer,
    DELEGATION_TOKEN_EXPIRED past its expiry; a negative renew period is the default
    one, a negative expiry period removes the token at once (answering now).
    Describe: null owners lists every token the principal may see, an empty list none,
    else the tokens of those owners (owner, requester or renewer); a principal sees its
    own tokens (owner, requester, renewer), and others' with DESCRIBE on the
    DelegationToken resource (the token id) or DESCRIBE_TOKENS on the owner's User
    resource.
    A store failure (ZooKeeper unreachable) answers UNKNOWN_SERVER_ERROR.
Version notes: v1 only throttles differently; v2 flexible; Create v3 owner and
    requester, Describe v3 the requester of each token.
Left out: nothing known.
"""

from __future__ import annotations

import logging

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.cluster.store import StoreError
from kafka_compat.security.acl_types import AclOperation, ResourceType
from kafka_compat.security.delegation_tokens import ERROR_TIMESTAMP, TokenInformation
from kafka_compat.security.session import ANONYMOUS, KafkaPrincipal
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

CreateResponse = messages.response_type(ApiKey.CREATE_DELEGATION_TOKEN)
RenewResponse = messages.response_type(ApiKey.RENEW_DELEGATION_TOKEN)
ExpireResponse = messages.response_type(ApiKey.EXPIRE_DELEGATION_TOKEN)
DescribeResponse = messages.response_type(ApiKey.DESCRIBE_DELEGATION_TOKEN)
DescribedToken = DescribeResponse.DescribedDelegationToken
DescribedRenewer = DescribeResponse.DescribedDelegationTokenRenewer

log = logging.getLogger(__name__)

USER_TYPE = "User"


def _allowed(ctx: RequestContext) -> bool:
    """Kafka's allowTokenRequests."""
    session = ctx.session
    protocol = session.security_protocol
    return not (
        session.token_authenticated
        or protocol == "PLAINTEXT"
        or (protocol == "SSL" and session.principal == ANONYMOUS)
    )


def _create_response(
    owner: KafkaPrincipal,
    requester: KafkaPrincipal,
    error: int,
    info: TokenInformation | None = None,
    hmac: bytes = b"",
):
    return CreateResponse(
        throttle_time_ms=0,
        error_code=error,
        principal_type=owner.type,
        principal_name=owner.name,
        token_requester_principal_type=requester.type,
        token_requester_principal_name=requester.name,
        issue_timestamp_ms=ERROR_TIMESTAMP if info is None else info.issue_timestamp,
        expiry_timestamp_ms=ERROR_TIMESTAMP if info is None else info.expiry_timestamp,
        max_timestamp_ms=ERROR_TIMESTAMP if info is None else info.max_timestamp,
        token_id="" if info is None else info.token_id,
        hmac=hmac,
    )


@api(ApiKey.CREATE_DELEGATION_TOKEN, 0, 3)
async def handle_create_delegation_token(ctx: RequestContext, request):
    requester = ctx.principal
    owner = requester
    if ctx.version >= 3 and request.owner_principal_name:
        owner = KafkaPrincipal(
            request.owner_principal_type or USER_TYPE, request.owner_principal_name
        )
    renewers = [KafkaPrincipal(r.principal_type, r.principal_name) for r in request.renewers]
    if not _allowed(ctx):
        return _create_response(owner, requester, ErrorCode.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED)
    if owner != requester and not ctx.authorize(
        AclOperation.CREATE_TOKENS, ResourceType.USER, str(owner)
    ):
        return _create_response(owner, requester, ErrorCode.DELEGATION_TOKEN_AUTHORIZATION_FAILED)
    if any(r.type != USER_TYPE for r in renewers):
        return _create_response(owner, requester, ErrorCode.INVALID_PRINCIPAL_TYPE)
    tokens = ctx.components.delegation_tokens
    if tokens is None:
        return _create_response(owner, requester, ErrorCode.DELEGATION_TOKEN_AUTH_DISABLED)
    try:
        token = await tokens.create(owner, requester, renewers, request.max_lifetime_ms)
    except StoreError as exc:  # e.g. ZooKeeper unreachable: Kafka's handleError
        log.warning("Could not store a delegation token for %s: %s", owner, exc)
        return _create_response(owner, requester, ErrorCode.UNKNOWN_SERVER_ERROR)
    return _create_response(owner, requester, ErrorCode.NONE, token.info, token.hmac)


async def _renew_or_expire(ctx: RequestContext, request, response_type, period_ms: int):
    tokens = ctx.components.delegation_tokens
    if not _allowed(ctx):
        error, expiry = ErrorCode.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED, ERROR_TIMESTAMP
    elif tokens is None:
        error, expiry = ErrorCode.DELEGATION_TOKEN_AUTH_DISABLED, ERROR_TIMESTAMP
    else:
        change = tokens.renew if response_type is RenewResponse else tokens.expire
        try:
            error, expiry = await change(ctx.principal, request.hmac, period_ms)
        except StoreError as exc:  # e.g. ZooKeeper unreachable: Kafka's handleError
            log.warning("Could not store a delegation token change: %s", exc)
            error, expiry = ErrorCode.UNKNOWN_SERVER_ERROR, ERROR_TIMESTAMP
    return response_type(throttle_time_ms=0, error_code=error, expiry_timestamp_ms=expiry)


@api(ApiKey.RENEW_DELEGATION_TOKEN, 0, 2)
async def handle_renew_delegation_token(ctx: RequestContext, request):
    return await _renew_or_expire(ctx, request, RenewResponse, request.renew_period_ms)


@api(ApiKey.EXPIRE_DELEGATION_TOKEN, 0, 2)
async def handle_expire_delegation_token(ctx: RequestContext, request):
    return await _renew_or_expire(ctx, request, ExpireResponse, request.expiry_time_period_ms)


@api(ApiKey.DESCRIBE_DELEGATION_TOKEN, 0, 3)
async def handle_describe_delegation_token(ctx: RequestContext, request):
    tokens = ctx.components.delegation_tokens
    if not _allowed(ctx):
        return DescribeResponse(
            throttle_time_ms=0,
            error_code=ErrorCode.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED,
            tokens=[],
        )
    if tokens is None:
        return DescribeResponse(
            throttle_time_ms=0, error_code=ErrorCode.DELEGATION_TOKEN_AUTH_DISABLED, tokens=[]
        )
    owners = (
        None
        if request.owners is None
        else [KafkaPrincipal(o.principal_type, o.principal_name) for o in request.owners]
    )
    requester = ctx.principal

    def eligible(info: TokenInformation) -> bool:
        """Kafka's DelegationTokenManager.filterToken."""
        if owners is not None and not any(info.owner_or_renewer(o) for o in owners):
            return False
        return (
            info.owner_or_renewer(requester)
            or ctx.authorize(AclOperation.DESCRIBE, ResourceType.DELEGATION_TOKEN, info.token_id)
            or ctx.authorize(AclOperation.DESCRIBE_TOKENS, ResourceType.USER, str(info.owner))
        )

    described = [] if owners == [] else tokens.describe(eligible)
    return DescribeResponse(
        throttle_time_ms=0,
        error_code=ErrorCode.NONE,
        tokens=[
            DescribedToken(
                principal_type=t.info.owner.type,
                principal_name=t.info.owner.name,
                token_requester_principal_type=t.info.requester.type,
                token_requester_principal_name=t.info.requester.name,
                issue_timestamp=t.info.issue_timestamp,
                expiry_timestamp=t.info.expiry_timestamp,
                max_timestamp=t.info.max_timestamp,
                token_id=t.info.token_id,
                hmac=t.hmac,
                renewers=[
                    DescribedRenewer(principal_type=r.type, principal_name=r.name)
                    for r in t.info.renewers
                ],
            )
            for t in described
        ],
    )
