"""Clients keep working through leader changes, without being restarted; groups keep
their offsets when their coordinator's broker dies; controlled shutdown and topic
deletion work cluster-wide. Real ZooKeeper, 3 broker processes."""

from __future__ import annotations

import json
import threading
import time

import trio
from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KTopicPartition
from kazoo.client import KazooClient

from kafka_compat.tools.connection import Connection
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from tests.cluster.cluster_fixtures import Cluster, cluster_factory_fixture  # noqa: F401
from tests.cluster.test_failover import (
    GUARD_S,
    create_topic,
    leader_of,
    wait_leader_not,
)
from tests.cluster.test_zk_store import read_raw
from tests.integration.test_producer_ids import new_producer_id


def test_kafka_python_produces_and_consumes_through_a_leader_change(cluster_factory):
    cluster = cluster_factory(3)
    create_topic(cluster.bootstrap, "kp", partitions=1, min_insync_replicas="2")
    producer = KafkaProducer(
        bootstrap_servers=cluster.bootstrap,
        acks="all",
        retries=100,
        retry_backoff_ms=200,
        request_timeout_ms=10000,
        metadata_max_age_ms=1000,
        max_in_flight_requests_per_connection=1,
    )
    for i in range(100):
        producer.send("kp", str(i).encode(), partition=0)
    producer.flush(GUARD_S)
    leader = leader_of(cluster.bootstrap, "kp", 0)
    cluster.brokers[leader].kill()
    futures = [producer.send("kp", str(i).encode(), partition=0) for i in range(100, 200)]
    producer.flush(GUARD_S)
    for future in futures:
        future.get(GUARD_S)
    producer.close()
    rest = ",".join(b.bootstrap for b in cluster.brokers.values() if b.alive)
    consumer = KafkaConsumer(
        bootstrap_servers=rest, enable_auto_commit=False, consumer_timeout_ms=10000
    )
    consumer.assign([KTopicPartition("kp", 0)])
    consumer.seek_to_beginning()
    values = []
    deadline = time.monotonic() + GUARD_S
    while len(values) < 200 and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=1000).values():
            values.extend(int(r.value) for r in records)
    consumer.close()
    assert values[:200] == list(range(200)) or sorted(set(values)) == list(range(200))


def _consume(bootstrap: str, group: str, topic: str, count: int) -> list[int]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )
    consumer.subscribe([topic])
    values: list[int] = []
    deadline = time.monotonic() + GUARD_S
    try:
        while len(values) < count and time.monotonic() < deadline:
            message = consumer.poll(1)
            if message is None or message.error():
                continue
            values.append(int(message.value()))
            if len(values) == count:
                consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return values


def test_a_group_keeps_its_offsets_when_its_coordinator_dies(cluster_factory):
    cluster = cluster_factory(3)
    create_topic(cluster.bootstrap, "grouped", partitions=1)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for i in range(100):
        producer.produce("grouped", str(i).encode())
    assert producer.flush(GUARD_S) == 0
    assert _consume(cluster.bootstrap, "survivors", "grouped", 50) == list(range(50))
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    description = admin.describe_consumer_groups(["survivors"])["survivors"].result(30)
    coordinator = description.coordinator.id
    cluster.brokers[coordinator].kill()
    rest = ",".join(b.bootstrap for b in cluster.brokers.values() if b.alive)
    # The group's offsets partition has a new leader, which loads the committed offsets.
    assert _consume(rest, "survivors", "grouped", 50) == list(range(50, 100))


def test_controlled_shutdown_moves_leadership_before_the_broker_stops(cluster_factory):
    cluster = cluster_factory(3)
    create_topic(cluster.bootstrap, "moving", partitions=3)
    leader = leader_of(cluster.bootstrap, "moving", 0)
    broker = cluster.brokers[leader]
    assert broker.stop() == 0
    assert "Controlled shutdown of broker" in broker.log_tail(20000)
    rest = ",".join(b.bootstrap for b in cluster.brokers.values() if b.alive)
    # Moved before the broker's session ended: no wait for a session timeout.
    assert leader_of(rest, "moving", 0) != leader


