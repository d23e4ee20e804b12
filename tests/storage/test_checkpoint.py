"""Offset checkpoint files: Kafka's text format, atomic replacement."""

import pytest

from storage.checkpoint import CorruptCheckpoint, OffsetCheckpointFile


def test_checkpoint_text_format_round_trip(tmp_path):
    path = tmp_path / "recovery-point-offset-checkpoint"
    checkpoint = OffsetCheckpointFile(path)
    offsets = {("my-topic", 0): 1234, ("my.topic-x", 11): 0}
    checkpoint.write(offsets)
    assert path.read_text() == "0\n2\nmy-topic 0 1234\nmy.topic-x 11 0\n"
    assert checkpoint.read() == offsets
    assert not (tmp_path / "recovery-point-offset-checkpoint.tmp").exists()


def test_missing_checkpoint_is_empty(tmp_path):
    assert OffsetCheckpointFile(tmp_path / "nope").read() == {}


@pytest.mark.parametrize("text", ["1\n0\n", "0\n2\nt 0 1\n", "0\n1\nt zero 1\n", ""])
def test_malformed_checkpoint_is_reported(tmp_path, text):
    path = tmp_path / "cp"
    path.write_text(text)
    with pytest.raises(CorruptCheckpoint):
        OffsetCheckpointFile(path).read()
