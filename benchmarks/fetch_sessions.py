"""What a consumer of many partitions with nothing new costs per Fetch, without a fetch
session (a full fetch every time: what every client got before KIP-227) and with one
(incremental fetches naming nothing): request and response bytes on the wire and the
round trip (max_wait_ms 0, so no waiting; the client's own encode/decode is printed
apart, the broker's share is the difference).

    python benchmarks/fetch_sessions.py [--partitions 1000] [--rounds 200]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import trio
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kafka_compat.cluster.client import BrokerClient
from protocol import messages
from protocol.api_keys import ApiKey

F = messages.request_type(ApiKey.FETCH)
VERSION = 12
TOPIC = "fetch-sessions-bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch_request(partitions: dict[int, int], session_id: int, epoch: int):
    topics = []
    if partitions:
        topics = [
            F.FetchTopic(
                topic=TOPIC,
                partitions=[
                    F.FetchPartition(partition=p, fetch_offset=o, partition_max_bytes=1 << 20)
                    for p, o in partitions.items()
                ],
            )
        ]
    return F(
        replica_id=-1,
        max_wait_ms=0,
        min_bytes=1,
        max_bytes=50 << 20,
        isolation_level=0,
        session_id=session_id,
        session_epoch=epoch,
        topics=topics,
        forgotten_topics_data=[],
        rack_id="",
    )


def sizes(request, response) -> tuple[int, int]:
    return (
        len(messages.encode_request(ApiKey.FETCH, VERSION, request)),
        len(messages.encode_response(ApiKey.FETCH, VERSION, response)),
    )


def client_codec_ms(request, response, rounds: int = 50) -> float:
    """The client side's encode of the request and decode of the response."""
    body = messages.encode_response(ApiKey.FETCH, VERSION, response)
    began = time.perf_counter()
    for _ in range(rounds):
        messages.encode_request(ApiKey.FETCH, VERSION, request)
        messages.decode_response(ApiKey.FETCH, VERSION, body)
    return (time.perf_counter() - began) / rounds * 1000


async def measure(port: int, partitions: int, rounds: int) -> None:
    offsets = dict.fromkeys(range(partitions), 1)  # at the log end: nothing new
    async with BrokerClient("127.0.0.1", port, "bench", request_timeout=60) as client:

        async def timed(request):
            began = time.perf_counter()
            response = await client.send(ApiKey.FETCH, VERSION, request)
            return response, (time.perf_counter() - began) * 1000

        # Without a session: the full request every time, every partition answered.
        full = fetch_request(offsets, 0, -1)
        times = []
        for _ in range(rounds):
            response, ms = await timed(full)
            times.append(ms)
        report("sessionless (before)", full, response, times)

        # With one: a full fetch opens it, then incremental fetches name nothing.
        opened, _ = await timed(fetch_request(offsets, 0, 0))
        if not opened.session_id:
            print("incremental session    none: this broker declines fetch sessions")
            return
        times = []
        for epoch in range(1, rounds + 1):
            request = fetch_request({}, opened.session_id, epoch)
            response, ms = await timed(request)
            assert response.error_code == 0 and not response.responses
            times.append(ms)
        report("incremental session", request, response, times)


def report(name: str, request, response, times: list[float]) -> None:
    request_bytes, response_bytes = sizes(request, response)
    median = statistics.median(times)
    codec = client_codec_ms(request, response)
    print(
        f"{name:22} request {request_bytes:7d} B  response {response_bytes:7d} B  "
        f"round trip median {median:7.2f} ms  (client codec {codec:5.2f} ms, "
        f"broker ~{median - codec:6.2f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--partitions", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kafka_compat", "serve", "--port", str(port), "--http-port", "0"]
            + ["--data-dir", data_dir, "--log-level", "WARNING"],
        )
        try:
            bootstrap = f"127.0.0.1:{port}"
            admin = AdminClient({"bootstrap.servers": bootstrap})
            deadline = time.monotonic() + 60
            while True:
                try:
                    admin.list_topics(timeout=1)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
            admin.create_topics([NewTopic(TOPIC, num_partitions=args.partitions)])[TOPIC].result(60)
            producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
            for p in range(args.partitions):
                producer.produce(TOPIC, b"x", partition=p)
            assert producer.flush(60) == 0
            print(f"{args.partitions} partitions, one record each, fetched at the log end")
            trio.run(measure, port, args.partitions, args.rounds)
        finally:
            proc.terminate()
            proc.wait(15)


if __name__ == "__main__":
    main()
