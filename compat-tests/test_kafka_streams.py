"""Kafka Streams (Apache Kafka's `kafka-streams`, with RocksDB state stores; the versions
are in compat-tests/streams/streams-versions) against a running kafka-compat broker.

`./dev test` builds compat-tests/streams with Maven for each version. One JVM per version
runs every Streams application below side by side (kafkacompat.streams.Main; each has an
application.id and topics of its own) and prints one JSON line per scenario; each test here
asserts what a Streams user checks: the output, the internal topics Streams created and
their configs, what a restart restores, and what Kafka's reset tool resets.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios import run_scenarios, scenario_result

STREAMS_DIR = Path(__file__).resolve().parent / "streams"
# kafka-streams-application-reset runs from Kafka's tools jars (compat-tests/kafka-tools)
TOOLS_CLASSPATH = Path(__file__).resolve().parent / "kafka-tools" / "target" / "classpath.txt"
JAVA = shutil.which("java")
VERSIONS = [
    line.strip()
    for line in (STREAMS_DIR / "streams-versions").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]
GUARANTEES = ["at_least_once", "exactly_once_v2"]
SCENARIOS = [*(f"wordcount_{g}" for g in GUARANTEES), "windowed_count_and_table_join"]
# The lines the word count reads before and after its restart (WordCount.java)
FIRST = ["the quick brown fox", "the lazy dog", "the fox"]
SECOND = ["the dog", "a quick fox"]


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: f"kafka-streams-{v}")
def streams_results(request, served_broker, tmp_path_factory) -> dict[str, dict[str, Any]]:
    """Every scenario's JSON line from one JVM run with this Streams version, by name."""
    version = request.param
    build = STREAMS_DIR / "target" / f"kafka-{version}"
    assert JAVA is not None, "java is not installed: run `./dev test`"
    assert (build / ".built").is_file(), "run `./dev test`: it builds compat-tests/streams"
    assert TOOLS_CLASSPATH.is_file(), "run `./dev test`: it resolves compat-tests/kafka-tools"
    classpath = f"{build / 'classes'}:{(build / 'classpath.txt').read_text().strip()}"
    state_dir = tmp_path_factory.mktemp("streams-state")
    command = [JAVA, f"-Dkafkacompat.tools.classpath={TOOLS_CLASSPATH}", "-cp", classpath]
    command += ["kafkacompat.streams.Main", served_broker.bootstrap, str(state_dir), *SCENARIOS]
    return run_scenarios(command, "kafkacompat.streams.Main", client=version)


def result(results: dict[str, dict[str, Any]], scenario: str) -> dict[str, Any]:
    return scenario_result(results[scenario], log_chars=6000)


def counts(lines: list[str]) -> dict[str, int]:
    return dict(Counter(word for line in lines for word in line.split()))


def running_counts(lines: list[str]) -> dict[str, list[int]]:
    """Each word's count after each of its occurrences: 1, 2, ... (no record cache)."""
    return {word: list(range(1, n + 1)) for word, n in counts(lines).items()}


@pytest.mark.parametrize("guarantee", GUARANTEES)
def test_word_count_through_a_repartition_and_a_state_store(streams_results, guarantee):
    got = result(streams_results, f"wordcount_{guarantee}")
    # One update per word occurrence, read back read_committed
    assert got["first_values"] == running_counts(FIRST)


@pytest.mark.parametrize("guarantee", GUARANTEES)
def test_streams_creates_its_internal_topics_with_their_configs(streams_results, guarantee):
    got = result(streams_results, f"wordcount_{guarantee}")
    # Named by application.id and the Grouped / Materialized names; as many partitions
    # as the input topic.
    assert got["topics"] == {
        "lines": 2,
        "counts-out": 2,
        "words-repartition": 2,
        "counts-changelog": 2,
    }
    # Exactly the configs Streams asks for in CreateTopics, as DescribeConfigs reports them
    assert got["repartition_configs"] == {
        "cleanup.policy": "delete",
        "message.timestamp.type": "CreateTime",
        "retention.ms": "-1",
        "segment.bytes": "52428800",
    }
    assert got["changelog_configs"] == {
        "cleanup.policy": "compact",
        "message.timestamp.type": "CreateTime",
    }


