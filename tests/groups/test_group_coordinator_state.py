"""The group coordinator's membership state machine, without a broker or a data dir.

The coordinator runs over a GroupMetadataManager whose __consumer_offsets is a list
in memory (`InMemoryOffsetsTopic`: the topic is created on first use, every append
is recorded), under Trio's autojump MockClock, so session and rebalance timeouts
pass instantly. The assertions are what clients see in their answers, plus the
group records the coordinator asked the manager to write.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from kafka_compat.groups import GroupConfig, GroupCoordinator, GroupMetadataManager
from kafka_compat.groups.records import GroupKey, decode_group_value, decode_key
from protocol.errors import ErrorCode
from protocol.records import decode_batch

EPOCH_MS = 1_700_000_000_000
SESSION_MS = 10_000
REBALANCE_MS = 30_000
RANGE = [("range", b"range-metadata")]
CONFIG = GroupConfig(num_partitions=5, initial_rebalance_delay_ms=0, min_session_timeout_ms=100)

NONE = ErrorCode.NONE


def wall_ms() -> int:
    return EPOCH_MS + int(trio.current_time() * 1000)


class InMemoryOffsetsTopic:
    """An OffsetsTopic held in memory: no partitions to load, every append succeeds."""

    def __init__(self) -> None:
        self.partitions: int | None = None
        self.configs: dict[str, str] = {}
        self.batches: list[tuple[int, bytes]] = []

    def partition_count(self) -> int | None:
        return self.partitions

    async def create(self, num_partitions: int, configs: dict[str, str]) -> int:
        self.partitions, self.configs = num_partitions, configs
        return num_partitions

    def leads_all_partitions(self) -> bool:
        return True

    def log(self, index: int) -> None:
        return None

    async def append(self, index: int, batch: bytes) -> tuple[int, int]:
        self.batches.append((index, bytes(batch)))
        return NONE, len(self.batches) - 1  # a position in log order

    def group_records(self, group_id: str) -> list:
        """The group's metadata records in the order written (None for a tombstone)."""
        out = []
        for _, batch in self.batches:
            for record in decode_batch(memoryview(batch))[1]:
                if decode_key(record.key) == GroupKey(group_id):
                    out.append(
                        None if record.value is None else decode_group_value(record.value)[1]
                    )
        return out


@pytest.fixture
def offsets_topic() -> InMemoryOffsetsTopic:
    return InMemoryOffsetsTopic()


@pytest.fixture
async def coordinator(nursery, offsets_topic) -> GroupCoordinator:
    coordinator = GroupCoordinator(GroupMetadataManager(offsets_topic, CONFIG, time_ms=wall_ms))
    await nursery.start(coordinator.run)
    await coordinator.wait_loaded()
    return coordinator


async def join(coordinator, member_id="", *, group="g", protocols=RANGE, session=SESSION_MS):
    """A JoinGroup v4+ (new members are asked for a known member id first)."""
    return await coordinator.join_group(
        group,
        member_id,
        None,
        "client",
        "/127.0.0.1",
        REBALANCE_MS,
        session,
        "consumer",
        protocols,
        require_known_member_id=True,
    )


async def concurrently(*calls):
    """Run the coroutine functions together; their results in order."""
    results = [None] * len(calls)

    async def run(i, call):
        results[i] = await call()

    async with trio.open_nursery() as nursery:
        for i, call in enumerate(calls):
            nursery.start_soon(run, i, call)
    return results


async def form_group(coordinator, n):
    """n new members join one round and sync: member ids in join order, generation."""
    ids = [(await join(coordinator)).member_id for _ in range(n)]
    joined = await concurrently(*[lambda m=m: join(coordinator, m) for m in ids])
    generation, leader = joined[0].generation_id, joined[0].leader_id
    assignment = {m: f"assignment-{m}".encode() for m in ids}
    await concurrently(
        *[
            lambda m=m: coordinator.sync_group(
                "g", generation, m, None, None, None, assignment if m == leader else {}
            )
            for m in ids
        ]
    )
    return ids, generation


def state(coordinator, group="g") -> str:
    return coordinator.describe_group(group)[1].state


async def test_a_new_member_gets_member_id_required_then_joins(
    coordinator, offsets_topic, autojump_clock
):
    first = await join(coordinator)
    assert first.error == ErrorCode.MEMBER_ID_REQUIRED
    assert first.member_id.startswith("client-")
    member_id = first.member_id
    result = await join(coordinator, member_id)
    assert result.error == NONE
    assert (result.member_id, result.generation_id, result.leader_id) == (member_id, 1, member_id)
    assert (result.protocol_type, result.protocol_name) == ("consumer", "range")
    assert result.members == [(member_id, None, b"range-metadata")]
    # The first write created __consumer_offsets, compacted as Kafka's.
    assert offsets_topic.partitions == CONFIG.num_partitions
    assert offsets_topic.configs["cleanup.policy"] == "compact"


