"""BROKER_LOGGER config resources (KIP-412, ``kafka-configs --entity-type broker-loggers``):
this broker's loggers and their levels, read by DescribeConfigs and changed at run time by
IncrementalAlterConfigs, as Kafka does with its log4j loggers.

The loggers are Python's (``root`` and every logger created so far, ``odradek.*`` among
them); log4j's level names map onto Python's levels (WARN = WARNING, FATAL = CRITICAL,
TRACE below DEBUG, OFF above CRITICAL).  A change holds until the process exits, as in
Kafka; it is not stored in the metadata log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from client.protocol.errors import ErrorCode

BROKER_LOGGER_RESOURCE = 8
ROOT_LOGGER = "root"
# log4j's levels, most verbose first, as Python levels.
_LEVELS = {
    "ALL": 1,
    "TRACE": 5,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
    "OFF": logging.CRITICAL + 10,
}
VALID_LEVELS = ", ".join(_LEVELS)
# IncrementalAlterConfigs operations (KIP-339).
_SET, _DELETE = 0, 1


def level_name(level: int) -> str:
    """The log4j name of a Python level (the most verbose one at or below it)."""
    name = "ALL"
    for candidate, value in _LEVELS.items():
        if value <= level:
            name = candidate
    return name


def _logger(name: str) -> logging.Logger | None:
    if name == ROOT_LOGGER:
        return logging.getLogger()
    existing = logging.Logger.manager.loggerDict.get(name)
    return existing if isinstance(existing, logging.Logger) else None


def loggers() -> list[tuple[str, str]]:
    """(logger, effective level) for the root and every logger there is, sorted."""
    named = [
        (name, level_name(logger.getEffectiveLevel()))
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    ]
    return [(ROOT_LOGGER, level_name(logging.getLogger().level)), *sorted(named)]


@dataclass(frozen=True, slots=True)
class LoggerChange:
    name: str
    value: str | None
    operation: int  # IncrementalAlterConfigs' config_operation


def alter(changes: Sequence[LoggerChange], validate_only: bool) -> tuple[ErrorCode, str | None]:
    """Check every change, then (unless ``validate_only``) apply them all; the first
    problem refuses the resource, as Kafka's ``validateLogLevelConfigs`` does."""
    for change in changes:
        problem = _problem(change)
        if problem is not None:
            return problem
    if not validate_only:
        for change in changes:
            logger = _logger(change.name)
            assert logger is not None
            if change.operation == _DELETE:
                logger.setLevel(logging.NOTSET)  # back to what it inherits
            else:
                logger.setLevel(_LEVELS[str(change.value).upper()])
    return ErrorCode.NONE, None


def _problem(change: LoggerChange) -> tuple[ErrorCode, str] | None:
    if change.operation not in (_SET, _DELETE):
        return ErrorCode.INVALID_REQUEST, (
            f"{change.name}: only SET and DELETE apply to a broker logger's level."
        )
    if _logger(change.name) is None:
        return ErrorCode.INVALID_CONFIG, f"Logger {change.name} does not exist!"
    if change.operation == _DELETE:
        if change.name == ROOT_LOGGER:
            return (
                ErrorCode.INVALID_REQUEST,
                "Removing the log level of the root logger is not allowed",
            )
        return None
    if change.value is None or change.value.upper() not in _LEVELS:
        return ErrorCode.INVALID_CONFIG, (
            f"Cannot set the log level of {change.name} to {change.value} as it is not a "
            f"supported log level. Valid log levels are {VALID_LEVELS}"
        )
    return None
