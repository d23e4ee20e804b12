"""Kafka's ACL authorization (AclAuthorizer's semantics, Kafka 3.9).

An ACL binds a resource pattern (resource type, name, LITERAL or PREFIXED) to an
entry (principal, host, operation, ALLOW or DENY). A request is authorized when no
matching DENY and at least one matching ALLOW exist, where matching means:
- the pattern: a LITERAL of the same name, the LITERAL wildcard "*", or a PREFIXED
  pattern the name starts with;
- the principal (or `User:*`), the host (or "*"), the operation (or ALL); DESCRIBE
  is also allowed by READ, WRITE, DELETE and ALTER, DESCRIBE_CONFIGS by ALTER_CONFIGS.
Super users (`super.users`, semicolon-separated) pass every check; a resource with
no ACL at all is open only with `allow.everyone.if.no.acl.found=true`.

Inter-broker requests (LeaderAndIsr, UpdateMetadata, StopReplica, follower Fetch,
AlterPartition, ControlledShutdown, WriteTxnMarkers...) need CLUSTER_ACTION on the
cluster, as in Kafka: the brokers' principal must be in super.users or have an ACL.
Our brokers connect to each other as any client of their listener does (User:ANONYMOUS
on PLAINTEXT), so a cluster with ACLs names that principal (or, once P's listeners
are in, the inter-broker listener's principal) in super.users; with
allow.everyone.if.no.acl.found=true a cluster without ACLs on the CLUSTER resource
also replicates. The broker warns at start-up when neither holds. We do not trust
peer addresses instead: every local client shares them.

The codes are the protocol's (AclOperation, AclPermissionType, ResourceType,
PatternType in Kafka's clients).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kafka_compat.security.acl_types import (
    SUPPORTED_OPERATIONS,
    WILDCARD,
    WILDCARD_PRINCIPAL,
    AclOperation,
    PatternType,
    Permission,
    ResourceType,
)

# What else allows an operation (Kafka's AclAuthorizer: DESCRIBE is implied by the
# operations that need it, DESCRIBE_CONFIGS by ALTER_CONFIGS); ALL allows everything.
_IMPLIED_BY = {
    AclOperation.DESCRIBE: frozenset(
        {
            AclOperation.DESCRIBE,
            AclOperation.READ,
            AclOperation.WRITE,
            AclOperation.DELETE,
            AclOperation.ALTER,
            AclOperation.ALL,
        }
    ),
    AclOperation.DESCRIBE_CONFIGS: frozenset(
        {AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS, AclOperation.ALL}
    ),
}


@dataclass(frozen=True, slots=True)
class ResourcePattern:
    resource_type: ResourceType
    name: str
    pattern_type: PatternType  # LITERAL or PREFIXED


@dataclass(frozen=True, slots=True)
class AccessControlEntry:
    principal: str  # "User:alice" or "User:*"
    host: str  # an address or "*"
    operation: AclOperation
    permission: Permission  # ALLOW or DENY


@dataclass(frozen=True, slots=True)
class AclBinding:
    pattern: ResourcePattern
    entry: AccessControlEntry


@dataclass(frozen=True, slots=True)
class AclBindingFilter:
    """DescribeAcls/DeleteAcls' filter: None or ANY/UNKNOWN-free values; None matches all."""

    resource_type: ResourceType  # ANY matches every type
    name: str | None
    pattern_type: PatternType  # ANY, MATCH, LITERAL or PREFIXED
    principal: str | None
    host: str | None
    operation: AclOperation  # ANY matches every operation
    permission: Permission  # ANY matches both

    def invalid_reason(self) -> str | None:
        """Why Kafka refuses this filter (INVALID_REQUEST), or None."""
        if self.resource_type == ResourceType.UNKNOWN:
            return "Unknown resource type"
        if self.pattern_type == PatternType.UNKNOWN:
            return "Unknown pattern type"
        if self.operation == AclOperation.UNKNOWN:
            return "Unknown operation"
        if self.permission == Permission.UNKNOWN:
            return "Unknown permission type"
        return None

    def matches(self, binding: AclBinding) -> bool:
        pattern, entry = binding.pattern, binding.entry
        if self.resource_type not in (ResourceType.ANY, pattern.resource_type):
            return False
        if not self._matches_pattern(pattern):
            return False
        if self.principal is not None and self.principal != entry.principal:
            return False
        if self.host is not None and self.host != entry.host:
            return False
        if self.operation not in (AclOperation.ANY, entry.operation):
            return False
        return self.permission in (Permission.ANY, entry.permission)

    def _matches_pattern(self, pattern: ResourcePattern) -> bool:
        kind = self.pattern_type
        if kind == PatternType.MATCH:
            # Every pattern that would apply to a resource of this name.
            if self.name is None:
                return True
            if pattern.pattern_type == PatternType.LITERAL:
                return pattern.name in (self.name, WILDCARD)
            return self.name.startswith(pattern.name)
        if kind != PatternType.ANY and kind != pattern.pattern_type:
            return False
        return self.name is None or self.name == pattern.name


