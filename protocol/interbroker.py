"""The ZooKeeper-era inter-broker messages, declared here because kafka-python ships
none of them: the controller sends LeaderAndIsr, StopReplica and UpdateMetadata to
brokers, and a broker sends ControlledShutdown and AlterPartition to the controller.

    4  LeaderAndIsr        v0-7   flexible 4+   v2 BrokerEpoch, by topic · v3 Adding/
                                                RemovingReplicas · v5 TopicId, Type ·
                                                v6 LeaderRecoveryState · v7 isKRaftController
    5  StopReplica         v0-4   flexible 2+   v1 BrokerEpoch, by topic · v3 per-partition
                                                LeaderEpoch and DeletePartition · v4 isKRaft…
    6  UpdateMetadata      v0-8   flexible 6+   v1 endpoints · v2 rack · v3 listener ·
                                                v4 offline replicas · v5 BrokerEpoch, by topic
                                                · v7 TopicId · v8 isKRaft…, tagged Type
    7  ControlledShutdown  v0-3   flexible 3+   v2 BrokerEpoch; v0 uses request header v0
   56  AlterPartition      v0-3   flexible 0+   v1 LeaderRecoveryState · v2 TopicId ·
                                                v3 NewIsrWithEpochs (KIP-497 ISR changes,
                                                a partition leader to the controller)

Every version Kafka 2.8-3.9 brokers speak, transcribed from Kafka's JSON specs
(`clients/src/main/resources/common/message/`, 3.9) into the dicts below, the same
shape, without the "about" texts. `protocol.messages` compiles them with every other
API, so `messages.request_type(4)` and friends work as for any API. The test
`tests/protocol/test_interbroker.py` checks each field against Kafka's own files.
"""

from __future__ import annotations

from protocol import schema

__all__ = ["SPECS", "parsed_specs", "raw_specs"]

_LEADER_AND_ISR_PARTITION_STATE = {
    "name": "LeaderAndIsrPartitionState",
    "versions": "0+",
    "fields": [
        {"name": "TopicName", "type": "string", "versions": "0-1", "ignorable": True},
        {"name": "PartitionIndex", "type": "int32", "versions": "0+"},
        {"name": "ControllerEpoch", "type": "int32", "versions": "0+"},
        {"name": "Leader", "type": "int32", "versions": "0+"},
        {"name": "LeaderEpoch", "type": "int32", "versions": "0+"},
        {"name": "Isr", "type": "[]int32", "versions": "0+"},
        # The partition's zkVersion (the version of its /state znode).
        {"name": "PartitionEpoch", "type": "int32", "versions": "0+"},
        {"name": "Replicas", "type": "[]int32", "versions": "0+"},
        {"name": "AddingReplicas", "type": "[]int32", "versions": "3+", "ignorable": True},
        {"name": "RemovingReplicas", "type": "[]int32", "versions": "3+", "ignorable": True},
        {
            "name": "IsNew",
            "type": "bool",
            "versions": "1+",
            "default": "false",
            "ignorable": True,
        },
        # 1 while recovering from an unclean leader election (KIP-704).
        {"name": "LeaderRecoveryState", "type": "int8", "versions": "6+", "default": "0"},
    ],
}

_UPDATE_METADATA_PARTITION_STATE = {
    "name": "UpdateMetadataPartitionState",
    "versions": "0+",
    "fields": [
        {"name": "TopicName", "type": "string", "versions": "0-4", "ignorable": True},
        {"name": "PartitionIndex", "type": "int32", "versions": "0+"},
        {"name": "ControllerEpoch", "type": "int32", "versions": "0+"},
        {"name": "Leader", "type": "int32", "versions": "0+"},
        {"name": "LeaderEpoch", "type": "int32", "versions": "0+"},
        {"name": "Isr", "type": "[]int32", "versions": "0+"},
        {"name": "ZkVersion", "type": "int32", "versions": "0+"},
        {"name": "Replicas", "type": "[]int32", "versions": "0+"},
        {"name": "OfflineReplicas", "type": "[]int32", "versions": "4+", "ignorable": True},
    ],
}

