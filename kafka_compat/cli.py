"""`kafka-compat` command line: `serve` starts a broker.

    kafka-compat serve [--config server.properties] [--host H] [--port P]
                       [--advertised-host H] [--advertised-port P] [--data-dir D]
                       [--override key=value ...]

Flags override the file; the file uses Kafka's key names. An invalid value stops
start-up with a message naming the key (exit status 2).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import trio

from kafka_compat.config import BrokerConfig, ConfigError, load_broker_config


def _serve_overrides(args: argparse.Namespace, base: BrokerConfig) -> dict[str, str]:
    """Translate flags to server.properties keys, keeping the file's other parts."""
    overrides: dict[str, str] = {}
    if args.host is not None or args.port is not None:
        host = args.host if args.host is not None else base.host
        port = args.port if args.port is not None else base.port
        overrides["listeners"] = f"PLAINTEXT://{host}:{port}"
    if args.advertised_host is not None or args.advertised_port is not None:
        host = args.advertised_host if args.advertised_host is not None else base.advertised_host
        port = args.advertised_port if args.advertised_port is not None else base.advertised_port
        overrides["advertised.listeners"] = f"PLAINTEXT://{host}:{port}"
    if args.data_dir is not None:
        overrides["log.dirs"] = args.data_dir
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
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any server.properties key, e.g. --override num.partitions=3",
    )
    serve.add_argument("--log-level", default="INFO")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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

    try:
        return trio.run(_serve_until_signalled, Broker(config))
    except OSError as exc:
        # Typically the listen address is taken or the data dir is not writable.
        print(f"kafka-compat: {exc}", file=sys.stderr)
        return 1


async def _serve_until_signalled(broker) -> int:
    """Run the broker; SIGINT/SIGTERM cancel it, which is the clean shutdown."""
    async with trio.open_nursery() as nursery:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            nursery.start_soon(broker.serve)
            async for signum in signals:
                logging.getLogger("kafka_compat").info(
                    "Received %s, shutting down", signal.Signals(signum).name
                )
                nursery.cancel_scope.cancel()
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
