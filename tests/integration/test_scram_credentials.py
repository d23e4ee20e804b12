"""DescribeUserScramCredentials / AlterUserScramCredentials over PLAINTEXT with
confluent-kafka's AdminClient (librdkafka salts the password itself), on one broker:
what a user managing SCRAM users would check, and Kafka's errors."""

from __future__ import annotations

import json

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from kafka_compat.cluster.store import LocalStore
from kafka_compat.security.credentials import ScramCredential
from kafka_compat.security.scram import ScramSaslServer
from tests.kafka_compat.test_scram import ScramClient, login

SHA256, SHA512 = ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512


def upsert(user: str, password: str, mechanism=SHA256, iterations: int = 4096):
    return UserScramCredentialUpsertion(
        user, ScramCredentialInfo(mechanism, iterations), password.encode()
    )


def alter(admin: AdminClient, alterations) -> dict[str, Exception | None]:
    outcome = {}
    for user, future in admin.alter_user_scram_credentials(alterations).items():
        try:
            future.result(timeout=30)
            outcome[user] = None
        except KafkaException as exc:
            outcome[user] = exc.args[0]
    return outcome


def describe_all(admin: AdminClient) -> dict[str, dict]:
    described = admin.describe_user_scram_credentials().result(timeout=30)
    return {
        user: {i.mechanism: i.iterations for i in d.scram_credential_infos}
        for user, d in described.items()
    }


@pytest.fixture
def admin(broker) -> AdminClient:
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def test_create_describe_and_delete_users(broker, admin) -> None:
    assert describe_all(admin) == {}
    outcome = alter(
        admin,
        [
            upsert("alice", "alice-secret"),
            upsert("alice", "alice-secret-512", SHA512, 8192),
            upsert("bob", "bob-secret"),
        ],
    )
    assert outcome == {"alice": None, "bob": None}
    assert describe_all(admin) == {"alice": {SHA256: 4096, SHA512: 8192}, "bob": {SHA256: 4096}}

    futures = admin.describe_user_scram_credentials(["bob"])
    assert [i.iterations for i in futures["bob"].result(timeout=30).scram_credential_infos] == [
        4096
    ]

    assert alter(admin, [UserScramCredentialDeletion("alice", SHA256)]) == {"alice": None}
    assert describe_all(admin) == {"alice": {SHA512: 8192}, "bob": {SHA256: 4096}}


def test_the_stored_credential_checks_the_password_and_is_not_the_password(broker, admin):
    assert alter(admin, [upsert("carol", "carol-pw-123")]) == {"carol": None}
    saved = json.loads((broker.data_dir / LocalStore.FILE_NAME).read_text())
    text = saved["user_configs"]["carol"]["SCRAM-SHA-256"]
    assert "carol-pw-123" not in json.dumps(saved)
    assert text.startswith("salt=") and text.endswith(",iterations=4096")
    ScramCredential.from_kafka(text)
    # The credential librdkafka derived logs in with the password, and only with it.
    creds = broker.broker.components.credentials
    login(
        ScramSaslServer("SCRAM-SHA-256", creds),
        ScramClient("SCRAM-SHA-256", "carol", "carol-pw-123"),
    )
    with pytest.raises(Exception, match="invalid credentials"):
        login(
            ScramSaslServer("SCRAM-SHA-256", creds), ScramClient("SCRAM-SHA-256", "carol", "nope")
        )


def test_credentials_survive_a_restart(broker, admin) -> None:
    assert alter(admin, [upsert("dave", "dave-pw")]) == {"dave": None}
    broker.restart()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    assert describe_all(admin) == {"dave": {SHA256: 4096}}


