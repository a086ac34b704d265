"""SCRAM credentials in the cluster metadata (KIP-554), as Kafka's ScramControlManager and
ScramImage: AlterUserScramCredentials becomes records, DescribeUserScramCredentials reads the
image, and a broker looks a user's credential up when a client authenticates.

The controller never sees a password: the client sends the salt and the salted password, the
controller derives StoredKey and ServerKey and stores those (hex, in the JSON records).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from broker.core.metadata import (
    MetadataImage,
    MetadataRecord,
    RemoveUserScramCredentialRecord,
    UserScramCredentialRecord,
)
from client import sasl
from client.protocol.errors import ErrorCode
from client.sasl import ScramCredential

DUPLICATE_ALTER = "A user credential cannot be altered twice in the same request"
DESCRIBE_DUPLICATE = (
    "Cannot describe SCRAM credentials for the same user twice in a single request: "
)
DESCRIBE_MISSING = "Attempt to describe a user credential that does not exist: "


@dataclass(frozen=True, slots=True)
class Deletion:
    name: str
    mechanism: int


@dataclass(frozen=True, slots=True)
class Upsertion:
    name: str
    mechanism: int
    iterations: int
    salt: bytes
    salted_password: bytes

    def __repr__(self) -> str:
        return f"Upsertion({self.name!r}, mechanism={self.mechanism})"


def _name_and_mechanism_error(name: str, mechanism: int) -> tuple[ErrorCode, str] | None:
    if not name:
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, "Username must not be empty"
    if mechanism not in sasl.SCRAM_MECHANISM_NAMES:
        return ErrorCode.UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism"
    return None


def _upsertion_error(item: Upsertion) -> tuple[ErrorCode, str] | None:
    error = _name_and_mechanism_error(item.name, item.mechanism)
    if error is not None:
        return error
    if item.iterations < sasl.SCRAM_MIN_ITERATIONS:
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too few iterations"
    if item.iterations > sasl.SCRAM_MAX_ITERATIONS:
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too many iterations"
    return None


def alter_credentials(
    image: MetadataImage, deletions: Iterable[Deletion], upsertions: Iterable[Upsertion]
) -> tuple[list[MetadataRecord], list[dict[str, Any]]]:
    """Records and per-user results of one AlterUserScramCredentials request.

    All or nothing per user: a user named twice in the request (deleted twice, upserted
    twice, or both) is DUPLICATE_RESOURCE and none of its changes apply.  Deleting a
    credential that does not exist is RESOURCE_NOT_FOUND."""
    errors: dict[str, tuple[ErrorCode, str]] = {}
    to_delete: dict[str, Deletion] = {}
    to_upsert: dict[str, Upsertion] = {}
    for deletion in deletions:
        if deletion.name in errors:
            continue
        if to_delete.pop(deletion.name, None) is not None:
            errors[deletion.name] = ErrorCode.DUPLICATE_RESOURCE, DUPLICATE_ALTER
            continue
        error = _name_and_mechanism_error(deletion.name, deletion.mechanism)
        if error is None and (deletion.name, deletion.mechanism) not in image.scram_credentials:
            error = (
                ErrorCode.RESOURCE_NOT_FOUND,
                "Attempt to delete a user credential that does not exist",
            )
        if error is not None:
            errors[deletion.name] = error
        else:
            to_delete[deletion.name] = deletion
    for upsertion in upsertions:
        if upsertion.name in errors:
            continue
        if (
            to_delete.pop(upsertion.name, None) is not None
            or to_upsert.pop(upsertion.name, None) is not None
        ):
            errors[upsertion.name] = ErrorCode.DUPLICATE_RESOURCE, DUPLICATE_ALTER
            continue
        error = _upsertion_error(upsertion)
        if error is not None:
            errors[upsertion.name] = error
        else:
            to_upsert[upsertion.name] = upsertion
    records: list[MetadataRecord] = []
    results: list[dict[str, Any]] = []
    for deletion in to_delete.values():
        records.append(RemoveUserScramCredentialRecord(deletion.name, deletion.mechanism))
        results.append(_result(deletion.name, None))
    for upsertion in to_upsert.values():
        records.append(_credential_record(upsertion))
        results.append(_result(upsertion.name, None))
    results.extend(_result(name, error) for name, error in errors.items())
    return records, results


def _credential_record(item: Upsertion) -> UserScramCredentialRecord:
    mechanism = sasl.SCRAM_MECHANISM_NAMES[item.mechanism]
    credential = sasl.scram_credential(mechanism, item.salted_password, item.salt, item.iterations)
    return UserScramCredentialRecord(
        name=item.name,
        mechanism=item.mechanism,
        salt=credential.salt.hex(),
        stored_key=credential.stored_key.hex(),
        server_key=credential.server_key.hex(),
        iterations=credential.iterations,
    )


def _result(user: str, error: tuple[ErrorCode, str] | None) -> dict[str, Any]:
    if error is None:
        return {"user": user, "error_code": ErrorCode.NONE, "error_message": None}
    return {"user": user, "error_code": error[0], "error_message": error[1]}


def describe_credentials(image: MetadataImage, users: Iterable[str] | None) -> dict[str, Any]:
    """The DescribeUserScramCredentials response body (null or empty ``users``: all)."""
    requested = list(users or ())
    if not requested:
        requested = sorted({name for name, _ in image.scram_credentials})
    counts: dict[str, int] = {}
    for name in requested:
        counts[name] = counts.get(name, 0) + 1
    results = []
    for name, count in counts.items():
        entry: dict[str, Any] = {"user": name, "error_message": None, "credential_infos": []}
        if count > 1:
            entry.update(
                error_code=ErrorCode.DUPLICATE_RESOURCE, error_message=DESCRIBE_DUPLICATE + name
            )
        else:
            infos = [
                {"mechanism": mechanism, "iterations": record.iterations}
                for (user, mechanism), record in sorted(image.scram_credentials.items())
                if user == name
            ]
            if infos:
                entry.update(error_code=ErrorCode.NONE, credential_infos=infos)
            else:
                entry.update(
                    error_code=ErrorCode.RESOURCE_NOT_FOUND, error_message=DESCRIBE_MISSING + name
                )
        results.append(entry)
    return {
        "throttle_time_ms": 0,
        "error_code": ErrorCode.NONE,
        "error_message": None,
        "results": results,
    }


def lookup(image: MetadataImage, mechanism: str, user: str) -> ScramCredential | None:
    """The credential a SCRAM exchange checks ``user``'s proof against (None: no such user)."""
    number = sasl.SCRAM_MECHANISM_IDS.get(mechanism)
    record = None if number is None else image.scram_credentials.get((user, number))
    if record is None:
        return None
    return ScramCredential(
        bytes.fromhex(record.salt),
        bytes.fromhex(record.stored_key),
        bytes.fromhex(record.server_key),
        record.iterations,
    )
