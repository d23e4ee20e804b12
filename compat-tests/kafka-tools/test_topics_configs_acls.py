"""Kafka 3.9.1's kafka-topics, kafka-configs and kafka-acls against kafka-compat: topics,
topic and broker configs (one broker and a 3-broker ZooKeeper cluster), connection
limits, client quotas, SCRAM users, ACLs; over PLAINTEXT and with --command-config over
TLS and SASL. How the tools run: this folder's conftest.py.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, ResourceType

# ---- one broker ----


def test_kafka_topics_create_list_describe_alter_delete(served_broker, kafka, unique):
    bootstrap = ["--bootstrap-server", served_broker.bootstrap]
    topic = unique("tools-topics")
    out = kafka(
        "kafka-topics",
        *bootstrap,
        "--create",
        "--topic",
        topic,
        "--partitions",
        "2",
        "--replication-factor",
        "1",
        "--config",
        "retention.ms=3600000",
        "--config",
        "cleanup.policy=compact",
    )
    assert out.strip() == f"Created topic {topic}."
    assert topic in kafka("kafka-topics", *bootstrap, "--list").split()

    kafka("kafka-topics", *bootstrap, "--alter", "--topic", topic, "--partitions", "3")
    out = kafka("kafka-topics", *bootstrap, "--describe", "--topic", topic)
    lines = out.strip().splitlines()
    assert re.match(
        rf"Topic: {topic}\tTopicId: \S{{22}}\tPartitionCount: 3\tReplicationFactor: 1\t"
        r"Configs: (.*)$",
        lines[0],
    ), out
    configs = dict(kv.split("=", 1) for kv in lines[0].split("Configs: ")[1].split(","))
    assert configs == {"cleanup.policy": "compact", "retention.ms": "3600000"}
    partitions = [line.split("\t")[1:6] for line in lines[1:]]
    assert partitions == [
        [f"Topic: {topic}", f"Partition: {p}", "Leader: 0", "Replicas: 0", "Isr: 0"]
        for p in range(3)
    ]

    kafka("kafka-topics", *bootstrap, "--delete", "--topic", topic)
    deadline = time.monotonic() + 30
    while topic in kafka("kafka-topics", *bootstrap, "--list").split():
        assert time.monotonic() < deadline, "the deleted topic is still listed"
    # Creating it again with a bad config is refused, and the tool says why.
    out = kafka(
        "kafka-topics",
        *bootstrap,
        "--create",
        "--topic",
        topic,
        "--config",
        "retention.ms=x",
        ok=False,
    )
    assert "Invalid value x for configuration retention.ms" in out


def described_configs(out: str) -> dict[str, tuple[str, str]]:
    """kafka-configs --describe lines `  name=value sensitive=false synonyms={...}`:
    {name: (value, synonyms)}."""
    found = {}
    for line in out.splitlines():
        match = re.match(r"  (\S+?)=(.*) sensitive=(?:true|false) synonyms=\{(.*)\}$", line)
        if match:
            found[match[1]] = (match[2], match[3])
    return found


def test_kafka_configs_topics_and_brokers(served_broker, kafka, unique):
    bootstrap = ["--bootstrap-server", served_broker.bootstrap]
    topic = unique("tools-configs")
    kafka("kafka-topics", *bootstrap, "--create", "--topic", topic)
    configs = ["kafka-configs", *bootstrap]
    on_topic = [*configs, "--entity-type", "topics", "--entity-name", topic]
    out = kafka(
        *on_topic, "--alter", "--add-config", "retention.ms=3600000,cleanup.policy=[compact,delete]"
    )
    assert out.strip() == f"Completed updating config for topic {topic}."
    kafka(*on_topic, "--alter", "--delete-config", "cleanup.policy")
    out = kafka(*on_topic, "--describe")
    assert out.splitlines()[0] == f"Dynamic configs for topic {topic} are:"
    assert described_configs(out) == {
        "retention.ms": (
            "3600000",
            "DYNAMIC_TOPIC_CONFIG:retention.ms=3600000, DEFAULT_CONFIG:log.retention.hours=168",
        )
    }

    # Dynamic broker configs: this broker's and the cluster default, Kafka's precedence.
    on_broker = [*configs, "--entity-type", "brokers", "--entity-name", "0"]
    on_default = [*configs, "--entity-type", "brokers", "--entity-default"]
    out = kafka(
        *on_default,
        "--alter",
        "--add-config",
        "log.retention.ms=7200000,log.cleaner.backoff.ms=5000",
    )
    assert out.strip() == "Completed updating default config for brokers in the cluster."
    out = kafka(
        *on_broker,
        "--alter",
        "--add-config",
        "log.retention.ms=1800000,sasl.kerberos.min.time.before.relogin=58000",
    )
    assert out.strip() == "Completed updating config for broker 0."
    out = kafka(*on_broker, "--describe")
    assert out.splitlines()[0] == "Dynamic configs for broker 0 are:"
    assert described_configs(out) == {
        "log.retention.ms": (
            "1800000",
            "DYNAMIC_BROKER_CONFIG:log.retention.ms=1800000, "
            "DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=7200000, "
            "DEFAULT_CONFIG:log.retention.hours=168",
        ),
        "sasl.kerberos.min.time.before.relogin": (
            "58000",
            "DYNAMIC_BROKER_CONFIG:sasl.kerberos.min.time.before.relogin=58000, "
            "DEFAULT_CONFIG:sasl.kerberos.min.time.before.relogin=60000",
        ),
    }
    out = kafka(*on_default, "--describe")
    assert out.splitlines()[0] == "Default configs for brokers in the cluster are:"
    assert {k: v for k, (v, _) in described_configs(out).items()} == {
        "log.cleaner.backoff.ms": "5000",
        "log.retention.ms": "7200000",
    }
    # The topic's own override wins; without it, the broker's dynamic value.
    kafka(*on_topic, "--alter", "--delete-config", "retention.ms")
    out = kafka(*on_topic, "--describe", "--all")
    assert described_configs(out)["retention.ms"][0] == "1800000"
    # A static key is refused, named; nothing changes.
    out = kafka(*on_broker, "--alter", "--add-config", "log.dirs=/elsewhere", ok=False)
    assert "InvalidRequestException: Cannot update these configs dynamically: Set(log.dirs)" in out
    # --delete-config puts the cluster default back in charge.
    kafka(
        *on_broker,
        "--alter",
        "--delete-config",
        "log.retention.ms,sasl.kerberos.min.time.before.relogin",
    )
    out = kafka(*on_topic, "--describe", "--all")
    assert described_configs(out)["retention.ms"][0] == "7200000"
    kafka(*on_default, "--alter", "--delete-config", "log.retention.ms,log.cleaner.backoff.ms")

    # Log levels (KIP-412): the broker's loggers, changed at run time.
    loggers = [*configs, "--entity-type", "broker-loggers", "--entity-name", "0"]
    kafka(*loggers, "--alter", "--add-config", "kafka_compat.broker=DEBUG")
    levels = {k: v for k, (v, _) in described_configs(kafka(*loggers, "--describe")).items()}
    assert levels["kafka_compat.broker"] == "DEBUG"
    assert levels["root"] in ("INFO", "WARN")
    out = kafka(*loggers, "--alter", "--delete-config", "root", ok=False)
    assert "Removing the log level of the root logger is not allowed" in out


def test_kafka_configs_connection_limits(served_broker, kafka):
    """Connection limits set with kafka-configs at the cluster default (a list value in
    brackets, a per-listener key) apply at once; Kafka's refusal of a zero limit."""
    from tests.integration import test_connection_limits as limits

    on_default = [
        "kafka-configs",
        "--bootstrap-server",
        served_broker.bootstrap,
        "--entity-type",
        "brokers",
        "--entity-default",
    ]
    keys = {
        "max.connections.per.ip": "2",
        "max.connections.per.ip.overrides": "127.0.0.1:1000,localhost:1000",
        "listener.name.plaintext.max.connection.creation.rate": "1000",
    }
    out = kafka(
        *on_default,
        "--alter",
        "--add-config",
        "max.connections.per.ip=2,max.connections.per.ip.overrides=[127.0.0.1:1000,localhost:1000],"
        "listener.name.plaintext.max.connection.creation.rate=1000",
    )
    assert out.strip() == "Completed updating default config for brokers in the cluster."
    try:
        shown = described_configs(kafka(*on_default, "--describe"))
        assert {k: v for k, (v, _) in shown.items() if k in keys} == keys
        # 127.0.0.2 is over its limit of 2; 127.0.0.1 (the tools, the test) is not.
        port = int(served_broker.bootstrap.rsplit(":", 1)[1])
        socks = [limits.open_raw(port, "127.0.0.2") for _ in range(3)]
        assert [limits.ask(s) for s in socks] == [True, True, False]
        for sock in socks:
            sock.close()
        out = kafka(
            *on_default,
            "--alter",
            "--add-config",
            "listener.name.plaintext.max.connections=0",
            ok=False,
        )
        assert "InvalidRequestException: Invalid max.connections 0" in out
    finally:
        kafka(*on_default, "--alter", "--delete-config", ",".join(keys))


