"""The Java client, Apache Kafka's own `kafka-clients` (3.9 and 4.x, from Maven Central;
the versions are in compat-tests/java/client-versions), against a running kafka-compat
broker.

`./dev test` builds compat-tests/java with Maven for each version. One JVM per version
runs every scenario below at once (kafkacompat.Main; each uses topics, groups and
transactional ids of its own) and prints one JSON line per scenario; each test here
asserts what the client received in one scenario. kafkacompat.SecurityMain does the same
for the security modes (TLS, client certificates, SASL) against tests/security/matrix.py's
broker.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios import run_scenarios, scenario_result
from tests.security.matrix import MODES

JAVA_DIR = Path(__file__).resolve().parent / "java"
JAVA = shutil.which("java")
VERSIONS = [
    line.strip()
    for line in (JAVA_DIR / "client-versions").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]
SCENARIOS = [
    "producer_compression",
    "consumer_assign_seek",
    "consumer_subscribe_commit",
    "consumer_cooperative_rebalance",
    "consumer_protocol_consumer",
    "transactions",
    "transactions_consume_transform_produce",
    "admin_transactions",
    "admin_topics",
    "admin_configs",
    "admin_consumer_groups",
    "admin_cluster",
    "admin_log_dirs",
    "admin_delete_records",
    "admin_list_offsets",
    "admin_elect_leaders",
    "admin_reassignments",
    "admin_controller_mutation_quota",
]


def java_classpath(version: str) -> str:
    """compat-tests/java's classes and the jars of this kafka-clients version."""
    build = JAVA_DIR / "target" / f"kafka-{version}"
    assert JAVA is not None, "java is not installed: run `./dev test`"
    assert (build / ".built").is_file(), "run `./dev test`: it builds compat-tests/java"
    return f"{build / 'classes'}:{(build / 'classpath.txt').read_text().strip()}"


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: f"kafka-clients-{v}")
def java_results(request: pytest.FixtureRequest, served_broker) -> dict[str, dict[str, Any]]:
    """Every scenario's JSON line from one JVM run with this client version, by name."""
    version = request.param
    classpath = java_classpath(version)
    command = [JAVA, "-cp", classpath, "kafkacompat.Main", served_broker.bootstrap, *SCENARIOS]
    return run_scenarios(command, "kafkacompat.Main", client=version)


def result(results: dict[str, dict[str, Any]], scenario: str) -> dict[str, Any]:
    return scenario_result(results[scenario])


def test_producer_idempotent_acks_all_with_each_compression(java_results):
    got = result(java_results, "producer_compression")
    for codec in ("gzip", "snappy", "lz4", "zstd"):
        # 50 records round-robin over 2 partitions: each partition got 25 consecutive offsets
        # (no duplicates from idempotent retries) and reads back what was sent, in order.
        assert got[codec]["offsets_p0"] == list(range(25)), codec
        assert got[codec]["offsets_p1"] == list(range(25)), codec
        assert got[codec]["received_p0"] == [f"k{i}={codec}-{i}" for i in range(0, 50, 2)]
        assert got[codec]["received_p1"] == [f"k{i}={codec}-{i}" for i in range(1, 50, 2)]
        assert got[codec]["end_offsets"] == [25, 25]


def test_consumer_assign_seek_and_offsets_for_times(java_results):
    got = result(java_results, "consumer_assign_seek")
    # 10 records with timestamps base + i seconds; seek(5) reads 5..9 with their timestamps.
    assert got["values_from_5"] == ["v5", "v6", "v7", "v8", "v9"]
    assert got["timestamps_from_5"] == [5000, 6000, 7000, 8000, 9000]
    assert got["position_after"] == 10
    # offsetsForTimes: the first record at or after the timestamp; none after the last.
    assert (got["offset_for_3500"], got["timestamp_for_3500"]) == (4, 4000)
    assert got["offset_for_base"] == 0
    assert got["offset_for_future"] is None
    assert got["first_after_seek_to_hit"] == "v4"
    assert (got["beginning"], got["end"]) == (0, 10)


def test_consumer_subscribe_commit_sync_and_committed(java_results):
    got = result(java_results, "consumer_subscribe_commit")
    assert got["first"] == [f"first-{i}" for i in range(6)]
    assert [tp.rsplit("-", 1)[1] for tp in got["assignment"]] == ["0", "1"]
    assert got["committed"] == {"0": 3, "1": 3}
    assert int(got["generation"]) >= 1
    # A new member of the group resumes at the committed offsets: only the new records.
    assert got["resumed"] == [f"second-{i}" for i in range(4)]


