"""kafka-compat: a Kafka broker (`serve`) and Kafka's command-line tools.

The tools talk to any broker over the Kafka protocol, like Kafka's scripts.

    kafka-compat serve [--config server.properties] [--host H] [--port P]
                       [--advertised-host H] [--advertised-port P] [--data-dir D]
                       [--zookeeper HOST:PORT[/chroot] --broker-id N]
                       [--http-port N] [--override key=value ...]
                       [--add-scram 'SCRAM-SHA-512=[name=USER,password=PASSWORD]' ...]
                       [--dev-tls [--dev-tls-port 9093] [--dev-tls-host NAME ...]
                        [--dev-user NAME:PASSWORD]]
    kafka-compat certs [--data-dir D] [--host NAME ...] [--dev-user NAME:PASSWORD]
    kafka-compat topics --create|--list|--describe|--alter|--delete [--topic REGEX]
                 [--partitions N] [--replication-factor R] [--config K=V ...]
                 [--if-not-exists] [--if-exists] [--under-replicated-partitions |
                 --unavailable-partitions | --under-min-isr-partitions | --at-min-isr-partitions]
    kafka-compat configs --describe|--alter --entity-type topics|brokers|broker-loggers
                 (--entity-name N | --entity-default) [--all]
                 [--add-config K=V,K2=[A,B]] [--delete-config K,K2]
    kafka-compat groups list [--state S ...] | describe GROUP | delete --group G ...
                 (or kafka-consumer-groups.sh's --list, --describe --group G, --delete)
    kafka-compat groups reset-offsets --group G (--topic T[:P,P] ... | --all-topics)
                 (--to-earliest | --to-latest | --to-current | --to-offset N |
                  --shift-by N | --to-datetime YYYY-MM-DDTHH:mm:SS.sss | --by-duration PnDTnHnMnS)
                 [--dry-run | --execute]
    kafka-compat produce --topic T [--property parse.key=true ...] [--partition P]
                 [--format text|json|hex] [--acks -1|0|1] [--compression-type C]   (stdin)
    kafka-compat consume (--topic T | --include REGEX) [--group G] [--from-beginning]
                 [--partition P --offset earliest|latest|N] [--max-messages N] [--timeout-ms MS]
                 [--property print.key=true ...] [--format text|json|hex]
    kafka-compat offsets [--topic REGEX] [--partitions 0,2-4] [--time -1|-2|-3|MS]
    kafka-compat dump-log --files FILE_OR_DIR[,...] [--deep-iteration] [--print-data-log]
                 [--offsets-decoder | --transaction-log-decoder]
    kafka-compat transactions list [--state S ...] [--producer-id ID ...]
    kafka-compat transactions describe --transactional-id ID
    kafka-compat transactions describe-producers --topic T --partition P
    kafka-compat transactions abort --topic T --partition P (--start-offset O |
                 --producer-id ID --producer-epoch E --coordinator-epoch C)
    kafka-compat users list|describe USER...|set-password USER [--mechanism M]
                 [--iterations N] [--password P]|delete USER [--mechanism M]
    kafka-compat acls list|add|remove ... (kafka-acls.sh)
    kafka-compat quotas describe|alter [--entity-type users|clients|ips (--entity-name N |
                 --entity-default)]... [--add-config K=V,...] [--delete-config K,...]
                 (kafka-configs.sh --entity-type users|clients|ips)
    kafka-compat dev-cluster [--brokers 3] [--base-port 9092] [--data-dir ./dev-cluster]
    kafka-compat --version

Flags override the file; the file uses Kafka's key names. `--zookeeper` (the
`zookeeper.connect` key) joins a cluster coordinated by that ZooKeeper as broker
`--broker-id` (`broker.id`); SIGTERM then first moves this broker's leaderships
away (controlled shutdown) and stops after. An invalid value stops
start-up with a message naming the key (exit status 2); a listener that cannot bind
(its port taken) with one naming the listener and its address (exit status 1).

The tools (kafka_compat/tools/<tool>.py, most with their own `add_parser`) take
`--bootstrap-server HOST:PORT` (default localhost:9092), `--command-config FILE`
(Kafka's client properties for TLS and SASL PLAIN/SCRAM, tools/security.py) and
`--output json` (one JSON document on stdout, for scripts).
Exit status: 0 done, 1 the broker refused or something named does not exist (the
message on stderr, in Kafka's words), 2 a usage error. `dump-log` reads a data dir
directly, no broker needed. `users` salts a password before it leaves (without
--password it is read from the terminal or stdin). `quotas` is kafka-configs.sh's
client quotas (DescribeClientQuotas/AlterClientQuotas). `--add-scram` creates a
SCRAM user before the listeners open unless it has a credential for that mechanism
(Kafka's `kafka-storage format --add-scram`, KIP-900): the first user of a single node
whose listeners all need a login. `--dev-tls` adds a SASL_SSL listener with
SCRAM-SHA-256/512, generated certificates and a SCRAM user to the PLAINTEXT one, and
prints client configs; `certs` only makes the files (kafka_compat/tools/dev_tls.py).
`dev-cluster` starts a ZooKeeper and N brokers on loopback (kafka_compat/devcluster.py).
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys

from kafka_compat.config import BrokerConfig, ConfigError, advertisable, load_broker_config
from kafka_compat.security.listeners import Endpoint

DEFAULT_HTTP_HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 9644


def _serve_overrides(args: argparse.Namespace, base: BrokerConfig) -> dict[str, str]:
    """Translate flags to server.properties keys, keeping the file's other parts.
    `base`: the file with the --override keys applied (`override_items(args)`)."""
    overrides: dict[str, str] = {}
    # --host/--port (--advertised-*) move the first listener, keeping its name (and so
    # its security protocol) and the other listeners.
    first = base.listeners[0]
    host = args.host if args.host is not None else first.host
    port = args.port if args.port is not None else first.port
    if args.host is not None or args.port is not None:
        rest = [f"{e.listener}://{e.host}:{e.port}" for e in base.listeners[1:]]
        overrides["listeners"] = ",".join([f"{first.listener}://{host}:{port}", *rest])
    if args.advertised_host is not None or args.advertised_port is not None:
        # As Kafka's advertised.listeners defaults to listeners: unless advertised.listeners
        # names it, the first listener is advertised where it listens (--host/--port too).
        if _advertises(base, first.listener):
            advertised = (base.advertised_host, base.advertised_port)
        else:
            moved = advertisable(Endpoint(first.listener, host, port, first.protocol))
            advertised = (moved.host, moved.port)
        host = args.advertised_host if args.advertised_host is not None else advertised[0]
        port = args.advertised_port if args.advertised_port is not None else advertised[1]
        rest = [f"{e.listener}://{e.host}:{e.port}" for e in base.advertised_listeners[1:]]
        overrides["advertised.listeners"] = ",".join([f"{first.listener}://{host}:{port}", *rest])
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
    # --override wins over the other flags, except for the listeners they moved: those
    # were built from `base`, which has the --override listeners already.
    for key, value in override_items(args).items():
        if key not in ("listeners", "advertised.listeners") or key not in overrides:
            overrides[key] = value
    return overrides


def override_items(args: argparse.Namespace) -> dict[str, str]:
    """serve's `--override key=value` items."""
    items = {}
    for item in args.override:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--override expects key=value, got {item!r}")
        items[key.strip()] = value.strip()
    return items


