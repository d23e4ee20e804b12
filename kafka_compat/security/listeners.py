"""Listeners as Kafka configures them: `listeners=NAME://host:port,...`, their
security protocols (`listener.security.protocol.map`, Kafka's default map when the
names are the protocols), `advertised.listeners`, the inter-broker listener, and the
per-listener overrides under `listener.name.<name lower-case>.`.

Base layer (config.py parses with it): no project imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
# Kafka's default listener.security.protocol.map: each protocol names itself.
DEFAULT_PROTOCOL_MAP = "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"
LISTENER_PREFIX = "listener.name."


class ListenerError(ValueError):
    """A listener setting that does not parse; the message names the key."""


class Endpoint(NamedTuple):
    """One listener: its name (upper case, as Kafka), address and security protocol."""

    listener: str
    host: str
    port: int
    protocol: str

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")


def _items(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def parse_protocol_map(value: str | None) -> dict[str, str]:
    """`listener.security.protocol.map` as {LISTENER: PROTOCOL}."""
    protocol_map = {}
    for item in _items(value or DEFAULT_PROTOCOL_MAP):
        name, sep, protocol = item.partition(":")
        protocol = protocol.strip().upper()
        if not sep or protocol not in PROTOCOLS:
            raise ListenerError(
                f"Invalid value {value!r} for configuration listener.security.protocol.map: "
                f"{item!r} is not NAME:PROTOCOL with PROTOCOL one of {', '.join(PROTOCOLS)}"
            )
        protocol_map[name.strip().upper()] = protocol
    return protocol_map


def parse_endpoints(value: str | None, key: str, protocol_map: Mapping[str, str]) -> list[Endpoint]:
    """Every `NAME://host:port` of a listeners value, with its protocol."""
    endpoints: list[Endpoint] = []
    for item in _items(value):
        name, sep, address = item.partition("://")
        host, colon, port = address.rpartition(":")
        name = name.strip().upper()
        if not sep or not colon or not port.isdigit():
            raise ListenerError(
                f"Invalid value {value!r} for configuration {key}: expected NAME://host:port"
            )
        if name not in protocol_map:
            raise ListenerError(
                f"Invalid value {value!r} for configuration {key}: no security protocol "
                f"defined for listener {name} (listener.security.protocol.map)"
            )
        if any(e.listener == name for e in endpoints):
            raise ListenerError(
                f"Invalid value {value!r} for configuration {key}: listener {name} appears twice"
            )
        host = host.strip("[]")  # IPv6 literal
        endpoints.append(Endpoint(name, host or "0.0.0.0", int(port), protocol_map[name]))
    if not endpoints:
        raise ListenerError(f"Invalid value {value!r} for configuration {key}: no listener")
    return endpoints


def inter_broker_listener(
    endpoints: list[Endpoint], listener_name: str | None, protocol: str | None
) -> str:
    """Kafka's rule: `inter.broker.listener.name`, else the listener named by
    `security.inter.broker.protocol` (default PLAINTEXT); both set is an error. With
    neither set and no PLAINTEXT listener, the first listener (Kafka refuses to start;
    a single node has no use for it)."""
    if listener_name and protocol:
        raise ListenerError(
            "Only one of inter.broker.listener.name and security.inter.broker.protocol "
            "should be set"
        )
    name = (listener_name or protocol or "PLAINTEXT").strip().upper()
    if not any(e.listener == name for e in endpoints):
        if listener_name or protocol:
            key = (
                "inter.broker.listener.name" if listener_name else "security.inter.broker.protocol"
            )
            raise ListenerError(
                f"Invalid value {name!r} for configuration {key}: it must be one of the "
                f"listeners ({', '.join(e.listener for e in endpoints)})"
            )
        name = endpoints[0].listener
    return name


def listener_config(config: Any, listener: str, key: str) -> Any:
    """`listener.name.<listener>.<key>` if set (parsed like `key`), else the broker's
    `key` (None when `key` is not a broker key, e.g. `plain.sasl.jaas.config`)."""
    override = config.listener_props.get(f"{LISTENER_PREFIX}{listener.lower()}.{key}")
    if override is not None:
        return config.parse_key(key, override)
    try:
        return config[key]
    except KeyError:
        return None
