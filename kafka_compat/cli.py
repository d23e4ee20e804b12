"""`kafka-compat` command line: `serve` starts a broker, `groups` inspects consumer groups.

    kafka-compat serve [--config server.properties] [--host H] [--port P]
                       [--advertised-host H] [--advertised-port P] [--data-dir D]
                       [--zookeeper HOST:PORT[/chroot] --broker-id N]
                       [--http-port N] [--override key=value ...]
    kafka-compat groups list [--state STATE ...] --bootstrap-server HOST:PORT
    kafka-compat groups describe GROUP --bootstrap-server HOST:PORT
    kafka-compat transactions list [--state S ...] [--producer-id ID ...] --bootstrap-server H:P
    kafka-compat transactions describe --transactional-id ID --bootstrap-server HOST:PORT
    kafka-compat transactions describe-producers --topic T --partition P --bootstrap-server H:P
    kafka-compat transactions abort --topic T --partition P (--start-offset O |
                 --producer-id ID --producer-epoch E --coordinator-epoch C) --bootstrap-server H:P
    kafka-compat users list|describe USER...|set-password USER [--mechanism M]
                 [--iterations N] [--password P]|delete USER [--mechanism M] --bootstrap-server H:P
    kafka-compat acls list [--topic T | --group G | --transactional-id ID | --cluster]
                 [--resource-pattern-type literal|prefixed|match|any] --bootstrap-server H:P
    kafka-compat acls add|remove --allow-principal User:NAME [--operation OP ...]
                 [--allow-host H] [--deny-principal P] (--topic T | --group G | ...)
                 [--resource-pattern-type literal|prefixed] --bootstrap-server H:P
    kafka-compat dev-cluster [--brokers 3] [--base-port 9092] [--data-dir ./dev-cluster]

Flags override the file; the file uses Kafka's key names. `--zookeeper` (the
`zookeeper.connect` key) joins a cluster coordinated by that ZooKeeper as broker
`--broker-id` (`broker.id`); SIGTERM then first moves this broker's leaderships
away (controlled shutdown) and stops after. An invalid value stops
start-up with a message naming the key (exit status 2). `groups` talks to any
broker over the Kafka protocol, like kafka-consumer-groups.sh: `describe` prints the
members with their assignments, then each partition's committed offset, log end
offset and lag (exit status 1 if the group does not exist or the broker refuses). `transactions`
is kafka-transactions.sh: transactional ids and their state, a partition's producers,
and aborting a hanging transaction (exit status 1 when the broker refuses).
`users` manages SCRAM users like kafka-configs.sh --entity-type users (the password
is salted before it leaves; without --password it is read from the terminal or stdin). `acls`
is kafka-acls.sh over CreateAcls/DescribeAcls/DeleteAcls (kafka_compat/tools/acls.py).
`dev-cluster` starts a ZooKeeper and N brokers on loopback (kafka_compat/devcluster.py).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import trio

from kafka_compat.config import BrokerConfig, ConfigError, load_broker_config

DEFAULT_HTTP_HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 9644


def _serve_overrides(args: argparse.Namespace, base: BrokerConfig) -> dict[str, str]:
    """Translate flags to server.properties keys, keeping the file's other parts."""
    overrides: dict[str, str] = {}
    # --host/--port (--advertised-*) move the first listener, keeping its name (and so
    # its security protocol) and the other listeners.
    first = base.listeners[0].listener
    if args.host is not None or args.port is not None:
        host = args.host if args.host is not None else base.host
        port = args.port if args.port is not None else base.port
        rest = [f"{e.listener}://{e.host}:{e.port}" for e in base.listeners[1:]]
        overrides["listeners"] = ",".join([f"{first}://{host}:{port}", *rest])
    if args.advertised_host is not None or args.advertised_port is not None:
        host = args.advertised_host if args.advertised_host is not None else base.advertised_host
        port = args.advertised_port if args.advertised_port is not None else base.advertised_port
        rest = [f"{e.listener}://{e.host}:{e.port}" for e in base.advertised_listeners[1:]]
        overrides["advertised.listeners"] = ",".join([f"{first}://{host}:{port}", *rest])
    if args.data_dir is not None:
        overrides["log.dirs"] = args.data_dir
    if args.zookeeper is not None:
        overrides["zookeeper.connect"] = args.zookeeper
    if args.broker_id is not None:
        overrides["broker.id"] = str(args.broker_id)
    # The HTTP listener (/metrics): on for `serve` at 127.0.0.1:9644 unless the file
    # sets http.listener; --http-port N moves it (same host), 0 turns it off.
    http = base["http.listener"]
    http_port = getattr(args, "http_port", None)  # callers may build args by hand
    if http_port is not None:
        host = http[0] if http is not None else DEFAULT_HTTP_HOST
        overrides["http.listener"] = f"{host}:{http_port}" if http_port else ""
    elif "http.listener" not in base.explicit:
        overrides["http.listener"] = f"{DEFAULT_HTTP_HOST}:{DEFAULT_HTTP_PORT}"
    for item in args.override:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--override expects key=value, got {item!r}")
        overrides[key.strip()] = value.strip()
    return overrides


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kafka-compat", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run a broker")
    serve.add_argument("--config", help="server.properties file (Kafka key names)")
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default 9092)")
    serve.add_argument("--advertised-host", help="host clients are told to connect to")
    serve.add_argument("--advertised-port", type=int, help="port clients are told to use")
    serve.add_argument("--data-dir", help="log directory (default ./data)")
    serve.add_argument(
        "--zookeeper", metavar="HOST:PORT[/chroot]", help="join this ZooKeeper's cluster"
    )
    serve.add_argument("--broker-id", type=int, help="this broker's id (broker.id)")
    serve.add_argument(
        "--http-port",
        type=int,
        help="HTTP listener port for /metrics (http.listener; default 9644; 0: off)",
    )
    serve.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any server.properties key, e.g. --override num.partitions=3",
    )
    serve.add_argument("--log-level", default="INFO")

    groups = commands.add_parser("groups", help="list and describe consumer groups")
    group_commands = groups.add_subparsers(dest="groups_command", required=True)
    listing = group_commands.add_parser("list", help="every group, with its state")
    listing.add_argument(
        "--state", action="append", default=[], help="only groups in this state (repeatable)"
    )
    describe = group_commands.add_parser(
        "describe", help="members, assignments and lag per partition"
    )
    describe.add_argument("group", help="the group id")
    for sub in (listing, describe):
        sub.add_argument("--bootstrap-server", required=True, metavar="HOST:PORT")
        sub.add_argument(
            "--timeout", type=float, default=10.0, help="seconds to wait for the broker"
        )

    _add_transactions_parser(commands)
    from kafka_compat.tools.users import add_parser as add_users_parser

    add_users_parser(commands)
    _add_acls_parser(commands)

    dev_cluster = commands.add_parser(
        "dev-cluster", help="a local ZooKeeper and N brokers, until Ctrl-C"
    )
    from kafka_compat.devcluster import add_arguments

    add_arguments(dev_cluster)
    return parser


