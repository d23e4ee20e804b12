"""A broker's membership of a ZooKeeper cluster: connect, register, run for controller,
ask the controller for ISR changes (AlterPartition), watch /feature, and leave
(controlled shutdown).

`ClusterMembership.run` owns, in its `cluster_membership` nursery, the controller election:
the broker tries for /controller whenever it is free; while it holds it, a
`Controller` runs (cluster/controller.py) with the store's watches posting its
events; losing /controller (or the session) cancels it, and the broker tries again.
A broker whose session expired re-registers (the store re-creates the ephemeral
/brokers/ids/N and tells us through `on_session_reestablished`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from kafka_compat.cluster.client import BrokerClient, BrokerClientError
from kafka_compat.cluster.controller import Controller, NotController
from kafka_compat.cluster.features import FEATURE_PATH, FeatureCache
from kafka_compat.cluster.metadata_cache import MetadataCache
from kafka_compat.cluster.store import StoreError
from kafka_compat.config import BrokerConfig
from kafka_compat.events import Signal
from kafka_compat.replica_manager import ReplicaManager
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

if TYPE_CHECKING:
    from kafka_compat.cluster.zk_store import ZooKeeperStore

log = logging.getLogger(__name__)

CONTROLLED_SHUTDOWN_VERSION = 3
# What a Kafka 3.9 leader sends (topic ids, NewIsrWithEpochs); by name for a topic
# whose id is not known.
ALTER_PARTITION_VERSION = 3
ALTER_PARTITION_BY_NAME_VERSION = 1
ALTER_PARTITION_TIMEOUT_S = 30


def cluster_store(config: BrokerConfig) -> ZooKeeperStore:
    """The ZooKeeper store for this broker's config (not yet running)."""
    from kafka_compat.cluster.zk_store import ZooKeeperStore

    session = config["zookeeper.session.timeout.ms"] / 1000
    connection = config["zookeeper.connection.timeout.ms"]
    return ZooKeeperStore(
        config["zookeeper.connect"],
        session_timeout=session,
        connection_timeout=None if connection is None else connection / 1000,
        default_replication_factor=config["default.replication.factor"],
    )