def test_consumer_with_the_kip848_consumer_protocol(java_results):
    got = result(java_results, "consumer_protocol_consumer")
    # group.protocol=consumer: ConsumerGroupHeartbeat joins the group, the server's
    # assignor gives the lone member both partitions, OffsetCommit v9 carries its epoch.
    assert got["values"] == [f"v{i}" for i in range(6)]
    assert got["assignment"] == [0, 1]
    # groupMetadata().generationId() is the member epoch: 1 after the first join.
    assert got["member_epoch"] >= 1


def test_consumer_cooperative_sticky_rebalance(java_results):
    got = result(java_results, "consumer_cooperative_rebalance")
    assert got["first_alone"] == [0, 1, 2, 3]
    # KIP-429: the first member gives up half (one rebalance) and the second member gets
    # it in the next: two rebalances after the first join, each member with two partitions.
    assert sorted(got["first_shared"] + got["second_shared"]) == [0, 1, 2, 3]
    assert len(got["first_shared"]) == len(got["second_shared"]) == 2
    assert got["generation"] >= 3
    # Records written afterwards: each read once, by the member owning its partition.
    seen = got["seen_first"] + got["seen_second"]
    assert sorted(seen) == sorted(f"{i % 4}:v{i}" for i in range(20))
    assert {int(r.split(":")[0]) for r in got["seen_first"]} == set(got["first_shared"])
    assert {int(r.split(":")[0]) for r in got["seen_second"]} == set(got["second_shared"])


def test_transactions_commit_abort_read_committed_and_send_offsets(java_results):
    got = result(java_results, "transactions")
    assert got["read_committed"] == ["committed-1", "committed-2", "committed-3"]
    assert got["read_uncommitted"] == ["committed-1", "committed-2", "aborted-1", "committed-3"]
    # sendOffsetsToTransaction in the committed transaction: the group's offset, with metadata.
    assert (got["group_offset"], got["group_offset_metadata"]) == (2, "from-txn")


def test_transactions_consume_transform_produce_with_group_metadata(java_results):
    got = result(java_results, "transactions_consume_transform_produce")
    assert got["generation"] >= 1  # KIP-447: the member's generation went with the offsets
    assert got["output"] == [f"out-{i}" for i in range(5)]
    assert got["committed"] == 5


def test_admin_list_describe_transactions_and_describe_producers(java_results):
    got = result(java_results, "admin_transactions")
    open_txn = got["open"]
    assert open_txn["state"] == "Ongoing"
    assert got["listed"] == [{"producer_id": open_txn["producer_id"], "state": "Ongoing"}]
    assert open_txn["timeout_ms"] == 60000  # the producer's transaction.timeout.ms default
    assert [tp.rsplit("-", 1)[1] for tp in open_txn["partitions"]] == ["0"]
    assert open_txn["coordinator"] == 0
    # The partition's leader knows the producer: two records (sequences 0, 1) from offset 0.
    assert got["producers"] == [
        {
            "producer_id": open_txn["producer_id"],
            "producer_epoch": open_txn["producer_epoch"],
            "last_sequence": 1,
            "current_txn_start_offset": 0,
        }
    ]
    # EndTxn is answered once PrepareCommit is logged (as in Kafka): the scenario waits for
    # the markers.
    assert got["after_commit"] == {"state": "CompleteCommit", "partitions": 0}
    assert got["states_after_commit"] in (["CompleteCommit"], ["PrepareCommit", "CompleteCommit"])
    assert got["unknown_id"] == {"error": "TransactionalIdNotFoundException"}


def test_admin_topics_create_list_describe_partitions_delete(java_results):
    got = result(java_results, "admin_topics")
    assert got["listed"] == [True, True, False]  # validateOnly created nothing
    assert got["duplicate_error"] == "TopicExistsException"
    described = got["described"]
    assert described["internal"] is False and described["has_topic_id"] is True
    assert [p["partition"] for p in described["partitions"]] == [0, 1, 2]
    assert all(
        p["leader"] == 0 and p["replicas"] == [0] and p["isr"] == [0]
        for p in described["partitions"]
    )
    assert got["b_configs"] == {
        "cleanup.policy": "compact",
        "retention.ms": "3600000",
        "retention.ms.source": "DYNAMIC_TOPIC_CONFIG",
    }
    assert got["grown_partitions"] == 5
    assert got["shrink_error"] == "InvalidPartitionsException"
    assert got["listed_after_delete"] == [False, False]
    assert got["describe_deleted_error"] == "UnknownTopicOrPartitionException"


