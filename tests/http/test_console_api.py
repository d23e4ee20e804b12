"""The console's JSON API (/api/...), as the page and a script see it: status codes,
error messages, and that what it shows and writes is what Kafka clients see.

One broker (HTTP listener on) for the module; each test uses its own topics and groups.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from tests.conftest import BrokerHandle

GUARD_S = 60.0
ACL_AUTHORIZER = "kafka.security.authorizer.AclAuthorizer"


def start_broker(data_dir: Path, **props: str) -> BrokerHandle:
    handle = BrokerHandle(
        data_dir,
        {"http.listener": "127.0.0.1:0", "group.initial.rebalance.delay.ms": "0", **props},
    )
    handle.start()
    return handle


@pytest.fixture(scope="module")
def broker(tmp_path_factory) -> Iterator[BrokerHandle]:
    handle = start_broker(tmp_path_factory.mktemp("console-api"))
    yield handle
    handle.stop()


class Http:
    def __init__(self, handle: BrokerHandle) -> None:
        self.base = f"http://127.0.0.1:{handle.broker.http_port}/api"

    def __call__(self, method: str, path: str, body=None, raw: bytes | None = None, **headers):
        """(status, decoded JSON answer); `headers` replace the defaults."""
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **headers}
        request = urllib.request.Request(self.base + path, data=data, method=method)
        for name, value in headers.items():
            request.add_header(name.replace("_", "-"), value)
        try:
            with urllib.request.urlopen(request, timeout=GUARD_S) as resp:
                assert resp.headers["Content-Type"] == "application/json"
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            assert exc.headers["Content-Type"] == "application/json"
            return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def http(broker) -> Http:
    return Http(broker)


def new_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create(http: Http, name: str, partitions: int = 1, **extra) -> None:
    status, answer = http("POST", "/topics", {"name": name, "partitions": partitions, **extra})
    assert status == 201, answer


def test_cluster_shows_this_broker_as_the_whole_cluster_and_controller(broker, http):
    status, info = http("GET", "/cluster")
    assert status == 200
    assert info["mode"] == "single node" and info["controller_id"] == 0
    assert info["brokers"] == [
        {
            "id": 0,
            "host": "127.0.0.1",
            "port": broker.port,
            "rack": None,
            "alive": True,
            "controller": True,
            "self": True,
        }
    ]
    assert info["writes"] == {"allowed": True, "reason": ""}


def test_create_describe_alter_and_delete_a_topic(http):
    name = new_name("api-topic")
    create(http, name, partitions=3, configs={"retention.ms": "3600000"})
    status, listing = http("GET", "/topics")
    row = next(t for t in listing["topics"] if t["name"] == name)
    assert row["partitions"] == 3 and row["replication_factor"] == 1
    assert row["under_replicated"] == 0 and row["size"] == 0

    status, topic = http("GET", f"/topics/{name}")
    assert status == 200
    assert [p["partition"] for p in topic["partitions"]] == [0, 1, 2]
    first = topic["partitions"][0]
    assert (first["leader"], first["replicas"], first["isr"]) == (0, [0], [0])
    assert first["local"]["log_end_offset"] == 0
    configs = {c["name"]: c for c in topic["configs"]}
    assert configs["retention.ms"] == {
        "name": "retention.ms",
        "value": "3600000",
        "source": "topic",
    }

    status, altered = http(
        "PATCH",
        f"/topics/{name}/configs",
        {"set": {"cleanup.policy": "compact"}, "delete": ["retention.ms"]},
    )
    assert status == 200
    configs = {c["name"]: c for c in altered["configs"]}
    assert configs["cleanup.policy"]["value"] == "compact"
    assert configs["retention.ms"]["source"] != "topic"

    assert http("DELETE", f"/topics/{name}") == (200, {"deleted": name})
    status, answer = http("GET", f"/topics/{name}")
    assert status == 404 and answer["error"] == f"Topic {name} does not exist."


def test_topic_errors_are_4xx_with_kafkas_reason(http):
    name = new_name("api-errors")
    create(http, name)
    status, answer = http("POST", "/topics", {"name": name})
    assert status == 409 and answer["kafka_error"] == "TOPIC_ALREADY_EXISTS"
    status, answer = http("POST", "/topics", {"name": "bad name!"})
    assert status == 400 and answer["kafka_error"] == "INVALID_TOPIC_EXCEPTION"
    status, answer = http("POST", "/topics", {"name": new_name("x"), "configs": {"nope.ms": "1"}})
    assert status == 400 and "nope.ms" in answer["error"]
    status, answer = http("POST", "/topics", {"name": new_name("x"), "replication_factor": 3})
    assert status == 400 and answer["kafka_error"] == "INVALID_REPLICATION_FACTOR"
    status, answer = http("POST", "/topics", raw=b"{not json")
    assert status == 400 and "not JSON" in answer["error"]
    status, answer = http("POST", "/topics", {"partitions": 1})
    assert status == 400 and "name" in answer["error"]
    status, answer = http("PATCH", f"/topics/{name}/configs", {"set": {"retention.msx": "1"}})
    assert status == 400 and "retention.msx" in answer["error"]
    assert http("DELETE", f"/topics/{new_name('missing')}")[0] == 404
    status, answer = http("GET", "/no/such/route")
    assert status == 404 and "No such API route" in answer["error"]


def test_a_message_produced_through_the_api_is_read_by_a_client_and_browsed(broker, http):
    name = new_name("api-produce")
    create(http, name, partitions=2)
    status, done = http(
        "POST",
        f"/topics/{name}/messages",
        {"partition": 1, "key": "k", "value": '{"a": 1}', "headers": [["trace", "t-1"]]},
    )
    assert status == 200 and done["offset"] == 0 and done["partition"] == 1

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": new_name("g")})
    consumer.assign([TopicPartition(name, 1, 0)])
    try:
        message = consumer.poll(GUARD_S)
        assert message is not None and message.error() is None
        assert (message.key(), message.value()) == (b"k", b'{"a": 1}')
        assert message.headers() == [("trace", b"t-1")]
        assert message.timestamp()[1] == done["timestamp"]
    finally:
        consumer.close()

    status, page = http("GET", f"/topics/{name}/partitions/1/messages?from=beginning")
    assert status == 200 and page["high_watermark"] == 1 and page["next_offset"] == 1
    [record] = page["messages"]
    assert base64.b64decode(record["value"]) == b'{"a": 1}'
    assert record["headers"] == [["trace", base64.b64encode(b"t-1").decode()]]


def test_the_browser_reads_from_an_offset_a_timestamp_or_the_end(broker, http):
    name = new_name("api-browse")
    create(http, name)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    base_ms = int(time.time() * 1000) - 100_000
    for i in range(30):
        producer.produce(name, value=f"v{i}".encode(), timestamp=base_ms + i * 1000)
        producer.flush(GUARD_S)  # one batch per record: reads start inside batches too
    path = f"/topics/{name}/partitions/0/messages"

    def offsets(query: str) -> list[int]:
        status, page = http("GET", f"{path}?{query}")
        assert status == 200, page
        return [m["offset"] for m in page["messages"]]

    assert offsets("from=end&limit=5") == [25, 26, 27, 28, 29]
    assert offsets("from=offset&offset=10&limit=3") == [10, 11, 12]
    assert offsets(f"from=timestamp&timestamp={base_ms + 20_500}&limit=2") == [21, 22]
    assert offsets("from=beginning&limit=2") == [0, 1]
    assert offsets("from=offset&offset=30") == []

    status, answer = http("GET", f"{path}?from=offset")
    assert status == 400 and "offset=N" in answer["error"]
    status, answer = http("GET", f"{path}?from=yesterday")
    assert status == 400
    status, answer = http("GET", f"/topics/{name}/partitions/7/messages")
    assert status == 404 and "no partition 7" in answer["error"]
    status, answer = http("POST", f"/topics/{name}/messages", {"value": "x", "acks": 0})
    assert status == 400 and "acks" in answer["error"]
    status, answer = http("POST", f"/topics/{new_name('missing')}/messages", {"value": "x"})
    assert status == 404


def test_large_values_are_cut_and_an_answer_stays_a_few_mib(broker, http):
    name = new_name("api-large")
    create(http, name)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(80):
        producer.produce(name, value=bytes([i]) * 100 * 1024)
    assert producer.flush(GUARD_S) == 0
    status, page = http("GET", f"/topics/{name}/partitions/0/messages?from=beginning&limit=500")
    assert status == 200
    shown = page["messages"]
    # Each value is cut to 64 KiB (its full size said), and the answer stops at 4 MiB.
    assert [m["offset"] for m in shown] == list(range(64)) and page["next_offset"] == 64
    assert all(m["value_size"] == 100 * 1024 for m in shown)
    assert base64.b64decode(shown[5]["value"]) == bytes([5]) * 64 * 1024


def commit(broker: BrokerHandle, group: str, topic: str, offset: int) -> None:
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
    finally:
        consumer.close()


def test_a_groups_lag_reset_and_delete(broker, http):
    topic, group = new_name("api-lag"), new_name("api-group")
    create(http, topic)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(10):
        producer.produce(topic, value=b"x%d" % i)
    producer.flush(GUARD_S)
    commit(broker, group, topic, 4)

    status, listing = http("GET", "/groups")
    row = next(g for g in listing["groups"] if g["group_id"] == group)
    assert (row["state"], row["lag"]) == ("Empty", 6)
    status, described = http("GET", f"/groups/{group}")
    assert status == 200 and described["total_lag"] == 6
    assert described["partitions"] == [
        {
            "topic": topic,
            "partition": 0,
            "committed": 4,
            "log_end_offset": 10,
            "lag": 6,
            "member_id": None,
        }
    ]

    reset = f"/groups/{group}/reset-offsets"
    status, plan = http("POST", reset, {"to": "earliest", "dry_run": True})
    assert status == 200 and plan["offsets"] == [{"topic": topic, "partition": 0, "offset": 0}]
    assert http("GET", f"/groups/{group}")[1]["total_lag"] == 6  # a dry run commits nothing
    status, done = http("POST", reset, {"to": "offset", "offset": 7, "topic": topic})
    assert status == 200 and done["committed"]
    assert http("GET", f"/groups/{group}")[1]["total_lag"] == 3
    status, answer = http("POST", reset, {"to": "sideways"})
    assert status == 400 and "to must be" in answer["error"]

    # A client sees the reset offset.
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        [committed] = consumer.committed([TopicPartition(topic, 0)], timeout=GUARD_S)
        assert committed.offset == 7
    finally:
        consumer.close()

    assert http("DELETE", f"/groups/{group}") == (200, {"deleted": group})
    assert http("GET", f"/groups/{group}")[0] == 404


def test_a_group_with_members_is_not_reset_nor_deleted(broker, http):
    topic, group = new_name("api-active"), new_name("api-active-group")
    create(http, topic)
    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + GUARD_S
        while http("GET", f"/groups/{group}")[1].get("state") != "Stable":
            consumer.poll(0.2)
            assert time.monotonic() < deadline, "the group never became Stable"
        status, answer = http("POST", f"/groups/{group}/reset-offsets", {"to": "earliest"})
        assert status == 409
        assert "can only be reset if the group" in answer["error"] and "Stable" in answer["error"]
        status, answer = http("DELETE", f"/groups/{group}")
        assert status == 409 and answer["kafka_error"] == "NON_EMPTY_GROUP"
        member = http("GET", f"/groups/{group}")[1]["members"][0]
        assert member["client_id"] == "rdkafka" and member["assignment"] == [
            {"topic": topic, "partitions": [0]}
        ]
    finally:
        consumer.close()


def test_what_another_web_site_could_send_is_refused(http):
    """No login: a cross-site form post (not JSON), a write from another origin, and a
    Host the broker does not answer to (DNS rebinding) are refused."""
    name = new_name("csrf")
    body = json.dumps({"name": name}).encode()
    status, answer = http("POST", "/topics", raw=body, Content_Type="text/plain")
    assert status == 415 and "application/json" in answer["error"]
    status, answer = http("POST", "/topics", {"name": name}, Origin="http://evil.example")
    assert status == 403 and "another origin" in answer["error"]
    status, answer = http("GET", "/topics", Host="evil.example:9644")
    assert status == 403 and "evil.example" in answer["error"]
    assert http("GET", f"/topics/{name}")[0] == 404  # nothing was created
    port = http.base.split(":")[2].split("/")[0]
    assert http("GET", "/topics", Host=f"localhost:{port}")[0] == 200


def test_with_an_authorizer_the_console_refuses_writes_unless_enabled(tmp_path):
    props = {"authorizer.class.name": ACL_AUTHORIZER, "allow.everyone.if.no.acl.found": "true"}
    handle = start_broker(tmp_path / "acl", **props)
    try:
        http = Http(handle)
        status, info = http("GET", "/cluster")
        assert info["writes"]["allowed"] is False
        assert "http.console.write.enable" in info["writes"]["reason"]
        status, answer = http("POST", "/topics", {"name": "refused"})
        assert status == 403 and "http.console.write.enable" in answer["error"]
        assert http("GET", "/topics")[0] == 200  # reads go on
    finally:
        handle.stop()
    handle = start_broker(tmp_path / "acl-writes", **props, **{"http.console.write.enable": "true"})
    try:
        status, _ = Http(handle)("POST", "/topics", {"name": "allowed"})
        assert status == 201
    finally:
        handle.stop()
