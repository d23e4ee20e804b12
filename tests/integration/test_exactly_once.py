"""Exactly-once under crashes: a consume-transform-produce copier (confluent-kafka:
read_committed consumer, transactional producer, offsets sent to the transaction,
every few transactions deliberately aborted and redone) copies keyed records while
the broker process is SIGKILLed and restarted on the same data dir. A read_committed
consumer of the output then finds every input exactly once, in input order per key."""

from __future__ import annotations

import threading
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

GUARD_S = 120  # failure guard for waits, not a timing
PARTITIONS = 3
RECORDS = 3000
KEYS = 40
ABORT_EVERY = 7  # every 7th transaction is aborted and its batch redone
BATCH = 50


def produce_input(bootstrap: str, topic: str) -> dict[str, list[int]]:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    expected: dict[str, list[int]] = {}
    for i in range(RECORDS):
        key = f"key-{i % KEYS}"
        producer.produce(topic, key=key.encode(), value=str(i).encode())
        expected.setdefault(key, []).append(i)
        if i % 500 == 0:
            producer.poll(0)
    assert producer.flush(GUARD_S) == 0
    return expected


# librdkafka (2.16) can hang in send_offsets_to_transaction past its timeout when the
# group coordinator's broker went away and came back (confluentinc/librdkafka#5511,
# #5456). An application then does what this copier does: after STALL_S without a
# returned call it gives up on those clients and starts new ones, whose
# init_transactions fences the stuck producer.
STALL_S = 20


class Copier:
    """Copies `source` to `sink` in transactions from a thread. On any error it drops
    its producer and consumer and starts again from the committed offsets, as an
    application following Kafka's guidance does."""

    def __init__(self, bootstrap: str, source: str, sink: str, transactional_id: str):
        self.bootstrap = bootstrap
        self.source = source
        self.sink = sink
        self.transactional_id = transactional_id
        self.committed_txns = 0
        self.aborted_txns = 0
        self.restarts = 0
        self.stalls = 0
        self.errors: list[str] = []
        self.progress = threading.Condition()
        self.stopping = threading.Event()
        self.generation = 0
        self.last_call = time.monotonic()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _clients(self) -> tuple[Consumer, Producer]:
        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "transactional.id": self.transactional_id,
                "transaction.timeout.ms": 10000,
                "message.timeout.ms": 10000,
                "reconnect.backoff.ms": 50,
                "reconnect.backoff.max.ms": 200,
            }
        )
        producer.init_transactions(GUARD_S)
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": "copier",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 6000,
                "reconnect.backoff.ms": 50,
                "reconnect.backoff.max.ms": 200,
            }
        )
        consumer.subscribe([self.source])
        return consumer, producer

    def _run(self) -> None:
        """Supervise one worker (one pair of clients) at a time."""
        while not self.stopping.is_set():
            self.generation += 1
            self.last_call = time.monotonic()
            clients: list = []
            worker = threading.Thread(
                target=self._work, args=(self.generation, clients), daemon=True
            )
            worker.start()
            while worker.is_alive() and not self.stopping.is_set():
                worker.join(0.5)
                if time.monotonic() - self.last_call > STALL_S:
                    self.stalls += 1
                    if clients:  # leave the group: the next consumer takes the partitions
                        _close(clients[0])
                    break
            worker.join(1)
            self.restarts += 1

    def _work(self, generation: int, clients: list) -> None:
        consumer = None
        try:
            consumer, producer = self._clients()
            clients.append(consumer)
            while not self.stopping.is_set() and generation == self.generation:
                self._one_transaction(consumer, producer)
                self.last_call = time.monotonic()
        except (KafkaException, RuntimeError) as exc:
            self.errors.append(str(exc))
        finally:
            if consumer is not None and generation == self.generation:
                _close(consumer)

    def _one_transaction(self, consumer: Consumer, producer: Producer) -> None:
        messages = consumer.consume(BATCH, timeout=0.5)
        messages = [m for m in messages if m.error() is None]
        if not messages:
            return
        attempt = self.committed_txns + self.aborted_txns + 1
        producer.begin_transaction()
        for m in messages:
            producer.produce(self.sink, key=m.key(), value=m.value())
        if attempt % ABORT_EVERY == 0:
            producer.abort_transaction(GUARD_S)
            with self.progress:
                self.aborted_txns += 1
            # Redo the batch: back to where it started.
            for tp in _first_offsets(messages):
                consumer.seek(tp)
            return
        producer.send_offsets_to_transaction(
            _next_offsets(messages), consumer.consumer_group_metadata(), GUARD_S
        )
        producer.commit_transaction(GUARD_S)
        with self.progress:
            self.committed_txns += 1
            self.progress.notify_all()

    def wait_for_more_commits(self, count: int) -> None:
        with self.progress:
            target = self.committed_txns + count
            assert self.progress.wait_for(lambda: self.committed_txns >= target, GUARD_S), (
                f"only {self.committed_txns} transactions committed; errors {self.errors[-5:]}"
            )

    def finish(self) -> None:
        self.stopping.set()
        self.thread.join(GUARD_S)
        assert not self.thread.is_alive()


