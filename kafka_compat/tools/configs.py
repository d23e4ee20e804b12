"""`kafka-compat configs`, like kafka-configs.sh for topics, brokers and broker loggers:
`--describe` over DescribeConfigs (an entity's dynamic configs, `--all` for every
config, with synonyms in Kafka's format) and `--alter` (`--add-config k=v,k2=[a,b]`,
`--delete-config k,k2`) over IncrementalAlterConfigs. Quotas are `kafka-compat quotas`,
SCRAM users `kafka-compat users`.
"""

from __future__ import annotations

import argparse

from kafka_compat.tools.common import (
    UsageError,
    add_connection_arguments,
    add_output_argument,
    print_json,
    run,
)
from kafka_compat.tools.connection import AdminTool, ToolError
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

# entity type -> (resource type, the config source an entity's own configs have)
ENTITY_TYPES = {"topics": (2, 1), "brokers": (4, 2), "broker-loggers": (8, 6)}
DYNAMIC_DEFAULT_BROKER_CONFIG = 3
SOURCES = {
    0: "UNKNOWN",
    1: "DYNAMIC_TOPIC_CONFIG",
    2: "DYNAMIC_BROKER_CONFIG",
    3: "DYNAMIC_DEFAULT_BROKER_CONFIG",
    4: "STATIC_BROKER_CONFIG",
    5: "DEFAULT_CONFIG",
    6: "DYNAMIC_BROKER_LOGGER_CONFIG",
    7: "CLIENT_METRICS_CONFIG",
    8: "GROUP_CONFIG",
}
OP_SET, OP_DELETE = 0, 1


def parse_add_config(text: str) -> dict[str, str]:
    """`k=v,k2=[a,b]` (Kafka's syntax: brackets keep a list's commas) -> {k: v, k2: "a,b"}."""
    found: dict[str, str] = {}
    depth = 0
    item = ""
    items = []
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(item)
            item = ""
        else:
            item += ch
    items.append(item)
    for entry in items:
        if not entry.strip():
            continue
        key, sep, value = entry.partition("=")
        if not sep:
            raise UsageError(f"--add-config expects key=value pairs, got {entry!r}")
        value = value.strip()
        if value.startswith("[") and value.endswith("]"):
            value = value[1:-1]
        found[key.strip()] = value
    return found


class ConfigsTool(AdminTool):
    MAX_VERSIONS = {
        ApiKey.METADATA: 12,
        ApiKey.DESCRIBE_CONFIGS: 4,
        ApiKey.INCREMENTAL_ALTER_CONFIGS: 1,
    }

    def _connection_for(self, resource_type: int, name: str):
        # Broker (and logger) configs of one broker are answered by that broker.
        if resource_type in (4, 8) and name:
            for b in self.metadata([]).brokers:
                if str(b.node_id) == name:
                    return self.connect(b.host, b.port)
            raise ToolError(f"broker {name} is not in the cluster")
        return self.bootstrap

    def describe(self, resource_type: int, name: str) -> list:
        Request = messages.request_type(ApiKey.DESCRIBE_CONFIGS)
        answer = self._connection_for(resource_type, name).request(
            ApiKey.DESCRIBE_CONFIGS,
            Request(
                resources=[
                    Request.DescribeConfigsResource(
                        resource_type=resource_type, resource_name=name, configuration_keys=None
                    )
                ],
                include_synonyms=True,
                include_documentation=False,
            ),
        )
        (result,) = answer.results
        if result.error_code:
            raise ToolError(result.error_message or ErrorCode(result.error_code).name)
        return sorted(result.configs, key=lambda c: c.name)

    def alter(self, resource_type: int, name: str, add: dict[str, str], delete: list[str]) -> None:
        Request = messages.request_type(ApiKey.INCREMENTAL_ALTER_CONFIGS)
        configs = [
            Request.AlterableConfig(name=k, config_operation=OP_SET, value=v)
            for k, v in add.items()
        ] + [
            Request.AlterableConfig(name=k, config_operation=OP_DELETE, value=None) for k in delete
        ]
        answer = self._connection_for(resource_type, name).request(
            ApiKey.INCREMENTAL_ALTER_CONFIGS,
            Request(
                resources=[
                    Request.AlterConfigsResource(
                        resource_type=resource_type, resource_name=name, configs=configs
                    )
                ],
                validate_only=False,
            ),
        )
        (result,) = answer.responses
        if result.error_code:
            raise ToolError(result.error_message or ErrorCode(result.error_code).name)


