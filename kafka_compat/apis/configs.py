"""Topic and broker configuration.

DescribeConfigs: v0-4
    Behavior: topic resources list every topic-level key with its value and source
    (DYNAMIC_TOPIC_CONFIG override; the broker synonym's DYNAMIC_BROKER_CONFIG,
    DYNAMIC_DEFAULT_BROKER_CONFIG, STATIC_BROKER_CONFIG; DEFAULT_CONFIG); synonyms on
    request. Broker resources: "<id>" lists every broker key (read-only unless
    dynamic, dynamic_config.py) with Kafka's synonyms; "" (the cluster default) only
    its dynamic configs. BROKER_LOGGER resources: the loggers and their levels
    (broker_loggers.py). Null or empty ConfigurationKeys: every key.
    Version notes: v0 IsDefault: always false, as Kafka 3.9 answers (its broker never
    sets it; Kafka's own v0 client derives it) · v1 ConfigSource, synonyms · v3
    ConfigType (Kafka's ConfigDef type of every key: BOOLEAN, STRING, INT, SHORT,
    LONG, DOUBLE, LIST; config_docs.py), Documentation when IncludeDocumentation
    (our one-line descriptions, not Kafka's texts) · v4 flexible.
AlterConfigs: v0-2
    Behavior: replaces a topic's whole set of overrides (keys not named go back to
    their defaults), or one level of dynamic broker configs ("<id>" or "" for the
    cluster default; admin manager stores and applies them). Validated first: topic:
    unknown key or bad value -> INVALID_CONFIG; broker: read-only or unknown key, bad
    value, per-broker key at the cluster level -> INVALID_REQUEST (Kafka's
    ConfigAdminManager), another broker's id -> INVALID_REQUEST.
    Version notes: v2 flexible.
IncrementalAlterConfigs: v0-1
    Behavior: SET, DELETE, APPEND and SUBTRACT (list-valued keys such as
    cleanup.policy) on a topic's overrides or a level of dynamic broker configs;
    validated as AlterConfigs; applied to the partitions' logs at once (a retention
    change takes effect at the next retention check). BROKER_LOGGER: SET or DELETE a
    logger's level.
    Version notes: v1 flexible.
Left out: Kafka's own documentation texts; custom (unknown) broker config names,
    which Kafka stores (refused here: nothing would read them); password configs.
"""

from __future__ import annotations

from kafka_compat.apis import broker_loggers
from kafka_compat.apis.registry import RequestContext, api
from kafka_compat.config import (
    BROKER_KEYS,
    LIST_TOPIC_KEYS,
    TOPIC_KEYS,
    ConfigError,
    validate_topic_configs,
)
from kafka_compat.config_docs import BROKER_CONFIG_DOCS, TOPIC_CONFIG_DOCS, ConfigType
from kafka_compat.dynamic_config import (
    DEFAULT_ENTITY,
    DYNAMIC_KEYS,
    LIST_BROKER_KEYS,
    DynamicConfigError,
    broker_synonym_names,
    validate_dynamic,
)
from kafka_compat.security.acl_types import AclOperation, ResourceType
from kafka_compat.security.tls import check_listener_stores
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

DescribeConfigsResponse = messages.response_type(ApiKey.DESCRIBE_CONFIGS)
AlterConfigsResponse = messages.response_type(ApiKey.ALTER_CONFIGS)
IncrementalAlterConfigsResponse = messages.response_type(ApiKey.INCREMENTAL_ALTER_CONFIGS)

# Kafka's ConfigSource and ConfigResource.Type values.
SOURCE_DYNAMIC_TOPIC = 1
SOURCE_DYNAMIC_BROKER = 2
SOURCE_DYNAMIC_DEFAULT_BROKER = 3
SOURCE_STATIC_BROKER = 4
SOURCE_DEFAULT = 5
RESOURCE_TOPIC = 2
RESOURCE_BROKER = 4
RESOURCE_BROKER_LOGGER = 8
SOURCE_DYNAMIC_BROKER_LOGGER = 6

OP_SET, OP_DELETE, OP_APPEND, OP_SUBTRACT = 0, 1, 2, 3


# ---- DescribeConfigs ----


