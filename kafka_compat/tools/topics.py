"""`kafka-compat topics`, like kafka-topics.sh: create, list, describe, alter
(partitions), delete, over CreateTopics, Metadata, DescribeConfigs, CreatePartitions
and DeleteTopics. `--topic` is a regular expression matched against whole names,
as Kafka's tool reads it for everything but --create.

`TopicsTool.create` also serves tests and the pytest plugin: it returns once every
partition has a leader ("ready to produce").
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from kafka_compat.tools.common import (
    UsageError,
    add_connection_arguments,
    add_output_argument,
    parse_properties,
    print_json,
    run,
)
from kafka_compat.tools.connection import AdminTool, ToolError
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

RESOURCE_TOPIC = 2
DYNAMIC_TOPIC_CONFIG = 1


class TopicRefused(ToolError):
    def __init__(self, message: str, error_code: int) -> None:
        super().__init__(message)
        self.error_code = error_code


@dataclass
class PartitionView:
    partition: int
    leader: int  # -1: none
    replicas: list[int]
    isr: list[int]
    offline: list[int] = field(default_factory=list)

    @property
    def under_replicated(self) -> bool:
        return len(self.isr) < len(self.replicas)


@dataclass
class TopicView:
    name: str
    topic_id: str
    internal: bool
    partitions: list[PartitionView]
    configs: dict[str, str] = field(default_factory=dict)
    min_isr: int = 1  # min.insync.replicas, whatever its source

    @property
    def replication_factor(self) -> int:
        return len(self.partitions[0].replicas) if self.partitions else 0


def uuid_text(raw: bytes) -> str:
    """Kafka's Uuid.toString: base64url without padding (22 characters)."""
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


# --describe's partition filters (Kafka's, one at a time): which partitions they keep.
PARTITION_FILTERS = {
    "under_replicated_partitions": lambda t, p: p.under_replicated,
    "unavailable_partitions": lambda t, p: p.leader < 0,
    "under_min_isr_partitions": lambda t, p: len(p.isr) < t.min_isr,
    "at_min_isr_partitions": lambda t, p: len(p.isr) == t.min_isr,
}


