"""The parsers of config values: Kafka's ConfigDef types and validators (a value
that does not parse raises ValueError; config.py turns it into a ConfigError naming
the key)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

LONG_MAX = 2**63 - 1


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the key."""


def parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError("expected true or false")
    return lowered == "true"


def parse_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def non_negative(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def checked(value: str) -> Any:
        parsed = parse(value)
        if parsed < 0:
            raise ValueError("must be >= 0")
        return parsed

    return checked


def at_least(minimum: int) -> Callable[[str], int]:
    def checked(value: str) -> int:
        parsed = int(value)
        if parsed < minimum:
            raise ValueError(f"must be >= {minimum}")
        return parsed

    return checked


def store_type(value: str) -> str:
    if value.strip().upper() not in ("JKS", "PKCS12", "PEM"):
        raise ValueError("must be one of JKS, PKCS12, PEM")
    return value.strip().upper()


def host_port(value: str) -> tuple[str, int] | None:
    """`host:port` (an empty host: every interface; port 0: any free one); "" is None."""
    value = value.strip()
    if not value:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError("must be host:port, e.g. 127.0.0.1:9644 (or empty: off)")
    return host.strip("[]"), int(port)


def one_of(*choices: str) -> Callable[[str], str]:
    def checked(value: str) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return checked


# The authorizers whose semantics security/authorizer.py implements (ZooKeeper mode's
# AclAuthorizer; KRaft's StandardAuthorizer answers the same way).
AUTHORIZER_CLASSES = (
    "kafka.security.authorizer.AclAuthorizer",
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
)


def authorizer_class(value: str) -> str:
    value = value.strip()
    if value and value not in AUTHORIZER_CLASSES:
        raise ValueError(
            "only Kafka's ACL authorizer is served (" + " or ".join(AUTHORIZER_CLASSES) + ")"
        )
    return value


def cleanup_policy(value: str) -> str:
    policies = parse_list(value)
    if not policies or any(p not in ("delete", "compact") for p in policies):
        raise ValueError("must be a list of delete and/or compact")
    return ",".join(policies)


def ratio(value: str) -> float:
    parsed = float(value)
    if not 0.0 <= parsed <= 1.0:
        raise ValueError("must be between 0 and 1")
    return parsed


def in_range(low: int, high: int) -> Callable[[str], int]:
    """An int within [low, high], as Kafka's ConfigDef.Range.between."""

    def checked(value: str) -> int:
        parsed = int(value)
        if not low <= parsed <= high:
            raise ValueError(f"must be between {low} and {high}")
        return parsed

    return checked


def level_between(low: int, high: int) -> Callable[[str], int]:
    """A compression level: -1 (the codec's default) or within [low, high]."""

    def checked(value: str) -> int:
        parsed = int(value)
        if parsed != -1 and not low <= parsed <= high:
            raise ValueError(f"must be -1 or between {low} and {high}")
        return parsed

    return checked


def remote_storage_enable(value: str) -> bool:
    if parse_bool(value):
        # As Kafka when the broker's remote.log.storage.system.enable is false.
        raise ValueError("tiered storage is not enabled on this broker")
    return False


# Versions Kafka 3.9's MetadataVersionValidator knows, for the deprecated
# (log.)message.format.version: accepted, shown, ignored (records are always v2 on disk).
METADATA_VERSIONS = frozenset(
    ["0.8.0", "0.8.1", "0.8.2", "0.9.0", "0.10.0", "0.10.1", "0.10.2", "0.11.0", "1.0", "1.1"]
    + [f"2.{minor}" for minor in range(9)]
    + [f"3.{minor}" for minor in range(10)]
)
MESSAGE_FORMAT_VERSION_DEFAULT = "3.0-IV1"


def message_format_version(value: str) -> str:
    # Kafka matches the release prefix (0.x.y or x.y) and ignores what follows it.
    release = value.strip().split("-", 1)[0].split(".")
    prefix = ".".join(release[: 3 if release[0] == "0" else 2])
    if prefix not in METADATA_VERSIONS:
        raise ValueError(f"unknown metadata.version {value!r}")
    return value.strip()


def throttled_replicas(value: str) -> str:
    """Kafka's ThrottledReplicaListValidator: `*`, or partition:broker pairs."""
    items = parse_list(value)
    if items == ["*"] or all(
        len(pair := item.split(":")) == 2 and all(p.strip().isdigit() for p in pair)
        for item in items
    ):
        return value
    raise ValueError("must be the literal '*' or a list of replicas in the form partition:broker")


COMPRESSION_TYPE = one_of("producer", "uncompressed", "gzip", "snappy", "lz4", "zstd")


_VALID_HOST = re.compile(r"[0-9a-zA-Z\-%._:]*")


def parse_ip_count_overrides(value: str) -> dict[str, int]:
    """max.connections.per.ip.overrides: `host:count,...` (Kafka's Csv.parseCsvMap,
    split at each entry's last colon, so IPv6 addresses work; Utils.validHostPattern)."""
    overrides = {}
    for entry in re.split(r"\s*,\s*", value.strip()):
        if not entry:
            continue
        host, colon, count = entry.rpartition(":")
        host = host.strip()
        if not colon or not host:
            raise ValueError(f"expected host:count, got {entry!r}")
        if not _VALID_HOST.fullmatch(host):
            raise ValueError(f"contains invalid addresses : {host}")
        overrides[host] = int(count.strip())
        if overrides[host] < 0:
            raise ValueError(f"the count for {host} must be >= 0")
    return overrides


def ip_count_overrides(value: str) -> str:
    """The key's value, checked (DescribeConfigs shows it as written)."""
    parse_ip_count_overrides(value)
    return value.strip()
