"""AclAuthorizer's matching rules (security/authorizer.py), without a broker."""

from __future__ import annotations

from kafka_compat.security.acl_types import (
    CLUSTER_NAME,
    AclOperation,
    PatternType,
    Permission,
    ResourceType,
)
from kafka_compat.security.acls import decode_entries, encode_entries
from kafka_compat.security.authorizer import (
    AccessControlEntry,
    AclBinding,
    AclBindingFilter,
    Authorizer,
    ResourcePattern,
)

ALICE = "User:alice"
TOPIC = ResourceType.TOPIC
ALLOW, DENY = Permission.ALLOW, Permission.DENY
Op = AclOperation


def acl(name, op, permission=ALLOW, principal=ALICE, host="*", kind=PatternType.LITERAL, rt=TOPIC):
    return ResourcePattern(rt, name, kind), AccessControlEntry(principal, host, op, permission)


def authorizer(*acls, **options) -> Authorizer:
    auth = Authorizer(**options)
    grouped: dict = {}
    for pattern, entry in acls:
        grouped.setdefault(pattern, set()).add(entry)
    for pattern, entries in grouped.items():
        auth.cache.set(pattern, entries)
    return auth


def allowed(auth, op, name="orders", principal=ALICE, host="10.0.0.1", rt=TOPIC) -> bool:
    return auth.authorize(principal, host, op, rt, name)


def test_literal_allow_and_nothing_else():
    auth = authorizer(acl("orders", Op.READ))
    assert allowed(auth, Op.READ)
    assert not allowed(auth, Op.WRITE)
    assert not allowed(auth, Op.READ, name="payments")
    assert not allowed(auth, Op.READ, principal="User:bob")


def test_implied_operations():
    auth = authorizer(acl("a", Op.WRITE), acl("b", Op.ALTER_CONFIGS), acl("c", Op.ALL))
    assert allowed(auth, Op.DESCRIBE, "a")  # WRITE implies DESCRIBE
    assert not allowed(auth, Op.DESCRIBE_CONFIGS, "a")
    assert allowed(auth, Op.DESCRIBE_CONFIGS, "b")  # ALTER_CONFIGS implies DESCRIBE_CONFIGS
    assert not allowed(auth, Op.DESCRIBE, "b")
    assert all(allowed(auth, op, "c") for op in (Op.READ, Op.WRITE, Op.DELETE, Op.DESCRIBE))


def test_deny_wins_and_is_not_implied():
    auth = authorizer(acl("orders", Op.ALL), acl("orders", Op.WRITE, DENY))
    assert not allowed(auth, Op.WRITE)
    assert allowed(auth, Op.READ)
    assert allowed(auth, Op.DESCRIBE)  # denying WRITE does not deny DESCRIBE
    denied_all = authorizer(acl("orders", Op.READ), acl("*", Op.ALL, DENY, principal="User:*"))
    assert not allowed(denied_all, Op.READ)


def test_prefixed_and_wildcard_patterns():
    auth = authorizer(
        acl("app-", Op.READ, kind=PatternType.PREFIXED), acl("*", Op.DESCRIBE, principal="User:*")
    )
    assert allowed(auth, Op.READ, "app-orders")
    assert not allowed(auth, Op.READ, "ap")
    assert not allowed(auth, Op.READ, "other")
    assert allowed(auth, Op.DESCRIBE, "other", principal="User:bob")


def test_hosts():
    auth = authorizer(acl("orders", Op.READ, host="10.0.0.1"))
    assert allowed(auth, Op.READ, host="10.0.0.1")
    assert not allowed(auth, Op.READ, host="10.0.0.2")


def test_super_users_and_no_acl_found():
    auth = authorizer(acl("orders", Op.READ), super_users="User:admin; User:ops")
    assert allowed(auth, Op.DELETE, principal="User:ops")
    assert not allowed(auth, Op.READ, name="free")  # no ACL: only super users
    open_ = authorizer(acl("orders", Op.READ), allow_if_no_acl=True)
    assert allowed(open_, Op.WRITE, name="free", principal="User:bob")
    assert not allowed(open_, Op.WRITE, principal="User:bob")  # orders has ACLs


