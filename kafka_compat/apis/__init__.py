"""API handlers, one module per API family, and the registry that maps api_key to them.

Each module registers its handlers with `@api(key, min_version, max_version)` beside
the handler; ApiVersions answers from this registry, never from a hand-kept list.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from kafka_compat.broker import Broker
    from protocol.headers import RequestHeader


@dataclass(slots=True)
class RequestContext:
    """What a handler knows about the request besides its body."""

    broker: Broker
    header: RequestHeader
    version: int
    peer: str


Handler = Callable[[RequestContext, Any], Awaitable[Any]]
T = TypeVar("T")


def by_topic(results: Mapping[tuple[str, int], T]) -> dict[str, list[tuple[int, T]]]:
    """Per-partition results keyed (topic, partition), grouped per topic, as responses
    list them: {topic: [(partition, result), ...]} in the given order."""
    grouped: dict[str, list[tuple[int, T]]] = {}
    for (topic, partition), result in results.items():
        grouped.setdefault(topic, []).append((partition, result))
    return grouped


class _CloseConnection:
    def __repr__(self) -> str:
        return "CLOSE_CONNECTION"


# A handler's answer that closes the connection instead (Produce acks=0 with an error:
# the client has no response to learn from, so it reconnects and refreshes metadata).
CLOSE_CONNECTION = _CloseConnection()


@dataclass(frozen=True, slots=True)
class Api:
    key: int
    min_version: int
    max_version: int
    handler: Handler
    # Versions advertised but refused (Produce v0-2, see produce.py).
    min_accepted: int


REGISTRY: dict[int, Api] = {}


def api(
    key: int, min_version: int, max_version: int, *, min_accepted: int | None = None
) -> Callable[[Handler], Handler]:
    """Register `handler` as the implementation of `key` for versions min..max."""

    def register(handler: Handler) -> Handler:
        if key in REGISTRY:
            raise RuntimeError(f"api key {key} registered twice")
        accepted = min_version if min_accepted is None else min_accepted
        REGISTRY[key] = Api(key, min_version, max_version, handler, accepted)
        return handler

    return register


def load_handlers() -> dict[int, Api]:
    """Import every handler module so that each registers itself."""
    from kafka_compat.apis import (  # noqa: F401
        admin,
        api_versions,
        configs,
        coordinator,
        elect_leaders,
        fetch,
        groups,
        list_offsets,
        metadata,
        offsets,
        produce,
        producer_id,
        reassignments,
        replication,
        sasl,
    )

    return REGISTRY