@pytest.mark.parametrize("guarantee", GUARANTEES)
def test_repartition_records_are_purged_after_commits(streams_results, guarantee):
    got = result(streams_results, f"wordcount_{guarantee}")
    end = got["repartition_end_offsets"]
    # 9 words went through the repartition topic (plus transaction markers under EOS)...
    assert sum(end.values()) >= 9
    # ...and Streams' DeleteRecords after its commits moved each log start offset to the end
    assert got["repartition_log_start_offsets"] == end


@pytest.mark.parametrize("guarantee", GUARANTEES)
def test_restart_restores_counts_from_the_changelog_and_resumes(streams_results, guarantee):
    got = result(streams_results, f"wordcount_{guarantee}")
    # The second instance (the same group.instance.id: it took the closed one's place in the
    # group without a rebalance) had an empty state directory: the count store came back from its
    # changelog (9 updates, one per word of the first lines)
    assert got["restored"] == {"counts": 9}
    final = {word: values[-1] for word, values in got["values"].items()}
    assert final == counts(FIRST + SECOND)
    if guarantee == "exactly_once_v2":
        # Nothing reprocessed: each word's counts, committed, are 1, 2, ... exactly once
        assert got["values"] == running_counts(FIRST + SECOND)


@pytest.mark.parametrize("guarantee", GUARANTEES)
def test_application_reset_tool_then_reprocessing(streams_results, guarantee):
    got = result(streams_results, f"wordcount_{guarantee}")
    # close(leaveGroup): the static member left (LeaveGroup by group.instance.id)
    assert got["members_after_close"] == 0
    # kafka-streams-application-reset: input offsets to 0, internal topics deleted...
    assert got["reset"]["status"] == 0, got["reset"]["output"]
    assert got["committed_after_reset"] == {"lines-0": 0, "lines-1": 0}
    assert got["topics_after_reset"] == {"lines": 2, "counts-out": 2}
    # ...so the application, started again, recreates them and counts everything anew
    # (the recreated repartition topic is read from its start: no offsets of the old one)
    assert got["restored_after_reset"] == {"counts": 0}
    final = {word: values[-1] for word, values in got["values_after_reset"].items()}
    assert final == counts(FIRST + SECOND)
    if guarantee == "exactly_once_v2":
        again = running_counts(FIRST + SECOND)
        assert got["values_after_reset"] == {word: v + v for word, v in again.items()}


def test_tumbling_window_count_on_event_time(streams_results):
    got = result(streams_results, "windowed_count_and_table_join")
    # 10 s windows keyed user@window-start (ms from the first window): the producer's
    # timestamps (CreateTime) decide the window of each click.
    assert got["windowed"] == {
        "alice@0": [1, 2],
        "alice@10000": [1],
        "bob@0": [1],
        "bob@10000": [1, 2],
    }
    # A window store's changelog is compacted and deleted: retention is the store's
    # (window 10 s + grace 60 s) plus windowstore.changelog.additional.retention.ms (1 day)
    assert got["windowed_changelog_configs"] == {
        "cleanup.policy": "compact,delete",
        "message.timestamp.type": "CreateTime",
        "retention.ms": str(10_000 + 60_000 + 86_400_000),
    }


def test_ktable_ktable_join(streams_results):
    got = result(streams_results, "windowed_count_and_table_join")
    # An inner join by key: carol has no region (no result); bob's region update re-joins
    assert got["joined"] == {"alice": ["Alice@eu"], "bob": ["Bob@us", "Bob@apac"]}
    internal = {name for name in got["topics"] if name.endswith("-changelog")}
    assert internal == {
        "clicks-windowed-changelog",
        "users-table-changelog",
        "regions-table-changelog",
        "user-regions-joined-changelog",
    }