def _broker_levels(config) -> list[tuple[dict[str, str], int]]:
    """The broker-level values by source, Kafka's precedence (DefaultConfig excluded)."""
    return [
        (config.dynamic_broker, SOURCE_DYNAMIC_BROKER),
        (config.dynamic_default, SOURCE_DYNAMIC_DEFAULT_BROKER),
        (config.explicit, SOURCE_STATIC_BROKER),
    ]


def _synonyms(names: list[str], levels) -> list[tuple[str, str, int]]:
    """Kafka's configSynonyms: level by level, each of the names set there."""
    return [(n, level[n], source) for level, source in levels for n in names if n in level]


def topic_config_entries(ctx, overrides: dict[str, str]):
    """(name, value, source, synonyms) for every topic-level key, Kafka's precedence."""
    config = ctx.config
    defaults = config.topic_defaults()
    levels = _broker_levels(config)
    for name, key in sorted(TOPIC_KEYS.items()):
        synonyms = []
        if name in overrides:
            synonyms.append((name, overrides[name], SOURCE_DYNAMIC_TOPIC))
        synonyms += _synonyms(list(key.broker_synonyms), levels)
        # Kafka's default: the first synonym with one (log.retention.hours=168); keys
        # without a broker synonym list none (as Kafka).
        default = next(
            (
                (n, BROKER_KEYS[n].default, SOURCE_DEFAULT)
                for n in key.broker_synonyms
                if n in BROKER_KEYS and BROKER_KEYS[n].default is not None
            ),
            (key.synonym, key.kafka_default, SOURCE_DEFAULT) if key.synonym else None,
        )
        if default is not None:
            synonyms.append(default)
        _, value, source = synonyms[0] if synonyms else ("", "", SOURCE_DEFAULT)
        if source != SOURCE_DYNAMIC_TOPIC:
            # Derived broker values (log.retention.hours -> ms) come from the config.
            value = defaults[name]
        yield name, value, source, synonyms


def _broker_config_entries(ctx, per_broker: bool):
    """This broker's keys (per_broker), or the cluster default's dynamic ones only, as
    Kafka describes the resource names "<id>" and ""."""
    config = ctx.config
    defaults = {n: k.default for n, k in BROKER_KEYS.items() if k.default is not None}
    levels = [*_broker_levels(config), (defaults, SOURCE_DEFAULT)]
    if not per_broker:
        levels = [(config.dynamic_default, SOURCE_DYNAMIC_DEFAULT_BROKER)]
    names = sorted(BROKER_KEYS) if per_broker else sorted(config.dynamic_default)
    for name in names:
        synonyms = _synonyms(broker_synonym_names(name), levels)
        while synonyms and synonyms[0][0] != name:  # finer keys set: not this one's
            synonyms.pop(0)
        source = synonyms[0][2] if synonyms else SOURCE_DEFAULT
        value = config.broker_value(name) if per_broker else config.dynamic_default[name]
        yield name, value, source, synonyms
    if per_broker:
        # Per-listener settings (listener.name.<l>.*), static or dynamic.
        for name in sorted(config.listener_props):
            synonyms = _synonyms([name], _broker_levels(config))
            if not synonyms:  # static, from server.properties
                synonyms = [(name, config.listener_props[name], SOURCE_STATIC_BROKER)]
            yield name, config.listener_props[name], synonyms[0][2], synonyms


