"""ConsumerGroupHeartbeat, ConsumerGroupDescribe and the member-epoch checks of
OffsetCommit/OffsetFetch v9 on the wire: what a client reads in each field."""

from __future__ import annotations

import pytest

from kafka_compat.groups import consumer_protocol
from kafka_compat.tools.connection import Connection
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

GUARD_S = 30.0
TOPIC = "wire"


def req(api_key: int, **fields):
    return messages.request_type(api_key)(**fields)


@pytest.fixture
def conn(broker_factory):
    broker = broker_factory(offsets_topic_num_partitions="1")
    host, port = broker.bootstrap.rsplit(":", 1)
    connection = Connection(host, int(port), GUARD_S)
    Topic = messages.request_type(ApiKey.CREATE_TOPICS).CreatableTopic
    created = connection.request(
        ApiKey.CREATE_TOPICS,
        req(
            ApiKey.CREATE_TOPICS,
            topics=[Topic(name=TOPIC, num_partitions=2, replication_factor=1)],
            timeout_ms=10_000,
        ),
    )
    assert created.topics[0].error_code == 0
    yield connection
    connection.close()


def heartbeat(conn, version=0, **fields):
    fields.setdefault("group_id", "g")
    fields.setdefault("member_id", "")
    fields.setdefault("member_epoch", 0)
    return conn.request(
        ApiKey.CONSUMER_GROUP_HEARTBEAT, req(ApiKey.CONSUMER_GROUP_HEARTBEAT, **fields), version
    )


def join(conn, **fields):
    return heartbeat(
        conn,
        rebalance_timeout_ms=30000,
        subscribed_topic_names=[TOPIC],
        topic_partitions=[],
        **fields,
    )


def test_a_first_heartbeat_joins_and_gets_every_partition(conn):
    answer = join(conn)
    assert (answer.error_code, answer.error_message) == (0, None)
    assert answer.member_id and answer.member_epoch == 1
    assert answer.heartbeat_interval_ms == 5000
    [assigned] = answer.assignment.topic_partitions
    assert sorted(assigned.partitions) == [0, 1]
    described = conn.request(
        ApiKey.CONSUMER_GROUP_DESCRIBE,
        req(ApiKey.CONSUMER_GROUP_DESCRIBE, group_ids=["g", "nope"]),
    )
    group, missing = described.groups
    assert (group.group_state, group.group_epoch, group.assignment_epoch) == ("Stable", 1, 1)
    assert group.assignor_name == "uniform"
    [member] = group.members
    assert (member.member_id, member.member_epoch) == (answer.member_id, 1)
    assert member.subscribed_topic_names == [TOPIC]
    [tps] = member.assignment.topic_partitions
    assert (tps.topic_id, tps.topic_name, sorted(tps.partitions)) == (
        assigned.topic_id,
        TOPIC,
        [0, 1],
    )
    assert missing.error_code == ErrorCode.GROUP_ID_NOT_FOUND
    listed = conn.request(ApiKey.LIST_GROUPS, req(ApiKey.LIST_GROUPS, types_filter=["consumer"]), 5)
    assert [(g.group_id, g.group_type, g.group_state) for g in listed.groups] == [
        ("g", "consumer", "Stable")
    ]
    # The classic DescribeGroups shows it in the consumer protocol's format.
    [classic] = conn.request(
        ApiKey.DESCRIBE_GROUPS, req(ApiKey.DESCRIBE_GROUPS, groups=["g"]), 5
    ).groups
    assert (classic.group_state, classic.protocol_type, classic.protocol_data) == (
        "Stable",
        "consumer",
        "uniform",
    )
    [shown] = classic.members
    assert consumer_protocol.assigned_partitions(shown.member_assignment) == [
        (TOPIC, 0),
        (TOPIC, 1),
    ]
    assert consumer_protocol.subscription_topics(shown.member_metadata) == {TOPIC}
    # A heartbeat that changes nothing carries no assignment.
    again = heartbeat(conn, member_id=answer.member_id, member_epoch=1)
    assert (again.error_code, again.member_epoch, again.assignment) == (0, 1, None)
    left = heartbeat(conn, member_id=answer.member_id, member_epoch=-1)
    assert (left.error_code, left.member_epoch) == (0, -1)


def test_invalid_heartbeats_get_kafkas_errors_and_messages(conn):
    no_timeout = heartbeat(conn, subscribed_topic_names=[TOPIC], topic_partitions=[])
    assert no_timeout.error_code == ErrorCode.INVALID_REQUEST
    assert no_timeout.error_message == "RebalanceTimeoutMs must be provided in first request."
    assert (no_timeout.member_id, no_timeout.member_epoch) == (None, 0)
    assignor = join(conn, server_assignor="sticky")
    assert assignor.error_code == ErrorCode.UNSUPPORTED_ASSIGNOR
    assert assignor.error_message == (
        "ServerAssignor sticky is not supported. Supported assignors: uniform, range."
    )
    unknown = heartbeat(conn, member_id="ghost", member_epoch=3)
    assert unknown.error_code == ErrorCode.GROUP_ID_NOT_FOUND
    regex = heartbeat(
        conn, 1, rebalance_timeout_ms=30000, subscribed_topic_regex="wi.*", topic_partitions=[]
    )
    assert (regex.error_code, regex.member_epoch) == (0, 1)


def test_offsets_are_committed_and_fetched_with_the_member_epoch(conn):
    member = join(conn, group_id="committer")
    Request = messages.request_type(ApiKey.OFFSET_COMMIT)

    def commit(epoch: int, version: int = 9) -> int:
        answer = conn.request(
            ApiKey.OFFSET_COMMIT,
            Request(
                group_id="committer",
                generation_id_or_member_epoch=epoch,
                member_id=member.member_id,
                topics=[
                    Request.OffsetCommitRequestTopic(
                        name=TOPIC,
                        partitions=[
                            Request.OffsetCommitRequestPartition(
                                partition_index=0, committed_offset=7
                            )
                        ],
                    )
                ],
            ),
            version,
        )
        return answer.topics[0].partitions[0].error_code

    assert commit(member.member_epoch) == 0
    assert commit(member.member_epoch + 1) == ErrorCode.STALE_MEMBER_EPOCH
    assert commit(member.member_epoch, version=8) == ErrorCode.UNSUPPORTED_VERSION
    Fetch = messages.request_type(ApiKey.OFFSET_FETCH)

    def fetch(epoch: int):
        group = Fetch.OffsetFetchRequestGroup(
            group_id="committer",
            member_id=member.member_id,
            member_epoch=epoch,
            topics=[Fetch.OffsetFetchRequestTopics(name=TOPIC, partition_indexes=[0])],
        )
        return conn.request(ApiKey.OFFSET_FETCH, Fetch(groups=[group]), 9).groups[0]

    fetched = fetch(member.member_epoch)
    assert fetched.topics[0].partitions[0].committed_offset == 7
    assert fetch(member.member_epoch + 1).error_code == ErrorCode.STALE_MEMBER_EPOCH
    assert fetch(-1).topics[0].partitions[0].committed_offset == 7  # an admin's fetch
