"""`kafka-compat serve` starts fast: a single node loads nothing cluster-only, compiles
no protocol codec before a request needs it, and `--version` reads the package's
metadata (benchmarks/startup.py measures the time itself)."""

from __future__ import annotations

import importlib.metadata
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs `kafka-compat serve` as the CLI does; once the listener accepts, writes the
# loaded module names (and how many codecs exist) and sends itself SIGTERM.
_SERVE_AND_REPORT = r"""
import os, signal, sys, threading, time
from kafka_compat import cli

out, data_dir, port = sys.argv[1:4]

def report():
    import socket
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()
            break
        except OSError:
            time.sleep(0.01)
    from protocol import messages
    tables = (messages._REQUESTS, messages._RESPONSES)
    codecs = sum(len(dict(m.decoders)) + len(dict(m.encoders)) for t in tables for m in t.values())
    with open(out, "w") as f:
        f.write(f"codecs {codecs}\n")
        f.write("\n".join(sorted(sys.modules)))
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=report, daemon=True).start()
sys.exit(cli.main(["serve", "--port", port, "--data-dir", data_dir, "--http-port", "0"]))
"""

CLUSTER_OR_OPTIONAL = (
    "kazoo",
    "cryptography",
    "jwt",
    "kafka_compat.cluster.controller",
    "kafka_compat.cluster.membership",
    # ZooKeeper itself and its znode formats (a single node's quota store names its
    # entities with dynamic_config's helpers).
    "kafka_compat.cluster.zk_data",
    "kafka_compat.cluster.zk_client",
    "kafka_compat.cluster.zk_cache",
    "kafka_compat.cluster.zk_admin",
    "kafka_compat.cluster.zk_store",
    "kafka_compat.replica_fetcher",
    # The group and transaction coordinators: built with the first group or
    # transactional request (or their topic in the data dir).
    "kafka_compat.groups",
    "kafka_compat.txn",
    "kafka_compat.cluster.client",
    "kafka_compat.security.acls",
    "kafka_compat.security.sasl",
    "kafka_compat.devcluster",
    "kafka_compat.tools",
    # SASL mechanisms load when a listener enables them; OAUTHBEARER's JWKS client
    # brings urllib.request, http.client and email.
    "kafka_compat.security.oauthbearer",
    "kafka_compat.security.jwks",
    "kafka_compat.security.login",
    "kafka_compat.security.scram",
    "kafka_compat.security.plain",
    "urllib.request",
    # crc32c's package __init__ and anything else that scans installed distributions
    "importlib.metadata",
    # Spec files are found by name (protocol/messages.py): no directory listing, no
    # importlib.resources machinery.
    "importlib.resources",
)


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), path) if p)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_single_node_loads_nothing_cluster_only_and_no_codec_before_a_request(tmp_path):
    out = tmp_path / "modules.txt"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _SERVE_AND_REPORT,
            str(out),
            str(tmp_path / "data"),
            str(_free_port()),
        ],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    first, *modules = out.read_text().splitlines()
    assert first == "codecs 0"
    loaded = [m for m in modules if m.startswith(CLUSTER_OR_OPTIONAL)]
    assert loaded == []
    # Each handler module loads with the first request of one of its APIs.
    handlers = [m for m in modules if m.startswith("kafka_compat.apis.")]
    assert handlers == ["kafka_compat.apis.handlers", "kafka_compat.apis.registry"]
    assert "kafka_compat.broker" in modules  # it did start


def test_version_is_the_installed_package_version():
    result = subprocess.run(
        [sys.executable, "-m", "kafka_compat", "--version"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"kafka-compat {importlib.metadata.version('kafka-compat')}\n"
