"""`kafka-compat dev-cluster`: the commands it runs, its ZooKeeper, its lifecycle, and
(end to end) a real 2-broker cluster that clients can use and Ctrl-C stops."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import trio

from kafka_compat.cli import build_parser
from kafka_compat.cluster.client import BrokerClient
from kafka_compat.devcluster import CHROOT, DevCluster, ZooKeeperServer, broker_command
from protocol import messages

GUARD_S = 90  # failure guard, never a timing

# A stand-in broker: listens on its port and writes its argv down, until SIGTERM.
FAKE_BROKER = r"""
import json, signal, socket, sys
out, port = sys.argv[1], int(sys.argv[2])
sock = socket.socket(); sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", port)); sock.listen()
open(out, "w").write(json.dumps(sys.argv[3:]))
signal.sigwait([signal.SIGTERM])
"""


def free_port_pair() -> int:
    """A port p with p and p+1 both free."""
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no two adjacent free ports")


def test_broker_commands_join_the_chrooted_zookeeper(tmp_path):
    cluster = DevCluster(3, 19092, tmp_path, zookeeper_port=12181, overrides=["a.b=1"])
    assert cluster.zookeeper_connect == f"127.0.0.1:12181{CHROOT}"
    assert cluster.bootstrap == "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094"
    assert cluster.brokers[2].command == [
        sys.executable,
        "-m",
        "kafka_compat",
        "serve",
        "--zookeeper",
        "127.0.0.1:12181/kafka-compat",
        "--broker-id",
        "2",
        "--host",
        "127.0.0.1",
        "--port",
        "19094",
        "--data-dir",
        str(tmp_path.resolve() / "broker-2"),
        "--override",
        "a.b=1",
        "--override",
        "http.listener=",
    ]
    # `serve` takes every flag dev-cluster passes.
    args = build_parser().parse_args(cluster.brokers[2].command[3:])
    assert (args.zookeeper, args.broker_id, args.port) == ("127.0.0.1:12181/kafka-compat", 2, 19094)


def test_cli_parses_dev_cluster_flags():
    args = build_parser().parse_args(["dev-cluster", "--brokers", "5", "--base-port", "9200"])
    assert (args.brokers, args.base_port, args.data_dir, args.zookeeper_port) == (
        5,
        9200,
        "dev-cluster",
        None,
    )


def test_zookeeper_config_is_loopback_without_admin_server(tmp_path):
    server = ZooKeeperServer(tmp_path / "zk", 2999, tick_time_ms=500)
    cfg = dict(line.split("=", 1) for line in server.config_text().splitlines() if line)
    assert cfg["clientPortAddress"] == "127.0.0.1" and cfg["clientPort"] == "2999"
    assert cfg["admin.enableServer"] == "false" and cfg["tickTime"] == "500"
    assert cfg["dataDir"] == str(tmp_path / "zk" / "data")
    assert server.command()[1:] == ["start-foreground", str(tmp_path / "zk" / "zoo.cfg")]


def test_starts_zookeeper_and_brokers_and_stops_them_all(tmp_path):
    def fake(zookeeper, broker_id, port, data_dir, *, host, overrides):
        real = broker_command(zookeeper, broker_id, port, data_dir, host=host, overrides=overrides)
        out = tmp_path / f"argv-{broker_id}.json"
        return [sys.executable, "-c", FAKE_BROKER, str(out), str(port), *real]

    lines = []
    cluster = DevCluster(2, free_port_pair(), tmp_path / "dc", make_command=fake, out=lines.append)
    try:
        cluster.start(timeout=GUARD_S)
        assert cluster.zookeeper.ready()
        for broker in cluster.brokers:
            argv = json.loads((tmp_path / f"argv-{broker.broker_id}.json").read_text())
            assert argv[argv.index("--zookeeper") + 1] == cluster.zookeeper_connect
        assert any(line.startswith("ZooKeeper 127.0.0.1:") for line in lines)
        assert sum("broker " in line and " on 127.0.0.1:" in line for line in lines) == 2
        os.kill(cluster.brokers[1].proc.pid, signal.SIGKILL)
        cluster.brokers[1].proc.wait(GUARD_S)
        cluster.check()
        assert lines[-1].startswith("broker 1 exited with status -9")
    finally:
        cluster.stop()
    assert all(b.proc.poll() is not None for b in cluster.brokers)
    assert not cluster.zookeeper.running and not cluster.zookeeper.ready()


def test_dev_cluster_end_to_end(tmp_path):
    """The real command: two brokers that know each other, stopped by SIGTERM."""
    base = free_port_pair()
    command = [sys.executable, "-m", "kafka_compat", "dev-cluster", "--brokers", "2"]
    command += ["--base-port", str(base), "--data-dir", str(tmp_path / "dc")]
    command += ["--http-base-port", "0"]
    command += ["--override", "controlled.shutdown.retry.backoff.ms=100"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output = []
        deadline = time.monotonic() + GUARD_S
        while not any(line.startswith("Bootstrap servers:") for line in output):
            line = proc.stdout.readline()
            assert line and time.monotonic() < deadline, "".join(output)
            output.append(line)
        assert output[-1].strip() == f"Bootstrap servers: 127.0.0.1:{base},127.0.0.1:{base + 1}"

        async def brokers_seen() -> list[int]:
            async with BrokerClient("127.0.0.1", base, "test") as client:
                with trio.fail_after(GUARD_S):
                    while True:
                        meta = await client.send(3, 12, messages.MetadataRequest(topics=None))
                        if len(meta.brokers) == 2:
                            return sorted(b.node_id for b in meta.brokers)
                        await trio.sleep(0.05)

        assert trio.run(brokers_seen) == [0, 1]
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=GUARD_S)
        assert proc.returncode == 0, rest
        assert rest.splitlines()[-2:] == ["Stopping the cluster...", "Stopped."]
        log_dir = tmp_path / "dc"
        assert {p.name for p in log_dir.glob("*.log")} == {
            "zookeeper.log",
            "broker-0.log",
            "broker-1.log",
        }
        for port in (base, base + 1):
            with socket.socket() as sock:
                assert sock.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_zookeeper_server_restarts_on_its_port_with_its_data(tmp_path):
    server = ZooKeeperServer(Path(tmp_path) / "zk", tick_time_ms=500)
    server.start(GUARD_S)
    port = server.port
    try:
        server.stop()
        assert not server.ready()
        server.start(GUARD_S)
        assert server.port == port and server.ready()
    finally:
        server.kill()