def _entity_label(entity_type: str, name: str) -> str:
    if entity_type == "brokers" and name == "":
        return "brokers in the cluster"
    return {"topics": "topic", "brokers": "broker", "broker-loggers": "broker-logger"}[
        entity_type
    ] + f" {name}"


def _config_line(c) -> str:
    value = "null" if c.is_sensitive or c.value is None else c.value
    synonyms = ", ".join(
        f"{SOURCES.get(s.source, s.source)}:{s.name}={'null' if s.value is None else s.value}"
        for s in c.synonyms or ()
    )
    return f"  {c.name}={value} sensitive={str(c.is_sensitive).lower()} synonyms={{{synonyms}}}"


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "configs", help="describe and alter topic and broker configs (kafka-configs.sh)"
    )
    actions = parser.add_mutually_exclusive_group(required=True)
    actions.add_argument("--describe", action="store_true")
    actions.add_argument("--alter", action="store_true")
    parser.add_argument("--entity-type", required=True, choices=sorted(ENTITY_TYPES))
    names = parser.add_mutually_exclusive_group()
    names.add_argument("--entity-name", help="topic name or broker id")
    names.add_argument(
        "--entity-default", action="store_true", help="the cluster-wide default (brokers)"
    )
    parser.add_argument(
        "--all", action="store_true", help="--describe: every config, not only dynamic"
    )
    parser.add_argument("--add-config", default="", metavar="K=V,K2=[A,B]")
    parser.add_argument("--delete-config", default="", metavar="K,K2")
    add_connection_arguments(parser)
    add_output_argument(parser)
    parser.set_defaults(run=lambda args: run(main, args))


def main(args: argparse.Namespace) -> int:
    resource_type, own_source = ENTITY_TYPES[args.entity_type]
    if args.entity_default:
        if args.entity_type != "brokers":
            raise UsageError("--entity-default is for --entity-type brokers")
        own_source = DYNAMIC_DEFAULT_BROKER_CONFIG
    name = "" if args.entity_default else args.entity_name
    json_out = args.output == "json"
    with ConfigsTool(args.bootstrap_server, args.timeout) as tool:
        if args.alter:
            if name is None:
                raise UsageError("--alter needs --entity-name or --entity-default")
            add = parse_add_config(args.add_config)
            delete = [k.strip() for k in args.delete_config.split(",") if k.strip()]
            if not add and not delete:
                raise UsageError("--alter needs --add-config or --delete-config")
            tool.alter(resource_type, name, add, delete)
            if json_out:
                print_json(
                    {
                        "entity_type": args.entity_type,
                        "entity_name": name,
                        "set": add,
                        "deleted": delete,
                    }
                )
            elif name == "":
                print("Completed updating default config for brokers in the cluster.")
            else:
                print(f"Completed updating config for {_entity_label(args.entity_type, name)}.")
            return 0
        if name is None:
            if args.entity_type == "topics":
                names = sorted(t.name for t in tool.metadata(None).topics if not t.error_code)
            else:
                names = sorted(str(b.node_id) for b in tool.metadata([]).brokers)
        else:
            names = [name]
        documents = []
        lines = []
        for entity in names:
            configs = tool.describe(resource_type, entity)
            if not args.all and args.entity_type != "broker-loggers":
                configs = [c for c in configs if c.config_source == own_source]
            if json_out:
                documents.append(
                    {
                        "entity_type": args.entity_type,
                        "entity_name": entity,
                        "configs": [
                            {
                                "name": c.name,
                                "value": None if c.is_sensitive else c.value,
                                "source": SOURCES.get(c.config_source, c.config_source),
                                "sensitive": c.is_sensitive,
                                "read_only": c.read_only,
                                "synonyms": [
                                    {
                                        "name": s.name,
                                        "value": s.value,
                                        "source": SOURCES.get(s.source, s.source),
                                    }
                                    for s in c.synonyms or ()
                                ],
                            }
                            for c in configs
                        ],
                    }
                )
                continue
            if entity == "" and args.entity_type == "brokers":
                heading = "All" if args.all else "Default"
                lines.append(f"{heading} configs for brokers in the cluster are:")
            else:
                heading = "All" if args.all else "Dynamic"
                if args.entity_type == "broker-loggers":
                    heading = "All"
                lines.append(
                    f"{heading} configs for {_entity_label(args.entity_type, entity)} are:"
                )
            lines += [_config_line(c) for c in configs]
        if json_out:
            print_json({"entities": documents})
        elif lines:
            print("\n".join(lines))
    return 0
