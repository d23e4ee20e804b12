"""The controller's side of failed log dirs (JBOD), as Kafka's ZooKeeper controller:

- LogDirEventNotification: a broker whose log dir failed writes
  /log_dir_event_notification/log_dir_event_<seq> ({"broker": id, "event": 1}); the
  controller sends that broker LeaderAndIsr for every replica it holds, and deletes
  the notifications.
- LeaderAndIsr responses: a partition answered KAFKA_STORAGE_ERROR is a replica in an
  offline dir (Kafka's replicasOnOfflineDirs); NONE brings it back. A replica newly
  offline leaves the ISR and, where it led, the first other live ISR member in
  assignment order takes over (no one: the partition has no leader, as Kafka's
  OfflinePartition without unclean election); the new states go to ZooKeeper, then
  UpdateMetadata to every live broker and LeaderAndIsr to the replicas.

Functions of the controller (cluster/controller.py), run as its events.
"""

from __future__ import annotations

import logging

from kafka_compat.cluster.election import NO_LEADER, controlled_shutdown_election
from kafka_compat.cluster.zk_data import PartitionState as LeaderIsr
from protocol.errors import ErrorCode

log = logging.getLogger(__name__)


async def log_dir_event(controller) -> None:
    """/log_dir_event_notification changed: ask each broker named which replicas it
    still holds (their LeaderAndIsr answers come back as `leader_and_isr_response`)."""
    ctx = controller.ctx
    notes = await controller.store.read_log_dir_events()
    try:
        for broker_id in sorted(set(notes.values())):
            log.info("Controller: log dir failure on broker %d", broker_id)
            if broker_id in ctx.live:
                controller.channel.send_leader_and_isr(broker_id, ctx.replicas_on(broker_id))
    finally:
        await controller.store.delete_log_dir_events(notes)


async def leader_and_isr_response(controller, broker_id: int, response) -> None:
    """Track the replicas in offline dirs from a broker's LeaderAndIsr answer."""
    ctx = controller.ctx
    if response.error_code:
        return
    names = {topic_id: name for name, topic_id in ctx.topic_ids.items()}
    offline, online = set(), set()
    for topic in getattr(response, "topics", None) or ():
        name = names.get(topic.topic_id)
        if name is None:
            continue
        for partition in topic.partition_errors:
            key = (name, partition.partition_index)
            if partition.error_code == ErrorCode.KAFKA_STORAGE_ERROR:
                offline.add(key)
            elif partition.error_code == ErrorCode.NONE:
                online.add(key)
    for partition in getattr(response, "partition_errors", None) or ():  # before v5
        key = (partition.topic_name, partition.partition_index)
        if partition.error_code == ErrorCode.KAFKA_STORAGE_ERROR:
            offline.add(key)
        elif partition.error_code == ErrorCode.NONE:
            online.add(key)
    previous = ctx.offline_replicas.get(broker_id, set())
    current = (previous - online) | offline
    if current:
        ctx.offline_replicas[broker_id] = current
    else:
        ctx.offline_replicas.pop(broker_id, None)
    new = current - previous
    if new:
        log.info("Controller: replicas %s on broker %d are offline", sorted(new), broker_id)
    # Also those it was made leader of again (an election that does not know about
    # offline dirs): leadership leaves them once more.
    new |= {key for key in offline if getattr(ctx.states.get(key), "leader", None) == broker_id}
    if new:
        await replicas_offline(controller, broker_id, sorted(new))


async def replicas_offline(controller, broker_id: int, keys) -> None:
    ctx = controller.ctx
    changed = []
    for key in keys:
        state = ctx.states.get(key)
        if state is None or key[0] in ctx.deleting:
            continue
        choice = controlled_shutdown_election(
            broker_id, state.leader, ctx.replicas(*key), state.isr, ctx.live, ctx.shutting_down
        )
        if choice is not None:
            new = LeaderIsr(choice.leader, state.leader_epoch + 1, choice.isr, ctx.epoch)
        elif state.leader == broker_id:
            new = LeaderIsr(NO_LEADER, state.leader_epoch + 1, list(state.isr), ctx.epoch)
        else:
            continue
        if await controller._write_state(*key, new):
            changed.append(key)
    if changed:
        controller.channel.send_update_metadata(list(ctx.live), only=changed)
        controller.channel.send_leader_and_isr_to_replicas(changed)
