"""KIP-848 consumer groups without a network: the assignors, the reconciliation state
machine, and the ConsumerGroupCoordinator over a real data dir (records written,
replayed on reload) under Trio's autojump clock, so session timeouts pass instantly."""

from __future__ import annotations

from contextlib import asynccontextmanager

import trio

from kafka_compat.broker import Broker
from kafka_compat.config import BrokerConfig
from kafka_compat.groups import GroupConfig, GroupCoordinator, GroupMetadataManager
from kafka_compat.groups.assignors import MemberSpec, RangeAssignor, UniformAssignor
from kafka_compat.groups.consumer_coordinator import HeartbeatRequest
from kafka_compat.groups.consumer_group import (
    ConsumerGroupMember,
    MemberState,
    reconcile,
)
from kafka_compat.groups.metadata_manager import ReplicatedOffsetsTopic
from protocol.errors import ErrorCode

T1, T2 = b"\x01" * 16, b"\x02" * 16
EPOCH_MS = 1_700_000_000_000
NONE = ErrorCode.NONE


def owners(assignment: dict[str, dict[bytes, set[int]]]) -> dict[tuple[bytes, int], list[str]]:
    found: dict[tuple[bytes, int], list[str]] = {}
    for member_id, parts in assignment.items():
        for topic_id, partitions in parts.items():
            for p in partitions:
                found.setdefault((topic_id, p), []).append(member_id)
    return found


def counts(assignment) -> list[int]:
    return sorted(sum(len(p) for p in parts.values()) for parts in assignment.values())


# ---- assignors ------------------------------------------------------------------------


def test_uniform_gives_every_partition_once_and_balances():
    members = {m: MemberSpec(frozenset({T1, T2})) for m in ("a", "b", "c")}
    got = UniformAssignor().assign(members, {T1: 4, T2: 3})
    assert all(len(o) == 1 for o in owners(got).values())
    assert len(owners(got)) == 7
    assert counts(got) == [2, 2, 3]


def test_uniform_is_sticky_a_new_member_only_takes_its_share():
    before = UniformAssignor().assign({"a": MemberSpec(frozenset({T1}))}, {T1: 6})
    members = {
        "a": MemberSpec(frozenset({T1}), current=before["a"]),
        "b": MemberSpec(frozenset({T1})),
    }
    after = UniformAssignor().assign(members, {T1: 6})
    assert counts(after) == [3, 3]
    assert after["a"][T1] <= before["a"][T1]  # a kept three of its own, gave three away


def test_uniform_with_different_subscriptions_gives_topics_only_to_subscribers():
    members = {"a": MemberSpec(frozenset({T1})), "b": MemberSpec(frozenset({T1, T2}))}
    got = UniformAssignor().assign(members, {T1: 2, T2: 2})
    assert T2 not in got["a"]
    assert counts(got) == [2, 2]
    assert len(owners(got)) == 4


def test_range_gives_each_subscriber_a_contiguous_range_per_topic():
    members = {m: MemberSpec(frozenset({T1, T2})) for m in ("a", "b")}
    got = RangeAssignor().assign(members, {T1: 5, T2: 5})
    assert got["a"] == {T1: {0, 1, 2}, T2: {0, 1, 2}}  # co-partitioned: same ranges
    assert got["b"] == {T1: {3, 4}, T2: {3, 4}}


# ---- reconciliation -------------------------------------------------------------------


def test_partitions_are_revoked_before_the_member_moves_to_the_new_epoch():
    member = ConsumerGroupMember("a", member_epoch=1, assigned={T1: {0, 1, 2, 3}})
    free = lambda t, p: -1  # noqa: E731
    step = reconcile(member, 2, {T1: {0, 1}}, free, {T1: {0, 1, 2, 3}})
    assert step.state is MemberState.UNREVOKED_PARTITIONS
    assert (step.member_epoch, step.assigned, step.pending_revocation) == (
        1,
        {T1: {0, 1}},
        {T1: {2, 3}},
    )
    # Still owning one of them: no progress.
    assert reconcile(step, 2, {T1: {0, 1}}, free, {T1: {0, 1, 2}}) is step
    done = reconcile(step, 2, {T1: {0, 1}}, free, {T1: {0, 1}})
    assert done.state is MemberState.STABLE
    assert (done.member_epoch, done.previous_member_epoch) == (2, 1)
    assert (done.assigned, done.pending_revocation) == ({T1: {0, 1}}, {})


