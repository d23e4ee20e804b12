"""Topic names: Kafka's legality rules and the internal topics only coordinators write."""

from __future__ import annotations

import functools
import re
import struct

OFFSETS_TOPIC = "__consumer_offsets"
TRANSACTION_STATE_TOPIC = "__transaction_state"
INTERNAL_TOPICS = frozenset({OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC})
MAX_TOPIC_NAME = 249
_LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]+")


def topic_name_error(name: str | None) -> str | None:
    """Why `name` is not a legal topic name (Kafka's rules), or None if it is."""
    if not name:
        return "Topic name is illegal, it can't be empty"
    if name in (".", ".."):
        return 'Topic name cannot be "." or ".."'
    if len(name) > MAX_TOPIC_NAME:
        return f"Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME} characters"
    if not _LEGAL_TOPIC.fullmatch(name):
        return (
            f'Topic name "{name}" is illegal, it contains a character other than ASCII '
            "alphanumerics, '.', '_' and '-'"
        )
    return None


def java_string_hash(text: str) -> int:
    """Java's String.hashCode(): 31*h + c over the UTF-16 code units, as an int32."""
    h = 0
    for (unit,) in struct.iter_unpack(">H", text.encode("utf-16-be", "surrogatepass")):
        h = (31 * h + unit) & 0xFFFFFFFF
    return h - 0x100000000 if h & 0x80000000 else h


@functools.lru_cache(maxsize=8192)  # asked on every group and transaction request
def coordinator_partition(key: str, partitions: int) -> int:
    """The partition of __consumer_offsets (a group id) or __transaction_state (a
    transactional id) that holds `key`: Utils.abs(key.hashCode()) % partitions.
    Kafka's Utils.abs is `x & 0x7fffffff`, so Integer.MIN_VALUE maps to 0."""
    return (java_string_hash(key) & 0x7FFFFFFF) % partitions
