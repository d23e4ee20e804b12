"""`kafka-compat serve --dev-tls` and `kafka-compat certs`: TLS and SCRAM for local
development in one flag.

In <data dir>/dev-tls/ (reused while still valid and naming the same hosts):

    ca.pem, ca.key          the development CA (its key signs the broker's certificate)
    broker.pem              the broker's key and chain in one PEM file (KIP-651)
    client.pem, client.key  a client certificate (for an SSL listener with client auth)
    truststore.p12          the CA as a Java PKCS12 trust store  } password in
    client.p12              the client key and chain as PKCS12   } settings.json
    settings.json           the SCRAM user and password, the PKCS12 password
    confluent_kafka.py, kafka_python.py, aiokafka.py, kafkajs.js, client.properties,
    kcat.conf               client configs, written once the broker is listening

`--dev-tls` keeps the PLAINTEXT listener (localhost:9092 by default) and adds a
SASL_SSL listener (9093 by default) with SCRAM-SHA-256 and SCRAM-SHA-512, and a SCRAM
user the broker creates before it listens (Broker.bootstrap_scram_users).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "DEFAULT_PORT",
    "LISTENER",
    "DevTls",
    "broker_overrides",
    "client_configs",
    "ensure_dev_tls",
    "write_client_configs",
]

LISTENER = "SASL_SSL"
DEFAULT_PORT = 9093
DEFAULT_USER = "dev"
MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
CA_DAYS = 3650
LEAF_DAYS = 825
RENEW_BEFORE = datetime.timedelta(days=30)  # a certificate closer to expiry is remade


@dataclass
class DevTls:
    """The files of a dev-tls directory, and what they were made for."""

    directory: Path
    names: list[str]  # the broker certificate's SANs
    user: str
    password: str
    store_password: str  # of truststore.p12 and client.p12
    made: list[str]  # the files made now (empty: every one reused)

    def path(self, name: str) -> Path:
        return self.directory / name

    @property
    def ca(self) -> Path:
        return self.path("ca.pem")

    @property
    def broker_pem(self) -> Path:
        return self.path("broker.pem")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _cert(
    subject: str, ca: x509.Certificate | None, ca_key, key, *, days: int, san=None, usage=None
):
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kafka-compat dev"),
            x509.NameAttribute(NameOID.COMMON_NAME, subject),
        ]
    )
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca.subject if ca is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca is None, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_san(n) for n in san]), critical=False
        )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    return builder.sign(ca_key if ca is not None else key, hashes.SHA256())


def _pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes | str, private: bool = False) -> None:
    """Write through a temporary file (a crash leaves the old file or the new one)."""
    tmp = path.with_name(path.name + ".tmp")
    data = data.encode() if isinstance(data, str) else data
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _fresh(cert: x509.Certificate) -> bool:
    return cert.not_valid_after_utc - RENEW_BEFORE > _now() >= cert.not_valid_before_utc


def _load_leaf(path: Path, ca: x509.Certificate):
    """(key, cert) from a key + chain PEM file signed by `ca` and not expiring soon."""
    try:
        data = path.read_bytes()
        key = serialization.load_pem_private_key(data, None)
        cert = x509.load_pem_x509_certificates(data)[0]
        cert.verify_directly_issued_by(ca)
    except (OSError, ValueError, TypeError, IndexError):
        return None
    if not _fresh(cert) or cert.public_key() != key.public_key():
        return None
    return key, cert


def _sans(cert: x509.Certificate) -> set[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(n) for n in ext.get_values_for_type(x509.DNSName)} | {
        str(n) for n in ext.get_values_for_type(x509.IPAddress)
    }


def cert_names(hosts: list[str]) -> list[str]:
    """The broker certificate's SANs: localhost, 127.0.0.1, ::1 and the hosts given
    (a wildcard bind address such as 0.0.0.0 is no name)."""
    names = ["localhost", "127.0.0.1", "::1"]
    for host in hosts:
        host = host.strip().strip("[]")
        if host and host not in ("0.0.0.0", "::") and host not in names:
            names.append(host)
    return names


def ensure_dev_tls(directory: Path, hosts: list[str], user: str | None = None) -> DevTls:
    """Make what is missing or stale in `directory`, reuse the rest: the CA while it is
    valid (so clients keep trusting it), the broker certificate while it is valid and
    names every host, the client certificate while valid; the SCRAM user and password
    (settings.json) unless `user` ("name:password") says otherwise."""
    directory = directory.resolve()  # the configs name files by absolute path
    directory.mkdir(parents=True, exist_ok=True)
    settings_path = directory / "settings.json"
    try:
        settings = json.loads(settings_path.read_text())
    except (OSError, ValueError):
        settings = {}
    made: list[str] = []
    if user is not None:
        name, sep, password = user.partition(":")
        if not (sep and name and password):
            raise ValueError(f"--dev-user expects NAME:PASSWORD, got {user!r}")
        settings.update(user=name, password=password)
    settings.setdefault("user", DEFAULT_USER)
    settings.setdefault("password", secrets.token_hex(12))
    new_store_password = "store_password" not in settings
    settings.setdefault("store_password", secrets.token_hex(8))
    store_password = settings["store_password"].encode()
    names = cert_names(hosts)

    ca_key = ca = None
    try:
        ca = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
        ca_key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
        if not _fresh(ca) or ca.public_key() != ca_key.public_key():
            ca = None
    except (OSError, ValueError, TypeError):
        ca = None
    if ca is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _cert("kafka-compat dev CA", None, None, ca_key, days=CA_DAYS)
        _write(directory / "ca.key", _pem_key(ca_key), private=True)
        _write(directory / "ca.pem", _pem(ca))
        made += ["ca.pem", "ca.key"]
    if "ca.pem" in made or new_store_password or not (directory / "truststore.p12").exists():
        encryption = serialization.BestAvailableEncryption(store_password)
        _write(
            directory / "truststore.p12",
            pkcs12.serialize_java_truststore(
                [pkcs12.PKCS12Certificate(ca, b"kafka-compat-dev-ca")], encryption
            ),
        )
        made.append("truststore.p12")

    broker = _load_leaf(directory / "broker.pem", ca)
    if broker is None or not set(names) <= _sans(broker[1]):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(
            names[3] if len(names) > 3 else "localhost",
            ca,
            ca_key,
            key,
            days=LEAF_DAYS,
            san=names,
            usage=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        )
        _write(directory / "broker.pem", _pem_key(key) + _pem(cert) + _pem(ca), private=True)
        made.append("broker.pem")
    else:
        names = names + sorted(_sans(broker[1]) - set(names))

    client = _load_leaf(directory / "client.key.pem", ca)
    if client is None:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(
            settings["user"],
            ca,
            ca_key,
            key,
            days=LEAF_DAYS,
            usage=[ExtendedKeyUsageOID.CLIENT_AUTH],
        )
        # client.key.pem keeps both for the check above; client.pem/.key are what
        # clients are given.
        _write(directory / "client.key.pem", _pem_key(key) + _pem(cert) + _pem(ca), private=True)
        _write(directory / "client.pem", _pem(cert) + _pem(ca))
        _write(directory / "client.key", _pem_key(key), private=True)
        client = key, cert
        made += ["client.pem", "client.key"]
    if "client.pem" in made or new_store_password or not (directory / "client.p12").exists():
        _write(
            directory / "client.p12",
            pkcs12.serialize_key_and_certificates(
                b"client",
                client[0],
                client[1],
                [ca],
                serialization.BestAvailableEncryption(store_password),
            ),
            private=True,
        )
        made.append("client.p12")
    _write(settings_path, json.dumps(settings, indent=2) + "\n", private=True)
    return DevTls(
        directory, names, settings["user"], settings["password"], settings["store_password"], made
    )


def broker_overrides(tls: DevTls, config, port: int = DEFAULT_PORT) -> dict[str, str]:
    """server.properties keys that add the SASL_SSL listener (on the first listener's
    host, advertised at the first listener's advertised host) to `config`'s listeners."""
    if any(e.listener == LISTENER for e in config.listeners):
        raise ValueError(
            f"--dev-tls adds a listener named {LISTENER}, and the config has one already"
        )
    first = config.listeners[0]
    advertised = [f"{e.listener}://{e.host}:{e.port}" for e in config.advertised_listeners]
    keys = {
        "listeners": ",".join(
            [*(f"{e.listener}://{e.host}:{e.port}" for e in config.listeners)]
            + [f"{LISTENER}://{first.host}:{port}"]
        ),
        "advertised.listeners": ",".join(
            [*advertised, f"{LISTENER}://{config.advertised_host}:{port}"]
        ),
    }
    if "listener.security.protocol.map" in config.explicit:
        keys["listener.security.protocol.map"] = (
            config.explicit["listener.security.protocol.map"] + f",{LISTENER}:{LISTENER}"
        )
    return keys | listener_keys(tls)


def listener_keys(tls: DevTls) -> dict[str, str]:
    """The SASL_SSL listener's keys: the PEM key store and SCRAM-SHA-256/512."""
    prefix = f"listener.name.{LISTENER.lower()}."
    keys = {
        f"{prefix}ssl.keystore.type": "PEM",
        f"{prefix}ssl.keystore.location": str(tls.broker_pem),
        f"{prefix}sasl.enabled.mechanisms": ",".join(MECHANISMS),
    }
    for mechanism in MECHANISMS:
        keys[f"{prefix}{mechanism.lower()}.sasl.jaas.config"] = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        )
    return keys


