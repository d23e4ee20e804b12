"""`kafka-compat dev-cluster`: a ZooKeeper and N brokers on loopback, for developers.

    kafka-compat dev-cluster --brokers 3 [--base-port 9092] [--data-dir ./dev-cluster]
                             [--zookeeper-port P] [--host 127.0.0.1]
                             [--http-base-port 9644] [--override key=value ...]

starts Debian's ZooKeeper (package `zookeeper`; `zkServer.sh start-foreground` with a
zoo.cfg of its own in <data-dir>/zookeeper, on a free port unless one is given) and
brokers 0..N-1, each a `kafka-compat serve --zookeeper 127.0.0.1:<zk>/kafka-compat
--broker-id i --port <base-port + i> --data-dir <data-dir>/broker-i [--override
key=value ...] --override http.listener=<host>:<http-base-port + i>` process (the
overrides go to every broker; each broker has its own HTTP listener for /metrics, off
with --http-base-port 0), prints
the bootstrap string, and runs until Ctrl-C or SIGTERM; then it stops the brokers
(SIGTERM, a clean shutdown each) and ZooKeeper last. Logs go to <data-dir>/*.log.
The data stays, so the next start finds the same cluster.

`ZooKeeperServer` is also what the cluster tests start (tests/cluster/conftest.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CHROOT",
    "DevCluster",
    "ZooKeeperServer",
    "broker_command",
    "find_zookeeper_script",
    "free_port",
    "zk_cli",
]

ZOOKEEPER_BIN = Path("/usr/share/zookeeper/bin")
CHROOT = "/kafka-compat"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def find_zookeeper_script(name: str = "zkServer.sh") -> Path:
    """Debian's ZooKeeper script (ZOOKEEPER_BIN in the environment overrides the dir)."""
    path = Path(os.environ.get("ZOOKEEPER_BIN", ZOOKEEPER_BIN)) / name
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: install Debian's ZooKeeper (apt-get install zookeeper), "
            "or set ZOOKEEPER_BIN to the directory holding zkServer.sh"
        )
    return path


class ZooKeeperServer:
    """One standalone ZooKeeper server, in the foreground of a child process.

    `start()` writes <data_dir>/zoo.cfg (loopback only, no admin server, the given
    tick), runs `zkServer.sh start-foreground <cfg>` and returns once the server
    answers `ruok`; `stop()` sends SIGTERM (SIGKILL if it lingers). The port and the
    data survive a stop, so `start()` again brings the same server back, with its
    sessions (a client that reconnects within its session timeout keeps its session).
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        tick_time_ms: int = 2000,
        heap: str = "256m",
    ):
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port(host)
        self.tick_time_ms = tick_time_ms
        self.heap = heap
        self.config_path = self.data_dir / "zoo.cfg"
        self.log_path = self.data_dir.with_name(self.data_dir.name + ".log")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def connect(self) -> str:
        return f"{self.host}:{self.port}"

    def config_text(self) -> str:
        return "\n".join(
            [
                f"tickTime={self.tick_time_ms}",
                f"dataDir={self.data_dir / 'data'}",
                f"clientPort={self.port}",
                f"clientPortAddress={self.host}",
                "maxClientCnxns=0",
                "admin.enableServer=false",
                "4lw.commands.whitelist=ruok,srvr,stat,mntr",
                # Sessions from 2 to 20 ticks, ZooKeeper's default bounds.
                f"minSessionTimeout={2 * self.tick_time_ms}",
                f"maxSessionTimeout={20 * self.tick_time_ms}",
                "",
            ]
        )

    def command(self) -> list[str]:
        return [str(find_zookeeper_script()), "start-foreground", str(self.config_path)]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["JMXDISABLE"] = "true"
        env["SERVER_JVMFLAGS"] = f"-Xmx{self.heap}"
        return env

    def start(self, timeout: float = START_TIMEOUT) -> None:
        if self.running:
            return
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text())
        with open(self.log_path, "ab") as log_file:
            self.proc = subprocess.Popen(
                self.command(),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.environment(),
                start_new_session=True,  # Ctrl-C reaches us, and we stop it last
            )
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"ZooKeeper exited with status {self.proc.returncode}: "
                    f"{self.log_path.read_text(errors='replace')[-3000:]}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"ZooKeeper did not answer on {self.connect} in {timeout}s")
            time.sleep(0.05)

    def ready(self) -> bool:
        """Does the server answer `ruok` with `imok`?"""
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                sock.sendall(b"ruok")
                return sock.recv(16) == b"imok"
        except OSError:
            return False

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        if not self.running:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.running:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)

    def __enter__(self) -> ZooKeeperServer:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def zk_cli(server: str, *command: str, timeout: float = 60.0) -> str:
    """Run one zkCli.sh command against `server` (host:port) and return its output."""
    env = dict(os.environ, JMXDISABLE="true")
    done = subprocess.run(
        [str(find_zookeeper_script("zkCli.sh")), "-server", server, *command],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    return done.stdout + done.stderr


def broker_command(
    zookeeper: str,
    broker_id: int,
    port: int,
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    overrides: Sequence[str] = (),
    python: str = sys.executable,
) -> list[str]:
    """The `kafka-compat serve` command line of one cluster broker."""
    extra = [arg for item in overrides for arg in ("--override", item)]
    return [
        python,
        "-m",
        "kafka_compat",
        "serve",
        "--zookeeper",
        zookeeper,
        "--broker-id",
        str(broker_id),
        "--host",
        host,
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        *extra,
    ]


@dataclass
class BrokerProcess:
    broker_id: int
    port: int
    command: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    reported_exit: bool = False


def _http_listener(host: str, base_port: int, index: int) -> str:
    """Broker `index`'s http.listener override: base + index, or off (base 0)."""
    return f"http.listener={host}:{base_port + index}" if base_port else "http.listener="


