"""FrameReader over TLS: frames sent as many small TLS records (as librdkafka writes
them) arrive whole and in order, read through the drain of already-received records
(server.py), and trio still keeps the SSLObject where that drain looks for it."""

from __future__ import annotations

import ssl
import struct

import trio
import trio.testing

from kafka_compat.server import FrameReader
from tests.security.certs import make_certs


def test_frames_written_as_small_records_arrive_whole(tmp_path):
    certs = make_certs(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(certs.broker_keystore)
    client_ctx = ssl.create_default_context(cafile=str(certs.ca))
    frames = [bytes([i % 251]) * size for i, size in enumerate([1, 5000, 1_000_000, 70_000, 3])]

    async def main() -> list[bytes]:
        client_raw, server_raw = trio.testing.memory_stream_pair()
        client = trio.SSLStream(client_raw, client_ctx, server_hostname="localhost")
        server = trio.SSLStream(server_raw, server_ctx, server_side=True)
        reader = FrameReader(server, 10_000_000)
        assert reader.ssl_object is not None, "trio moved SSLStream._ssl_object"
        drained = []

        class Counting:  # the drain's reads, to see that it runs
            def read(self, size, buffer):
                got = server._ssl_object.read(size, buffer)
                drained.append(got)
                return got

        reader.ssl_object = Counting()
        received: list[bytes] = []

        async def send() -> None:
            data = b"".join(struct.pack(">i", len(f)) + f for f in frames)
            for start in range(0, len(data), 2500):  # one TLS record per write
                await client.send_all(data[start : start + 2500])

        async def receive() -> None:
            for _ in frames:
                received.append(bytes(await reader.read_frame()))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send)
            nursery.start_soon(receive)
        assert sum(drained) > 100_000  # records taken without a trip each
        return received

    assert trio.run(main) == frames
