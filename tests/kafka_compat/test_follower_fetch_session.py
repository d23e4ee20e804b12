"""The follower's side of a fetch session (Kafka's FetchSessionHandler): a full fetch
opens it, then only changed partitions are sent and dropped ones forgotten; a session
error goes back to a full fetch (closing the old session, or a new one when unknown)."""

from __future__ import annotations

from types import SimpleNamespace

from kafka_compat.replica_fetcher import FetchRequest, FollowerFetchSession
from protocol.errors import ErrorCode


def _partition(index: int, offset: int, epoch: int = 3):
    return FetchRequest.FetchPartition(
        partition=index,
        current_leader_epoch=epoch,
        fetch_offset=offset,
        log_start_offset=0,
        partition_max_bytes=1 << 20,
    )


def _response(session_id: int, error: int = ErrorCode.NONE):
    return SimpleNamespace(error_code=error, session_id=session_id, responses=[])


def test_full_then_incremental_then_forgotten():
    session = FollowerFetchSession()
    wanted = {("t", 0): _partition(0, 5), ("t", 1): _partition(1, 7)}
    assert session.build(wanted) == (0, 0, wanted, [])
    assert session.handle_response(_response(42), full=True)

    # Nothing changed: an empty incremental fetch.
    assert session.build(dict(wanted)) == (42, 1, {}, [])
    assert session.handle_response(_response(42), full=False)

    # Partition 0 moved on, partition 1 is no longer followed here, 2 is new.
    moved = {("t", 0): _partition(0, 9), ("t", 2): _partition(2, 0)}
    session_id, epoch, to_send, forgotten = session.build(moved)
    assert (session_id, epoch, forgotten) == (42, 2, [("t", 1)])
    assert to_send == moved
    assert session.handle_response(_response(42), full=False)
    # A new leader epoch is a change too.
    fenced = {("t", 0): _partition(0, 9, epoch=4), ("t", 2): _partition(2, 0)}
    assert session.build(fenced)[2] == {("t", 0): fenced[("t", 0)]}


def test_session_errors_go_back_to_a_full_fetch():
    session = FollowerFetchSession()
    wanted = {("t", 0): _partition(0, 5)}
    session.build(wanted)
    session.handle_response(_response(42), full=True)
    session.build(wanted)
    assert not session.handle_response(
        _response(0, ErrorCode.INVALID_FETCH_SESSION_EPOCH), full=False
    )
    # Epoch 0 with the old id: the leader closes it and opens a new one.
    assert session.build(wanted) == (42, 0, wanted, [])
    assert not session.handle_response(_response(0, ErrorCode.FETCH_SESSION_ID_NOT_FOUND), True)
    assert session.build(wanted) == (0, 0, wanted, [])
    # The leader's cache is full: no session, full fetches go on.
    assert session.handle_response(_response(0), full=True)
    assert session.build(wanted) == (0, 0, wanted, [])


def test_a_broken_connection_starts_over_with_a_full_fetch():
    session = FollowerFetchSession()
    wanted = {("t", 0): _partition(0, 5)}
    session.build(wanted)
    session.handle_response(_response(42), full=True)
    session.build({("t", 0): _partition(0, 6)})
    session.reset()
    assert session.build(wanted) == (42, 0, wanted, [])
