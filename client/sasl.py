"""SASL mechanisms Kafka speaks on ``SASL_PLAINTEXT`` listeners: PLAIN (RFC 4616) and SCRAM
(RFC 5802, with SHA-256 and SHA-512 as RFC 7677 and Kafka's KIP-84 name them).

Pure code, no I/O: a mechanism is a little state machine of tokens.  The client side
(:class:`PlainClient`, :class:`ScramClient`) is driven by a connection's SaslAuthenticate
exchange; the SCRAM arithmetic (:func:`salted_password`, :func:`scram_credential`,
:func:`client_proof`, ...) is shared with the broker's server side, which checks a proof
against the stored key without ever holding the password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol

from client.errors import SaslAuthenticationFailedError, error_for

PLAIN = "PLAIN"
SCRAM_SHA_256 = "SCRAM-SHA-256"
SCRAM_SHA_512 = "SCRAM-SHA-512"
SCRAM_MECHANISMS = (SCRAM_SHA_256, SCRAM_SHA_512)
MECHANISMS = (PLAIN, *SCRAM_MECHANISMS)
# The int8 ids of AlterUserScramCredentials / DescribeUserScramCredentials (Kafka's
# ScramMechanism enum: 0 is UNKNOWN).
SCRAM_MECHANISM_IDS = {SCRAM_SHA_256: 1, SCRAM_SHA_512: 2}
SCRAM_MECHANISM_NAMES = {number: name for name, number in SCRAM_MECHANISM_IDS.items()}
# Kafka's bounds on a SCRAM credential's iteration count.
SCRAM_MIN_ITERATIONS = 4096
SCRAM_MAX_ITERATIONS = 16384
_HASHES = {SCRAM_SHA_256: "sha256", SCRAM_SHA_512: "sha512"}
_GS2_HEADER = b"n,,"


class SaslError(Exception):
    """A malformed or failed SASL exchange (the message says which)."""


class SaslClientMechanism(Protocol):
    """One client-side exchange: ``first()`` opens it, ``respond(challenge)`` answers each
    server token; ``complete`` once the server's last token has been checked."""

    name: str
    complete: bool

    def first(self) -> bytes: ...

    def respond(self, challenge: bytes) -> bytes | None: ...


# -- SCRAM arithmetic (RFC 5802 section 3) --------------------------------------------------


def _hash_name(mechanism: str) -> str:
    try:
        return _HASHES[mechanism]
    except KeyError:
        raise SaslError(f"not a SCRAM mechanism: {mechanism}") from None


def _hmac(mechanism: str, key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, _hash_name(mechanism)).digest()


def _h(mechanism: str, data: bytes) -> bytes:
    return hashlib.new(_hash_name(mechanism), data).digest()


def _xor(left: bytes, right: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(left, right, strict=True))


def salted_password(mechanism: str, password: str, salt: bytes, iterations: int) -> bytes:
    """Hi(password, salt, i): PBKDF2 with the mechanism's HMAC (no SASLprep: Kafka applies
    none either)."""
    return hashlib.pbkdf2_hmac(_hash_name(mechanism), password.encode(), salt, iterations)


@dataclass(frozen=True, slots=True)
class ScramCredential:
    """What a server stores for a SCRAM user (Kafka's UserScramCredentialRecord)."""

    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int


def scram_credential(
    mechanism: str, salted: bytes, salt: bytes, iterations: int
) -> ScramCredential:
    """The stored form of a salted password: StoredKey = H(ClientKey), and ServerKey."""
    client_key = _hmac(mechanism, salted, b"Client Key")
    server_key = _hmac(mechanism, salted, b"Server Key")
    return ScramCredential(salt, _h(mechanism, client_key), server_key, iterations)


def client_proof(mechanism: str, salted: bytes, auth_message: bytes) -> bytes:
    client_key = _hmac(mechanism, salted, b"Client Key")
    stored_key = _h(mechanism, client_key)
    return _xor(client_key, _hmac(mechanism, stored_key, auth_message))


def verify_client_proof(
    mechanism: str, credential: ScramCredential, auth_message: bytes, proof: bytes
) -> bool:
    """Whether ``proof`` shows knowledge of the password behind ``credential``."""
    signature = _hmac(mechanism, credential.stored_key, auth_message)
    if len(proof) != len(signature):
        return False
    client_key = _xor(proof, signature)
    return hmac.compare_digest(_h(mechanism, client_key), credential.stored_key)


def server_signature(mechanism: str, server_key: bytes, auth_message: bytes) -> bytes:
    return _hmac(mechanism, server_key, auth_message)


def escape_username(name: str) -> str:
    """saslname: ``=`` and ``,`` escaped as ``=3D`` and ``=2C``."""
    return name.replace("=", "=3D").replace(",", "=2C")


def unescape_username(name: str) -> str:
    if "=" in name.replace("=3D", "").replace("=2C", ""):
        raise SaslError(f"invalid username escape in {name!r}")
    return name.replace("=2C", ",").replace("=3D", "=")


def parse_attributes(message: bytes) -> dict[str, str]:
    """``a=1,b=2`` -> {"a": "1", "b": "2"}; a malformed attribute raises :class:`SaslError`."""
    try:
        text = message.decode()
    except UnicodeDecodeError:
        raise SaslError("SCRAM message is not UTF-8") from None
    attributes: dict[str, str] = {}
    for item in text.split(","):
        if len(item) < 2 or item[1] != "=" or not item[0].isalpha():
            raise SaslError(f"invalid SCRAM attribute {item!r}")
        attributes.setdefault(item[0], item[2:])
    return attributes


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