# ---- a 3-broker cluster (ZooKeeper) ----


def broker_config(admin: AdminClient, broker_id: int, name: str) -> tuple[str, int]:
    """(value, source) of one of a broker's configs, as that broker describes it."""
    resource = ConfigResource(ResourceType.BROKER, str(broker_id))
    entry = admin.describe_configs([resource], request_timeout=30)[resource].result(timeout=30)[
        name
    ]
    return entry.value, entry.source


def test_kafka_configs_brokers_in_a_cluster(cluster_factory, kafka, unique, wait_for):
    cluster = cluster_factory(3)
    configs = ["kafka-configs", "--bootstrap-server", cluster.bootstrap, "--entity-type", "brokers"]
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    topic = unique("tools-cluster-configs")
    kafka(
        "kafka-topics",
        "--bootstrap-server",
        cluster.bootstrap,
        "--create",
        "--topic",
        topic,
        "--replica-assignment",
        "3:1",
    )

    # The cluster default reaches every broker (ZooKeeper's change notification) ...
    kafka(*configs, "--entity-default", "--alter", "--add-config", "message.max.bytes=2000")
    default = ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value
    for broker_id in (1, 2, 3):
        wait_for(
            lambda b=broker_id: broker_config(admin, b, "message.max.bytes") == ("2000", default),
            f"broker {broker_id} to take the cluster default",
        )
    # ... which applies it: broker 3 leads the topic and refuses a larger batch.
    producer = Producer({"bootstrap.servers": cluster.bootstrap})
    outcome: list = []
    producer.produce(topic, b"x" * 10000, on_delivery=lambda err, _msg: outcome.append(err))
    producer.flush(30)
    assert outcome[0] is not None and outcome[0].code() == KafkaError.MSG_SIZE_TOO_LARGE

    # A per-broker value: that broker only.
    kafka(*configs, "--entity-name", "2", "--alter", "--add-config", "message.max.bytes=5000")
    own = ConfigSource.DYNAMIC_BROKER_CONFIG.value
    assert broker_config(admin, 2, "message.max.bytes") == ("5000", own)
    out = kafka(*configs, "--entity-name", "2", "--describe")
    assert "  message.max.bytes=5000 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:" in out
    assert broker_config(admin, 1, "message.max.bytes") == ("2000", default)
    # A broker started later reads both levels from ZooKeeper.
    cluster.brokers[2].stop()
    cluster.brokers[2].start()
    cluster.wait_for_brokers()
    assert broker_config(admin, 2, "message.max.bytes") == ("5000", own)


