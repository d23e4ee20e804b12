"""Kafka's offset checkpoint files, and writing files atomically.

Format of recovery-point-offset-checkpoint, log-start-offset-checkpoint and
replication-offset-checkpoint (Kafka's OffsetCheckpointFile), text:

    0                      version
    2                      number of entries
    my-topic 0 1234        topic, partition, offset
    my-topic 1 98

Written to `<name>.tmp`, fsynced, renamed over the old file, and the directory
fsynced: a crash leaves either the old or the new checkpoint, never half of one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from storage.errors import StorageError

CHECKPOINT_VERSION = 0


class CorruptCheckpoint(StorageError):
    """A checkpoint file that does not parse."""


def sync_file(path: Path) -> None:
    """fsync `path` through a descriptor of its own; a file already gone is no error."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves the old or the new content."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class OffsetCheckpointFile:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def write(self, offsets: Mapping[tuple[str, int], int]) -> None:
        lines = [str(CHECKPOINT_VERSION), str(len(offsets))]
        lines.extend(
            f"{topic} {partition} {offset}" for (topic, partition), offset in offsets.items()
        )
        try:
            write_atomically(self.path, ("\n".join(lines) + "\n").encode("utf-8"))
        except OSError as exc:
            raise StorageError(f"cannot write checkpoint {self.path}: {exc}") from exc

    def read(self) -> dict[tuple[str, int], int]:
        """The checkpointed offsets; {} when the file does not exist."""
        try:
            text = self.path.read_text("utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StorageError(f"cannot read checkpoint {self.path}: {exc}") from exc
        lines = text.splitlines()
        try:
            version = int(lines[0])
            if version != CHECKPOINT_VERSION:
                raise ValueError(f"unknown version {version}")
            count = int(lines[1])
            offsets = {}
            for line in lines[2 : 2 + count]:
                topic, partition, offset = line.split(" ")
                offsets[(topic, int(partition))] = int(offset)
            if len(offsets) != count:
                raise ValueError(f"expected {count} entries, found {len(offsets)}")
        except (IndexError, ValueError) as exc:
            raise CorruptCheckpoint(f"malformed checkpoint file {self.path}: {exc}") from exc
        return offsets