def parse_super_users(value: str) -> frozenset[str]:
    return frozenset(p.strip() for p in (value or "").split(";") if p.strip())


class AclCache:
    """Every ACL, indexed for checks: {(type, pattern_type): {name: {entries}}}."""

    def __init__(self) -> None:
        self.acls: dict[ResourcePattern, frozenset[AccessControlEntry]] = {}
        self._literal: dict[ResourceType, dict[str, frozenset[AccessControlEntry]]] = {}
        self._prefixed: dict[ResourceType, dict[str, frozenset[AccessControlEntry]]] = {}

    def set(self, pattern: ResourcePattern, entries: Iterable[AccessControlEntry]) -> None:
        """Replace the ACLs of one resource pattern (empty: remove them)."""
        entries = frozenset(entries)
        index = self._prefixed if pattern.pattern_type == PatternType.PREFIXED else self._literal
        by_name = index.setdefault(pattern.resource_type, {})
        if entries:
            self.acls[pattern] = entries
            by_name[pattern.name] = entries
        else:
            self.acls.pop(pattern, None)
            by_name.pop(pattern.name, None)

    def bindings(self) -> list[AclBinding]:
        return [AclBinding(p, e) for p, entries in self.acls.items() for e in entries]

    def matching(self, resource_type: ResourceType, name: str) -> list[AccessControlEntry]:
        """The entries of every pattern that applies to this resource."""
        found: list[AccessControlEntry] = []
        literal = self._literal.get(resource_type)
        if literal:
            found.extend(literal.get(name, ()))
            if name != WILDCARD:
                found.extend(literal.get(WILDCARD, ()))
        prefixed = self._prefixed.get(resource_type)
        if prefixed:
            for prefix, entries in prefixed.items():
                if name.startswith(prefix):
                    found.extend(entries)
        return found

    def has_type(self, resource_type: ResourceType) -> bool:
        return bool(self._literal.get(resource_type) or self._prefixed.get(resource_type))


class Authorizer:
    """AclAuthorizer's decisions over an AclCache (the ACL store keeps it current)."""

    def __init__(self, super_users: str = "", allow_if_no_acl: bool = False) -> None:
        self.cache = AclCache()
        self.super_users = parse_super_users(super_users)
        self.allow_if_no_acl = allow_if_no_acl

    def authorize(
        self,
        principal: str,
        host: str,
        operation: AclOperation,
        resource_type: ResourceType,
        name: str,
    ) -> bool:
        if principal in self.super_users:
            return True
        entries = self.cache.matching(resource_type, name)
        if not entries:
            return self.allow_if_no_acl
        allowed_by = _IMPLIED_BY.get(operation) or (operation, AclOperation.ALL)
        allow = False
        for entry in entries:
            if entry.principal != principal and entry.principal != WILDCARD_PRINCIPAL:
                continue
            if entry.host != WILDCARD and entry.host != host:
                continue
            if entry.permission == Permission.DENY:
                # DENY of DESCRIBE is not implied by DENY of READ: only op or ALL denies.
                if entry.operation == operation or entry.operation == AclOperation.ALL:
                    return False
            elif entry.operation in allowed_by:
                allow = True
        return allow

    def authorize_any(
        self, principal: str, host: str, operation: AclOperation, resource_type: ResourceType
    ) -> bool:
        """KIP-679's authorizeByResourceType: is `operation` allowed on at least one
        resource of this type (an ALLOW not cancelled by a DENY on a wider pattern)?"""
        if principal in self.super_users:
            return True
        cache = self.cache
        if not cache.has_type(resource_type):
            return self.allow_if_no_acl
        allows: list[ResourcePattern] = []
        denies: list[ResourcePattern] = []
        for pattern, entries in cache.acls.items():
            if pattern.resource_type != resource_type:
                continue
            for entry in entries:
                if entry.principal not in (principal, WILDCARD_PRINCIPAL):
                    continue
                if entry.host not in (WILDCARD, host):
                    continue
                if entry.operation not in (operation, AclOperation.ALL):
                    continue
                (denies if entry.permission == Permission.DENY else allows).append(pattern)
        for pattern in denies:
            if pattern.pattern_type == PatternType.LITERAL and pattern.name == WILDCARD:
                return False
        for allow in allows:
            if not any(_covers(deny, allow) for deny in denies):
                return True
        return False

    def operations(self, principal: str, host: str, resource_type: ResourceType, name: str) -> int:
        """authorized_operations: a bit per allowed operation (1 << code)."""
        bits = 0
        for op in SUPPORTED_OPERATIONS.get(resource_type, ()):
            if self.authorize(principal, host, op, resource_type, name):
                bits |= 1 << op
        return bits


def _covers(deny: ResourcePattern, allow: ResourcePattern) -> bool:
    """Does a DENY on `deny` apply to every resource `allow` grants?"""
    if deny.pattern_type == PatternType.LITERAL:
        return deny.name == WILDCARD or (
            allow.pattern_type == PatternType.LITERAL and deny.name == allow.name
        )
    return allow.name.startswith(deny.name)
