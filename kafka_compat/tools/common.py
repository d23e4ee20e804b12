"""What every `kafka-compat <tool>` shares: the connection flags, `--output json`,
exit codes, errors on stderr, and a progress bar for long work.

Exit codes, the same for every tool, so scripts can branch on them:
0 done; 1 the broker refused or something named does not exist (the message on
stderr, in Kafka's words where Kafka's tool has them); 2 a usage error (argparse's
own code, and `UsageError` for combinations argparse cannot check).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from kafka_compat.tools.connection import ToolError

DEFAULT_BOOTSTRAP = "localhost:9092"
EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Flags that do not go together (exit status 2)."""


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap-server",
        default=DEFAULT_BOOTSTRAP,
        metavar="HOST:PORT",
        help=f"a broker to talk to (default {DEFAULT_BOOTSTRAP})",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a broker")
    parser.add_argument(
        "--command-config",
        metavar="FILE",
        help="client properties: security.protocol, sasl.mechanism, sasl.jaas.config, ssl.*",
    )


def add_output_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output",
        choices=("text", "json"),
        default="text",
        help="json: one JSON document on stdout, for scripts",
    )


def run(main: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """Call a tool's main; ToolError -> 1, UsageError -> 2, each with its message on stderr."""
    try:
        return main(args) or EXIT_OK
    except UsageError as exc:
        error(str(exc))
        return EXIT_USAGE
    except ToolError as exc:
        error(str(exc))
        return EXIT_REFUSED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # stdout's reader left (`| head`): stop quietly, as Kafka's scripts do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def error(message: str) -> None:
    print(f"kafka-compat: {message}", file=sys.stderr)


def print_json(document: Any) -> None:
    json.dump(document, sys.stdout, indent=None, separators=(",", ":"), default=str)
    sys.stdout.write("\n")


def parse_properties(items: list[str], flag: str = "--property") -> dict[str, str]:
    """`key=value` items (repeatable flags) into a dict; a bare key is refused."""
    found = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"{flag} expects key=value, got {item!r}")
        found[key.strip()] = value
    return found


class Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal (at most
    ten times a second), so pipes and logs never see it."""

    def __init__(self, label: str, total: int | None = None, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.label = label
        self.total = total
        self.done = 0
        self._drawn_at = 0.0

    def advance(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._drawn_at >= 0.1:
            self._drawn_at = now
            self._draw()

    def _draw(self) -> None:
        if self.total:
            share = min(self.done / self.total, 1.0)
            bar = "#" * int(share * 30)
            text = f"\r{self.label} [{bar:<30}] {self.done}/{self.total}"
        else:
            text = f"\r{self.label} {self.done}"
        self.stream.write(text)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.done:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
