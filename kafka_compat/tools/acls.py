"""What `kafka-compat acls list|add|remove` does, over the protocol like Kafka's
kafka-acls.sh (DescribeAcls, CreateAcls, DeleteAcls against any broker), with its
options where they exist: --allow-principal/--deny-principal, --allow-host/
--deny-host, --operation, --topic/--group/--cluster/--transactional-id,
--resource-pattern-type, --principal (list). Output in kafka-acls' words.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from kafka_compat.security.acl_types import (
    CLUSTER_NAME,
    AclOperation,
    PatternType,
    Permission,
    ResourceType,
)
from kafka_compat.tools.connection import AdminTool, ToolError
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode


@dataclass(frozen=True)
class Acl:
    resource_type: int
    name: str
    pattern_type: int
    principal: str
    host: str
    operation: int
    permission: int


def add_arguments(parser: argparse.ArgumentParser, listing: bool) -> None:
    """kafka-acls' resource and entry options."""
    parser.add_argument("--topic", action="append", default=[])
    parser.add_argument("--group", action="append", default=[])
    parser.add_argument("--transactional-id", action="append", default=[])
    parser.add_argument("--cluster", action="store_true")
    parser.add_argument(
        "--resource-pattern-type",
        default="any" if listing else "literal",
        choices=["literal", "prefixed", "match", "any"],
        type=str.lower,
    )
    if listing:
        parser.add_argument("--principal", action="append", default=[])
        return
    parser.add_argument("--allow-principal", action="append", default=[])
    parser.add_argument("--deny-principal", action="append", default=[])
    parser.add_argument("--allow-host", action="append", default=[])
    parser.add_argument("--deny-host", action="append", default=[])
    parser.add_argument(
        "--operation",
        action="append",
        default=[],
        type=lambda s: s.upper().replace("-", "_"),
        choices=[op.name for op in AclOperation if op > AclOperation.ANY],
    )


def resources(args: argparse.Namespace, listing: bool) -> list[tuple[int, str | None]]:
    found: list[tuple[int, str | None]] = [(ResourceType.TOPIC, t) for t in args.topic]
    found += [(ResourceType.GROUP, g) for g in args.group]
    found += [(ResourceType.TRANSACTIONAL_ID, t) for t in args.transactional_id]
    if args.cluster:
        found.append((ResourceType.CLUSTER, CLUSTER_NAME))
    if not found:
        if not listing:
            raise ToolError("name a resource: --topic, --group, --transactional-id or --cluster")
        found.append((ResourceType.ANY, None))
    return found


def entries(args: argparse.Namespace) -> list[tuple[str, str, int, int]]:
    """(principal, host, operation, permission) for every combination given."""
    operations = [AclOperation[op] for op in args.operation] or [AclOperation.ALL]
    made = []
    for permission, principals, hosts in (
        (Permission.ALLOW, args.allow_principal, args.allow_host),
        (Permission.DENY, args.deny_principal, args.deny_host),
    ):
        for principal in principals:
            for host in hosts or ["*"]:
                made += [(principal, host, op, permission) for op in operations]
    if not made:
        raise ToolError("name a principal: --allow-principal or --deny-principal")
    return made