def test_topic_deletion_removes_the_topic_from_every_broker(cluster_factory):
    cluster = cluster_factory(3)
    create_topic(cluster.bootstrap, "doomed", partitions=2)
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    committer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "doomed-reader"})
    committer.commit(offsets=[TopicPartition("doomed", 1, 4)], asynchronous=False)
    committer.close()
    admin.delete_topics(["doomed"])["doomed"].result(30)
    # The group's coordinator hears of the deletion in UpdateMetadata: the offsets go
    deadline = time.monotonic() + GUARD_S
    while _committed(admin, "doomed-reader"):
        assert time.monotonic() < deadline, "the deleted topic's offsets are still committed"
        time.sleep(0.2)
    for broker in cluster.brokers.values():
        deadline = time.monotonic() + GUARD_S
        while (
            "doomed"
            in AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10).topics
        ):
            assert time.monotonic() < deadline, f"broker {broker.broker_id} still lists it"
            time.sleep(0.2)
        deadline = time.monotonic() + GUARD_S
        while any(p.name.startswith("doomed-") for p in broker.data_dir.iterdir()):
            assert time.monotonic() < deadline, f"broker {broker.broker_id} kept the logs"
            time.sleep(0.2)
    # The name can be used again.
    create_topic(cluster.bootstrap, "doomed", partitions=1)


def _committed(admin: AdminClient, group: str) -> list[TopicPartition]:
    request = [ConsumerGroupTopicPartitions(group)]
    return admin.list_consumer_group_offsets(request)[group].result(GUARD_S).topic_partitions


