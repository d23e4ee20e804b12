"""A request waiting on the controller gets NOT_CONTROLLER (NotController) when this
broker is not the active controller, or stops being it before the request's event
runs: it never waits forever."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from kafka_compat.cluster.controller import Controller, NotController
from kafka_compat.config import BrokerConfig


def _controller() -> Controller:
    return Controller(BrokerConfig({}), node_id=1, store=None)


async def test_a_call_to_an_inactive_controller_is_not_controller(autojump_clock):
    controller = _controller()
    with trio.fail_after(60), pytest.raises(NotController):  # virtual time: a hang guard
        await controller.reassignments()


async def test_calls_queued_when_the_controller_stops_get_not_controller(autojump_clock):
    controller = _controller()
    controller.active = True  # as while it runs; nothing takes events from the queue
    outcomes = []

    async def ask() -> None:
        try:
            with trio.fail_after(60):  # virtual time: a hang guard
                outcomes.append(await controller.elect_leaders(0, None))
        except NotController:
            outcomes.append("not controller")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ask)
        nursery.start_soon(ask)
        await trio.testing.wait_all_tasks_blocked()
        controller.active = False
        controller._answer_queued_calls()  # noqa: SLF001 -- what run's finally does
    assert outcomes == ["not controller", "not controller"]
