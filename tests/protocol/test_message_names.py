"""messages finds each API's specs by name (from ApiKey), listing no directory: every
ApiKey has its request and response, and every request or response spec shipped
(kafka-python's files, our declarations, protocol/specs/) belongs to an ApiKey."""

from __future__ import annotations

from protocol import delegation_tokens, interbroker, kip848, messages, schema
from protocol.api_keys import ApiKey


def test_every_api_key_has_its_request_and_response():
    for key in ApiKey:
        request, response = messages.request_type(key), messages.response_type(key)
        assert request.__name__ == messages.API_NAMES[key] + "Request"
        assert response.__name__ == messages.API_NAMES[key] + "Response"


def test_every_request_and_response_spec_shipped_is_named_by_an_api_key():
    extra = [messages.SPEC_DIR] if messages.SPEC_DIR.is_dir() else []
    shipped = {
        *schema.spec_files(extra_dirs=extra),
        *interbroker.SPECS,
        *kip848.SPECS,
        *delegation_tokens.SPECS,
    }
    kinds = ("Request", "Response")
    named = {name + kind for name in messages.API_NAMES.values() for kind in kinds}
    assert {n for n in shipped if n.endswith(kinds)} == named


def test_a_message_class_is_a_module_attribute_and_an_unknown_name_is_not():
    assert messages.MetadataRequest is messages.request_type(ApiKey.METADATA)
    assert messages.ConsumerProtocolSubscription is messages.data_type(
        "ConsumerProtocolSubscription"
    )
    assert not hasattr(messages, "NoSuchRequest")