def test_kafka_acls_add_list_remove_in_a_cluster(cluster_factory, kafka):
    """kafka-acls.sh against a ZooKeeper cluster with Kafka's authorizer: ACLs added
    through one broker are listed by another (kept in ZooKeeper), then removed."""
    cluster = cluster_factory(
        size=2,
        authorizer_class_name="kafka.security.authorizer.AclAuthorizer",
        allow_everyone_if_no_acl_found="true",
    )
    first, second = (["--bootstrap-server", b.bootstrap] for b in cluster.brokers.values())
    out = kafka(
        "kafka-acls",
        *first,
        "--add",
        "--allow-principal",
        "User:alice",
        "--operation",
        "Read",
        "--operation",
        "Describe",
        "--topic",
        "orders",
        "--group",
        "app-",
        "--resource-pattern-type",
        "prefixed",
    )
    assert "Adding ACLs for resource `ResourcePattern(resourceType=TOPIC, name=orders, " in out
    match = ["--resource-pattern-type", "match"]
    out = kafka("kafka-acls", *second, "--list", "--topic", "orders-eu", *match)
    assert "resourceType=TOPIC, name=orders, patternType=PREFIXED" in out
    assert "(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)" in out
    assert "(principal=User:alice, host=*, operation=DESCRIBE, permissionType=ALLOW)" in out
    alice_reads = ["--allow-principal", "User:alice", "--operation", "Read"]
    prefixed = ["--resource-pattern-type", "prefixed"]
    kafka("kafka-acls", *second, "--remove", "--force", *alice_reads, "--group", "app-", *prefixed)
    out = kafka("kafka-acls", *first, "--list", "--principal", "User:alice")
    assert "name=app-, patternType=PREFIXED" in out
    assert out.count("operation=READ") == 1  # the topic's; the group keeps DESCRIBE


