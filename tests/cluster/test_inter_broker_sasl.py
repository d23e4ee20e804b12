"""Brokers log in to each other with SCRAM-SHA-512 (over SASL_SSL) and OAUTHBEARER
(unsecured tokens, SASL_PLAINTEXT) on their INTERNAL listener, as Kafka's
`sasl.mechanism.inter.broker.protocol` and the listener's JAAS login config say.
Clients use a PLAINTEXT listener. The brokers' SCRAM credential is written to
ZooKeeper before they start, as Kafka's docs do it (`kafka-configs --zookeeper`)."""

from __future__ import annotations

import json
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kazoo.client import KazooClient

from kafka_compat.security.credentials import ScramCredential
from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401
from tests.security.certs import make_certs

GUARD_S = 30.0
SCRAM_JAAS = (
    "org.apache.kafka.common.security.scram.ScramLoginModule required "
    'username="broker" password="{password}";'
)


def create_scram_user(zk_connect: str, user: str, password: str, mechanism: str) -> None:
    """What `kafka-configs --zookeeper ... --entity-type users --add-config` writes."""
    host, _, chroot = zk_connect.partition("/")
    zk = KazooClient(hosts=host)
    zk.start()
    try:
        credential = ScramCredential.from_password(mechanism, password, iterations=8192)
        data = {"version": 1, "config": {mechanism: credential.to_kafka()}}
        zk.create(f"/{chroot}/config/users/{user}", json.dumps(data).encode(), makepath=True)
    finally:
        zk.stop()
        zk.close()


def scram_props(certs) -> dict[str, str]:
    return {
        "listeners": "CLIENT://127.0.0.1:0,INTERNAL://127.0.0.1:0",
        "listener.security.protocol.map": "CLIENT:PLAINTEXT,INTERNAL:SASL_SSL",
        "inter.broker.listener.name": "INTERNAL",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "listener.name.internal.sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.internal.scram-sha-512.sasl.jaas.config": SCRAM_JAAS.format(
            password="broker-pw"
        ),
        "listener.name.internal.ssl.keystore.type": "PEM",
        "listener.name.internal.ssl.keystore.location": str(certs.broker_keystore),
        "listener.name.internal.ssl.truststore.type": "PEM",
        "listener.name.internal.ssl.truststore.location": str(certs.ca),
    }


def wait_for_isr(admin: AdminClient, topic: str, check, cluster) -> dict:
    deadline = time.monotonic() + GUARD_S
    while True:
        partitions = admin.list_topics(topic, timeout=GUARD_S).topics[topic].partitions
        if partitions and check(partitions):
            return partitions
        assert time.monotonic() < deadline, f"ISRs never as expected:\n{cluster.logs()}"
        time.sleep(0.1)


def all_logs(cluster) -> str:
    return "".join(b.log_path.read_text(errors="replace") for b in cluster.brokers.values())


