"""docs/security.md's full example (SASL_SSL + SCRAM + ACLs, brokers on mutual TLS)
run as written: its server.properties starts a broker (a single node: the
zookeeper.connect line left out), its first-user command creates `admin`, its
AdminClient snippet creates `alice` and her ACLs, and alice's documented client
configs (confluent-kafka, kcat, the Java client) produce and consume. Only the file
paths and addresses are replaced (certificates made here, ports picked at bind)."""

from __future__ import annotations

import datetime
import ipaddress
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import AdminClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests import installed
from tests.listening import wait_listening

GUARD_S = 30  # failure guard for waits, never a timing
ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
SECTION = "## A full example: SASL_SSL with SCRAM, ACLs, brokers on mutual TLS"


def blocks() -> list[tuple[str, str]]:
    """(language, text) of each fenced block of the example's section."""
    text = DOC.read_text()
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    return re.findall(r"```(\w+)\n(.*?)```", text[start:end], re.S)


def block(language: str, containing: str) -> str:
    found = [t for lang, t in blocks() if lang == language and containing in t]
    assert len(found) == 1, f"one {language} block with {containing!r}: {len(found)}"
    return found[0]


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "example"),
        ]
    )


def make_certs(directory: Path) -> None:
    """/etc/kafka-compat's files: ca.pem, broker.pem (CN=kafka0.internal,O=example)."""
    now = datetime.datetime.now(datetime.UTC)

    def cert(subject, key, signer, issuer, ca=False, san=()):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(list(san)), False)
        return builder.sign(signer, hashes.SHA256())

    pem = serialization.Encoding.PEM
    ca_key = ec.generate_private_key(ec.SECP256R1())
    # x509.Name lists O first in DER order: the subject reads CN=...,O=example.
    ca_name = x509.Name(list(reversed(list(_name("example CA")))))
    ca = cert(ca_name, ca_key, ca_key, ca_name, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    san = [
        x509.DNSName("localhost"),
        x509.DNSName("kafka0.internal"),
        x509.DNSName("kafka0.example.com"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    subject = x509.Name(list(reversed(list(_name("kafka0.internal")))))
    broker = cert(subject, key, ca_key, ca_name, san=san)
    directory.mkdir(parents=True)
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (directory / "broker.pem").write_bytes(
        key_pem + broker.public_bytes(pem) + ca.public_bytes(pem)
    )
    (directory / "broker.key").write_bytes(key_pem)
    (directory / "broker.crt").write_bytes(broker.public_bytes(pem))


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The example's broker, started as documented; (bootstrap, internal, etc dir)."""
    tmp = tmp_path_factory.mktemp("docs-example")
    etc = tmp / "etc"
    make_certs(etc)
    server = block("properties", "broker.id=0")
    server = re.sub(r"(?m)^zookeeper\.connect=.*\n", "", server)  # a single node
    for old, new in [
        ("/etc/kafka-compat/", f"{etc}/"),
        ("/var/lib/kafka-compat", str(tmp / "data")),
        ("0.0.0.0:9093", "127.0.0.1:0"),
        ("0.0.0.0:9094", "127.0.0.1:0"),
        ("kafka0.example.com:9093", "localhost:0"),
        ("kafka0.internal:9094", "localhost:0"),
    ]:
        assert old in server, old
        server = server.replace(old, new)
    (tmp / "server.properties").write_text(server)
    first_user = block("sh", "--add-scram")
    add_scram = re.search(r"--add-scram '([^']+)'", first_user)[1]
    log_path = tmp / "broker.log"
    command = [sys.executable, "-m", "kafka_compat", "serve", "--http-port", "0"]
    command += ["--config", str(tmp / "server.properties"), "--add-scram", add_scram]
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        wait_listening(proc, log_path, 0)
        ports = dict(re.findall(r"listener (\w+) \(\w+\) on [\d.]+:(\d+)", log_path.read_text()))
        yield f"localhost:{ports['CLIENT']}", f"localhost:{ports['INTERNAL']}", etc
    finally:
        proc.terminate()
        proc.wait(GUARD_S)


def documented(text: str, bootstrap: str, etc: Path) -> str:
    return text.replace("kafka0.example.com:9093", bootstrap).replace(
        "/etc/kafka-compat/", f"{etc}/"
    )


@pytest.fixture(scope="module")
def alice(example):
    """The AdminClient snippet run as admin: alice and her ACLs exist."""
    bootstrap, _, etc = example
    exec(documented(block("python", "alter_user_scram_credentials"), bootstrap, etc), {})
    return example


def test_alice_produces_and_consumes_with_the_documented_confluent_config(alice):
    bootstrap, _, etc = alice
    namespace: dict = {}
    exec(documented(block("python", "alice = {"), bootstrap, etc), namespace)
    producer, consumer = namespace["producer"], namespace["consumer"]
    delivered = []
    producer.produce(
        "orders", b"order from confluent-kafka", on_delivery=lambda e, m: delivered.append(e)
    )
    producer.flush(GUARD_S)
    assert delivered == [None]
    consumer.subscribe(["orders"])
    try:
        deadline = time.monotonic() + GUARD_S
        values = []
        while b"order from confluent-kafka" not in values:
            assert time.monotonic() < deadline, values
            msg = consumer.poll(0.5)
            if msg is not None:
                assert msg.error() is None, msg.error()
                values.append(msg.value())
    finally:
        consumer.close()
    # The ACLs are on: alice has nothing on other topics.
    errors = []
    producer.produce("payments", b"x", on_delivery=lambda err, msg: errors.append(err))
    producer.flush(GUARD_S)
    assert [e.code() for e in errors] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]


def test_the_documented_kcat_commands(alice):
    installed.kcat()
    bootstrap, _, etc = alice
    script = documented(block("sh", "kcat "), bootstrap, etc)
    done = subprocess.run(
        ["bash", "-ec", script], capture_output=True, text=True, timeout=GUARD_S * 2
    )
    assert done.returncode == 0, done.stderr
    assert "order 1" in done.stdout.splitlines()


def test_the_documented_java_client_properties(alice, tmp_path):
    installed.kafka_tools_classpath()
    bootstrap, _, etc = alice
    properties = tmp_path / "client.properties"
    properties.write_text(documented(block("properties", 'username="alice"'), bootstrap, etc))
    java = ["java", "-XX:TieredStopAtLevel=1", "-cp", installed.TOOLS_CLASSPATH.read_text().strip()]
    java.insert(
        1, f"-Dlog4j.configuration=file:{ROOT / 'compat-tests/kafka-tools/log4j.properties'}"
    )
    topic = ["--bootstrap-server", bootstrap, "--topic", "orders"]
    subprocess.run(
        [*java, "kafka.tools.ConsoleProducer", *topic, "--producer.config", str(properties)],
        input=b"order from java\n",
        check=True,
        timeout=180,
    )
    consumed = subprocess.run(
        [*java, "org.apache.kafka.tools.consumer.ConsoleConsumer", *topic]
        + ["--consumer.config", str(properties), "--group", "orders-app"]
        + ["--from-beginning", "--timeout-ms", "20000"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert "order from java" in consumed.stdout.splitlines(), consumed.stderr[-3000:]


def test_brokers_are_super_users_by_certificate_on_the_internal_listener(alice):
    _, internal, etc = alice
    as_broker = AdminClient(
        {
            "bootstrap.servers": internal,
            "security.protocol": "SSL",
            "ssl.ca.location": str(etc / "ca.pem"),
            "ssl.certificate.location": str(etc / "broker.crt"),
            "ssl.key.location": str(etc / "broker.key"),
        }
    )
    # No ACL names User:broker: it sees alice's topic as a super user.
    assert "orders" in as_broker.list_topics(timeout=GUARD_S).topics


TOOL_MAIN = {
    "kafka-topics.sh": "org.apache.kafka.tools.TopicCommand",
    "kafka-configs.sh": "kafka.admin.ConfigCommand",
    "kafka-acls.sh": "kafka.admin.AclCommand",
}


def test_the_documented_kafka_tools_commands(alice, tmp_path):
    """The kafka-topics/kafka-configs/kafka-acls block, for bob and his topic (alice
    and orders exist already), with admin.properties as the text describes it."""
    installed.kafka_tools_classpath()
    bootstrap, _, etc = alice
    admin = block("properties", 'username="alice"').replace("alice", "admin")
    (tmp_path / "admin.properties").write_text(documented(admin, bootstrap, etc))
    script = documented(block("sh", "--command-config"), bootstrap, etc)
    script = script.replace("alice", "bob").replace("orders", "invoices")
    script = script.replace("admin.properties", str(tmp_path / "admin.properties"))
    java = f"java -XX:TieredStopAtLevel=1 -Dlog4j.configuration=file:{ROOT}/compat-tests/"
    java += f"kafka-tools/log4j.properties -cp {installed.TOOLS_CLASSPATH.read_text().strip()}"
    for tool, main in TOOL_MAIN.items():
        script = script.replace(tool, f"{java} {main}")
    done = subprocess.run(["bash", "-ec", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    namespace: dict = {}
    client = block("python", "alice = {").replace("alice", "bob").replace("orders", "invoices")
    exec(documented(client, bootstrap, etc), namespace)
    delivered = []
    namespace["producer"].produce("invoices", b"i", on_delivery=lambda e, m: delivered.append(e))
    namespace["producer"].flush(GUARD_S)
    assert delivered == [None]