def _close(consumer: Consumer) -> None:
    try:
        consumer.close()
    except (KafkaException, RuntimeError):
        pass  # closed already, or the broker is down: the session times out instead


def _first_offsets(messages) -> list[TopicPartition]:
    first: dict[tuple[str, int], int] = {}
    for m in messages:
        first.setdefault((m.topic(), m.partition()), m.offset())
    return [TopicPartition(t, p, o) for (t, p), o in first.items()]


def _next_offsets(messages) -> list[TopicPartition]:
    last: dict[tuple[str, int], int] = {}
    for m in messages:
        last[(m.topic(), m.partition())] = m.offset()
    return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]


def committed_up_to_end(bootstrap: str, topic: str) -> bool:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "copier"})
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        committed = consumer.committed(partitions, timeout=10)
        ends = [consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions]
        return all(c.offset == end for c, end in zip(committed, ends, strict=True))
    finally:
        consumer.close()


def read_committed_output(bootstrap: str, topic: str) -> dict[str, list[int]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "checker",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        # read_committed: the end is the last stable offset, which ListOffsets answers.
        ends = [consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions]
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        positions = [0] * PARTITIONS
        found: dict[str, list[int]] = {}
        deadline = time.monotonic() + GUARD_S
        while any(positions[p] < ends[p] for p in range(PARTITIONS)):
            assert time.monotonic() < deadline, f"stuck at {positions} of {ends}"
            for m in consumer.consume(1000, timeout=1):
                assert m.error() is None, m.error()
                found.setdefault(m.key().decode(), []).append(int(m.value()))
            positions = [tp.offset for tp in consumer.position(partitions)]
        return found
    finally:
        consumer.close()


def test_a_transactional_copier_copies_exactly_once_through_broker_crashes(
    broker_process_factory,
):
    broker = broker_process_factory(group_initial_rebalance_delay_ms=0)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for future in admin.create_topics(
        [NewTopic("eos-in", PARTITIONS), NewTopic("eos-out", PARTITIONS)]
    ).values():
        future.result(GUARD_S)
    expected = produce_input(broker.bootstrap, "eos-in")
    copier = Copier(broker.bootstrap, "eos-in", "eos-out", "eos-copier")
    copier.thread.start()
    try:
        for _ in range(3):
            copier.wait_for_more_commits(3)
            broker.kill()
            broker.start()
        deadline = time.monotonic() + GUARD_S
        while not committed_up_to_end(broker.bootstrap, "eos-in"):
            assert time.monotonic() < deadline, f"the copier did not finish: {copier.errors[-5:]}"
            time.sleep(0.5)
    finally:
        copier.finish()
    assert copier.aborted_txns > 0
    assert read_committed_output(broker.bootstrap, "eos-out") == expected
