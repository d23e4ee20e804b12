"""The controller: whichever broker holds /controller (Kafka's KafkaController, ZooKeeper era).

Written once against the cluster store (cluster/zk_store.py) and the broker RPCs;
who leads is decided by the pure functions of cluster/election.py (Kafka's
PartitionLeaderElectionAlgorithms), and what the controller holds of the cluster is
its context (cluster/controller_context.py). One task processes events one at a
time, in order (Kafka's ControllerEventManager):

- Startup (this broker just won /controller, with a new controller epoch): read
  brokers, topics and partition states; create the states of partitions that have
  none; elect leaders where the leader is gone; send every live broker LeaderAndIsr
  for its replicas and a full UpdateMetadata.
- BrokerChange (/brokers/ids changed): a broker that came (back) gets the metadata
  and LeaderAndIsr for its replicas, and partitions without a leader that it can
  lead get one; for a broker that went, every partition it led gets a new leader
  from the ISR (the first live ISR member in replica order; a live replica outside
  the ISR only with unclean.leader.election.enable, else the partition is offline:
  leader -1) and it leaves every ISR. Leader epochs are bumped, states written with
  a version check, LeaderAndIsr goes to the affected replicas and UpdateMetadata to
  every live broker.
- TopicChange (/brokers/topics): new topics and partitions get their states
  (leader: the first live replica, ISR: the live replicas).
- TopicDeletion (/admin/delete_topics): UpdateMetadata drops the partitions,
  StopReplica with delete goes to the replicas, then the znodes go.
- AlterPartition (KIP-497, a leader's ISR change; checks in cluster/alter_partition.py):
  accepted changes are written, sent in UpdateMetadata and may end a reassignment.
  (The pre-KIP-497 /isr_change_notification path is gone: no broker of ours writes
  there.)
- Features: /feature exists and is enabled once the controller starts; UpdateFeatures
  rewrites it (cluster/features.py).
- ControlledShutdown(broker): leadership of the broker's partitions moves to other
  ISR members, and it leaves their ISRs; the partitions it alone can lead are
  answered as remaining.
- AlterPartitionReassignments (KIP-455, as Kafka's ZooKeeper controller): the
  topic znode gets the target replicas plus the leaving ones, with adding_replicas
  and removing_replicas; the new replicas follow and catch up; once every target
  replica is in the ISR, leadership moves into the target if needed, the leaving
  replicas leave the ISR and get StopReplica with delete, and the znode holds the
  target alone. A new controller resumes reassignments from the znodes.
- ElectLeaders (the API, and the auto leader rebalance every
  leader.imbalance.check.interval.seconds): preferred elections move leadership
  back to each partition's first replica when it is live and in the ISR (the
  rebalance does it for a broker once more than leader.imbalance.per.broker.percentage
  of the partitions it should lead are led elsewhere); unclean ones give a partition
  without a live leader its first live replica.

Requests to brokers go through one queue and one sender task per broker (Kafka's
ControllerChannelManager: cluster/controller_channel.py), so a slow or dead broker
never holds up the events.
Losing /controller (session expiry, a newer controller) cancels the whole scope.
"""

from __future__ import annotations

import logging

import trio

from kafka_compat.cluster import controller_log_dirs
from kafka_compat.cluster.alter_partition import validate_alter_partition
from kafka_compat.cluster.controller_channel import ControllerChannelManager
from kafka_compat.cluster.controller_context import (
    ControllerContext,
    Reassignment,
    broker_endpoint,
)
from kafka_compat.cluster.election import (
    NO_LEADER,
    PREFERRED_ELECTION,
    can_lead,
    controlled_shutdown_election,
    leader_imbalance,
    live_isr,
    new_partition_election,
    offline_partition_election,
    preferred_replica_election,
    reassignment_election,
    reassignment_start_election,
)
from kafka_compat.cluster.features import enable_feature_versioning, update_feature_znode

