"""ZooKeeperStore against a real ZooKeeper: Kafka's znodes, ephemeral registration,
controller election, version-checked partition state, watches delivered to Trio,
session loss, chroot."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import trio
from kazoo.client import KazooClient

from kafka_compat.cluster.store import (
    BrokerIdTaken,
    ControllerMoved,
    InvalidReplicationFactor,
    NoSuchTopic,
    TopicExists,
    ZooKeeperUnavailable,
)
from kafka_compat.cluster.zk_client import SessionEvent
from kafka_compat.cluster.zk_data import PartitionState, split_connect, uuid_to_str
from kafka_compat.cluster.zk_store import open_zookeeper_store
from kafka_compat.devcluster import zk_cli

GUARD_S = 30  # failure guard for waits, never a timing
# Short enough for quick expiry tests, long enough that a loaded machine's late pings
# do not cost a session.
FAST = {"session_timeout": 6.0}


class Recorder:
    """A callback that remembers what it was called with; tests wait on it."""

    def __init__(self) -> None:
        self.calls: list[Any] = []
        self._event = trio.Event()

    def __call__(self, *args: Any) -> None:
        self.calls.append(args[0] if len(args) == 1 else args)
        self._event.set()
        self._event = trio.Event()

    async def wait_for(self, predicate: Callable[[Any], bool]) -> Any:
        """The first call (already made or to come) that satisfies `predicate`."""
        seen = 0
        with trio.fail_after(GUARD_S):
            while True:
                for value in self.calls[seen:]:
                    if predicate(value):
                        return value
                seen = len(self.calls)
                await self._event.wait()


def raw_client(connect: str) -> KazooClient:
    client = KazooClient(hosts=connect)
    client.start(timeout=GUARD_S)
    return client


async def read_raw(connect: str, path: str) -> tuple[dict | bytes | None, Any]:
    def read():
        client = raw_client(connect)
        try:
            if not client.exists(path):
                return None, None
            data, stat = client.get(path)
            return data, stat
        finally:
            client.stop()
            client.close()

    return await trio.to_thread.run_sync(read)


def expire_session(store) -> None:
    """End `store`'s session on the server, as an expiry does: a second client joins
    the session and closes it. The store's own client learns at its next contact."""
    session_id, password = store._client.client_id
    clone = KazooClient(hosts=store.hosts, client_id=(session_id, password))
    clone.start(timeout=GUARD_S)
    clone.stop()
    clone.close()


# ---------------------------------------------------------------------------


async def test_registration_is_kafkas_json_and_zkcli_lists_it(zk_connect, zookeeper):
    async with open_zookeeper_store(zk_connect, **FAST) as store:
        reg = await store.register_broker(1, "127.0.0.1", 9093)
        data, stat = await read_raw(zk_connect, "/brokers/ids/1")
        assert stat.ephemeralOwner == store.session_id
        assert reg.epoch == stat.czxid
        node = json.loads(data)
        assert node == {
            "features": {},
            "listener_security_protocol_map": {"PLAINTEXT": "PLAINTEXT"},
            "endpoints": ["PLAINTEXT://127.0.0.1:9093"],
            "jmx_port": -1,
            "port": 9093,
            "host": "127.0.0.1",
            "version": 5,
            "timestamp": node["timestamp"],
        }
        assert node["timestamp"].isdigit()
        # What an operator of Kafka runs:
        chroot = split_connect(zk_connect)[1]
        out = await trio.to_thread.run_sync(
            zk_cli, zookeeper.connect, "ls", f"{chroot}/brokers/ids"
        )
        # zkCli prints its connection event from another thread, sometimes mid-line.
        listing = out.replace("WatchedEvent state:SyncConnected type:None path:null", "")
        assert "[1]" in re.sub(r"\s", "", listing), out