def test_kafka_configs_client_quotas(served_broker, kafka):
    """kafka-configs --entity-type users/clients/ips: AlterClientQuotas and
    DescribeClientQuotas, with Kafka's output."""
    configs = ["kafka-configs", "--bootstrap-server", served_broker.bootstrap]
    client = [*configs, "--entity-type", "clients", "--entity-name", "tools-quota"]
    out = kafka(*client, "--alter", "--add-config", "producer_byte_rate=1024,request_percentage=50")
    assert out.strip() == "Completed updating config for client tools-quota."
    default_user_client = [
        *configs,
        *("--entity-type", "users", "--entity-default"),
        *("--entity-type", "clients", "--entity-name", "tools-quota"),
    ]
    kafka(*default_user_client, "--alter", "--add-config", "consumer_byte_rate=2048")
    ip = [*configs, "--entity-type", "ips", "--entity-name", "127.0.0.1"]
    out = kafka(*ip, "--alter", "--add-config", "connection_creation_rate=10")
    assert out.strip() == "Completed updating config for ip 127.0.0.1."
    assert kafka(*client, "--describe").strip() == (
        "Quota configs for client-id 'tools-quota' are producer_byte_rate=1024.0, "
        "request_percentage=50.0"
    )
    out = kafka(*configs, "--entity-type", "users", "--entity-type", "clients", "--describe")
    assert out.strip() == (
        "Quota configs for the default user-principal, client-id 'tools-quota' are "
        "consumer_byte_rate=2048.0"
    )
    out = kafka(*configs, "--entity-type", "ips", "--describe")
    assert out.strip() == "Quota configs for ip '127.0.0.1' are connection_creation_rate=10.0"
    kafka(*client, "--alter", "--delete-config", "request_percentage")
    assert kafka(*client, "--describe").strip() == (
        "Quota configs for client-id 'tools-quota' are producer_byte_rate=1024.0"
    )


def test_kafka_configs_controller_mutation_rate_applies(served_broker, kafka, unique):
    """controller_mutation_rate set with kafka-configs limits the partitions the client-id
    creates (the broker's bucket: 1 x controller.quota.window.num=11); deleted, it does
    not."""
    from kafka_compat.tools.connection import Connection
    from protocol import messages
    from protocol.api_keys import ApiKey
    from protocol.errors import ErrorCode

    client_id = unique("tools-mutations")
    configs = ["kafka-configs", "--bootstrap-server", served_broker.bootstrap]
    client = [*configs, "--entity-type", "clients", "--entity-name", client_id]
    kafka(*client, "--alter", "--add-config", "controller_mutation_rate=1")
    assert kafka(*client, "--describe").strip() == (
        f"Quota configs for client-id '{client_id}' are controller_mutation_rate=1.0"
    )
    Request = messages.request_type(ApiKey.CREATE_TOPICS)

    def create(conn: Connection, partitions: dict[str, int]) -> dict[str, int]:
        topics = [
            Request.CreatableTopic(
                name=name, num_partitions=n, replication_factor=1, assignments=[], configs=[]
            )
            for name, n in partitions.items()
        ]
        answer = conn.request(
            ApiKey.CREATE_TOPICS, Request(topics=topics, timeout_ms=30000, validate_only=False)
        )
        return {t.name: t.error_code for t in answer.topics}

    first, second, third = (unique(f"tools-mutations-{i}") for i in range(3))
    with Connection(served_broker.host, served_broker.port, 30, client_id=client_id) as conn:
        errors = create(conn, {first: 11, second: 1, third: 1})
        assert errors == {first: 0, second: 0, third: ErrorCode.THROTTLING_QUOTA_EXCEEDED}
    kafka(*client, "--alter", "--delete-config", "controller_mutation_rate")
    with Connection(served_broker.host, served_broker.port, 30, client_id=client_id) as conn:
        assert create(conn, {third: 50}) == {third: 0}
    topics = ["kafka-topics", "--bootstrap-server", served_broker.bootstrap]
    for topic in (first, second, third):
        kafka(*topics, "--delete", "--topic", topic)


# ---- over TLS and SASL (tests/security/matrix.py's broker), with --command-config ----


def command_config(secure_broker, tmp_path: Path, mode: str, **login: str) -> list[str]:
    """--bootstrap-server and --command-config (a client.properties) for the mode."""
    from tests.security.matrix import MODES, Mode

    mode_ = MODES[mode]
    if login:
        mode_ = Mode(mode_.name, mode_.listener, mode_.protocol, mode_.mechanism, **login)
    props = secure_broker.java(mode_)
    path = tmp_path / f"{mode}-{login.get('username', 'default')}.properties"
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return ["--bootstrap-server", props["bootstrap.servers"], "--command-config", str(path)]


