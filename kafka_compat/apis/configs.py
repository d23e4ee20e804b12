"""Topic and broker configuration.

DescribeConfigs: v0-4
    Behavior: topic resources list every topic-level key with its value and source
    (DYNAMIC_TOPIC_CONFIG override, STATIC_BROKER_CONFIG synonym from
    server.properties, DEFAULT_CONFIG); synonyms on request. Broker resources list
    the broker's keys (read-only). Null or empty ConfigurationKeys: every key.
    Version notes: v0 IsDefault: always false, as Kafka 3.9 answers (its broker never
    sets it; Kafka's own v0 client derives it) · v1 ConfigSource, synonyms · v3
    ConfigType (Kafka's ConfigDef type of every key: BOOLEAN, STRING, INT, SHORT,
    LONG, DOUBLE, LIST; config_docs.py), Documentation when IncludeDocumentation
    (our one-line descriptions, not Kafka's texts) · v4 flexible.
AlterConfigs: v0-2
    Behavior: replaces a topic's whole set of overrides (keys not named go back to
    their defaults). Validated first: unknown key or bad value -> INVALID_CONFIG.
    Version notes: v2 flexible.
IncrementalAlterConfigs: v0-1
    Behavior: SET, DELETE, APPEND and SUBTRACT (list-valued keys such as
    cleanup.policy) on a topic's overrides; validated; applied to the partitions'
    logs at once (a retention change takes effect at the next retention check).
    Version notes: v1 flexible.
Left out: dynamic broker configs (broker resources answer INVALID_REQUEST on
    alter); Kafka's own documentation texts.
"""

from __future__ import annotations

from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.config import (
    BROKER_KEYS,
    LIST_TOPIC_KEYS,
    TOPIC_KEYS,
    ConfigError,
    validate_topic_configs,
)
from kafka_compat.config_docs import BROKER_CONFIG_DOCS, TOPIC_CONFIG_DOCS, ConfigType
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

DescribeConfigsResponse = messages.response_type(ApiKey.DESCRIBE_CONFIGS)
AlterConfigsResponse = messages.response_type(ApiKey.ALTER_CONFIGS)
IncrementalAlterConfigsResponse = messages.response_type(ApiKey.INCREMENTAL_ALTER_CONFIGS)

# Kafka's ConfigSource and ConfigResource.Type values.
SOURCE_DYNAMIC_TOPIC = 1
SOURCE_STATIC_BROKER = 4
SOURCE_DEFAULT = 5
RESOURCE_TOPIC = 2
RESOURCE_BROKER = 4

OP_SET, OP_DELETE, OP_APPEND, OP_SUBTRACT = 0, 1, 2, 3


# ---- DescribeConfigs ----


def topic_config_entries(ctx, overrides: dict[str, str]):
    """(name, value, source, synonyms) for every topic-level key, Kafka's precedence."""
    config = ctx.config
    defaults = config.topic_defaults()
    for name, key in sorted(TOPIC_KEYS.items()):
        synonyms = []
        if name in overrides:
            synonyms.append((name, overrides[name], SOURCE_DYNAMIC_TOPIC))
        for broker_key in key.broker_synonyms:
            if broker_key in config.explicit:
                synonyms.append((broker_key, config.explicit[broker_key], SOURCE_STATIC_BROKER))
        if key.synonym:  # keys without a broker synonym list none (as Kafka)
            synonyms.append((key.synonym, key.kafka_default, SOURCE_DEFAULT))
        value, source = (synonyms[0][1], synonyms[0][2]) if synonyms else ("", SOURCE_DEFAULT)
        if source != SOURCE_DYNAMIC_TOPIC:
            # Derived broker values (log.retention.hours -> ms) come from the config.
            value = defaults[name]
        yield name, value, source, synonyms


def _broker_config_entries(ctx):
    config = ctx.config
    for name in sorted(BROKER_KEYS):
        value = config.broker_value(name)
        source = SOURCE_STATIC_BROKER if name in config.explicit else SOURCE_DEFAULT
        yield name, value, source, [(name, value, source)]


