"""`kafka-compat groups`, like kafka-consumer-groups.sh: list, describe (members,
assignments, lag), reset-offsets (--to-earliest/--to-latest/--to-offset/--to-datetime/
--by-duration/--shift-by/--to-current; a dry run unless --execute) and delete.

Over the tools' blocking client (tools/connection.py): FindCoordinator locates the
group's coordinator,
DescribeGroups and OffsetFetch read the group there, and Metadata plus ListOffsets
(latest) on the partitions' leaders give the log end offsets the lag is measured
against. It works against any broker, ours or Kafka's.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass, field

from kafka_compat.groups import consumer_protocol
from kafka_compat.tools.common import (
    UsageError,
    add_connection_arguments,
    add_output_argument,
    print_json,
    run,
)
from kafka_compat.tools.connection import RETRIABLE, AdminTool, ToolError, dash, table
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

LATEST_TIMESTAMP = -1


@dataclass
class MemberView:
    member_id: str
    group_instance_id: str | None
    client_id: str
    host: str
    partitions: list[tuple[str, int]] | None  # None: not a consumer-protocol assignment


@dataclass
class PartitionView:
    topic: str
    partition: int
    committed: int | None  # None: nothing committed
    log_end_offset: int | None  # None: unknown
    member_id: str | None  # the member it is assigned to

    @property
    def lag(self) -> int | None:
        if self.committed is None or self.log_end_offset is None:
            return None
        return max(self.log_end_offset - self.committed, 0)


@dataclass
class GroupView:
    group_id: str
    state: str
    protocol_type: str
    protocol: str
    members: list[MemberView] = field(default_factory=list)
    partitions: list[PartitionView] = field(default_factory=list)


class GroupTool(AdminTool):
    """The queries behind `kafka-compat groups`, against a bootstrap broker."""

    # The newest version of each request whose answer this tool reads.
    MAX_VERSIONS = {
        ApiKey.METADATA: 12,
        ApiKey.LIST_OFFSETS: 7,
        ApiKey.FIND_COORDINATOR: 4,
        ApiKey.DESCRIBE_GROUPS: 5,
        ApiKey.OFFSET_FETCH: 7,
        ApiKey.LIST_GROUPS: 4,
    }

    # ---- list ----

    def list_groups(self, states: list[str] = ()) -> list[tuple[str, str, str]]:
        """(group id, protocol type, state) of every group on every broker."""
        brokers = self.metadata([]).brokers
        groups: dict[str, tuple[str, str, str]] = {}
        Request = messages.request_type(ApiKey.LIST_GROUPS)
        for broker in brokers:
            connection = self.connect(broker.host, broker.port)
            has_states = connection.version(ApiKey.LIST_GROUPS) >= 4
            if states and not has_states:
                raise ToolError(f"{connection.address} cannot filter groups by state")

            def attempt(connection=connection):
                answer = connection.request(ApiKey.LIST_GROUPS, Request(states_filter=list(states)))
                return answer.error_code, answer

            for g in self.retrying(attempt).groups:
                state = g.group_state if has_states else ""
                groups[g.group_id] = (g.group_id, g.protocol_type, state)
        return sorted(groups.values())

    # ---- describe ----

    def describe_group(self, group_id: str) -> GroupView | None:
        """The group's members, assignments and per-partition lag; None if it does not exist."""
        coordinator = self.coordinator(group_id, 0)
        Describe = messages.request_type(ApiKey.DESCRIBE_GROUPS)

        def describe():
            answer = coordinator.request(ApiKey.DESCRIBE_GROUPS, Describe(groups=[group_id]))
            return answer.groups[0].error_code, answer.groups[0]

        described = self.retrying(describe)
        Fetch = messages.request_type(ApiKey.OFFSET_FETCH)

        def fetch():
            answer = coordinator.request(ApiKey.OFFSET_FETCH, Fetch(group_id=group_id, topics=None))
            return answer.error_code, answer

        committed = {
            (t.name, p.partition_index): p.committed_offset
            for t in self.retrying(fetch).topics
            for p in t.partitions
            if p.committed_offset >= 0
        }
        if described.group_state == "Dead" and not committed:
            return None
        view = GroupView(
            group_id, described.group_state, described.protocol_type, described.protocol_data
        )
        owner: dict[tuple[str, int], str] = {}
        for m in described.members:
            partitions = None
            if described.protocol_type == consumer_protocol.PROTOCOL_TYPE:
                partitions = consumer_protocol.assigned_partitions(m.member_assignment)
            for tp in partitions or ():
                owner[tp] = m.member_id
            view.members.append(
                MemberView(m.member_id, m.group_instance_id, m.client_id, m.client_host, partitions)
            )
        wanted = sorted(set(committed) | set(owner))
        ends = self._log_end_offsets(wanted)
        view.partitions = [
            PartitionView(t, p, committed.get((t, p)), ends.get((t, p)), owner.get((t, p)))
            for t, p in wanted
        ]
        return view

    def _log_end_offsets(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Latest offsets, asked of each partition's leader."""
        if not partitions:
            return {}
        metadata = self.metadata(sorted({t for t, _ in partitions}))
        brokers = {b.node_id: (b.host, b.port) for b in metadata.brokers}
        leaders = {
            (t.name, p.partition_index): p.leader_id for t in metadata.topics for p in t.partitions
        }
        by_leader: dict[int, list[tuple[str, int]]] = {}
        for tp in partitions:
            leader = leaders.get(tp, -1)
            if leader in brokers:
                by_leader.setdefault(leader, []).append(tp)
        Request = messages.request_type(ApiKey.LIST_OFFSETS)
        ends = {}
        for leader, tps in by_leader.items():
            topics: dict[str, list] = {}
            for t, p in tps:
                topics.setdefault(t, []).append(
                    Request.ListOffsetsPartition(partition_index=p, timestamp=LATEST_TIMESTAMP)
                )
            answer = self.connect(*brokers[leader]).request(
                ApiKey.LIST_OFFSETS,
                Request(
                    replica_id=-1,
                    topics=[
                        Request.ListOffsetsTopic(name=t, partitions=ps) for t, ps in topics.items()
                    ],
                ),
            )
            for t in answer.topics:
                for p in t.partitions:
                    if p.error_code == ErrorCode.NONE:
                        ends[(t.name, p.partition_index)] = p.offset
        return ends


# ---- text ----


def format_group(view: GroupView) -> str:
    protocol = f"{view.protocol_type}/{view.protocol}" if view.protocol else view.protocol_type
    lines = [
        f"Group {view.group_id}: state {view.state}, protocol {protocol or '-'}, "
        f"{len(view.members)} members",
        "",
    ]
    if view.members:
        rows = []
        for m in view.members:
            if m.partitions is None:
                assigned = "?"
            else:
                assigned = ",".join(f"{t}-{p}" for t, p in sorted(m.partitions)) or "-"
            rows.append(
                [
                    m.member_id,
                    dash(m.group_instance_id),
                    m.client_id,
                    m.host,
                    "?" if m.partitions is None else str(len(m.partitions)),
                    assigned,
                ]
            )
        lines += table(
            ["MEMBER-ID", "INSTANCE-ID", "CLIENT-ID", "HOST", "#PARTITIONS", "ASSIGNMENT"], rows
        )
    else:
        lines.append(f"Consumer group '{view.group_id}' has no active members.")
    lines.append("")
    rows = [
        [
            p.topic,
            str(p.partition),
            dash(p.committed),
            dash(p.log_end_offset),
            dash(p.lag),
            dash(p.member_id),
        ]
        for p in view.partitions
    ]
    lines += table(
        ["TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "MEMBER-ID"], rows
    )
    return "\n".join(lines)


def format_groups(groups: list[tuple[str, str, str]]) -> str:
    rows = [[g, t or "-", s or "-"] for g, t, s in groups]
    return "\n".join(table(["GROUP", "PROTOCOL-TYPE", "STATE"], rows))


# ---- reset offsets, delete ----

INACTIVE_STATES = ("Empty", "Dead")
EARLIEST_TIMESTAMP = -2


def parse_datetime(text: str) -> int:
    """Kafka's --to-datetime format, YYYY-MM-DDTHH:mm:SS.sss with an optional zone
    (Z, +hh:mm); no zone is local time. Milliseconds since the epoch."""
    from datetime import datetime

    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"Error parsing timestamp {text!r}: expected YYYY-MM-DDTHH:mm:SS.sss[zone]"
        ) from None
    return int(moment.timestamp() * 1000)


def parse_duration(text: str) -> int:
    """Kafka's --by-duration, an ISO-8601 duration (PnDTnHnMn.nS): milliseconds."""
    import re

    match = re.fullmatch(
        r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", text.strip()
    )
    if not match or text.strip() in ("P", "PT"):
        raise UsageError(f"Error parsing duration {text!r}: expected PnDTnHnMnS")
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return int((((days * 24 + hours) * 60 + minutes) * 60 + seconds) * 1000)


def parse_topic_partitions(items: list[str]) -> list[tuple[str, list[int] | None]]:
    """--topic T or T:0,2 (repeatable) -> [(T, None | [0, 2])]."""
    found = []
    for item in items:
        topic, sep, partitions = item.partition(":")
        if not sep:
            found.append((topic, None))
            continue
        try:
            found.append((topic, [int(p) for p in partitions.split(",") if p.strip()]))
        except ValueError:
            raise UsageError(f"--topic {item!r}: partitions must be numbers") from None
    return found


class GroupAdmin(GroupTool):
    MAX_VERSIONS = {
        **GroupTool.MAX_VERSIONS,
        ApiKey.OFFSET_COMMIT: 8,
        ApiKey.DELETE_GROUPS: 2,
    }

    def group_state(self, group_id: str) -> str:
        coordinator = self.coordinator(group_id, 0)
        Describe = messages.request_type(ApiKey.DESCRIBE_GROUPS)

        def describe():
            answer = coordinator.request(ApiKey.DESCRIBE_GROUPS, Describe(groups=[group_id]))
            return answer.groups[0].error_code, answer.groups[0]

        return self.retrying(describe).group_state

    def committed(self, group_id: str) -> dict[tuple[str, int], int]:
        coordinator = self.coordinator(group_id, 0)
        Fetch = messages.request_type(ApiKey.OFFSET_FETCH)

        def fetch():
            answer = coordinator.request(ApiKey.OFFSET_FETCH, Fetch(group_id=group_id, topics=None))
            return answer.error_code, answer

        return {
            (t.name, p.partition_index): p.committed_offset
            for t in self.retrying(fetch).topics
            for p in t.partitions
            if p.committed_offset >= 0
        }

    def plan_reset(
        self,
        group_id: str,
        scope: list[tuple[str, list[int] | None]] | None,
        how: str,
        value: int | None = None,
    ) -> dict[tuple[str, int], int]:
        """The new offset of each partition in scope (None: every partition the group
        has committed offsets for), the way kafka-consumer-groups computes it."""
        state = self.group_state(group_id)
        if state not in INACTIVE_STATES:
            raise ToolError(
                f"Assignments can only be reset if the group '{group_id}' is inactive, "
                f"but the current state is {state}."
            )
        committed = self.committed(group_id)
        if scope is None:
            partitions = sorted(committed)
        else:
            known = self.partitions_of([t for t, _ in scope])
            partitions = []
            for topic, chosen in scope:
                for p in chosen if chosen is not None else known[topic]:
                    if p not in known[topic]:
                        raise ToolError(f"partition {topic}-{p} does not exist")
                    partitions.append((topic, p))
            partitions = sorted(set(partitions))
        if not partitions:
            return {}
        earliest = {
            tp: o for tp, (o, _) in self.list_offsets(partitions, EARLIEST_TIMESTAMP).items()
        }
        latest = {tp: o for tp, (o, _) in self.list_offsets(partitions, LATEST_TIMESTAMP).items()}

        def clamp(tp, offset):
            return min(max(offset, earliest[tp]), latest[tp])

        if how == "earliest":
            return {tp: earliest[tp] for tp in partitions}
        if how == "latest":
            return {tp: latest[tp] for tp in partitions}
        if how == "offset":
            return {tp: clamp(tp, value) for tp in partitions}
        if how == "current":
            return {tp: committed.get(tp, latest[tp]) for tp in partitions}
        if how == "shift":
            plan = {}
            for tp in partitions:
                if tp not in committed:
                    raise ToolError(
                        f"Cannot shift offset for partition {tp[0]}-{tp[1]} since there is "
                        "no current committed offset"
                    )
                plan[tp] = clamp(tp, committed[tp] + value)
            return plan
        if how == "datetime":
            at = self.list_offsets(partitions, value)
            return {tp: at[tp][0] if at[tp][0] >= 0 else latest[tp] for tp in partitions}
        raise ValueError(how)

    def commit(self, group_id: str, offsets: dict[tuple[str, int], int]) -> None:
        commit_offsets(self, group_id, offsets)

    def delete_groups(self, group_ids: list[str]) -> dict[str, int]:
        """Error code per group (0: deleted)."""
        Request = messages.request_type(ApiKey.DELETE_GROUPS)
        results = {}
        for group_id in group_ids:
            coordinator = self.coordinator(group_id, 0)

            def attempt(coordinator=coordinator, group_id=group_id):
                answer = coordinator.request(ApiKey.DELETE_GROUPS, Request(groups_names=[group_id]))
                code = answer.results[0].error_code
                return (code if code in RETRIABLE else 0), code

            results[group_id] = self.retrying(attempt)
        return results


def commit_offsets(tool: AdminTool, group_id: str, offsets: dict[tuple[str, int], int]) -> None:
    """OffsetCommit as a group without members does (generation -1, no member id)."""
    coordinator = tool.coordinator(group_id, 0)
    Request = messages.request_type(ApiKey.OFFSET_COMMIT)
    topics: dict[str, list] = {}
    for (t, p), offset in sorted(offsets.items()):
        topics.setdefault(t, []).append(
            Request.OffsetCommitRequestPartition(
                partition_index=p, committed_offset=offset, committed_metadata=""
            )
        )
    request = Request(
        group_id=group_id,
        generation_id_or_member_epoch=-1,
        member_id="",
        topics=[
            Request.OffsetCommitRequestTopic(name=t, partitions=ps) for t, ps in topics.items()
        ],
    )

    def attempt():
        answer = coordinator.request(ApiKey.OFFSET_COMMIT, request)
        errors = [p.error_code for t in answer.topics for p in t.partitions if p.error_code]
        return (errors[0] if errors else 0), None

    tool.retrying(attempt)


# Kafka's exception names and messages, as kafka-consumer-groups prints a failed deletion.
_DELETE_ERRORS = {
    ErrorCode.NON_EMPTY_GROUP: "org.apache.kafka.common.errors.GroupNotEmptyException: "
    "The group is not empty.",
    ErrorCode.GROUP_ID_NOT_FOUND: "org.apache.kafka.common.errors.GroupIdNotFoundException: "
    "The group id does not exist.",
}


def format_plan(group_id: str, plan: dict[tuple[str, int], int]) -> str:
    rows = [[group_id, t, str(p), str(o)] for (t, p), o in sorted(plan.items())]
    return "\n".join(table(["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"], rows))


# ---- command line ----

_KAFKA_ACTIONS = {"--list": "list", "--describe": "describe", "--reset-offsets": "reset-offsets"}


def kafka_style(argv: list[str]) -> list[str]:
    """kafka-consumer-groups.sh's flags (`groups --describe --group G`, `--list`,
    `--reset-offsets ...`, `--delete --group G`) -> our subcommands, so scripts
    written for Kafka's tool run unchanged."""
    if not argv or argv[0] != "groups" or len(argv) < 2 or not argv[1].startswith("--"):
        return argv
    rest = argv[1:]
    for flag, command in (*_KAFKA_ACTIONS.items(), ("--delete", "delete")):
        if flag in rest:
            rest.remove(flag)
            if command == "describe" and "--group" in rest:
                at = rest.index("--group")
                if at + 1 < len(rest):
                    group = rest[at + 1]
                    del rest[at : at + 2]
                    rest = [group, *rest]
            return ["groups", command, *rest]
    return argv


def add_parser(commands) -> None:
    groups = commands.add_parser(
        "groups", help="list, describe, reset offsets of and delete consumer groups"
    )
    sub = groups.add_subparsers(dest="groups_command", required=True)
    listing = sub.add_parser("list", help="every group, with its state")
    listing.add_argument(
        "--state", action="append", default=[], help="only groups in this state (repeatable)"
    )
    describe = sub.add_parser("describe", help="members, assignments and lag per partition")
    describe.add_argument("group", help="the group id")
    reset = sub.add_parser(
        "reset-offsets", help="move an inactive group's committed offsets (dry run by default)"
    )
    reset.add_argument("--group", required=True)
    scope = reset.add_mutually_exclusive_group(required=True)
    scope.add_argument("--topic", action="append", metavar="TOPIC[:P,P]", help="repeatable")
    scope.add_argument(
        "--all-topics", action="store_true", help="every topic the group has offsets for"
    )
    target = reset.add_mutually_exclusive_group(required=True)
    target.add_argument("--to-earliest", action="store_true")
    target.add_argument("--to-latest", action="store_true")
    target.add_argument("--to-current", action="store_true")
    target.add_argument("--to-offset", type=int, metavar="OFFSET")
    target.add_argument("--shift-by", type=int, metavar="N")
    target.add_argument("--to-datetime", metavar="YYYY-MM-DDTHH:mm:SS.sss")
    target.add_argument(
        "--by-duration", metavar="PnDTnHnMnS", help="to the offsets of this long ago"
    )
    mode = reset.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the plan only (default)")
    mode.add_argument("--execute", action="store_true", help="commit the new offsets")
    delete = sub.add_parser("delete", help="delete inactive groups and their offsets")
    delete.add_argument("--group", action="append", required=True, help="repeatable")
    for parser in (listing, describe, reset, delete):
        add_connection_arguments(parser)
        add_output_argument(parser)
    groups.set_defaults(run=lambda args: run(main, args))


def main(args: argparse.Namespace) -> int:
    json_out = args.output == "json"
    command = args.groups_command
    with GroupAdmin(args.bootstrap_server, args.timeout) as tool:
        if command == "list":
            found = tool.list_groups(args.state)
            if json_out:
                print_json(
                    {"groups": [{"group": g, "protocol_type": t, "state": s} for g, t, s in found]}
                )
            else:
                print(format_groups(found))
            return 0
        if command == "describe":
            view = tool.describe_group(args.group)
            if view is None:
                raise ToolError(f"Consumer group '{args.group}' does not exist.")
            if json_out:
                document = asdict(view)
                for p, partition in zip(document["partitions"], view.partitions, strict=True):
                    p["lag"] = partition.lag
                print_json(document)
            else:
                print(format_group(view))
            return 0
        if command == "delete":
            results = tool.delete_groups(args.group)
            failed = {g: c for g, c in results.items() if c}
            if json_out:
                print_json(
                    {
                        "groups": {
                            g: ErrorCode(c).name if c else "deleted" for g, c in results.items()
                        }
                    }
                )
            else:
                deleted = [g for g in args.group if g not in failed]
                if deleted:
                    names = ", ".join(f"'{g}'" for g in deleted)
                    print(f"Deletion of requested consumer groups ({names}) was successful.")
            if failed:
                lines = ["Deletion of some consumer groups failed:"]
                for g, code in failed.items():
                    reason = _DELETE_ERRORS.get(code, ErrorCode(code).name)
                    lines.append(f"* Group '{g}' could not be deleted due to: {reason}")
                raise ToolError("\n".join(lines))
            return 0
        # reset-offsets
        if args.to_earliest:
            how, value = "earliest", None
        elif args.to_latest:
            how, value = "latest", None
        elif args.to_current:
            how, value = "current", None
        elif args.to_offset is not None:
            how, value = "offset", args.to_offset
        elif args.shift_by is not None:
            how, value = "shift", args.shift_by
        elif args.by_duration is not None:
            how = "datetime"
            value = int(time.time() * 1000) - parse_duration(args.by_duration)
        else:
            how, value = "datetime", parse_datetime(args.to_datetime)
        scope = None if args.all_topics else parse_topic_partitions(args.topic)
        plan = tool.plan_reset(args.group, scope, how, value)
        if args.execute:
            tool.commit(args.group, plan)
        elif not args.dry_run:
            print(
                "WARN: No action will be performed as the --execute option is missing. "
                "Add --dry-run to keep this behaviour without the warning.",
                file=sys.stderr,
            )
        if json_out:
            print_json(
                {
                    "group": args.group,
                    "executed": bool(args.execute),
                    "offsets": [
                        {"topic": t, "partition": p, "offset": o}
                        for (t, p), o in sorted(plan.items())
                    ],
                }
            )
        else:
            print(format_plan(args.group, plan))
    return 0