async def test_kafkas_persistent_paths_and_cluster_id(zk_connect):
    async with open_zookeeper_store(zk_connect, **FAST) as first:
        for path in ("/brokers/ids", "/brokers/topics", "/config/topics", "/config/changes"):
            assert await first.get_raw(path) is not None, path
        assert await first.get_raw("/admin/delete_topics") is not None
        assert await first.get_raw("/isr_change_notification") is not None
        data, _ = await first.get_raw("/cluster/id")
        assert json.loads(data) == {"version": "1", "id": first.cluster_id}
        assert len(first.cluster_id) == 22
    async with open_zookeeper_store(zk_connect, **FAST) as second:
        assert second.cluster_id == first.cluster_id


async def test_chroot_is_created_and_isolates(zookeeper):
    deep = f"{zookeeper.connect}/chroot-test/a/b"
    async with open_zookeeper_store(deep, **FAST) as store:
        await store.register_broker(5, "127.0.0.1", 9999)
        data, _ = await read_raw(zookeeper.connect, "/chroot-test/a/b/brokers/ids/5")
        assert json.loads(data)["port"] == 9999
        async with open_zookeeper_store(f"{zookeeper.connect}/chroot-test/c", **FAST) as other:
            assert other.brokers == {}
            assert other.cluster_id != store.cluster_id


async def test_brokers_come_and_go_in_each_others_cache(zk_connect):
    async with open_zookeeper_store(zk_connect, **FAST) as watcher:
        changes = Recorder()
        watcher.on_brokers_change(changes)
        async with open_zookeeper_store(zk_connect, **FAST) as one:
            await one.register_broker(1, "127.0.0.1", 9001)
            async with open_zookeeper_store(zk_connect, **FAST) as two:
                await two.register_broker(2, "127.0.0.1", 9002)
                both = await changes.wait_for(lambda b: set(b) == {1, 2})
                assert both[2].port == 9002 and both[1].host == "127.0.0.1"
                assert set(watcher.brokers) == {1, 2}
                assert set(await watcher.live_brokers()) == {1, 2}
            # Closing a store ends its session: its ephemeral registration goes at once.
            await changes.wait_for(lambda b: set(b) == {1})
        await changes.wait_for(lambda b: b == {})
        assert watcher.brokers == {}


async def test_a_broker_id_held_by_a_live_session_is_refused(zk_connect):
    async with open_zookeeper_store(zk_connect, **FAST) as first:
        await first.register_broker(3, "127.0.0.1", 9003)
        async with open_zookeeper_store(zk_connect, **FAST) as second:
            with pytest.raises(BrokerIdTaken):
                await second.register_broker(3, "127.0.0.1", 9004, wait_for_previous=0.2)


async def test_a_restarted_broker_waits_for_its_old_session_to_go(zk_connect):
    async with open_zookeeper_store(zk_connect, **FAST) as new:
        async with trio.open_nursery() as nursery:

            async def old_broker() -> None:
                async with open_zookeeper_store(zk_connect, **FAST) as old:
                    await old.register_broker(4, "127.0.0.1", 9005)
                    registered.set()
                    await release.wait()

            registered, release = trio.Event(), trio.Event()
            nursery.start_soon(old_broker)
            await registered.wait()

            async def register() -> None:
                reg = await new.register_broker(4, "127.0.0.1", 9006, wait_for_previous=GUARD_S)
                assert release.is_set()  # it waited for the old session to end
                assert reg.port == 9006

            nursery.start_soon(register)
            await trio.sleep(0.2)  # (so that it usually finds the old one; not a check)
            release.set()
        data, stat = await read_raw(zk_connect, "/brokers/ids/4")
        assert stat.ephemeralOwner == new.session_id