@api(ApiKey.DESCRIBE_CONFIGS, 0, 4)
async def handle_describe_configs(ctx: RequestContext, request):
    Result = DescribeConfigsResponse.DescribeConfigsResult
    Entry = DescribeConfigsResponse.DescribeConfigsResourceResult
    Synonym = DescribeConfigsResponse.DescribeConfigsSynonym
    results = []
    for resource in request.resources:
        result = Result(resource_type=resource.resource_type, resource_name=resource.resource_name)
        results.append(result)
        if resource.resource_type == RESOURCE_TOPIC:
            topic = ctx.store.topics.get(resource.resource_name)
            if topic is None:
                result.error_code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                result.error_message = f"Topic {resource.resource_name} does not exist."
                continue
            entries = topic_config_entries(ctx, topic.configs)
            docs = TOPIC_CONFIG_DOCS
        elif resource.resource_type == RESOURCE_BROKER:
            if resource.resource_name not in ("", str(ctx.node_id)):
                result.error_code = ErrorCode.INVALID_REQUEST
                result.error_message = f"Unexpected broker id {resource.resource_name}"
                continue
            entries = _broker_config_entries(ctx)
            docs = BROKER_CONFIG_DOCS
        else:
            result.error_code = ErrorCode.INVALID_REQUEST
            result.error_message = f"Unsupported resource type {resource.resource_type}"
            continue
        keys = resource.configuration_keys
        for name, value, source, synonyms in entries:
            if keys and name not in keys:
                continue
            config_type, doc = docs.get(name, (ConfigType.UNKNOWN, None))
            result.configs.append(
                Entry(
                    name=name,
                    value=value,
                    read_only=resource.resource_type == RESOURCE_BROKER,
                    config_source=source,
                    is_sensitive=False,
                    synonyms=[Synonym(name=n, value=v, source=s) for n, v, s in synonyms]
                    if request.include_synonyms
                    else [],
                    config_type=config_type,
                    documentation=doc if request.include_documentation else None,
                )
            )
    return DescribeConfigsResponse(results=results)


# ---- AlterConfigs / IncrementalAlterConfigs ----


class _Refused(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def _target_topic(ctx, resource) -> str:
    if resource.resource_type != RESOURCE_TOPIC:
        raise _Refused(
            ErrorCode.INVALID_REQUEST,
            "Only topic configs can be altered; broker configs are static (server.properties)",
        )
    if resource.resource_name not in ctx.store.topics:
        raise _Refused(
            ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
            f"Topic {resource.resource_name} does not exist.",
        )
    return resource.resource_name


def _incremental(current: dict[str, str], changes) -> dict[str, str]:
    updated = dict(current)
    for change in changes:
        name, op, value = change.name, change.config_operation, change.value
        if name not in TOPIC_KEYS:
            raise ConfigError(f"Unknown topic config name: {name}")
        if op == OP_SET:
            updated[name] = value
        elif op == OP_DELETE:
            updated.pop(name, None)
        elif op in (OP_APPEND, OP_SUBTRACT):
            if name not in LIST_TOPIC_KEYS:
                raise ConfigError(f"Config value append/subtract is not allowed for config {name}")
            items = [i for i in updated.get(name, TOPIC_KEYS[name].kafka_default).split(",") if i]
            given = [i.strip() for i in (value or "").split(",") if i.strip()]
            if op == OP_APPEND:
                items += [i for i in given if i not in items]
            else:
                items = [i for i in items if i not in given]
            updated[name] = ",".join(items)
        else:
            raise ConfigError(f"Unknown config operation {op} for {name}")
    return updated


async def _alter(ctx: RequestContext, request, response_type, compute):
    results = []
    for resource in request.resources:
        result = response_type.AlterConfigsResourceResponse(
            resource_type=resource.resource_type, resource_name=resource.resource_name
        )
        try:
            topic = _target_topic(ctx, resource)
            current = ctx.store.topics[topic].configs
            configs = validate_topic_configs(compute(current, resource.configs))
            if not request.validate_only:
                await ctx.admin.set_topic_configs(topic, configs)
        except ConfigError as exc:
            result.error_code, result.error_message = ErrorCode.INVALID_CONFIG, str(exc)
        except _Refused as exc:
            result.error_code, result.error_message = exc.code, str(exc)
        results.append(result)
    return response_type(responses=results)


@api(ApiKey.ALTER_CONFIGS, 0, 2)
async def handle_alter_configs(ctx: RequestContext, request):
    return await _alter(
        ctx,
        request,
        AlterConfigsResponse,
        lambda current, changes: {c.name: c.value for c in changes},
    )


@api(ApiKey.INCREMENTAL_ALTER_CONFIGS, 0, 1)
async def handle_incremental_alter_configs(ctx: RequestContext, request):
    return await _alter(ctx, request, IncrementalAlterConfigsResponse, _incremental)
