"""The message browser (records of one partition) and producing a message by hand.

Browse: from an offset, a timestamp (the time index, as ListOffsets), the beginning,
or the end (the last N below the high watermark); what a read_uncommitted consumer
sees, read from this broker's replica (leader, or follower up to its high watermark)
in pieces with a checkpoint between them; control batches (transaction markers) are
left out. Keys, values and header values go out base64-encoded: the page shows them
as text, JSON or hex. The live tail polls with `from=offset&offset=<next_offset>`.

Produce: one record built with protocol/records.py into a v2 batch, through the
broker's own Produce handler (acks -1 or 1), so it is validated, given offsets,
counted and replicated like a client's. A partition this broker does not lead
answers 409 naming its leader.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

import trio
from starlette.requests import Request

from kafka_compat.apis.registry import Components
from kafka_compat.http.console.common import (
    ApiError,
    body,
    broker_label,
    call_api,
    integer,
    kafka_error,
    query_int,
    require_writes,
)
from kafka_compat.http.console.topics import partition_states
from kafka_compat.replica import FetchIsolation, OfflineLog, Partition, RemoteLog
from kafka_compat.topics import INTERNAL_TOPICS
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.records import InvalidRecordError, build_batch, decode_batch, iter_batch_headers
from storage.errors import LogError

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
READ_PIECE = 256 * 1024  # bytes read (and decoded) between two checkpoints
MAX_SHOWN = 64 * 1024  # bytes of a key or value sent to the page; longer ones are cut
MAX_PAGE_BYTES = 4 * 1024 * 1024  # keys and values of one answer, at most (about)
PRODUCE_TIMEOUT_MS = 30_000


def _b64(data: bytes | None) -> str | None:
    if data is None:
        return None
    return base64.b64encode(data[:MAX_SHOWN]).decode()


def _leader_elsewhere(components: Components, topic: str, index: int, what: str) -> ApiError:
    leader = -1
    for state in partition_states(components, topic) or ():
        if state["partition"] == index:
            leader = state["leader"]
    if leader < 0:
        return ApiError(503, f"{topic}-{index} has no leader now", leader=None)
    label = broker_label(components, leader)
    where = f"broker {leader}"
    if label["host"]:
        where += f" ({label['host']}:{label['port']})"
    return ApiError(
        409, f"{topic}-{index} is led by {where}, not this broker: {what} there", leader=label
    )


def _local_partition(components: Components, topic: str, index: int, what: str) -> Partition:
    states = partition_states(components, topic)
    if states is None:
        raise ApiError(404, f"Topic {topic} does not exist.")
    if not any(s["partition"] == index for s in states):
        raise ApiError(404, f"Topic {topic} has no partition {index}.")
    partition = components.replica_manager.get_partition(topic, index)
    if partition is None or isinstance(partition.log, RemoteLog):
        raise _leader_elsewhere(components, topic, index, what)
    if isinstance(partition.log, OfflineLog):
        raise ApiError(503, f"{topic}-{index}: this broker's replica is offline (log dir failed)")
    return partition


def _start_offset(request: Request, partition: Partition, limit: int) -> int:
    start, end = partition.log.log_start_offset, partition.high_watermark
    mode = request.query_params.get("from", "end")
    if mode == "beginning":
        return start
    if mode == "end":
        return max(start, end - limit)
    if mode == "offset":
        offset = query_int(request, "offset")
        if offset is None:
            raise ApiError(400, "from=offset needs offset=N")
        return min(max(offset, start), end)
    if mode == "timestamp":
        timestamp = query_int(request, "timestamp", minimum=0)
        if timestamp is None:
            raise ApiError(400, "from=timestamp needs timestamp=<ms since the epoch>")
        found = partition.offset_for_timestamp(timestamp, FetchIsolation.HIGH_WATERMARK)
        return end if found is None else found.offset
    raise ApiError(400, f"from must be beginning, end, offset or timestamp, not {mode!r}")


async def browse(request: Request, components: Components) -> dict[str, Any]:
    topic = request.path_params["topic"]
    index = integer(request.path_params["partition"], "partition", 0)
    limit = query_int(request, "limit", DEFAULT_LIMIT, minimum=1)
    limit = min(limit, MAX_LIMIT)
    partition = _local_partition(components, topic, index, "browse it")
    try:
        offset = first = _start_offset(request, partition, limit)
        page = _Page(limit)
        while not page.full and offset < partition.high_watermark:
            info = partition.read(offset, READ_PIECE, FetchIsolation.HIGH_WATERMARK)
            if not info.records:
                break
            offset = page.add_batches(info.records, offset)
            await trio.sleep(0)  # a big read goes in pieces: Kafka requests in between
    except LogError as exc:
        raise kafka_error(exc.error_code, str(exc)) from None
    return {
        "topic": topic,
        "partition": index,
        "start_offset": first,
        "next_offset": offset,
        "log_start_offset": partition.log.log_start_offset,
        "high_watermark": partition.high_watermark,
        "replica": "leader" if partition.is_leader else "follower",
        "messages": page.found,
    }


class _Page:
    """The records of one answer: at most `limit`, and about MAX_PAGE_BYTES of keys and
    values."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.found: list[dict[str, Any]] = []
        self.size = 0

    @property
    def full(self) -> bool:
        return len(self.found) >= self.limit or self.size >= MAX_PAGE_BYTES

    def add_batches(self, records: bytes, offset: int) -> int:
        """Add the records at or after `offset` of the batches in `records` until full;
        the offset to read next."""
        view = memoryview(records)
        try:
            for pos, header in iter_batch_headers(view):
                batch_end = header.base_offset + header.last_offset_delta + 1
                if header.is_control or batch_end <= offset:
                    offset = max(offset, batch_end)
                    continue
                _, decoded = decode_batch(view[pos : pos + header.size])
                for record in decoded:
                    if record.offset < offset:
                        continue
                    if self.full:
                        return record.offset
                    self.found.append(_record(record, header))
                    self.size += min(len(record.key or b""), MAX_SHOWN)
                    self.size += min(len(record.value or b""), MAX_SHOWN)
                offset = batch_end
        except InvalidRecordError as exc:
            raise ApiError(500, f"Cannot decode the batch at offset {offset}: {exc}") from None
        finally:
            view.release()
        return offset