def test_admin_describe_configs_and_incremental_alter_configs(java_results):
    got = result(java_results, "admin_configs")
    before = got["before"]
    assert before["retention.ms"]["value"] == "604800000"
    assert (before["retention.ms"]["source"], before["retention.ms"]["default"]) == (
        "DEFAULT_CONFIG",
        True,
    )
    assert before["cleanup.policy"]["value"] == "delete"
    assert got["broker"]["num.partitions"]["value"] == "1"
    assert got["broker"]["log.retention.hours"]["value"] == "168"
    altered = got["altered"]
    assert altered["retention.ms"]["value"] == "7200000"
    assert altered["retention.ms"]["source"] == "DYNAMIC_TOPIC_CONFIG"
    assert altered["max.message.bytes"]["value"] == "2000000"
    assert altered["cleanup.policy"]["value"] == "delete,compact"  # APPEND to a list config
    # DELETE falls back to the default; the other override stays.
    assert got["deleted"]["retention.ms"]["value"] == "604800000"
    assert got["deleted"]["retention.ms"]["source"] == "DEFAULT_CONFIG"
    assert got["deleted"]["max.message.bytes"]["value"] == "2000000"
    assert got["invalid_value_error"] == "InvalidConfigurationException"
    assert got["unknown_topic_error"] == "UnknownTopicOrPartitionException"


def test_admin_consumer_groups_offsets_reset_and_delete(java_results):
    got = result(java_results, "admin_consumer_groups")
    assert got["listed"] is True
    active = got["active"]
    assert (active["state"], active["assignor"], active["simple"]) == ("Stable", "range", False)
    assert [m["client_id"] for m in active["members"]] == ["member-1"]
    assert len(active["members"][0]["assignment"]) == 2
    assert sorted(got["committed"].values()) == [4, 4]
    # While a member is there: no delete (GROUP_NOT_EMPTY), no offsets from outside the
    # group (UNKNOWN_MEMBER_ID, as Kafka's coordinator answers a commit without a member).
    assert got["delete_active_error"] == "GroupNotEmptyException"
    assert got["alter_active_error"] == "UnknownMemberIdException"
    assert (got["empty"]["state"], got["empty"]["members"]) == ("Empty", [])
    # The reset (alterConsumerGroupOffsets) is where the next member starts.
    assert sorted(got["after_reset"].values()) == [1, 2]
    assert got["reread_after_reset"] == ["v2", "v4", "v5", "v6", "v7"]
    assert got["listed_after_delete"] is False
    assert got["offsets_after_delete"] == {}
    assert got["delete_unknown_error"] == "GroupIdNotFoundException"


def test_admin_describe_cluster_and_features(java_results, served_broker):
    got = result(java_results, "admin_cluster")
    assert isinstance(got["cluster_id"], str) and got["cluster_id"]
    assert got["nodes"] == [{"id": 0, "host": served_broker.host, "port": served_broker.port}]
    assert got["controller"] == 0
    # describeFeatures: what a Kafka 3.9 ZooKeeper broker reports (ApiVersions v3+):
    # no feature supported or finalized, epoch 0 (the /feature znode's version).
    assert got["supported_features"] == {}
    assert got["finalized_features"] == {}
    assert got["finalized_epoch"] == 0


def test_admin_describe_log_dirs(java_results, served_broker):
    got = result(java_results, "admin_log_dirs")
    [log_dir] = got["dirs"]
    assert log_dir["path"] == str(served_broker.data_dir.absolute())
    assert log_dir["error"] is None
    # Partition 0 holds one batch of one record (61-byte batch header + 18-byte record).
    sizes = {tp.rsplit("-", 1)[1]: size for tp, size in log_dir["replicas"].items()}
    assert sizes == {"0": 79, "1": 0}


def test_admin_delete_records(java_results):
    got = result(java_results, "admin_delete_records")
    assert got["low_watermark"] == 4
    assert got["beyond_hw_error"] == "OffsetOutOfRangeException"
    assert got["beginning"] == 4
    assert got["values"] == [f"v{i}" for i in range(4, 10)]


def test_admin_list_offsets_and_delete_group_offsets(java_results):
    got = result(java_results, "admin_list_offsets")
    # Records with timestamps base + 0, 5000, 2000, 1000: [offset, timestamp - base].
    assert got["offsets"] == {
        "earliest": [0, -1],
        "latest": [4, -1],
        "max_timestamp": [1, 5000],  # KIP-734
        "for_1500": [1, 5000],  # the first record at or after the timestamp
    }
    assert list(got["group_before"].values()) == [3]
    assert got["group_after_delete"] == {}  # OffsetDelete on an empty group


