"""The delegation token APIs (KIP-48), declared here because kafka-python ships none:

    38  CreateDelegationToken    v0-3  flexible 2+  v3 OwnerPrincipalType/Name, requester
    39  RenewDelegationToken     v0-2  flexible 2+
    40  ExpireDelegationToken    v0-2  flexible 2+
    41  DescribeDelegationToken  v0-3  flexible 2+  v3 the token requester

Transcribed from Kafka 3.9's JSON specs (`clients/src/main/resources/common/message/`)
into the dicts below, the same shape, without the "about" texts. `protocol.messages`
compiles them with every other API. tests/protocol/test_delegation_token_specs.py
checks them against Kafka 3.9's files.
"""

from __future__ import annotations

from protocol import schema

__all__ = ["SPECS", "parsed_specs", "raw_specs"]


def _string(name: str, versions: str = "0+", nullable: str | None = None) -> dict:
    field = {"name": name, "type": "string", "versions": versions}
    if nullable is not None:
        field["nullableVersions"] = nullable
    return field


def _int(name: str, kind: str = "int64") -> dict:
    return {"name": name, "type": kind, "versions": "0+"}


def _principal_list(name: str, type_name: str, **extra: str) -> dict:
    return {
        "name": name,
        "type": f"[]{type_name}",
        "versions": "0+",
        **extra,
        "fields": [_string("PrincipalType"), _string("PrincipalName")],
    }


def _hmac_request(api_key: int, period: str) -> dict:
    return {
        "apiKey": api_key,
        "type": "request",
        "validVersions": "0-2",
        "flexibleVersions": "2+",
        "fields": [{"name": "Hmac", "type": "bytes", "versions": "0+"}, _int(period)],
    }


def _expiry_response(api_key: int) -> dict:
    return {
        "apiKey": api_key,
        "type": "response",
        "validVersions": "0-2",
        "flexibleVersions": "2+",
        "fields": [
            _int("ErrorCode", "int16"),
            _int("ExpiryTimestampMs"),
            _int("ThrottleTimeMs", "int32"),
        ],
    }


SPECS: dict[str, dict] = {
    "CreateDelegationTokenRequest": {
        "apiKey": 38,
        "type": "request",
        "validVersions": "0-3",
        "flexibleVersions": "2+",
        "fields": [
            _string("OwnerPrincipalType", "3+", "3+"),
            _string("OwnerPrincipalName", "3+", "3+"),
            _principal_list("Renewers", "CreatableRenewers"),
            _int("MaxLifetimeMs"),
        ],
    },
    "CreateDelegationTokenResponse": {
        "apiKey": 38,
        "type": "response",
        "validVersions": "0-3",
        "flexibleVersions": "2+",
        "fields": [
            _int("ErrorCode", "int16"),
            _string("PrincipalType"),
            _string("PrincipalName"),
            _string("TokenRequesterPrincipalType", "3+"),
            _string("TokenRequesterPrincipalName", "3+"),
            _int("IssueTimestampMs"),
            _int("ExpiryTimestampMs"),
            _int("MaxTimestampMs"),
            _string("TokenId"),
            {"name": "Hmac", "type": "bytes", "versions": "0+"},
            _int("ThrottleTimeMs", "int32"),
        ],
    },
    "RenewDelegationTokenRequest": _hmac_request(39, "RenewPeriodMs"),
    "RenewDelegationTokenResponse": _expiry_response(39),
    "ExpireDelegationTokenRequest": _hmac_request(40, "ExpiryTimePeriodMs"),
    "ExpireDelegationTokenResponse": _expiry_response(40),
    "DescribeDelegationTokenRequest": {
        "apiKey": 41,
        "type": "request",
        "validVersions": "0-3",
        "flexibleVersions": "2+",
        "fields": [
            _principal_list("Owners", "DescribeDelegationTokenOwner", nullableVersions="0+"),
        ],
    },
    "DescribeDelegationTokenResponse": {
        "apiKey": 41,
        "type": "response",
        "validVersions": "0-3",
        "flexibleVersions": "2+",
        "fields": [
            _int("ErrorCode", "int16"),
            {
                "name": "Tokens",
                "type": "[]DescribedDelegationToken",
                "versions": "0+",
                "fields": [
                    _string("PrincipalType"),
                    _string("PrincipalName"),
                    _string("TokenRequesterPrincipalType", "3+"),
                    _string("TokenRequesterPrincipalName", "3+"),
                    _int("IssueTimestamp"),
                    _int("ExpiryTimestamp"),
                    _int("MaxTimestamp"),
                    _string("TokenId"),
                    {"name": "Hmac", "type": "bytes", "versions": "0+"},
                    _principal_list("Renewers", "DescribedDelegationTokenRenewer"),
                ],
            },
            _int("ThrottleTimeMs", "int32"),
        ],
    },
}


def raw_specs() -> dict[str, tuple[dict, str]]:
    """The declarations above as spec JSON, by message name: (data, source)."""
    return {name: ({"name": name, **spec}, f"{__name__}.{name}") for name, spec in SPECS.items()}


def parsed_specs() -> dict[str, schema.MessageSpec]:
    """The declarations above as parsed specs, by message name."""
    return {name: schema.parse_spec(data, source) for name, (data, source) in raw_specs().items()}
