"""DescribeUserScramCredentials: v0; AlterUserScramCredentials: v0

Behavior: SCRAM credentials are kept per user in the metadata store under the
    mechanism's name in Kafka's text form (security/credentials.py); on a cluster
    that is ZooKeeper's /config/users/<user>, written by whichever broker got the
    request (as Kafka 3.9's ZkAdminManager, no forwarding) with a config change
    notification every broker applies. Only the salt, iterations, StoredKey and
    ServerKey are stored: the client sends the salted password, never the password.
    Describe answers every user with a credential (sorted) for a null or empty list,
    else each user asked once: RESOURCE_NOT_FOUND for a user without credentials or
    an empty name, DUPLICATE_RESOURCE for a user asked twice. Alter answers one
    result per user: an empty name or salt or salted password, or iterations outside
    4096..16384, is UNACCEPTABLE_CREDENTIAL, an unknown mechanism
    UNSUPPORTED_SASL_MECHANISM, the same (user, mechanism) twice DUPLICATE_RESOURCE,
    deleting a credential that does not exist RESOURCE_NOT_FOUND; a user with any
    such error is not changed, the others are (each user's changes in one write,
    keeping the user's other config keys).
    With an authorizer, Describe needs DESCRIBE and Alter ALTER on the cluster, as
    Kafka: otherwise CLUSTER_AUTHORIZATION_FAILED, "Cluster authorization failed."
    (Describe: top level and one result per user named, without the name, as
    Kafka's getErrorResponse; Alter: one result per user named, sorted).
Version notes: v0 only, flexible.
Left out: nothing known.
"""

from __future__ import annotations

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.cluster.store import MissingConfigs, StoreError
from kafka_compat.security.acl_types import AclOperation
from kafka_compat.security.credentials import MECHANISMS_BY_TYPE, ScramCredential
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

DescribeResponse = messages.response_type(ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS)
DescribeResult = DescribeResponse.DescribeUserScramCredentialsResult
CredentialInfo = DescribeResponse.CredentialInfo
AlterResponse = messages.response_type(ApiKey.ALTER_USER_SCRAM_CREDENTIALS)
AlterResult = AlterResponse.AlterUserScramCredentialsResult

MAX_ITERATIONS = 16384
_DENIED = (ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "Cluster authorization failed.")


def _describe_one(ctx: RequestContext, user: str) -> DescribeResult | None:
    creds = ctx.components.credentials
    found = {m: creds.get(user, m.name) for m in MECHANISMS_BY_TYPE.values()}
    infos = [
        CredentialInfo(mechanism=m.type, iterations=c.iterations)
        for m, c in found.items()
        if c is not None
    ]
    if not infos:
        return None
    return DescribeResult(user=user, error_code=0, error_message=None, credential_infos=infos)


@api(ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS, 0, 0)
async def handle_describe_user_scram_credentials(ctx: RequestContext, request):
    if not ctx.authorize_cluster(AclOperation.DESCRIBE):
        code, message = _DENIED
        denied = [
            DescribeResult(user="", error_code=code, error_message=message, credential_infos=[])
            for _ in request.users or ()
        ]
        return DescribeResponse(
            throttle_time_ms=0, error_code=code, error_message=message, results=denied
        )
    results = []
    if not request.users:
        for user in sorted(ctx.components.credentials.users()):
            result = _describe_one(ctx, user)
            if result is not None:
                results.append(result)
    else:
        names = [u.name for u in request.users]
        seen: set[str] = set()
        for user in names:
            if user in seen:
                continue
            seen.add(user)
            if not user:
                code, message = ErrorCode.RESOURCE_NOT_FOUND, "Username must not be empty"
            elif names.count(user) > 1:
                code, message = (
                    ErrorCode.DUPLICATE_RESOURCE,
                    "Cannot describe SCRAM credentials for the same user twice in a "
                    f"single request: {user}",
                )
            else:
                result = _describe_one(ctx, user)
                if result is not None:
                    results.append(result)
                    continue
                code, message = (
                    ErrorCode.RESOURCE_NOT_FOUND,
                    f"Attempt to describe a user credential that does not exist: {user}",
                )
            results.append(
                DescribeResult(
                    user=user, error_code=code, error_message=message, credential_infos=[]
                )
            )
    return DescribeResponse(throttle_time_ms=0, error_code=0, error_message=None, results=results)