def test_errors(broker, admin) -> None:
    assert alter(admin, [upsert("erin", "pw")]) == {"erin": None}
    outcome = alter(
        admin,
        [
            upsert("few", "pw", iterations=1000),
            upsert("many", "pw", iterations=20000),
            upsert("twice", "pw"),
            upsert("twice", "pw2"),
            UserScramCredentialDeletion("ghost", SHA256),
            UserScramCredentialDeletion("erin", SHA512),
        ],
    )
    codes = {user: (exc.name(), exc.str()) for user, exc in outcome.items()}
    assert codes == {
        "few": ("UNACCEPTABLE_CREDENTIAL", "Too few iterations"),
        "many": ("UNACCEPTABLE_CREDENTIAL", "Too many iterations"),
        "twice": (
            "DUPLICATE_RESOURCE",
            "A user credential cannot be altered twice in the same request",
        ),
        "ghost": (
            "RESOURCE_NOT_FOUND",
            "Attempt to delete a user credential that does not exist",
        ),
        "erin": (
            "RESOURCE_NOT_FOUND",
            "Attempt to delete a user credential that does not exist",
        ),
    }
    # Nothing of a failed user was applied.
    assert describe_all(admin) == {"erin": {SHA256: 4096}}

    futures = admin.describe_user_scram_credentials(["erin", "nobody"])
    assert futures["erin"].result(timeout=30).user == "erin"
    with pytest.raises(KafkaException) as missing:
        futures["nobody"].result(timeout=30)
    assert missing.value.args[0].name() == "RESOURCE_NOT_FOUND"


def test_users_cli(broker, admin, capsys) -> None:
    from kafka_compat.cli import main

    server = ["--bootstrap-server", broker.bootstrap]
    assert main(["users", "set-password", "frank", "--password", "frank-pw", *server]) == 0
    assert (
        main(
            [
                "users",
                "set-password",
                "frank",
                "--mechanism",
                "SCRAM-SHA-512",
                "--iterations",
                "8192",
                "--password",
                "frank-pw",
                *server,
            ]
        )
        == 0
    )
    assert describe_all(admin) == {"frank": {SHA256: 4096, SHA512: 8192}}
    creds = broker.broker.components.credentials
    login(
        ScramSaslServer("SCRAM-SHA-512", creds), ScramClient("SCRAM-SHA-512", "frank", "frank-pw")
    )
    capsys.readouterr()
    assert main(["users", "list", *server]) == 0
    out = capsys.readouterr().out
    assert "frank" in out and "SCRAM-SHA-512 (iterations=8192)" in out
    assert main(["users", "describe", "nobody", *server]) == 1
    assert "does not exist: nobody" in capsys.readouterr().err
    assert (
        main(["users", "set-password", "x", "--iterations", "100", "--password", "p", *server]) == 1
    )
    assert "Too few iterations" in capsys.readouterr().err
    assert main(["users", "delete", "frank", "--mechanism", "SCRAM-SHA-256", *server]) == 0
    assert describe_all(admin) == {"frank": {SHA512: 8192}}
    assert main(["users", "delete", "frank", *server]) == 0
    assert describe_all(admin) == {}


def test_kafka_python_admin(broker) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin._users import ScramMechanism as KpMechanism
    from kafka.admin._users import UserScramCredentialDeletion as KpDeletion
    from kafka.admin._users import UserScramCredentialUpsertion as KpUpsertion

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        outcome = admin.alter_user_scram_credentials(
            [
                KpUpsertion("gina", "SCRAM-SHA-512", "gina-pw", iterations=4096),
                KpUpsertion("hank", "SCRAM-SHA-256", "hank-pw", iterations=100),
            ]
        )
        assert outcome == {"gina": None, "hank": "Too few iterations"}
        described = admin.describe_user_scram_credentials()
        assert described == {
            "gina": {
                "error": None,
                "credential_infos": [{"mechanism": KpMechanism.SCRAM_SHA_512, "iterations": 4096}],
            }
        }
        creds = broker.broker.components.credentials
        server = ScramSaslServer("SCRAM-SHA-512", creds)
        login(server, ScramClient("SCRAM-SHA-512", "gina", "gina-pw"))
        assert server.complete
        assert admin.alter_user_scram_credentials([KpDeletion("gina", "SCRAM-SHA-512")]) == {
            "gina": None
        }
        assert admin.describe_user_scram_credentials(["gina"])["gina"]["error"] == (
            "Attempt to describe a user credential that does not exist: gina"
        )
    finally:
        admin.close()


def test_users_cli_reads_the_password_from_stdin(broker, admin, monkeypatch) -> None:
    import io

    from kafka_compat.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO("from-stdin\n"))
    assert main(["users", "set-password", "ivy", "--bootstrap-server", broker.bootstrap]) == 0
    creds = broker.broker.components.credentials
    server = ScramSaslServer("SCRAM-SHA-256", creds)
    login(server, ScramClient("SCRAM-SHA-256", "ivy", "from-stdin"))
    assert server.complete
