"""Kafka Connect (Apache Kafka 3.9.1's connect-runtime and connect-file jars from Maven
Central, unchanged) in distributed mode against one kafka-compat broker.

`./dev test` resolves the worker's classpath once (compat-tests/connect/pom.xml, jars in
~/.m2). One worker JVM (org.apache.kafka.connect.cli.ConnectDistributed, as
bin/connect-distributed.sh starts it) serves the module: it creates its config, offset
and status topics (compacted), joins its group (protocol type "connect") and runs the
FileStream connectors posted to its REST API. The tests check what a Connect user
checks: the REST answers, the internal topics, a source connector's lines in its topic
and its offsets in the offsets topic, a sink connector's file, that a restarted
worker resumes from the stored offsets (no line lost or duplicated), that a second
worker in the group takes part of the work and hands it back when it leaves, and, on a
worker of a Connect cluster of its own, exactly-once source (KIP-618: transactions).
Any ERROR in a worker's log fails the test.

The broker runs with group.initial.rebalance.delay.ms=0, as Kafka's own
config/server.properties sets it for development: each worker start forms the group anew.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

BROKER_OVERRIDES = ["group.initial.rebalance.delay.ms=0"]  # read by served_broker
HOST = "127.0.0.1"
CONNECT_DIR = Path(__file__).resolve().parent / "connect"
CLASSPATH_FILE = CONNECT_DIR / "target" / "classpath.txt"
JAVA = shutil.which("java")
DEADLINE_S = 90  # a hang guard only: a worker starts in ~10 s, connectors in ~1 s
INTERNAL_TOPICS = {"configs": 1, "offsets": 25, "status": 5}  # Connect's partition counts
SOURCE_CLASS = "org.apache.kafka.connect.file.FileStreamSourceConnector"
SINK_CLASS = "org.apache.kafka.connect.file.FileStreamSinkConnector"


def wait_for(condition: Callable[[], Any], what: str, log: Callable[[], str]) -> Any:
    """Poll condition() until it returns something true; that value."""
    deadline = time.monotonic() + DEADLINE_S
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{log()}"
        time.sleep(0.2)
    return value


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class ConnectWorker:
    """One distributed-mode worker JVM, started and stopped (by its PID) by the tests."""

    def __init__(
        self, bootstrap: str, workdir: Path, classpath: str, group: str, **settings: str
    ) -> None:
        self.rest_port = free_port()
        self.url = f"http://{HOST}:{self.rest_port}"
        self.worker_id = f"{HOST}:{self.rest_port}"
        self.workdir = workdir
        self.classpath = classpath
        self.properties = workdir / "worker.properties"
        self.bootstrap = bootstrap
        self.group = group
        self.offsets_topic = f"{group}-offsets"
        settings = {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "listeners": self.url,
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            "config.storage.topic": f"{group}-configs",
            "offset.storage.topic": self.offsets_topic,
            "status.storage.topic": f"{group}-status",
            "config.storage.replication.factor": "1",
            "offset.storage.replication.factor": "1",
            "status.storage.replication.factor": "1",
            "offset.flush.interval.ms": "500",  # source offsets and sink commits, often
            # Kafka's own plugins ship service manifests (KIP-898): no classpath scan (~6 s)
            "plugin.discovery": "service_load",
            # the wait before a departed worker's connectors and tasks go to the others,
            # and how soon a worker hears of a rebalance (3 s by default)
            "scheduled.rebalance.max.delay.ms": "1000",
            "heartbeat.interval.ms": "1000",
            **settings,
        }
        self.properties.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self.terminated = False

    @property
    def log_path(self) -> Path:
        return self.workdir / f"worker-{self.runs}.log"

    def log_tail(self, max_chars: int = 12000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"<no worker log: {exc}>"
        return f"--- worker log ({self.log_path}) ---\n{text[-max_chars:]}"

    def errors(self) -> list[str]:
        """The ERROR lines the worker logged in this run."""
        return [line for line in self.log_path.read_text().splitlines() if "] ERROR " in line]

    def start(self) -> None:
        """Start the JVM; return once GET /health says the worker has joined its group."""
        assert JAVA is not None
        self.runs += 1
        self.terminated = False
        # No CDS archive of our own (as compat-tests/kafka-tools has): on a fresh machine
        # dumping it at the first exit costs more (~20 s) than it saves. C1 only: a
        # quicker start on two cores.
        cmd = [
            JAVA,
            "-XX:TieredStopAtLevel=1",
            "-Xmx512m",
            f"-Dlog4j.configuration=file:{CONNECT_DIR / 'log4j.properties'}",
            "-cp",
            self.classpath,
            "org.apache.kafka.connect.cli.ConnectDistributed",
            str(self.properties),
        ]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )

        def healthy() -> bool:
            assert self.proc is not None and self.proc.poll() is None, (
                f"the worker exited ({self.proc and self.proc.returncode})\n{self.log_tail()}"
            )
            status, body = self.rest("GET", "/health")
            return status == 200 and body.get("status") == "healthy"

        wait_for(healthy, "the worker's GET /health", self.log_tail)

    def terminate(self) -> None:
        """SIGTERM, once: Connect's shutdown hook stops the herder."""
        assert self.proc is not None
        if self.proc.poll() is None and not self.terminated:
            self.proc.send_signal(signal.SIGTERM)
            self.terminated = True

    def stop(self) -> int | None:
        """Terminate and wait: the exit status, None if the JVM had to be killed."""
        self.terminate()
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def rest(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(HTTP status, decoded JSON body); status 0 while nothing listens."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        request.add_header("Accept", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, {"raw": raw.decode(errors="replace")}
        except OSError:
            return 0, None

    def create_connector(self, name: str, config: dict[str, str]) -> None:
        status, body = self.rest("POST", "/connectors", {"name": name, "config": config})
        assert status == 201, f"POST /connectors {name}: {status} {body}\n{self.log_tail()}"

    def wait_running(self, name: str) -> dict[str, Any]:
        """GET /connectors/<name>/status once the connector and its task are RUNNING."""

        def running() -> dict[str, Any] | None:
            status, body = self.rest("GET", f"/connectors/{name}/status")
            if status != 200 or body["connector"]["state"] != "RUNNING":
                return None
            tasks = body["tasks"]
            return body if tasks and all(t["state"] == "RUNNING" for t in tasks) else None

        return wait_for(running, f"{name} RUNNING", self.log_tail)


@pytest.fixture(scope="module")
def start_worker(
    served_broker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., ConnectWorker]]:
    """start_worker(group, **settings) -> a started worker of its own Connect cluster
    (group and storage topics named after `group`); stopped at the end of the module."""
    # ./dev test installs a JDK and resolves the jars: a missing one fails, never skips.
    assert JAVA is not None, "java is not installed: run `./dev test`"
    assert (CLASSPATH_FILE.parent / ".built").is_file(), (
        "run `./dev test`: it resolves compat-tests/connect"
    )
    classpath = CLASSPATH_FILE.read_text().strip()
    workers: list[ConnectWorker] = []

    def start(group: str, **settings: str) -> ConnectWorker:
        workdir = tmp_path_factory.mktemp(group)
        worker = ConnectWorker(served_broker.bootstrap, workdir, classpath, group, **settings)
        workers.append(worker)
        worker.start()
        return worker

    yield start
    for worker in workers:  # all at once: each takes a second or two
        worker.terminate()
    for worker in workers:
        worker.stop()