def test_admin_elect_leaders_on_a_single_node(java_results):
    got = result(java_results, "admin_elect_leaders")
    assert list(got["preferred"].values()) == ["ElectionNotNeededException"] * 2
    assert got["unknown_partition_error"] == "UnknownTopicOrPartitionException"


def test_admin_partition_reassignments_on_a_single_node(java_results):
    got = result(java_results, "admin_reassignments")
    # To the replica set it already has: done at once, nothing left in progress.
    assert got["listed_after"] is False
    assert got["replicas"] == [0]
    assert got["cancel_error"] == "NoReassignmentInProgressException"
    assert got["unknown_broker_error"] == "InvalidReplicaAssignmentException"


def test_admin_controller_mutation_quota_refuses_or_retries(java_results):
    """controller_mutation_rate=1 for the scenario's client-id (a bucket of 11): past it,
    createTopics / createPartitions / deleteTopics fail with ThrottlingQuotaExceededException
    and the time to wait under retryOnQuotaViolation(false), and go through by default
    (the client retries after the throttle time); the unquota'd admin is not limited."""
    got = result(java_results, "admin_controller_mutation_quota")
    refused = {"error": "ThrottlingQuotaExceededException"}
    message = "The throttling quota has been exceeded."
    assert got["created"]["t1"] == got["created"]["t2"] == {"error": None}
    for outcome in (got["created"]["t3"], got["partitions_refused"], got["delete_refused"]):
        assert {"error": outcome["error"]} == refused
        assert outcome["message"] == message
        assert outcome["throttle_ms"] > 0
    assert got["create_retried"] == got["partitions_retried"] == {"error": None}
    assert got["delete_retried"] == got["unlimited"] == {"error": None}


# ---- over TLS and SASL (tests/security/matrix.py's broker) ----
# kafkacompat.SecurityMain runs every mode side by side in one JVM per client version:
# SCRAM-SHA-256/512 over SASL_SSL, PLAIN, a PEM client key store (KIP-651) on the SSL
# listener, OAUTHBEARER with the default unsecured login handler and with a signed JWT
# read by OAuthBearerLoginCallbackHandler from a file: URL, and one wrong password.

SECURE_MODES = [*MODES, "SSL-client-cert-pkcs12", "SASL_SSL-OAUTHBEARER-oidc"]


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: f"kafka-clients-{v}")
def java_secure(request: pytest.FixtureRequest, secure_broker, tmp_path_factory):
    version = request.param
    classpath = java_classpath(version)
    directory = tmp_path_factory.mktemp(f"java-secure-{version}")
    cases = {name: secure_broker.java(MODES[name]) for name in MODES}
    cases["wrong-password"] = secure_broker.java(MODES["SASL_SSL-SCRAM-SHA-512"], "nope")
    # The key store as a PKCS12 file, what Java users mostly have. (The trust store stays
    # PEM: Java trusts a PKCS12 certificate entry only with Oracle's trustedKeyUsage
    # attribute, which keytool writes and `cryptography` does not.)
    cases["SSL-client-cert-pkcs12"] = {
        **cases["SSL-client-cert"],
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(secure_broker.certs.client_p12),
        "ssl.keystore.password": "p12-secret",
    }
    # The signed JWT from an OAuth token endpoint (client credentials), as in production.
    endpoint = secure_broker.token_endpoint
    cases["SASL_SSL-OAUTHBEARER-oidc"] = {
        **cases["SASL_SSL-OAUTHBEARER-signed"],
        "sasl.oauthbearer.token.endpoint.url": endpoint.url,
        "sasl.jaas.config": (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
            'clientId="app" clientSecret="app-secret";'
        ),
    }
    # Kafka 3.9.1+ reads token URLs only from the allowed list (a system property).
    token_url = cases["SASL_SSL-OAUTHBEARER-signed"]["sasl.oauthbearer.token.endpoint.url"]
    allowed = f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={token_url},{endpoint.url}"
    files = []
    for name, props in cases.items():
        props["case.topic"] = f"java-{version}-{name}-{uuid.uuid4().hex[:6]}"
        path = directory / f"{name}.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        files.append(str(path))
    done = subprocess.run(
        [
            JAVA,
            "-XX:TieredStopAtLevel=1",
            allowed,
            "-cp",
            classpath,
            "kafkacompat.SecurityMain",
            *files,
        ],
        capture_output=True,
        text=True,
        timeout=300,  # failure guard, not a timing
    )
    assert done.returncode == 0, f"SecurityMain failed:\n{done.stdout}\n{done.stderr}"
    results = {}
    for line in done.stdout.splitlines():
        entry = json.loads(line)
        assert entry["client"] == version
        entry["stderr"] = done.stderr[-4000:]
        results[entry["case"]] = entry
    return results


