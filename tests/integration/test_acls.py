"""ACLs from one principal's point of view: User:ANONYMOUS over PLAINTEXT, with
confluent-kafka (AdminClient's ACL calls, producer, consumer, transactions).

The broker runs Kafka's AclAuthorizer semantics with allow.everyone.if.no.acl.found
false; the principal is seeded with ALTER, DESCRIBE and CREATE on the cluster (what
an operator's super user would grant), then manages its own ACLs over the protocol.
"""

from __future__ import annotations

import pytest
from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from kafka_compat import cli
from kafka_compat.config import BrokerConfig, ConfigError
from kafka_compat.security import acl_types as acl
from kafka_compat.security import authorizer as auth
from kafka_compat.tools.connection import Connection
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

GUARD_S = 30.0
ME = "User:ANONYMOUS"
ACL_AUTHORIZER = "kafka.security.authorizer.AclAuthorizer"
ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY
LITERAL, PREFIXED = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED


def binding(rtype, name, op, permission=ALLOW, pattern=LITERAL, principal=ME):
    return AclBinding(rtype, name, pattern, principal, "*", op, permission)


def create_acls(admin: AdminClient, *bindings: AclBinding) -> None:
    for future in admin.create_acls(list(bindings)).values():
        future.result(GUARD_S)


def delete_acls(admin: AdminClient, *bindings: AclBinding) -> None:
    filters = [
        AclBindingFilter(
            b.restype,
            b.name,
            b.resource_pattern_type,
            b.principal,
            b.host,
            b.operation,
            b.permission_type,
        )
        for b in bindings
    ]
    for future in admin.delete_acls(filters).values():
        future.result(GUARD_S)


def seed(handle, *bindings: tuple) -> None:
    """ACLs written straight into the broker's store (an operator's first grants)."""
    made = [
        auth.AclBinding(
            auth.ResourcePattern(rtype, name, acl.PatternType.LITERAL),
            auth.AccessControlEntry(ME, "*", op, acl.Permission.ALLOW),
        )
        for rtype, name, op in bindings
    ]
    handle.call(handle.broker.components.acls.create, made)


CLUSTER_ADMIN = [
    (acl.ResourceType.CLUSTER, acl.CLUSTER_NAME, op)
    for op in (acl.AclOperation.ALTER, acl.AclOperation.DESCRIBE, acl.AclOperation.CREATE)
]


@pytest.fixture
def secured(broker_factory):
    handle = broker_factory(
        authorizer_class_name=ACL_AUTHORIZER, group_initial_rebalance_delay_ms="0"
    )
    seed(handle, *CLUSTER_ADMIN)
    admin = AdminClient({"bootstrap.servers": handle.bootstrap})
    for future in admin.create_topics(
        [NewTopic("allowed", 1, 1), NewTopic("secret", 1, 1)]
    ).values():
        future.result(GUARD_S)
    create_acls(
        admin,
        binding(ResourceType.TOPIC, "allowed", AclOperation.READ),
        binding(ResourceType.TOPIC, "allowed", AclOperation.WRITE),
        binding(ResourceType.GROUP, "g", AclOperation.READ),
    )
    return handle, admin


def produce(bootstrap: str, topic: str, **config) -> KafkaError | None:
    """Produce one record; the delivery error, or None."""
    errors = []
    producer = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 10000, **config})
    producer.produce(topic, b"v", on_delivery=lambda err, msg: errors.append(err))
    producer.flush(GUARD_S)
    assert errors, "no delivery report"
    return errors[0]