def test_kip_679_write_on_any_topic():
    assert authorizer(acl("orders", Op.WRITE)).authorize_any(ALICE, "h", Op.WRITE, TOPIC)
    assert not authorizer(acl("orders", Op.READ)).authorize_any(ALICE, "h", Op.WRITE, TOPIC)
    cancelled = authorizer(acl("orders", Op.WRITE), acl("orders", Op.WRITE, DENY))
    assert not cancelled.authorize_any(ALICE, "h", Op.WRITE, TOPIC)
    by_prefix = authorizer(
        acl("app-x", Op.WRITE), acl("app-", Op.WRITE, DENY, kind=PatternType.PREFIXED)
    )
    assert not by_prefix.authorize_any(ALICE, "h", Op.WRITE, TOPIC)
    assert authorizer(super_users="User:alice").authorize_any(ALICE, "h", Op.WRITE, TOPIC)


def test_authorized_operations_bits():
    auth = authorizer(acl(CLUSTER_NAME, Op.DESCRIBE, rt=ResourceType.CLUSTER))
    bits = auth.operations(ALICE, "h", ResourceType.CLUSTER, CLUSTER_NAME)
    assert bits == 1 << Op.DESCRIBE


def test_filters():
    literal = AclBinding(*acl("app-orders", Op.READ))
    prefixed = AclBinding(*acl("app-", Op.WRITE, kind=PatternType.PREFIXED))
    other = AclBinding(*acl("x", Op.READ))

    def match(name, kind, **kw):
        f = AclBindingFilter(
            kw.get("rt", ResourceType.ANY),
            name,
            kind,
            kw.get("principal"),
            None,
            kw.get("op", Op.ANY),
            Permission.ANY,
        )
        return [b for b in (literal, prefixed, other) if f.matches(b)]

    assert match(None, PatternType.ANY) == [literal, prefixed, other]
    assert match("app-orders", PatternType.MATCH) == [literal, prefixed]
    assert match("app-", PatternType.PREFIXED) == [prefixed]
    assert match("app-", PatternType.LITERAL) == []
    assert match(None, PatternType.ANY, op=Op.READ) == [literal, other]
    assert match(None, PatternType.ANY, principal="User:bob") == []


def test_kafka_json_round_trip():
    entries = {AccessControlEntry("User:alice", "*", Op.IDEMPOTENT_WRITE, ALLOW)}
    raw = encode_entries(entries)
    assert raw == (
        b'{"version":1,"acls":[{"principal":"User:alice","permissionType":"Allow",'
        b'"operation":"IdempotentWrite","host":"*"}]}'
    )
    assert decode_entries(raw) == entries


def test_kafkas_znode_paths_and_change_notes():
    from kafka_compat.security.acls import (
        EXTENDED_CHANGES,
        LITERAL_CHANGES,
        _pattern_of_note,
        _pattern_of_path,
        resource_path,
    )

    prefixed = ResourcePattern(ResourceType.GROUP, "app-", PatternType.PREFIXED)
    literal = ResourcePattern(ResourceType.TRANSACTIONAL_ID, "tx", PatternType.LITERAL)
    assert resource_path(prefixed) == "/kafka-acl-extended/prefixed/Group/app-"
    assert resource_path(literal) == "/kafka-acl/TransactionalId/tx"
    assert _pattern_of_path(resource_path(prefixed)) == prefixed
    assert _pattern_of_note(LITERAL_CHANGES, b"TransactionalId:tx") == literal
    note = b'{"version":1,"resourceType":"Group","name":"app-","patternType":"PREFIXED"}'
    assert _pattern_of_note(EXTENDED_CHANGES, note) == prefixed
    assert _pattern_of_note(EXTENDED_CHANGES, b"garbage") is None
