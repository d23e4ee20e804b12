"""The KIP-848 consumer group APIs, declared here because kafka-python ships neither:

    68  ConsumerGroupHeartbeat  v0-1  flexible 0+  v1 SubscribedTopicRegex (Kafka 4.0)
    69  ConsumerGroupDescribe   v0    flexible 0+

Transcribed from Kafka's JSON specs (`clients/src/main/resources/common/message/`:
3.9 for v0, 4.0 for ConsumerGroupHeartbeat v1, which only adds SubscribedTopicRegex)
into the dicts below, the same shape, without the "about" texts. `protocol.messages`
compiles them with every other API. tests/protocol/test_kip848_specs.py checks them
against Kafka 3.9's files.
"""

from __future__ import annotations

from protocol import schema

__all__ = ["SPECS", "parsed_specs", "raw_specs"]

SPECS: dict[str, dict] = {
    "ConsumerGroupHeartbeatRequest": {
        "apiKey": 68,
        "type": "request",
        "validVersions": "0",
        "flexibleVersions": "0+",
        "fields": [
            {"name": "GroupId", "type": "string", "versions": "0+"},
            {"name": "MemberId", "type": "string", "versions": "0+"},
            {"name": "MemberEpoch", "type": "int32", "versions": "0+"},
            {
                "name": "InstanceId",
                "type": "string",
                "versions": "0+",
                "nullableVersions": "0+",
                "default": "null",
            },
            {
                "name": "RackId",
                "type": "string",
                "versions": "0+",
                "nullableVersions": "0+",
                "default": "null",
            },
            {"name": "RebalanceTimeoutMs", "type": "int32", "versions": "0+", "default": -1},
            {
                "name": "SubscribedTopicNames",
                "type": "[]string",
                "versions": "0+",
                "nullableVersions": "0+",
                "default": "null",
            },
            {
                "name": "ServerAssignor",
                "type": "string",
                "versions": "0+",
                "nullableVersions": "0+",
                "default": "null",
            },
            {
                "name": "TopicPartitions",
                "type": "[]TopicPartitions",
                "versions": "0+",
                "nullableVersions": "0+",
                "default": "null",
                "fields": [
                    {"name": "TopicId", "type": "uuid", "versions": "0+"},
                    {"name": "Partitions", "type": "[]int32", "versions": "0+"},
                ],
            },
        ],
    },
    "ConsumerGroupHeartbeatResponse": {
        "apiKey": 68,
        "type": "response",
        "validVersions": "0",
        "flexibleVersions": "0+",
        "fields": [
            {"name": "ThrottleTimeMs", "type": "int32", "versions": "0+"},
            {"name": "ErrorCode", "type": "int16", "versions": "0+"},
            {
                "name": "ErrorMessage",
                "type": "string",
                "versions": "0+",
                "nullableVersions": "0+",
                "default": "null",
            },
            {
                "name": "MemberId",
                "type": "string",
                "versions": "0+",
                "nullableVersions": "0+",
                "default": "null",
            },
            {"name": "MemberEpoch", "type": "int32", "versions": "0+"},
            {"name": "HeartbeatIntervalMs", "type": "int32", "versions": "0+"},
            {
                "name": "Assignment",
                "type": "Assignment",
                "versions": "0+",
                "nullableVersions": "0+",
                "default": "null",
                "fields": [
                    {"name": "TopicPartitions", "type": "[]TopicPartitions", "versions": "0+"}
                ],
            },
        ],
        "commonStructs": [
            {
                "name": "TopicPartitions",
                "versions": "0+",
                "fields": [
                    {"name": "TopicId", "type": "uuid", "versions": "0+"},
                    {"name": "Partitions", "type": "[]int32", "versions": "0+"},
                ],
            }
        ],
    },
    "ConsumerGroupDescribeRequest": {
        "apiKey": 69,
        "type": "request",
        "validVersions": "0",
        "flexibleVersions": "0+",
        "fields": [
            {"name": "GroupIds", "type": "[]string", "versions": "0+"},
            {"name": "IncludeAuthorizedOperations", "type": "bool", "versions": "0+"},
        ],
    },
    "ConsumerGroupDescribeResponse": {
        "apiKey": 69,
        "type": "response",
        "validVersions": "0",
        "flexibleVersions": "0+",
        "fields": [
            {"name": "ThrottleTimeMs", "type": "int32", "versions": "0+"},
            {
                "name": "Groups",
                "type": "[]DescribedGroup",
                "versions": "0+",
                "fields": [
                    {"name": "ErrorCode", "type": "int16", "versions": "0+"},
                    {
                        "name": "ErrorMessage",
                        "type": "string",
                        "versions": "0+",
                        "nullableVersions": "0+",
                        "default": "null",
                    },
                    {"name": "GroupId", "type": "string", "versions": "0+"},
                    {"name": "GroupState", "type": "string", "versions": "0+"},
                    {"name": "GroupEpoch", "type": "int32", "versions": "0+"},
                    {"name": "AssignmentEpoch", "type": "int32", "versions": "0+"},
                    {"name": "AssignorName", "type": "string", "versions": "0+"},
                    {
                        "name": "Members",
                        "type": "[]Member",
                        "versions": "0+",
                        "fields": [
                            {"name": "MemberId", "type": "string", "versions": "0+"},
                            {
                                "name": "InstanceId",
                                "type": "string",
                                "versions": "0+",
                                "nullableVersions": "0+",
                                "default": "null",
                            },
                            {
                                "name": "RackId",
                                "type": "string",
                                "versions": "0+",
                                "nullableVersions": "0+",
                                "default": "null",
                            },
                            {"name": "MemberEpoch", "type": "int32", "versions": "0+"},
                            {"name": "ClientId", "type": "string", "versions": "0+"},
                            {"name": "ClientHost", "type": "string", "versions": "0+"},
                            {"name": "SubscribedTopicNames", "type": "[]string", "versions": "0+"},
                            {
                                "name": "SubscribedTopicRegex",
                                "type": "string",
                                "versions": "0+",
                                "nullableVersions": "0+",
                                "default": "null",
                            },
                            {"name": "Assignment", "type": "Assignment", "versions": "0+"},
                            {"name": "TargetAssignment", "type": "Assignment", "versions": "0+"},
                        ],
                    },
                    {
                        "name": "AuthorizedOperations",
                        "type": "int32",
                        "versions": "0+",
                        "default": "-2147483648",
                    },
                ],
            },
        ],
        "commonStructs": [
            {
                "name": "TopicPartitions",
                "versions": "0+",
                "fields": [
                    {"name": "TopicId", "type": "uuid", "versions": "0+"},
                    {"name": "TopicName", "type": "string", "versions": "0+"},
                    {"name": "Partitions", "type": "[]int32", "versions": "0+"},
                ],
            },
            {
                "name": "Assignment",
                "versions": "0+",
                "fields": [
                    {"name": "TopicPartitions", "type": "[]TopicPartitions", "versions": "0+"}
                ],
            },
        ],
    },
}

# Kafka 4.0's ConsumerGroupHeartbeat v1: the regular expression subscription (KIP-848).
SPECS["ConsumerGroupHeartbeatRequest"]["validVersions"] = "0-1"
SPECS["ConsumerGroupHeartbeatResponse"]["validVersions"] = "0-1"
SPECS["ConsumerGroupHeartbeatRequest"]["fields"].insert(
    7,
    {
        "name": "SubscribedTopicRegex",
        "type": "string",
        "versions": "1+",
        "nullableVersions": "1+",
        "default": "null",
    },
)


def raw_specs() -> dict[str, tuple[dict, str]]:
    """The declarations above as spec JSON, by message name: (data, source)."""
    return {name: ({"name": name, **spec}, f"{__name__}.{name}") for name, spec in SPECS.items()}


def parsed_specs() -> dict[str, schema.MessageSpec]:
    """The declarations above as parsed specs, by message name."""
    return {name: schema.parse_spec(data, source) for name, (data, source) in raw_specs().items()}