def consume_error(bootstrap: str, topic: str, group: str) -> KafkaError | None:
    """Subscribe and poll until a record (None) or an error arrives."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.subscribe([topic])
        for _ in range(int(GUARD_S * 2)):
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                return msg.error()
            consumer.commit(msg, asynchronous=False)
            return None
        raise AssertionError("neither a record nor an error")
    finally:
        consumer.close()


def test_acls_are_created_described_and_deleted(secured):
    _, admin = secured
    found = admin.describe_acls(
        AclBindingFilter(
            ResourceType.ANY,
            None,
            ResourcePatternType.ANY,
            None,
            None,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
    ).result(GUARD_S)
    names = {(b.restype, b.name, b.operation) for b in found}
    assert (ResourceType.TOPIC, "allowed", AclOperation.WRITE) in names
    assert (ResourceType.BROKER, "kafka-cluster", AclOperation.ALTER) in names
    read = binding(ResourceType.TOPIC, "allowed", AclOperation.READ)
    delete_acls(admin, read)
    found = admin.describe_acls(
        AclBindingFilter(
            ResourceType.TOPIC,
            "allowed",
            ResourcePatternType.MATCH,
            None,
            None,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
    ).result(GUARD_S)
    assert [b.operation for b in found] == [AclOperation.WRITE]


def test_bad_creation_is_invalid_request(secured):
    _, admin = secured
    bad = binding(ResourceType.BROKER, "not-the-cluster", AclOperation.ALTER)
    with pytest.raises(KafkaException) as failure:
        create_acls(admin, bad)
    assert failure.value.args[0].code() == KafkaError.INVALID_REQUEST


def test_without_an_authorizer_acl_apis_are_disabled(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    with pytest.raises(KafkaException) as failure:
        create_acls(admin, binding(ResourceType.TOPIC, "t", AclOperation.READ))
    assert failure.value.args[0].code() == KafkaError.SECURITY_DISABLED


def test_allowed_produce_consume_and_group(secured):
    handle, _ = secured
    assert produce(handle.bootstrap, "allowed") is None
    assert produce(handle.bootstrap, "allowed", **{"enable.idempotence": True}) is None
    assert consume_error(handle.bootstrap, "allowed", "g") is None


def test_denied_produce_consume_and_group(secured):
    handle, _ = secured
    assert produce(handle.bootstrap, "secret").code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    error = consume_error(handle.bootstrap, "allowed", "other-group")
    assert error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED
    error = consume_error(handle.bootstrap, "secret", "g")
    assert error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_metadata_hides_undescribable_topics(secured):
    handle, admin = secured
    topics = admin.list_topics(timeout=GUARD_S).topics
    assert "allowed" in topics
    assert "secret" not in topics
    named = admin.list_topics("secret", timeout=GUARD_S).topics["secret"]
    assert named.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_deny_wins_and_removal_takes_effect_at_once(secured):
    handle, admin = secured
    deny = binding(ResourceType.TOPIC, "allowed", AclOperation.WRITE, DENY)
    create_acls(admin, deny)
    assert produce(handle.bootstrap, "allowed").code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    delete_acls(admin, deny)
    assert produce(handle.bootstrap, "allowed") is None


def test_prefixed_acls(secured):
    handle, admin = secured
    create_acls(
        admin,
        binding(ResourceType.TOPIC, "app-", AclOperation.WRITE, pattern=PREFIXED),
        binding(ResourceType.TOPIC, "app-", AclOperation.CREATE, pattern=PREFIXED),
    )
    for future in admin.create_topics([NewTopic("app-orders", 1, 1)]).values():
        future.result(GUARD_S)
    assert produce(handle.bootstrap, "app-orders") is None
    assert produce(handle.bootstrap, "ap").code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_transactions(secured):
    handle, admin = secured
    create_acls(admin, binding(ResourceType.TRANSACTIONAL_ID, "tx", AclOperation.WRITE))
    producer = Producer({"bootstrap.servers": handle.bootstrap, "transactional.id": "tx"})
    producer.init_transactions(GUARD_S)
    producer.begin_transaction()
    producer.produce("allowed", b"in a transaction")
    producer.commit_transaction(GUARD_S)
    denied = Producer({"bootstrap.servers": handle.bootstrap, "transactional.id": "other-tx"})
    with pytest.raises(KafkaException) as failure:
        denied.init_transactions(GUARD_S)
    assert failure.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED


def test_super_users_pass_everything(broker_factory):
    handle = broker_factory(authorizer_class_name=ACL_AUTHORIZER, super_users="User:ANONYMOUS")
    assert produce(handle.bootstrap, "anything") is None
    assert consume_error(handle.bootstrap, "anything", "any-group") is None


def test_allow_everyone_if_no_acl_found(broker_factory):
    handle = broker_factory(
        authorizer_class_name=ACL_AUTHORIZER, allow_everyone_if_no_acl_found="true"
    )
    admin = AdminClient({"bootstrap.servers": handle.bootstrap})
    assert produce(handle.bootstrap, "open") is None
    create_acls(
        admin, binding(ResourceType.TOPIC, "closed", AclOperation.ALL, principal="User:bob")
    )
    assert produce(handle.bootstrap, "closed").code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_only_kafkas_authorizers_are_accepted():
    BrokerConfig(
        {"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer"}
    )
    with pytest.raises(ConfigError, match="authorizer.class.name"):
        BrokerConfig({"authorizer.class.name": "com.example.MyAuthorizer"})


def test_the_acls_cli_adds_lists_and_removes(secured, capsys):
    handle, _ = secured
    server = ["--bootstrap-server", handle.bootstrap]
    add = ["acls", "add", "--allow-principal", "User:alice", "--operation", "Read"]
    prefixed = ["--resource-pattern-type", "prefixed"]
    assert cli.main([*add, "--operation", "Describe", "--group", "team-", *prefixed, *server]) == 0
    assert "Adding ACLs" in capsys.readouterr().out
    assert cli.main(["acls", "list", "--group", "team-x", "--resource-pattern-type", "match",
                     *server]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "resourceType=GROUP, name=team-, patternType=PREFIXED" in out
    assert "(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)" in out
    remove = ["acls", "remove", "--allow-principal", "User:alice", "--operation", "read"]
    assert cli.main([*remove, "--group", "team-", *prefixed, *server]) == 0
    assert "Removed 1 ACL(s)." in capsys.readouterr().out
    assert cli.main(["acls", "list", "--principal", "User:alice", *server]) == 0
    out = capsys.readouterr().out
    assert "operation=DESCRIBE" in out and "operation=READ" not in out
    assert cli.main(["acls", "add", "--allow-principal", "User:a", "--cluster",
                     "--resource-pattern-type", "match", *server]) == 1  # fmt: skip


def test_authorized_operations_when_asked(secured):
    _, admin = secured
    cluster = admin.describe_cluster(include_authorized_operations=True).result(GUARD_S)
    assert set(cluster.authorized_operations) == {
        AclOperation.ALTER,
        AclOperation.DESCRIBE,
        AclOperation.CREATE,
    }
    (future,) = admin.describe_topics(
        TopicCollection(["allowed"]), include_authorized_operations=True
    ).values()
    assert set(future.result(GUARD_S).authorized_operations) == {
        AclOperation.READ,
        AclOperation.WRITE,
        AclOperation.DESCRIBE,
    }
    (future,) = admin.describe_consumer_groups(["g"], include_authorized_operations=True).values()
    assert set(future.result(GUARD_S).authorized_operations) == {
        AclOperation.READ,
        AclOperation.DESCRIBE,
    }


def test_acls_survive_a_restart(secured):
    handle, _ = secured
    handle.restart()
    assert produce(handle.bootstrap, "allowed") is None
    assert produce(handle.bootstrap, "secret").code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def error_of(future) -> int:
    with pytest.raises(KafkaException) as failure:
        future.result(GUARD_S)
    return failure.value.args[0].code()


def test_denied_admin_operations(secured):
    handle, admin = secured
    (future,) = admin.delete_topics(["secret"]).values()
    assert error_of(future) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # (AdminClient's list_offsets first asks Metadata, which hides the topic: ask directly.)
    ListOffsets = messages.request_type(ApiKey.LIST_OFFSETS)
    request = ListOffsets(
        replica_id=-1,
        topics=[
            ListOffsets.ListOffsetsTopic(
                name="secret",
                partitions=[ListOffsets.ListOffsetsPartition(partition_index=0, timestamp=-1)],
            )
        ],
    )
    with Connection("127.0.0.1", handle.port, GUARD_S) as conn:
        (topic,) = conn.request(ApiKey.LIST_OFFSETS, request, 7).topics
    assert [p.error_code for p in topic.partitions] == [ErrorCode.TOPIC_AUTHORIZATION_FAILED]
    # With DESCRIBE (so that the client finds the topic), still no DESCRIBE_CONFIGS, DELETE.
    create_acls(admin, binding(ResourceType.TOPIC, "secret", AclOperation.DESCRIBE))
    (future,) = admin.describe_configs([ConfigResource("topic", "secret")]).values()
    assert error_of(future) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    (future,) = admin.delete_records([TopicPartition("secret", 0, 0)]).values()
    assert error_of(future) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    (future,) = admin.describe_consumer_groups(["other"]).values()
    assert error_of(future) == KafkaError.GROUP_AUTHORIZATION_FAILED
    (future,) = admin.delete_consumer_groups(["g"]).values()  # READ only
    assert error_of(future) == KafkaError.GROUP_AUTHORIZATION_FAILED
    (future,) = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions("other")]).values()
    assert error_of(future) == KafkaError.GROUP_AUTHORIZATION_FAILED


def test_a_follower_fetch_needs_cluster_action(secured):
    handle, _ = secured
    Fetch = messages.request_type(ApiKey.FETCH)
    request = Fetch(
        replica_id=1,
        max_wait_ms=0,
        min_bytes=1,
        topics=[
            Fetch.FetchTopic(
                topic="allowed",
                partitions=[
                    Fetch.FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1024)
                ],
            )
        ],
    )
    with Connection("127.0.0.1", handle.port, GUARD_S) as conn:
        answer = conn.request(ApiKey.FETCH, request, 12)
    (topic,) = answer.responses
    assert [p.error_code for p in topic.partitions] == [ErrorCode.TOPIC_AUTHORIZATION_FAILED]


def test_scram_credentials_need_alter_and_describe_on_the_cluster(broker_factory):
    handle = broker_factory(authorizer_class_name=ACL_AUTHORIZER)
    Alter = messages.request_type(ApiKey.ALTER_USER_SCRAM_CREDENTIALS)
    Describe = messages.request_type(ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS)
    upsert = Alter(
        deletions=[],
        upsertions=[
            Alter.ScramCredentialUpsertion(
                name=name, mechanism=1, iterations=4096, salt=b"s", salted_password=b"p"
            )
            for name in ("mallory", "admin")
        ],
    )
    describe = Describe(users=[Describe.UserName(name="admin")])
    denied = ErrorCode.CLUSTER_AUTHORIZATION_FAILED
    with Connection("127.0.0.1", handle.port, GUARD_S) as conn:
        results = conn.request(ApiKey.ALTER_USER_SCRAM_CREDENTIALS, upsert, 0).results
        assert [(r.user, r.error_code) for r in results] == [("admin", denied), ("mallory", denied)]
        answer = conn.request(ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS, describe, 0)
        assert (answer.error_code, answer.error_message) == (
            denied,
            "Cluster authorization failed.",
        )
        assert [r.error_code for r in answer.results] == [denied]
        assert handle.broker.components.credentials.users() == {}
        seed(handle, *CLUSTER_ADMIN)
        results = conn.request(ApiKey.ALTER_USER_SCRAM_CREDENTIALS, upsert, 0).results
        assert {r.error_code for r in results} == {ErrorCode.NONE}
        answer = conn.request(ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS, describe, 0)
        assert [(r.user, r.error_code) for r in answer.results] == [("admin", ErrorCode.NONE)]