@api(ApiKey.DESCRIBE_CONFIGS, 0, 4)
async def handle_describe_configs(ctx: RequestContext, request):
    Result = DescribeConfigsResponse.DescribeConfigsResult
    Entry = DescribeConfigsResponse.DescribeConfigsResourceResult
    Synonym = DescribeConfigsResponse.DescribeConfigsSynonym
    results = []
    for resource in request.resources:
        result = Result(resource_type=resource.resource_type, resource_name=resource.resource_name)
        results.append(result)
        denied = _unauthorized(ctx, resource, AclOperation.DESCRIBE_CONFIGS)
        if denied:
            result.error_code, result.error_message = denied, "Authorization failed."
            continue
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
                result.error_message = (
                    f"Unexpected broker id, expected {ctx.node_id} or empty string, "
                    f"but received {resource.resource_name}"
                )
                continue
            entries = _broker_config_entries(ctx, per_broker=resource.resource_name != "")
            docs = BROKER_CONFIG_DOCS
        elif resource.resource_type == RESOURCE_BROKER_LOGGER:
            if resource.resource_name != str(ctx.node_id):
                result.error_code = ErrorCode.INVALID_REQUEST
                result.error_message = (
                    "Broker id must not be empty"
                    if not resource.resource_name
                    else f"Unexpected broker id, expected {ctx.node_id} but received "
                    f"{resource.resource_name}"
                )
                continue
            entries = (
                (name, level, SOURCE_DYNAMIC_BROKER_LOGGER, [])
                for name, level in sorted(broker_loggers.loggers().items())
            )
            docs = {}
        else:
            result.error_code = ErrorCode.INVALID_REQUEST
            result.error_message = f"Unsupported resource type {resource.resource_type}"
            continue
        keys = resource.configuration_keys
        for name, value, source, synonyms in entries:
            if keys and name not in keys:
                continue
            # listener.name.<l>.<key>: typed as <key>.
            config_type, doc = docs.get(name) or docs.get(
                name.split(".", 3)[-1] if name.startswith("listener.name.") else name,
                (ConfigType.UNKNOWN, None),
            )
            # Passwords, private keys and JAAS configs are never shown, as Kafka
            # (is_sensitive, null value).
            sensitive = config_type == ConfigType.PASSWORD or name.endswith("sasl.jaas.config")
            if sensitive:
                value, synonyms = None, [(n, None, s) for n, _, s in synonyms]
            result.configs.append(
                Entry(
                    name=name,
                    value=value,
                    read_only=resource.resource_type == RESOURCE_BROKER
                    and name not in DYNAMIC_KEYS,  # topics and loggers: never
                    config_source=source,
                    is_sensitive=sensitive,
                    synonyms=[Synonym(name=n, value=v, source=s) for n, v, s in synonyms]
                    if request.include_synonyms
                    else [],
                    config_type=config_type,
                    documentation=doc if request.include_documentation else None,
                )
            )
    return DescribeConfigsResponse(results=results)


# ---- AlterConfigs / IncrementalAlterConfigs ----


def _unauthorized(ctx: RequestContext, resource, operation: AclOperation) -> int:
    """Kafka's check: the operation on the topic, or on the cluster for brokers and
    loggers; the error code, or 0."""
    if resource.resource_type == RESOURCE_TOPIC:
        if ctx.authorize(operation, ResourceType.TOPIC, resource.resource_name):
            return 0
        return ErrorCode.TOPIC_AUTHORIZATION_FAILED
    if resource.resource_type in (RESOURCE_BROKER, RESOURCE_BROKER_LOGGER):
        return 0 if ctx.authorize_cluster(operation) else ErrorCode.CLUSTER_AUTHORIZATION_FAILED
    return 0


