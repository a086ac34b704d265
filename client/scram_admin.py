"""SCRAM credentials through the admin clients (KIP-554): the requests as data, shared by the
async and the blocking :class:`AdminClient`.

As Kafka's admin client, the password never leaves the client: an upsertion carries a random
salt and the salted password (PBKDF2), and the broker derives the keys it stores.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from construct import Container

from client import sasl
from client.errors import KafkaError, error_for
from client.protocol.errors import ErrorCode

DESCRIBE_USER_SCRAM_CREDENTIALS = 50
ALTER_USER_SCRAM_CREDENTIALS = 51
SALT_BYTES = 32


@dataclass(frozen=True, slots=True)
class ScramCredentialInfo:
    """A user's credential as DescribeUserScramCredentials shows it (never the keys)."""

    mechanism: str
    iterations: int


@dataclass(frozen=True, slots=True)
class ScramUpsertion:
    """Set ``user``'s ``mechanism`` credential to ``password``."""

    user: str
    mechanism: str
    password: str
    iterations: int = sasl.SCRAM_MIN_ITERATIONS

    def __repr__(self) -> str:
        return f"ScramUpsertion({self.user!r}, {self.mechanism!r}, iterations={self.iterations})"


def _mechanism_id(name: str) -> int:
    number = sasl.SCRAM_MECHANISM_IDS.get(name.upper())
    if number is None:
        expected = ", ".join(sasl.SCRAM_MECHANISMS)
        raise ValueError(f"unknown SCRAM mechanism {name!r}: expected one of {expected}")
    return number


def alter_body(
    upsertions: Iterable[ScramUpsertion], deletions: Iterable[tuple[str, str]]
) -> dict[str, Any]:
    """The AlterUserScramCredentials request (deletions are (user, mechanism) pairs)."""
    upserts = []
    for item in upsertions:
        number = _mechanism_id(item.mechanism)
        salt = secrets.token_bytes(SALT_BYTES)
        salted = sasl.salted_password(
            sasl.SCRAM_MECHANISM_NAMES[number], item.password, salt, item.iterations
        )
        upserts.append(
            {
                "name": item.user,
                "mechanism": number,
                "iterations": item.iterations,
                "salt": salt,
                "salted_password": salted,
            }
        )
    deletes = [{"name": user, "mechanism": _mechanism_id(name)} for user, name in deletions]
    return {"deletions": deletes, "upsertions": upserts}


def alter_results(response: Container) -> dict[str, KafkaError | None]:
    """User -> None (done) or the broker's refusal."""
    return {
        result.user: (
            None
            if result.error_code == ErrorCode.NONE
            else error_for(result.error_code, result.error_message)
        )
        for result in response.results
    }


def describe_body(users: Iterable[str] | None) -> dict[str, Any]:
    return {"users": None if users is None else [{"name": user} for user in users]}


def describe_results(response: Container) -> dict[str, tuple[ScramCredentialInfo, ...]]:
    """User -> credentials; raises the request's error or the first user's (a named user
    without credentials is RESOURCE_NOT_FOUND)."""
    if response.error_code != ErrorCode.NONE:
        raise error_for(response.error_code, response.error_message)
    out: dict[str, tuple[ScramCredentialInfo, ...]] = {}
    for result in response.results:
        if result.error_code != ErrorCode.NONE:
            raise error_for(result.error_code, result.error_message)
        out[result.user] = tuple(
            ScramCredentialInfo(
                sasl.SCRAM_MECHANISM_NAMES.get(i.mechanism, "UNKNOWN"), i.iterations
            )
            for i in result.credential_infos
        )
    return out
