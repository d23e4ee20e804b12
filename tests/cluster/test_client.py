"""BrokerClient: the inter-broker client, against our own broker and against stub
peers that misbehave on purpose."""

from __future__ import annotations

import functools
import socket
import struct
from collections.abc import Awaitable, Callable

import pytest
import trio

from kafka_compat.cluster.client import (
    BrokerClient,
    BrokerProtocolError,
    BrokerRequestTimeout,
    BrokerUnavailable,
)
from protocol import messages
from protocol.headers import decode_request_header, encode_response_header

GUARD_S = 30  # failure guard, never a timing


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def metadata_request(*topics: str):
    r = messages.MetadataRequest
    return r(
        topics=[r.MetadataRequestTopic(name=t) for t in topics], allow_auto_topic_creation=False
    )


async def test_api_versions_and_metadata_from_our_broker(broker):
    async with BrokerClient("127.0.0.1", broker.port, "broker-9") as client:
        with trio.fail_after(GUARD_S):
            versions = await client.api_versions()
            assert versions[3][1] >= 12 and 18 in versions
            v0 = await client.send(18, 0, messages.ApiVersionsRequest())
            assert {k.api_key for k in v0.api_keys} == set(versions)
            meta = await client.send(3, 12, metadata_request())
        assert meta.cluster_id and [b.port for b in meta.brokers] == [broker.port]
        assert await client.pick_version(3, 12) == 12
        assert await client.pick_version(3, 99) == versions[3][1]
        with pytest.raises(BrokerProtocolError):
            await client.pick_version(3, 99, lowest=versions[3][1] + 1)
        assert client.connected


async def test_concurrent_requests_share_the_connection_in_order(broker):
    async with BrokerClient("127.0.0.1", broker.port, "broker-9") as client:
        answers: dict[str, str] = {}

        async def ask(name: str) -> None:
            response = await client.send(3, 9, metadata_request(name))
            answers[name] = response.topics[0].name

        with trio.fail_after(GUARD_S):
            async with trio.open_nursery() as nursery:
                for i in range(20):
                    nursery.start_soon(ask, f"topic-{i}")
        assert answers == {f"topic-{i}": f"topic-{i}" for i in range(20)}


async def test_reconnects_after_the_peer_restarts(broker):
    async with BrokerClient("127.0.0.1", broker.port, "broker-9") as client:
        with trio.fail_after(GUARD_S):
            first = await client.send(3, 12, metadata_request())
            old_connection = client._conn
            await trio.to_thread.run_sync(broker.restart)
            # The old socket is dead; the client notices and retries on a new one.
            second = await client.send(3, 12, metadata_request())
        assert second.cluster_id == first.cluster_id
        assert client._conn is not old_connection


async def test_a_peer_that_is_down_is_a_clear_error():
    port = unused_port()
    async with BrokerClient("127.0.0.1", port, "broker-9", connect_timeout=GUARD_S) as client:
        with pytest.raises(BrokerUnavailable, match=f"cannot connect to broker 127.0.0.1:{port}"):
            await client.send(3, 12, metadata_request())
        assert not client.connected


async def test_a_closed_client_refuses(broker):
    client = BrokerClient("127.0.0.1", broker.port, "broker-9")
    await client.send(18, 3, messages.ApiVersionsRequest())
    await client.aclose()
    with pytest.raises(BrokerUnavailable, match="closed"):
        await client.send(18, 3, messages.ApiVersionsRequest())


# ---------------------------------------------------------------------------
# Stub peers.

Handler = Callable[[trio.SocketStream], Awaitable[None]]


async def read_request(stream: trio.SocketStream) -> bytes | None:
    buf = b""
    while len(buf) < 4 or len(buf) < 4 + struct.unpack(">i", buf[:4])[0]:
        chunk = await stream.receive_some(65536)
        if not chunk:
            return None
        buf += chunk
    return buf[4:]


async def serve_stub(nursery: trio.Nursery, handler: Handler) -> int:
    listeners = await nursery.start(functools.partial(trio.serve_tcp, host="127.0.0.1"), handler, 0)
    return listeners[0].socket.getsockname()[1]


async def test_a_peer_that_does_not_answer_times_out(nursery):
    async def silent(stream: trio.SocketStream) -> None:
        await read_request(stream)
        await trio.sleep_forever()

    port = await serve_stub(nursery, silent)
    client = BrokerClient("127.0.0.1", port, "broker-9", request_timeout=0.2)
    with pytest.raises(BrokerRequestTimeout, match="did not answer Metadata v12"):
        await client.send(3, 12, metadata_request())
    assert not client.connected  # out of step with the peer: dropped
    with pytest.raises(BrokerRequestTimeout):
        await client.send(3, 12, metadata_request(), timeout=0.05)
    await client.aclose()


async def test_a_wrong_correlation_id_is_a_protocol_error(nursery):
    async def confused(stream: trio.SocketStream) -> None:
        body = await read_request(stream)
        header = decode_request_header(body)
        response = messages.encode_response(18, 0, messages.ApiVersionsResponse())
        head = encode_response_header(header.correlation_id + 1, False)
        await stream.send_all(struct.pack(">i", len(head) + len(response)) + head + response)
        await trio.sleep_forever()

    port = await serve_stub(nursery, confused)
    async with BrokerClient("127.0.0.1", port, "broker-9") as client:
        with pytest.raises(BrokerProtocolError, match="correlation id"):
            await client.send(18, 0, messages.ApiVersionsRequest())
        assert not client.connected


async def test_a_peer_that_closes_mid_request_is_unavailable(nursery):
    async def hang_up(stream: trio.SocketStream) -> None:
        await read_request(stream)
        await stream.aclose()

    port = await serve_stub(nursery, hang_up)
    async with BrokerClient("127.0.0.1", port, "broker-9") as client:
        with pytest.raises(BrokerUnavailable, match="closed by the peer"):
            await client.send(18, 3, messages.ApiVersionsRequest())


async def test_inter_broker_headers_on_the_wire(nursery):
    """ControlledShutdown v0 goes with request header v0; v3 is flexible both ways."""
    seen = []

    async def controller(stream: trio.SocketStream) -> None:
        while (body := await read_request(stream)) is not None:
            header = decode_request_header(body)
            request = messages.decode_request(7, header.api_version, body[header.body_offset :])
            seen.append((header.api_version, header.client_id, request.broker_id))
            r = messages.ControlledShutdownResponse
            response = messages.encode_response(
                7,
                header.api_version,
                r(remaining_partitions=[r.RemainingPartition(topic_name="t", partition_index=1)]),
            )
            head = encode_response_header(header.correlation_id, header.api_version >= 3)
            await stream.send_all(struct.pack(">i", len(head) + len(response)) + head + response)

    port = await serve_stub(nursery, controller)
    async with BrokerClient("127.0.0.1", port, "broker-2") as client:
        for version in (0, 1, 2, 3):
            request = messages.ControlledShutdownRequest(broker_id=2, broker_epoch=5)
            response = await client.send(7, version, request)
            assert response.remaining_partitions[0].partition_index == 1
    assert seen == [(0, None, 2), (1, "broker-2", 2), (2, "broker-2", 2), (3, "broker-2", 2)]


@pytest.fixture
async def nursery():
    async with trio.open_nursery() as nursery:
        yield nursery
        nursery.cancel_scope.cancel()
