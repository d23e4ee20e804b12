"""Fixtures of the listener tests: the certificates (one CA, the broker's and a
client's, per module) and start_broker(props), in-process brokers stopped after the
test."""

from __future__ import annotations

import pytest

from tests.conftest import BrokerHandle
from tests.security.certs import Certs, make_certs


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def start_broker(tmp_path):
    handles: list[BrokerHandle] = []

    def start(props: dict[str, str]) -> BrokerHandle:
        handle = BrokerHandle(tmp_path / f"broker-{len(handles)}", props)
        handles.append(handle)
        handle.start()
        return handle

    yield start
    for handle in handles:
        handle.stop()
