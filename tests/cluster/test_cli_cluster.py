"""The CLI tools against a 3-broker ZooKeeper cluster: the console producer and
consumer route each partition to its own leader, `configs` reaches the broker it
names, and `topics --describe --under-replicated-partitions` lists exactly the
partitions whose ISR lost a killed broker."""

from __future__ import annotations

import io
import json
import time

from kafka_compat import cli
from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401

GUARD_S = 120.0  # a failure guard for waits, not a timing


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_tools_in_a_cluster_and_under_replicated_partitions(cluster_factory, capsys, monkeypatch):
    cluster = cluster_factory(3)
    b = ("--bootstrap-server", cluster.bootstrap)
    create = (
        "topics", "--create", "--topic", "spread", "--partitions", "3",
        "--config", "min.insync.replicas=2",
    )  # fmt: skip
    assert run(capsys, *create, "--replication-factor", "3", *b)[0] == 0
    code, out, _ = run(capsys, "topics", "--describe", "--topic", "spread", "--output", "json", *b)
    (topic,) = json.loads(out)["topics"]
    assert topic["replication_factor"] == 3
    assert len({p["leader"] for p in topic["partitions"]}) == 3  # one leader per broker

    lines = [f"key-{i}\tvalue-{i}" for i in range(30)]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    assert run(capsys, "produce", "--topic", "spread", "--property", "parse.key=true", *b)[0] == 0
    code, out, _ = run(
        capsys, "consume", "--topic", "spread", "--from-beginning", "--max-messages", "30",
        "--property", "print.key=true", *b,
    )  # fmt: skip
    assert code == 0 and sorted(out.splitlines()) == sorted(lines)

    on_broker_2 = ("configs", "--entity-type", "brokers", "--entity-name", "2", *b)
    assert (
        run(capsys, *on_broker_2, "--alter", "--add-config", "log.cleaner.backoff.ms=5000")[0] == 0
    )
    code, out, _ = run(capsys, *on_broker_2, "--describe")
    assert out.splitlines()[0] == "Dynamic configs for broker 2 are:"
    assert "  log.cleaner.backoff.ms=5000 sensitive=false" in out

    for only in ("--under-replicated-partitions", "--at-min-isr-partitions"):
        code, out, _ = run(capsys, "topics", "--describe", only, *b)
        assert (code, out) == (0, ""), only
    cluster.brokers[3].kill()
    # Right after: the partition broker 3 led has no leader until the controller moves
    # it; the producer waits and sends to the new leader (the dead broker listed first).
    more = [f"key-{i}\tvalue-{i}" for i in range(30, 60)]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(more) + "\n"))
    dead_first = ",".join(cluster.brokers[i].bootstrap for i in (3, 1, 2))
    produce = ("produce", "--topic", "spread", "--property", "parse.key=true", "--timeout", "60")
    code, _, err = run(capsys, *produce, "--bootstrap-server", dead_first)
    assert code == 0, err
    live = ",".join(cluster.brokers[i].bootstrap for i in (1, 2))
    code, out, _ = run(
        capsys, "consume", "--topic", "spread", "--from-beginning", "--max-messages", "60",
        "--property", "print.key=true", "--bootstrap-server", live,
    )  # fmt: skip
    assert sorted(out.splitlines()) == sorted(lines + more)
    deadline = time.monotonic() + GUARD_S
    while True:
        code, out, _ = run(
            capsys, "topics", "--describe", "--topic", "spread", "--under-replicated-partitions",
            "--bootstrap-server", live,
        )  # fmt: skip
        if code == 0 and len(out.splitlines()) == 3:
            break
        assert time.monotonic() < deadline, f"ISRs never shrank: {out!r}"
        time.sleep(0.2)
    for line in out.splitlines():
        fields = dict(f.split(": ", 1) for f in line.strip("\t").split("\t"))
        assert fields["Topic"] == "spread"
        assert sorted(fields["Replicas"].split(",")) == ["1", "2", "3"]
        assert sorted(fields["Isr"].split(",")) == ["1", "2"]
        assert fields["Leader"] in ("1", "2")
    # ISR 2 with min.insync.replicas=2: at the minimum, not under it.
    describe = ("topics", "--describe", "--topic", "spread", "--bootstrap-server", live)
    assert len(run(capsys, *describe, "--at-min-isr-partitions")[1].splitlines()) == 3
    assert run(capsys, *describe, "--under-min-isr-partitions")[1] == ""