async def test_expired_session_is_an_event_and_the_broker_registers_again(zk_connect):
    async with open_zookeeper_store(zk_connect, **FAST) as observer:
        brokers = Recorder()
        observer.on_brokers_change(brokers)
        async with open_zookeeper_store(zk_connect, **FAST) as store:
            events = Recorder()
            store.on_session_event(events)
            first = await store.register_broker(7, "127.0.0.1", 9007)
            old_session = store.session_id
            await brokers.wait_for(lambda b: 7 in b)
            await trio.to_thread.run_sync(expire_session, store)
            await brokers.wait_for(lambda b: 7 not in b)  # the ephemeral went with it
            await events.wait_for(lambda e: e is SessionEvent.EXPIRED)
            await events.wait_for(lambda e: e is SessionEvent.NEW_SESSION)
            # NEW_SESSION comes after the registration is back, in the new session.
            data, stat = await read_raw(zk_connect, "/brokers/ids/7")
            assert stat.ephemeralOwner == store.session_id != old_session
            assert store.registration.epoch == stat.czxid != first.epoch
            await brokers.wait_for(lambda b: 7 in b)
            # The store works as before in its new session.
            assert (await store.live_brokers()).keys() == {7}


async def test_controller_election_and_takeover(zk_connect):
    async with open_zookeeper_store(zk_connect, **FAST) as b:
        seen_by_b = Recorder()
        b.on_controller_change(seen_by_b)
        async with open_zookeeper_store(zk_connect, **FAST) as a:
            won = await a.elect_controller(1)
            assert won.won and won.controller_id == 1
            lost = await b.elect_controller(2)
            assert not lost.won and lost.controller_id == 1 and lost.epoch == won.epoch
            await seen_by_b.wait_for(lambda c: c == 1)
            data, _ = await a.get_raw("/controller")
            node = json.loads(data)
            assert node["version"] == 2 and node["brokerid"] == 1
            assert node["kraftControllerEpoch"] == -1 and node["timestamp"].isdigit()
            assert (await a.get_raw("/controller_epoch"))[0] == str(won.epoch).encode()
            # Asking again while holding it: still the controller, same epoch.
            again = await a.elect_controller(1)
            assert again.won and again.epoch == won.epoch
        # a's session ended: /controller went; b sees it and takes over.
        await seen_by_b.wait_for(lambda c: c == -1)
        took_over = await b.elect_controller(2)
        assert took_over.won and took_over.epoch == won.epoch + 1
        assert await b.read_controller() == (2, won.epoch + 1, took_over.epoch_version)


async def test_fenced_writes_fail_once_another_controller_is_elected(zk_connect):
    async with (
        open_zookeeper_store(zk_connect, **FAST) as a,
        open_zookeeper_store(zk_connect, **FAST) as b,
    ):
        await a.create_topic("t", 1, {}, assignment={0: [1]})
        old = await a.elect_controller(1)
        state = PartitionState(leader=1, leader_epoch=0, isr=[1], controller_epoch=old.epoch)
        created = await a.create_partition_states(
            "t", {0: state}, controller_epoch_version=old.epoch_version
        )
        assert created == {0: 0}
        assert await a.resign_controller()
        new = await b.elect_controller(2)
        assert new.won
        moved = PartitionState(leader=1, leader_epoch=1, isr=[1], controller_epoch=old.epoch)
        with pytest.raises(ControllerMoved):
            await a.update_partition_state(
                "t", 0, moved, 0, controller_epoch_version=old.epoch_version
            )
        with pytest.raises(ControllerMoved):
            await a.remove_topic("t", controller_epoch_version=old.epoch_version)
        current = await b.get_partition_state("t", 0)
        assert current.leader_epoch == 0 and current.version == 0
        moved.controller_epoch = new.epoch
        version = await b.update_partition_state(
            "t", 0, moved, 0, controller_epoch_version=new.epoch_version
        )
        assert version == 1


