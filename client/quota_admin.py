"""Client quotas through the admin clients (KIP-546): the requests as data, shared by the
async and the blocking :class:`AdminClient`.

An entity is a mapping of entity type (``user``, ``client-id``, ``ip``) to a name, None
naming the default entity (Kafka's ``ClientQuotaEntity``); results key entities as sorted
``((type, name), ...)`` tuples.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from construct import Container

from client.errors import KafkaError, error_for
from client.protocol.errors import ErrorCode

DESCRIBE_CLIENT_QUOTAS = 48
ALTER_CLIENT_QUOTAS = 49

USER = "user"
CLIENT_ID = "client-id"
IP = "ip"

MATCH_EXACT = 0
MATCH_DEFAULT = 1
MATCH_SPECIFIED = 2

QuotaEntityKey = tuple[tuple[str, str | None], ...]


@dataclass(frozen=True, slots=True)
class QuotaFilterComponent:
    """One component of a DescribeClientQuotas filter (Kafka's ClientQuotaFilterComponent)."""

    entity_type: str
    match_type: int
    match: str | None = None

    @classmethod
    def of_entity(cls, entity_type: str, name: str) -> QuotaFilterComponent:
        return cls(entity_type, MATCH_EXACT, name)

    @classmethod
    def of_default_entity(cls, entity_type: str) -> QuotaFilterComponent:
        return cls(entity_type, MATCH_DEFAULT)

    @classmethod
    def of_entity_type(cls, entity_type: str) -> QuotaFilterComponent:
        return cls(entity_type, MATCH_SPECIFIED)


@dataclass(frozen=True, slots=True)
class ClientQuotaAlteration:
    """Set (a number) or remove (None) quota keys of one entity."""

    entity: Mapping[str, str | None]
    ops: Mapping[str, float | None] = field(default_factory=dict)


def entity_key(entity: Mapping[str, str | None]) -> QuotaEntityKey:
    return tuple(sorted(entity.items()))


def describe_body(components: Iterable[QuotaFilterComponent], strict: bool) -> dict[str, Any]:
    return {
        "components": [
            {"entity_type": c.entity_type, "match_type": c.match_type, "match": c.match}
            for c in components
        ],
        "strict": strict,
    }


def describe_results(response: Container) -> dict[QuotaEntityKey, dict[str, float]]:
    """Entity -> {quota key: value}; raises the broker's refusal of the filter."""
    if response.error_code != ErrorCode.NONE:
        raise error_for(response.error_code, response.error_message)
    return {
        entity_key({item.entity_type: item.entity_name for item in entry.entity}): {
            value.key: value.value for value in entry["values"]
        }
        for entry in response.entries or ()
    }


def alter_body(alterations: Iterable[ClientQuotaAlteration], validate_only: bool) -> dict[str, Any]:
    return {
        "entries": [
            {
                "entity": [
                    {"entity_type": kind, "entity_name": name}
                    for kind, name in alteration.entity.items()
                ],
                "ops": [
                    {
                        "key": key,
                        "value": 0.0 if value is None else float(value),
                        "remove": value is None,
                    }
                    for key, value in alteration.ops.items()
                ],
            }
            for alteration in alterations
        ],
        "validate_only": validate_only,
    }


def alter_results(response: Container) -> dict[QuotaEntityKey, KafkaError | None]:
    """Entity -> None (done) or the broker's refusal."""
    return {
        entity_key({item.entity_type: item.entity_name for item in entry.entity}): (
            None
            if entry.error_code == ErrorCode.NONE
            else error_for(entry.error_code, entry.error_message)
        )
        for entry in response.entries
    }