SPECS: dict[str, dict] = {
    "LeaderAndIsrRequest": {
        "apiKey": 4,
        "type": "request",
        "listeners": ["zkBroker"],
        "validVersions": "0-7",
        "flexibleVersions": "4+",
        "fields": [
            {"name": "ControllerId", "type": "int32", "versions": "0+"},
            {"name": "isKRaftController", "type": "bool", "versions": "7+", "default": "false"},
            {"name": "ControllerEpoch", "type": "int32", "versions": "0+"},
            {
                "name": "BrokerEpoch",
                "type": "int64",
                "versions": "2+",
                "ignorable": True,
                "default": "-1",
            },
            # Whether all topics are included (KRaft migration); 0 from a ZK controller.
            {"name": "Type", "type": "int8", "versions": "5+"},
            {
                "name": "UngroupedPartitionStates",
                "type": "[]LeaderAndIsrPartitionState",
                "versions": "0-1",
            },
            {
                "name": "TopicStates",
                "type": "[]LeaderAndIsrTopicState",
                "versions": "2+",
                "fields": [
                    {"name": "TopicName", "type": "string", "versions": "2+"},
                    {"name": "TopicId", "type": "uuid", "versions": "5+", "ignorable": True},
                    {
                        "name": "PartitionStates",
                        "type": "[]LeaderAndIsrPartitionState",
                        "versions": "2+",
                    },
                ],
            },
            {
                "name": "LiveLeaders",
                "type": "[]LeaderAndIsrLiveLeader",
                "versions": "0+",
                "fields": [
                    {"name": "BrokerId", "type": "int32", "versions": "0+"},
                    {"name": "HostName", "type": "string", "versions": "0+"},
                    {"name": "Port", "type": "int32", "versions": "0+"},
                ],
            },
        ],
        "commonStructs": [_LEADER_AND_ISR_PARTITION_STATE],
    },
    "LeaderAndIsrResponse": {
        "apiKey": 4,
        "type": "response",
        "validVersions": "0-7",
        "flexibleVersions": "4+",
        "fields": [
            {"name": "ErrorCode", "type": "int16", "versions": "0+"},
            {
                "name": "PartitionErrors",
                "type": "[]LeaderAndIsrPartitionError",
                "versions": "0-4",
            },
            {
                "name": "Topics",
                "type": "[]LeaderAndIsrTopicError",
                "versions": "5+",
                "fields": [
                    {"name": "TopicId", "type": "uuid", "versions": "5+"},
                    {
                        "name": "PartitionErrors",
                        "type": "[]LeaderAndIsrPartitionError",
                        "versions": "5+",
                    },
                ],
            },
        ],
        "commonStructs": [
            {
                "name": "LeaderAndIsrPartitionError",
                "versions": "0+",
                "fields": [
                    {"name": "TopicName", "type": "string", "versions": "0-4", "ignorable": True},
                    {"name": "PartitionIndex", "type": "int32", "versions": "0+"},
                    {"name": "ErrorCode", "type": "int16", "versions": "0+"},
                ],
            }
        ],
    },
    "StopReplicaRequest": {
        "apiKey": 5,
        "type": "request",
        "listeners": ["zkBroker"],
        "validVersions": "0-4",
        "flexibleVersions": "2+",
        "fields": [
            {"name": "ControllerId", "type": "int32", "versions": "0+"},
            {"name": "isKRaftController", "type": "bool", "versions": "4+", "default": "false"},
            {"name": "ControllerEpoch", "type": "int32", "versions": "0+"},
            {
                "name": "BrokerEpoch",
                "type": "int64",
                "versions": "1+",
                "default": "-1",
                "ignorable": True,
            },
            {"name": "DeletePartitions", "type": "bool", "versions": "0-2"},
            {
                "name": "UngroupedPartitions",
                "type": "[]StopReplicaPartitionV0",
                "versions": "0",
                "fields": [
                    {"name": "TopicName", "type": "string", "versions": "0"},
                    {"name": "PartitionIndex", "type": "int32", "versions": "0"},
                ],
            },
            {
                "name": "Topics",
                "type": "[]StopReplicaTopicV1",
                "versions": "1-2",
                "fields": [
                    {"name": "Name", "type": "string", "versions": "1-2"},
                    {"name": "PartitionIndexes", "type": "[]int32", "versions": "1-2"},
                ],
            },
            {
                "name": "TopicStates",
                "type": "[]StopReplicaTopicState",
                "versions": "3+",
                "fields": [
                    {"name": "TopicName", "type": "string", "versions": "3+"},
                    {
                        "name": "PartitionStates",
                        "type": "[]StopReplicaPartitionState",
                        "versions": "3+",
                        "fields": [
                            {"name": "PartitionIndex", "type": "int32", "versions": "3+"},
                            {
                                "name": "LeaderEpoch",
                                "type": "int32",
                                "versions": "3+",
                                "default": "-1",
                            },
                            {"name": "DeletePartition", "type": "bool", "versions": "3+"},
                        ],
                    },
                ],
            },
        ],
    },
    "StopReplicaResponse": {
        "apiKey": 5,
        "type": "response",
        "validVersions": "0-4",
        "flexibleVersions": "2+",
        "fields": [
            {"name": "ErrorCode", "type": "int16", "versions": "0+"},
            {
                "name": "PartitionErrors",
                "type": "[]StopReplicaPartitionError",
                "versions": "0+",
                "fields": [
                    {"name": "TopicName", "type": "string", "versions": "0+"},
                    {"name": "PartitionIndex", "type": "int32", "versions": "0+"},
                    {"name": "ErrorCode", "type": "int16", "versions": "0+"},
                ],
            },
        ],
    },
    "UpdateMetadataRequest": {
        "apiKey": 6,
        "type": "request",
        "listeners": ["zkBroker"],
        "validVersions": "0-8",
        "flexibleVersions": "6+",
        "fields": [
            {"name": "ControllerId", "type": "int32", "versions": "0+"},
            {"name": "isKRaftController", "type": "bool", "versions": "8+", "default": "false"},
            # Full snapshot (2), incremental (1) or unknown (0); KRaft migration only.
            {
                "name": "Type",
                "type": "int8",
                "versions": "8+",
                "default": 0,
                "tag": 0,
                "taggedVersions": "8+",
            },
            {"name": "ControllerEpoch", "type": "int32", "versions": "0+"},
            {
                "name": "BrokerEpoch",
                "type": "int64",
                "versions": "5+",
                "ignorable": True,
                "default": "-1",
            },
            {
                "name": "UngroupedPartitionStates",
                "type": "[]UpdateMetadataPartitionState",
                "versions": "0-4",
            },
            {
                "name": "TopicStates",
                "type": "[]UpdateMetadataTopicState",
                "versions": "5+",
                "fields": [
                    {"name": "TopicName", "type": "string", "versions": "5+"},
                    {"name": "TopicId", "type": "uuid", "versions": "7+", "ignorable": True},
                    {
                        "name": "PartitionStates",
                        "type": "[]UpdateMetadataPartitionState",
                        "versions": "5+",
                    },
                ],
            },
            {
                "name": "LiveBrokers",
                "type": "[]UpdateMetadataBroker",
                "versions": "0+",
                "fields": [
                    {"name": "Id", "type": "int32", "versions": "0+"},
                    # v0 allowed one host and port per broker, not a list of endpoints.
                    {"name": "V0Host", "type": "string", "versions": "0", "ignorable": True},
                    {"name": "V0Port", "type": "int32", "versions": "0", "ignorable": True},
                    {
                        "name": "Endpoints",
                        "type": "[]UpdateMetadataEndpoint",
                        "versions": "1+",
                        "ignorable": True,
                        "fields": [
                            {"name": "Port", "type": "int32", "versions": "1+"},
                            {"name": "Host", "type": "string", "versions": "1+"},
                            {
                                "name": "Listener",
                                "type": "string",
                                "versions": "3+",
                                "ignorable": True,
                            },
                            {"name": "SecurityProtocol", "type": "int16", "versions": "1+"},
                        ],
                    },
                    {
                        "name": "Rack",
                        "type": "string",
                        "versions": "2+",
                        "nullableVersions": "0+",
                        "ignorable": True,
                    },
                ],
            },
        ],
        "commonStructs": [_UPDATE_METADATA_PARTITION_STATE],
    },
    "UpdateMetadataResponse": {
        "apiKey": 6,
        "type": "response",
        "validVersions": "0-8",
        "flexibleVersions": "6+",
        "fields": [{"name": "ErrorCode", "type": "int16", "versions": "0+"}],
    },
    "ControlledShutdownRequest": {
        "apiKey": 7,
        "type": "request",
        "listeners": ["zkBroker", "controller"],
        "validVersions": "0-3",
        "flexibleVersions": "3+",
        "fields": [
            {"name": "BrokerId", "type": "int32", "versions": "0+"},
            {
                "name": "BrokerEpoch",
                "type": "int64",
                "versions": "2+",
                "default": "-1",
                "ignorable": True,
            },
        ],
    },
    "ControlledShutdownResponse": {
        "apiKey": 7,
        "type": "response",
        "validVersions": "0-3",
        "flexibleVersions": "3+",
        "fields": [
            {"name": "ErrorCode", "type": "int16", "versions": "0+"},
            {
                "name": "RemainingPartitions",
                "type": "[]RemainingPartition",
                "versions": "0+",
                "fields": [
                    {"name": "TopicName", "type": "string", "versions": "0+"},
                    {"name": "PartitionIndex", "type": "int32", "versions": "0+"},
                ],
            },
        ],
    },
    "AlterPartitionRequest": {
        "apiKey": 56,
        "type": "request",
        "listeners": ["zkBroker", "controller"],
        "validVersions": "0-3",
        "flexibleVersions": "0+",
        "fields": [
            {"name": "BrokerId", "type": "int32", "versions": "0+"},
            {"name": "BrokerEpoch", "type": "int64", "versions": "0+", "default": "-1"},
            {
                "name": "Topics",
                "type": "[]TopicData",
                "versions": "0+",
                "fields": [
                    {"name": "TopicName", "type": "string", "versions": "0-1", "ignorable": True},
                    {"name": "TopicId", "type": "uuid", "versions": "2+", "ignorable": True},
                    {
                        "name": "Partitions",
                        "type": "[]PartitionData",
                        "versions": "0+",
                        "fields": [
                            {"name": "PartitionIndex", "type": "int32", "versions": "0+"},
                            {"name": "LeaderEpoch", "type": "int32", "versions": "0+"},
                            {"name": "NewIsr", "type": "[]int32", "versions": "0-2"},
                            {
                                "name": "NewIsrWithEpochs",
                                "type": "[]BrokerState",
                                "versions": "3+",
                                "fields": [
                                    {"name": "BrokerId", "type": "int32", "versions": "3+"},
                                    {
                                        "name": "BrokerEpoch",
                                        "type": "int64",
                                        "versions": "3+",
                                        "default": "-1",
                                    },
                                ],
                            },
                            {
                                "name": "LeaderRecoveryState",
                                "type": "int8",
                                "versions": "1+",
                                "default": "0",
                            },
                            {"name": "PartitionEpoch", "type": "int32", "versions": "0+"},
                        ],
                    },
                ],
            },
        ],
    },
    "AlterPartitionResponse": {
        "apiKey": 56,
        "type": "response",
        "validVersions": "0-3",
        "flexibleVersions": "0+",
        "fields": [
            {"name": "ThrottleTimeMs", "type": "int32", "versions": "0+"},
            {"name": "ErrorCode", "type": "int16", "versions": "0+"},
            {
                "name": "Topics",
                "type": "[]TopicData",
                "versions": "0+",
                "fields": [
                    {"name": "TopicName", "type": "string", "versions": "0-1", "ignorable": True},
                    {"name": "TopicId", "type": "uuid", "versions": "2+", "ignorable": True},
                    {
                        "name": "Partitions",
                        "type": "[]PartitionData",
                        "versions": "0+",
                        "fields": [
                            {"name": "PartitionIndex", "type": "int32", "versions": "0+"},
                            {"name": "ErrorCode", "type": "int16", "versions": "0+"},
                            {"name": "LeaderId", "type": "int32", "versions": "0+"},
                            {"name": "LeaderEpoch", "type": "int32", "versions": "0+"},
                            {"name": "Isr", "type": "[]int32", "versions": "0+"},
                            {
                                "name": "LeaderRecoveryState",
                                "type": "int8",
                                "versions": "1+",
                                "default": "0",
                                "ignorable": True,
                            },
                            {"name": "PartitionEpoch", "type": "int32", "versions": "0+"},
                        ],
                    },
                ],
            },
        ],
    },
}


def raw_specs() -> dict[str, tuple[dict, str]]:
    """The declarations above as spec JSON, by message name: (data, source)."""
    return {name: ({"name": name, **spec}, f"{__name__}.{name}") for name, spec in SPECS.items()}


def parsed_specs() -> dict[str, schema.MessageSpec]:
    """The declarations above as parsed specs, by message name."""
    return {name: schema.parse_spec(data, source) for name, (data, source) in raw_specs().items()}
