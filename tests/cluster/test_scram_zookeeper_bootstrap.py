"""The first SCRAM user of a cluster as docs/security.md creates it: Kafka 3.9.1's own
`kafka-configs.sh --zookeeper ... --entity-type users --add-config
'SCRAM-SHA-512=[password=...]'` writes /config/users/<user> and a change
notification straight into ZooKeeper; a running broker lets the user in."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from protocol.errors import ErrorCode
from tests import installed
from tests.cluster.cluster_fixtures import cluster_factory_fixture  # noqa: F401
from tests.cluster.test_scram_logins_cluster import PROPS, external_port, scram_login

GUARD_S = 30  # failure guard, never a timing
ROOT = Path(__file__).resolve().parents[2]


def test_kafka_configs_zookeeper_creates_a_user_the_brokers_let_in(cluster_factory):
    installed.kafka_tools_classpath()
    cluster = cluster_factory(1, **PROPS)
    port = external_port(cluster.brokers[1])
    assert scram_login(port, "SCRAM-SHA-512", "admin", "admin-secret")[0] != ErrorCode.NONE
    log4j = ROOT / "compat-tests" / "kafka-tools" / "log4j.properties"
    done = subprocess.run(
        ["java", "-XX:TieredStopAtLevel=1", f"-Dlog4j.configuration=file:{log4j}"]
        + ["-cp", installed.TOOLS_CLASSPATH.read_text().strip(), "kafka.admin.ConfigCommand"]
        + ["--zookeeper", cluster.zk_connect, "--alter", "--entity-type", "users"]
        + ["--entity-name", "admin", "--add-config", "SCRAM-SHA-512=[password=admin-secret]"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    deadline = time.monotonic() + GUARD_S
    while scram_login(port, "SCRAM-SHA-512", "admin", "admin-secret")[0] != ErrorCode.NONE:
        assert time.monotonic() < deadline, "the broker never let admin in"
        time.sleep(0.05)
    assert scram_login(port, "SCRAM-SHA-512", "admin", "wrong")[0] == (
        ErrorCode.SASL_AUTHENTICATION_FAILED
    )