async def test_partition_state_updates_are_version_checked(zk_connect):
    async with open_zookeeper_store(zk_connect, **FAST) as store:
        await store.create_topic("orders", 2, {}, assignment={0: [1, 2], 1: [2, 1]})
        states = {
            0: PartitionState(leader=1, leader_epoch=0, isr=[1, 2], controller_epoch=3),
            1: PartitionState(leader=2, leader_epoch=0, isr=[2, 1], controller_epoch=3),
        }
        assert await store.create_partition_states("orders", states) == {0: 0, 1: 0}
        assert await store.create_partition_states("orders", {0: states[0]}) == {0: None}
        data, _ = await store.get_raw("/brokers/topics/orders/partitions/0/state")
        assert json.loads(data) == {
            "controller_epoch": 3,
            "leader": 1,
            "version": 1,
            "leader_epoch": 0,
            "isr": [1, 2],
        }
        shrunk = PartitionState(leader=1, leader_epoch=0, isr=[1], controller_epoch=3)
        assert await store.update_partition_state("orders", 0, shrunk, 0) == 1
        # A writer that read version 0 and wants something else: refused.
        other = PartitionState(leader=2, leader_epoch=1, isr=[2], controller_epoch=3)
        assert await store.update_partition_state("orders", 0, other, 0) is None
        # A retry of the write that was applied counts as done (as Kafka checks).
        assert await store.update_partition_state("orders", 0, shrunk, 0) == 1
        got = await store.get_partition_state("orders", 0)
        assert (got.isr, got.version) == ([1], 1)
        many = await store.update_partition_states("orders", {0: (other, 1), 1: (states[1], 5)})
        assert many == {0: 2, 1: None}
        everything = await store.get_partition_states("orders")
        assert {p: s.version for p, s in everything.items()} == {0: 2, 1: 0}
        assert await store.get_partition_state("orders", 9) is None
        recovering = PartitionState(2, 2, [2], 3, leader_recovery_state=1)
        assert await store.update_partition_state("orders", 0, recovering, 2) == 3
        data, _ = await store.get_raw("/brokers/topics/orders/partitions/0/state")
        assert json.loads(data)["leader_recovery_state"] == 1


async def test_topics_are_written_as_kafka_writes_them_and_reach_other_brokers(zk_connect):
    stores = []
    async with (
        open_zookeeper_store(zk_connect, **FAST) as a,
        open_zookeeper_store(zk_connect, **FAST) as b,
        open_zookeeper_store(zk_connect, **FAST) as c,
    ):
        stores = [a, b, c]
        for broker_id, store in enumerate(stores, start=1):
            await store.register_broker(broker_id, "127.0.0.1", 9100 + broker_id)
        topics_seen = Recorder()
        b.on_topics_change(topics_seen)
        created = await a.create_topic(
            "orders", 6, {"cleanup.policy": "compact"}, replication_factor=3
        )
        assert created.partitions == 6 and a.topics["orders"] is created
        assignment = a.assignments["orders"].partitions
        assert sorted(assignment) == list(range(6))
        assert all(sorted(r) == [1, 2, 3] for r in assignment.values())
        assert sorted(r[0] for r in assignment.values()) == [1, 1, 2, 2, 3, 3]
        data, _ = await a.get_raw("/brokers/topics/orders")
        assert json.loads(data) == {
            "partitions": {str(p): r for p, r in assignment.items()},
            "adding_replicas": {},
            "removing_replicas": {},
            "topic_id": uuid_to_str(created.topic_id),
            "version": 3,
        }
        data, _ = await a.get_raw("/config/topics/orders")
        assert json.loads(data) == {"version": 1, "config": {"cleanup.policy": "compact"}}

        await topics_seen.wait_for(lambda names: "orders" in names)
        seen = b.topics["orders"]
        assert (seen.topic_id, seen.partitions, seen.configs) == (
            created.topic_id,
            6,
            {"cleanup.policy": "compact"},
        )
        assert b.assignments["orders"].partitions == assignment

        with pytest.raises(TopicExists):
            await b.create_topic("orders", 1, {})
        with pytest.raises(InvalidReplicationFactor, match="larger than available brokers: 3"):
            await a.create_topic("wide", 1, {}, replication_factor=4)
        assert "wide" not in a.topics and await a.get_raw("/brokers/topics/wide") is None

        # Config changes travel through /config/changes, as Kafka's do.
        await a.set_topic_configs("orders", {"retention.ms": "1000"})
        await topics_seen.wait_for(lambda _: b.topics["orders"].configs == {"retention.ms": "1000"})
        changes = await a.children("/config/changes")
        data, _ = await a.get_raw(f"/config/changes/{changes[-1]}")
        assert json.loads(data) == {"version": 2, "entity_path": "topics/orders"}
        assert await c.get_topic_configs("orders") == {"retention.ms": "1000"}

        # Adding partitions continues Kafka's placement from partition 0's leader.
        await c.add_partitions("orders", 8)
        assert c.topics["orders"].partitions == 8
        await topics_seen.wait_for(lambda _: b.topics["orders"].partitions == 8)
        grown = b.assignments["orders"].partitions
        assert {p: grown[p] for p in range(6)} == assignment
        assert all(sorted(grown[p]) == [1, 2, 3] for p in (6, 7))
        assert await a.topic_names() == ["orders"]


