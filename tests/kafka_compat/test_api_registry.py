"""The advertised API ranges come from the handler registry and the codec serves them."""

from kafka_compat.apis.handlers import HANDLERS, TABLE, load_handlers
from protocol import messages


def test_every_accepted_version_is_within_the_spec_and_round_trips():
    registry = load_handlers()
    for entry in registry.values():
        low, high = messages.spec_versions(entry.key)
        assert low <= entry.min_accepted <= entry.max_version <= high, entry
        for version in range(entry.min_accepted, entry.max_version + 1):
            request = messages.request_type(entry.key)()
            body = messages.encode_request(entry.key, version, request)
            assert messages.decode_request(entry.key, version, body) == request
            response = messages.response_type(entry.key)()
            body = messages.encode_response(entry.key, version, response)
            assert messages.decode_response(entry.key, version, body) == response


def test_no_api_advertises_versions_it_refuses():
    # Produce v0-2 are served (message formats v0/v1 converted on append).
    refused = {
        key: (entry.min_version, entry.min_accepted)
        for key, entry in load_handlers().items()
        if entry.min_accepted != entry.min_version
    }
    assert refused == {}


def test_the_static_table_is_what_the_handler_modules_register():
    # ApiVersions answers from the table before any handler module is imported.
    registered = {
        key: (entry.handler.__module__.rsplit(".", 1)[1], entry.min_version, entry.max_version)
        for key, entry in load_handlers().items()
    }
    assert registered == TABLE
    assert all(entry.min_accepted == entry.min_version for entry in HANDLERS.values())