def _advertises(config: BrokerConfig, listener: str) -> bool:
    """Whether advertised.listeners (the file's or an --override) names `listener`."""
    explicit = config.explicit.get("advertised.listeners") or ""
    return any(
        item.strip().upper().startswith(f"{listener.upper()}://") for item in explicit.split(",")
    )


class _VersionAction(argparse.Action):
    """`--version`: the installed distribution's version, looked up only when asked
    (importlib.metadata costs ~10 ms, too much for every start)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"kafka-compat {package_version()}")
        parser.exit()


def package_version() -> str:
    """The version of the installed kafka-compat distribution (its metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kafka-compat")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; given a known `command`, only that subcommand is built
    (the others' options need imports, and argparse time, that `serve` should not pay
    at start-up); otherwise every name, for --help and the error that lists them."""
    parser = argparse.ArgumentParser(
        prog="kafka-compat",
        description=__doc__.splitlines()[0],
        epilog="Tools: --bootstrap-server HOST:PORT (default localhost:9092), --output json; "
        "exit status 0 done, 1 refused or not found, 2 usage error. "
        "`kafka-compat <command> --help` for each.",
    )
    parser.add_argument("--version", action=_VersionAction, help="print the version and exit")
    commands = parser.add_subparsers(dest="command", required=True)
    known = command in _COMMANDS
    for name, (help_text, build) in _COMMANDS.items():
        if command is None or command == name:
            build(commands, name, help_text)
        elif not known:
            commands.add_parser(name, help=help_text)
    return parser


def _add_serve_parser(commands, name: str, help_text: str) -> None:
    serve = commands.add_parser(name, help=help_text)
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
    serve.add_argument(
        "--add-scram",
        action="append",
        default=[],
        metavar="'MECHANISM=[name=USER,password=PASSWORD]'",
        help="create this SCRAM user before listening unless it has a credential for "
        "the mechanism (kafka-storage format --add-scram); repeatable",
    )
    serve.add_argument("--log-level", default="INFO")
    dev = serve.add_argument_group("development TLS (kafka_compat/tools/dev_tls.py)")
    dev.add_argument(
        "--dev-tls",
        action="store_true",
        help="add a SASL_SSL listener (SCRAM-SHA-256/512) with generated certificates "
        "and a SCRAM user, and print client configs; PLAINTEXT stays",
    )
    dev.add_argument("--dev-tls-port", type=int, default=9093, help="its port (9093)")
    dev.add_argument(
        "--dev-tls-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another name or address for the broker certificate (repeatable)",
    )
    dev.add_argument(
        "--dev-user", metavar="NAME:PASSWORD", help="the SCRAM user (default dev, generated)"
    )


def _tool_parser(module: str):
    """A builder for a tool whose module defines `add_parser(commands)` (imported only
    when that tool runs: `serve` should not pay for the tools)."""

    def build(commands, name: str, help_text: str) -> None:
        import importlib

        importlib.import_module(f"kafka_compat.tools.{module}").add_parser(commands)

    return build


def _add_certs_parser(commands, name: str, help_text: str) -> None:
    certs = commands.add_parser(name, help=help_text)
    certs.add_argument("--data-dir", default="./data", help="files go to DATA_DIR/dev-tls")
    certs.add_argument(
        "--host", action="append", default=[], help="a name for the broker certificate"
    )
    certs.add_argument("--dev-user", metavar="NAME:PASSWORD")


def _add_dev_cluster_parser(commands, name: str, help_text: str) -> None:
    from kafka_compat.devcluster import add_arguments

    add_arguments(commands.add_parser(name, help=help_text))


def _add_transactions_parser(commands, name: str, help_text: str) -> None:
    from kafka_compat.tools.common import add_connection_arguments, add_output_argument

    txns = commands.add_parser(name, help=help_text)
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
        add_connection_arguments(sub)
        add_output_argument(sub)


def _add_acls_parser(commands, name: str, help_text: str) -> None:
    from kafka_compat.tools import acls
    from kafka_compat.tools.common import add_connection_arguments, add_output_argument

    parser = commands.add_parser(name, help=help_text)
    acl_commands = parser.add_subparsers(dest="acls_command", required=True)
    for action, action_help in (
        ("list", "the ACLs matching the resources given (every ACL without one)"),
        ("add", "add ACLs"),
        ("remove", "remove the ACLs matching"),
    ):
        sub = acl_commands.add_parser(action, help=action_help)
        acls.add_arguments(sub, listing=action == "list")
        add_connection_arguments(sub)
        add_output_argument(sub)


# name: (help, builder); `kafka-compat --help` lists them in this order.
_COMMANDS = {
    "serve": ("run a broker", _add_serve_parser),
    "topics": (
        "create, list, describe, alter and delete topics (kafka-topics.sh)",
        _tool_parser("topics"),
    ),
    "configs": (
        "describe and alter topic and broker configs (kafka-configs.sh)",
        _tool_parser("configs"),
    ),
    "groups": (
        "list, describe, reset offsets of and delete consumer groups",
        _tool_parser("groups"),
    ),
    "produce": (
        "send stdin lines as records (kafka-console-producer.sh)",
        _tool_parser("produce"),
    ),
    "consume": ("print records of a topic (kafka-console-consumer.sh)", _tool_parser("consume")),
    "offsets": ("partitions' offsets at a time (kafka-get-offsets.sh)", _tool_parser("offsets")),
    "dump-log": (
        "print segments, indexes, snapshots, checkpoints (kafka-dump-log.sh)",
        _tool_parser("dump_log"),
    ),
    "transactions": ("inspect transactions, abort hanging ones", _add_transactions_parser),
    "users": ("SCRAM users: list, describe, set passwords", _tool_parser("users")),
    "acls": ("list, add and remove ACLs (kafka-acls.sh)", _add_acls_parser),
    "quotas": ("client quotas: describe, alter", _tool_parser("quotas")),
    "certs": ("make the --dev-tls files (CA, broker and client certificates)", _add_certs_parser),
    "dev-cluster": ("a local ZooKeeper and N brokers, until Ctrl-C", _add_dev_cluster_parser),
}


def _acls(args: argparse.Namespace) -> int:
    from kafka_compat.tools import acls
    from kafka_compat.tools.common import print_json
    from kafka_compat.tools.connection import ToolError

    try:
        text, document = acls.execute(args)
        if args.output == "json":
            print_json(document)
        else:
            print(text)
    except ToolError as exc:
        print(f"kafka-compat: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and not argv[0].startswith("-") else None
    if command == "groups":
        from kafka_compat.tools.groups import kafka_style

        argv = kafka_style(argv)
    parser = build_parser(command)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # argparse reports a subcommand's unknown arguments with the top level's usage,
        # which on the fast path lists that command alone: use the command's own.
        _chosen_parser(parser, args).error(f"unrecognized arguments: {' '.join(unknown)}")
    if getattr(args, "command_config", None):
        from kafka_compat.tools import security
        from kafka_compat.tools.connection import AdminTool

        try:
            props = security.read_properties(args.command_config)
            AdminTool.security = security.from_properties(props)
        except security.LoginError as exc:
            print(f"kafka-compat: {exc}", file=sys.stderr)
            return 2
        try:
            return _run_command(args)
        finally:
            AdminTool.security = None
    return _run_command(args)


def _chosen_parser(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> argparse.ArgumentParser:
    """The innermost (sub)parser `args` went through: `kafka-compat serve`,
    `kafka-compat transactions list`."""
    while True:
        commands = next(
            (a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None
        )
        if commands is None or getattr(args, commands.dest, None) not in commands.choices:
            return parser
        parser = commands.choices[getattr(args, commands.dest)]


def _run_command(args: argparse.Namespace) -> int:
    if getattr(args, "run", None) is not None:
        return args.run(args)
    if args.command == "acls":
        return _acls(args)
    if args.command == "transactions":
        return _transactions(args)
    if args.command == "users":
        from kafka_compat.tools import users

        return users.main(args)
    if args.command == "quotas":
        from kafka_compat.tools import quotas

        return quotas.main(args)
    if args.command == "certs":
        return _certs(args)
    if args.command == "dev-cluster":
        from kafka_compat import devcluster

        return devcluster.main(args)
    # Start-up allocates many objects and frees few: the cyclic garbage collector's
    # passes over them are wasted work. Off from here, before Trio and the broker are
    # imported; serving.py turns it back on once the broker listens.
    gc.disable()
    try:
        return _serve(args)
    finally:
        gc.enable()


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(),
        format="[%(asctime)s] %(levelname)s %(name)s: %(message)s",
    )
    try:
        base = load_broker_config(args.config, override_items(args))
        overrides = _serve_overrides(args, base)
        config = load_broker_config(args.config, overrides)
        add_scram = [_parse_add_scram(value) for value in args.add_scram]
        dev_tls = None
        if args.dev_tls:
            dev_tls, dev_overrides = _dev_tls(args, config)
            config = load_broker_config(args.config, {**overrides, **dev_overrides})
    except ConfigError as exc:
        print(f"kafka-compat: {exc}", file=sys.stderr)
        return 2
    from kafka_compat.broker import Broker
    from kafka_compat.serving import serve_until_signalled
    from storage.log_dirs import LogDirError

    broker = Broker(config)
    broker.bootstrap_scram += [(user, m, password, False) for m, user, password in add_scram]
    if dev_tls is not None:
        for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
            broker.bootstrap_scram.append((dev_tls.user, mechanism, dev_tls.password, True))

    def announce() -> None:  # once the broker listens
        if dev_tls is not None:
            _print_dev_tls(broker, dev_tls)

    try:
        return serve_until_signalled(broker, announce)
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


def _transactions(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from kafka_compat.tools import transactions as txn
    from kafka_compat.tools.common import print_json
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
            json_out = args.output == "json"
            if command == "list":
                rows = tool.list_transactions(args.state, args.producer_id)
                keys = ("transactional_id", "coordinator", "producer_id", "state")
                if json_out:
                    print_json({"transactions": [dict(zip(keys, r, strict=True)) for r in rows]})
                else:
                    print(txn.format_transactions(rows))
            elif command == "describe":
                view = tool.describe_transaction(args.transactional_id)
                if json_out:
                    print_json(asdict(view))
                else:
                    print(txn.format_transaction(view))
            elif command == "describe-producers":
                found = tool.describe_producers(args.topic, args.partition)
                if json_out:
                    print_json({"producers": [asdict(p) for p in found]})
                else:
                    print(txn.format_producers(found))
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


def _parse_add_scram(value: str) -> tuple[str, str, str]:
    """KIP-900's 'SCRAM-SHA-512=[name=alice,password=alice-secret]' ->
    (mechanism, user, password)."""
    from kafka_compat.security.credentials import SCRAM_MECHANISMS

    mechanism, sep, rest = value.partition("=")
    mechanism = mechanism.strip().upper()
    fields = {}
    if sep and rest.startswith("[") and rest.endswith("]"):
        for part in rest[1:-1].split(","):
            key, _, field = part.partition("=")
            fields[key.strip()] = field.strip().strip('"')
    if mechanism not in SCRAM_MECHANISMS or not fields.get("name") or not fields.get("password"):
        raise ConfigError(
            f"--add-scram expects 'SCRAM-SHA-256=[name=USER,password=PASSWORD]' (or "
            f"SCRAM-SHA-512), got {value!r}"
        )
    return mechanism, fields["name"], fields["password"]


def _dev_tls(args: argparse.Namespace, config: BrokerConfig):
    """--dev-tls: the files (made or reused) and the keys that add the listener."""
    from kafka_compat.tools import dev_tls

    hosts = [e.host for e in config.listeners] + [e.host for e in config.advertised_listeners]
    try:
        tls = dev_tls.ensure_dev_tls(
            config.log_dirs[0] / "dev-tls", hosts + args.dev_tls_host, args.dev_user
        )
        return tls, dev_tls.broker_overrides(tls, config, args.dev_tls_port)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--dev-tls: {exc}") from exc


def _certs(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kafka_compat.tools import dev_tls

    directory = Path(args.data_dir) / "dev-tls"
    try:
        tls = dev_tls.ensure_dev_tls(directory, args.host, args.dev_user)
        bootstrap = f"localhost:{dev_tls.DEFAULT_PORT}"
        text = dev_tls.write_client_configs(tls, bootstrap)
        (directory / "server.properties").write_text(dev_tls.server_properties(tls))
    except (OSError, ValueError) as exc:
        print(f"kafka-compat: {exc}", file=sys.stderr)
        return 1
    print(f"{'Made ' + ', '.join(tls.made) if tls.made else 'Reused every file'} in {directory}")
    print(f"Broker certificate names: {', '.join(tls.names)}")
    print(f"server.properties keys: {directory / 'server.properties'}")
    print(text)
    return 0


def _print_dev_tls(broker, tls) -> None:
    from kafka_compat.tools import dev_tls

    host, port = broker.components.endpoints[dev_tls.LISTENER]
    state = f"made {', '.join(tls.made)}" if tls.made else "reused"
    # The other listeners as configured (PLAINTEXT on localhost:9092 by default).
    others = ", ".join(
        f"{e.protocol} on {':'.join(map(str, broker.components.endpoints[e.listener]))}"
        + (f" ({e.listener})" if e.listener != e.protocol else "")
        for e in broker.config.listeners
        if e.listener != dev_tls.LISTENER
    )
    print(
        f"--dev-tls: {others}, "
        f"SASL_SSL on {host}:{port}; certificates in {tls.directory} ({state}), "
        f"names {', '.join(tls.names)}",
        flush=True,
    )
    print(dev_tls.write_client_configs(tls, f"{host}:{port}"), flush=True)


if __name__ == "__main__":
    sys.exit(main())