@pytest.fixture(scope="module")
def worker(start_worker: Callable[..., ConnectWorker]) -> ConnectWorker:
    """The module's worker, shared by the tests of plain (at-least-once) Connect."""
    return start_worker("connect-compat")


@pytest.fixture
def no_worker_errors(worker: ConnectWorker) -> Iterator[None]:
    """The worker logs no ERROR during the test (a broker that mis-serves Connect shows
    there first: rebalances, offset commits, topic creation)."""
    yield
    assert not worker.errors(), "\n".join(worker.errors()) + "\n" + worker.log_tail()


Record = tuple[int, bytes | None, bytes]  # offset, key, value


def read_topic(bootstrap: str, topic: str, partitions: int) -> list[Record]:
    """Every committed record of the topic up to its high watermarks, partition by
    partition (read_committed, confluent-kafka's default)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "connect-compat-reader"})
    try:
        highs = {}
        for partition in range(partitions):
            tp = TopicPartition(topic, partition)
            high = consumer.get_watermark_offsets(tp, timeout=30, cached=False)[1]
            if high > 0:
                highs[partition] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in highs])
        records: dict[int, list[Record]] = {p: [] for p in highs}
        deadline = time.monotonic() + DEADLINE_S
        while highs:
            assert time.monotonic() < deadline, f"{topic}: not read to {highs}"
            for message in consumer.consume(500, timeout=0.2):
                if message.error():
                    raise KafkaException(message.error())
                if message.offset() < highs.get(message.partition(), 0):
                    record = (message.offset(), message.key(), message.value())
                    records[message.partition()].append(record)
            # The position passes transaction markers, which are not delivered.
            positions = consumer.position([TopicPartition(topic, p) for p in highs])
            for tp in positions:
                if tp.offset >= highs[tp.partition]:
                    del highs[tp.partition]
    finally:
        consumer.close()
    return [record for partition in sorted(records) for record in records[partition]]


def stored_source_offset(worker: ConnectWorker, connector: str, path: Path) -> Any:
    """The last offset the worker stored for the FileStreamSource connector's file, as
    Connect writes it to its offsets topic (key: [connector, source partition])."""
    key = json.dumps([connector, {"filename": str(path)}], separators=(",", ":")).encode()
    found = None
    for _, record_key, value in read_topic(worker.bootstrap, worker.offsets_topic, 25):
        if record_key == key:
            found = json.loads(value) if value is not None else None
    return found


def committed_offset(bootstrap: str, group: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        (tp,) = consumer.committed([TopicPartition(topic, 0)], timeout=30)
        return tp.offset
    finally:
        consumer.close()


def append_lines(path: Path, lines: list[str]) -> None:
    with path.open("a") as out:
        out.writelines(f"{line}\n" for line in lines)


def file_connectors(
    worker: ConnectWorker, name: str, folder: Path, lines: list[str], **source_config: str
) -> tuple[Path, Path]:
    """A FileStreamSource reading a file of these lines into a new topic `<name>-lines`
    (which Connect creates, KIP-158) and a FileStreamSink writing that topic to a file:
    the two files' paths."""
    source, sink = folder / "in.txt", folder / "out.txt"
    topic = f"{name}-lines"
    append_lines(source, lines)
    worker.create_connector(
        f"{name}-source",
        {
            "connector.class": SOURCE_CLASS,
            "file": str(source),
            "topic": topic,
            "tasks.max": "1",
            "topic.creation.default.partitions": "1",
            "topic.creation.default.replication.factor": "1",
            **source_config,
        },
    )
    worker.create_connector(
        f"{name}-sink",
        {"connector.class": SINK_CLASS, "file": str(sink), "topics": topic, "tasks.max": "1"},
    )
    return source, sink


