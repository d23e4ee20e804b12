"""`kafka-compat serve` at run time: the broker in a Trio loop until SIGINT or SIGTERM.

Apart from cli.py so that the CLI imports Trio only to serve: cli.py turns the cyclic
garbage collector off before that import and this module turns it back on once the
broker listens (start-up allocates many objects and frees few, so the collector's
passes over them were ~10 ms of the start, benchmarks/startup.py).
"""

from __future__ import annotations

import gc
import logging
import signal
from collections.abc import Callable
from typing import Any

import trio


def serve_until_signalled(broker: Any, on_listening: Callable[[], None]) -> int:
    """Run `broker` (kafka_compat.broker.Broker); SIGINT/SIGTERM cancel it, which is the
    clean shutdown. `on_listening` is called once it listens."""
    return trio.run(_serve_until_signalled, broker, on_listening)


async def _serve_and_announce(broker, on_listening, nursery: trio.Nursery) -> None:
    # The broker runs in `nursery`.
    await nursery.start(broker.serve)
    # What start-up made lives as long as the broker: out of the collector's sight
    # (no pass walks it again), and the collector back on for what serving makes.
    gc.freeze()
    gc.enable()
    on_listening()


async def _serve_until_signalled(broker, on_listening) -> int:
    async with trio.open_nursery() as nursery:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            nursery.start_soon(_serve_and_announce, broker, on_listening, nursery)
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
