"""Topic administration over the protocol: create a topic and wait until every
partition has a leader, the way a test or a script wants it ("ready to produce")."""

from __future__ import annotations

import time
from collections.abc import Mapping

from kafka_compat.tools.connection import AdminTool, ToolError
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode


class TopicsTool(AdminTool):
    MAX_VERSIONS = {ApiKey.CREATE_TOPICS: 7, ApiKey.METADATA: 12}

    def create(
        self,
        name: str,
        partitions: int = 1,
        replication_factor: int = -1,
        config: Mapping[str, str] | None = None,
    ) -> None:
        """Create `name` (-1: the broker's default replication factor) and return once
        each partition has a leader; a refusal raises ToolError with Kafka's message."""
        Request = messages.request_type(ApiKey.CREATE_TOPICS)
        topic = Request.CreatableTopic(
            name=name,
            num_partitions=partitions,
            replication_factor=replication_factor,
            assignments=[],
            configs=[
                Request.CreatableTopicConfig(name=k, value=str(v))
                for k, v in (config or {}).items()
            ],
        )
        answer = self.bootstrap.request(
            ApiKey.CREATE_TOPICS,
            Request(topics=[topic], timeout_ms=int(self.timeout * 1000), validate_only=False),
        )
        result = answer.topics[0]
        if result.error_code:
            detail = result.error_message or ErrorCode(result.error_code).name
            raise ToolError(f"topic {name}: {detail}")
        self.wait_for_leaders(name, partitions)

    def wait_for_leaders(self, name: str, partitions: int) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            (found,) = self.metadata([name]).topics
            led = [p for p in found.partitions if p.leader_id >= 0]
            if found.error_code == 0 and len(led) >= partitions:
                return
            if time.monotonic() >= deadline:
                raise ToolError(f"topic {name}: partitions without a leader after {self.timeout}s")
            time.sleep(0.005)