def _jaas_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def client_configs(tls: DevTls, bootstrap: str, mechanism: str = "SCRAM-SHA-512") -> dict[str, str]:
    """File name -> a client config for `bootstrap` (host:port of the SASL_SSL listener)."""
    ca, user, password = str(tls.ca), tls.user, tls.password
    librdkafka = {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": ca,
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
    }
    confluent = "".join(f"    {k!r}: {v!r},\n" for k, v in librdkafka.items())
    kafka_python = (
        f"    bootstrap_servers={bootstrap!r},\n"
        '    security_protocol="SASL_SSL",\n'
        f"    ssl_cafile={ca!r},\n"
        f"    sasl_mechanism={mechanism!r},\n"
        f"    sasl_plain_username={user!r},\n"
        f"    sasl_plain_password={password!r},\n"
    )
    aiokafka = kafka_python.replace(
        f"ssl_cafile={ca!r}", f"ssl_context=create_ssl_context(cafile={ca!r})"
    )
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f"username={_jaas_quote(user)} password={_jaas_quote(password)};"
    )
    kcat = {k: v for k, v in librdkafka.items() if k != "sasl.mechanism"}
    kcat["sasl.mechanisms"] = mechanism
    return {
        "confluent_kafka.py": (
            "# confluent-kafka: Producer(config), Consumer({**config, 'group.id': 'g'}),\n"
            "# AdminClient(config)\n"
            f"config = {{\n{confluent}}}\n"
        ),
        "kafka_python.py": (
            "# kafka-python: KafkaProducer(**kwargs), KafkaConsumer('topic', **kwargs)\n"
            f"kwargs = dict(\n{kafka_python})\n"
        ),
        "aiokafka.py": (
            "# aiokafka: AIOKafkaProducer(**kwargs), AIOKafkaConsumer('topic', **kwargs)\n"
            "from aiokafka.helpers import create_ssl_context\n\n"
            f"kwargs = dict(\n{aiokafka})\n"
        ),
        "kafkajs.js": (
            "// KafkaJS: new Kafka(require('./kafkajs.js'))\n"
            "const fs = require('fs');\n"
            "module.exports = {\n"
            f"  brokers: [{json.dumps(bootstrap)}],\n"
            f"  ssl: {{ ca: [fs.readFileSync({json.dumps(ca)}, 'utf-8')] }},\n"
            f"  sasl: {{ mechanism: {json.dumps(mechanism.lower())}, "
            f"username: {json.dumps(user)}, password: {json.dumps(password)} }},\n"
            "};\n"
        ),
        "client.properties": (
            "# Java client: kafka-console-producer.sh --producer.config client.properties\n"
            f"bootstrap.servers={bootstrap}\n"
            "security.protocol=SASL_SSL\n"
            "ssl.truststore.type=PKCS12\n"
            f"ssl.truststore.location={tls.path('truststore.p12')}\n"
            f"ssl.truststore.password={tls.store_password}\n"
            f"# or: ssl.truststore.type=PEM and ssl.truststore.location={ca}\n"
            f"sasl.mechanism={mechanism}\n"
            f"sasl.jaas.config={jaas}\n"
        ),
        "kcat.conf": ("# kcat -F kcat.conf -L\n" + "".join(f"{k}={v}\n" for k, v in kcat.items())),
    }


