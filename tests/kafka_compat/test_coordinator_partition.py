"""Which partition of __consumer_offsets / __transaction_state holds a group or
transactional id: Kafka's Utils.abs(key.hashCode()) % partitions, with Java's
String.hashCode over UTF-16 code units."""

from __future__ import annotations

import pytest

from kafka_compat.topics import coordinator_partition, java_string_hash


@pytest.mark.parametrize(
    ("text", "java_hash"),
    [
        ("", 0),
        ("a", 97),
        ("g", 103),
        ("hello", 99162322),
        ("polygenelubricants", -(2**31)),  # the classic Integer.MIN_VALUE hash
        ("\U0001f600", 0xD83D * 31 + 0xDE00),  # UTF-16 surrogate pair
    ],
)
def test_java_string_hash(text, java_hash):
    assert java_string_hash(text) == java_hash


def test_partition_is_kafkas_abs_of_the_hash_modulo_the_count():
    assert coordinator_partition("g", 50) == 3
    assert coordinator_partition("hello", 50) == 99162322 % 50
    # Utils.abs(Integer.MIN_VALUE) is 0 (x & 0x7fffffff), not an overflow.
    assert coordinator_partition("polygenelubricants", 50) == 0
    negative = "Aa" * 20  # a negative hash
    assert java_string_hash(negative) < 0
    assert coordinator_partition(negative, 50) == (java_string_hash(negative) & 0x7FFFFFFF) % 50
    # The same id over another partition count (the cache keys on both).
    assert coordinator_partition("hello", 7) == 99162322 % 7