def _add_transactions_parser(commands) -> None:
    txns = commands.add_parser("transactions", help="inspect transactions, abort hanging ones")
    txn_commands = txns.add_subparsers(dest="transactions_command", required=True)
    listing = txn_commands.add_parser("list", help="every transactional id, with its state")
    listing.add_argument("--state", action="append", default=[], help="repeatable")
    listing.add_argument("--producer-id", type=int, action="append", default=[])
    describe = txn_commands.add_parser("describe", help="one transactional id in detail")
    describe.add_argument("--transactional-id", required=True)
    producers = txn_commands.add_parser(
        "describe-producers", help="the active producers of a partition"
    )
    abort = txn_commands.add_parser("abort", help="abort a hanging transaction")
    for sub in (producers, abort):
        sub.add_argument("--topic", required=True)
        sub.add_argument("--partition", type=int, required=True)
    abort.add_argument("--start-offset", type=int, help="where the transaction starts")
    abort.add_argument("--producer-id", type=int)
    abort.add_argument("--producer-epoch", type=int)
    abort.add_argument("--coordinator-epoch", type=int)
    for sub in (listing, describe, producers, abort):
        sub.add_argument("--bootstrap-server", required=True, metavar="HOST:PORT")
        sub.add_argument(
            "--timeout", type=float, default=10.0, help="seconds to wait for the broker"
        )


def _add_acls_parser(commands) -> None:
    from kafka_compat.tools import acls

    parser = commands.add_parser("acls", help="list, add and remove ACLs (kafka-acls.sh)")
    acl_commands = parser.add_subparsers(dest="acls_command", required=True)
    for name, help_text in (
        ("list", "the ACLs matching the resources given (every ACL without one)"),
        ("add", "add ACLs"),
        ("remove", "remove the ACLs matching"),
    ):
        sub = acl_commands.add_parser(name, help=help_text)
        acls.add_arguments(sub, listing=name == "list")
        sub.add_argument("--bootstrap-server", required=True, metavar="HOST:PORT")
        sub.add_argument(
            "--timeout", type=float, default=10.0, help="seconds to wait for the broker"
        )