def assert_copied(
    worker: ConnectWorker, name: str, paths: tuple[Path, Path], lines: list[str]
) -> None:
    """The source stored its offset at the end of its file, the topic holds exactly the
    file's lines, and the sink wrote exactly them (after committing its offsets)."""
    source, sink = paths
    bootstrap = worker.bootstrap
    topic = f"{name}-lines"
    size = source.stat().st_size
    wait_for(
        lambda: (
            (stored_source_offset(worker, f"{name}-source", source) or {}).get("position") == size
        ),
        f"{name}-source's offset at position {size}",
        worker.log_tail,
    )
    # The source commits an offset once the records before it are acknowledged: the
    # topic is complete now; any duplicate would show.
    records = read_topic(bootstrap, topic, 1)
    assert [value.decode() for _, _, value in records] == lines
    # (Offsets count records and, in transactional topics, commit markers.)
    end = records[-1][0] + 1
    wait_for(
        lambda: committed_offset(bootstrap, "connect-" + f"{name}-sink", topic) == end,
        f"{name}-sink's committed offset {end}",
        worker.log_tail,
    )
    # The sink task flushes its file before it commits the offsets.
    assert sink.read_text().splitlines() == lines


def test_worker_creates_compacted_internal_topics_and_serves_rest(
    worker: ConnectWorker, admin: AdminClient, no_worker_errors: None
) -> None:
    status, info = worker.rest("GET", "/")
    assert status == 200 and info["version"] == "3.9.1"
    cluster = admin.describe_cluster(request_timeout=30).result(timeout=60)
    assert info["kafka_cluster_id"] == cluster.cluster_id
    assert worker.rest("GET", "/connectors") == (200, [])
    status, plugins = worker.rest("GET", "/connector-plugins")
    assert status == 200
    assert {SOURCE_CLASS, SINK_CLASS} <= {plugin["class"] for plugin in plugins}

    topics = admin.list_topics(timeout=30).topics
    for kind, partitions in INTERNAL_TOPICS.items():
        assert len(topics[f"{worker.group}-{kind}"].partitions) == partitions, kind
    resources = [ConfigResource("topic", f"{worker.group}-{kind}") for kind in INTERNAL_TOPICS]
    for resource, future in admin.describe_configs(resources, request_timeout=30).items():
        configs = future.result(timeout=60)
        assert configs["cleanup.policy"].value == "compact", resource.name

    # The worker's group has protocol type "connect", which librdkafka's describe (and
    # list) of consumer groups leaves out: it names the type in its refusal.
    future = admin.describe_consumer_groups([worker.group], request_timeout=30)[worker.group]
    with pytest.raises(KafkaException, match=r"not a consumer group \(connect\)"):
        future.result(timeout=60)


