"""Finalized features (KIP-584) on a single node, as a Kafka 3.9 ZooKeeper broker.

- ApiVersions v3+ reports no supported and no finalized feature, with finalized
  features epoch 0 (the /feature znode the controller created), in tagged fields.
- Those tagged fields go only to clients known to skip tagged fields (named by
  ClientSoftwareName/Version: the Java client, Sarama, franz-go, kafka-python,
  librdkafka >= 2.2 directly or through a wrapper such as confluent-kafka-python);
  older librdkafka and unknown clients get Kafka's response without them.
- UpdateFeatures checks each update as Kafka's ZooKeeper controller does: nothing is
  supported, so an upgrade is INVALID_REQUEST, and so are deleting a feature that is
  not finalized, a level below 1 without a downgrade type and an unknown upgrade type.
- kcat (Debian's librdkafka 2.0.2) and confluent-kafka (librdkafka 2.16) connect.
"""

from __future__ import annotations

import subprocess

import pytest
from confluent_kafka.admin import AdminClient

from kafka_compat.apis.api_versions import features_are_safe
from kafka_compat.tools.connection import Connection
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode
from tests import installed

GUARD_S = 30.0
AV = messages.request_type(ApiKey.API_VERSIONS)
UF = messages.request_type(ApiKey.UPDATE_FEATURES)


@pytest.fixture
def conn(broker):
    host, port = broker.bootstrap.rsplit(":", 1)
    connection = Connection(host, int(port), GUARD_S)
    yield connection
    connection.close()


def api_versions(conn: Connection, version: int, name: str, software_version: str):
    request = AV(client_software_name=name, client_software_version=software_version)
    answer = conn.request(ApiKey.API_VERSIONS, request, version)
    assert answer.error_code == ErrorCode.NONE
    return answer


@pytest.mark.parametrize(
    ("name", "version", "safe"),
    [
        ("apache-kafka-java", "3.9.1", True),
        ("kafka-python", "3.0.0", True),
        ("kgo", "v1.18.0", True),
        ("librdkafka", "2.16.0", True),
        ("librdkafka", "2.2.0", True),
        ("librdkafka", "2.1.1", False),
        ("librdkafka", "2.0.2", False),
        ("librdkafka", "v1.9.2", False),
        ("librdkafka", "unknown", False),
        ("confluent-kafka-python", "2.16.0-rdkafka-2.16.0", True),
        ("confluent-kafka-python", "1.7.0-rdkafka-1.9.2", False),
        ("confluent-kafka-go", "v2.0.2-librdkafka-v2.0.2", False),
        ("node-rdkafka", "2.18.0", False),
        ("sarama", "1.45.0", True),
        ("kafka-test", "1.0.0", False),
        (None, None, False),
    ],
)
def test_which_clients_get_the_tagged_feature_fields(name, version, safe):
    assert features_are_safe(name, version) is safe


@pytest.mark.parametrize("version", [3, 4])
def test_api_versions_reports_kafka_39_zookeeper_features(conn, version):
    answer = api_versions(conn, version, "apache-kafka-java", "3.9.1")
    assert answer.supported_features == []
    assert answer.finalized_features == []
    assert answer.finalized_features_epoch == 0


def test_old_librdkafka_gets_no_tagged_fields(conn):
    old = api_versions(conn, 3, "librdkafka", "2.0.2")
    assert old.finalized_features_epoch == -1  # the tagged field's default: not written
    wrapped = api_versions(conn, 3, "confluent-kafka-python", "1.9.2-rdkafka-1.9.2")
    assert wrapped.finalized_features_epoch == -1
    new = api_versions(conn, 3, "confluent-kafka-python", "2.16.0-rdkafka-2.16.0")
    assert new.finalized_features_epoch == 0
    # The same API list either way.
    assert [k.api_key for k in old.api_keys] == [k.api_key for k in new.api_keys]


def test_update_features_validates_as_kafka(conn):
    assert conn.versions[ApiKey.UPDATE_FEATURES] == (0, 1)
    key = UF.FeatureUpdateKey
    answer = conn.request(
        ApiKey.UPDATE_FEATURES,
        UF(
            timeout_ms=10_000,
            feature_updates=[
                key(feature="metadata.version", max_version_level=21, upgrade_type=1),
                key(feature="group.version", max_version_level=0, upgrade_type=2),
                key(feature="transaction.version", max_version_level=0, upgrade_type=1),
                key(feature="kraft.version", max_version_level=1, upgrade_type=9),
                key(feature="", max_version_level=1, upgrade_type=1),
            ],
        ),
        1,
    )
    assert answer.error_code == ErrorCode.NONE
    results = {r.feature: (r.error_code, r.error_message) for r in answer.results}
    assert results == {
        "metadata.version": (
            ErrorCode.INVALID_REQUEST,
            "Could not apply finalized feature update because the provided feature"
            " is not supported.",
        ),
        "group.version": (
            ErrorCode.INVALID_REQUEST,
            "Can not delete non-existing finalized feature.",
        ),
        "transaction.version": (
            ErrorCode.INVALID_REQUEST,
            "Can not provide versionLevel: 0 less than 1 without setting the SAFE"
            " downgradeType in the request.",
        ),
        "kraft.version": (ErrorCode.INVALID_REQUEST, "Received unknown upgrade type."),
        "": (ErrorCode.INVALID_REQUEST, "Feature name can not be empty."),
    }
    # v0: AllowDowngrade instead of UpgradeType.
    answer = conn.request(
        ApiKey.UPDATE_FEATURES,
        UF(
            timeout_ms=10_000,
            feature_updates=[key(feature="x", max_version_level=0, allow_downgrade=True)],
        ),
        0,
    )
    assert [(r.feature, r.error_code) for r in answer.results] == [("x", ErrorCode.INVALID_REQUEST)]
    # Nothing changed: still no finalized feature, epoch 0.
    assert api_versions(conn, 3, "apache-kafka-java", "3.9.1").finalized_features_epoch == 0


def test_librdkafka_clients_connect(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    assert admin.list_topics(timeout=GUARD_S).brokers
    kcat = installed.kcat()
    done = subprocess.run(
        [kcat, "-b", broker.bootstrap, "-L", "-m", "30"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "1 brokers:" in done.stdout