async def test_deletion_is_marked_then_removed_by_the_controller(zk_connect):
    async with (
        open_zookeeper_store(zk_connect, **FAST) as admin,
        open_zookeeper_store(zk_connect, **FAST) as controller,
    ):
        deletions = Recorder()
        controller.on_deletions(deletions)
        topics_seen = Recorder()
        controller.on_topics_change(topics_seen)
        await admin.create_topic("doomed", 2, {"retention.ms": "5"}, assignment={0: [1], 1: [1]})
        await topics_seen.wait_for(lambda names: "doomed" in names)
        election = await controller.elect_controller(1)
        state = PartitionState(leader=1, leader_epoch=0, isr=[1], controller_epoch=election.epoch)
        await controller.create_partition_states(
            "doomed", {0: state, 1: state}, controller_epoch_version=election.epoch_version
        )
        with pytest.raises(NoSuchTopic):
            await admin.delete_topic("never-was")

        await admin.delete_topic("doomed")
        assert "doomed" in admin.topics  # until the controller finishes
        await deletions.wait_for(lambda topics: topics == {"doomed"})
        assert await controller.topics_marked_for_deletion() == ["doomed"]
        assert (await admin.get_raw("/admin/delete_topics/doomed"))[0] == b""

        await controller.remove_topic("doomed", controller_epoch_version=election.epoch_version)
        for path in ("/brokers/topics/doomed", "/config/topics/doomed"):
            assert await admin.get_raw(path) is None, path
        assert await admin.get_raw("/admin/delete_topics/doomed") is None
        await deletions.wait_for(lambda topics: topics == set())
        await topics_seen.wait_for(lambda _: "doomed" not in controller.topics)
        # The admin's caches follow by their watches (each in its own time).
        with trio.fail_after(GUARD_S):
            while "doomed" in admin.topics or admin.topics_being_deleted:
                await trio.sleep(0.01)
        assert "doomed" not in admin.assignments


async def test_generic_watches_are_delivered_on_the_trio_thread(zk_connect):
    async with open_zookeeper_store(zk_connect, **FAST) as store:
        children, data = Recorder(), Recorder()
        threads: set[bool] = set()

        def on_children(names):
            try:
                trio.lowlevel.current_task()
                threads.add(True)
            except RuntimeError:
                threads.add(False)
            children(names)

        watch = await store.watch_children("/brokers/topics", on_children)
        await store.watch_data("/brokers/topics/w", lambda d, v: data((d, v)))
        await children.wait_for(lambda names: names == [])
        await data.wait_for(lambda value: value == (None, None))
        await store.create_topic("w", 1, {}, assignment={0: [1]})
        await children.wait_for(lambda names: names == ["w"])
        await data.wait_for(lambda value: value[1] == 0 and b'"0":[1]' in value[0])
        watch.cancel()
        await store.create_topic("x", 1, {}, assignment={0: [1]})
        await store.create_topic("y", 1, {}, assignment={0: [1]})
        # A cancelled watch delivers nothing more (checked on the Trio thread too).
        assert children.calls[-1] == ["w"]
        assert threads == {True}