def test_file_source_and_sink_copy_lines_and_store_offsets(
    worker: ConnectWorker, tmp_path: Path, no_worker_errors: None
) -> None:
    # ASCII: FileStreamSourceTask counts its position in characters but skips bytes on
    # a restart
    lines = [f"line {i}: {'x' * i}" for i in range(50)]
    source, sink = file_connectors(worker, "copy", tmp_path, lines)

    for name in ("copy-source", "copy-sink"):
        body = worker.wait_running(name)
        assert body["connector"]["worker_id"] == worker.worker_id
    assert_copied(worker, "copy", (source, sink), lines)
    status, names = worker.rest("GET", "/connectors")
    assert status == 200 and {"copy-source", "copy-sink"} <= set(names)


def test_restarted_worker_resumes_from_stored_offsets(
    worker: ConnectWorker, tmp_path: Path, no_worker_errors: None
) -> None:
    before = [f"before restart {i}" for i in range(20)]
    source, sink = file_connectors(worker, "resume", tmp_path, before)
    assert_copied(worker, "resume", (source, sink), before)

    assert worker.stop() is not None, f"the worker did not stop on SIGTERM\n{worker.log_tail()}"
    assert "Kafka Connect stopped" in worker.log_path.read_text()
    assert not worker.errors(), worker.log_tail()
    after = [f"after restart {i}" for i in range(20)]
    append_lines(source, after)
    worker.start()

    for name in ("resume-source", "resume-sink"):
        body = worker.wait_running(name)
        assert [task["worker_id"] for task in body["tasks"]] == [worker.worker_id]
    assert_copied(worker, "resume", (source, sink), before + after)


