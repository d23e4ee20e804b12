"""ApiKey names match Kafka's message specs, key for key."""

import re

from protocol import messages
from protocol.api_keys import ApiKey


def test_every_spec_has_its_api_key_by_name():
    for key, name in messages.API_NAMES.items():
        snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).upper()
        assert ApiKey[snake] == key


def test_no_api_key_without_a_spec():
    assert {int(k) for k in ApiKey} == set(messages.API_NAMES)