def test_brokers_replicate_over_sasl_ssl_with_scram_sha_512(cluster_factory, tmp_path, zk_connect):
    create_scram_user(zk_connect, "broker", "broker-pw", "SCRAM-SHA-512")
    cluster = cluster_factory(3, **scram_props(make_certs(tmp_path / "certs")))
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.create_topics([NewTopic("scram-replicated", 3, 3)])["scram-replicated"].result(GUARD_S)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for i in range(30):
        producer.produce("scram-replicated", f"m{i}".encode(), partition=i % 3)
    assert producer.flush(GUARD_S) == 0
    partitions = wait_for_isr(
        admin, "scram-replicated", lambda ps: all(len(p.isrs) == 3 for p in ps.values()), cluster
    )
    assert "authenticated as User:broker on listener INTERNAL (SCRAM-SHA-512)" in all_logs(cluster)

    # The leader of partition 0 dies: the others (a new controller perhaps, logging in
    # again) elect a follower, which has every acknowledged record.
    leader = partitions[0].leader
    cluster.brokers[leader].kill()
    survivors = ",".join(b.bootstrap for i, b in cluster.brokers.items() if i != leader)
    admin = AdminClient({"bootstrap.servers": survivors})
    wait_for_isr(
        admin,
        "scram-replicated",
        lambda ps: all(p.leader not in (leader, -1) for p in ps.values()),
        cluster,
    )
    consumer = Consumer(
        {
            "bootstrap.servers": survivors,
            "group.id": f"g-{uuid.uuid4()}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition("scram-replicated", p, 0) for p in range(3)])
    got = set()
    deadline = time.monotonic() + GUARD_S
    try:
        while len(got) < 30:
            assert time.monotonic() < deadline, f"{len(got)} of 30:\n{cluster.logs()}"
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            got.add(msg.value())
    finally:
        consumer.close()
    assert got == {f"m{i}".encode() for i in range(30)}


def test_a_wrong_broker_password_is_refused_and_reported(cluster_factory, tmp_path, zk_connect):
    """Broker 3 has the wrong password: its peers refuse its login and log it, it logs
    its failed login, and it never catches up (it drops out of the ISRs), as Kafka."""
    create_scram_user(zk_connect, "broker", "broker-pw", "SCRAM-SHA-512")
    wrong = {
        "listener.name.internal.scram-sha-512.sasl.jaas.config": SCRAM_JAAS.format(password="nope")
    }
    cluster = cluster_factory(
        3, per_broker={3: wrong}, **scram_props(make_certs(tmp_path / "certs"))
    )
    admin = AdminClient({"bootstrap.servers": cluster.brokers[1].bootstrap})
    admin.create_topics([NewTopic("guarded", 3, 3)])["guarded"].result(GUARD_S)
    wait_for_isr(
        admin,
        "guarded",
        lambda ps: all(3 not in p.isrs for p in ps.values() if p.leader != 3),
        cluster,
    )
    mine = cluster.brokers[3].log_path.read_text(errors="replace")
    assert (
        "failed: Authentication failed during authentication due to invalid credentials "
        "with SASL mechanism SCRAM-SHA-512"
    ) in mine
    theirs = cluster.brokers[1].log_path.read_text() + cluster.brokers[2].log_path.read_text()
    assert "Failed authentication with" in theirs and "user broker" in theirs


def test_brokers_log_in_with_unsecured_oauthbearer_tokens(cluster_factory):
    jaas = (
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
        'unsecuredLoginStringClaim_sub="broker";'
    )
    cluster = cluster_factory(
        3,
        **{
            "listeners": "CLIENT://127.0.0.1:0,INTERNAL://127.0.0.1:0",
            "listener.security.protocol.map": "CLIENT:PLAINTEXT,INTERNAL:SASL_PLAINTEXT",
            "inter.broker.listener.name": "INTERNAL",
            "sasl.mechanism.inter.broker.protocol": "OAUTHBEARER",
            "listener.name.internal.sasl.enabled.mechanisms": "OAUTHBEARER",
            "listener.name.internal.oauthbearer.sasl.jaas.config": jaas,
            # KIP-368: a broker-to-broker session lasts 1 s; the brokers log in again.
            "listener.name.internal.connections.max.reauth.ms": "1000",
        },
    )
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.create_topics([NewTopic("oauth-replicated", 3, 3)])["oauth-replicated"].result(GUARD_S)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    # Replication goes on across several session expiries: every acks=all produce
    # (which waits for both followers) succeeds.
    logins_before = all_logs(cluster).count("authenticated as User:broker")
    start = time.monotonic()
    while time.monotonic() - start < 3.0:
        for p in range(3):
            producer.produce("oauth-replicated", b"x", partition=p)
        assert producer.flush(GUARD_S) == 0
    assert all_logs(cluster).count("authenticated as User:broker") > logins_before
    wait_for_isr(
        admin, "oauth-replicated", lambda ps: all(len(p.isrs) == 3 for p in ps.values()), cluster
    )
    assert "authenticated as User:broker on listener INTERNAL (OAUTHBEARER)" in all_logs(cluster)


def test_brokers_log_in_with_signed_tokens_checked_against_an_https_jwks(cluster_factory, tmp_path):
    """Each broker reads its signed token from a file (OAuthBearerLoginCallbackHandler
    with a file:// token endpoint) and its peers check it against the IdP's JWKS over
    HTTPS, trusting the test CA from the JAAS config's ssl.truststore.*."""
    from tests.security.jwks_server import JwksServer

    certs = make_certs(tmp_path / "certs")
    idp = JwksServer(certs.broker_keystore)
    try:
        idp.add_key("k1")
        token = tmp_path / "broker.jwt"
        token.write_text(idp.token("k1", sub="broker", aud="kafka", exp=time.time() + 3600))
        jaas = (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
            f'ssl.truststore.type="PEM" ssl.truststore.location="{certs.ca}";'
        )
        cluster = cluster_factory(
            3,
            **{
                "listeners": "CLIENT://127.0.0.1:0,INTERNAL://127.0.0.1:0",
                "listener.security.protocol.map": "CLIENT:PLAINTEXT,INTERNAL:SASL_PLAINTEXT",
                "inter.broker.listener.name": "INTERNAL",
                "sasl.mechanism.inter.broker.protocol": "OAUTHBEARER",
                "listener.name.internal.sasl.enabled.mechanisms": "OAUTHBEARER",
                "listener.name.internal.oauthbearer.sasl.jaas.config": jaas,
                "listener.name.internal.oauthbearer.sasl.server.callback.handler.class": (
                    "org.apache.kafka.common.security.oauthbearer."
                    "OAuthBearerValidatorCallbackHandler"
                ),
                "listener.name.internal.oauthbearer.sasl.login.callback.handler.class": (
                    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler"
                ),
                "sasl.oauthbearer.token.endpoint.url": token.as_uri(),
                "sasl.oauthbearer.jwks.endpoint.url": idp.url,
                "sasl.oauthbearer.expected.audience": "kafka",
            },
        )
        assert idp.requests >= 3  # each broker fetched the keys at start-up
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        admin.create_topics([NewTopic("jwt-replicated", 3, 3)])["jwt-replicated"].result(GUARD_S)
        producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
        for i in range(9):
            producer.produce("jwt-replicated", b"x", partition=i % 3)
        assert producer.flush(GUARD_S) == 0
        wait_for_isr(
            admin, "jwt-replicated", lambda ps: all(len(p.isrs) == 3 for p in ps.values()), cluster
        )
        logs = all_logs(cluster)
        assert "authenticated as User:broker on listener INTERNAL (OAUTHBEARER)" in logs
    finally:
        idp.close()