def produce_one(conf: dict, topic: str, value: bytes) -> KafkaError | None:
    """One record with confluent-kafka: the delivery error, or None."""
    delivered: list[KafkaError | None] = []
    producer = Producer({**conf, "linger.ms": 0, "message.timeout.ms": 10000})
    producer.produce(topic, value, on_delivery=lambda err, _msg: delivered.append(err))
    assert producer.flush(30) == 0
    return delivered[0]


def test_kafka_configs_scram_users_and_kafka_acls_over_sasl_ssl(
    secure_broker, kafka, tmp_path, unique
):
    """An operator on SASL_SSL as the super user (SCRAM-SHA-512): kafka-configs creates a
    SCRAM user who then logs in, describes it; kafka-acls guards a topic for that user."""
    admin = command_config(
        secure_broker,
        tmp_path,
        "SASL_SSL-SCRAM-SHA-512",
        username="admin",
        password="admin-scram",
    )
    user = unique("carol")
    users = ["--entity-type", "users", "--entity-name", user]
    scram = "SCRAM-SHA-256=[iterations=8192,password=carol-pw]"
    out = kafka("kafka-configs", *admin, "--alter", *users, "--add-config", scram)
    assert f"Completed updating config for user {user}." in out

    from tests.security.matrix import MODES

    carol = secure_broker.librdkafka(
        MODES["SASL_SSL-SCRAM-SHA-256"], **{"sasl.username": user, "sasl.password": "carol-pw"}
    )
    topic = unique("guarded")
    assert produce_one(carol, topic, b"before any ACL") is None

    # An ACL on the topic: carol may write, alice (no ACL of hers) no longer.
    out = kafka(
        "kafka-acls",
        *admin,
        "--add",
        "--allow-principal",
        f"User:{user}",
        "--operation",
        "Write",
        "--operation",
        "Describe",
        "--topic",
        topic,
    )
    assert f"Adding ACLs for resource `ResourcePattern(resourceType=TOPIC, name={topic}, " in out
    out = kafka("kafka-acls", *admin, "--list", "--topic", topic)
    assert f"(principal=User:{user}, host=*, operation=WRITE, permissionType=ALLOW)" in out
    assert produce_one(carol, topic, b"allowed") is None
    alice = secure_broker.librdkafka(MODES["SASL_SSL-SCRAM-SHA-512"])
    denied = produce_one(alice, topic, b"denied")
    assert denied is not None and denied.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_kafka_configs_describe_scram_users_over_sasl_ssl(secure_broker, kafka, tmp_path, unique):
    admin = command_config(
        secure_broker,
        tmp_path,
        "SASL_SSL-SCRAM-SHA-512",
        username="admin",
        password="admin-scram",
    )
    user = unique("dave")
    users = ["--entity-type", "users", "--entity-name", user]
    scram = "SCRAM-SHA-512=[iterations=4096,password=dave-pw]"
    kafka("kafka-configs", *admin, "--alter", *users, "--add-config", scram)
    out = kafka("kafka-configs", *admin, "--describe", *users)
    expected = (
        f"SCRAM credential configs for user-principal '{user}' are SCRAM-SHA-512=iterations=4096"
    )
    assert expected in out


def test_kafka_topics_over_ssl_with_a_client_certificate(secure_broker, kafka, tmp_path, unique):
    ssl = command_config(secure_broker, tmp_path, "SSL-client-cert")
    topic = unique("over-ssl")
    kafka("kafka-topics", *ssl, "--create", "--topic", topic, "--partitions", "2")
    assert topic in kafka("kafka-topics", *ssl, "--list").split()

    # The certificate's principal is what ACLs name: denied Write, its producer is refused.
    from tests.security.certs import CLIENT_SUBJECT
    from tests.security.matrix import MODES

    admin = command_config(
        secure_broker,
        tmp_path,
        "SASL_SSL-SCRAM-SHA-512",
        username="admin",
        password="admin-scram",
    )
    principal = f"User:{CLIENT_SUBJECT}"
    out = kafka(
        "kafka-acls", *admin, "--add", "--deny-principal", principal, "--operation", "Write",
        "--topic", topic,
    )  # fmt: skip
    assert f"(principal={principal}, host=*, operation=WRITE, permissionType=DENY)" in out
    refused = produce_one(secure_broker.librdkafka(MODES["SSL-client-cert"]), topic, b"x")
    assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