def spread(worker: ConnectWorker) -> dict[str, set[str]]:
    """Which workers run each connector and its tasks (GET /connectors?expand=status);
    an empty set while some are not RUNNING."""
    status, body = worker.rest("GET", "/connectors?expand=status")
    assert status == 200, body
    placed: dict[str, set[str]] = {}
    for name, entry in body.items():
        units = [entry["status"]["connector"], *entry["status"]["tasks"]]
        running = len(units) > 1 and all(unit["state"] == "RUNNING" for unit in units)
        placed[name] = {unit["worker_id"] for unit in units} if running else set()
    return placed


def test_second_worker_shares_the_connectors_and_hands_them_back(
    worker: ConnectWorker,
    start_worker: Callable[..., ConnectWorker],
    tmp_path: Path,
    no_worker_errors: None,
) -> None:
    lines = [f"one worker {i}" for i in range(10)]
    source, sink = file_connectors(worker, "shared", tmp_path, lines)
    assert_copied(worker, "shared", (source, sink), lines)

    # The second worker joins the group: the leader revokes part of the assignment
    # (incremental cooperative rebalancing) and gives it to the newcomer.
    second = start_worker(worker.group)
    both = {worker.worker_id, second.worker_id}

    def balanced() -> bool:
        placed = spread(worker)
        return all(placed.values()) and set().union(*placed.values()) == both

    wait_for(balanced, "connectors and tasks on both workers", second.log_tail)
    assert set(second.rest("GET", "/connectors")[1]) == set(worker.rest("GET", "/connectors")[1])
    lines += [f"two workers {i}" for i in range(10)]
    append_lines(source, lines[10:])
    assert_copied(worker, "shared", (source, sink), lines)

    # It leaves: after scheduled.rebalance.max.delay.ms its share returns to the first.
    assert second.stop() is not None, second.log_tail()
    assert not second.errors(), second.log_tail()

    def alone() -> bool:
        placed = spread(worker)
        return all(placed.values()) and set().union(*placed.values()) == {worker.worker_id}

    wait_for(alone, "connectors and tasks back on the first worker", worker.log_tail)
    lines += [f"one worker again {i}" for i in range(10)]
    append_lines(source, lines[20:])
    assert_copied(worker, "shared", (source, sink), lines)


def test_exactly_once_source_writes_records_and_offsets_in_transactions(
    start_worker: Callable[..., ConnectWorker], tmp_path: Path
) -> None:
    # KIP-618: a worker of its own cluster (exactly-once is set cluster-wide) writes its
    # config topic through a transactional producer (the leader's, fencing older
    # leaders); each source task gets a transactional producer that fences its zombies
    # and commits the task's records and source offsets in one transaction.
    worker = start_worker("connect-eos", **{"exactly.once.source.support": "enabled"})
    first = [f"exactly once {i}" for i in range(30)]
    eos = {"exactly.once.support": "required"}
    source, sink = file_connectors(worker, "eos", tmp_path, first, **eos)
    worker.wait_running("eos-source")
    assert_copied(worker, "eos", (source, sink), first)
    # The records sit in transactions: commit markers take offsets of their own.
    consumer = Consumer({"bootstrap.servers": worker.bootstrap, "group.id": "connect-eos-check"})
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition("eos-lines", 0), timeout=30)
    finally:
        consumer.close()
    assert high > len(first)

    # A restarted task's new producer fences the old one (InitProducerId, same
    # transactional.id) and goes on from the committed offset.
    status, body = worker.rest("POST", "/connectors/eos-source/tasks/0/restart")
    assert status == 204, body
    second = [f"after the task restart {i}" for i in range(10)]
    append_lines(source, second)
    worker.wait_running("eos-source")
    assert_copied(worker, "eos", (source, sink), first + second)
    assert not worker.errors(), "\n".join(worker.errors()) + "\n" + worker.log_tail()
