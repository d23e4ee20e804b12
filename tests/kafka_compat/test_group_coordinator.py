"""The group coordinator's state machine, driven directly (no network).

Each test opens a real broker data dir (logs, no listener) and runs the coordinator
under Trio's autojump MockClock, so session, rebalance and retention timeouts pass
instantly and deterministically; the coordinator's wall clock follows the mock clock.
"""

from __future__ import annotations

import struct
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

from kafka_compat.broker import Broker
from kafka_compat.config import BrokerConfig
from kafka_compat.groups import GroupConfig, GroupCoordinator, GroupMetadataManager
from kafka_compat.groups.metadata_manager import ReplicatedOffsetsTopic
from kafka_compat.groups.records import (
    GroupKey,
    OffsetAndMetadata,
    OffsetKey,
    decode_group_value,
    decode_key,
    decode_offset_value,
)
from kafka_compat.groups.records import group_key as group_key_bytes
from protocol import messages
from protocol.errors import ErrorCode
from protocol.records import build_batch, decode_batch, iter_batch_headers
from storage.log import AppendOrigin

EPOCH_MS = 1_700_000_000_000
SESSION_MS = 10_000
REBALANCE_MS = 30_000
RANGE = [("range", b"range-metadata")]

NONE = ErrorCode.NONE


def wall_ms() -> int:
    return EPOCH_MS + int(trio.current_time() * 1000)


def coordinator_of(broker: Broker) -> GroupCoordinator:
    """A group coordinator over the broker's data dir, on the test's clock (the broker
    builds its own on first use, when serving)."""
    return GroupCoordinator(
        GroupMetadataManager(
            ReplicatedOffsetsTopic(broker.admin, broker.replica_manager, leads_all=True),
            GroupConfig.from_broker_config(broker.config),
            time_ms=wall_ms,
        )
    )


@asynccontextmanager
async def running(data_dir, **props):
    """A coordinator over the data dir in `data_dir`; keys use '_' for '.'."""
    config = {
        "log.dirs": str(data_dir),
        "group.initial.rebalance.delay.ms": "0",
        "group.min.session.timeout.ms": "100",
        "offsets.topic.num.partitions": "5",
    }
    config.update({k.replace("_", "."): str(v) for k, v in props.items()})
    broker = Broker(BrokerConfig(config))
    broker.load()
    coordinator = broker.group_coordinator = coordinator_of(broker)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(coordinator.run)
            await coordinator.wait_loaded()
            yield coordinator
            nursery.cancel_scope.cancel()
    finally:
        broker.close()


async def join(
    coordinator,
    member_id="",
    *,
    group="g",
    instance=None,
    protocols=RANGE,
    protocol_type="consumer",
    session=SESSION_MS,
    rebalance=REBALANCE_MS,
    require_known=True,
    skip=False,
    client_id="client",
):
    return await coordinator.join_group(
        group,
        member_id,
        instance,
        client_id,
        "/127.0.0.1",
        rebalance,
        session,
        protocol_type,
        protocols,
        require_known_member_id=require_known and instance is None,
        supports_skip_assignment=skip,
    )


async def new_member_id(coordinator, **kw) -> str:
    first = await join(coordinator, **kw)
    assert first.error == ErrorCode.MEMBER_ID_REQUIRED
    return first.member_id


async def concurrently(*calls):
    """Run the coroutine functions together; their results in order."""
    results = [None] * len(calls)

    async def run(i, call):
        results[i] = await call()

    async with trio.open_nursery() as nursery:
        for i, call in enumerate(calls):
            nursery.start_soon(run, i, call)
    return results


async def rebalance(coordinator, newcomers, rejoining, **kw):
    """New members join; once the rebalance has begun the old ones rejoin (as clients
    do when a heartbeat answers REBALANCE_IN_PROGRESS). JoinResults by member id."""
    results = {}

    async def run(member_id):
        results[member_id] = await join(coordinator, member_id, **kw)

    async with trio.open_nursery() as nursery:
        for member_id in newcomers:
            nursery.start_soon(run, member_id)
        await trio.testing.wait_all_tasks_blocked()
        for member_id in rejoining:
            nursery.start_soon(run, member_id)
    return results