# NotController and the election types live with the store and election code, so
# that single-node handlers can name them without importing the controller.
from kafka_compat.cluster.store import ControllerMoved, NotController, StoreError
from kafka_compat.cluster.zk_data import PartitionState as LeaderIsr
from kafka_compat.cluster.zk_data import TopicAssignment
from kafka_compat.config import BrokerConfig
from kafka_compat.events import Reply
from protocol.errors import ErrorCode

_RESIGNED = object()  # the answer to calls still queued when the controller stops

log = logging.getLogger(__name__)


class Controller:
    """Runs while this broker holds /controller; `run` returns when it loses it."""

    def __init__(self, config: BrokerConfig, node_id: int, store):
        self.config = config
        self.node_id = node_id
        self.store = store
        self.ctx = ControllerContext()
        self.channel = ControllerChannelManager(config, node_id, self.ctx)
        self.active = False
        self._send, self._events = trio.open_memory_channel(1000)

    # ---- lifetime ------------------------------------------------------------------

    async def run(self, election, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Be the controller (the store's Election) until cancelled, which is how
        membership.py stops us when /controller is lost, or until a fenced write
        finds a newer controller."""
        epoch = election.epoch
        self.ctx = ControllerContext(epoch=epoch, epoch_version=election.epoch_version)
        self.channel = ControllerChannelManager(self.config, self.node_id, self.ctx)
        self.channel.on_leader_and_isr_response = lambda broker_id, response: self.post(
            controller_log_dirs.leader_and_isr_response, self, broker_id, response
        )
        log.info("Broker %d is the controller (epoch %d)", self.node_id, epoch)
        try:
            async with trio.open_nursery() as controller_tasks:
                self.channel.start(controller_tasks)
                self.active = True
                await self._startup()
                if self.config["auto.leader.rebalance.enable"]:
                    controller_tasks.start_soon(self._check_leader_balance)
                task_status.started()
                async for event, args, done in self._events:
                    try:
                        result = await event(*args)
                    except ControllerMoved:
                        log.warning("Controller epoch %d is fenced: resigning", epoch)
                        if done is not None:
                            done(_RESIGNED)
                        controller_tasks.cancel_scope.cancel()
                        return
                    except StoreError as exc:
                        # ZooKeeper unreachable: no unsafe change was made; the next
                        # event (or the retry below) reads the state again.
                        log.warning("Controller event %s: %s", event.__name__, exc)
                        result = None
                        if done is None:
                            controller_tasks.start_soon(self._retry_later, event, args)
                    except Exception:
                        log.exception("Controller event %s failed", event.__name__)
                        result = None
                    if done is not None:
                        done(result)
        finally:
            self.active = False
            self.channel.close()
            self._answer_queued_calls()
            log.info("Broker %d is no longer the controller", self.node_id)

    def _answer_queued_calls(self) -> None:
        """Callers waiting on events that will never run get NOT_CONTROLLER."""
        while True:
            try:
                _event, _args, done = self._events.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                return
            if done is not None:
                done(_RESIGNED)

    async def _retry_later(self, event, args) -> None:
        await trio.sleep(1)
        self.post(event, *args)

    def post(self, event, *args) -> None:
        """Queue an event (from watches: they hop to the Trio thread first)."""
        try:
            self._send.send_nowait((event, args, None))
        except trio.WouldBlock:
            log.warning("Controller event queue full; dropping %s", event.__name__)

    async def call(self, event, *args):
        """Queue an event and wait for its result; NotController when this broker is
        not the active controller or resigns before the event runs."""
        if not self.active:
            raise NotController
        done: Reply = Reply()
        await self._send.send((event, args, done))
        result = await done.wait()
        if result is _RESIGNED:
            raise NotController
        return result

    # events the store's watches post
    def on_brokers_changed(self) -> None:
        self.post(self._broker_change)

    def on_topics_changed(self) -> None:
        self.post(self._topic_change)

    def on_delete_topics_changed(self) -> None:
        self.post(self._topic_deletion)

    def on_log_dir_event_notification(self) -> None:
        self.post(controller_log_dirs.log_dir_event, self)

    async def controlled_shutdown(self, broker_id: int) -> list[tuple[str, int]]:
        return await self.call(self._controlled_shutdown, broker_id)

    async def elect_leaders(
        self, election_type: int, partitions: list[tuple[str, int]] | None
    ) -> dict[tuple[str, int], tuple[ErrorCode, str | None]]:
        """ElectLeaders: (error, message) per partition; None asks for every one."""
        return await self.call(self._elect_leaders, election_type, partitions)

    async def alter_reassignments(
        self, wanted: dict[tuple[str, int], list[int] | None]
    ) -> dict[tuple[str, int], tuple[ErrorCode, str | None]]:
        """AlterPartitionReassignments: target replicas per partition (None cancels)."""
        return await self.call(self._alter_reassignments, wanted)

    async def alter_partition(
        self, broker_id: int, broker_epoch: int, wanted: dict, version: int
    ) -> tuple[int, dict[tuple[str, int], tuple[int, LeaderIsr | None]]]:
        """AlterPartition (KIP-497, cluster/alter_partition.py): `wanted` maps (topic,
        partition) to (leader epoch, new ISR, recovery state, partition epoch).
        Returns (top-level error, {partition: (error, new state)})."""
        return await self.call(self._alter_partition, broker_id, broker_epoch, wanted, version)

    async def update_features(
        self, updates: list[tuple[str, int, int]]
    ) -> dict[str, tuple[int, str | None]] | None:
        """UpdateFeatures: (error, message) per feature (FEATURE_UPDATE_FAILED for the
        valid ones when /feature could not be written); None if ZooKeeper failed."""
        return await self.call(self._update_features, updates)

    async def reassignments(self) -> dict[tuple[str, int], Reassignment]:
        """The reassignments in progress (ListPartitionReassignments). An event, so a
        new controller answers only once it has resumed its predecessor's."""
        return await self.call(self._list_reassignments)

    async def _list_reassignments(self) -> dict[tuple[str, int], Reassignment]:
        return dict(self.ctx.reassigning)

    async def _check_leader_balance(self) -> None:
        interval = self.config["leader.imbalance.check.interval.seconds"]
        while True:
            await trio.sleep(interval)
            self.post(self._rebalance_leaders)

    # ---- events ----------------------------------------------------------------------

    async def _startup(self) -> None:
        ctx = self.ctx
        store = self.store
        ctx.live = await store.live_brokers()
        for broker_id in ctx.live:
            self.channel.add_broker(broker_id)
        await self._read_topics()
        for topic in list(ctx.assignments):
            for index, state in (await store.get_partition_states(topic)).items():
                ctx.states[(topic, index)] = state
        ctx.deleting = set(await store.topics_marked_for_deletion())
        await self._enable_feature_versioning()
        created = await self._create_missing_states()
        changed = await self._elect_where_needed(set(ctx.live))
        self.channel.send_update_metadata(list(ctx.live))
        for broker_id in ctx.live:
            self.channel.send_leader_and_isr(broker_id, ctx.replicas_on(broker_id), set(created))
        log.info(
            "Controller started: brokers %s, %d topics, %d partitions (%d new, %d moved)",
            sorted(ctx.live),
            len(ctx.assignments),
            len(ctx.states),
            len(created),
            len(changed),
        )
        if ctx.deleting:
            self.post(self._topic_deletion)
        # Reassignments a previous controller started: resume them.
        for topic, assignment in self.store.assignments.items():
            for index in set(assignment.adding_replicas) | set(assignment.removing_replicas):
                replicas = assignment.partitions.get(index, [])
                adding = assignment.adding_replicas.get(index, [])
                removing = assignment.removing_replicas.get(index, [])
                ctx.reassigning[(topic, index)] = Reassignment(
                    [r for r in replicas if r not in removing],
                    [r for r in replicas if r not in adding],
                )
        for key in list(ctx.reassigning):
            await self._maybe_finish_reassignment(key)

    async def _alter_partition(self, broker_id, broker_epoch, wanted, version):
        ctx = self.ctx
        registration = ctx.live.get(broker_id)
        if registration is None or getattr(registration, "epoch", -1) != broker_epoch:
            return ErrorCode.STALE_BROKER_EPOCH, {}
        eligible = set(ctx.live) - ctx.shutting_down
        results: dict[tuple[str, int], tuple[int, LeaderIsr | None]] = {}
        writes: dict[str, dict[int, tuple[LeaderIsr, int]]] = {}
        for key, (leader_epoch, isr, recovery, partition_epoch) in wanted.items():
            current = ctx.states.get(key)
            error, state = validate_alter_partition(
                current, broker_id, leader_epoch, isr, recovery, partition_epoch, eligible, version
            )
            if error != ErrorCode.NONE or state is not None:
                results[key] = (error, state)
                continue
            new = LeaderIsr(broker_id, leader_epoch, list(isr), ctx.epoch, recovery)
            writes.setdefault(key[0], {})[key[1]] = (new, current.version)
        for topic, updates in writes.items():
            written = await self.store.update_partition_states(
                topic, updates, controller_epoch_version=ctx.epoch_version
            )
            for index, (new, _) in updates.items():
                if written.get(index) is None:
                    results[(topic, index)] = (ErrorCode.INVALID_UPDATE_VERSION, None)
                    continue
                new.version = written[index]
                ctx.states[(topic, index)] = new
                results[(topic, index)] = (ErrorCode.NONE, new)
                log.info("Controller: ISR of %s-%d is now %s", topic, index, new.isr)
        known = [key for key in wanted if key in ctx.states]
        if known:
            self.channel.send_update_metadata(list(ctx.live), only=known)
        for key, (error, _) in results.items():
            if error == ErrorCode.NONE and key in ctx.reassigning:
                await self._maybe_finish_reassignment(key)
        return ErrorCode.NONE, results

    async def _enable_feature_versioning(self) -> None:
        await enable_feature_versioning(self.store, self.ctx.epoch_version)

    async def _update_features(self, updates) -> dict[str, tuple[int, str | None]]:
        return await update_feature_znode(self.store, self.ctx.epoch_version, updates)

    async def _broker_change(self) -> None:
        ctx = self.ctx
        live = await self.store.live_brokers()
        came = [b for b in live if b not in ctx.live]
        went = [b for b in ctx.live if b not in live]
        # A broker that registered again (a new broker epoch) restarted meanwhile.
        came += [
            b
            for b in live
            if b in ctx.live
            and (
                getattr(live[b], "epoch", None) != getattr(ctx.live[b], "epoch", None)
                or broker_endpoint(live[b]) != broker_endpoint(ctx.live[b])
            )
        ]
        if not came and not went:
            return
        ctx.live = live
        ctx.shutting_down -= set(went)
        log.info("Controller: brokers came %s, went %s; live %s", came, went, sorted(live))
        for broker_id in went:
            self.channel.remove_broker(broker_id)
        for broker_id in came:
            self.channel.remove_broker(broker_id)
            self.channel.add_broker(broker_id)
        changed = await self._elect_where_needed(set(went) | set(came))
        self.channel.send_update_metadata(list(ctx.live))
        for broker_id in came:
            self.channel.send_leader_and_isr(broker_id, ctx.replicas_on(broker_id))
        self.channel.send_leader_and_isr_to_replicas(changed, skip=set(came))
        for key in list(ctx.reassigning):
            await self._maybe_finish_reassignment(key)

    async def _topic_change(self) -> None:
        ctx = self.ctx
        await self._read_topics()
        created = await self._create_missing_states()
        if created:
            self.channel.send_update_metadata(list(ctx.live))
            self.channel.send_leader_and_isr_to_replicas(created, new=set(created))

    async def _topic_deletion(self) -> None:
        ctx = self.ctx
        queued = set(await self.store.topics_marked_for_deletion())
        for topic in queued:
            parts = ctx.assignments.get(topic)
            log.info("Controller: deleting topic %s", topic)
            if parts:
                doomed = [(topic, index) for index in parts]
                self.channel.send_update_metadata(list(ctx.live), deleted=doomed)
                by_broker: dict[int, list[tuple[str, int]]] = {}
                for index, replicas in parts.items():
                    for replica in replicas:
                        by_broker.setdefault(replica, []).append((topic, index))
                for broker_id, tps in by_broker.items():
                    if broker_id in ctx.live:
                        self.channel.send_stop_replica(broker_id, tps, delete=True)
            for index in list(parts or ()):
                ctx.states.pop((topic, index), None)
                ctx.reassigning.pop((topic, index), None)
            ctx.assignments.pop(topic, None)
            ctx.topic_ids.pop(topic, None)
            await self.store.remove_topic(topic, controller_epoch_version=ctx.epoch_version)
        ctx.deleting = set()

    async def _controlled_shutdown(self, broker_id: int) -> list[tuple[str, int]]:
        ctx = self.ctx
        if broker_id not in ctx.live:
            return []
        ctx.shutting_down.add(broker_id)
        log.info("Controller: controlled shutdown of broker %d", broker_id)
        moved = []
        remaining = []
        for (topic, index), state in list(ctx.states.items()):
            choice = controlled_shutdown_election(
                broker_id,
                state.leader,
                ctx.replicas(topic, index),
                state.isr,
                ctx.live,
                ctx.shutting_down,
            )
            if choice is None:
                if state.leader == broker_id:
                    remaining.append((topic, index))  # no one else can lead it
                continue
            new = LeaderIsr(choice.leader, state.leader_epoch + 1, choice.isr, ctx.epoch)
            if await self._write_state(topic, index, new):
                moved.append((topic, index))
        if moved:
            self.channel.send_update_metadata(list(ctx.live), only=moved)
            self.channel.send_leader_and_isr_to_replicas(moved)
        return remaining

    async def _elect_leaders(
        self, election_type: int, partitions: list[tuple[str, int]] | None
    ) -> dict[tuple[str, int], tuple[ErrorCode, str | None]]:
        ctx = self.ctx
        results: dict[tuple[str, int], tuple[ErrorCode, str | None]] = {}
        elected = []
        for key in list(ctx.states) if partitions is None else partitions:
            state = ctx.states.get(key)
            if state is None or key[0] in ctx.deleting:
                results[key] = (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None)
                continue
            replicas = ctx.replicas(*key)
            if election_type == PREFERRED_ELECTION:
                leader = replicas[0]
                if state.leader == leader:
                    results[key] = (ErrorCode.ELECTION_NOT_NEEDED, None)
                    continue
                choice = preferred_replica_election(
                    replicas, state.isr, ctx.live, ctx.shutting_down
                )
                if choice is None:
                    results[key] = (
                        ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE,
                        f"preferred replica {leader} is not live and in sync",
                    )
                    continue
            else:
                if can_lead(state.leader, ctx.live, ctx.shutting_down):
                    results[key] = (ErrorCode.ELECTION_NOT_NEEDED, None)
                    continue
                choice = offline_partition_election(
                    replicas, state.isr, ctx.live, ctx.shutting_down, unclean_allowed=True
                )
                if choice is None:
                    results[key] = (ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE, None)
                    continue
            new = LeaderIsr(choice.leader, state.leader_epoch + 1, choice.isr, ctx.epoch)
            if await self._write_state(*key, new):
                results[key] = (ErrorCode.NONE, None)
                elected.append(key)
            else:
                results[key] = (ErrorCode.UNKNOWN_SERVER_ERROR, "the partition state changed")
        if elected:
            self.channel.send_update_metadata(list(ctx.live), only=elected)
            self.channel.send_leader_and_isr_to_replicas(elected)
        return results

    async def _rebalance_leaders(self) -> None:
        """Kafka's auto leader rebalance: a live broker that should lead (is the first
        replica of) more than leader.imbalance.per.broker.percentage partitions it
        does not lead gets them back, where it is in the ISR."""
        ctx = self.ctx
        allowed = self.config["leader.imbalance.per.broker.percentage"] / 100
        wanted = leader_imbalance(
            (
                (key, ctx.replicas(*key), state.leader, state.isr)
                for key, state in ctx.states.items()
                if key[0] not in ctx.deleting
            ),
            ctx.live,
            ctx.shutting_down,
            allowed,
        )
        if wanted:
            log.info("Controller: leader imbalance: electing preferred leaders of %s", wanted)
            await self._elect_leaders(PREFERRED_ELECTION, wanted)

    async def _alter_reassignments(
        self, wanted: dict[tuple[str, int], list[int] | None]
    ) -> dict[tuple[str, int], tuple[ErrorCode, str | None]]:
        ctx = self.ctx
        results: dict[tuple[str, int], tuple[ErrorCode, str | None]] = {}
        started: dict[tuple[str, int], tuple[Reassignment, list[int]]] = {}
        for key, target in wanted.items():
            if key not in ctx.states or key[0] in ctx.deleting:
                results[key] = (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None)
                continue
            running = ctx.reassigning.get(key)
            original = running.original if running else ctx.replicas(*key)
            if target is None:
                if running is None:
                    results[key] = (ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, None)
                    continue
                target = original  # cancelled: back to the replicas it had
            elif not target or len(set(target)) != len(target):
                results[key] = (
                    ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                    "the replicas must be distinct broker ids",
                )
                continue
            elif any(r not in ctx.live for r in target):
                missing = [r for r in target if r not in ctx.live]
                results[key] = (
                    ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                    f"brokers {missing} are not live",
                )
                continue
            # Replicas added by a reassignment this one replaces, and not wanted now.
            dropped = [r for r in ctx.replicas(*key) if r not in target and r not in original]
            started[key] = (Reassignment(list(target), list(original)), dropped)
            results[key] = (ErrorCode.NONE, None)
        for key, (reassignment, _dropped) in started.items():
            ctx.reassigning[key] = reassignment
        for topic in {key[0] for key in started}:
            if not await self._write_assignment(topic):
                for key in [k for k in started if k[0] == topic]:
                    ctx.reassigning.pop(key, None)
                    del started[key]
                    results[key] = (ErrorCode.UNKNOWN_SERVER_ERROR, "the topic changed meanwhile")
        for key, (reassignment, dropped) in started.items():
            log.info(
                "Controller: reassigning %s-%d from %s to %s",
                *key,
                reassignment.original,
                reassignment.target,
            )
            # A new leader epoch tells every replica (the new ones too) the replica set.
            state = ctx.states[key]
            choice = reassignment_start_election(
                reassignment.target, state.leader, state.isr, dropped
            )
            await self._write_state(
                *key, LeaderIsr(choice.leader, state.leader_epoch + 1, choice.isr, ctx.epoch)
            )
            for broker_id in dropped:
                if broker_id in ctx.live:
                    self.channel.send_stop_replica(broker_id, [key], delete=True)
        if started:
            self.channel.send_update_metadata(list(ctx.live), only=list(started))
            self.channel.send_leader_and_isr_to_replicas(list(started))
        for key in started:
            await self._maybe_finish_reassignment(key)
        return results

    async def _maybe_finish_reassignment(self, key: tuple[str, int]) -> None:
        """Once every target replica is in the ISR: leadership into the target, the
        leaving replicas out of the ISR and deleted, the znode at the target."""
        ctx = self.ctx
        reassignment = ctx.reassigning.get(key)
        state = ctx.states.get(key)
        if reassignment is None or state is None:
            return
        choice = reassignment_election(
            reassignment.target, state.leader, state.isr, ctx.live, ctx.shutting_down
        )
        if choice is None:
            # A target replica is not in sync yet (an ISR change retries), or no target
            # replica can lead yet (a broker change retries).
            return
        if not await self._write_state(
            *key, LeaderIsr(choice.leader, state.leader_epoch + 1, choice.isr, ctx.epoch)
        ):
            return
        del ctx.reassigning[key]
        ctx.assignments[key[0]][key[1]] = list(reassignment.target)
        if not await self._write_assignment(key[0]):
            log.warning("Controller: could not record the end of the reassignment of %s-%d", *key)
        log.info("Controller: %s-%d reassigned to %s", *key, reassignment.target)
        self.channel.send_update_metadata(list(ctx.live), only=[key])
        self.channel.send_leader_and_isr_to_replicas([key])
        for broker_id in reassignment.removing:
            if broker_id in ctx.live:
                self.channel.send_stop_replica(broker_id, [key], delete=True)

    async def _write_assignment(self, topic: str) -> bool:
        """Write /brokers/topics/<topic> from what the controller holds: each
        partition's replicas, and adding/removing replicas of those being reassigned."""
        ctx = self.ctx
        for _ in range(5):
            current = await self.store.get_topic_assignment(topic)
            if current is None:
                return False
            partitions = dict(current.partitions)
            adding, removing = {}, {}
            for index in partitions:
                reassignment = ctx.reassigning.get((topic, index))
                if reassignment is not None:
                    partitions[index] = reassignment.replicas
                    if reassignment.adding:
                        adding[index] = reassignment.adding
                    if reassignment.removing:
                        removing[index] = reassignment.removing
                elif index in ctx.assignments.get(topic, {}):
                    partitions[index] = ctx.assignments[topic][index]
            assignment = TopicAssignment(current.topic_id, partitions, adding, removing)
            if await self.store.set_topic_assignment(topic, assignment, current.version):
                ctx.assignments[topic] = {i: list(r) for i, r in partitions.items()}
                return True
        return False

    # ---- state changes ------------------------------------------------------------

    async def _read_topics(self) -> None:
        ctx = self.ctx
        topics = dict(self.store.assignments)  # the store's cache, kept by its watches
        for name, assignment in topics.items():
            ctx.assignments[name] = {int(p): list(r) for p, r in assignment.partitions.items()}
            ctx.topic_ids[name] = assignment.topic_id or bytes(16)
        for name in list(ctx.assignments):
            if name not in topics:
                del ctx.assignments[name]
                ctx.topic_ids.pop(name, None)
                for key in [k for k in ctx.states if k[0] == name]:
                    del ctx.states[key]

    async def _create_missing_states(self) -> list[tuple[str, int]]:
        ctx = self.ctx
        created = []
        for topic, index in list(ctx.partitions()):
            if (topic, index) in ctx.states or topic in ctx.deleting:
                continue
            found = await self.store.get_partition_state(topic, index)
            if found is None:
                choice = new_partition_election(ctx.replicas(topic, index), ctx.live)
                state = LeaderIsr(choice.leader, 0, choice.isr, ctx.epoch)
                versions = await self.store.create_partition_states(
                    topic, {index: state}, controller_epoch_version=ctx.epoch_version
                )
                if versions.get(index) is None:  # someone else (an older controller) did
                    found = await self.store.get_partition_state(topic, index)
                else:
                    state.version = versions[index]
                    found = state
            if found is not None:
                ctx.states[(topic, index)] = found
                created.append((topic, index))
        return created

    def _unclean_allowed(self, topic: str) -> bool:
        meta = self.store.topics.get(topic)
        overrides = meta.configs if meta is not None else {}
        value = overrides.get("unclean.leader.election.enable")
        if value is None:
            return self.config["unclean.leader.election.enable"]
        return value.strip().lower() == "true"

    async def _elect_where_needed(self, touched: set[int]) -> list[tuple[str, int]]:
        """Partitions whose leader is not live get one; dead replicas leave ISRs."""
        ctx = self.ctx
        changed = []
        for (topic, index), state in list(ctx.states.items()):
            if topic in ctx.deleting:
                continue
            if can_lead(state.leader, ctx.live, ctx.shutting_down):
                isr = live_isr(state.isr, ctx.live)
                if isr == state.isr:
                    continue
                # A follower died: it leaves the ISR (never below the leader itself).
                new = LeaderIsr(state.leader, state.leader_epoch + 1, isr, ctx.epoch)
            else:
                choice = offline_partition_election(
                    ctx.replicas(topic, index),
                    state.isr,
                    ctx.live,
                    ctx.shutting_down,
                    unclean_allowed=self._unclean_allowed(topic),
                )
                if choice is not None:
                    if choice.unclean:
                        log.warning(
                            "Controller: unclean leader election for %s-%d: %d (ISR was %s)",
                            topic,
                            index,
                            choice.leader,
                            state.isr,
                        )
                    new = LeaderIsr(choice.leader, state.leader_epoch + 1, choice.isr, ctx.epoch)
                elif state.leader == NO_LEADER:
                    continue
                else:
                    # Offline: no leader; the ISR keeps the last member so that only it
                    # can lead again (clean election), as Kafka does.
                    log.warning(
                        "Controller: %s-%d has no live in-sync replica (ISR %s): offline",
                        topic,
                        index,
                        state.isr,
                    )
                    new = LeaderIsr(NO_LEADER, state.leader_epoch + 1, state.isr, ctx.epoch)
            if await self._write_state(topic, index, new):
                changed.append((topic, index))
        return changed

    async def _write_state(self, topic: str, index: int, new: LeaderIsr) -> bool:
        """Write with a version check; on a conflict (a leader changed the ISR), re-read
        and try again from the fresh state if the change still makes sense."""
        ctx = self.ctx
        current = ctx.states[(topic, index)]
        for _ in range(5):
            version = await self.store.update_partition_state(
                topic, index, new, current.version, controller_epoch_version=ctx.epoch_version
            )
            if version is not None:
                new.version = version
                ctx.states[(topic, index)] = new
                log.info(
                    "Controller: %s-%d leader %d epoch %d ISR %s",
                    topic,
                    index,
                    new.leader,
                    new.leader_epoch,
                    new.isr,
                )
                return True
            fresh = await self.store.get_partition_state(topic, index)
            if fresh is None:
                return False
            decided_from, current = current, fresh
            ctx.states[(topic, index)] = fresh
            new.leader_epoch = max(new.leader_epoch, fresh.leader_epoch + 1)
            if new.leader == fresh.leader:
                new.isr = [r for r in fresh.isr if r in ctx.live]
                if new.leader not in new.isr and new.leader != NO_LEADER:
                    new.isr.insert(0, new.leader)
            elif new.leader == NO_LEADER or new.leader in decided_from.isr:
                # The leader changed the ISR meanwhile: never put back a replica it
                # removed, and elect only a replica that is still in sync.
                new.isr = [r for r in new.isr if r in fresh.isr]
                if new.leader != NO_LEADER and new.leader not in new.isr:
                    log.warning(
                        "Controller: %d left the ISR of %s-%d meanwhile: not electing it",
                        new.leader,
                        topic,
                        index,
                    )
                    return False
        log.warning("Controller: could not update the state of %s-%d", topic, index)
        return False
