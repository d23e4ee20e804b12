"""PartitionMetadataFile: the topic's id in `partition.metadata` (Kafka's file, KIP-516).

Kafka's format, two lines: `version: 0` and `topic_id: <base64url, no padding>`. It
lets a replica of an older topic of the same name be told apart. The Log reads it when
it opens and writes it on `assign_topic_id` (storage/log.py).

Threading contract: called by the Log in the thread that uses it: reading inside
`Log(...)` (a worker thread at startup, the loop thread later), writing on the loop
thread. Not fsynced: a file lost in a crash is written again when the partition is
next taken up.
"""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

from storage.errors import StorageError

PARTITION_METADATA = "partition.metadata"

log = logging.getLogger(__name__)


class PartitionMetadataFile:
    __slots__ = ("path",)

    def __init__(self, dir: Path) -> None:
        self.path = Path(dir) / PARTITION_METADATA

    def read(self) -> bytes | None:
        """`topic_id: <base64url>` from partition.metadata; None if absent or unreadable
        (a log from before topic ids: the next assign_topic_id writes it)."""
        try:
            text = self.path.read_text("utf-8")
        except FileNotFoundError:
            return None
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "topic_id":
                try:
                    raw = base64.urlsafe_b64decode(value.strip() + "==")
                except ValueError:
                    break
                if len(raw) == 16:
                    return raw
        log.warning("%s: unreadable %s, ignored", self.path.parent, PARTITION_METADATA)
        return None

    def write(self, topic_id: bytes) -> None:
        """Replace the file (written to `.tmp`, then renamed); StorageError on failure."""
        text = base64.urlsafe_b64encode(topic_id).decode().rstrip("=")
        path = self.path
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.write_text(f"version: 0\ntopic_id: {text}\n", "utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc}") from exc
