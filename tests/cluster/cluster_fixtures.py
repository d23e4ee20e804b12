"""Broker processes for the cluster tests, on the session's ZooKeeper (conftest.py).

`ClusterBroker` is one
`python -m kafka_compat serve --zookeeper ... --broker-id N` process that the test
can SIGKILL, SIGSTOP/SIGCONT, SIGTERM and restart on the same port and data dir.
Timeouts are short (zookeeper.session.timeout.ms, replica.lag.time.max.ms) so that
failures are noticed in seconds.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.listening import wait_listening

START_TIMEOUT = 60
PROJECT_ROOT = Path(__file__).resolve().parents[2]

FAST_CLUSTER = {
    "zookeeper.session.timeout.ms": "4000",
    "replica.lag.time.max.ms": "3000",
    "replica.fetch.wait.max.ms": "200",
    "replica.fetch.backoff.ms": "200",
    "controlled.shutdown.retry.backoff.ms": "500",
    "group.initial.rebalance.delay.ms": "0",
    "offsets.topic.num.partitions": "5",
    "offsets.topic.replication.factor": "3",
    "log.flush.offset.checkpoint.interval.ms": "1000",
}


class CuttableLink:
    """A TCP forwarder from a loopback port to `target` that a test can cut and heal:
    a network partition between the brokers and ZooKeeper while ZooKeeper runs on (and
    so expires their sessions). While cut, open connections are closed and new ones are
    closed as soon as they are accepted."""

    def __init__(self, target: str):
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.is_cut = False
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            try:
                if self.is_cut:
                    raise ConnectionRefusedError
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def cut(self) -> None:
        self.is_cut = True
        with self._lock:
            doomed = list(self._open)
        for sock in doomed:
            self._close(sock)

    def heal(self) -> None:
        self.is_cut = False

    def close(self) -> None:
        self.listener.close()
        self.cut()


class ClusterBroker:
    def __init__(self, broker_id: int, zk_connect: str, root: Path, props: dict[str, str]):
        self.broker_id = broker_id
        self.zk_connect = zk_connect
        # 0: the broker binds a free port itself at its first start (a port picked
        # here and bound later can be taken meanwhile); restarts reuse it.
        self.port = 0
        self.data_dir = root / f"broker-{broker_id}"
        self.log_path = root / f"broker-{broker_id}.log"
        self.props = props
        self.proc: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "kafka_compat",
            "serve",
            "--zookeeper",
            self.zk_connect,
            "--broker-id",
            str(self.broker_id),
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--http-port",
            "0",  # tests that read /metrics set http.listener in props
        ]
        for key, value in self.props.items():
            command += ["--override", f"{key}={value}"]
        with open(self.log_path, "ab") as log_file:
            log_file.write(f"==== start {time.strftime('%X')}\n".encode())
            log_file.flush()
            since = log_file.tell()
            self.proc = subprocess.Popen(
                command, stdout=log_file, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT
            )
        self.port = wait_listening(self.proc, self.log_path, since)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(START_TIMEOUT)

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(START_TIMEOUT)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


class Cluster:
    def __init__(
        self,
        root: Path,
        zk_connect: str,
        size: int,
        props: dict[str, str],
        per_broker: dict[int, dict[str, str]] | None = None,
    ):
        self.root = root
        self.zk_connect = zk_connect
        self.brokers = {
            i: ClusterBroker(
                i, zk_connect, root, {**FAST_CLUSTER, **props, **(per_broker or {}).get(i, {})}
            )
            for i in range(1, size + 1)
        }

    @property
    def bootstrap(self) -> str:
        return ",".join(b.bootstrap for b in self.brokers.values())

    def start(self) -> None:
        for broker in self.brokers.values():
            broker.start()
        self.wait_for_brokers()

    def wait_for_brokers(self) -> None:
        """Until every live broker's metadata lists every live broker."""
        from confluent_kafka.admin import AdminClient

        live = {i for i, b in self.brokers.items() if b.alive}
        for broker in self.brokers.values():
            if not broker.alive:
                continue
            admin = AdminClient({"bootstrap.servers": broker.bootstrap})
            deadline = time.monotonic() + START_TIMEOUT
            while set(admin.list_topics(timeout=10).brokers) != live:
                assert time.monotonic() < deadline, f"broker {broker.broker_id} lacks metadata"
                time.sleep(0.1)

    def stop(self) -> None:
        for broker in self.brokers.values():
            if broker.alive:
                broker.resume()
                broker.kill()

    def logs(self) -> str:
        return "\n".join(
            f"---- broker {b.broker_id}\n{b.log_tail()}" for b in self.brokers.values()
        )


@pytest.fixture(name="cluster_factory")
def cluster_factory_fixture(tmp_path: Path, zk_connect: str):
    """cluster_factory(size=3, per_broker=None, **props) -> a started Cluster on a fresh
    chroot of the session's ZooKeeper (tests/cluster/conftest.py); keys use '_' for '.';
    per_broker: {broker id: {key: value}} on top (Kafka's dotted keys)."""
    clusters: list[Cluster] = []

    def start(size: int = 3, per_broker: dict | None = None, **props: str) -> Cluster:
        props = {k.replace("_", "."): str(v) for k, v in props.items()}
        root = tmp_path / f"cluster-{len(clusters)}"
        root.mkdir(parents=True)
        cluster = Cluster(root, zk_connect, size, props, per_broker)
        clusters.append(cluster)
        cluster.start()
        return cluster

    yield start
    for cluster in clusters:
        cluster.stop()
