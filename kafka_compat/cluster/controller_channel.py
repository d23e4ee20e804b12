"""The controller's channel to the brokers (Kafka's ControllerChannelManager).

Builds LeaderAndIsr, UpdateMetadata and StopReplica requests from what the controller
holds (cluster/controller_context.py) and sends them over BrokerClient. Requests to
brokers go through one queue and one sender task per live broker, in order, so a
slow or dead broker never holds up the controller's events: a request is retried
until the broker answers or is declared dead (its sender is then stopped).

The sender tasks live in the controller's nursery (`start`); a sender that cannot be
started because that nursery is gone is an error, never a request silently dropped.
Requests are sent as they are built, in the order the controller asks for them
(no per-event batching as Kafka's ControllerBrokerRequestBatch does).
"""

from __future__ import annotations

import logging

import trio

from kafka_compat.cluster.client import BrokerClient, BrokerClientError
from kafka_compat.cluster.controller_context import ControllerContext, broker_endpoint
from kafka_compat.config import BrokerConfig
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

log = logging.getLogger(__name__)

LEADER_AND_ISR_VERSION = 5
STOP_REPLICA_VERSION = 3
UPDATE_METADATA_VERSION = 7
LEADER_DURING_DELETE = -2

LeaderAndIsrRequest = messages.request_type(ApiKey.LEADER_AND_ISR)
UpdateMetadataRequest = messages.request_type(ApiKey.UPDATE_METADATA)
StopReplicaRequest = messages.request_type(ApiKey.STOP_REPLICA)