# -- client mechanisms -----------------------------------------------------------------------


class PlainClient:
    """PLAIN: one message, ``authzid NUL authcid NUL password`` (authzid empty)."""

    name = PLAIN

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password
        self.complete = False

    def first(self) -> bytes:
        return b"\0" + self.username.encode() + b"\0" + self.password.encode()

    def respond(self, challenge: bytes) -> bytes | None:
        self.complete = True
        return None


class ScramClient:
    """SCRAM-SHA-256/512 client: client-first, client-final, then the server's signature is
    checked (a server that cannot produce it does not hold the credential)."""

    def __init__(
        self,
        mechanism: str,
        username: str,
        password: str,
        *,
        nonce: Callable[[], str] = new_nonce,
    ) -> None:
        _hash_name(mechanism)
        self.name = mechanism
        self.username = username
        self.password = password
        self.complete = False
        self._nonce = nonce()
        self._first_bare = b""
        self._expected_signature: bytes | None = None

    def first(self) -> bytes:
        self._first_bare = f"n={escape_username(self.username)},r={self._nonce}".encode()
        return _GS2_HEADER + self._first_bare

    def respond(self, challenge: bytes) -> bytes | None:
        if self._expected_signature is None:
            return self._final(challenge)
        attributes = parse_attributes(challenge)
        if "e" in attributes:
            raise SaslError(f"SCRAM authentication failed: {attributes['e']}")
        if "v" not in attributes:
            raise SaslError("SCRAM server-final message has no signature")
        signature = base64.b64decode(attributes["v"])
        if not hmac.compare_digest(signature, self._expected_signature):
            raise SaslError("SCRAM server signature does not match: the server is not genuine")
        self.complete = True
        return None

    def _final(self, server_first: bytes) -> bytes:
        attributes = parse_attributes(server_first)
        try:
            nonce, salt_b64, iterations_text = attributes["r"], attributes["s"], attributes["i"]
            salt = base64.b64decode(salt_b64, validate=True)
            iterations = int(iterations_text)
        except (KeyError, ValueError) as error:
            raise SaslError(f"invalid SCRAM server-first message: {error}") from None
        if not nonce.startswith(self._nonce) or len(nonce) == len(self._nonce):
            raise SaslError("SCRAM server nonce does not extend the client nonce")
        if iterations < 1:
            raise SaslError(f"invalid SCRAM iteration count {iterations}")
        without_proof = b"c=" + base64.b64encode(_GS2_HEADER) + b",r=" + nonce.encode()
        auth_message = self._first_bare + b"," + server_first + b"," + without_proof
        salted = salted_password(self.name, self.password, salt, iterations)
        proof = client_proof(self.name, salted, auth_message)
        server_key = _hmac(self.name, salted, b"Server Key")
        self._expected_signature = server_signature(self.name, server_key, auth_message)
        return without_proof + b",p=" + base64.b64encode(proof)


def client_mechanism(mechanism: str, username: str, password: str) -> SaslClientMechanism:
    """The client side of ``mechanism`` (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)."""
    if mechanism == PLAIN:
        return PlainClient(username, password)
    if mechanism in SCRAM_MECHANISMS:
        return ScramClient(mechanism, username, password)
    raise SaslError(f"unsupported SASL mechanism {mechanism!r}: expected one of {MECHANISMS}")


# -- the client's exchange -------------------------------------------------------------------

SASL_HANDSHAKE = 17
SASL_AUTHENTICATE = 36


@dataclass(frozen=True, slots=True)
class SaslCredentials:
    """``sasl.mechanism`` with ``sasl.plain.username`` / ``sasl.plain.password`` (the same
    pair serves SCRAM, as in kafka-python)."""

    mechanism: str
    username: str
    password: str

    def __repr__(self) -> str:  # never print the password
        return f"SaslCredentials({self.mechanism!r}, {self.username!r}, password=***)"


Request = tuple[int, int, dict[str, object]]


def authentication(
    credentials: SaslCredentials, authenticate_version: int
) -> Generator[Request, Any, None]:
    """The requests of one authentication, as (api key, version, body): SaslHandshake v1,
    then SaslAuthenticate until the mechanism completes.  Send each and ``send()`` its
    decoded response back; a refusal raises the broker's error
    (:class:`~client.errors.SaslAuthenticationFailedError`, ...), a server that fails the
    SCRAM signature check :class:`~client.errors.SaslAuthenticationFailedError` too."""
    response = yield SASL_HANDSHAKE, 1, {"mechanism": credentials.mechanism}
    if response.error_code:
        enabled = ", ".join(response.mechanisms) or "none"
        raise error_for(
            response.error_code, f"{credentials.mechanism} (the broker enables: {enabled})"
        )
    try:
        mechanism = client_mechanism(
            credentials.mechanism, credentials.username, credentials.password
        )
        token: bytes | None = mechanism.first()
        while token is not None:
            response = yield SASL_AUTHENTICATE, authenticate_version, {"auth_bytes": token}
            if response.error_code:
                raise error_for(response.error_code, response.error_message)
            token = mechanism.respond(bytes(response.auth_bytes))
    except SaslError as error:
        raise SaslAuthenticationFailedError(str(error)) from None