def _acls(args: argparse.Namespace) -> int:
    from kafka_compat.tools import acls
    from kafka_compat.tools.connection import ToolError

    try:
        print(acls.run(args))
    except ToolError as exc:
        print(f"kafka-compat: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "acls":
        return _acls(args)
    if args.command == "groups":
        return _groups(args)
    if args.command == "transactions":
        return _transactions(args)
    if args.command == "users":
        from kafka_compat.tools import users

        return users.main(args)
    if args.command == "dev-cluster":
        from kafka_compat import devcluster

        return devcluster.main(args)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="[%(asctime)s] %(levelname)s %(name)s: %(message)s",
    )
    try:
        base = load_broker_config(args.config, {})
        config = load_broker_config(args.config, _serve_overrides(args, base))
    except ConfigError as exc:
        print(f"kafka-compat: {exc}", file=sys.stderr)
        return 2
    from kafka_compat.broker import Broker
    from storage.log_dirs import LogDirError

    try:
        return trio.run(_serve_until_signalled, Broker(config))
    except (OSError, ConfigError, LogDirError, BaseExceptionGroup) as exc:
        # Typically the listen address is taken or the data dir is not writable, or the
        # log dirs disagree (meta.properties, a partition in two of them): one line.
        cause = exc
        while isinstance(cause, BaseExceptionGroup) and len(cause.exceptions) == 1:
            cause = cause.exceptions[0]
        if not isinstance(cause, (OSError, ConfigError, LogDirError)):
            raise
        print(f"kafka-compat: {cause}", file=sys.stderr)
        return 1


def _groups(args: argparse.Namespace) -> int:
    from kafka_compat.tools.connection import ToolError
    from kafka_compat.tools.groups import GroupTool, format_group, format_groups

    try:
        with GroupTool(args.bootstrap_server, args.timeout) as tool:
            if args.groups_command == "list":
                print(format_groups(tool.list_groups(args.state)))
                return 0
            view = tool.describe_group(args.group)
    except ToolError as exc:
        print(f"kafka-compat: {exc}", file=sys.stderr)
        return 1
    if view is None:
        print(f"kafka-compat: consumer group '{args.group}' does not exist", file=sys.stderr)
        return 1
    print(format_group(view))
    return 0


def _transactions(args: argparse.Namespace) -> int:
    from kafka_compat.tools import transactions as txn
    from kafka_compat.tools.connection import ToolError

    command = args.transactions_command
    if command == "abort" and args.start_offset is None:
        given = (args.producer_id, args.producer_epoch, args.coordinator_epoch)
        if None in given:
            print(
                "kafka-compat: abort needs --start-offset, or --producer-id, "
                "--producer-epoch and --coordinator-epoch",
                file=sys.stderr,
            )
            return 2
    try:
        with txn.TransactionTool(args.bootstrap_server, args.timeout) as tool:
            if command == "list":
                print(txn.format_transactions(tool.list_transactions(args.state, args.producer_id)))
            elif command == "describe":
                print(txn.format_transaction(tool.describe_transaction(args.transactional_id)))
            elif command == "describe-producers":
                print(txn.format_producers(tool.describe_producers(args.topic, args.partition)))
            else:
                tool.abort(
                    args.topic,
                    args.partition,
                    start_offset=args.start_offset,
                    producer_id=args.producer_id,
                    producer_epoch=args.producer_epoch,
                    coordinator_epoch=args.coordinator_epoch,
                )
    except ToolError as exc:
        print(f"kafka-compat: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve_until_signalled(broker) -> int:
    """Run the broker; SIGINT/SIGTERM cancel it, which is the clean shutdown."""
    async with trio.open_nursery() as nursery:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            nursery.start_soon(broker.serve)
            async for signum in signals:
                logging.getLogger("kafka_compat").info(
                    "Received %s, shutting down", signal.Signals(signum).name
                )
                if broker.cluster_mode and broker.config["controlled.shutdown.enable"]:
                    # A second signal stops at once.
                    with trio.move_on_after(60) as scope:
                        async with trio.open_nursery() as shutdown:
                            shutdown.start_soon(_cancel_on_signal, signals, scope)
                            await broker.controlled_shutdown()
                            shutdown.cancel_scope.cancel()
                nursery.cancel_scope.cancel()
                break
    return 0


async def _cancel_on_signal(signals, scope: trio.CancelScope) -> None:
    async for _ in signals:
        scope.cancel()
        return


if __name__ == "__main__":
    sys.exit(main())