def _record(record, header) -> dict[str, Any]:
    return {
        "offset": record.offset,
        "timestamp": record.timestamp,
        "timestamp_type": "LogAppendTime" if header.is_log_append_time else "CreateTime",
        "key": _b64(record.key),
        "value": _b64(record.value),
        "key_size": None if record.key is None else len(record.key),
        "value_size": None if record.value is None else len(record.value),
        "headers": [[name, _b64(value)] for name, value in record.headers],
        "transactional": header.is_transactional,
    }


def _bytes(value: Any, encoding: str, name: str) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string or null")
    if encoding == "text":
        return value.encode()
    if encoding == "base64":
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise ApiError(400, f"{name} is not valid base64") from None
    if encoding == "hex":
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise ApiError(400, f"{name} is not valid hex") from None
    raise ApiError(400, f"encoding must be text, base64 or hex, not {encoding!r}")


def _headers(data: dict, encoding: str) -> list[tuple[str, bytes | None]]:
    raw = data.get("headers") or []
    if isinstance(raw, dict):
        raw = list(raw.items())
    if not isinstance(raw, list):
        raise ApiError(400, "headers must be a list of [name, value] or an object")
    headers = []
    for item in raw:
        if not (isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise ApiError(400, "each header must be [name, value] with a string name")
        headers.append((item[0], _bytes(item[1], encoding, f"header {item[0]}")))
    return headers


async def produce(request: Request, components: Components) -> dict[str, Any]:
    """Body {partition, key, value, headers: [[name, value]], acks (-1 or 1), encoding
    ("text", "base64" or "hex", for key, value and header values)}."""
    require_writes(components)
    topic = request.path_params["topic"]
    data = await body(request)
    index = integer(data.get("partition", 0), "partition", 0)
    acks = integer(data.get("acks", -1), "acks")
    if acks not in (-1, 1):
        raise ApiError(400, "acks must be -1 (all) or 1 (the leader): acks=0 has no answer")
    if topic in INTERNAL_TOPICS:
        raise ApiError(400, f"Cannot append to internal topic {topic}")
    encoding = data.get("encoding", "text")
    key = _bytes(data.get("key"), encoding, "key")
    value = _bytes(data.get("value"), encoding, "value")
    headers = _headers(data, encoding)
    partition = _local_partition(components, topic, index, "produce to it")
    if not partition.is_leader:
        raise _leader_elsewhere(components, topic, index, "produce to it")
    timestamp = int(time.time() * 1000)
    records = build_batch([(key, value, headers, timestamp)])
    Req = messages.request_type(ApiKey.PRODUCE)
    answer = await call_api(
        components,
        ApiKey.PRODUCE,
        Req(
            transactional_id=None,
            acks=acks,
            timeout_ms=PRODUCE_TIMEOUT_MS,
            topic_data=[
                Req.TopicProduceData(
                    name=topic,
                    partition_data=[Req.PartitionProduceData(index=index, records=records)],
                )
            ],
        ),
    )
    result = answer.responses[0].partition_responses[0]
    if result.error_code:
        raise kafka_error(result.error_code, result.error_message)
    return {
        "topic": topic,
        "partition": index,
        "offset": result.base_offset,
        "timestamp": timestamp,
    }