class _Refused(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def _target_topic(ctx, resource) -> str:
    if resource.resource_name not in ctx.store.topics:
        raise _Refused(
            ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
            f"Topic {resource.resource_name} does not exist.",
        )
    return resource.resource_name


def _target_broker(ctx, resource) -> str:
    """The dynamic config entity: "<default>" for "", else this broker's id."""
    name = resource.resource_name
    if not name:
        return DEFAULT_ENTITY
    try:
        node_id = int(name)
    except ValueError:
        raise _Refused(
            ErrorCode.INVALID_REQUEST, f"Node id must be an integer, but it is: {name}"
        ) from None
    if node_id != ctx.node_id:
        raise _Refused(
            ErrorCode.INVALID_REQUEST,
            f"Unexpected broker id, expected {ctx.node_id}, but received {name}",
        )
    return str(node_id)


def _incremental(current: dict[str, str], changes, brokers: bool = False) -> dict[str, str]:
    """Apply SET/DELETE/APPEND/SUBTRACT to a topic's overrides (or, brokers=True, to
    one level of dynamic broker configs; validate_dynamic then checks the names)."""
    keys, list_keys = (BROKER_KEYS, LIST_BROKER_KEYS) if brokers else (TOPIC_KEYS, LIST_TOPIC_KEYS)
    updated = dict(current)
    for change in changes:
        name, op, value = change.name, change.config_operation, change.value
        if op == OP_DELETE:  # Kafka deletes any name, known or not
            updated.pop(name, None)
            continue
        if name not in keys and not brokers:
            raise ConfigError(f"Unknown topic config name: {name}")
        if op == OP_SET:
            updated[name] = value
        elif op in (OP_APPEND, OP_SUBTRACT):
            if name not in list_keys:
                raise ConfigError(f"Config value append/subtract is not allowed for config {name}")
            default = (keys[name].default if brokers else keys[name].kafka_default) or ""
            items = [i for i in updated.get(name, default).split(",") if i]
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
            denied = _unauthorized(ctx, resource, AclOperation.ALTER_CONFIGS)
            if denied:
                raise _Refused(denied, "Authorization failed.")
            if resource.resource_type == RESOURCE_BROKER:
                await _alter_broker(ctx, resource, compute, request.validate_only)
            elif resource.resource_type == RESOURCE_BROKER_LOGGER and compute is _incremental:
                _alter_loggers(ctx, resource, request.validate_only)
            elif resource.resource_type == RESOURCE_TOPIC:
                topic = _target_topic(ctx, resource)
                current = ctx.store.topics[topic].configs
                configs = validate_topic_configs(compute(current, resource.configs))
                if not request.validate_only:
                    await ctx.admin.set_topic_configs(topic, configs)
            else:
                raise _Refused(
                    ErrorCode.INVALID_REQUEST,
                    f"Unknown resource type {resource.resource_type}",
                )
        except ConfigError as exc:
            result.error_code, result.error_message = ErrorCode.INVALID_CONFIG, str(exc)
        except _Refused as exc:
            result.error_code, result.error_message = exc.code, str(exc)
        results.append(result)
    return response_type(responses=results)


async def _alter_broker(ctx: RequestContext, resource, compute, validate_only: bool) -> None:
    """Dynamic broker configs of this broker ("<id>") or the cluster default ("")."""
    entity = _target_broker(ctx, resource)
    current = ctx.store.broker_configs.get(entity, {})
    try:
        configs = validate_dynamic(
            compute(current, resource.configs, brokers=True),
            per_broker=entity != DEFAULT_ENTITY,
        )
    except DynamicConfigError as exc:
        # Kafka's ConfigAdminManager answers INVALID_REQUEST here (KAFKA-13609).
        raise _Refused(ErrorCode.INVALID_REQUEST, str(exc)) from None
    if entity == str(ctx.node_id):
        # New key stores must load before they are kept, as Kafka validates them.
        validate = ctx.admin.validate_listener_configs
        try:
            if validate is not None:
                validate(configs)  # the broker's: compares with the certificates in use
            else:
                check_listener_stores(ctx.config, configs)
        except ConfigError as exc:
            raise _Refused(ErrorCode.INVALID_REQUEST, str(exc)) from None
    if not validate_only:
        await ctx.admin.set_broker_configs(entity, configs)
        reload = ctx.admin.reload_rewritten_store_files
        if entity == str(ctx.node_id) and reload is not None:
            reload()  # store files rewritten in place, as Kafka reloads them


def _alter_loggers(ctx: RequestContext, resource, validate_only: bool) -> None:
    """Log levels of this broker's loggers (IncrementalAlterConfigs only, as in Kafka)."""
    if not resource.resource_name:
        raise _Refused(ErrorCode.INVALID_REQUEST, "Node id must be an integer, but it is: ")
    _target_broker(ctx, resource)
    try:
        broker_loggers.validate(resource.configs)
    except broker_loggers.LoggerConfigError as exc:
        code = ErrorCode.INVALID_REQUEST if exc.invalid_request else ErrorCode.INVALID_CONFIG
        raise _Refused(code, str(exc)) from None
    if not validate_only:
        broker_loggers.apply(resource.configs)


def _replace(current: dict[str, str], changes, brokers: bool = False) -> dict[str, str]:
    return {c.name: c.value for c in changes}


@api(ApiKey.ALTER_CONFIGS, 0, 2)
async def handle_alter_configs(ctx: RequestContext, request):
    return await _alter(ctx, request, AlterConfigsResponse, _replace)


@api(ApiKey.INCREMENTAL_ALTER_CONFIGS, 0, 1)
async def handle_incremental_alter_configs(ctx: RequestContext, request):
    return await _alter(ctx, request, IncrementalAlterConfigsResponse, _incremental)