async def form_group(coordinator, n, *, group="g", instances=None, **kw):
    """n members join one round and sync: member ids in join order, generation."""
    if instances is None:
        ids = [await new_member_id(coordinator, group=group, **kw) for _ in range(n)]
        calls = [lambda m=m: join(coordinator, m, group=group, **kw) for m in ids]
    else:
        calls = [lambda i=i: join(coordinator, group=group, instance=i, **kw) for i in instances]
    results = await concurrently(*calls)
    assert all(r.error == NONE for r in results), results
    generation = results[0].generation_id
    assert {r.generation_id for r in results} == {generation}
    leader = results[0].leader_id
    assignment = {r.member_id: f"assignment-{r.member_id}".encode() for r in results}
    syncs = await concurrently(
        *[
            lambda r=r: coordinator.sync_group(
                group,
                generation,
                r.member_id,
                None if instances is None else instances[results.index(r)],
                None,
                None,
                assignment if r.member_id == leader else {},
            )
            for r in results
        ]
    )
    assert [s.assignment for s in syncs] == [assignment[r.member_id] for r in results]
    return [r.member_id for r in results], generation


def state(coordinator, group="g") -> str:
    return coordinator.describe_group(group)[1].state


def partition_records(coordinator, group="g"):
    """Every (key, value) in the group's __consumer_offsets partition, decoded."""
    index = coordinator.partition_for(group)
    log = coordinator.manager.offsets_topic.log(index)
    data = log.read(log.log_start_offset, 1 << 24).records
    out = []
    for pos, header in iter_batch_headers(data):
        for record in decode_batch(memoryview(data)[pos : pos + header.size])[1]:
            key = decode_key(record.key)
            if record.value is None:
                value = None
            elif isinstance(key, OffsetKey):
                value = decode_offset_value(record.value)
            else:
                value = decode_group_value(record.value)
            out.append((key, value))
    return out


def subscription(*topics: str) -> bytes:
    Subscription = messages.data_type("ConsumerProtocolSubscription")
    body = messages.encode_data("ConsumerProtocolSubscription", 0, Subscription(topics=topics))
    return struct.pack(">h", 0) + body


# ---- joining ----