class ControllerChannelManager:
    """The controller's senders, one per live broker, and the requests it sends them."""

    def __init__(self, config: BrokerConfig, controller_id: int, ctx: ControllerContext):
        self.config = config
        self.controller_id = controller_id
        self.ctx = ctx
        self._senders: dict[int, _BrokerSender] = {}
        self._nursery: trio.Nursery | None = None
        # on_leader_and_isr_response(broker_id, response): each LeaderAndIsr answer
        # (the controller tracks replicas in failed log dirs from them).
        self.on_leader_and_isr_response = None

    # ---- lifetime ------------------------------------------------------------------

    def start(self, nursery: trio.Nursery) -> None:
        """Run the senders in `nursery` (the controller's) from now on."""
        self._nursery = nursery

    def close(self) -> None:
        """The controller's nursery is gone: forget the senders (they went with it)."""
        self._nursery = None
        self._senders.clear()

    def add_broker(self, broker_id: int) -> None:
        """Start the sender to a live broker (unless it has one)."""
        self._sender(broker_id)

    def remove_broker(self, broker_id: int) -> None:
        """Stop the sender to a broker, dropping what it had not sent."""
        sender = self._senders.pop(broker_id, None)
        if sender is not None:
            sender.stop()

    # ---- requests ------------------------------------------------------------------

    def send_leader_and_isr_to_replicas(
        self, partitions, skip: set[int] = frozenset(), new=frozenset()
    ) -> None:
        """LeaderAndIsr for `partitions` to each of their live replicas (but `skip`);
        `new`: the partitions just created (IsNew)."""
        by_broker: dict[int, list[tuple[str, int]]] = {}
        for topic, index in partitions:
            for replica in self.ctx.replicas(topic, index):
                if replica in self.ctx.live and replica not in skip:
                    by_broker.setdefault(replica, []).append((topic, index))
        for broker_id, tps in by_broker.items():
            self.send_leader_and_isr(broker_id, tps, new)

    def send_leader_and_isr(self, broker_id: int, partitions, new=frozenset()) -> None:
        """IsNew for the partitions in `new` (just created: with a log dir offline, a
        broker creates only their logs, as Kafka)."""
        ctx = self.ctx
        if not partitions:
            return
        by_topic: dict[str, list] = {}
        leaders = set()
        for topic, index in partitions:
            state = ctx.states[(topic, index)]
            leaders.add(state.leader)
            by_topic.setdefault(topic, []).append(
                LeaderAndIsrRequest.LeaderAndIsrPartitionState(
                    partition_index=index,
                    controller_epoch=state.controller_epoch,
                    leader=state.leader,
                    leader_epoch=state.leader_epoch,
                    isr=list(state.isr),
                    partition_epoch=state.version,
                    replicas=ctx.replicas(topic, index),
                    adding_replicas=[],
                    removing_replicas=[],
                    is_new=(topic, index) in new,
                )
            )
        request = LeaderAndIsrRequest(
            controller_id=self.controller_id,
            controller_epoch=ctx.epoch,
            broker_epoch=-1,
            type=0,
            topic_states=[
                LeaderAndIsrRequest.LeaderAndIsrTopicState(
                    topic_name=topic,
                    topic_id=ctx.topic_ids.get(topic, bytes(16)),
                    partition_states=states,
                )
                for topic, states in by_topic.items()
            ],
            live_leaders=[
                LeaderAndIsrRequest.LeaderAndIsrLiveLeader(
                    broker_id=b,
                    host_name=broker_endpoint(ctx.live[b])[0],
                    port=broker_endpoint(ctx.live[b])[1],
                )
                for b in leaders
                if b in ctx.live
            ],
        )
        self._enqueue(broker_id, ApiKey.LEADER_AND_ISR, LEADER_AND_ISR_VERSION, request)

    def send_update_metadata(self, brokers, only=None, deleted=()) -> None:
        ctx = self.ctx
        Req = UpdateMetadataRequest
        by_topic: dict[str, list] = {}
        keys = ctx.states.keys() if only is None else only
        for topic, index in keys:
            state = ctx.states.get((topic, index))
            if state is None:
                continue
            replicas = ctx.replicas(topic, index)
            by_topic.setdefault(topic, []).append(
                Req.UpdateMetadataPartitionState(
                    partition_index=index,
                    controller_epoch=state.controller_epoch,
                    leader=state.leader,
                    leader_epoch=state.leader_epoch,
                    isr=list(state.isr),
                    zk_version=state.version,
                    replicas=replicas,
                    offline_replicas=[r for r in replicas if r not in ctx.live],
                )
            )
        for topic, index in deleted:
            by_topic.setdefault(topic, []).append(
                Req.UpdateMetadataPartitionState(
                    partition_index=index,
                    controller_epoch=ctx.epoch,
                    leader=LEADER_DURING_DELETE,
                    leader_epoch=0,
                    isr=[],
                    zk_version=0,
                    replicas=[],
                    offline_replicas=[],
                )
            )
        live_brokers = []
        for broker_id, endpoint in ctx.live.items():
            host, port, rack = broker_endpoint(endpoint)
            live_brokers.append(
                Req.UpdateMetadataBroker(
                    id=broker_id, endpoints=_endpoints(endpoint, host, port), rack=rack
                )
            )
        request = Req(
            controller_id=self.controller_id,
            controller_epoch=ctx.epoch,
            broker_epoch=-1,
            topic_states=[
                Req.UpdateMetadataTopicState(
                    topic_name=topic,
                    topic_id=ctx.topic_ids.get(topic, bytes(16)),
                    partition_states=states,
                )
                for topic, states in by_topic.items()
            ],
            live_brokers=live_brokers,
        )
        for broker_id in brokers:
            self._enqueue(broker_id, ApiKey.UPDATE_METADATA, UPDATE_METADATA_VERSION, request)

    def send_stop_replica(self, broker_id: int, partitions, delete: bool) -> None:
        by_topic: dict[str, list] = {}
        for topic, index in partitions:
            by_topic.setdefault(topic, []).append(
                StopReplicaRequest.StopReplicaPartitionState(
                    partition_index=index, leader_epoch=-2, delete_partition=delete
                )
            )
        request = StopReplicaRequest(
            controller_id=self.controller_id,
            controller_epoch=self.ctx.epoch,
            broker_epoch=-1,
            topic_states=[
                StopReplicaRequest.StopReplicaTopicState(topic_name=t, partition_states=p)
                for t, p in by_topic.items()
            ],
        )
        self._enqueue(broker_id, ApiKey.STOP_REPLICA, STOP_REPLICA_VERSION, request)

    # ---- senders -------------------------------------------------------------------

    def _sender(self, broker_id: int) -> _BrokerSender:
        sender = self._senders.get(broker_id)
        if sender is None:
            host, port, _ = broker_endpoint(self.ctx.live[broker_id])
            if self._nursery is None:
                raise RuntimeError(
                    f"The controller's channel is not running: no sender to broker {broker_id}"
                )
            sender = _BrokerSender(self.config, self.controller_id, broker_id, host, port)
            sender.on_leader_and_isr_response = self.on_leader_and_isr_response
            self._nursery.start_soon(sender.run)
            self._senders[broker_id] = sender
        return sender

    def _enqueue(self, broker_id: int, api_key: int, version: int, request) -> None:
        if broker_id not in self.ctx.live:
            return
        self._sender(broker_id).enqueue(api_key, version, request)


