"""A 3-broker cluster with two listeners: brokers talk over INTERNAL (PLAINTEXT),
clients log in over EXTERNAL (SASL_SSL, PLAIN). Each client is told its own listener's
addresses for every broker; the registration carries every endpoint and the protocol
map (Kafka's /brokers/ids JSON v5)."""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kazoo.client import KazooClient

from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401
from tests.security.certs import make_certs

GUARD_S = 30.0
JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-pw";'


def external_port(broker) -> int:
    log = broker.log_tail(200_000)
    return int(re.findall(r"listener EXTERNAL \(SASL_SSL\) on [\d.]+:(\d+)", log)[-1])


def test_clients_on_sasl_ssl_brokers_on_plaintext(cluster_factory, tmp_path, zk_connect):
    certs = make_certs(tmp_path / "certs")
    cluster = cluster_factory(
        3,
        **{
            "listeners": "INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0",
            "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL",
            "inter.broker.listener.name": "INTERNAL",
            "sasl.enabled.mechanisms": "PLAIN",
            "listener.name.external.plain.sasl.jaas.config": JAAS,
            "listener.name.external.ssl.keystore.type": "PEM",
            "listener.name.external.ssl.keystore.location": str(certs.broker_keystore),
        },
    )
    external = {i: f"127.0.0.1:{external_port(b)}" for i, b in cluster.brokers.items()}
    internal = {i: b.bootstrap for i, b in cluster.brokers.items()}

    # The registration: every endpoint, the protocol map, host:port the inter-broker one.
    host, _, chroot = zk_connect.partition("/")
    zk = KazooClient(hosts=host)
    zk.start()
    try:
        data, _ = zk.get(f"/{chroot}/brokers/ids/1")
    finally:
        zk.stop()
        zk.close()
    registration = json.loads(data)
    assert registration["version"] == 5
    assert registration["endpoints"] == [
        f"INTERNAL://{internal[1]}",
        f"EXTERNAL://{external[1]}",
    ]
    assert registration["listener_security_protocol_map"] == {
        "INTERNAL": "PLAINTEXT",
        "EXTERNAL": "SASL_SSL",
    }
    assert f"{registration['host']}:{registration['port']}" == internal[1]

    secure = {
        "bootstrap.servers": external[2],
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": str(certs.ca),
        "sasl.mechanism": "PLAIN",
        "sasl.username": "alice",
        "sasl.password": "alice-pw",
    }
    admin = AdminClient(secure)
    # Each listener's clients see every broker at that listener's address.
    brokers = admin.list_topics(timeout=GUARD_S).brokers
    assert {i: f"{b.host}:{b.port}" for i, b in brokers.items()} == external
    plain = AdminClient({"bootstrap.servers": internal[3]}).list_topics(timeout=GUARD_S).brokers
    assert {i: f"{b.host}:{b.port}" for i, b in plain.items()} == internal

    # Replicated over INTERNAL, produced and consumed over EXTERNAL.
    admin.create_topics([NewTopic("secure", 3, 3)])["secure"].result(GUARD_S)
    producer = Producer({**secure, "acks": "all"})
    for i in range(30):
        producer.produce("secure", f"m{i}".encode(), partition=i % 3)
    assert producer.flush(GUARD_S) == 0
    consumer = Consumer(
        {**secure, "group.id": f"g-{uuid.uuid4()}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe(["secure"])
    got = set()
    try:
        while len(got) < 30:
            msg = consumer.poll(GUARD_S)
            assert msg is not None, f"{len(got)} of 30, logs:\n{cluster.logs()}"
            assert msg.error() is None, msg.error()
            got.add(msg.value())
    finally:
        consumer.close()
    assert got == {f"m{i}".encode() for i in range(30)}


@pytest.mark.parametrize("protocol", ["SSL", "SASL_SSL"])
def test_brokers_replicate_over_a_secure_inter_broker_listener(cluster_factory, tmp_path, protocol):
    """Replica fetchers, the controller's channel and every other broker-to-broker
    request go over INTERNAL: TLS with this broker's certificate (mutual TLS required),
    or SASL_SSL with the broker's PLAIN login."""
    certs = make_certs(tmp_path / "certs")
    props = {
        "listeners": "CLIENT://127.0.0.1:0,INTERNAL://127.0.0.1:0",
        "listener.security.protocol.map": f"CLIENT:PLAINTEXT,INTERNAL:{protocol}",
        "inter.broker.listener.name": "INTERNAL",
        "listener.name.internal.ssl.keystore.type": "PEM",
        "listener.name.internal.ssl.keystore.location": str(certs.broker_keystore),
        "listener.name.internal.ssl.truststore.type": "PEM",
        "listener.name.internal.ssl.truststore.location": str(certs.ca),
    }
    if protocol == "SSL":
        props["listener.name.internal.ssl.client.auth"] = "required"
        expected = "connected over TLS as User:CN=localhost,O=acme on listener INTERNAL"
    else:
        props["sasl.enabled.mechanisms"] = "PLAIN"
        props["sasl.mechanism.inter.broker.protocol"] = "PLAIN"
        props["listener.name.internal.plain.sasl.jaas.config"] = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            'username="broker" password="broker-pw" user_broker="broker-pw";'
        )
        expected = "authenticated as User:broker on listener INTERNAL (PLAIN)"
    cluster = cluster_factory(3, **props)
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.create_topics([NewTopic("replicated", 3, 3)])["replicated"].result(GUARD_S)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for i in range(30):
        producer.produce("replicated", f"m{i}".encode(), partition=i % 3)
    assert producer.flush(GUARD_S) == 0
    # Every follower fetched over INTERNAL: all replicas stay in sync.
    deadline = time.monotonic() + GUARD_S
    while True:
        topic = admin.list_topics("replicated", timeout=GUARD_S).topics["replicated"]
        if all(len(p.isrs) == 3 for p in topic.partitions.values()):
            break
        assert time.monotonic() < deadline, f"ISRs not full:\n{cluster.logs()}"
        time.sleep(0.1)
    logs = "".join(b.log_path.read_text(errors="replace") for b in cluster.brokers.values())
    assert expected in logs