async def test_first_join_gets_member_id_required_then_joins_as_leader(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        member_id = await new_member_id(coordinator)
        assert member_id.startswith("client-")
        result = await join(coordinator, member_id)
        assert result.error == NONE
        assert (result.generation_id, result.leader_id, result.protocol_name) == (
            1,
            member_id,
            "range",
        )
        assert result.members == [(member_id, None, b"range-metadata")]
        assert state(coordinator) == "CompletingRebalance"
        sync = await coordinator.sync_group("g", 1, member_id, None, "consumer", "range", {})
        assert (sync.error, sync.assignment) == (NONE, b"")
        assert state(coordinator) == "Stable"


async def test_old_clients_join_without_member_id_required(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        result = await join(coordinator, require_known=False)
        assert result.error == NONE
        assert result.member_id.startswith("client-")
        assert result.generation_id == 1


async def test_join_is_validated(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        assert (await join(coordinator, group="")).error == ErrorCode.INVALID_GROUP_ID
        assert (await join(coordinator, session=50)).error == ErrorCode.INVALID_SESSION_TIMEOUT
        assert (await join(coordinator, "nobody")).error == ErrorCode.UNKNOWN_MEMBER_ID
        assert (await join(coordinator, protocol_type="")).error == (
            ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        )


async def test_rebalance_waits_for_every_member_and_leader_assigns_for_all(
    tmp_path, autojump_clock
):
    async with running(tmp_path) as coordinator:
        (m1,), generation = await form_group(coordinator, 1)
        m2 = await new_member_id(coordinator)
        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            joined = {}

            async def join_as(member_id):
                joined[member_id] = await join(coordinator, member_id)

            nursery.start_soon(join_as, m2)
            await trio.testing.wait_all_tasks_blocked()
            # m2 waits for m1, who learns of the rebalance from its heartbeat.
            assert state(coordinator) == "PreparingRebalance"
            assert coordinator.heartbeat("g", m1, None, generation) == (
                ErrorCode.REBALANCE_IN_PROGRESS
            )
            nursery.start_soon(join_as, m1)
        # The round ends as soon as everyone rejoined, not at the rebalance timeout.
        assert trio.current_time() - started < REBALANCE_MS / 1000
        first, second = joined[m1], joined[m2]
        assert first.generation_id == second.generation_id == generation + 1
        assert first.leader_id == second.leader_id == m1
        assert sorted(first.members) == sorted(
            [(m1, None, b"range-metadata"), (m2, None, b"range-metadata")]
        )
        assert second.members == []
        # The follower's SyncGroup waits for the leader's assignment.
        follower, leader = await concurrently(
            lambda: coordinator.sync_group("g", generation + 1, m2, None, None, None, {}),
            lambda: coordinator.sync_group(
                "g", generation + 1, m1, None, None, None, {m1: b"one", m2: b"two"}
            ),
        )
        assert (leader.assignment, follower.assignment) == (b"one", b"two")
        assert follower.protocol_name == "range"
        assert state(coordinator) == "Stable"


async def test_initial_rebalance_delay_waits_while_members_keep_arriving(tmp_path, autojump_clock):
    async with running(tmp_path, group_initial_rebalance_delay_ms=3000) as coordinator:
        ids = [await new_member_id(coordinator) for _ in range(3)]
        done = {}

        async def join_at(delay_s, member_id):
            await trio.sleep(delay_s)
            done[member_id] = (await join(coordinator, member_id), trio.current_time())

        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            for delay_s, member_id in zip((0, 2, 4), ids, strict=True):
                nursery.start_soon(join_at, delay_s, member_id)
        assert {r.generation_id for r, _ in done.values()} == {1}
        assert len(done[ids[0]][0].members) == 3
        # 3 s after the first join, extended by 3 s twice for the later arrivals.
        assert [t - start for _, t in done.values()] == pytest.approx([9, 9, 9])


async def test_a_silent_member_is_removed_after_its_session_timeout(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        (m1, m2), generation = await form_group(coordinator, 2)
        start = trio.current_time()
        # m1 keeps heartbeating, m2 has crashed.
        while coordinator.heartbeat("g", m1, None, generation) == NONE:
            await trio.sleep(1)
        assert trio.current_time() - start >= SESSION_MS / 1000
        assert coordinator.heartbeat("g", m2, None, generation) == ErrorCode.UNKNOWN_MEMBER_ID
        result = await join(coordinator, m1)
        assert result.generation_id == generation + 1
        assert [m for m, _, _ in result.members] == [m1]


async def test_members_that_do_not_rejoin_are_dropped_at_the_rebalance_timeout(
    tmp_path, autojump_clock
):
    async with running(tmp_path) as coordinator:
        (m1, m2), generation = await form_group(coordinator, 2)
        start = trio.current_time()

        async def heartbeat_without_rejoining():
            # Alive (session kept) but never rejoins, like a consumer stuck in processing.
            while coordinator.heartbeat("g", m2, None, generation) in (
                NONE,
                ErrorCode.REBALANCE_IN_PROGRESS,
            ):
                await trio.sleep(1)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(heartbeat_without_rejoining)
            m3 = await new_member_id(coordinator)
            results = await rebalance(coordinator, [m3], [m1])
        assert trio.current_time() - start >= REBALANCE_MS / 1000
        assert {r.generation_id for r in results.values()} == {generation + 1}
        assert sorted(m for m, _, _ in results[m1].members) == sorted([m1, m3])
        assert coordinator.heartbeat("g", m2, None, generation) == ErrorCode.UNKNOWN_MEMBER_ID


async def test_members_that_do_not_sync_are_removed_and_the_group_rebalances(
    tmp_path, autojump_clock
):
    async with running(tmp_path) as coordinator:
        ids = [await new_member_id(coordinator) for _ in range(2)]
        first, _ = await concurrently(*[lambda m=m: join(coordinator, m) for m in ids])
        generation, leader = first.generation_id, first.leader_id
        (follower,) = set(ids) - {leader}
        sync = await coordinator.sync_group("g", generation, leader, None, None, None, {})
        assert sync.error == NONE
        # The follower heartbeats but never sends its SyncGroup.
        start = trio.current_time()
        while coordinator.heartbeat("g", leader, None, generation) == NONE:
            coordinator.heartbeat("g", follower, None, generation)
            await trio.sleep(1)
        assert trio.current_time() - start >= REBALANCE_MS / 1000 - 1
        assert coordinator.heartbeat("g", follower, None, generation) == (
            ErrorCode.UNKNOWN_MEMBER_ID
        )


async def test_a_pending_member_that_never_rejoins_expires(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        (m1,), generation = await form_group(coordinator, 1)
        await new_member_id(coordinator)  # pending, never comes back
        m3 = await new_member_id(coordinator)
        start = trio.current_time()
        results = await rebalance(coordinator, [m3], [m1])
        # The round cannot end while a pending member may still join: its session ends it.
        assert trio.current_time() - start >= SESSION_MS / 1000
        assert sorted(m for m, _, _ in results[m1].members) == sorted([m1, m3])


async def test_generation_and_member_checks(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        (m1,), generation = await form_group(coordinator, 1)
        assert coordinator.heartbeat("g", m1, None, generation) == NONE
        assert coordinator.heartbeat("g", m1, None, generation - 1) == ErrorCode.ILLEGAL_GENERATION
        assert coordinator.heartbeat("g", "other", None, generation) == (
            ErrorCode.UNKNOWN_MEMBER_ID
        )
        assert coordinator.heartbeat("nope", m1, None, generation) == ErrorCode.UNKNOWN_MEMBER_ID
        sync = await coordinator.sync_group("g", generation + 1, m1, None, None, None, {})
        assert sync.error == ErrorCode.ILLEGAL_GENERATION
        sync = await coordinator.sync_group("g", generation, m1, None, "connect", None, {})
        assert sync.error == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        sync = await coordinator.sync_group("g", generation, m1, None, None, "roundrobin", {})
        assert sync.error == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        # A rebalance begins: SyncGroup of the old generation must rejoin first.
        m2 = await new_member_id(coordinator)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(join, coordinator, m2)
            await trio.testing.wait_all_tasks_blocked()
            sync = await coordinator.sync_group("g", generation, m1, None, None, None, {})
            assert sync.error == ErrorCode.REBALANCE_IN_PROGRESS
            await join(coordinator, m1)


async def test_protocols_must_be_shared_and_the_most_preferred_common_one_wins(
    tmp_path, autojump_clock
):
    async with running(tmp_path) as coordinator:
        a = [("range", b"ra"), ("roundrobin", b"rr-a")]
        b = [("roundrobin", b"rr-b"), ("range", b"rb")]
        c = [("sticky", b"s"), ("roundrobin", b"rr-c")]
        ids = [await new_member_id(coordinator, protocols=p) for p in (a, b, c)]
        results = await concurrently(
            *[
                lambda m=m, p=p: join(coordinator, m, protocols=p)
                for m, p in zip(ids, (a, b, c), strict=True)
            ]
        )
        leader = next(r for r in results if r.members)
        assert leader.protocol_name == "roundrobin"
        assert sorted(meta for _, _, meta in leader.members) == [b"rr-a", b"rr-b", b"rr-c"]
        late = await join(coordinator, protocols=[("sticky", b"")], require_known=False)
        assert late.error == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        other_type = await join(coordinator, protocol_type="connect", require_known=False)
        assert other_type.error == ErrorCode.INCONSISTENT_GROUP_PROTOCOL


async def test_group_max_size(tmp_path, autojump_clock):
    async with running(tmp_path, group_max_size=2) as coordinator:
        await form_group(coordinator, 2)
        result = await join(coordinator)
        assert result.error == ErrorCode.GROUP_MAX_SIZE_REACHED


async def test_static_member_restart_keeps_its_assignment_and_fences_the_old_id(
    tmp_path, autojump_clock
):
    async with running(tmp_path) as coordinator:
        instances = ["i1", "i2"]
        ids, generation = await form_group(coordinator, 2, instances=instances)
        leader_id = coordinator.manager.groups["g"].leader_id
        leader_instance = instances[ids.index(leader_id)]
        (follower_instance,) = set(instances) - {leader_instance}
        old_id = ids[instances.index(follower_instance)]
        # A follower restarts (a new process: no member id) while the group is stable.
        rejoined = await join(coordinator, instance=follower_instance, skip=True)
        assert rejoined.error == NONE
        assert rejoined.member_id not in ids
        assert rejoined.generation_id == generation  # no rebalance
        assert (rejoined.skip_assignment, rejoined.members) == (False, [])
        assert state(coordinator) == "Stable"
        sync = await coordinator.sync_group(
            "g", generation, rejoined.member_id, follower_instance, None, None, {}
        )
        assert sync.assignment == f"assignment-{old_id}".encode()
        # The old process, if still alive, is fenced.
        assert coordinator.heartbeat("g", old_id, follower_instance, generation) == (
            ErrorCode.FENCED_INSTANCE_ID
        )
        # The leader restarting (JoinGroup v9+) learns it leads but skips assigning.
        leader = await join(coordinator, instance=leader_instance, skip=True)
        assert (leader.generation_id, leader.leader_id, leader.skip_assignment) == (
            generation,
            leader.member_id,
            True,
        )
        assert len(leader.members) == 2


async def test_leave_group_by_member_id_and_by_instance_id(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        (m1, m2), generation = await form_group(coordinator, 2, instances=["i1", "i2"])
        error, results = coordinator.leave_group(
            "g", [(m1, "i1"), ("", "i2"), ("ghost", None), ("", "nobody")]
        )
        assert error == NONE
        assert [e for _, _, e in results] == [
            NONE,
            NONE,
            ErrorCode.UNKNOWN_MEMBER_ID,
            ErrorCode.UNKNOWN_MEMBER_ID,
        ]
        assert state(coordinator) == "Empty"
        await trio.testing.wait_all_tasks_blocked()  # the empty group is stored
        groups = [v for k, v in partition_records(coordinator) if isinstance(k, GroupKey)]
        version, empty = groups[-1]
        assert (empty.generation, empty.members, empty.protocol) == (generation + 1, [], None)


# ---- offsets ----


def offset(n: int, metadata: str = "") -> OffsetAndMetadata:
    return OffsetAndMetadata(n, -1, metadata, wall_ms())


async def test_simple_consumer_commits_without_membership(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        tp = ("topic", 0)
        errors = await coordinator.commit_offsets("simple", "", None, -1, {tp: offset(5, "md")})
        assert errors == {tp: NONE}
        error, fetched = coordinator.fetch_offsets("simple", [tp, ("topic", 1)])
        assert error == NONE
        assert fetched[tp].offset == 5 and fetched[tp].metadata == "md"
        assert fetched[("topic", 1)] is None
        assert coordinator.fetch_offsets("simple", None)[1].keys() == {tp}
        assert coordinator.describe_group("simple")[1].state == "Empty"
        assert ("simple", "", "Empty", "classic") in coordinator.list_groups()[1]


async def test_commits_are_checked_against_membership_and_generation(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        (m1,), generation = await form_group(coordinator, 1)
        tp = ("topic", 0)

        async def commit(member_id, gen, instance=None, metadata=""):
            errors = await coordinator.commit_offsets(
                "g", member_id, instance, gen, {tp: offset(1, metadata)}
            )
            return errors[tp]

        assert await commit(m1, generation) == NONE
        assert await commit(m1, generation - 1) == ErrorCode.ILLEGAL_GENERATION
        assert await commit("ghost", generation) == ErrorCode.UNKNOWN_MEMBER_ID
        # A simple consumer may not commit while the group has members.
        assert await commit("", -1) == ErrorCode.UNKNOWN_MEMBER_ID
        assert await commit(m1, generation, metadata="x" * 4097) == (
            ErrorCode.OFFSET_METADATA_TOO_LARGE
        )
        errors = await coordinator.commit_offsets("gone", "m", None, 3, {tp: offset(1)})
        assert errors == {tp: ErrorCode.ILLEGAL_GENERATION}


async def test_state_and_offsets_survive_a_restart(tmp_path, autojump_clock):
    tp = ("topic", 3)
    async with running(tmp_path) as coordinator:
        (m1, m2), generation = await form_group(coordinator, 2, instances=["i1", "i2"])
        await coordinator.commit_offsets("g", m1, "i1", generation, {tp: offset(42, "meta")})
        await coordinator.commit_offsets("simple", "", None, -1, {tp: offset(7)})
        await coordinator.commit_offsets("simple", "", None, -1, {tp: offset(8)})
        before = coordinator.describe_group("g")[1]
    async with running(tmp_path) as coordinator:
        after = coordinator.describe_group("g")[1]
        assert after == before
        assert after.state == "Stable"
        assert {m.member_id for m in after.members} == {m1, m2}
        assert {m.group_instance_id for m in after.members} == {"i1", "i2"}
        assert coordinator.fetch_offsets("g", [tp])[1][tp].offset == 42
        assert coordinator.fetch_offsets("g", [tp])[1][tp].metadata == "meta"
        assert coordinator.fetch_offsets("simple", [tp])[1][tp].offset == 8
        # The loaded members are live members of the loaded generation.
        assert coordinator.heartbeat("g", m1, "i1", generation) == NONE
        # A restarted static member takes over without a rebalance.
        rejoined = await join(coordinator, instance="i2")
        assert rejoined.generation_id == generation


async def test_requests_wait_for_the_partition_to_load(tmp_path, autojump_clock):
    tp = ("topic", 0)
    async with running(tmp_path, offsets_topic_num_partitions=1) as coordinator:
        for i in range(50):
            await coordinator.commit_offsets(f"group-{i}", "", None, -1, {tp: offset(i)})
        (m1,), generation = await form_group(coordinator, 1)
    # Reopened with a one-byte read buffer: a batch per read, and the load yields
    # between reads, so requests arrive while it runs.
    config = {
        "log.dirs": str(tmp_path),
        "offsets.topic.num.partitions": "1",
        "offsets.load.buffer.size": "1",
    }
    broker = Broker(BrokerConfig(config))
    broker.load()
    coordinator = coordinator_of(broker)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(coordinator.run)
            assert coordinator.fetch_offsets("group-3", [tp])[0] == (
                ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
            )
            assert coordinator.list_groups()[0] == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
            # Kafka's answers while loading: heartbeats pass, syncs make the member rejoin.
            assert coordinator.heartbeat("g", m1, None, generation) == NONE
            sync = await coordinator.sync_group("g", generation, m1, None, None, None, {})
            assert sync.error == ErrorCode.REBALANCE_IN_PROGRESS
            await coordinator.wait_loaded()
            error, fetched = coordinator.fetch_offsets("group-3", [tp])
            assert (error, fetched[tp].offset) == (NONE, 3)
            assert len(coordinator.list_groups()[1]) == 51
            nursery.cancel_scope.cancel()
    finally:
        broker.close()


async def test_offsets_of_an_empty_group_expire_after_the_retention_time(tmp_path, autojump_clock):
    tp = ("topic", 0)
    props = {"offsets_retention_minutes": 1, "offsets_retention_check_interval_ms": 1000}
    async with running(tmp_path, **props) as coordinator:
        (m1,), generation = await form_group(coordinator, 1)
        await coordinator.commit_offsets("g", m1, None, generation, {tp: offset(10)})
        # While the member lives the offsets stay (its subscription is not readable
        # consumer-protocol metadata here, so every topic counts as consumed).
        for _ in range(120):
            await trio.sleep(1)
            assert coordinator.heartbeat("g", m1, None, generation) == NONE
        assert coordinator.fetch_offsets("g", [tp])[1][tp] is not None
        coordinator.leave_group("g", [(m1, None)])
        emptied = trio.current_time()
        while coordinator.fetch_offsets("g", [tp])[1][tp] is not None:
            await trio.sleep(1)
        assert trio.current_time() - emptied >= 60
        assert state(coordinator) == "Dead"  # an empty group without offsets goes
    async with running(tmp_path, **props) as coordinator:
        assert coordinator.fetch_offsets("g", [tp])[1][tp] is None
        assert state(coordinator) == "Dead"


async def test_offsets_of_unsubscribed_topics_expire_in_a_stable_group(tmp_path, autojump_clock):
    props = {"offsets_retention_minutes": 1, "offsets_retention_check_interval_ms": 1000}
    async with running(tmp_path, **props) as coordinator:
        protocols = [("range", subscription("consumed"))]
        (m1,), generation = await form_group(coordinator, 1, protocols=protocols)
        kept, dropped = ("consumed", 0), ("old-topic", 0)
        await coordinator.commit_offsets(
            "g", m1, None, generation, {kept: offset(1), dropped: offset(2)}
        )
        while coordinator.fetch_offsets("g", [dropped])[1][dropped] is not None:
            await trio.sleep(1)
            coordinator.heartbeat("g", m1, None, generation)
        assert coordinator.fetch_offsets("g", [kept])[1][kept] is not None


async def test_delete_groups(tmp_path, autojump_clock):
    tp = ("topic", 0)
    async with running(tmp_path) as coordinator:
        (m1,), generation = await form_group(coordinator, 1, group="busy")
        await coordinator.commit_offsets("idle", "", None, -1, {tp: offset(1)})
        results = await coordinator.delete_groups(["busy", "idle", "unknown"])
        assert results == {
            "busy": ErrorCode.NON_EMPTY_GROUP,
            "idle": NONE,
            "unknown": ErrorCode.GROUP_ID_NOT_FOUND,
        }
        assert coordinator.fetch_offsets("idle", [tp])[1][tp] is None
        assert state(coordinator, "idle") == "Dead"
        tombstones = [k for k, v in partition_records(coordinator, "idle") if v is None]
        assert OffsetKey("idle", *tp) in tombstones and GroupKey("idle") in tombstones
    async with running(tmp_path) as coordinator:
        assert state(coordinator, "idle") == "Dead"
        assert state(coordinator, "busy") == "Stable"


async def test_delete_offsets_of_topics_the_group_does_not_consume(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        protocols = [("range", subscription("consumed"))]
        (m1,), generation = await form_group(coordinator, 1, protocols=protocols)
        kept, dropped = ("consumed", 0), ("other", 0)
        await coordinator.commit_offsets(
            "g", m1, None, generation, {kept: offset(1), dropped: offset(2)}
        )
        error, results = await coordinator.delete_offsets("g", [kept, dropped])
        assert error == NONE
        assert results == {kept: ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC, dropped: NONE}
        assert coordinator.fetch_offsets("g", None)[1].keys() == {kept}
        assert (await coordinator.delete_offsets("unknown", [kept]))[0] == (
            ErrorCode.GROUP_ID_NOT_FOUND
        )


async def test_records_use_kafkas_schemas(tmp_path, autojump_clock):
    async with running(tmp_path) as coordinator:
        (m1, m2), generation = await form_group(coordinator, 2, instances=["i1", "i2"])
        await coordinator.commit_offsets("g", m1, "i1", generation, {("t", 1): offset(9, "md")})
        records = partition_records(coordinator)
        version, value = [v for k, v in records if k == GroupKey("g")][-1]
        assert version == 3
        assert (value.protocol_type, value.generation, value.protocol) == (
            "consumer",
            generation,
            "range",
        )
        assert value.current_state_timestamp >= EPOCH_MS
        members = {m.member_id: m for m in value.members}
        assert members[m1].group_instance_id == "i1"
        assert members[m2].assignment == f"assignment-{m2}".encode()
        assert members[m1].subscription == b"range-metadata"
        assert (members[m1].session_timeout, members[m1].rebalance_timeout) == (
            SESSION_MS,
            REBALANCE_MS,
        )
        committed = [v for k, v in records if k == OffsetKey("g", "t", 1)]
        assert committed[-1].offset == 9 and committed[-1].metadata == "md"


async def test_unloading_a_partition_hands_waiting_members_not_coordinator(
    tmp_path, autojump_clock
):
    async with running(tmp_path) as coordinator:
        (m1,), generation = await form_group(coordinator, 1)
        m2 = await new_member_id(coordinator)
        async with trio.open_nursery() as nursery:
            results = []

            async def join_and_keep(member_id):
                results.append(await join(coordinator, member_id))

            nursery.start_soon(join_and_keep, m2)
            await trio.testing.wait_all_tasks_blocked()
            coordinator.unload_partition(coordinator.partition_for("g"))
        assert results[0].error == ErrorCode.NOT_COORDINATOR
        assert coordinator.heartbeat("g", m1, None, generation) == ErrorCode.NOT_COORDINATOR
        await coordinator.load_partition(coordinator.partition_for("g"))
        assert coordinator.heartbeat("g", m1, None, generation) == NONE


async def test_unreadable_records_are_skipped_when_loading(tmp_path, autojump_clock):
    tp = ("topic", 0)
    async with running(tmp_path, offsets_topic_num_partitions=1) as coordinator:
        await coordinator.commit_offsets("before", "", None, -1, {tp: offset(1)})
        log = coordinator.manager.offsets_topic.log(0)
        junk = [(b"\x00", b"x"), (b"\x00\x01\xff", b"y"), (group_key_bytes("bad"), b"\x00\x03zz")]
        log.append(build_batch(junk), origin=AppendOrigin.COORDINATOR)
        await coordinator.commit_offsets("after", "", None, -1, {tp: offset(2)})
    async with running(tmp_path, offsets_topic_num_partitions=1) as coordinator:
        assert coordinator.fetch_offsets("before", [tp])[1][tp].offset == 1
        assert coordinator.fetch_offsets("after", [tp])[1][tp].offset == 2
        assert state(coordinator, "bad") == "Dead"


async def test_a_compacted_partition_loads_the_same_state(tmp_path, autojump_clock):
    """Kafka's key layout makes compaction keep exactly the state: the newest offset
    per (group, topic, partition), the newest metadata per group, and tombstones."""
    props = {"offsets_topic_num_partitions": 1, "offsets_topic_segment_bytes": 2048}
    async with running(tmp_path, **props) as coordinator:
        for i in range(100):
            for p in range(3):
                tp = ("topic", p)
                await coordinator.commit_offsets("kept", "", None, -1, {tp: offset(i * 10 + p)})
        await coordinator.commit_offsets("deleted", "", None, -1, {("topic", 0): offset(5)})
        assert await coordinator.delete_groups(["deleted"]) == {"deleted": NONE}
        (m1,), generation = await form_group(coordinator, 1)
        log = coordinator.manager.offsets_topic.log(0)
        size = log.size
        stats = coordinator.manager.offsets_topic.replica_manager.log_manager.cleaner.clean(
            log, wall_ms(), force=True
        )
        assert stats is not None and log.size < size / 4
    async with running(tmp_path, **props) as coordinator:
        error, fetched = coordinator.fetch_offsets("kept", None)
        assert {tp: o.offset for tp, o in fetched.items()} == {
            ("topic", p): 990 + p for p in range(3)
        }
        assert state(coordinator, "deleted") == "Dead"
        assert state(coordinator) == "Stable"
        assert coordinator.heartbeat("g", m1, None, generation) == NONE