def write_client_configs(tls: DevTls, bootstrap: str) -> str:
    """Write the client configs into the dev-tls directory; the text to print."""
    configs = client_configs(tls, bootstrap)
    for name, text in configs.items():
        _write(tls.path(name), text, private=True)
    kcat_flags = " ".join(
        f"-X {line}" for line in configs["kcat.conf"].splitlines() if not line.startswith("#")
    )
    return "\n".join(
        [
            f"SASL_SSL (SCRAM-SHA-256, SCRAM-SHA-512) on {bootstrap}: user {tls.user!r}, "
            f"password {tls.password!r}",
            f"CA {tls.ca}; PKCS12 stores (truststore.p12, client.p12) password "
            f"{tls.store_password!r}",
            f"Client configs in {tls.directory}/ (confluent_kafka.py, kafka_python.py, "
            "aiokafka.py, kafkajs.js, client.properties, kcat.conf):",
            "",
            configs["confluent_kafka.py"],
            configs["kafka_python.py"],
            "# Java client.properties",
            *[line for line in configs["client.properties"].splitlines()[1:]],
            "",
            f"kcat {kcat_flags} -L",
            "",
        ]
    )


def server_properties(tls: DevTls, port: int = DEFAULT_PORT) -> str:
    """A server.properties fragment for these files (`kafka-compat certs`)."""
    keys = {
        "listeners": f"PLAINTEXT://127.0.0.1:9092,{LISTENER}://0.0.0.0:{port}",
        "advertised.listeners": f"PLAINTEXT://localhost:9092,{LISTENER}://localhost:{port}",
        **listener_keys(tls),
    }
    return (
        "# The SCRAM user: kafka-compat users set-password "
        f"{tls.user} --mechanism SCRAM-SHA-512 --bootstrap-server localhost:9092\n"
        + "".join(f"{k}={v}\n" for k, v in keys.items())
    )