async def test_two_members_get_one_leader_and_the_same_generation(coordinator, autojump_clock):
    ids = [(await join(coordinator)).member_id for _ in range(2)]
    first, second = await concurrently(*[lambda m=m: join(coordinator, m) for m in ids])
    assert first.error == second.error == NONE
    assert first.generation_id == second.generation_id == 1
    assert first.leader_id == second.leader_id
    assert first.leader_id in ids
    leader, follower = (first, second) if first.leader_id == first.member_id else (second, first)
    assert sorted(leader.members) == sorted((m, None, b"range-metadata") for m in ids)
    assert follower.members == []
    assert state(coordinator) == "CompletingRebalance"


async def test_the_leaders_assignment_reaches_the_follower(
    coordinator, offsets_topic, autojump_clock
):
    ids = [(await join(coordinator)).member_id for _ in range(2)]
    first, _ = await concurrently(*[lambda m=m: join(coordinator, m) for m in ids])
    generation, leader = first.generation_id, first.leader_id
    (follower,) = set(ids) - {leader}
    assignment = {leader: b"partitions-of-the-leader", follower: b"partitions-of-the-follower"}
    answers = {}

    async def sync(member_id, assignments):
        answers[member_id] = await coordinator.sync_group(
            "g", generation, member_id, None, None, None, assignments
        )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sync, follower, {})
        await trio.testing.wait_all_tasks_blocked()
        assert answers == {}  # the follower waits for the leader's SyncGroup
        nursery.start_soon(sync, leader, assignment)
    follower_sync, leader_sync = answers[follower], answers[leader]
    assert (follower_sync.error, follower_sync.assignment) == (NONE, assignment[follower])
    assert (leader_sync.error, leader_sync.assignment) == (NONE, assignment[leader])
    assert (follower_sync.protocol_type, follower_sync.protocol_name) == ("consumer", "range")
    assert state(coordinator) == "Stable"
    # The assignment is stored with the group.
    stored = offsets_topic.group_records("g")[-1]
    assert stored.generation == generation and stored.leader == leader
    assert {m.member_id: m.assignment for m in stored.members} == assignment


async def test_a_member_that_stops_heartbeating_is_removed_and_the_group_rebalances(
    coordinator, autojump_clock
):
    (m1, m2), generation = await form_group(coordinator, 2)
    start = trio.current_time()
    # m1 keeps heartbeating; m2 has gone silent.
    with trio.fail_after(2 * SESSION_MS / 1000):
        while (error := coordinator.heartbeat("g", m1, None, generation)) == NONE:
            await trio.sleep(1)
    assert error == ErrorCode.REBALANCE_IN_PROGRESS
    assert trio.current_time() - start >= SESSION_MS / 1000
    assert coordinator.heartbeat("g", m2, None, generation) == ErrorCode.UNKNOWN_MEMBER_ID
    rejoined = await join(coordinator, m1)
    assert (rejoined.error, rejoined.generation_id) == (NONE, generation + 1)
    assert (rejoined.leader_id, [m for m, _, _ in rejoined.members]) == (m1, [m1])


async def test_leave_group_of_the_last_member_empties_the_group(
    coordinator, offsets_topic, autojump_clock
):
    (m1,), generation = await form_group(coordinator, 1)
    assert coordinator.leave_group("g", [(m1, None)]) == (NONE, [(m1, None, NONE)])
    assert state(coordinator) == "Empty"
    assert coordinator.describe_group("g")[1].members == []
    assert coordinator.heartbeat("g", m1, None, generation) == ErrorCode.UNKNOWN_MEMBER_ID
    await trio.testing.wait_all_tasks_blocked()  # the empty group is written
    empty = offsets_topic.group_records("g")[-1]
    assert (empty.generation, empty.members, empty.protocol) == (generation + 1, [], None)


async def test_strangers_get_unknown_member_id(coordinator, autojump_clock):
    (m1,), generation = await form_group(coordinator, 1)
    unknown = ErrorCode.UNKNOWN_MEMBER_ID
    assert coordinator.heartbeat("g", "stranger", None, generation) == unknown
    sync = await coordinator.sync_group("g", generation, "stranger", None, None, None, {})
    assert sync.error == unknown
    assert coordinator.leave_group("g", [("stranger", None)]) == (
        NONE,
        [("stranger", None, unknown)],
    )
    assert (await join(coordinator, "stranger")).error == unknown
    # A group nobody joined knows nobody either.
    assert (await join(coordinator, "stranger", group="other")).error == unknown
    assert coordinator.heartbeat("other", "stranger", None, 1) == unknown
    # The group's member is unaffected.
    assert coordinator.heartbeat("g", m1, None, generation) == NONE


async def test_a_coordinator_that_is_not_running_refuses_work(offsets_topic):
    coordinator = GroupCoordinator(GroupMetadataManager(offsets_topic, CONFIG, time_ms=wall_ms))
    assert coordinator.heartbeat("g", "m", None, 1) == ErrorCode.COORDINATOR_NOT_AVAILABLE
    # Work that cannot be scheduled is an error, never silently dropped.
    with pytest.raises(RuntimeError, match="not running"):
        coordinator._spawn(trio.sleep, 0)
