"""The controller_mutation_rate quota (KIP-599) as a client sees it: partitions created
and deleted over the quota are refused with THROTTLING_QUOTA_EXCEEDED on the versions
that know it (CreateTopics v6+, CreatePartitions v3+, DeleteTopics v5+) and done then
throttled on older ones (confluent-kafka's); validate_only and refused topics take
nothing; other clients are not affected. kafka-python's admin sends the strict versions.

The brokers run with controller.quota.window.num=5, so a quota of 2 partitions/s is a
bucket of 10 (quota x 5 windows of 1 s) refilled at 2 a second.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic
from kafka.admin import KafkaAdminClient

from kafka_compat.tools.connection import Connection
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from tests.integration.test_client_quotas import alter

GUARD_S = 30
THROTTLED = ErrorCode.THROTTLING_QUOTA_EXCEEDED
MESSAGE = "The throttling quota has been exceeded."
CreateTopics = messages.request_type(ApiKey.CREATE_TOPICS)
CreatePartitions = messages.request_type(ApiKey.CREATE_PARTITIONS)
DeleteTopics = messages.request_type(ApiKey.DELETE_TOPICS)


@pytest.fixture
def quota_broker(broker_factory):
    """A broker whose client-id "limited" has a quota of 2 partition mutations a second."""
    handle = broker_factory(controller_quota_window_num="5")
    with connect(handle, "admin") as conn:
        result = alter(conn, {"client-id": "limited"}, {"controller_mutation_rate": 2.0})
        assert result.error_code == 0
    return handle


def connect(broker, client_id: str) -> Connection:
    return Connection("127.0.0.1", broker.port, timeout=GUARD_S, client_id=client_id)


def create(conn: Connection, topics: dict[str, int], version=None, validate_only=False, **cfg):
    """CreateTopics of {name: partitions}; (throttle_time_ms, {name: (error, message)})."""
    request = CreateTopics(
        topics=[
            CreateTopics.CreatableTopic(
                name=name,
                num_partitions=count,
                replication_factor=1,
                assignments=[],
                configs=[
                    CreateTopics.CreatableTopicConfig(name=k, value=v) for k, v in cfg.items()
                ],
            )
            for name, count in topics.items()
        ],
        timeout_ms=GUARD_S * 1000,
        validate_only=validate_only,
    )
    answer = conn.request(ApiKey.CREATE_TOPICS, request, version=version)
    errors = {t.name: (t.error_code, t.error_message) for t in answer.topics}
    return answer.throttle_time_ms, errors


def create_partitions(conn: Connection, counts: dict[str, int], version=None):
    request = CreatePartitions(
        topics=[
            CreatePartitions.CreatePartitionsTopic(name=name, count=count, assignments=None)
            for name, count in counts.items()
        ],
        timeout_ms=GUARD_S * 1000,
        validate_only=False,
    )
    answer = conn.request(ApiKey.CREATE_PARTITIONS, request, version=version)
    return answer.throttle_time_ms, {
        r.name: (r.error_code, r.error_message) for r in answer.results
    }


def delete(conn: Connection, names: list[str], version=None):
    request = DeleteTopics(
        topics=[DeleteTopics.DeleteTopicState(name=n, topic_id=bytes(16)) for n in names],
        topic_names=names,
        timeout_ms=GUARD_S * 1000,
    )
    answer = conn.request(ApiKey.DELETE_TOPICS, request, version=version)
    errors = {r.name: (r.error_code, r.error_message) for r in answer.responses}
    return answer.throttle_time_ms, errors


def ok(names) -> dict:
    return {name: (0, None) for name in names}


def partition_counts(broker) -> dict[str, int]:
    return {name: t.partitions for name, t in broker.broker.store.topics.items()}


@pytest.mark.parametrize("version", [6, 7])
def test_topics_over_the_quota_are_refused_the_others_created(quota_broker, version) -> None:
    with connect(quota_broker, "limited") as conn:
        # The bucket (10) is not negative before a and b: both go, b takes it to -5;
        # c and d are refused, and the answer says how long to wait.
        throttle, errors = create(conn, {"a": 8, "b": 7, "c": 1, "d": 1}, version=version)
        assert errors == {**ok("ab"), "c": (THROTTLED, MESSAGE), "d": (THROTTLED, MESSAGE)}
        assert throttle > 0
        assert partition_counts(quota_broker) == {"a": 8, "b": 7}
        # Asked again, as a client retrying them does, the refused topics are created
        # as the bucket refills (the connection is first muted for the throttle time,
        # as Kafka mutes it): one more whenever it is not negative.
        pending = {"c": 1, "d": 1}
        deadline = time.monotonic() + GUARD_S
        while pending and time.monotonic() < deadline:
            _, errors = create(conn, pending, version=version)
            assert set(errors.values()) <= {(0, None), (THROTTLED, MESSAGE)}
            pending = {name: 1 for name, error in errors.items() if error[0] == THROTTLED}
        assert partition_counts(quota_broker) == {"a": 8, "b": 7, "c": 1, "d": 1}


def test_a_client_without_a_quota_is_not_limited(quota_broker) -> None:
    with connect(quota_broker, "limited") as conn:
        create(conn, {"big": 20})  # takes the limited client's bucket below zero
    with connect(quota_broker, "limited") as conn:  # not the muted connection
        assert create(conn, {"refused": 1})[1] == {"refused": (THROTTLED, MESSAGE)}
    with connect(quota_broker, "other") as conn:
        for i in range(3):
            assert create(conn, {f"other-{i}": 50}) == (0, ok([f"other-{i}"]))
        assert delete(conn, ["other-0", "other-1"]) == (0, ok(["other-0", "other-1"]))


def test_validate_only_and_refused_topics_take_nothing(quota_broker) -> None:
    with connect(quota_broker, "admin") as conn:
        assert create(conn, {"exists": 1}) == (0, ok(["exists"]))
    with connect(quota_broker, "limited") as conn:
        assert create(conn, {"checked": 100}, validate_only=True) == (0, ok(["checked"]))
        _, errors = create(conn, {"exists": 100})
        assert errors["exists"][0] == ErrorCode.TOPIC_ALREADY_EXISTS
        _, errors = create(conn, {"bad": 100}, **{"cleanup.policy": "nope"})
        assert errors["bad"][0] == ErrorCode.INVALID_CONFIG
        assert (
            create_partitions(conn, {"exists": 1})[1]["exists"][0] == ErrorCode.INVALID_PARTITIONS
        )
        # None of the above counted: the whole bucket is left (10, then one more while
        # it is not negative).
        throttle, errors = create(conn, {"t1": 10, "t2": 5, "t3": 1})
        assert errors == {**ok(["t1", "t2"]), "t3": (THROTTLED, MESSAGE)}
        assert throttle > 0


def test_create_partitions_and_delete_topics_count_their_partitions(quota_broker) -> None:
    with connect(quota_broker, "admin") as conn:
        create(conn, {"p1": 1, "p2": 1, "d1": 8, "d2": 8, "d3": 1})
    with connect(quota_broker, "limited") as conn:
        # 11 new partitions: the bucket goes from 10 to -1; p2's one is refused.
        throttle, errors = create_partitions(conn, {"p1": 12, "p2": 2}, version=3)
        assert errors == {**ok(["p1"]), "p2": (THROTTLED, MESSAGE)}
        assert throttle > 0
        assert partition_counts(quota_broker)["p1"] == 12
    with connect(quota_broker, "limited-deleter") as conn:
        alter(conn, {"client-id": "limited-deleter"}, {"controller_mutation_rate": 2.0})
        # Deleting d1 and d2 takes 16 partitions (10 -> 2 -> -6): d3 is refused.
        throttle, errors = delete(conn, ["d1", "d2", "d3"], version=5)
        assert errors == {**ok(["d1", "d2"]), "d3": (THROTTLED, MESSAGE)}
        assert throttle > 0
        assert set(partition_counts(quota_broker)) == {"p1", "p2", "d3"}


@pytest.mark.parametrize(
    ("create_version", "partitions_version", "delete_version"), [(5, 2, 4), (2, 1, 1)]
)
def test_older_versions_are_done_and_throttled(
    quota_broker, create_version, partitions_version, delete_version
) -> None:
    # Every other client-id gets a bucket of 10 of its own: one per step.
    with connect(quota_broker, "admin") as conn:
        alter(conn, {"client-id": None}, {"controller_mutation_rate": 2.0})
    # Over the quota (11 partitions each time): everything is done, and the client is
    # told to wait (its connection muted meanwhile, or the answer held back for the
    # versions whose clients do not throttle themselves).
    with connect(quota_broker, "old-create") as conn:
        throttle, errors = create(conn, {"o1": 6, "o2": 5, "o3": 1}, version=create_version)
        assert set(errors.values()) == {(0, None)}
        assert throttle > 0
    with connect(quota_broker, "old-partitions") as conn:
        throttle, errors = create_partitions(conn, {"o3": 12}, version=partitions_version)
        assert errors["o3"][0] == 0 and throttle > 0
    with connect(quota_broker, "old-delete") as conn:
        throttle, errors = delete(conn, ["o1", "o2"], version=delete_version)
        assert {e[0] for e in errors.values()} == {0} and throttle > 0
    assert partition_counts(quota_broker) == {"o3": 12}


def test_default_user_quota_applies_to_anonymous_clients(broker_factory) -> None:
    handle = broker_factory(controller_quota_window_num="5")
    with connect(handle, "any") as conn:
        alter(conn, {"user": None}, {"controller_mutation_rate": 2.0})
        # ANONYMOUS falls under <default>: every client-id shares its one bucket.
        assert create(conn, {"u1": 11}) == (0, ok(["u1"]))
    with connect(handle, "another") as conn:
        assert create(conn, {"u2": 1})[1] == {"u2": (THROTTLED, MESSAGE)}
        # Removed: nothing limits them any more.
        alter(conn, {"user": None}, {"controller_mutation_rate": None})
        assert create(conn, {"u2": 1}) == (0, ok(["u2"]))


def test_auto_created_topics_count_without_throttling_the_metadata_request(quota_broker):
    Metadata = messages.request_type(ApiKey.METADATA)
    names = [f"auto-{i}" for i in range(11)]  # num.partitions=1: 11 from a bucket of 10
    request = Metadata(
        topics=[Metadata.MetadataRequestTopic(name=n, topic_id=bytes(16)) for n in names],
        allow_auto_topic_creation=True,
    )
    with connect(quota_broker, "limited") as conn:
        answer = conn.request(ApiKey.METADATA, request)
    assert answer.throttle_time_ms == 0
    assert {t.name for t in answer.topics if t.error_code == 0} == set(names)
    with connect(quota_broker, "limited") as conn:
        assert create(conn, {"next": 1})[1] == {"next": (THROTTLED, MESSAGE)}


# ---- confluent-kafka (librdkafka: CreateTopics v4, CreatePartitions v2, DeleteTopics v4) ----


def _results(futures: dict) -> dict:
    errors = {}
    for name, future in futures.items():
        try:
            future.result(timeout=GUARD_S)
            errors[name] = None
        except Exception as exc:  # noqa: BLE001 -- the KafkaException's error, reported
            errors[name] = exc.args[0].code()
    return errors


def confluent_admin(broker, client_id: str) -> tuple[AdminClient, list[float]]:
    """An AdminClient, and the throttle times its throttle_cb is told."""
    throttles: list[float] = []
    config = {
        "bootstrap.servers": broker.bootstrap,
        "client.id": client_id,
        "throttle_cb": lambda event: throttles.append(event.throttle_time),
    }
    return AdminClient(config), throttles


def test_confluent_admin_is_throttled_not_refused(quota_broker) -> None:
    """librdkafka's admin requests predate THROTTLING_QUOTA_EXCEEDED: Kafka does them
    all and reports the throttle time, which librdkafka hands to throttle_cb."""
    admin, throttles = confluent_admin(quota_broker, "limited")
    # 12 partitions from a bucket of 10, then 6 more, then 18 deleted: each time over.
    topics = ["ck-0", "ck-1"]
    created = _results(admin.create_topics([NewTopic(t, 6, 1) for t in topics]))
    assert created == dict.fromkeys(topics)
    grown = _results(admin.create_partitions([NewPartitions(topics[0], 12)]))
    assert grown == {topics[0]: None}
    deleted = _results(admin.delete_topics(topics))
    assert deleted == dict.fromkeys(topics)
    deadline = time.monotonic() + GUARD_S
    while len(throttles) < 3 and time.monotonic() < deadline:
        admin.poll(0.1)
    assert len(throttles) >= 3 and all(t > 0 for t in throttles)
    assert partition_counts(quota_broker) == {}


def test_confluent_admin_without_a_quota_is_not_throttled(quota_broker) -> None:
    admin, throttles = confluent_admin(quota_broker, "unlimited")
    topics = [f"free-{i}" for i in range(3)]
    created = _results(admin.create_topics([NewTopic(t, 30, 1) for t in topics]))
    assert created == dict.fromkeys(topics)
    assert _results(admin.delete_topics(topics)) == dict.fromkeys(topics)
    admin.poll(0.5)  # time for a throttle_cb, were there one to call
    assert throttles == []


def test_kafka_python_admin_sees_the_refused_topic(quota_broker) -> None:
    """kafka-python's KafkaAdminClient sends CreateTopics v7: the topic past the quota
    comes back with THROTTLING_QUOTA_EXCEEDED and Kafka's message."""
    admin = KafkaAdminClient(bootstrap_servers=quota_broker.bootstrap, client_id="limited")
    try:
        wanted = {"kp1": 10, "kp2": 5, "kp3": 1}
        answer = admin.create_topics(
            {n: {"num_partitions": p, "replication_factor": 1} for n, p in wanted.items()},
            raise_errors=False,
        )
    finally:
        admin.close()
    errors = {t["name"]: (t["error_code"], t["error_message"]) for t in answer["topics"]}
    assert errors == {**ok(["kp1", "kp2"]), "kp3": (THROTTLED, MESSAGE)}