def _wait_until_unlisted(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + GUARD_S
    while topic in admin.list_topics(timeout=10).topics:
        assert time.monotonic() < deadline, f"{topic} is still listed"
        time.sleep(0.2)


def test_replicas_of_topics_deleted_while_their_broker_was_down_are_removed(cluster_factory):
    cluster = cluster_factory(3)
    create_topic(cluster.bootstrap, "gone", partitions=2)
    create_topic(cluster.bootstrap, "reborn", partitions=1)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for topic in ("gone", "reborn"):
        producer.produce(topic, b"old", partition=0)
    assert producer.flush(GUARD_S) == 0
    away = cluster.brokers[3]
    away.kill()
    cluster.wait_for_brokers()  # its session is gone: new topics go to brokers 1 and 2
    survivors = ",".join(b.bootstrap for b in cluster.brokers.values() if b.alive)
    admin = AdminClient({"bootstrap.servers": survivors})
    for topic, future in admin.delete_topics(["gone", "reborn"]).items():
        future.result(GUARD_S)
        _wait_until_unlisted(survivors, topic)
    # A new topic under an old name, on the brokers that are up.
    create_topic(survivors, "reborn", partitions=1, rf=2)
    producer = Producer({"bootstrap.servers": survivors, "acks": "all"})
    producer.produce("reborn", b"new", partition=0)
    assert producer.flush(GUARD_S) == 0
    assert {p.name for p in away.data_dir.iterdir()} >= {"gone-0", "gone-1", "reborn-0"}

    away.start()  # finds its stray replicas before it serves
    left = {p.name for p in away.data_dir.iterdir()}
    assert not left & {"gone-0", "gone-1", "reborn-0"}, left
    cluster.wait_for_brokers()
    assert (
        "gone"
        not in AdminClient({"bootstrap.servers": away.bootstrap}).list_topics(timeout=10).topics
    )
    consumer = Consumer(
        {"bootstrap.servers": cluster.bootstrap, "group.id": "reborn", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition("reborn", 0, 0)])
    message = consumer.poll(GUARD_S)
    assert message is not None and message.error() is None and message.value() == b"new"
    consumer.close()


def test_a_new_leader_reports_every_acknowledged_record_as_the_latest_offset(cluster_factory):
    """After a leader change, ListOffsets answers OFFSET_NOT_AVAILABLE (retriable) until
    the new leader's high watermark has caught up, then the full acknowledged log."""
    cluster = cluster_factory(3)
    create_topic(cluster.bootstrap, "hw", partitions=1, min_insync_replicas="2")
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for i in range(500):
        producer.produce("hw", str(i).encode())
    assert producer.flush(GUARD_S) == 0
    leader = leader_of(cluster.bootstrap, "hw", 0)
    # A follower answers a debugging client (replica id -2) with its own log end, and
    # a consumer (-1) with NOT_LEADER_OR_FOLLOWER, as Kafka.
    follower = next(i for i in cluster.brokers if i != leader)
    with Connection("127.0.0.1", cluster.brokers[follower].port, 10) as conn:
        assert _latest(conn, -1) == (ErrorCode.NOT_LEADER_OR_FOLLOWER, -1)
        deadline = time.monotonic() + GUARD_S
        while _latest(conn, -2) != (0, 500):
            assert time.monotonic() < deadline, _latest(conn, -2)
            time.sleep(0.1)
    cluster.brokers[leader].kill()
    rest = ",".join(b.bootstrap for b in cluster.brokers.values() if b.alive)
    wait_leader_not(rest, "hw", 0, leader)
    consumer = Consumer({"bootstrap.servers": rest, "group.id": "hw-check"})
    deadline = time.monotonic() + GUARD_S
    while True:
        try:
            # A new leader answers OFFSET_NOT_AVAILABLE until its HW catches up.
            offsets = consumer.get_watermark_offsets(TopicPartition("hw", 0), timeout=10)
        except KafkaException as exc:
            assert exc.args[0].code() == KafkaError.OFFSET_NOT_AVAILABLE, exc
            assert time.monotonic() < deadline
            time.sleep(0.1)
            continue
        break
    consumer.close()
    assert offsets == (0, 500)


def _latest(conn: Connection, replica_id: int) -> tuple[int, int]:
    Request = messages.request_type(ApiKey.LIST_OFFSETS)
    wanted = Request.ListOffsetsTopic(
        name="hw", partitions=[Request.ListOffsetsPartition(partition_index=0, timestamp=-1)]
    )
    answer = conn.request(ApiKey.LIST_OFFSETS, Request(replica_id=replica_id, topics=[wanted]), 7)
    (result,) = answer.topics[0].partitions
    return result.error_code, result.offset


def test_a_config_change_reaches_the_leaders_on_every_broker(cluster_factory):
    cluster = cluster_factory(3)
    create_topic(cluster.bootstrap, "wide", partitions=3)
    leaders = {leader_of(cluster.bootstrap, "wide", p) for p in range(3)}
    assert len(leaders) == 3  # one partition led by each broker
    admin = AdminClient({"bootstrap.servers": cluster.brokers[1].bootstrap})
    resource = ConfigResource(
        "topic",
        "wide",
        incremental_configs=[
            ConfigEntry("max.message.bytes", "3000000", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    admin.incremental_alter_configs([resource])[resource].result(GUARD_S)
    producer = Producer(
        {"bootstrap.servers": cluster.bootstrap, "message.max.bytes": 5_000_000, "acks": "all"}
    )
    errors: dict[int, object] = {}
    for p in range(3):  # 2 MB: over the default limit, under the new one, on every leader
        producer.produce(
            "wide",
            value=b"x" * 2_000_000,
            partition=p,
            on_delivery=lambda e, m: errors.update({m.partition(): e}),
        )
    assert producer.flush(GUARD_S) == 0
    assert errors == {0: None, 1: None, 2: None}


async def test_producer_ids_come_in_blocks_from_zookeeper(cluster_factory):
    cluster = cluster_factory(3)
    ids = {i: [await new_producer_id(b.port) for _ in range(3)] for i, b in cluster.brokers.items()}
    every = [pid for pids in ids.values() for pid in pids]
    assert len(set(every)) == len(every)
    # Kafka's ZkProducerIdManager layout: each broker took a block of 1000 in turn.
    blocks = {pids[0] // 1000 for pids in ids.values()}
    assert blocks == {0, 1, 2}
    assert all(pid // 1000 == pids[0] // 1000 for pids in ids.values() for pid in pids)
    raw, _version = await read_raw(cluster.zk_connect, "/latest_producer_id_block")
    latest = json.loads(raw)
    assert latest["version"] == 1 and latest["broker"] in ids
    assert (latest["block_start"], latest["block_end"]) == ("2000", "2999")
    # A restarted broker reserves a new block: never one handed out before.
    await trio.to_thread.run_sync(cluster.brokers[1].kill)
    await trio.to_thread.run_sync(cluster.brokers[1].start)
    assert await new_producer_id(cluster.brokers[1].port) == 3000


def test_replicas_are_spread_over_racks(cluster_factory):
    racks = {1: "rack-a", 2: "rack-b", 3: "rack-a"}
    cluster = cluster_factory(3, per_broker={i: {"broker.rack": r} for i, r in racks.items()})
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    nodes = admin.describe_cluster().result(GUARD_S).nodes
    assert {node.id: node.rack for node in nodes} == racks
    create_topic(cluster.bootstrap, "racked", partitions=6, rf=2)
    partitions = admin.list_topics("racked", timeout=10).topics["racked"].partitions
    for partition in partitions.values():
        assert {racks[b] for b in partition.replicas} == {"rack-a", "rack-b"}


def test_a_consumer_reads_from_a_replica_in_its_own_rack(cluster_factory):
    """KIP-392: with Kafka's RackAwareReplicaSelector the leader points a consumer that
    sends client.rack to the replica in that rack, and the consumer fetches there."""
    racks = {1: "rack-1", 2: "rack-2", 3: "rack-3"}
    cluster = cluster_factory(
        3,
        per_broker={i: {"broker.rack": r} for i, r in racks.items()},
        replica_selector_class="org.apache.kafka.common.replica.RackAwareReplicaSelector",
    )
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    topic = NewTopic("nearby", 1, replica_assignment=[[1, 2, 3]])  # broker 1 leads
    admin.create_topics([topic])["nearby"].result(GUARD_S)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for i in range(100):
        producer.produce("nearby", str(i).encode())
    assert producer.flush(GUARD_S) == 0
    fetching: list[tuple[int, int]] = []  # (broker fetched from, next offset) per report

    def on_stats(raw: str) -> None:
        partition = json.loads(raw)["topics"].get("nearby", {}).get("partitions", {}).get("0")
        if partition is not None:
            fetching.append((partition["broker"], partition["next_offset"]))

    consumer = Consumer(
        {
            "bootstrap.servers": cluster.bootstrap,
            "group.id": "nearby",
            "client.rack": "rack-2",
            "statistics.interval.ms": 200,
            "stats_cb": on_stats,
        }
    )
    consumer.assign([TopicPartition("nearby", 0, 0)])
    values = []
    deadline = time.monotonic() + GUARD_S
    while len(values) < 100 or not fetching or fetching[-1][1] < 100:
        assert time.monotonic() < deadline, f"read {len(values)} of 100; stats {fetching[-1:]}"
        message = consumer.poll(0.2)
        if message is not None and message.error() is None:
            values.append(int(message.value()))
    consumer.close()
    assert values == list(range(100))
    assert fetching[-1][0] == 2  # the follower in rack-2, not the leader (1)


def test_a_client_that_asks_before_the_first_update_metadata_learns_the_controller(
    tmp_path, zk_connect
):
    """A broker listens before the controller has told it anything. Someone else holds
    /controller here, so broker 1 gets no UpdateMetadata until that goes; a Metadata
    request in the meantime waits for it instead of naming no controller (librdkafka's
    admin client would then wait for a controller until its own timeout)."""
    zk = KazooClient(hosts=zk_connect.split("/")[0])
    zk.start(GUARD_S)
    chroot = zk_connect[zk_connect.index("/") :]
    zk.create(
        f"{chroot}/controller",
        b'{"version":2,"brokerid":99,"timestamp":"0"}',
        ephemeral=True,
        makepath=True,
    )
    cluster = Cluster(tmp_path, zk_connect, 1, {})
    try:
        cluster.brokers[1].start()  # listening; not waiting for its metadata
        answer: list = []

        def ask() -> None:
            admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
            try:
                answer.append(admin.list_topics(timeout=30))
            except KafkaException as exc:
                answer.append(exc)

        asking = threading.Thread(target=ask)
        asking.start()
        time.sleep(1)
        assert not answer  # still waiting: nobody has told broker 1 about the cluster
        zk.delete(f"{chroot}/controller")  # broker 1 becomes the controller
        asking.join(GUARD_S)
        meta = answer[0]
        assert not isinstance(meta, KafkaException), meta
        assert meta.controller_id == 1 and set(meta.brokers) == {1}
    finally:
        cluster.stop()
        zk.stop()
        zk.close()
