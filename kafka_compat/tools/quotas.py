"""What `kafka-compat quotas describe|alter` does: client quotas over the protocol,
like the quota part of Kafka's kafka-configs.sh:

    kafka-compat quotas alter --entity-type users --entity-name alice \\
        --entity-type clients --entity-default --add-config producer_byte_rate=1024
    kafka-compat quotas describe [--entity-type clients [--entity-name X]] [--output json]

- describe: DescribeClientQuotas. Each --entity-type with --entity-name matches that
  name, with --entity-default the default, alone any name; with entity types the
  match is strict (only entities of exactly those types), without any it lists all.
- alter: AlterClientQuotas for one entity: --add-config k=v,... sets, --delete-config
  k,... removes (keys: producer_byte_rate, consumer_byte_rate, request_percentage,
  controller_mutation_rate; connection_creation_rate for ips).
"""

from __future__ import annotations

import json
import sys

from kafka_compat.tools.connection import AdminTool, Connection, ToolError, table
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

DescribeRequest = messages.request_type(ApiKey.DESCRIBE_CLIENT_QUOTAS)
AlterRequest = messages.request_type(ApiKey.ALTER_CLIENT_QUOTAS)
# kafka-configs' entity types -> the protocol's.
ENTITY_TYPES = {"users": "user", "clients": "client-id", "ips": "ip"}
MATCH_EXACT, MATCH_DEFAULT, MATCHANY_NAME = 0, 1, 2
ANY_NAME = object()  # an --entity-type given without a name


def _pairs(types: list[str], names: list) -> list[tuple[str, object]]:
    """(protocol entity type, name / None for default / ANY_NAME) in the order given."""
    if len(names) > len(types):
        raise ToolError("each --entity-name / --entity-default needs an --entity-type before it")
    names = names + [ANY_NAME] * (len(types) - len(names))
    pairs = []
    for kind, name in zip(types, names, strict=True):
        if kind not in ENTITY_TYPES:
            raise ToolError(f"unknown entity type {kind!r}: {', '.join(ENTITY_TYPES)}")
        pairs.append((ENTITY_TYPES[kind], name))
    return pairs


def describe_quotas(conn: Connection, pairs: list[tuple[str, object]]) -> list[dict]:
    """[{"entity": {type: name or None}, "values": {key: value}}] sorted by entity."""
    components = []
    for kind, name in pairs:
        if name is ANY_NAME:
            components.append(
                DescribeRequest.ComponentData(
                    entity_type=kind, match_type=MATCHANY_NAME, match=None
                )
            )
        elif name is None:
            components.append(
                DescribeRequest.ComponentData(
                    entity_type=kind, match_type=MATCH_DEFAULT, match=None
                )
            )
        else:
            components.append(
                DescribeRequest.ComponentData(entity_type=kind, match_type=MATCH_EXACT, match=name)
            )
    answer = conn.request(
        ApiKey.DESCRIBE_CLIENT_QUOTAS,
        DescribeRequest(components=components, strict=bool(components)),
    )
    if answer.error_code:
        raise ToolError(f"{ErrorCode(answer.error_code).name}: {answer.error_message or ''}")
    found = [
        {
            "entity": {e.entity_type: e.entity_name for e in entry.entity},
            "values": {v.key: v.value for v in entry.values},
        }
        for entry in answer.entries or []
    ]
    return sorted(found, key=lambda q: sorted((k, v or "") for k, v in q["entity"].items()))


def alter_quotas(
    conn: Connection,
    pairs: list[tuple[str, object]],
    add: dict[str, float],
    delete: list[str],
    validate_only: bool = False,
) -> None:
    if not pairs or any(name is ANY_NAME for _, name in pairs):
        raise ToolError("alter needs --entity-name or --entity-default for each --entity-type")
    ops = [AlterRequest.OpData(key=k, value=v, remove=False) for k, v in add.items()]
    ops += [AlterRequest.OpData(key=k, value=0.0, remove=True) for k in delete]
    if not ops:
        raise ToolError("nothing to change: give --add-config or --delete-config")
    entry = AlterRequest.EntryData(
        entity=[AlterRequest.EntityData(entity_type=k, entity_name=n) for k, n in pairs],
        ops=ops,
    )
    answer = conn.request(
        ApiKey.ALTER_CLIENT_QUOTAS, AlterRequest(entries=[entry], validate_only=validate_only)
    )
    for result in answer.entries:
        if result.error_code:
            raise ToolError(
                f"{ErrorCode(result.error_code).name}: {result.error_message or ''}".rstrip()
            )


def _entity_text(entity: dict) -> str:
    names = {"user": "user-principal", "client-id": "client-id", "ip": "ip"}
    return ", ".join(
        f"{names.get(k, k)} '{'<default>' if v is None else v}'" for k, v in entity.items()
    )


def format_quotas(quotas: list[dict]) -> str:
    rows = [
        [_entity_text(q["entity"]), ", ".join(f"{k}={v:g}" for k, v in sorted(q["values"].items()))]
        for q in quotas
    ]
    return "\n".join(table(["ENTITY", "QUOTAS"], rows))


def _parse_add(text: str | None) -> dict[str, float]:
    found = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ToolError(f"--add-config wants key=value, not {part!r}")
        try:
            found[key.strip()] = float(value)
        except ValueError:
            raise ToolError(f"{key.strip()}: {value!r} is not a number") from None
    return found


def add_parser(commands) -> None:
    """`kafka-compat quotas ...` (cli.py)."""
    quotas = commands.add_parser("quotas", help="client quotas: describe, alter")
    sub = quotas.add_subparsers(dest="quotas_command", required=True)
    describe = sub.add_parser("describe", help="the quotas of the matching entities")
    alter = sub.add_parser("alter", help="set or remove one entity's quotas")
    alter.add_argument("--add-config", metavar="K=V,...")
    alter.add_argument("--delete-config", metavar="K,...")
    alter.add_argument("--validate-only", action="store_true")
    for parser in (describe, alter):
        parser.add_argument(
            "--entity-type", action="append", default=[], choices=sorted(ENTITY_TYPES)
        )
        parser.add_argument("--entity-name", action="append", dest="entity_names", default=[])
        parser.add_argument(
            "--entity-default", action="append_const", const=None, dest="entity_names"
        )
        parser.add_argument("--output", choices=["text", "json"], default="text")
        # --bootstrap-server (default localhost:9092), --timeout, --command-config
        from kafka_compat.tools.common import add_connection_arguments

        add_connection_arguments(parser)


def main(args) -> int:
    try:
        pairs = _pairs(args.entity_type, args.entity_names)
        with AdminTool(args.bootstrap_server, args.timeout) as tool:
            if args.quotas_command == "describe":
                found = describe_quotas(tool.bootstrap, pairs)
                print(json.dumps(found) if args.output == "json" else format_quotas(found))
            else:
                delete = [k.strip() for k in (args.delete_config or "").split(",") if k.strip()]
                alter_quotas(
                    tool.bootstrap, pairs, _parse_add(args.add_config), delete, args.validate_only
                )
                entity = _entity_text(dict(pairs))
                if args.output == "json":
                    print(json.dumps({"entity": dict(pairs), "altered": True}))
                else:
                    print(f"Completed updating config for {entity}.")
    except ToolError as exc:
        print(f"kafka-compat: {exc}", file=sys.stderr)
        return 1
    return 0
