"""ElectLeaders on a single node: every partition's only replica leads already.
(Elections that move leadership are in tests/cluster/test_leader_election.py.)"""

from __future__ import annotations

from confluent_kafka import ElectionType, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

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