class DevCluster:
    """ZooKeeper plus N broker processes; `start()`, `check()` and `stop()`.

    `make_command(zookeeper, broker_id, port, data_dir, host=..., overrides=...)`
    builds each broker's command line (`broker_command` unless given otherwise).
    """

    def __init__(
        self,
        brokers: int = 3,
        base_port: int = 9092,
        data_dir: Path = Path("dev-cluster"),
        *,
        zookeeper_port: int | None = None,
        host: str = "127.0.0.1",
        overrides: Sequence[str] = (),
        make_command: Callable[..., list[str]] = broker_command,
        out: Callable[[str], None] = print,
        http_base_port: int = 0,
    ):
        if brokers < 1:
            raise ValueError("a cluster needs at least one broker")
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self.out = out
        self.zookeeper = ZooKeeperServer(self.data_dir / "zookeeper", zookeeper_port, host=host)
        self.brokers = [
            BrokerProcess(
                broker_id=i,
                port=base_port + i,
                command=make_command(
                    self.zookeeper_connect,
                    i,
                    base_port + i,
                    self.data_dir / f"broker-{i}",
                    host=host,
                    overrides=[*overrides, _http_listener(host, http_base_port, i)],
                ),
                log_path=self.data_dir / f"broker-{i}.log",
            )
            for i in range(brokers)
        ]

    @property
    def zookeeper_connect(self) -> str:
        return f"{self.zookeeper.connect}{CHROOT}"

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{self.host}:{b.port}" for b in self.brokers)

    bootstrap_servers = bootstrap  # the name the pytest plugin's fixtures share

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start ZooKeeper, then every broker; return once all of them listen."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for broker in self.brokers:
            if not _port_free(self.host, broker.port):
                raise RuntimeError(f"port {broker.port} is taken: choose another --base-port")
        self.zookeeper.start(timeout)
        self.out(f"ZooKeeper {self.zookeeper_connect} (log {self.zookeeper.log_path})")
        for broker in self.brokers:
            with open(broker.log_path, "ab") as log_file:
                broker.proc = subprocess.Popen(
                    broker.command,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
        deadline = time.monotonic() + timeout
        for broker in self.brokers:
            while not _listening(self.host, broker.port):
                if broker.proc.poll() is not None:
                    tail = broker.log_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(
                        f"broker {broker.broker_id} exited with status "
                        f"{broker.proc.returncode}:\n{tail}"
                    )
                if time.monotonic() > deadline:
                    raise RuntimeError(f"broker {broker.broker_id} did not listen in {timeout}s")
                time.sleep(0.1)
            self.out(
                f"broker {broker.broker_id} on {self.host}:{broker.port} "
                f"(log {broker.log_path}, pid {broker.proc.pid})"
            )

    def check(self) -> None:
        """Report brokers that exited since the last check (they are not restarted)."""
        for broker in self.brokers:
            if broker.proc is not None and broker.proc.poll() is not None:
                if not broker.reported_exit:
                    broker.reported_exit = True
                    self.out(
                        f"broker {broker.broker_id} exited with status {broker.proc.returncode} "
                        f"(see {broker.log_path})"
                    )

    def stop(self) -> None:
        """Stop every broker (SIGTERM, in parallel), then ZooKeeper."""
        running = [b for b in self.brokers if b.proc is not None and b.proc.poll() is None]
        for broker in running:
            broker.proc.send_signal(signal.SIGTERM)
        for broker in running:
            try:
                broker.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.out(f"broker {broker.broker_id} did not stop; killing it")
                broker.proc.kill()
                broker.proc.wait(STOP_TIMEOUT)
        self.zookeeper.stop()


def _listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--brokers", type=int, default=3, help="number of brokers (default 3)")
    parser.add_argument(
        "--base-port", type=int, default=9092, help="broker i listens on base+i (default 9092)"
    )
    parser.add_argument(
        "--data-dir", default="dev-cluster", help="logs and data (default ./dev-cluster)"
    )
    parser.add_argument(
        "--zookeeper-port", type=int, default=None, help="ZooKeeper's port (default: a free one)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address of every process")
    parser.add_argument(
        "--http-base-port",
        type=int,
        default=9644,
        help="broker i serves /metrics on base+i (default 9644; 0: no HTTP listener)",
    )
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a server.properties key for every broker, e.g. --override min.insync.replicas=2",
    )


def main(args: argparse.Namespace, signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM)) -> int:
    """Run the dev cluster until a signal; 0 after a clean stop, 1 if start-up failed."""
    cluster = DevCluster(
        args.brokers,
        args.base_port,
        Path(args.data_dir),
        zookeeper_port=args.zookeeper_port,
        host=args.host,
        overrides=args.override,
        http_base_port=args.http_base_port,
    )
    stopping = False

    def on_signal(signum, frame) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, on_signal) for s in signals}
    try:
        try:
            cluster.start()
        except (RuntimeError, OSError) as exc:
            print(f"kafka-compat dev-cluster: {exc}", file=sys.stderr)
            return 1
        print(f"Bootstrap servers: {cluster.bootstrap}", flush=True)
        print("Ctrl-C stops the cluster.", flush=True)
        while not stopping:
            cluster.check()
            time.sleep(0.2)
        print("Stopping the cluster...", flush=True)
        return 0
    finally:
        cluster.stop()
        print("Stopped.", flush=True)
        for s, handler in previous.items():
            signal.signal(s, handler)
