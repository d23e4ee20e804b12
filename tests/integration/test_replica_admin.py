"""Leader elections and reassignments on a single node, where every partition's only
replica is this broker: nothing to elect, nowhere to move. (The cluster versions are
in tests/cluster/test_leader_election.py and tests/cluster/test_reassignment.py.)"""

from __future__ import annotations

from confluent_kafka import ElectionType, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaAdminClient
from kafka import TopicPartition as KTopicPartition
from kafka.errors import InvalidReplicationAssignmentError, NoReassignmentInProgressError

GUARD_S = 60


def test_a_single_node_needs_no_election(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("solo", 2, 1)])["solo"].result(GUARD_S)
    wanted = [TopicPartition("solo", 0), TopicPartition("solo", 1), TopicPartition("solo", 5)]
    for election in (ElectionType.PREFERRED, ElectionType.UNCLEAN):
        results = admin.elect_leaders(election, wanted).result(GUARD_S)
        codes = {tp.partition: error.code() for tp, error in results.items()}
        assert codes == {
            0: KafkaError.ELECTION_NOT_NEEDED,
            1: KafkaError.ELECTION_NOT_NEEDED,
            5: KafkaError.UNKNOWN_TOPIC_OR_PART,
        }


def test_a_single_node_has_nowhere_to_move_a_replica(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("solo", 1, 1)])["solo"].result(GUARD_S)
    reassigner = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    partition = KTopicPartition("solo", 0)
    node = broker.broker.node_id
    assert reassigner.alter_partition_reassignments({partition: [node]}) == {partition: None}
    assert reassigner.alter_partition_reassignments({partition: [node, node + 1]}) == {
        partition: InvalidReplicationAssignmentError
    }
    assert reassigner.alter_partition_reassignments({partition: None}) == {
        partition: NoReassignmentInProgressError
    }
    assert reassigner.list_partition_reassignments() == {}
    reassigner.close()
