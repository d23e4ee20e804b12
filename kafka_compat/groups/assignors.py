"""Server-side assignors of KIP-848 consumer groups: `uniform` and `range`.

Kafka's UniformAssignor and RangeAssignor in spirit, on plain data: each member's
subscribed topic ids and its current target assignment in, every member's new target
assignment out. A topic is a 16-byte topic id; an assignment maps topic id -> set of
partitions. `group.consumer.assignors` names the ones a broker offers (the first is
the default); a member picks one with ServerAssignor.

- uniform: sticky and balanced. A partition stays with its owner while the owner
  still subscribes to its topic and holds no more than its share; the others go to
  the least loaded subscribed member; then partitions move from the most to the least
  loaded subscriber until no two members that could swap differ by more than one.
- range: per topic, its subscribers (sorted by instance id, else member id) each get
  one contiguous range of partitions, the first `partitions % members` one more
  (co-partitioned topics go to the same members, what range is chosen for).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

Assignment = dict[bytes, set[int]]


@dataclass(slots=True)
class MemberSpec:
    """What an assignor knows of a member."""

    subscribed_topic_ids: frozenset[bytes]
    instance_id: str | None = None
    current: Mapping[bytes, set[int]] = field(default_factory=dict)

    def sort_key(self, member_id: str) -> tuple[str, str]:
        return (self.instance_id or member_id, member_id)


class PartitionAssignorError(Exception):
    """The assignor cannot compute an assignment (Kafka's PartitionAssignorException)."""


class UniformAssignor:
    name = "uniform"

    def assign(
        self, members: Mapping[str, MemberSpec], partitions: Mapping[bytes, int]
    ) -> dict[str, Assignment]:
        result: dict[str, Assignment] = {m: {} for m in members}
        counts = dict.fromkeys(members, 0)
        owner: dict[tuple[bytes, int], str] = {}
        subscribers: dict[bytes, list[str]] = {}
        for member_id in sorted(members, key=lambda m: members[m].sort_key(m)):
            for topic_id in members[member_id].subscribed_topic_ids:
                if topic_id in partitions:
                    subscribers.setdefault(topic_id, []).append(member_id)
        # A fair share for every member: total subscribed partitions over subscribers,
        # an upper bound on what a member keeps of its current assignment.
        total = sum(partitions[t] for t in subscribers)
        share = -(-total // len(members)) if members else 0
        for member_id in sorted(members, key=lambda m: members[m].sort_key(m)):
            spec = members[member_id]
            for topic_id in sorted(spec.current):
                if topic_id not in spec.subscribed_topic_ids or topic_id not in partitions:
                    continue
                for p in sorted(spec.current[topic_id]):
                    tp = (topic_id, p)
                    if p < partitions[topic_id] and tp not in owner and counts[member_id] < share:
                        self._give(result, counts, owner, member_id, tp)
        for topic_id in sorted(subscribers):
            eligible = subscribers[topic_id]
            for p in range(partitions[topic_id]):
                tp = (topic_id, p)
                if tp not in owner:
                    target = min(eligible, key=lambda m: counts[m])
                    self._give(result, counts, owner, target, tp)
        self._balance(result, counts, owner, subscribers)
        return result

    @staticmethod
    def _give(result, counts, owner, member_id: str, tp: tuple[bytes, int]) -> None:
        result[member_id].setdefault(tp[0], set()).add(tp[1])
        counts[member_id] += 1
        owner[tp] = member_id

    def _balance(self, result, counts, owner, subscribers) -> None:
        """Move partitions from loaded members to subscribers with two or more fewer."""
        moved = True
        while moved:
            moved = False
            for tp in sorted(owner):
                current = owner[tp]
                target = min(subscribers[tp[0]], key=lambda m: counts[m])
                if counts[current] - counts[target] > 1:
                    assigned = result[current][tp[0]]
                    assigned.discard(tp[1])
                    if not assigned:
                        del result[current][tp[0]]
                    counts[current] -= 1
                    self._give(result, counts, owner, target, tp)
                    moved = True


class RangeAssignor:
    name = "range"

    def assign(
        self, members: Mapping[str, MemberSpec], partitions: Mapping[bytes, int]
    ) -> dict[str, Assignment]:
        result: dict[str, Assignment] = {m: {} for m in members}
        ordered = sorted(members, key=lambda m: members[m].sort_key(m))
        topics = {t for spec in members.values() for t in spec.subscribed_topic_ids}
        for topic_id in sorted(topics):
            count = partitions.get(topic_id)
            if count is None:
                continue
            subscribed = [m for m in ordered if topic_id in members[m].subscribed_topic_ids]
            quota, extra = divmod(count, len(subscribed))
            start = 0
            for i, member_id in enumerate(subscribed):
                size = quota + (1 if i < extra else 0)
                if size:
                    result[member_id][topic_id] = set(range(start, start + size))
                start += size
        return result


ASSIGNORS = {UniformAssignor.name: UniformAssignor(), RangeAssignor.name: RangeAssignor()}

# group.consumer.assignors may name Kafka's classes instead of the short names.
_CLASS_NAMES = {
    "org.apache.kafka.coordinator.group.assignor.UniformAssignor": UniformAssignor.name,
    "org.apache.kafka.coordinator.group.assignor.RangeAssignor": RangeAssignor.name,
}


def assignor_names(configured: list[str]) -> list[str]:
    """The short names of the configured assignors, in order; ValueError for one we lack."""
    names = []
    for entry in configured:
        name = _CLASS_NAMES.get(entry.strip(), entry.strip())
        if name not in ASSIGNORS:
            raise ValueError(f"unknown consumer group assignor {entry!r}")
        names.append(name)
    return names
