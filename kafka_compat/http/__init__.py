"""The broker's HTTP listener (`http.listener`, `kafka-compat serve --http-port`): an
ASGI app (Starlette) served by Hypercorn's Trio worker on the broker's own event loop.

    __init__.py   binding the socket (cheap, at start-up) and starting the server
    app.py        the ASGI app: /metrics and the console's routes (`build_app`)
    console/      the console at `/`: its JSON API under /api and its page (static/)
    metrics.py    /metrics: a snapshot of the broker's state taken on the loop, turned
                  into Prometheus text (prometheus_client) a family at a time

Start-up order (broker.py): the socket is bound right after the Kafka listeners, so a
taken port stops start-up with a message naming http.listener; the HTTP stack is
imported (in a worker thread, ~200 ms of imports) and served only once the Kafka
listener has been answering for HTTP_START_DELAY_S, so it never delays a client's
first requests. Handlers read state; they never hold the loop for long and never open
a Kafka client to this broker. A failure of the HTTP side is logged; Kafka goes on.
"""

from __future__ import annotations

import logging
import os
import socket

import trio

from kafka_compat.config import ConfigError

log = logging.getLogger(__name__)

__all__ = ["bind_http_listener", "serve_http"]

HTTP_START_DELAY_S = 0.25


def bind_http_listener(address: tuple[str, int]) -> socket.socket:
    """A listening socket on `address` (port 0: any free one); a ConfigError naming
    http.listener if it cannot be bound."""
    host, port = address
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"Cannot start the HTTP listener on {host}:{port} (http.listener): "
            f"{exc.strerror or exc}; set http.listener (--http-port) to a free port, "
            "or --http-port 0 to turn it off"
        ) from None
    return sock


async def serve_http(sock: socket.socket, components, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Serve the HTTP app on the bound `sock` until cancelled."""
    fd = sock.detach()  # Hypercorn owns the socket from here (fd://)
    try:
        # A client's first requests come right after start-up: let them have the loop
        # (scrapers meanwhile wait in the socket's backlog). Then the HTTP stack's
        # imports run in a worker thread: the Kafka listener keeps answering.
        await trio.sleep(HTTP_START_DELAY_S)
        app_module = await trio.to_thread.run_sync(_import_app)
    except BaseException as exc:
        os.close(fd)
        if not isinstance(exc, Exception):
            raise
        log.exception("No HTTP listener: its libraries could not be imported")
        return
    try:
        await app_module.serve(fd, components, task_status=task_status)
    except Exception:
        # A failure of the HTTP side costs /metrics, never the Kafka listener.
        log.exception("The HTTP listener stopped")


def _import_app():
    from kafka_compat.http import app

    return app