@pytest.mark.parametrize("mode", SECURE_MODES)
def test_java_client_over_tls_and_sasl(java_secure, mode):
    got = java_secure[mode]
    assert got["ok"], f"{got.get('error')}: {got.get('message')}\n{got['stderr']}"
    assert got["values"] == [f"m{i}" for i in range(5)]


def test_java_client_wrong_password(java_secure):
    got = java_secure["wrong-password"]
    assert (got["ok"], got["error"]) == (False, "SaslAuthenticationException"), got
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in got["message"]


# ---- delegation tokens (KIP-48), on the same broker ----
# kafkacompat.TokenMain: alice creates a token with the AdminClient over SASL_SSL
# SCRAM-SHA-512, clients log in with it (ScramLoginModule tokenauth="true") and produce and
# consume; describe, renew and expire, and Kafka's errors.


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: f"kafka-clients-{v}")
def java_tokens(request: pytest.FixtureRequest, secure_broker, tmp_path_factory):
    version = request.param
    classpath = java_classpath(version)
    directory = tmp_path_factory.mktemp(f"java-tokens-{version}")
    scram = MODES["SASL_SSL-SCRAM-SHA-512"]
    files = []
    for user, password in (("alice", None), ("admin", "admin-scram")):
        props = secure_broker.java(scram, password)
        if password is not None:
            props["sasl.jaas.config"] = props["sasl.jaas.config"].replace(
                'username="alice"', 'username="admin"'
            )
        path = directory / f"{user}.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        files.append(str(path))
    topic = f"java-tokens-{version}-{uuid.uuid4().hex[:6]}"
    done = subprocess.run(
        [JAVA, "-XX:TieredStopAtLevel=1", "-cp", classpath, "kafkacompat.TokenMain"]
        + [*files, secure_broker.plaintext, topic],
        capture_output=True,
        text=True,
        timeout=300,  # failure guard, not a timing
    )
    assert done.returncode == 0, f"TokenMain failed:\n{done.stdout}\n{done.stderr[-4000:]}"
    got = json.loads(done.stdout.splitlines()[-1])
    assert got["client"] == version
    return got


def test_java_admin_creates_a_token_and_clients_log_in_with_it(java_tokens):
    got = java_tokens
    assert (got["owner"], got["requester"]) == ("User:alice", "User:alice")
    # Kafka's defaults: 7 days' life, renewed for 1 day; an HMAC-SHA512.
    assert (got["lifetime_ms"], got["renew_ms"], got["hmac_length"]) == (604800000, 86400000, 64)
    assert got["values"] == [f"m{i}" for i in range(5)]
    # A token login, and a PLAINTEXT connection, may not create tokens.
    assert got["create_with_token"] == "UnsupportedByAuthenticationException"
    assert got["create_on_plaintext"] == "UnsupportedByAuthenticationException"


def test_java_admin_describe_renew_expire_and_their_errors(java_tokens):
    got = java_tokens
    assert (got["for_alice_owner"], got["for_alice_requester"]) == ("User:alice", "User:admin")
    # (The broker is the module's: the other client version's tokens are there too.)
    assert {
        f"{got['token_id']} User:alice User:alice []",
        f"{got['for_alice_id']} User:alice User:admin [User:admin]",
    } <= set(got["described"])
    # Owners filter User:admin: the token it requested and renews, not alice's own.
    assert got["for_alice_id"] in got["described_for_admin"]
    assert got["token_id"] not in got["described_for_admin"]
    # Renewed for 60 s from the broker's clock, read after the client's `before`.
    assert 60_000 <= got["renewed_in_ms"] < 60_000 + 30_000
    assert got["renew_by_other"] == "DelegationTokenOwnerMismatchException"
    assert got["renew_unknown"] == "DelegationTokenNotFoundException"
    assert got["expire_by_renewer"] is True
    # Expired at once (a negative period): gone, and its logins fail.
    assert got["renew_expired"] == "DelegationTokenNotFoundException"
    assert got["login_after_expire"] == "SaslAuthenticationException"
