"""The oldest and newest versions a Kafka 3.9 ZooKeeper broker serves of ListOffsets,
OffsetCommit, OffsetFetch, FindCoordinator, CreateTopics, DeleteTopics and
DescribeConfigs, on the wire with our codec as the client, answered as Kafka 3.9
answers them; and kafka-python's broker-version guess from the advertised ranges."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from kafka_compat.tools.connection import Connection
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

GUARD_S = 30.0
TOPIC = "ranges"

# What a Kafka 3.9 ZooKeeper broker advertises (its zkBroker ApiVersions), for every
# API we serve. Not yet served: the security APIs (issue 13) and those named in
# docs/compatibility.md.
KAFKA_39 = {
    ApiKey.PRODUCE: (0, 11),
    ApiKey.FETCH: (0, 17),
    ApiKey.LIST_OFFSETS: (0, 9),
    ApiKey.METADATA: (0, 12),
    ApiKey.LEADER_AND_ISR: (0, 7),
    ApiKey.STOP_REPLICA: (0, 4),
    ApiKey.UPDATE_METADATA: (0, 8),
    ApiKey.CONTROLLED_SHUTDOWN: (0, 3),
    ApiKey.OFFSET_COMMIT: (0, 9),
    ApiKey.OFFSET_FETCH: (0, 9),
    ApiKey.FIND_COORDINATOR: (0, 6),
    ApiKey.JOIN_GROUP: (0, 9),
    ApiKey.HEARTBEAT: (0, 4),
    ApiKey.LEAVE_GROUP: (0, 5),
    ApiKey.SYNC_GROUP: (0, 5),
    ApiKey.DESCRIBE_GROUPS: (0, 5),
    ApiKey.LIST_GROUPS: (0, 5),
    ApiKey.SASL_HANDSHAKE: (0, 1),
    ApiKey.API_VERSIONS: (0, 4),
    ApiKey.CREATE_TOPICS: (0, 7),
    ApiKey.DELETE_TOPICS: (0, 6),
    ApiKey.DELETE_RECORDS: (0, 2),
    ApiKey.INIT_PRODUCER_ID: (0, 5),
    ApiKey.OFFSET_FOR_LEADER_EPOCH: (0, 4),
    ApiKey.ADD_PARTITIONS_TO_TXN: (0, 5),
    ApiKey.ADD_OFFSETS_TO_TXN: (0, 4),
    ApiKey.END_TXN: (0, 4),
    ApiKey.WRITE_TXN_MARKERS: (0, 1),
    ApiKey.TXN_OFFSET_COMMIT: (0, 4),
    ApiKey.DESCRIBE_CONFIGS: (0, 4),
    ApiKey.ALTER_CONFIGS: (0, 2),
    ApiKey.ALTER_REPLICA_LOG_DIRS: (0, 2),
    ApiKey.DESCRIBE_LOG_DIRS: (0, 4),
    ApiKey.CREATE_PARTITIONS: (0, 3),
    ApiKey.DELETE_GROUPS: (0, 2),
    ApiKey.ELECT_LEADERS: (0, 2),
    ApiKey.INCREMENTAL_ALTER_CONFIGS: (0, 1),
    ApiKey.ALTER_PARTITION_REASSIGNMENTS: (0, 0),
    ApiKey.LIST_PARTITION_REASSIGNMENTS: (0, 0),
    ApiKey.OFFSET_DELETE: (0, 0),
    ApiKey.DESCRIBE_CLUSTER: (0, 1),
    ApiKey.DESCRIBE_PRODUCERS: (0, 0),
    ApiKey.DESCRIBE_TRANSACTIONS: (0, 0),
    ApiKey.LIST_TRANSACTIONS: (0, 1),
    ApiKey.ALTER_PARTITION: (0, 3),
    ApiKey.UPDATE_FEATURES: (0, 1),
}


def req(api_key: int, **fields):
    return messages.request_type(api_key)(**fields)


def _produce(bootstrap: str, topic: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(count):
        producer.produce(topic, value=str(i).encode(), partition=0)
        producer.flush(10)
    assert producer.flush(10) == 0


def _create(conn: Connection, name: str, version: int = 2, configs=(), **fields):
    Request = messages.request_type(ApiKey.CREATE_TOPICS)
    topic = Request.CreatableTopic(
        name=name, num_partitions=1, replication_factor=1, configs=list(configs)
    )
    answer = conn.request(
        ApiKey.CREATE_TOPICS, Request(topics=[topic], timeout_ms=10_000, **fields), version
    )
    return answer.topics[0]


@pytest.fixture
def broker_conn(broker_factory):
    broker = broker_factory(group_initial_rebalance_delay_ms="0", offsets_topic_num_partitions="1")
    host, port = broker.bootstrap.rsplit(":", 1)
    connection = Connection(host, int(port), GUARD_S)
    yield broker, connection
    connection.close()


def test_api_versions_advertises_kafka_39s_ranges(broker_conn):
    _, conn = broker_conn
    assert {key: conn.versions.get(key) for key in KAFKA_39} == KAFKA_39


# ---- OffsetForLeaderEpoch ----


def test_offset_for_leader_epoch_v0_v1(broker_conn):
    broker, conn = broker_conn
    _create(conn, TOPIC)
    _produce(broker.bootstrap, TOPIC, 3)
    Request = messages.request_type(ApiKey.OFFSET_FOR_LEADER_EPOCH)
    wanted = Request(
        topics=[
            Request.OffsetForLeaderTopic(
                topic=TOPIC,
                partitions=[Request.OffsetForLeaderPartition(partition=0, leader_epoch=0)],
            )
        ]
    )
    for version in (0, 1):
        (result,) = (
            conn.request(ApiKey.OFFSET_FOR_LEADER_EPOCH, wanted, version).topics[0].partitions
        )
        assert (result.error_code, result.end_offset) == (0, 3), version
        # v0 has no LeaderEpoch in the answer: the decoder leaves its default.
        assert result.leader_epoch == (-1 if version == 0 else 0)


def test_kafka_python_guesses_a_3x_broker_from_the_advertised_ranges(broker_conn):
    from kafka import KafkaAdminClient

    broker, _ = broker_conn
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10_000)
    try:
        guessed = admin._client.check_version()  # noqa: SLF001 -- what the client infers
    finally:
        admin.close()
    # ListOffsets v10 would make it a 4.0 broker (and it would send v10).
    assert (3, 0) <= guessed < (4, 0)


# ---- ListOffsets ----


def _list_offsets(conn, version, *partitions, replica_id=-1):
    """partitions: (partition, timestamp[, max_num_offsets])."""
    Request = messages.request_type(ApiKey.LIST_OFFSETS)
    wanted = [
        Request.ListOffsetsPartition(
            partition_index=p[0], timestamp=p[1], max_num_offsets=p[2] if len(p) > 2 else 1
        )
        for p in partitions
    ]
    answer = conn.request(
        ApiKey.LIST_OFFSETS,
        Request(
            replica_id=replica_id, topics=[Request.ListOffsetsTopic(name=TOPIC, partitions=wanted)]
        ),
        version,
    )
    return answer.topics[0].partitions


def test_list_offsets_v0_answers_old_style_offset_lists(broker_conn):
    broker, conn = broker_conn
    _create(conn, TOPIC)
    _produce(broker.bootstrap, TOPIC, 5)

    (latest,) = _list_offsets(conn, 0, (0, -1, 10))
    assert (latest.error_code, latest.old_style_offsets) == (0, [5, 0])
    (latest_one,) = _list_offsets(conn, 0, (0, -1, 1))
    assert latest_one.old_style_offsets == [5]
    (earliest,) = _list_offsets(conn, 0, (0, -2, 10))
    assert earliest.old_style_offsets == [0]
    # Nothing was last modified before 1970: no offsets.
    (before,) = _list_offsets(conn, 0, (0, 0, 10))
    assert (before.error_code, before.old_style_offsets) == (0, [])
    # Far in the future: every segment and the log end qualify.
    (future,) = _list_offsets(conn, 0, (0, 2**62, 10))
    assert future.old_style_offsets == [5, 0]
    # v0 knows only -1 and -2 among the special timestamps.
    (max_timestamp,) = _list_offsets(conn, 0, (0, -3, 1))
    assert max_timestamp.error_code == ErrorCode.UNSUPPORTED_VERSION
    (unknown,) = _list_offsets(conn, 0, (7, -1, 1))
    assert unknown.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def test_list_offsets_v0_lists_segment_base_offsets_newest_first(broker_conn):
    broker, conn = broker_conn
    Request = messages.request_type(ApiKey.CREATE_TOPICS)
    # One batch per segment: every append rolls.
    small = Request.CreatableTopicConfig(name="segment.bytes", value="100")
    assert _create(conn, TOPIC, configs=[small]).error_code == ErrorCode.NONE
    _produce(broker.bootstrap, TOPIC, 5)

    (every,) = _list_offsets(conn, 0, (0, -1, 10))
    assert every.old_style_offsets == [5, 4, 3, 2, 1, 0]
    (newest,) = _list_offsets(conn, 0, (0, -1, 3))
    assert newest.old_style_offsets == [5, 4, 3]

    # The log start offset moves: -2 (v0) and -4 (v8) follow it.
    DeleteRecords = messages.request_type(ApiKey.DELETE_RECORDS)
    conn.request(
        ApiKey.DELETE_RECORDS,
        DeleteRecords(
            topics=[
                DeleteRecords.DeleteRecordsTopic(
                    name=TOPIC,
                    partitions=[DeleteRecords.DeleteRecordsPartition(partition_index=0, offset=2)],
                )
            ],
            timeout_ms=10_000,
        ),
    )
    (earliest,) = _list_offsets(conn, 0, (0, -2, 10))
    assert earliest.old_style_offsets == [2]
    (earliest_local,) = _list_offsets(conn, 8, (0, -4))
    assert earliest_local.offset == 2


def test_list_offsets_special_timestamps_per_version(broker_conn):
    broker, conn = broker_conn
    _create(conn, TOPIC)
    _produce(broker.bootstrap, TOPIC, 3)

    # -3 from v7, -4 from v8, -5 from v9; earlier: UNSUPPORTED_VERSION, as Kafka.
    for timestamp, first in ((-3, 7), (-4, 8), (-5, 9), (-6, 99)):
        for version in (1, 6, 7, 8, 9):
            (answer,) = _list_offsets(conn, version, (0, timestamp))
            expected = ErrorCode.NONE if version >= first else ErrorCode.UNSUPPORTED_VERSION
            assert answer.error_code == expected, (timestamp, version)

    # v8's earliest local offset: the log start offset (no tiered storage).
    (earliest_local,) = _list_offsets(conn, 8, (0, -4))
    (earliest,) = _list_offsets(conn, 8, (0, -2))
    assert (earliest_local.offset, earliest_local.timestamp) == (0, -1)
    assert earliest_local.leader_epoch == earliest.leader_epoch == 0
    # v9's latest tiered offset: nothing is tiered.
    (tiered,) = _list_offsets(conn, 9, (0, -5))
    assert (tiered.error_code, tiered.offset, tiered.timestamp, tiered.leader_epoch) == (
        0,
        -1,
        -1,
        -1,
    )
    (latest,) = _list_offsets(conn, 9, (0, -1))
    assert (latest.offset, latest.leader_epoch) == (3, 0)


def test_list_offsets_refuses_a_partition_named_twice(broker_conn):
    broker, conn = broker_conn
    _create(conn, TOPIC)
    first, second = _list_offsets(conn, 5, (0, -1), (0, -2))
    assert first.error_code == second.error_code == ErrorCode.INVALID_REQUEST
    (alone,) = _list_offsets(conn, 5, (0, -1))
    assert alone.error_code == ErrorCode.NONE


# ---- OffsetCommit / OffsetFetch ----


def _commit(conn, version, group, offset, metadata="", **fields):
    Request = messages.request_type(ApiKey.OFFSET_COMMIT)
    Topic = Request.OffsetCommitRequestTopic
    partition = Request.OffsetCommitRequestPartition(
        partition_index=0,
        committed_offset=offset,
        committed_metadata=metadata,
        commit_timestamp=fields.pop("commit_timestamp", -1),
    )
    answer = conn.request(
        ApiKey.OFFSET_COMMIT,
        Request(group_id=group, topics=[Topic(name=TOPIC, partitions=[partition])], **fields),
        version,
    )
    return answer.topics[0].partitions[0].error_code


def _fetch(conn, version, group, partition=0):
    Request = messages.request_type(ApiKey.OFFSET_FETCH)
    topic = Request.OffsetFetchRequestTopic(name=TOPIC, partition_indexes=[partition])
    answer = conn.request(ApiKey.OFFSET_FETCH, Request(group_id=group, topics=[topic]), version)
    found = answer.topics[0].partitions[0]
    return found.committed_offset, found.metadata, found.error_code


def test_offset_commit_v0_is_kept_apart_from_the_coordinators_offsets(broker_conn):
    broker, conn = broker_conn
    _create(conn, TOPIC)

    # v0 goes where Kafka 3.9 puts it (ZooKeeper-era storage), not to the coordinator.
    assert _commit(conn, 0, "old", 42, metadata="kept?") == ErrorCode.NONE
    assert _fetch(conn, 0, "old") == (42, "", ErrorCode.NONE)
    assert _fetch(conn, 1, "old") == (-1, "", ErrorCode.NONE)

    # v1 (and later) goes to the group coordinator; v0 does not see it.
    assert _commit(conn, 1, "new", 17, metadata="m", member_id="") == ErrorCode.NONE
    assert _fetch(conn, 1, "new") == (17, "m", ErrorCode.NONE)
    assert _fetch(conn, 0, "new") == (-1, "", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)

    # Survives a restart (the single node's metadata file).
    broker.restart()
    host, port = broker.bootstrap.rsplit(":", 1)
    with Connection(host, int(port), GUARD_S) as again:
        assert _fetch(again, 0, "old") == (42, "", ErrorCode.NONE)


def test_offset_commit_v0_errors(broker_conn):
    _, conn = broker_conn
    _create(conn, TOPIC)
    assert _commit(conn, 0, "g", 1, metadata="x" * 4097) == ErrorCode.OFFSET_METADATA_TOO_LARGE
    assert _fetch(conn, 0, "g") == (-1, "", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    assert _fetch(conn, 0, "g", partition=5) == (-1, "", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)


def test_offset_commit_v1_takes_the_commit_timestamp(broker_conn):
    broker, conn = broker_conn
    _create(conn, TOPIC)
    error = _commit(conn, 1, "stamped", 5, member_id="", commit_timestamp=1_000)
    assert error == ErrorCode.NONE
    coordinator = broker.broker.components.group_coordinator
    offsets = coordinator.fetch_offsets("stamped", [(TOPIC, 0)], False)[1]
    assert offsets[(TOPIC, 0)].commit_timestamp == 1_000


# ---- FindCoordinator ----


def test_find_coordinator_v5_v6_and_the_share_key(broker_conn):
    _, conn = broker_conn
    for version in (5, 6):
        answer = conn.request(
            ApiKey.FIND_COORDINATOR,
            req(ApiKey.FIND_COORDINATOR, key_type=0, coordinator_keys=["a-group"]),
            version,
        )
        (found,) = answer.coordinators
        assert (found.key, found.error_code, found.error_message) == ("a-group", 0, "")
        assert found.node_id == 0
    # Share groups (KIP-932): no coordinator at v6, an invalid key type before.
    for version, error in (
        (5, ErrorCode.INVALID_REQUEST),
        (6, ErrorCode.COORDINATOR_NOT_AVAILABLE),
    ):
        answer = conn.request(
            ApiKey.FIND_COORDINATOR,
            req(ApiKey.FIND_COORDINATOR, key_type=2, coordinator_keys=["share"]),
            version,
        )
        (found,) = answer.coordinators
        assert (found.error_code, found.node_id, found.host, found.port) == (error, -1, "", -1)


def test_find_coordinator_v1_says_none_on_success(broker_conn):
    _, conn = broker_conn
    answer = conn.request(
        ApiKey.FIND_COORDINATOR, req(ApiKey.FIND_COORDINATOR, key="g", key_type=0), 1
    )
    assert (answer.error_code, answer.error_message) == (0, "NONE")


# ---- CreateTopics / DeleteTopics ----


def _topic_names(conn) -> set[str]:
    Metadata = messages.request_type(ApiKey.METADATA)
    answer = conn.request(ApiKey.METADATA, Metadata(topics=None), 1)
    return {t.name for t in answer.topics}


def test_create_topics_v0_v1_and_delete_topics_v0(broker_conn):
    _, conn = broker_conn
    assert _create(conn, "made-v0", version=0).error_code == ErrorCode.NONE
    checked = _create(conn, "checked-v1", version=1, validate_only=True)
    assert (checked.error_code, checked.error_message) == (0, None)
    assert _create(conn, "made-v0", version=1).error_code == ErrorCode.TOPIC_ALREADY_EXISTS
    names = _topic_names(conn)
    assert "made-v0" in names and "checked-v1" not in names

    Request = messages.request_type(ApiKey.DELETE_TOPICS)
    answer = conn.request(
        ApiKey.DELETE_TOPICS, Request(topic_names=["made-v0", "absent"], timeout_ms=10_000), 0
    )
    assert [(r.name, r.error_code) for r in answer.responses] == [
        ("made-v0", ErrorCode.NONE),
        ("absent", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
    ]
    assert "made-v0" not in _topic_names(conn)


def test_delete_topics_disabled_is_an_invalid_request_before_v3(broker_factory):
    broker = broker_factory(delete_topic_enable="false")
    host, port = broker.bootstrap.rsplit(":", 1)
    with Connection(host, int(port), GUARD_S) as conn:
        _create(conn, "kept")
        Request = messages.request_type(ApiKey.DELETE_TOPICS)
        for version, error in (
            (0, ErrorCode.INVALID_REQUEST),
            (2, ErrorCode.INVALID_REQUEST),
            (3, ErrorCode.TOPIC_DELETION_DISABLED),
        ):
            answer = conn.request(
                ApiKey.DELETE_TOPICS,
                Request(topic_names=["kept", "never-created"], timeout_ms=10_000),
                version,
            )
            # Checked before existence, as Kafka: the unknown topic gets it too.
            assert [r.error_code for r in answer.responses] == [error, error], version
        assert "kept" in _topic_names(conn)


# ---- DescribeConfigs ----


def _describe(conn, version, resource_type, name, keys=None, documentation=False):
    Request = messages.request_type(ApiKey.DESCRIBE_CONFIGS)
    resource = Request.DescribeConfigsResource(
        resource_type=resource_type, resource_name=name, configuration_keys=keys
    )
    answer = conn.request(
        ApiKey.DESCRIBE_CONFIGS,
        Request(resources=[resource], include_documentation=documentation),
        version,
    )
    (result,) = answer.results
    assert result.error_code == 0, result
    return {c.name: c for c in result.configs}


def test_describe_configs_v0_answers_values_without_sources(broker_conn):
    _, conn = broker_conn
    _create(conn, TOPIC)
    configs = _describe(conn, 0, 2, TOPIC)
    assert configs["cleanup.policy"].value == "delete"
    assert configs["retention.ms"].value == "604800000"
    # Kafka 3.9 never sets v0's IsDefault.
    assert not any(c.is_default for c in configs.values())
    # An empty key list asks for every key, as null does.
    assert _describe(conn, 0, 2, TOPIC, keys=[]).keys() == configs.keys()


def test_describe_configs_v3_types_and_documentation(broker_conn):
    _, conn = broker_conn
    _create(conn, TOPIC)
    topic = _describe(conn, 3, 2, TOPIC, documentation=True)
    assert topic["retention.ms"].config_type == 5  # LONG
    assert topic["cleanup.policy"].config_type == 7  # LIST
    assert topic["min.cleanable.dirty.ratio"].config_type == 6  # DOUBLE
    assert topic["preallocate"].config_type == 1  # BOOLEAN
    assert topic["max.message.bytes"].config_type == 3  # INT
    assert all(c.config_type != 0 and c.documentation for c in topic.values())
    broker = _describe(conn, 4, 4, "0", documentation=False)
    assert broker["offsets.topic.replication.factor"].config_type == 4  # SHORT
    assert broker["zookeeper.connect"].config_type == 2  # STRING
    assert all(c.config_type != 0 and c.documentation is None for c in broker.values())


# ---- a real client speaking the old versions ----


@pytest.mark.parametrize(
    ("api_version", "storage"),
    [
        # ListOffsets v0, OffsetCommit v0, OffsetFetch v0: ZooKeeper-era offsets.
        ((0, 8, 1), "zookeeper"),
        # ListOffsets v0, FindCoordinator v0, OffsetCommit v1, OffsetFetch v1.
        ((0, 8, 2), "kafka"),
    ],
)
def test_kafka_python_pinned_to_an_old_broker_lists_commits_and_reads_offsets(
    broker_conn, api_version, storage
):
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    broker, conn = broker_conn
    _create(conn, TOPIC)
    _produce(broker.bootstrap, TOPIC, 4)
    tp = TopicPartition(TOPIC, 0)
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        api_version=api_version,
        group_id=f"old-{storage}",
        enable_auto_commit=False,
        request_timeout_ms=10_000,
    )
    try:
        consumer.assign([tp])
        assert consumer.beginning_offsets([tp]) == {tp: 0}
        assert consumer.end_offsets([tp]) == {tp: 4}
        consumer.commit({tp: OffsetAndMetadata(3, "", -1)})
        assert consumer.committed(tp) == 3
    finally:
        consumer.close()
    # Where the offset went: OffsetFetch v0 reads ZooKeeper's, v1 the coordinator's.
    in_store = _fetch(conn, 0, f"old-{storage}")[0]
    in_coordinator = _fetch(conn, 1, f"old-{storage}")[0]
    assert (in_store, in_coordinator) == ((3, -1) if storage == "zookeeper" else (-1, 3))


# ---- WriteTxnMarkers ----


def test_write_txn_markers_v0_appends_a_control_batch(broker_conn):
    broker, conn = broker_conn
    _create(conn, TOPIC)
    _produce(broker.bootstrap, TOPIC, 2)
    Request = messages.request_type(ApiKey.WRITE_TXN_MARKERS)
    marker = Request.WritableTxnMarker(
        producer_id=4242,
        producer_epoch=0,
        transaction_result=True,
        topics=[Request.WritableTxnMarkerTopic(name=TOPIC, partition_indexes=[0])],
        coordinator_epoch=0,
    )
    answer = conn.request(ApiKey.WRITE_TXN_MARKERS, Request(markers=[marker]), 0)
    (result,) = answer.markers
    assert result.producer_id == 4242
    assert [(p.partition_index, p.error_code) for p in result.topics[0].partitions] == [(0, 0)]
    (latest,) = _list_offsets(conn, 1, (0, -1))
    assert latest.offset == 3  # the COMMIT marker took offset 2