class ClusterMembership:
    """This broker in a ZooKeeper cluster: its registration, the controller it may
    become, its ISR writes, and its controlled shutdown."""

    def __init__(
        self,
        config: BrokerConfig,
        node_id: int,
        replica_manager: ReplicaManager,
        metadata_cache: MetadataCache,
    ):
        self.config = config
        self.node_id = node_id
        self.replica_manager = replica_manager
        self.metadata_cache = metadata_cache
        self.store: ZooKeeperStore | None = None  # set when its session is up
        self.controller: Controller | None = None
        self.features = FeatureCache()  # /feature, for ApiVersions

    @property
    def active_controller(self) -> Controller | None:
        """The controller, while this broker is it."""
        controller = self.controller
        return controller if controller is not None and controller.active else None

    # Every advertised listener as "NAME://host:port", and its protocols (broker.py
    # sets them before run); the registration's host:port is the inter-broker one.
    listener_endpoints: tuple[str, ...] = ()
    protocol_map: tuple[tuple[str, str], ...] = ()

    async def run(self, host: str, port: int, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Register this broker (advertised at host:port, its inter-broker listener) and
        run for controller, until cancelled."""
        store = self.store
        self.replica_manager.isr_updater = self._isr_updater
        controller_changed = Signal()
        session_changed = Signal()

        def dispatch(method: str):
            def forward(*_args) -> None:
                controller = self.active_controller
                if controller is not None:
                    getattr(controller, method)()

            return forward

        store.on_controller_change(lambda _id: controller_changed.fire())
        store.on_session_event(lambda _event: session_changed.fire())
        store.on_brokers_change(dispatch("on_brokers_changed"))
        store.on_topics_change(dispatch("on_topics_changed"))
        store.on_topics_change(lambda _names: self.metadata_cache.poke())
        store.on_topics_change(self.replica_manager.apply_topic_configs)
        store.on_deletions(dispatch("on_delete_topics_changed"))
        store.on_log_dir_events(dispatch("on_log_dir_event_notification"))
        async with trio.open_nursery() as cluster_membership:
            await store.register_broker(
                self.node_id,
                host,
                port,
                rack=self.config["broker.rack"],
                endpoints=self.listener_endpoints,
                protocol_map=self.protocol_map,
            )
            await store.watch_data(FEATURE_PATH, self._on_feature_change)
            cluster_membership.start_soon(
                self._run_for_controller, controller_changed, session_changed
            )
            task_status.started()

    async def _run_for_controller(self, controller_changed, session_changed) -> None:
        from kafka_compat.cluster.zk_client import SessionEvent

        store = self.store
        while True:
            if not store.registered:
                # A new session: stand for controller only once this broker is registered
                # again (as Kafka does), so that a controller it becomes counts it as live.
                with trio.move_on_after(1):
                    await session_changed.wait()
                continue
            try:
                election = await store.elect_controller(self.node_id)
            except StoreError as exc:
                log.warning("Controller election: %s", exc)
                with trio.move_on_after(1):
                    await session_changed.wait()
                continue
            if not election.won:
                if election.controller_id >= 0 and store.controller_id == -1:
                    # Our watch has not seen that controller yet: wait until it does.
                    with trio.move_on_after(0.5):
                        await controller_changed.wait()
                # Someone else is the controller: try again as soon as /controller goes.
                while store.controller_id not in (-1, self.node_id):
                    await controller_changed.wait()
                continue
            controller = Controller(self.config, self.node_id, store)
            self.controller = controller
            try:
                async with trio.open_nursery() as controllership:

                    async def lead(controller=controller, election=election) -> None:
                        await controller.run(election)
                        controllership.cancel_scope.cancel()  # fenced: a newer controller

                    controllership.start_soon(lead)

                    async def watch_loss(election=election, session=store.session_id) -> None:
                        # Lost when /controller names someone else (or nobody), or the
                        # session ended (its ephemeral /controller went with it).
                        while True:
                            await _first(controller_changed, session_changed)
                            if (
                                store.session_state is SessionEvent.EXPIRED
                                or store.session_id != session
                            ):
                                break
                            if store.controller_id == self.node_id:
                                continue
                            # The watch may be late with a /controller from before our
                            # election (its deletion): ask ZooKeeper what holds now.
                            try:
                                holder, epoch, _version = await store.read_controller()
                            except StoreError:
                                continue  # our writes are fenced; a session event follows
                            if (holder, epoch) != (self.node_id, election.epoch):
                                break
                        controllership.cancel_scope.cancel()

                    controllership.start_soon(watch_loss)
            finally:
                self.controller = None

    def _on_feature_change(self, data: bytes | None, version: int | None) -> None:
        try:
            self.features.update(data, version)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("Unreadable %s: %s", FEATURE_PATH, exc)

    async def _isr_updater(self, partition, new_isr: list[int]) -> bool:
        """The leader's ISR change, asked of the controller in an AlterPartition
        (KIP-497; Kafka's AlterPartitionManager), which writes ZooKeeper and tells
        every broker. True once accepted: the partition then takes the controller's
        partition epoch (the new /state version). Refused or unanswered: False; the
        change is asked again at the next follower fetch or ISR check, or a
        LeaderAndIsr brings the controller's state."""
        topic, index = partition.topic, partition.index
        topic_id = self.metadata_cache.topic_ids.get(topic)
        with_ids = topic_id is not None and any(topic_id)
        version = ALTER_PARTITION_VERSION if with_ids else ALTER_PARTITION_BY_NAME_VERSION
        registration = self.store.registration
        broker_epoch = -1 if registration is None else registration.epoch
        wanted = {(topic, index): (partition.leader_epoch, list(new_isr), 0, partition.zk_version)}
        controller = self.active_controller
        if controller is not None:
            answer = None
            # Bounded: a controller that resigns meanwhile never answers its queue.
            with trio.move_on_after(ALTER_PARTITION_TIMEOUT_S):
                try:
                    answer = await controller.alter_partition(
                        self.node_id, broker_epoch, wanted, version
                    )
                except NotController:
                    pass  # it resigned: the next ISR check asks the new controller
            if answer is None:
                return False
            error_code, results = answer
            error, state = results.get((topic, index), (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None))
            if state is not None:
                leader_epoch, isr, partition_epoch = state.leader_epoch, state.isr, state.version
        else:
            response = await self._send_alter_partition(
                version, broker_epoch, topic, topic_id, index, partition, new_isr
            )
            if response is None:
                return False
            error_code = response.error_code
            error, state = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None
            for t in response.topics:
                for p in t.partitions:
                    if p.partition_index == index:
                        error, state = p.error_code, p
            if state is not None:
                leader_epoch, isr = state.leader_epoch, state.isr
                partition_epoch = state.partition_epoch
        if error_code != ErrorCode.NONE or error != ErrorCode.NONE:
            log.info(
                "%s: ISR change to %s refused by the controller: %s",
                partition,
                new_isr,
                ErrorCode(error_code or error).name,
            )
            return False
        if leader_epoch != partition.leader_epoch:
            return False  # a LeaderAndIsr of another epoch is on its way
        partition.zk_version = partition_epoch
        return list(isr) == list(new_isr)

    async def _send_alter_partition(
        self, version, broker_epoch, topic, topic_id, index, partition, new_isr
    ):
        """An AlterPartition to the controller broker; its response, or None."""
        cache = self.metadata_cache
        endpoint = cache.brokers.get(cache.controller_id)
        if endpoint is None:
            log.info("%s: ISR change to %s waits for a controller", partition, new_isr)
            return None
        Request = messages.request_type(ApiKey.ALTER_PARTITION)
        data = Request.PartitionData(
            partition_index=index,
            leader_epoch=partition.leader_epoch,
            new_isr=list(new_isr),
            new_isr_with_epochs=[Request.BrokerState(broker_id=b) for b in new_isr],
            partition_epoch=partition.zk_version,
        )
        if version >= ALTER_PARTITION_VERSION:
            entry = Request.TopicData(topic_id=topic_id, partitions=[data])
        else:
            entry = Request.TopicData(topic_name=topic, partitions=[data])
        request = Request(broker_id=self.node_id, broker_epoch=broker_epoch, topics=[entry])
        try:
            async with BrokerClient(
                endpoint.host,
                endpoint.port,
                f"broker-{self.node_id}",
                connect_timeout=5,
                request_timeout=ALTER_PARTITION_TIMEOUT_S,
            ) as client:
                return await client.send(ApiKey.ALTER_PARTITION, version, request)
        except BrokerClientError as exc:
            log.info("%s: AlterPartition to the controller failed: %s", partition, exc)
            return None

    async def controlled_shutdown(self) -> bool:
        """Ask the controller to move leadership away from this broker, retrying up to
        controlled.shutdown.max.retries; True when nothing is left to move."""
        config = self.config
        retries = config["controlled.shutdown.max.retries"]
        backoff = config["controlled.shutdown.retry.backoff.ms"] / 1000
        Request = messages.request_type(ApiKey.CONTROLLED_SHUTDOWN)
        for attempt in range(retries + 1):
            if not set(self.metadata_cache.brokers) - {self.node_id}:
                return True  # the last broker standing: no one to hand leadership to
            controller = self.controller
            if controller is not None and controller.active:
                try:
                    remaining = await controller.controlled_shutdown(self.node_id)
                except NotController:
                    remaining = None  # it resigned meanwhile: retry with the new one
            else:
                endpoint = self.metadata_cache.brokers.get(self.metadata_cache.controller_id)
                if endpoint is None:
                    remaining = None
                else:
                    try:
                        async with BrokerClient(
                            endpoint.host,
                            endpoint.port,
                            f"broker-{self.node_id}",
                            connect_timeout=5,
                            request_timeout=30,
                        ) as client:
                            response = await client.send(
                                ApiKey.CONTROLLED_SHUTDOWN,
                                CONTROLLED_SHUTDOWN_VERSION,
                                Request(broker_id=self.node_id, broker_epoch=-1),
                            )
                    except BrokerClientError as exc:
                        log.info("Controlled shutdown: %s", exc)
                        response = None
                    if response is None or response.error_code != ErrorCode.NONE:
                        remaining = None
                    else:
                        remaining = [
                            (p.topic_name, p.partition_index) for p in response.remaining_partitions
                        ]
            if remaining == []:
                log.info("Controlled shutdown of broker %d succeeded", self.node_id)
                return True
            log.info(
                "Controlled shutdown attempt %d: %s",
                attempt + 1,
                "no controller answered" if remaining is None else f"{len(remaining)} left to move",
            )
            if attempt < retries:
                await trio.sleep(backoff)
        return False


async def _first(*signals: Signal) -> None:
    async with trio.open_nursery() as waiting:
        for signal in signals:

            async def wait(signal=signal) -> None:
                await signal.wait()
                waiting.cancel_scope.cancel()

            waiting.start_soon(wait)