class TopicsTool(AdminTool):
    MAX_VERSIONS = {
        ApiKey.CREATE_TOPICS: 7,
        ApiKey.METADATA: 12,
        ApiKey.DELETE_TOPICS: 5,
        ApiKey.CREATE_PARTITIONS: 3,
        ApiKey.DESCRIBE_CONFIGS: 4,
    }

    def __init__(self, bootstrap: str, timeout: float = 10.0):
        super().__init__(bootstrap, timeout)
        self._min_isr: dict[str, int] = {}

    def create(
        self,
        name: str,
        partitions: int = 1,
        replication_factor: int = -1,
        config: Mapping[str, str] | None = None,
    ) -> None:
        """Create `name` (-1: the broker's default partitions / replication factor) and
        return once each partition has a leader; a refusal raises TopicRefused with
        Kafka's message."""
        Request = messages.request_type(ApiKey.CREATE_TOPICS)
        topic = Request.CreatableTopic(
            name=name,
            num_partitions=partitions,
            replication_factor=replication_factor,
            assignments=[],
            configs=[
                Request.CreatableTopicConfig(name=k, value=str(v))
                for k, v in (config or {}).items()
            ],
        )
        answer = self.bootstrap.request(
            ApiKey.CREATE_TOPICS,
            Request(topics=[topic], timeout_ms=int(self.timeout * 1000), validate_only=False),
        )
        result = answer.topics[0]
        if result.error_code:
            detail = result.error_message or ErrorCode(result.error_code).name
            raise TopicRefused(detail, result.error_code)
        count = partitions if partitions > 0 else getattr(result, "num_partitions", 1)
        self.wait_for_leaders(name, max(count, 1))

    def wait_for_leaders(self, name: str, partitions: int) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            (found,) = self.metadata([name]).topics
            led = [p for p in found.partitions if p.leader_id >= 0]
            if found.error_code == 0 and len(led) >= partitions:
                return
            if time.monotonic() >= deadline:
                raise ToolError(f"topic {name}: partitions without a leader after {self.timeout}s")
            time.sleep(0.005)

    def topics(self, include_internal: bool = True) -> list[TopicView]:
        """Every topic, sorted by name, partitions sorted by index."""
        found = []
        for t in self.metadata(None).topics:
            if t.error_code or (t.is_internal and not include_internal):
                continue
            partitions = sorted(
                (
                    PartitionView(
                        p.partition_index,
                        p.leader_id,
                        list(p.replica_nodes),
                        list(p.isr_nodes),
                        list(p.offline_replicas or ()),
                    )
                    for p in t.partitions
                ),
                key=lambda p: p.partition,
            )
            found.append(TopicView(t.name, uuid_text(t.topic_id), t.is_internal, partitions))
        return sorted(found, key=lambda t: t.name)

    def matching(
        self, pattern: str | None, include_internal: bool = True, if_exists: bool = False
    ) -> list[TopicView]:
        """Topics whose whole name matches the regex `pattern` (all without one); none
        matching a given pattern is Kafka's "does not exist as expected" (unless if_exists)."""
        topics = self.topics(include_internal)
        if pattern is None:
            return topics
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise UsageError(f"--topic {pattern!r} is not a regular expression: {exc}") from None
        chosen = [t for t in topics if regex.fullmatch(t.name)]
        if not chosen and not if_exists:
            raise ToolError(f"Topic '{pattern}' does not exist as expected")
        return chosen

    def add_configs(self, topics: list[TopicView]) -> None:
        """Each topic's own overrides (DYNAMIC_TOPIC_CONFIG, as kafka-topics lists them)
        and its min.insync.replicas."""
        found = self.dynamic_configs([t.name for t in topics], self._min_isr)
        for t in topics:
            t.configs = found.get(t.name, {})
            t.min_isr = self._min_isr.get(t.name, 1)

    def dynamic_configs(
        self, names: list[str], min_isr: dict[str, int] | None = None
    ) -> dict[str, dict[str, str]]:
        """Each topic's own overrides (DYNAMIC_TOPIC_CONFIG), as kafka-topics lists them;
        `min_isr` gets each topic's min.insync.replicas."""
        if not names:
            return {}
        Request = messages.request_type(ApiKey.DESCRIBE_CONFIGS)
        answer = self.bootstrap.request(
            ApiKey.DESCRIBE_CONFIGS,
            Request(
                resources=[
                    Request.DescribeConfigsResource(
                        resource_type=RESOURCE_TOPIC, resource_name=n, configuration_keys=None
                    )
                    for n in names
                ],
                include_synonyms=False,
                include_documentation=False,
            ),
        )
        found: dict[str, dict[str, str]] = {}
        for result in answer.results:
            if result.error_code:
                continue
            found[result.resource_name] = {
                c.name: c.value
                for c in result.configs
                if c.config_source == DYNAMIC_TOPIC_CONFIG and not c.is_sensitive
            }
            if min_isr is not None:
                for c in result.configs:
                    if c.name == "min.insync.replicas" and c.value and c.value.isdigit():
                        min_isr[result.resource_name] = int(c.value)
        return found

    def alter_partitions(self, names: list[str], count: int) -> None:
        Request = messages.request_type(ApiKey.CREATE_PARTITIONS)
        answer = self.bootstrap.request(
            ApiKey.CREATE_PARTITIONS,
            Request(
                topics=[
                    Request.CreatePartitionsTopic(name=n, count=count, assignments=None)
                    for n in names
                ],
                timeout_ms=int(self.timeout * 1000),
                validate_only=False,
            ),
        )
        for result in answer.results:
            if result.error_code:
                detail = result.error_message or ErrorCode(result.error_code).name
                raise TopicRefused(detail, result.error_code)

    def delete(self, names: list[str]) -> None:
        Request = messages.request_type(ApiKey.DELETE_TOPICS)
        answer = self.bootstrap.request(
            ApiKey.DELETE_TOPICS,
            Request(topic_names=names, timeout_ms=int(self.timeout * 1000)),
        )
        for result in answer.responses:
            if result.error_code:
                detail = getattr(result, "error_message", None) or ErrorCode(result.error_code).name
                raise TopicRefused(f"topic {result.name}: {detail}", result.error_code)


# ---- text ----


def describe_lines(topics: list[TopicView], keep=None) -> list[str]:
    """kafka-topics --describe: a topic line, then one line per partition; with a
    partition filter (`keep(topic, partition)`) only the partition lines it keeps,
    as Kafka prints them."""
    lines = []
    for t in topics:
        if keep is None:
            configs = ",".join(f"{k}={v}" for k, v in sorted(t.configs.items()))
            lines.append(
                f"Topic: {t.name}\tTopicId: {t.topic_id}\tPartitionCount: {len(t.partitions)}\t"
                f"ReplicationFactor: {t.replication_factor}\tConfigs: {configs}"
            )
        for p in t.partitions:
            if keep is not None and not keep(t, p):
                continue
            leader = p.leader if p.leader >= 0 else "none"
            lines.append(
                f"\tTopic: {t.name}\tPartition: {p.partition}\tLeader: {leader}\t"
                f"Replicas: {','.join(map(str, p.replicas))}\tIsr: {','.join(map(str, p.isr))}"
                # Kafka 3.9 prints the KIP-966 fields, N/A without eligible leader replicas.
                "\tElr: N/A\tLastKnownElr: N/A"
            )
    return lines


