"""The console in headless Chromium, next to real Kafka clients: what a client wrote
shows on the page, what the page writes a client reads, and a consumer group's lag
moves on the page as the group consumes and as the page resets its offsets."""

from __future__ import annotations

import json
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from playwright.sync_api import expect

from tests.browser.console_page import GUARD_MS, open_console, screenshot

GUARD_S = 60.0


def new_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def produce(bootstrap: str, topic: str, values: list[bytes], key: bytes | None = None) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for value in values:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(GUARD_S) == 0


def topics_of(bootstrap: str) -> set[str]:
    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=GUARD_S).topics)


def test_a_message_a_client_produced_shows_in_the_console(page, console_broker):
    topic = new_name("orders")
    order = {"id": 1, "item": "book", "tags": ["paper"]}
    produce(console_broker.bootstrap, topic, [json.dumps(order).encode()], key=b"order-1")

    open_console(page, "#/topics")
    row = page.locator(f'#topics tr[data-topic="{topic}"]')
    expect(row).to_be_visible(timeout=GUARD_MS)
    expect(row.locator("td").nth(1)).to_have_text("1")  # partitions
    row.get_by_role("link", name=topic).click()

    message = page.locator('#message-table tr[data-offset="0"]')
    expect(message).to_contain_text("order-1", timeout=GUARD_MS)
    value = message.locator("pre.value").nth(1)
    expect(value).to_have_attribute("data-format", "json")
    assert json.loads(value.inner_text()) == order  # pretty-printed JSON
    page.select_option("#browse select[name=format]", "hex")
    expect(value).to_contain_text("7b 22 69 64 22")  # {"id"
    page.select_option("#browse select[name=format]", "json")
    expect(page.locator('#partition-table tr[data-partition="0"]')).to_contain_text("1")
    screenshot(page, "console-topic")


def test_a_groups_lag_goes_to_zero_as_it_consumes_and_back_after_a_reset(page, console_broker):
    topic, group = new_name("lag"), new_name("lag-group")
    produce(console_broker.bootstrap, topic, [b"m%d" % i for i in range(20)])
    consumer = Consumer(
        {
            "bootstrap.servers": console_broker.bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    try:
        consumed = []
        while len(consumed) < 5:
            message = consumer.poll(GUARD_S)
            assert message is not None and message.error() is None
            consumed.append(message)
        consumer.commit(message=consumed[-1], asynchronous=False)

        open_console(page, f"#/groups/{group}")
        lag = page.locator("#total-lag")
        expect(lag).to_have_text("15", timeout=GUARD_MS)
        expect(page.locator("#group-state")).to_have_text("Stable")
        expect(page.locator("#member-table")).to_contain_text(f"{topic}: 0")

        while len(consumed) < 20:
            message = consumer.poll(GUARD_S)
            assert message is not None and message.error() is None
            consumed.append(message)
        consumer.commit(message=consumed[-1], asynchronous=False)
        expect(lag).to_have_text("0", timeout=GUARD_MS)

        # Kafka refuses a reset while the group has members; the page says why.
        page.click("#reset button[type=submit]")
        expect(page.locator("#reset-error")).to_contain_text("inactive", timeout=GUARD_MS)
    finally:
        consumer.close()

    expect(page.locator("#group-state")).to_have_text("Empty", timeout=GUARD_MS)
    page.select_option("#reset select[name=to]", "earliest")
    page.click("#reset button[type=submit]")
    expect(lag).to_have_text("20", timeout=GUARD_MS)
    expect(page.locator(f'#offset-table tr[data-tp="{topic}-0"] td.lag')).to_have_text("20")
    screenshot(page, "console-group")

    check = Consumer({"bootstrap.servers": console_broker.bootstrap, "group.id": group})
    try:
        [committed] = check.committed([TopicPartition(topic, 0)], timeout=GUARD_S)
        assert committed.offset == 0
    finally:
        check.close()


def test_a_message_produced_from_the_page_is_read_by_a_client(page, console_broker):
    topic = new_name("typed")
    produce(console_broker.bootstrap, topic, [b"first"])
    open_console(page, f"#/topics/{topic}")
    form = page.locator("#produce")
    form.locator("input[name=key]").fill("user-7")
    form.locator("textarea[name=value]").fill('{"hello": "from the console"}')
    form.locator("textarea[name=headers]").fill("source=console")
    form.locator("button[type=submit]").click()
    expect(page.locator("#produced")).to_contain_text("offset 1", timeout=GUARD_MS)

    consumer = Consumer({"bootstrap.servers": console_broker.bootstrap, "group.id": new_name("r")})
    consumer.assign([TopicPartition(topic, 0, 1)])
    try:
        message = consumer.poll(GUARD_S)
        assert message is not None and message.error() is None
        assert message.key() == b"user-7"
        assert message.value() == b'{"hello": "from the console"}'
        assert message.headers() == [("source", b"console")]
    finally:
        consumer.close()

    # The browser shows it too (reload from the end).
    page.click("#browse button[type=submit]")
    expect(page.locator('#message-table tr[data-offset="1"]')).to_contain_text("from the console")


def test_a_topic_created_and_deleted_from_the_page(page, console_broker):
    topic = new_name("made-here")
    open_console(page, "#/topics")
    form = page.locator("#create")
    form.locator("input[name=name]").fill(topic)
    form.locator("input[name=partitions]").fill("4")
    form.locator("textarea[name=configs]").fill("retention.ms=3600000")
    form.locator("button[type=submit]").click()
    expect(page.locator("#create-result")).to_contain_text("with 4 partitions", timeout=GUARD_MS)
    assert topic in topics_of(console_broker.bootstrap)

    page.locator(f'#topics tr[data-topic="{topic}"] a').click()
    expect(page.locator('#config-table tr[data-config="retention.ms"]')).to_contain_text(
        "topic override", timeout=GUARD_MS
    )
    expect(page.locator("#partition-table tbody tr")).to_have_count(4)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete")
    page.wait_for_url("**/#/topics", timeout=GUARD_MS)
    assert topic not in topics_of(console_broker.bootstrap)


def test_the_overview_charts_a_topics_messages_per_second(page, console_broker):
    topic = new_name("rate")
    produce(console_broker.bootstrap, topic, [b"warm-up"])
    open_console(page)
    expect(page.locator("#brokers")).to_contain_text("controller")
    legend = page.locator(f'#legend [data-topic="{topic}"]')
    expect(legend).to_be_visible(timeout=GUARD_MS)
    produce(console_broker.bootstrap, topic, [b"x" * 100] * 500)
    # A rate above zero once a sample after the produce is in (every 2 s).
    page.wait_for_function(
        """(topic) => {
            const el = document.querySelector(`#legend [data-topic="${topic}"]`);
            const rate = el && parseFloat(el.textContent.split(": ")[1]);
            return rate > 0;
        }""",
        arg=topic,
        timeout=GUARD_MS,
    )
    screenshot(page, "console-overview")