class _BrokerSender:
    """The controller's queue of requests to one broker, sent in order."""

    def __init__(
        self, config: BrokerConfig, controller_id: int, broker_id: int, host: str, port: int
    ):
        self.config = config
        self.controller_id = controller_id
        self.broker_id = broker_id
        self.host = host
        self.port = port
        self._send, self._receive = trio.open_memory_channel(float("inf"))
        self._cancel = trio.CancelScope()
        self.on_leader_and_isr_response = None

    def enqueue(self, api_key: int, version: int, request) -> None:
        self._send.send_nowait((api_key, version, request))

    def stop(self) -> None:
        self._cancel.cancel()

    async def run(self) -> None:
        timeout = self.config["controller.socket.timeout.ms"] / 1000
        with self._cancel:
            async with BrokerClient(
                self.host,
                self.port,
                f"controller-{self.controller_id}",
                connect_timeout=timeout,
                request_timeout=timeout,
            ) as client:
                async for api_key, version, request in self._receive:
                    while True:
                        try:
                            response = await client.send(api_key, version, request)
                        except BrokerClientError as exc:
                            # Until it answers or the broker is declared dead (its
                            # ZooKeeper session ends and this sender is stopped).
                            log.info("Controller -> broker %d: %s", self.broker_id, exc)
                            await trio.sleep(0.5)
                            continue
                        error = getattr(response, "error_code", ErrorCode.NONE)
                        if error:
                            log.warning(
                                "Broker %d answered %s with %s",
                                self.broker_id,
                                messages.API_NAMES.get(api_key),
                                ErrorCode(error).name,
                            )
                        callback = self.on_leader_and_isr_response
                        if api_key == ApiKey.LEADER_AND_ISR and callback is not None:
                            callback(self.broker_id, response)
                        break


# Kafka's SecurityProtocol ids, as UpdateMetadata carries them.
_PROTOCOL_IDS = {"PLAINTEXT": 0, "SSL": 1, "SASL_PLAINTEXT": 2, "SASL_SSL": 3}


def _endpoints(registration, host: str, port: int) -> list:
    """Every listener of a broker's registration (Kafka's UpdateMetadata v3+)."""
    Endpoint = UpdateMetadataRequest.UpdateMetadataEndpoint
    listed = getattr(registration, "endpoints", ())
    if not listed:
        return [Endpoint(port=port, host=host, listener="PLAINTEXT", security_protocol=0)]
    protocols = registration.listener_protocols()
    found = []
    for entry in listed:
        name, _, address = entry.partition("://")
        e_host, _, e_port = address.rpartition(":")
        found.append(
            Endpoint(
                port=int(e_port),
                host=e_host,
                listener=name,
                security_protocol=_PROTOCOL_IDS.get(protocols.get(name, name), 0),
            )
        )
    return found
