"""A 3-broker cluster with two listeners: brokers talk over INTERNAL (PLAINTEXT),
clients log in over EXTERNAL (SASL_SSL, PLAIN). Each client is told its own listener's
addresses for every broker; the registration carries every endpoint and the protocol
map (Kafka's /brokers/ids JSON v5)."""

from __future__ import annotations

import json
import re
import uuid

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
