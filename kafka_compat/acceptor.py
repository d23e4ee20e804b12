"""Kafka's Acceptor: each listener's accept loop. A new connection is counted by the
connection quotas (quotas/connection_quotas.py) before it is served, and the loop
waits there while a connection creation rate is over its quota or no slot is free
(max.connections), as Kafka's acceptor thread blocks; a connection over its address's
limit is closed at once, one over its address's rate when its throttle time is over.
Connections without a request for connections.max.idle.ms are closed, as Kafka's
Selector does; one whose request is still being answered is not idle.
"""

from __future__ import annotations

import errno
import logging

import trio

from kafka_compat.apis.registry import Components
from kafka_compat.quotas.connection_quotas import (
    Connection,
    ConnectionQuotas,
    ConnectionThrottled,
    TooManyConnections,
    normalize_ip,
)
from kafka_compat.server import ListenerSecurity, serve_connection

log = logging.getLogger(__name__)

# accept() errors that mean "out of file descriptors / buffers": wait and retry, as
# trio.serve_listeners does, rather than stop the listener.
_ACCEPT_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})


async def serve_listener(
    listeners: list[trio.SocketListener],
    components: Components,
    listener: ListenerSecurity,
    handler_nursery: trio.Nursery,
    quotas: ConnectionQuotas,
) -> None:
    """Kafka's Acceptor for one listener: accept, ask the connection quotas (which
    may hold the acceptor back, or refuse the connection), then serve."""
    async with trio.open_nursery() as nursery:
        for socket_listener in listeners:
            nursery.start_soon(
                _accept_loop, socket_listener, components, listener, handler_nursery, quotas
            )


async def _accept_loop(
    socket_listener: trio.SocketListener,
    components: Components,
    listener: ListenerSecurity,
    handler_nursery: trio.Nursery,
    quotas: ConnectionQuotas,
) -> None:
    name = listener.endpoint.listener
    while True:
        try:
            stream = await socket_listener.accept()
        except OSError as exc:
            if exc.errno not in _ACCEPT_CAPACITY_ERRNOS:
                raise
            log.error("Listener %s: cannot accept a connection (%s); retrying", name, exc)
            await trio.sleep(0.1)
            continue
        try:
            ip = stream.socket.getpeername()[0]
        except OSError:
            await trio.aclose_forcefully(stream)
            continue
        if ":" in ip:
            ip = normalize_ip(ip)
        try:
            connection = await quotas.inc(name, ip)
        except trio.Cancelled:
            await trio.aclose_forcefully(stream)  # shutting down while held back
            raise
        except TooManyConnections as exc:
            log.info(
                "Rejected connection from %s, address already has the configured maximum of "
                "%d connections.",
                exc.ip,
                exc.count,
            )
            await trio.aclose_forcefully(stream)
            continue
        except ConnectionThrottled as exc:
            # Kafka keeps the socket, unread, until the throttle time is over.
            log.debug("Delaying closing of connection from %s for %.3f s", ip, exc.throttle_s)
            handler_nursery.start_soon(_close_after, stream, exc.throttle_s)
            continue
        handler_nursery.start_soon(_serve_counted, stream, components, listener, quotas, connection)


async def close_idle_connections(quotas: ConnectionQuotas, idle_ms: int) -> None:
    """Close every connection idle for longer than `idle_ms`, checking a few times per
    idle period (at most once a second), as long as the broker serves."""
    idle_s = idle_ms / 1000
    interval = min(max(idle_s / 4, 0.01), 1.0)
    while True:
        await trio.sleep(interval)
        oldest = quotas.clock() - idle_s
        for connection in [c for c in quotas.connections if c.last_active < oldest]:
            log.debug(
                "Closing connection from %s on listener %s: idle for over %d ms",
                connection.ip,
                connection.listener,
                idle_ms,
            )
            connection.cancel_scope.cancel()


async def _close_after(stream: trio.SocketStream, delay_s: float) -> None:
    try:
        await trio.sleep(delay_s)
    finally:
        await trio.aclose_forcefully(stream)


async def _serve_counted(
    stream: trio.SocketStream,
    components: Components,
    listener: ListenerSecurity,
    quotas: ConnectionQuotas,
    connection: Connection,
) -> None:
    try:
        with connection.cancel_scope:
            await serve_connection(stream, components, listener, connection)
    finally:
        quotas.dec(connection)
        # Closed by close_excess before it was served: serve_connection never ran.
        await trio.aclose_forcefully(stream)
