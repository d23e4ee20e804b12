"""BROKER_LOGGER config resources (KIP-412, `kafka-configs --entity-type
broker-loggers`): the broker's loggers and their levels, read by DescribeConfigs and
changed at run time by IncrementalAlterConfigs (apis/configs.py), as Kafka's
Log4jController and RuntimeLoggerManager do, on Python's logging.

Kafka's level names map onto Python's levels (TRACE is below DEBUG, FATAL is
CRITICAL). Levels are not kept across a restart, as in Kafka.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

ROOT_LOGGER = "root"
# Kafka's LogLevelConfig.VALID_LOG_LEVELS, strictest first, with Python's numbers.
LEVELS = {
    "FATAL": logging.CRITICAL,
    "ERROR": logging.ERROR,
    "WARN": logging.WARNING,
    "INFO": logging.INFO,
    "DEBUG": logging.DEBUG,
    "TRACE": 5,
}
OP_SET, OP_DELETE = 0, 1


class LoggerConfigError(ValueError):
    """A refused change; `invalid_request` tells INVALID_REQUEST from INVALID_CONFIG."""

    def __init__(self, message: str, invalid_request: bool = False):
        super().__init__(message)
        self.invalid_request = invalid_request


def _level_name(level: int) -> str:
    return next((name for name, number in LEVELS.items() if level >= number), "TRACE")


def _existing(name: str) -> logging.Logger | None:
    if name == ROOT_LOGGER:
        return logging.getLogger()
    found = logging.Logger.manager.loggerDict.get(name)
    return found if isinstance(found, logging.Logger) else None


def loggers() -> dict[str, str]:
    """Every logger that exists, with its effective level (Kafka's names)."""
    found = {ROOT_LOGGER: _level_name(logging.getLogger().getEffectiveLevel())}
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            found[name] = _level_name(logger.getEffectiveLevel())
    return found


def validate(changes: Iterable) -> None:
    """Kafka's validateLogLevelConfigs: raises LoggerConfigError."""
    for change in changes:
        name, op = change.name, change.config_operation
        if op not in (OP_SET, OP_DELETE):
            kind = {2: "APPEND", 3: "SUBTRACT"}.get(op)
            raise LoggerConfigError(
                f"{kind} operation is not allowed for the BROKER_LOGGER resource"
                if kind
                else f"Unknown operation type {op} is not allowed for the BROKER_LOGGER resource",
                invalid_request=True,
            )
        if _existing(name) is None:
            raise LoggerConfigError(f"Logger {name} does not exist!")
        if op == OP_SET and change.value not in LEVELS:
            raise LoggerConfigError(
                f"Cannot set the log level of {name} to {change.value} as it is not a "
                f"supported log level. Valid log levels are {', '.join(LEVELS)}"
            )
        if op == OP_DELETE and name == ROOT_LOGGER:
            raise LoggerConfigError(
                "Removing the log level of the root logger is not allowed", invalid_request=True
            )


def apply(changes: Iterable) -> None:
    """SET a level, or DELETE it (the logger inherits its parent's again)."""
    for change in changes:
        logger = _existing(change.name)
        if change.config_operation == OP_SET:
            logger.setLevel(LEVELS[change.value])
            logging.getLogger(__name__).warning(
                "Updated the log level of %s to %s", change.name, change.value
            )
        else:
            logger.setLevel(logging.NOTSET)
            logging.getLogger(__name__).warning("Unset the log level of %s", change.name)