class AclTool(AdminTool):
    MAX_VERSIONS = {ApiKey.DESCRIBE_ACLS: 3, ApiKey.CREATE_ACLS: 3, ApiKey.DELETE_ACLS: 3}

    def list(self, resource_type: int, name: str | None, pattern: int, principal=None):
        Request = messages.request_type(ApiKey.DESCRIBE_ACLS)
        answer = self.bootstrap.request(
            ApiKey.DESCRIBE_ACLS,
            Request(
                resource_type_filter=resource_type,
                resource_name_filter=name,
                pattern_type_filter=pattern,
                principal_filter=principal,
                host_filter=None,
                operation=AclOperation.ANY,
                permission_type=Permission.ANY,
            ),
        )
        _check(answer.error_code, answer.error_message)
        return [
            Acl(r.resource_type, r.resource_name, r.pattern_type, a.principal, a.host,
                a.operation, a.permission_type)
            for r in answer.resources
            for a in r.acls
        ]  # fmt: skip

    def add(self, acls: list[Acl]) -> None:
        Request = messages.request_type(ApiKey.CREATE_ACLS)
        creations = [
            Request.AclCreation(
                resource_type=a.resource_type,
                resource_name=a.name,
                resource_pattern_type=a.pattern_type,
                principal=a.principal,
                host=a.host,
                operation=a.operation,
                permission_type=a.permission,
            )
            for a in acls
        ]
        answer = self.bootstrap.request(ApiKey.CREATE_ACLS, Request(creations=creations))
        for result in answer.results:
            _check(result.error_code, result.error_message)

    def remove(self, acls: list[Acl]) -> int:
        Request = messages.request_type(ApiKey.DELETE_ACLS)
        filters = [
            Request.DeleteAclsFilter(
                resource_type_filter=a.resource_type,
                resource_name_filter=a.name,
                pattern_type_filter=a.pattern_type,
                principal_filter=a.principal,
                host_filter=a.host,
                operation=a.operation,
                permission_type=a.permission,
            )
            for a in acls
        ]
        answer = self.bootstrap.request(ApiKey.DELETE_ACLS, Request(filters=filters))
        removed = 0
        for result in answer.filter_results:
            _check(result.error_code, result.error_message)
            removed += len(result.matching_acls)
        return removed


def _check(code: int, message: str | None) -> None:
    if code:
        name = ErrorCode(code).name
        raise ToolError(f"{name}: {message}" if message else name)


def run(args: argparse.Namespace) -> str:
    """The command's output (raises ToolError)."""
    return execute(args)[0]


def execute(args: argparse.Namespace) -> tuple[str, dict]:
    """The command's text output and its `--output json` document (raises ToolError)."""
    text, acls = _execute(args)
    if isinstance(acls, int):
        return text, {"removed": acls}
    return text, {"acls": [_acl_document(a) for a in acls]}


def _acl_document(a: Acl) -> dict:
    return {
        "resource_type": ResourceType(a.resource_type).name,
        "name": a.name,
        "pattern_type": PatternType(a.pattern_type).name,
        "principal": a.principal,
        "host": a.host,
        "operation": AclOperation(a.operation).name,
        "permission_type": Permission(a.permission).name,
    }


def _execute(args: argparse.Namespace) -> tuple[str, list[Acl] | int]:
    command = args.acls_command
    pattern = PatternType[args.resource_pattern_type.upper()]
    with AclTool(args.bootstrap_server, args.timeout) as tool:
        if command == "list":
            found = []
            for rtype, name in resources(args, listing=True):
                for principal in args.principal or [None]:
                    found += tool.list(rtype, name, pattern, principal)
            return format_acls(found), found
        if pattern not in (PatternType.LITERAL, PatternType.PREFIXED) and command == "add":
            raise ToolError("--resource-pattern-type must be literal or prefixed to add ACLs")
        acls = [
            Acl(rtype, name, pattern, principal, host, op, permission)
            for rtype, name in resources(args, listing=False)
            for principal, host, op, permission in entries(args)
        ]
        if command == "add":
            tool.add(acls)
            return format_acls(acls, "Adding ACLs for resource"), acls
        removed = tool.remove(acls)
        return f"Removed {removed} ACL(s).", removed


def format_acls(acls: list[Acl], title: str = "Current ACLs for resource") -> str:
    by_resource: dict[tuple, list[Acl]] = {}
    for a in acls:
        by_resource.setdefault((a.resource_type, a.name, a.pattern_type), []).append(a)
    lines = []
    for (rtype, name, pattern), found in by_resource.items():
        lines.append(
            f"{title} `ResourcePattern(resourceType={ResourceType(rtype).name}, name={name}, "
            f"patternType={PatternType(pattern).name})`: "
        )
        for a in found:
            lines.append(
                f" \t(principal={a.principal}, host={a.host}, "
                f"operation={AclOperation(a.operation).name}, "
                f"permissionType={Permission(a.permission).name}) "
            )
        lines.append("")
    return "\n".join(lines).rstrip("\n")
