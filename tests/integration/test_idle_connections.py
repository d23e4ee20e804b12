"""connections.max.idle.ms and socket.listen.backlog.size over real sockets: the broker
closes a connection that sent no request for the idle time (Kafka's Selector), never one
whose request is still being answered, and clients reconnect without losing anything;
the listening socket's accept queue is the configured backlog (shown by `ss`)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kafka_compat.tools.connection import Connection
from protocol import messages
from protocol.api_keys import ApiKey
from tests.integration.test_connection_limits import ask, open_raw

GUARD_S = 30  # failure guard for waits, not a timing
IDLE_MS = 400
Fetch = messages.request_type(ApiKey.FETCH)


def closed_by_broker(sock: socket.socket) -> bool:
    """Wait (up to the guard) for the broker to close a connection we left alone."""
    sock.settimeout(GUARD_S)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_an_idle_connection_is_closed(broker_factory):
    broker = broker_factory(connections_max_idle_ms=str(IDLE_MS))
    sock = open_raw(broker.port)
    assert ask(sock)
    started = time.monotonic()
    assert closed_by_broker(sock)
    assert time.monotonic() - started >= IDLE_MS / 1000 * 0.9
    sock.close()
    # A connection that never sent anything is idle too.
    silent = open_raw(broker.port)
    assert closed_by_broker(silent)
    silent.close()


def test_a_busy_connection_stays_open(broker_factory):
    # Asking every 0.1 s for 2.5 idle periods; a longer idle time than the other tests'
    # so that a stalled test process does not look idle.
    idle_ms = 1000
    broker = broker_factory(connections_max_idle_ms=str(idle_ms))
    sock = open_raw(broker.port)
    deadline = time.monotonic() + 2.5 * idle_ms / 1000
    while time.monotonic() < deadline:
        assert ask(sock), "the broker closed a connection that kept asking"
        time.sleep(0.1)
    sock.close()


def test_a_request_longer_than_the_idle_time_is_answered(broker_factory):
    """A long-poll Fetch (max wait 3x the idle time) is not cut: a connection waiting
    for its answer is not idle."""
    broker = broker_factory(connections_max_idle_ms=str(IDLE_MS))
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("quiet", 1, 1)])["quiet"].result(GUARD_S)
    with Connection("127.0.0.1", broker.port, GUARD_S) as connection:
        request = Fetch(
            replica_id=-1,
            max_wait_ms=3 * IDLE_MS,
            min_bytes=1,
            topics=[
                Fetch.FetchTopic(
                    topic="quiet",
                    partitions=[
                        Fetch.FetchPartition(
                            partition=0, fetch_offset=0, partition_max_bytes=1 << 20
                        )
                    ],
                )
            ],
        )
        started = time.monotonic()
        answer = connection.request(ApiKey.FETCH, request, version=4)
        assert time.monotonic() - started >= 3 * IDLE_MS / 1000 * 0.9  # it did wait
        assert answer.responses[0].partitions[0].error_code == 0


def test_clients_reconnect_after_an_idle_close(broker_factory):
    # Longer than librdkafka's 1 s re-query of a leaderless topic: once its only
    # connection is closed, librdkafka (2.16) re-bootstraps and sends the Metadata it
    # waits for only on that 1 s tick, so a bootstrap connection closed sooner never
    # carries it (the same with Kafka; with Kafka's default of 10 minutes it cannot
    # happen).
    idle_ms = 2000
    broker = broker_factory(connections_max_idle_ms=str(idle_ms))
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    for i in range(2):
        producer.produce("after-idle", b"record-%d" % i)
        assert producer.flush(GUARD_S) == 0
        time.sleep(2 * idle_ms / 1000)  # every connection of the producer is closed
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": "after-idle",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe(["after-idle"])
    values = []
    deadline = time.monotonic() + GUARD_S
    while len(values) < 2 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            values.append(message.value())
    consumer.close()
    assert values == [b"record-0", b"record-1"]


def test_the_listen_backlog_is_the_configured_size(broker_factory):
    ss = shutil.which("ss")
    assert ss, "ss (Debian's iproute2) is missing: ./dev test installs it"
    broker = broker_factory(socket_listen_backlog_size="7")
    shown = subprocess.run(
        [ss, "-Hltn", f"sport = :{broker.port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    # State, Recv-Q (waiting to be accepted), Send-Q (for a listener: its backlog), ...
    assert shown[0] == "LISTEN" and shown[2] == "7", shown