def topic_document(t: TopicView) -> dict:
    return {
        "topic": t.name,
        "topic_id": t.topic_id,
        "internal": t.internal,
        "partition_count": len(t.partitions),
        "replication_factor": t.replication_factor,
        "configs": t.configs,
        "min_insync_replicas": t.min_isr,
        "partitions": [
            {
                "partition": p.partition,
                "leader": p.leader if p.leader >= 0 else None,
                "replicas": p.replicas,
                "isr": p.isr,
                "offline": p.offline,
                "under_replicated": p.under_replicated,
            }
            for p in t.partitions
        ],
    }


# ---- command line ----


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "topics", help="create, list, describe, alter and delete topics (kafka-topics.sh)"
    )
    actions = parser.add_mutually_exclusive_group(required=True)
    for name in ("create", "list", "describe", "alter", "delete"):
        actions.add_argument(f"--{name}", action="store_true")
    parser.add_argument("--topic", help="the topic (a regex except for --create)")
    parser.add_argument("--partitions", type=int, help="partition count (create, alter)")
    parser.add_argument("--replication-factor", type=int, help="for --create")
    parser.add_argument(
        "--config", action="append", default=[], metavar="KEY=VALUE", help="for --create"
    )
    parser.add_argument(
        "--if-not-exists", action="store_true", help="--create: no error if it does"
    )
    parser.add_argument(
        "--if-exists", action="store_true", help="alter/delete/describe: no error if not"
    )
    parser.add_argument("--exclude-internal", action="store_true", help="leave internal topics out")
    only = parser.add_mutually_exclusive_group()
    only.add_argument(
        "--under-replicated-partitions",
        action="store_true",
        help="--describe: only partitions whose ISR is smaller than their replicas",
    )
    only.add_argument(
        "--unavailable-partitions", action="store_true", help="--describe: only leaderless ones"
    )
    only.add_argument(
        "--under-min-isr-partitions",
        action="store_true",
        help="--describe: only partitions whose ISR is below min.insync.replicas",
    )
    only.add_argument(
        "--at-min-isr-partitions",
        action="store_true",
        help="--describe: only partitions whose ISR is exactly min.insync.replicas",
    )
    add_connection_arguments(parser)
    add_output_argument(parser)
    parser.set_defaults(run=lambda args: run(main, args))


def main(args: argparse.Namespace) -> int:
    needs_topic = args.create or args.alter or args.delete
    if needs_topic and not args.topic:
        raise UsageError("--topic is required with --create, --alter and --delete")
    if args.alter and args.partitions is None:
        raise UsageError("--alter needs --partitions")
    json_out = args.output == "json"
    with TopicsTool(args.bootstrap_server, args.timeout) as tool:
        if args.create:
            configs = parse_properties(args.config, "--config")
            if "." in args.topic or "_" in args.topic:
                print(
                    "WARNING: Due to limitations in metric names, topics with a period ('.') "
                    "or underscore ('_') could collide. To avoid issues it is best to use "
                    "either, but not both.",
                    file=sys.stderr,
                )
            try:
                tool.create(
                    args.topic,
                    args.partitions if args.partitions is not None else -1,
                    args.replication_factor if args.replication_factor is not None else -1,
                    configs,
                )
            except TopicRefused as exc:
                if exc.error_code == ErrorCode.TOPIC_ALREADY_EXISTS and args.if_not_exists:
                    return 0
                raise
            if json_out:
                print_json({"created": args.topic})
            else:
                print(f"Created topic {args.topic}.")
            return 0
        include_internal = not args.exclude_internal
        if args.list:
            names = [t.name for t in tool.matching(args.topic, include_internal, if_exists=True)]
            if json_out:
                print_json({"topics": names})
            elif names:
                print("\n".join(names))
            return 0
        chosen = tool.matching(args.topic, include_internal, args.if_exists)
        names = [t.name for t in chosen]
        if args.alter:
            if names:
                tool.alter_partitions(names, args.partitions)
            if json_out:
                print_json({"altered": names, "partitions": args.partitions})
            return 0
        if args.delete:
            internal = [t.name for t in chosen if t.internal]
            if internal:
                raise ToolError(
                    f"Topic {internal[0]} is a kafka internal topic and is not allowed to be "
                    "marked for deletion."
                )
            if names:
                tool.delete(names)
            if json_out:
                print_json({"deleted": names})
            return 0
        tool.add_configs(chosen)
        keep = next((f for name, f in PARTITION_FILTERS.items() if getattr(args, name)), None)
        if json_out:
            if keep is not None:
                for t in chosen:
                    t.partitions = [p for p in t.partitions if keep(t, p)]
            print_json({"topics": [topic_document(t) for t in chosen]})
            return 0
        lines = describe_lines(chosen, keep)
        if lines:
            print("\n".join(lines))
    return 0