def test_a_partition_still_owned_by_another_member_is_withheld():
    member = ConsumerGroupMember("b", member_epoch=1)
    owned_by_a = lambda t, p: 1 if p in (2, 3) else -1  # noqa: E731
    step = reconcile(member, 2, {T1: {2, 3, 4}}, owned_by_a, {})
    assert step.state is MemberState.UNRELEASED_PARTITIONS
    assert (step.member_epoch, step.assigned) == (2, {T1: {4}})
    released = reconcile(step, 2, {T1: {2, 3, 4}}, lambda t, p: -1, {T1: {4}})
    assert released.state is MemberState.STABLE
    assert released.assigned == {T1: {2, 3, 4}}


# ---- the coordinator ------------------------------------------------------------------


@asynccontextmanager
async def running(data_dir, topics=(("t", 4),), **props):
    config = {
        "log.dirs": str(data_dir),
        "offsets.topic.num.partitions": "3",
        "group.consumer.session.timeout.ms": "10000",
    }
    config.update({k.replace("_", "."): str(v) for k, v in props.items()})
    broker = Broker(BrokerConfig(config))
    broker.load()
    try:
        for name, partitions in topics:
            if broker.admin.topic(name) is None:
                await broker.admin.create_topic(name, partitions, {})
        # The coordinator's wall clock follows Trio's (mock) clock.
        coordinator = broker.group_coordinator = GroupCoordinator(
            GroupMetadataManager(
                ReplicatedOffsetsTopic(broker.admin, broker.replica_manager, leads_all=True),
                GroupConfig.from_broker_config(broker.config),
                time_ms=lambda: EPOCH_MS + int(trio.current_time() * 1000),
            )
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(coordinator.run)
            await coordinator.wait_loaded()
            yield coordinator
            nursery.cancel_scope.cancel()
    finally:
        broker.close()


def topic_id(coordinator, name="t") -> bytes:
    return coordinator.manager.offsets_topic.topics()[name].topic_id


async def beat(coordinator, member_id="", epoch=0, owned=None, group="g", **kw):
    if epoch == 0 and owned is None:
        owned = {}
    kw.setdefault("subscribed_topic_names", ["t"] if epoch == 0 else None)
    kw.setdefault("rebalance_timeout_ms", 30000 if epoch == 0 else -1)
    return await coordinator.consumer_group_heartbeat(
        HeartbeatRequest(group, member_id, epoch, owned=owned, client_id="c", **kw)
    )


def partitions(result) -> set[int]:
    return {p for ps in (result.assignment or {}).values() for p in ps}


async def test_a_second_member_gets_partitions_only_after_the_first_revoked_them(
    tmp_path, autojump_clock
):
    async with running(tmp_path) as coordinator:
        tid = topic_id(coordinator)
        a = await beat(coordinator)
        assert (a.error, a.member_epoch, partitions(a)) == (NONE, 1, {0, 1, 2, 3})
        assert a.heartbeat_interval_ms == 5000
        b = await beat(coordinator)
        assert (b.member_epoch, partitions(b)) == (2, set())  # a still owns them all
        a2 = await beat(coordinator, a.member_id, 1, {tid: {0, 1, 2, 3}})
        assert a2.member_epoch == 1  # revoking first, at its old epoch
        keep = partitions(a2)
        assert len(keep) == 2
        a3 = await beat(coordinator, a.member_id, 1, {tid: keep})
        assert a3.member_epoch == 2
        b2 = await beat(coordinator, b.member_id, 2, {})
        assert partitions(b2) == {0, 1, 2, 3} - keep
        group = coordinator.manager.get_group("g").consumer
        assert str(group.state) == "Stable"
        # Stale or future epochs are fenced; an unknown member is unknown.
        assert (await beat(coordinator, a.member_id, 5, {})).error == (
            ErrorCode.FENCED_MEMBER_EPOCH
        )
        assert (await beat(coordinator, "nobody", 2, {})).error == ErrorCode.UNKNOWN_MEMBER_ID


async def test_a_silent_member_is_fenced_after_the_session_timeout(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        tid = topic_id(coordinator)
        a = await beat(coordinator)
        b = await beat(coordinator)
        a2 = await beat(coordinator, a.member_id, 1, {tid: {0, 1, 2, 3}})
        await beat(coordinator, a.member_id, 1, {tid: partitions(a2)})
        # b goes silent; a keeps heartbeating and ends up with every partition.
        result = None
        for _ in range(15):
            await trio.sleep(1)
            result = await beat(coordinator, a.member_id, result.member_epoch if result else 2)
        group = coordinator.manager.get_group("g").consumer
        assert list(group.members) == [a.member_id]
        assert b.member_id not in group.members
        assert group.members[a.member_id].assigned == {tid: {0, 1, 2, 3}}


async def test_the_group_survives_a_reload_from_its_records(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        tid = topic_id(coordinator)
        a = await beat(coordinator, server_assignor="range")
        group = coordinator.manager.get_group("g").consumer
        epochs = (group.group_epoch, group.assignment_epoch)
    async with running(tmp_path) as coordinator:
        group = coordinator.manager.get_group("g").consumer
        assert (group.group_epoch, group.assignment_epoch) == epochs
        member = group.members[a.member_id]
        assert (member.member_epoch, member.assigned) == (1, {tid: {0, 1, 2, 3}})
        assert member.server_assignor == "range"
        assert group.subscription_metadata == {"t": (tid, 4)}
        # The member carries on at its epoch.
        again = await beat(coordinator, a.member_id, 1, {tid: {0, 1, 2, 3}})
        assert (again.error, again.member_epoch) == (NONE, 1)


async def test_offsets_are_committed_and_fetched_with_the_member_epoch(tmp_path, autojump_clock):
    from kafka_compat.groups.records import OffsetAndMetadata

    async with running(tmp_path) as coordinator:
        a = await beat(coordinator)
        offsets = {("t", 0): OffsetAndMetadata(5)}
        commit = coordinator.commit_offsets
        assert (await commit("g", a.member_id, None, 1, offsets))[("t", 0)] == NONE
        stale = await commit("g", a.member_id, None, 0, offsets)
        assert stale[("t", 0)] == ErrorCode.STALE_MEMBER_EPOCH
        old = await commit("g", a.member_id, None, 1, offsets, api_version=8)
        assert old[("t", 0)] == ErrorCode.UNSUPPORTED_VERSION
        unknown = await commit("g", "x", None, 1, offsets)
        assert unknown[("t", 0)] == ErrorCode.UNKNOWN_MEMBER_ID
        # An admin (epoch -1) may not commit while the group has members.
        assert (await commit("g", "", None, -1, offsets))[("t", 0)] == ErrorCode.UNKNOWN_MEMBER_ID
        fetch = coordinator.fetch_offsets
        assert fetch("g", [("t", 0)], False, a.member_id, 1)[1][("t", 0)].offset == 5
        assert fetch("g", [("t", 0)], False, a.member_id, 0)[0] == ErrorCode.STALE_MEMBER_EPOCH
        assert fetch("g", [("t", 0)], False, None, -1)[1][("t", 0)].offset == 5
        # OffsetDelete: not while a member subscribes to the topic.
        error, deleted = await coordinator.delete_offsets("g", [("t", 0)])
        assert (error, deleted) == (NONE, {("t", 0): ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC})
        await beat(coordinator, a.member_id, -1)
        assert (await coordinator.delete_offsets("g", [("t", 0)]))[1] == {("t", 0): NONE}


async def test_classic_and_consumer_groups_convert_only_when_empty(tmp_path, autojump_clock):
    async with running(tmp_path, group_initial_rebalance_delay_ms=0) as coordinator:
        join = coordinator.join_group
        first = await join("classic", "", None, "c", "/h", 30000, 10000, "consumer", [("r", b"")])
        assert first.error == NONE
        # A classic group with members is not a consumer group.
        refused = await beat(coordinator, group="classic")
        assert refused.error == ErrorCode.GROUP_ID_NOT_FOUND
        coordinator.leave_group("classic", [(first.member_id, None)])
        converted = await beat(coordinator, group="classic")
        assert converted.error == NONE
        _, listed = coordinator.list_groups(types=["consumer"])
        assert [(g, t) for g, _, _, t in listed] == [("classic", "consumer")]
        # A classic member cannot join the consumer group while it has members ...
        joined = await join("classic", "", None, "c", "/h", 30000, 10000, "consumer", [("r", b"")])
        assert joined.error == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        # ... and once it is empty, the group becomes classic again.
        await beat(coordinator, converted.member_id, -1, group="classic")
        joined = await join("classic", "", None, "c", "/h", 30000, 10000, "consumer", [("r", b"")])
        assert joined.error == NONE
        assert coordinator.manager.get_group("classic").consumer is None


async def test_a_static_member_leaving_with_epoch_minus_2_keeps_its_partitions_for_its_successor(
    tmp_path, autojump_clock
):
    async with running(tmp_path) as coordinator:
        tid = topic_id(coordinator)
        a = await beat(coordinator, instance_id="i1")
        b = await beat(coordinator, instance_id="i2")
        a2 = await beat(coordinator, a.member_id, 1, {tid: {0, 1, 2, 3}}, instance_id="i1")
        kept = partitions(a2)
        await beat(coordinator, a.member_id, 1, {tid: kept}, instance_id="i1")
        # A second instance with the same id is refused while the first holds it.
        clash = await beat(coordinator, instance_id="i1")
        assert clash.error == ErrorCode.UNRELEASED_INSTANCE_ID
        left = await beat(coordinator, a.member_id, -2, instance_id="i1")
        assert (left.error, left.member_epoch) == (NONE, -2)
        group = coordinator.manager.get_group("g").consumer
        epoch = group.group_epoch
        back = await beat(coordinator, instance_id="i1")
        assert back.error == NONE and back.member_id != a.member_id
        assert partitions(back) == kept  # no rebalance: the same partitions
        assert group.group_epoch == epoch
        assert b.member_id in group.members and a.member_id not in group.members


async def test_a_regex_subscription_follows_the_topics_that_match(tmp_path, autojump_clock):
    topics = (("orders-eu", 2), ("orders-us", 1), ("payments", 3))
    async with running(tmp_path, topics=topics) as coordinator:
        a = await beat(coordinator, subscribed_topic_names=None, subscribed_topic_regex="orders-.*")
        assert a.error == NONE
        by_id = coordinator.consumer.topic_names()
        assert {(by_id[t], p) for t, ps in a.assignment.items() for p in ps} == {
            ("orders-eu", 0),
            ("orders-eu", 1),
            ("orders-us", 0),
        }
        bad = await beat(coordinator, subscribed_topic_names=None, subscribed_topic_regex="(")
        assert bad.error == ErrorCode.INVALID_REGULAR_EXPRESSION


async def test_an_empty_consumer_group_can_be_deleted(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        a = await beat(coordinator)
        assert (await coordinator.delete_groups(["g"]))["g"] == ErrorCode.NON_EMPTY_GROUP
        await beat(coordinator, a.member_id, -1)
        assert (await coordinator.delete_groups(["g"]))["g"] == NONE
        assert coordinator.manager.get_group("g") is None
    async with running(tmp_path) as coordinator:
        assert coordinator.manager.get_group("g") is None


async def test_a_member_that_does_not_revoke_within_its_rebalance_timeout_is_fenced(
    tmp_path, autojump_clock
):
    async with running(tmp_path) as coordinator:
        tid = topic_id(coordinator)
        a = await beat(coordinator, rebalance_timeout_ms=5000)
        b = await beat(coordinator)
        step = await beat(coordinator, a.member_id, 1, {tid: {0, 1, 2, 3}})
        assert step.member_epoch == 1  # asked to revoke two partitions
        # a keeps heartbeating but never gives them up.
        for _ in range(6):
            await trio.sleep(1)
            result = await beat(coordinator, a.member_id, 1, {tid: {0, 1, 2, 3}})
        assert result.error == ErrorCode.UNKNOWN_MEMBER_ID
        group = coordinator.manager.get_group("g").consumer
        assert list(group.members) == [b.member_id]
        final = await beat(coordinator, b.member_id, 2, {})
        assert partitions(final) == {0, 1, 2, 3}


async def test_offsets_expire_unless_a_member_subscribes_to_their_topic(tmp_path, autojump_clock):
    from kafka_compat.groups.records import OffsetAndMetadata

    props = {"offsets_retention_minutes": 1, "offsets_retention_check_interval_ms": 1000}
    topics = (("t", 4), ("other", 1))
    async with running(tmp_path, topics=topics, **props) as coordinator:
        clock = coordinator.time_ms
        a = await beat(coordinator)
        offsets = {
            ("t", 0): OffsetAndMetadata(1, commit_timestamp=clock()),
            ("other", 0): OffsetAndMetadata(2, commit_timestamp=clock()),
        }
        await coordinator.commit_offsets("g", a.member_id, None, 1, offsets)
        epoch = 1
        for _ in range(90):
            await trio.sleep(1)
            epoch = (await beat(coordinator, a.member_id, epoch)).member_epoch
        kept = coordinator.fetch_offsets("g", [("t", 0), ("other", 0)])[1]
        assert kept[("t", 0)].offset == 1 and kept[("other", 0)] is None
        await beat(coordinator, a.member_id, -1)
        await trio.sleep(90)
        # Empty and without offsets: the group is gone.
        assert coordinator.manager.get_group("g") is None
