"""ACLs with the principals real logins give: SASL PLAIN users and a TLS client
certificate's mapped name, each seen from its own client (confluent-kafka).

One broker with two listeners (SASL_PLAINTEXT with users admin, alice and bob; SSL
with required client certificates mapped to User:client), Kafka's AclAuthorizer,
`super.users=User:admin` and no ACL means no access. The admin grants over the
protocol; alice, bob and the certificate's user each see only what they are granted.
"""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from tests.conftest import BrokerHandle
from tests.security.certs import Certs, make_certs

GUARD_S = 30.0
JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'username="admin" password="admin-pw" user_admin="admin-pw" '
    'user_alice="alice-pw" user_bob="bob-pw";'
)
ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY
LITERAL, PREFIXED = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def broker(tmp_path_factory, certs):
    handle = BrokerHandle(
        tmp_path_factory.mktemp("acl-broker"),
        {
            "listeners": "SASL_PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
            "security.inter.broker.protocol": "SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
            "listener.name.ssl.ssl.keystore.type": "PEM",
            "listener.name.ssl.ssl.keystore.location": str(certs.broker_keystore),
            "listener.name.ssl.ssl.truststore.type": "PEM",
            "listener.name.ssl.ssl.truststore.location": str(certs.ca),
            "listener.name.ssl.ssl.client.auth": "required",
            "ssl.principal.mapping.rules": "RULE:^CN=([^,]*),.*$/$1/,DEFAULT",
            "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
            "super.users": "User:admin",
            "group.initial.rebalance.delay.ms": "0",
        },
    )
    handle.start()
    yield handle
    handle.stop()


def sasl(broker: BrokerHandle, user: str) -> dict:
    return {
        "bootstrap.servers": f"127.0.0.1:{broker.broker.bound_ports['SASL_PLAINTEXT']}",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": user,
        "sasl.password": f"{user}-pw",
    }


def tls(broker: BrokerHandle, certs: Certs) -> dict:
    return {
        "bootstrap.servers": f"127.0.0.1:{broker.broker.bound_ports['SSL']}",
        "security.protocol": "SSL",
        "ssl.ca.location": str(certs.ca),
        "ssl.certificate.location": str(certs.client_cert),
        "ssl.key.location": str(certs.client_key),
    }


def grant(admin: AdminClient, principal: str, rtype, name, op, permission=ALLOW, pattern=LITERAL):
    binding = AclBinding(rtype, name, pattern, principal, "*", op, permission)
    for future in admin.create_acls([binding]).values():
        future.result(GUARD_S)
    return binding


def revoke(admin: AdminClient, binding: AclBinding) -> None:
    found = AclBindingFilter(
        binding.restype,
        binding.name,
        binding.resource_pattern_type,
        binding.principal,
        binding.host,
        binding.operation,
        binding.permission_type,
    )
    for future in admin.delete_acls([found]).values():
        future.result(GUARD_S)


def produce(common: dict, topic: str, value: bytes = b"v") -> KafkaError | None:
    reports: list[KafkaError | None] = []
    producer = Producer({**common, "message.timeout.ms": 10000, "enable.idempotence": True})
    producer.produce(topic, value, on_delivery=lambda err, msg: reports.append(err))
    producer.flush(GUARD_S)
    assert reports, "no delivery report"
    return reports[0]


def consume(common: dict, topic: str, group: str) -> bytes | KafkaError:
    """The first record's value, or the first error the consumer reports."""
    consumer = Consumer(
        {**common, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}
    )
    try:
        consumer.subscribe([topic])
        for _ in range(int(GUARD_S * 2)):
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                return msg.error()
            return msg.value()
        raise AssertionError("neither a record nor an error")
    finally:
        consumer.close()


def visible_topics(common: dict) -> set[str]:
    return set(AdminClient(common).list_topics(timeout=GUARD_S).topics)


@pytest.fixture(scope="module")
def admin(broker) -> AdminClient:
    admin = AdminClient(sasl(broker, "admin"))
    names = ["orders", "payments", "certified", "team-a.events", "team-a.audit"]
    for future in admin.create_topics([NewTopic(n, 1, 1) for n in names]).values():
        future.result(GUARD_S)
    return admin


def test_the_super_user_needs_no_acl(broker, admin):
    assert produce(sasl(broker, "admin"), "payments", b"by admin") is None
    assert consume(sasl(broker, "admin"), "payments", "admin-group") == b"by admin"


def test_each_user_sees_and_does_only_what_is_granted(broker, admin):
    alice, bob = sasl(broker, "alice"), sasl(broker, "bob")
    grant(admin, "User:alice", ResourceType.TOPIC, "orders", AclOperation.WRITE)
    grant(admin, "User:alice", ResourceType.TOPIC, "orders", AclOperation.READ)
    grant(admin, "User:alice", ResourceType.GROUP, "alice-", AclOperation.READ, pattern=PREFIXED)

    assert produce(alice, "orders", b"from alice") is None
    assert consume(alice, "orders", "alice-1") == b"from alice"
    # READ/WRITE imply DESCRIBE: alice sees orders and nothing else.
    assert visible_topics(alice) == {"orders"}

    # bob has no ACL: his produce and consume are refused, and he sees no topic.
    assert produce(bob, "orders").code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    error = consume(bob, "orders", "bob-1")
    assert isinstance(error, KafkaError)
    assert error.code() in (
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
    )
    assert visible_topics(bob) == set()

    # A group outside alice's prefix is refused even though the topic is hers.
    error = consume(alice, "orders", "other-group")
    assert isinstance(error, KafkaError)
    assert error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED


def test_deny_for_one_user_wins_over_allow_for_everyone(broker, admin):
    everyone = grant(
        admin, "User:*", ResourceType.TOPIC, "team-a.", AclOperation.WRITE, pattern=PREFIXED
    )
    denied = grant(
        admin, "User:bob", ResourceType.TOPIC, "team-a.audit", AclOperation.WRITE, permission=DENY
    )
    try:
        assert produce(sasl(broker, "bob"), "team-a.events") is None
        assert (
            produce(sasl(broker, "bob"), "team-a.audit").code()
            == KafkaError.TOPIC_AUTHORIZATION_FAILED
        )
        assert produce(sasl(broker, "alice"), "team-a.audit") is None
        # Removing the DENY takes effect on bob's next request.
        revoke(admin, denied)
        assert produce(sasl(broker, "bob"), "team-a.audit") is None
    finally:
        revoke(admin, everyone)
    assert (
        produce(sasl(broker, "bob"), "team-a.events").code()
        == KafkaError.TOPIC_AUTHORIZATION_FAILED
    )


def test_a_client_certificate_is_its_mapped_principal(broker, admin, certs):
    client = tls(broker, certs)
    assert produce(client, "certified").code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # The mapping rule turns CN=client,OU=eng,O=acme into User:client.
    grant(admin, "User:client", ResourceType.TOPIC, "certified", AclOperation.WRITE)
    grant(admin, "User:client", ResourceType.TOPIC, "certified", AclOperation.READ)
    grant(admin, "User:client", ResourceType.GROUP, "tls-group", AclOperation.READ)
    value = f"tls-{uuid.uuid4()}".encode()
    assert produce(client, "certified", value) is None
    assert consume(client, "certified", "tls-group") == value
    assert visible_topics(client) == {"certified"}
    # The SASL users gained nothing from the certificate's grants.
    assert "certified" not in visible_topics(sasl(broker, "alice"))
