"""Every version of every group API on the wire, with our codec as the client.

One member runs a group's whole life at each version step: FindCoordinator, JoinGroup
(MEMBER_ID_REQUIRED from v4), SyncGroup, Heartbeat, OffsetCommit with metadata,
OffsetFetch, DescribeGroups, ListGroups, LeaveGroup, OffsetDelete, DeleteGroups. The
answers are decoded at the version asked, so a field written in a version that lacks
it, or a null where a version has no nullable string, fails here.
"""

from __future__ import annotations

import struct

import pytest

from kafka_compat.tools.connection import Connection
from protocol import messages
from protocol.errors import ErrorCode

GUARD_S = 30.0
TOPIC = "proto-topic"
FIND_COORDINATOR, JOIN, HEARTBEAT, LEAVE, SYNC = 10, 11, 12, 13, 14
COMMIT, FETCH, DESCRIBE, LIST, DELETE, OFFSET_DELETE, METADATA = 8, 9, 15, 16, 42, 47, 3


def req(api_key: int, **fields):
    return messages.request_type(api_key)(**fields)


def subscription() -> bytes:
    cls = messages.data_type("ConsumerProtocolSubscription")
    return struct.pack(">h", 0) + messages.encode_data(
        "ConsumerProtocolSubscription", 0, cls(topics=[TOPIC])
    )


def assignment() -> bytes:
    cls = messages.data_type("ConsumerProtocolAssignment")
    body = cls(assigned_partitions=[cls.TopicPartition(topic=TOPIC, partitions=[0, 1])])
    return struct.pack(">h", 0) + messages.encode_data("ConsumerProtocolAssignment", 0, body)


@pytest.fixture
def conn(broker_factory):
    broker = broker_factory(group_initial_rebalance_delay_ms="0", num_partitions="2")
    host, port = broker.bootstrap.rsplit(":", 1)
    connection = Connection(host, int(port), GUARD_S)
    # Auto-create the topic the group commits for.
    Metadata = messages.request_type(METADATA)
    connection.request(METADATA, Metadata(topics=[Metadata.MetadataRequestTopic(name=TOPIC)]))
    yield connection
    connection.close()


def v(api_key: int, step: int) -> int:
    """The version of `api_key` used at step `step` (0-9): step, clamped to the range served."""
    low, high = {
        FIND_COORDINATOR: (0, 4),
        JOIN: (0, 9),
        SYNC: (0, 5),
        HEARTBEAT: (0, 4),
        LEAVE: (0, 5),
        COMMIT: (2, 9),
        FETCH: (1, 7),
        DESCRIBE: (0, 5),
        LIST: (0, 5),
        DELETE: (0, 2),
    }[api_key]
    return max(low, min(step, high))