async def test_zookeeper_outage_suspends_and_the_session_survives_a_restart(zookeeper_factory):
    server = zookeeper_factory()
    options = {"session_timeout": 8.0, "request_timeout": 0.5}
    async with open_zookeeper_store(f"{server.connect}/outage", **options) as store:
        events = Recorder()
        store.on_session_event(events)
        await store.register_broker(1, "127.0.0.1", 9001)
        session = store.session_id
        await trio.to_thread.run_sync(server.stop)
        await events.wait_for(lambda e: e is SessionEvent.SUSPENDED)
        with pytest.raises(ZooKeeperUnavailable):
            await store.get_partition_state("t", 0)
        with pytest.raises(ZooKeeperUnavailable):
            await store.elect_controller(1)
        # The caches keep serving what they know.
        assert set(store.brokers) == {1}
        await trio.to_thread.run_sync(server.start)
        await events.wait_for(lambda e: e is SessionEvent.RECONNECTED)
        assert store.session_id == session
        _, stat = await read_raw(f"{server.connect}/outage", "/brokers/ids/1")
        assert stat.ephemeralOwner == session
        assert (await store.elect_controller(1)).won


async def test_a_store_that_cannot_reach_zookeeper_fails_clearly(zookeeper_factory):
    server = zookeeper_factory()
    await trio.to_thread.run_sync(server.stop)
    with pytest.raises(ZooKeeperUnavailable, match="cannot connect"):
        async with open_zookeeper_store(
            server.connect, session_timeout=2.0, connection_timeout=0.5
        ):
            pass


async def test_a_topic_created_again_under_its_name_replaces_the_old_one(zk_connect):
    async with (
        open_zookeeper_store(zk_connect, **FAST) as admin,
        open_zookeeper_store(zk_connect, **FAST) as watcher,
    ):
        topics_seen = Recorder()
        watcher.on_topics_change(topics_seen)
        first = await admin.create_topic("again", 1, {}, assignment={0: [1]})
        await topics_seen.wait_for(lambda _: "again" in watcher.topics)
        held = watcher.topics["again"]
        await admin.add_partitions("again", 2, assignment={1: [1]})
        await topics_seen.wait_for(lambda _: held.partitions == 2)
        assert watcher.topics["again"] is held  # updated in place
        await admin.remove_topic("again")
        second = await admin.create_topic(
            "again", 3, {"a": "b"}, assignment={0: [1], 1: [1], 2: [1]}
        )
        assert second.topic_id != first.topic_id
        await topics_seen.wait_for(
            lambda _: (
                watcher.topics.get("again") is not None
                and watcher.topics["again"].topic_id == second.topic_id
            )
        )
        await topics_seen.wait_for(lambda _: watcher.topics["again"].partitions == 3)
        assert watcher.topics["again"].configs == {"a": "b"}


async def test_offset_commit_v0_offsets_are_kafkas_consumer_znodes(zk_connect):
    async with open_zookeeper_store(zk_connect, **FAST) as store:
        assert await store.get_consumer_offset("old-group", "t", 3) is None
        await store.set_consumer_offset("old-group", "t", 3, 42)
        data, _ = await store.get_raw("/consumers/old-group/offsets/t/3")
        assert data == b"42"  # what Kafka's ZooKeeper consumers wrote and read
        await store.set_consumer_offset("old-group", "t", 3, 43)
        assert await store.get_consumer_offset("old-group", "t", 3) == 43
