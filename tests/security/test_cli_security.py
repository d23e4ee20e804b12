"""The CLI tools log in the way Kafka's scripts do, with `--command-config` client
properties: SASL PLAIN and SCRAM-SHA-256 on a SASL_PLAINTEXT listener, a client
certificate on an SSL listener with client auth required. A wrong password or a
missing login ends with exit status 1 and the reason on stderr."""

from __future__ import annotations

import io

import pytest

from kafka_compat import cli
from kafka_compat.security.credentials import ScramCredential
from tests.conftest import BrokerHandle
from tests.security.certs import make_certs

PLAIN_JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'username="admin" password="admin-pw" user_admin="admin-pw";'
)


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    certs = make_certs(tmp_path_factory.mktemp("certs"))
    handle = BrokerHandle(
        tmp_path_factory.mktemp("cli-secured"),
        {
            "listeners": "SASL_PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
            "security.inter.broker.protocol": "SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": PLAIN_JAAS,
            "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "listener.name.ssl.ssl.keystore.type": "PEM",
            "listener.name.ssl.ssl.keystore.location": str(certs.broker_keystore),
            "listener.name.ssl.ssl.truststore.type": "PEM",
            "listener.name.ssl.ssl.truststore.location": str(certs.ca),
            "listener.name.ssl.ssl.client.auth": "required",
        },
    )
    handle.start()
    configs = {"SCRAM-SHA-256": ScramCredential.from_password("SCRAM-SHA-256", "bob-pw").to_kafka()}
    handle.call(handle.broker.store.update_user_configs, "bob", configs, set())
    yield handle, certs
    handle.stop()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def properties(tmp_path, name: str, **props: str) -> str:
    path = tmp_path / name
    path.write_text("".join(f"{k.replace('_', '.')}={v}\n" for k, v in props.items()))
    return str(path)


def test_the_command_config_is_read_as_java_reads_it(secured, capsys, tmp_path):
    # Kafka's docs split sasl.jaas.config over lines ending in a backslash; `key: value`
    # and `key value` are Java's other forms; `\-` is an escaped `-`.
    handle, _ = secured
    server = ("--bootstrap-server", f"127.0.0.1:{handle.broker.bound_ports['SASL_PLAINTEXT']}")
    path = tmp_path / "client.properties"
    path.write_text(
        "# a client config\n"
        "security.protocol: SASL_PLAINTEXT\n"
        "sasl.mechanism PLAIN\n"
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\\n"
        '    username="admin" \\\n'
        '    password="admin\\-pw";\n'
    )
    code, out, err = run(capsys, "topics", "--list", "--command-config", str(path), *server)
    assert code == 0, err


def test_sasl_plain_and_scram_logins(secured, capsys, tmp_path, monkeypatch):
    handle, _ = secured
    server = ("--bootstrap-server", f"127.0.0.1:{handle.broker.bound_ports['SASL_PLAINTEXT']}")
    plain = properties(
        tmp_path, "plain.properties", security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
        sasl_jaas_config=PLAIN_JAAS.split(" user_admin")[0] + ";",
    )  # fmt: skip
    login = ("--command-config", plain, *server)
    assert run(capsys, "topics", "--create", "--topic", "secure", *login)[0] == 0
    assert "secure" in run(capsys, "topics", "--list", *login)[1].split()

    scram_jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="bob" password="bob-pw";'
    )
    scram = properties(
        tmp_path, "scram.properties", security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256", sasl_jaas_config=scram_jaas,
    )  # fmt: skip
    monkeypatch.setattr("sys.stdin", io.StringIO("over scram\n"))
    assert run(capsys, "produce", "--topic", "secure", "--command-config", scram, *server)[0] == 0
    code, out, _ = run(
        capsys, "consume", "--topic", "secure", "--from-beginning", "--max-messages", "1",
        "--command-config", scram, *server,
    )  # fmt: skip
    assert (code, out) == (0, "over scram\n")

    wrong = properties(
        tmp_path, "wrong.properties", security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256", sasl_jaas_config=scram_jaas.replace("bob-pw", "nope"),
    )  # fmt: skip
    code, _, err = run(capsys, "topics", "--list", "--command-config", wrong, *server)
    assert code == 1 and "authentication failed" in err
    code, _, err = run(capsys, "topics", "--list", *server)  # no login at all
    assert code == 1 and err.startswith("kafka-compat: "), err
    bad = properties(tmp_path, "bad.properties", security_protocol="KERBEROS")
    assert run(capsys, "topics", "--list", "--command-config", bad, *server)[0] == 2


def test_tls_with_a_client_certificate(secured, capsys, tmp_path):
    handle, certs = secured
    server = ("--bootstrap-server", f"127.0.0.1:{handle.broker.bound_ports['SSL']}")
    keystore = tmp_path / "client.pem"  # Kafka's PEM keystore: key and chain in one file
    keystore.write_text(certs.client_key.read_text() + certs.client_cert.read_text())
    tls = properties(
        tmp_path, "tls.properties", security_protocol="SSL", ssl_truststore_type="PEM",
        ssl_truststore_location=str(certs.ca), ssl_keystore_type="PEM",
        ssl_keystore_location=str(keystore),
    )  # fmt: skip
    code, out, _ = run(
        capsys, "topics", "--create", "--topic", "over-tls", "--command-config", tls, *server
    )
    assert (code, out) == (0, "Created topic over-tls.\n")
    without_cert = properties(
        tmp_path, "nocert.properties", security_protocol="SSL",
        ssl_truststore_location=str(certs.ca),
    )  # fmt: skip
    code, _, err = run(capsys, "topics", "--list", "--command-config", without_cert, *server)
    assert code == 1 and err.startswith("kafka-compat: "), err