@pytest.mark.parametrize("step", range(10))
def test_a_group_lifetime_at_each_version(conn, step):
    group = f"proto-{step}"
    found = conn.request(
        FIND_COORDINATOR,
        req(FIND_COORDINATOR, key=group, key_type=0, coordinator_keys=[group]),
        v(FIND_COORDINATOR, step),
    )
    if v(FIND_COORDINATOR, step) >= 4:
        found = found.coordinators[0]
    assert (found.error_code, found.port) == (0, int(conn.address.rsplit(":", 1)[1]))

    JoinRequest = messages.request_type(JOIN)
    protocols = [JoinRequest.JoinGroupRequestProtocol(name="range", metadata=subscription())]

    def join(member_id: str, group_id: str = group):
        return conn.request(
            JOIN,
            req(
                JOIN,
                group_id=group_id,
                session_timeout_ms=10000,
                rebalance_timeout_ms=10000,
                member_id=member_id,
                protocol_type="consumer",
                protocols=protocols,
            ),
            v(JOIN, step),
        )

    assert join("", group_id="").error_code == ErrorCode.INVALID_GROUP_ID
    joined = join("")
    if v(JOIN, step) >= 4:
        assert joined.error_code == ErrorCode.MEMBER_ID_REQUIRED
        joined = join(joined.member_id)
    member = joined.member_id
    assert (joined.error_code, joined.generation_id, joined.leader) == (0, 1, member)
    assert joined.protocol_name == "range"
    assert [(m.member_id, m.metadata) for m in joined.members] == [(member, subscription())]
    if v(JOIN, step) >= 7:
        assert joined.protocol_type == "consumer"

    SyncRequest = messages.request_type(SYNC)
    synced = conn.request(
        SYNC,
        req(
            SYNC,
            group_id=group,
            generation_id=1,
            member_id=member,
            assignments=[
                SyncRequest.SyncGroupRequestAssignment(member_id=member, assignment=assignment())
            ],
        ),
        v(SYNC, step),
    )
    assert (synced.error_code, synced.assignment) == (0, assignment())
    beat = conn.request(
        HEARTBEAT,
        req(HEARTBEAT, group_id=group, generation_id=1, member_id=member),
        v(HEARTBEAT, step),
    )
    assert beat.error_code == 0

    CommitRequest = messages.request_type(COMMIT)
    committed = conn.request(
        COMMIT,
        req(
            COMMIT,
            group_id=group,
            generation_id_or_member_epoch=1,
            member_id=member,
            topics=[
                CommitRequest.OffsetCommitRequestTopic(
                    name=TOPIC,
                    partitions=[
                        CommitRequest.OffsetCommitRequestPartition(
                            partition_index=p, committed_offset=10 + p, committed_metadata=f"m{p}"
                        )
                        for p in (0, 1)
                    ]
                    + [
                        CommitRequest.OffsetCommitRequestPartition(
                            partition_index=9, committed_offset=1
                        )
                    ],
                )
            ],
        ),
        v(COMMIT, step),
    )
    assert [(p.partition_index, p.error_code) for p in committed.topics[0].partitions] == [
        (0, 0),
        (1, 0),
        (9, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
    ]

    FetchRequest = messages.request_type(FETCH)
    fetched = conn.request(
        FETCH,
        req(
            FETCH,
            group_id=group,
            topics=[FetchRequest.OffsetFetchRequestTopic(name=TOPIC, partition_indexes=[0, 1, 5])],
        ),
        v(FETCH, step),
    )
    assert [
        (p.partition_index, p.committed_offset, p.metadata, p.error_code)
        for p in fetched.topics[0].partitions
    ] == [(0, 10, "m0", 0), (1, 11, "m1", 0), (5, -1, "", 0)]
    if v(FETCH, step) >= 2:
        everything = conn.request(FETCH, req(FETCH, group_id=group, topics=None), v(FETCH, step))
        assert sorted(
            (t.name, p.partition_index, p.committed_offset)
            for t in everything.topics
            for p in t.partitions
        ) == [(TOPIC, 0, 10), (TOPIC, 1, 11)]

    described = conn.request(DESCRIBE, req(DESCRIBE, groups=[group]), v(DESCRIBE, step)).groups[0]
    assert (
        described.error_code,
        described.group_state,
        described.protocol_type,
        described.protocol_data,
    ) == (0, "Stable", "consumer", "range")
    (m,) = described.members
    assert (m.member_id, m.client_id, m.client_host) == (member, "kafka-compat", "/127.0.0.1")
    assert (m.member_metadata, m.member_assignment) == (subscription(), assignment())
    if v(DESCRIBE, step) >= 3:
        assert described.authorized_operations == -(2**31)

    listed = conn.request(LIST, req(LIST, states_filter=["stable"]), v(LIST, step))
    assert listed.error_code == 0
    ours = [g for g in listed.groups if g.group_id == group]
    assert [g.protocol_type for g in ours] == ["consumer"]
    if v(LIST, step) >= 4:
        assert ours[0].group_state == "Stable"
        empty = conn.request(LIST, req(LIST, states_filter=["Empty"]), v(LIST, step))
        assert group not in [g.group_id for g in empty.groups]

    LeaveRequest = messages.request_type(LEAVE)
    left = conn.request(
        LEAVE,
        req(
            LEAVE,
            group_id=group,
            member_id=member,
            members=[LeaveRequest.MemberIdentity(member_id=member)],
        ),
        v(LEAVE, step),
    )
    assert left.error_code == 0
    if v(LEAVE, step) >= 3:
        assert [(x.member_id, x.error_code) for x in left.members] == [(member, 0)]
    described = conn.request(DESCRIBE, req(DESCRIBE, groups=[group]), v(DESCRIBE, step)).groups[0]
    assert (described.group_state, described.members) == ("Empty", [])

    DeleteOffsets = messages.request_type(OFFSET_DELETE)
    deleted_offsets = conn.request(
        OFFSET_DELETE,
        req(
            OFFSET_DELETE,
            group_id=group,
            topics=[
                DeleteOffsets.OffsetDeleteRequestTopic(
                    name=TOPIC, partitions=[DeleteOffsets.OffsetDeleteRequestPartition()]
                )
            ],
        ),
        0,
    )
    assert deleted_offsets.error_code == 0
    assert [(p.partition_index, p.error_code) for p in deleted_offsets.topics[0].partitions] == [
        (0, 0)
    ]
    deleted = conn.request(DELETE, req(DELETE, groups_names=[group, group + "-x"]), v(DELETE, step))
    assert sorted((r.group_id, r.error_code) for r in deleted.results) == [
        (group, 0),
        (group + "-x", ErrorCode.GROUP_ID_NOT_FOUND),
    ]
    described = conn.request(DESCRIBE, req(DESCRIBE, groups=[group]), v(DESCRIBE, step)).groups[0]
    assert described.group_state == "Dead"


@pytest.mark.parametrize("version", [8, 9])
def test_offset_fetch_for_several_groups_at_once(conn, version):
    Commit = messages.request_type(COMMIT)
    conn.request(
        COMMIT,
        req(
            COMMIT,
            group_id="simple",
            topics=[
                Commit.OffsetCommitRequestTopic(
                    name=TOPIC,
                    partitions=[
                        Commit.OffsetCommitRequestPartition(
                            partition_index=0, committed_offset=5, committed_metadata=None
                        )
                    ],
                )
            ],
        ),
    )
    Fetch = messages.request_type(FETCH)
    answer = conn.request(
        FETCH,
        req(
            FETCH,
            groups=[
                Fetch.OffsetFetchRequestGroup(group_id="simple", topics=None),
                Fetch.OffsetFetchRequestGroup(
                    group_id="unknown",
                    topics=[Fetch.OffsetFetchRequestTopics(name=TOPIC, partition_indexes=[0])],
                ),
            ],
        ),
        version,
    )
    results = {
        g.group_id: [
            (t.name, p.partition_index, p.committed_offset, p.metadata)
            for t in g.topics
            for p in t.partitions
        ]
        for g in answer.groups
    }
    # A null metadata string is stored, and answered, as "" (Kafka's NoMetadata).
    assert results == {"simple": [(TOPIC, 0, 5, "")], "unknown": [(TOPIC, 0, -1, "")]}


def test_find_coordinator_answers_each_batched_key(conn):
    answer = conn.request(
        FIND_COORDINATOR, req(FIND_COORDINATOR, key_type=0, coordinator_keys=["a", "b"]), 4
    )
    assert [(c.key, c.error_code, c.node_id) for c in answer.coordinators] == [
        ("a", 0, 0),
        ("b", 0, 0),
    ]
    bad = conn.request(FIND_COORDINATOR, req(FIND_COORDINATOR, key="a", key_type=7), 3)
    assert (bad.error_code, bad.node_id) == (ErrorCode.INVALID_REQUEST, -1)


def test_the_group_apis_are_advertised(conn):
    for api_key in (FIND_COORDINATOR, JOIN, SYNC, HEARTBEAT, LEAVE, COMMIT, FETCH):
        assert api_key in conn.versions
    assert conn.versions[JOIN] == (0, 9)
    assert conn.versions[COMMIT] == (0, 9)
    assert conn.versions[FETCH] == (0, 9)
    assert conn.versions[OFFSET_DELETE] == (0, 0)


def test_group_and_transaction_requests_before_any_find_coordinator(broker_factory):
    """A client that knew the coordinator before the broker restarted on an empty data
    dir sends its group request first, with no FindCoordinator: the broker, which
    builds its coordinators on first use, serves it (a single node coordinates every
    group)."""
    broker = broker_factory(group_initial_rebalance_delay_ms="0")
    host, port = broker.bootstrap.rsplit(":", 1)
    conn = Connection(host, int(port), GUARD_S)
    try:
        JoinRequest = messages.request_type(JOIN)
        protocols = [JoinRequest.JoinGroupRequestProtocol(name="range", metadata=subscription())]

        def join(member_id: str):
            return conn.request(
                JOIN,
                req(
                    JOIN,
                    group_id="early",
                    session_timeout_ms=10000,
                    rebalance_timeout_ms=10000,
                    member_id=member_id,
                    protocol_type="consumer",
                    protocols=protocols,
                ),
                5,
            )

        first = join("")
        assert first.error_code == ErrorCode.MEMBER_ID_REQUIRED
        joined = join(first.member_id)
        assert (joined.error_code, joined.generation_id) == (0, 1)
        listed = conn.request(LIST, req(LIST), 4)
        assert (listed.error_code, [g.group_id for g in listed.groups]) == (0, ["early"])
        # An idempotent producer's first request: a producer id.
        init = conn.request(22, req(22, transactional_id=None, transaction_timeout_ms=60000), 4)
        assert (init.error_code, init.producer_epoch) == (0, 0)
        assert init.producer_id >= 0
    finally:
        conn.close()
