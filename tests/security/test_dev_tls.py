"""`kafka-compat serve --dev-tls` and `kafka-compat certs`: a broker process started
as a developer would, and the client configs it prints and writes used unchanged by
confluent-kafka, kafka-python, aiokafka, kcat, KafkaJS and the Java client (Kafka's
console tools), over SASL_SSL with SCRAM-SHA-512 and SCRAM-SHA-256."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient
from cryptography import x509
from kafka import KafkaConsumer, KafkaProducer

from kafka_compat.config import load_broker_config
from kafka_compat.properties import parse_properties
from kafka_compat.security.tls import server_context
from tests import installed
from tests.listening import wait_listening

GUARD_S = 30  # failure guard for waits, never a timing
ROOT = Path(__file__).resolve().parents[2]
_ANNOUNCED = re.compile(rb"--dev-tls: PLAINTEXT on ([\d.]+):(\d+), SASL_SSL on ([\w.]+):(\d+)")


class DevBroker:
    """`python -m kafka_compat serve --dev-tls` on free ports, output in a log file."""

    def __init__(self, data_dir: Path, *extra: str):
        self.data_dir = data_dir
        self.extra = extra
        self.log_path = data_dir.with_name(data_dir.name + ".log")
        self.proc: subprocess.Popen[bytes] | None = None
        self.output = ""

    @property
    def files(self) -> Path:
        return self.data_dir / "dev-tls"

    def start(self) -> None:
        command = [sys.executable, "-m", "kafka_compat", "serve", "--dev-tls"]
        command += ["--port", "0", "--dev-tls-port", "0", "--http-port", "0"]
        command += ["--data-dir", str(self.data_dir)]
        command += self.extra
        with open(self.log_path, "ab") as log_file:
            since = log_file.tell()
            self.proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
        wait_listening(self.proc, self.log_path, since)
        # The configs are printed (and written) once every listener is bound.
        deadline = time.monotonic() + GUARD_S
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as log_file:
                log_file.seek(since)
                text = log_file.read()
            found = _ANNOUNCED.search(text)
            if found and b"kcat -X" in text[found.end() :]:
                self.output = text.decode()
                self.plaintext = f"{found[1].decode()}:{found[2].decode()}"
                self.sasl_ssl = f"{found[3].decode()}:{found[4].decode()}"
                return
            time.sleep(0.05)
        raise AssertionError(f"no --dev-tls announcement: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(GUARD_S)

    def config(self, name: str) -> dict:
        """The namespace of a written Python config file (confluent_kafka.py...)."""
        namespace: dict = {}
        exec((self.files / name).read_text(), namespace)
        return namespace


@pytest.fixture(scope="module")
def dev_broker(tmp_path_factory):
    broker = DevBroker(tmp_path_factory.mktemp("dev-tls") / "data")
    broker.start()
    yield broker
    broker.stop()


def topic_name() -> str:
    return f"dev-{uuid.uuid4().hex[:8]}"


def confluent_roundtrip(config: dict, topic: str) -> list[bytes]:
    producer = Producer(config)
    producer.produce(topic, b"over SASL_SSL")
    assert producer.flush(GUARD_S) == 0
    consumer = Consumer({**config, "group.id": topic, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + GUARD_S
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                return [msg.value()]
        return []
    finally:
        consumer.close()


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256"])
def test_confluent_kafka_config_as_written(dev_broker, mechanism):
    config = dev_broker.config("confluent_kafka.py")["config"]
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    config["sasl.mechanism"] = mechanism
    assert confluent_roundtrip(config, topic_name()) == [b"over SASL_SSL"]


def test_the_printed_dict_is_the_written_one(dev_broker):
    written = (dev_broker.files / "confluent_kafka.py").read_text()
    assert written.split("config = ", 1)[1] in dev_broker.output
    assert f"SASL_SSL on {dev_broker.sasl_ssl}" in dev_broker.output
    # PLAINTEXT stays, for tools and tests that do not care.
    assert confluent_roundtrip({"bootstrap.servers": dev_broker.plaintext}, topic_name()) == [
        b"over SASL_SSL"
    ]


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256"])
def test_kafka_python_kwargs_as_written(dev_broker, mechanism):
    kwargs = {**dev_broker.config("kafka_python.py")["kwargs"], "sasl_mechanism": mechanism}
    topic = topic_name()
    producer = KafkaProducer(**kwargs)
    producer.send(topic, b"from kafka-python").get(timeout=GUARD_S)
    producer.close()
    consumer = KafkaConsumer(
        topic, auto_offset_reset="earliest", consumer_timeout_ms=GUARD_S * 1000, **kwargs
    )
    try:
        assert [m.value for m in consumer][:1] == [b"from kafka-python"]
    finally:
        consumer.close()


def test_aiokafka_kwargs_as_written(dev_broker):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    async def roundtrip() -> bytes:
        kwargs = dev_broker.config("aiokafka.py")["kwargs"]  # an SSLContext: in the loop
        topic = topic_name()
        producer = AIOKafkaProducer(**kwargs)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"from aiokafka")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(topic, auto_offset_reset="earliest", **kwargs)
        await consumer.start()
        try:
            return (await asyncio.wait_for(consumer.getone(), GUARD_S)).value
        finally:
            await consumer.stop()

    assert asyncio.run(roundtrip()) == b"from aiokafka"


@pytest.mark.parametrize("form", ["file", "flags"])
def test_kcat_as_written_and_printed(dev_broker, form):
    installed.kcat()
    if form == "file":
        security = ["-F", str(dev_broker.files / "kcat.conf")]
    else:
        line = next(x for x in dev_broker.output.splitlines() if x.startswith("kcat -X"))
        security = line.split()[1:-1]  # the printed flags, without "kcat" and "-L"
        security[security.index("sasl.mechanisms=SCRAM-SHA-512")] = "sasl.mechanisms=SCRAM-SHA-256"
    topic = topic_name()
    kcat = ["kcat", *security, "-t", topic]
    subprocess.run([*kcat, "-P"], input=b"from kcat\n", check=True, timeout=GUARD_S)
    consumed = subprocess.run(
        [*kcat, "-C", "-o", "beginning", "-c", "1", "-e"],
        capture_output=True,
        check=True,
        timeout=GUARD_S,
    )
    assert consumed.stdout == b"from kcat\n"


def test_wrong_password_fails_clearly(dev_broker):
    config = {**dev_broker.config("confluent_kafka.py")["config"], "sasl.password": "wrong"}
    errors: list[KafkaError] = []
    admin = AdminClient({**config, "error_cb": errors.append})
    deadline = time.monotonic() + GUARD_S
    while not any(e.code() == KafkaError._AUTHENTICATION for e in errors):
        assert time.monotonic() < deadline, f"no authentication error, only {errors}"
        admin.poll(0.2)
    message = next(e for e in errors if e.code() == KafkaError._AUTHENTICATION).str()
    assert (
        "Authentication failed during authentication due to invalid credentials with "
        "SASL mechanism SCRAM-SHA-512" in message
    )


@pytest.mark.parametrize("truststore", ["PKCS12", "PEM"])
def test_java_client_properties_as_written(dev_broker, tmp_path, truststore):
    installed.kafka_tools_classpath()
    properties = (dev_broker.files / "client.properties").read_text()
    if truststore == "PEM":  # the alternative the file names in a comment
        properties = re.sub(r"(?m)^ssl\.truststore\.(type|location|password)=.*\n", "", properties)
        properties += (
            f"ssl.truststore.type=PEM\nssl.truststore.location={dev_broker.files / 'ca.pem'}\n"
        )
        (tmp_path / "client.properties").write_text(properties)
        path = tmp_path / "client.properties"
    else:
        path = dev_broker.files / "client.properties"
    classpath = installed.TOOLS_CLASSPATH.read_text().strip()
    log4j = ROOT / "compat-tests" / "kafka-tools" / "log4j.properties"
    java = ["java", "-XX:TieredStopAtLevel=1", f"-Dlog4j.configuration=file:{log4j}"]
    java += ["-cp", classpath]
    topic = topic_name()
    bootstrap = ["--bootstrap-server", dev_broker.sasl_ssl, "--topic", topic]
    subprocess.run(
        [*java, "kafka.tools.ConsoleProducer", *bootstrap, "--producer.config", str(path)],
        input=b"from java\n",
        check=True,
        timeout=180,
    )
    consumed = subprocess.run(
        [
            *java,
            "org.apache.kafka.tools.consumer.ConsoleConsumer",
            *bootstrap,
            "--consumer.config",
            str(path),
            "--from-beginning",
            "--max-messages",
            "1",
        ],
        capture_output=True,
        timeout=180,
    )
    assert consumed.returncode == 0, consumed.stderr.decode()[-3000:]
    assert consumed.stdout == b"from java\n"


def test_second_start_reuses_the_files_and_the_user(tmp_path):
    broker = DevBroker(tmp_path / "data", "--dev-user", "alice:alice-secret")
    broker.start()
    try:
        before = {p.name: p.read_bytes() for p in broker.files.iterdir()}
        assert "made ca.pem, ca.key" in broker.output
    finally:
        broker.stop()
    broker.start()
    try:
        assert "(reused)" in broker.output
        for name in ("ca.pem", "broker.pem", "client.pem", "truststore.p12", "settings.json"):
            assert (broker.files / name).read_bytes() == before[name], name
        config = broker.config("confluent_kafka.py")["config"]
        assert (config["sasl.username"], config["sasl.password"]) == ("alice", "alice-secret")
        assert confluent_roundtrip(config, topic_name()) == [b"over SASL_SSL"]
    finally:
        broker.stop()


def _sans(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificates(path.read_bytes())[0]
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n.value) for n in names}


def test_certs_command_makes_the_files_and_remakes_the_broker_certificate_for_new_names(
    tmp_path,
):
    def certs(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "kafka_compat", "certs", "--data-dir", str(tmp_path), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=GUARD_S,
        )
        return done.stdout

    out = certs("--host", "kafka.dev.local")
    files = tmp_path / "dev-tls"
    assert _sans(files / "broker.pem") == {"localhost", "127.0.0.1", "::1", "kafka.dev.local"}
    # The fragment is a valid config for the broker (its listeners, stores, SCRAM).
    fragment = parse_properties((files / "server.properties").read_text())
    config = load_broker_config(None, fragment)
    assert [(e.listener, e.port) for e in config.listeners] == [
        ("PLAINTEXT", 9092),
        ("SASL_SSL", 9093),
    ]
    server_context(config, "SASL_SSL", sasl=True)  # the key store loads
    assert "ssl.truststore.password=" in out
    ca = (files / "ca.pem").read_bytes()
    assert "Reused every file" in certs("--host", "kafka.dev.local")
    out = certs("--host", "10.1.2.3")
    assert "Made broker.pem" in out
    assert "10.1.2.3" in _sans(files / "broker.pem")
    assert (files / "ca.pem").read_bytes() == ca  # clients keep trusting it


_KAFKAJS_ROUNDTRIP = """
const { Kafka, logLevel } = require(process.argv[1]);
const config = require(process.argv[2]);
const topic = process.argv[3];
(async () => {
  const kafka = new Kafka({ ...config, clientId: "dev-tls", logLevel: logLevel.ERROR });
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, messages: [{ value: "from kafkajs" }] });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: topic });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise((resolve) => {
    consumer.run({ eachMessage: async ({ message }) => {
      console.log(message.value.toString());
      resolve();
    } });
  });
  await consumer.disconnect();
})().catch((e) => { console.error(e); process.exit(1); });
"""


def test_kafkajs_config_as_written(dev_broker):
    installed.kafkajs()
    done = subprocess.run(
        [
            "node",
            "-e",
            _KAFKAJS_ROUNDTRIP,
            str(installed.KAFKAJS),
            str(dev_broker.files / "kafkajs.js"),
        ]
        + [topic_name()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == "from kafkajs"