def _check_upsertion(upsertion) -> tuple[int, str] | None:
    if not upsertion.name:
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, "Username must not be empty"
    mechanism = MECHANISMS_BY_TYPE.get(upsertion.mechanism)
    if mechanism is None:
        return ErrorCode.UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism"
    if upsertion.iterations < mechanism.min_iterations:
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too few iterations"
    if upsertion.iterations > MAX_ITERATIONS:
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too many iterations"
    if not upsertion.salt:
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, "Salt must not be empty"
    if not upsertion.salted_password:
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, "Salted password must not be empty"
    return None


def _check_deletion(deletion) -> tuple[int, str] | None:
    if not deletion.name:
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, "Username must not be empty"
    if deletion.mechanism not in MECHANISMS_BY_TYPE:
        return ErrorCode.UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism"
    return None


@api(ApiKey.ALTER_USER_SCRAM_CREDENTIALS, 0, 0)
async def handle_alter_user_scram_credentials(ctx: RequestContext, request):
    if not ctx.authorize_cluster(AclOperation.ALTER):
        named = {d.name for d in request.deletions} | {u.name for u in request.upsertions}
        code, message = _DENIED
        return AlterResponse(
            throttle_time_ms=0,
            results=[
                AlterResult(user=u, error_code=code, error_message=message) for u in sorted(named)
            ],
        )
    # Kafka's phases and the order of its results: requests that are illegal in
    # themselves, then (user, mechanism) pairs named twice, then deletions of what
    # does not exist, then the writes.
    errors: dict[str, tuple[int, str]] = {}
    for deletion in request.deletions:
        error = _check_deletion(deletion)
        if error is not None:
            errors[deletion.name] = error
    for upsertion in request.upsertions:  # their errors win, as in Kafka
        error = _check_upsertion(upsertion)
        if error is not None:
            errors[upsertion.name] = error
    results = [AlterResult(user=u, error_code=c, error_message=m) for u, (c, m) in errors.items()]

    pairs = [(u.name, u.mechanism) for u in request.upsertions if u.name not in errors]
    pairs += [(d.name, d.mechanism) for d in request.deletions if d.name not in errors]
    duplicated = {user for user, mechanism in pairs if pairs.count((user, mechanism)) > 1}
    for user in sorted(duplicated):
        results.append(
            AlterResult(
                user=user,
                error_code=ErrorCode.DUPLICATE_RESOURCE,
                error_message="A user credential cannot be altered twice in the same request",
            )
        )

    creds = ctx.components.credentials
    users = list(dict.fromkeys(user for user, _ in pairs if user not in duplicated))
    deletes: dict[str, set[str]] = {user: set() for user in users}
    upserts: dict[str, dict[str, ScramCredential]] = {user: {} for user in users}
    for deletion in request.deletions:
        if deletion.name in deletes:
            deletes[deletion.name].add(MECHANISMS_BY_TYPE[deletion.mechanism].name)
    for upsertion in request.upsertions:
        if upsertion.name in upserts:
            name = MECHANISMS_BY_TYPE[upsertion.mechanism].name
            upserts[upsertion.name][name] = ScramCredential.from_salted_password(
                name, upsertion.salt, upsertion.salted_password, upsertion.iterations
            )
    # A credential to delete must be in the store (checked there, not in this
    # broker's cache, which another broker's change may not have reached yet).
    succeeded = []
    for user in users:
        try:
            await creds.alter(user, upserts[user], deletes[user])
        except MissingConfigs:
            code, message = (
                ErrorCode.RESOURCE_NOT_FOUND,
                "Attempt to delete a user credential that does not exist",
            )
        except StoreError as exc:
            code, message = ErrorCode.UNKNOWN_SERVER_ERROR, str(exc)
        else:
            succeeded.append(AlterResult(user=user, error_code=ErrorCode.NONE, error_message=None))
            continue
        results.append(AlterResult(user=user, error_code=code, error_message=message))
    return AlterResponse(throttle_time_ms=0, results=results + succeeded)
