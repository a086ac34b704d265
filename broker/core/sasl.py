"""The server side of SASL authentication (sans-IO): mechanisms and the handshake state.

A ``SASL_PLAINTEXT`` connection is served by :class:`SaslAuthenticator` until it has
authenticated: it takes each request of the exchange and says what to answer and whether the
connection may go on, as Kafka's ``SaslServerAuthenticator`` does:

* before the handshake only ApiVersions and SaslHandshake are allowed; any other request
  closes the connection (Kafka: "Unexpected Kafka request of type ... during SASL
  handshake");
* SaslHandshake with a mechanism that is not enabled is answered UNSUPPORTED_SASL_MECHANISM
  with the enabled list, then the connection is closed;
* after a v1 handshake the tokens come in SaslAuthenticate requests, after a v0 handshake as
  bare size-prefixed frames (the legacy exchange of Kafka 0.10);
* a failed authentication is answered SASL_AUTHENTICATION_FAILED with a message (v1) and the
  connection is closed.

PLAIN checks a username and password against the listener's JAAS ``user_<name>="<password>"``
options; SCRAM-SHA-256/512 checks a proof against the stored credential
(``UserScramCredentialRecord``, set with AlterUserScramCredentials) and never sees a password.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from client import sasl
from client.protocol.errors import ErrorCode
from client.sasl import SaslError, ScramCredential

SASL_HANDSHAKE = 17
API_VERSIONS = 18
SASL_AUTHENTICATE = 36
AUTH_FAILED_MESSAGE = "Authentication failed: Invalid username or password"

CredentialLookup = Callable[[str, str], ScramCredential | None]
"""(mechanism, user name) -> the user's SCRAM credential, None if it has none."""


class AuthenticationFailed(Exception):
    """The client's credentials were refused (the message goes back to it)."""


class SaslServerMechanism(Protocol):
    name: str
    complete: bool
    user: str

    def evaluate(self, token: bytes) -> bytes:
        """The answer to the client's next token; raises :class:`AuthenticationFailed`."""
        ...


class PlainServer:
    """PLAIN (RFC 4616): ``[authzid] NUL authcid NUL password`` against the JAAS users."""

    name = sasl.PLAIN

    def __init__(self, users: Mapping[str, str]) -> None:
        self.users = users
        self.complete = False
        self.user = ""

    def evaluate(self, token: bytes) -> bytes:
        parts = token.split(b"\0")
        if len(parts) != 3:
            raise AuthenticationFailed(
                "Invalid SASL/PLAIN response: expected 3 tokens, got " + str(len(parts))
            )
        try:
            authzid, user, password = (part.decode() for part in parts)
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid SASL/PLAIN response: not UTF-8") from None
        if not user:
            raise AuthenticationFailed("Authentication failed: username not specified")
        if not password:
            raise AuthenticationFailed("Authentication failed: password not specified")
        expected = self.users.get(user)
        if expected is None or not _equal(expected, password):
            raise AuthenticationFailed(AUTH_FAILED_MESSAGE)
        if authzid and authzid != user:
            raise AuthenticationFailed(
                "Authentication failed: Client requested an authorization id that is "
                "different from username"
            )
        self.user = user
        self.complete = True
        return b""


def _equal(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode(), right.encode())


class ScramServer:
    """SCRAM-SHA-256/512 (RFC 5802): client-first -> server-first, client-final ->
    server-final; the proof is checked against the stored key."""

    def __init__(
        self,
        mechanism: str,
        lookup: CredentialLookup,
        *,
        nonce: Callable[[], str] = sasl.new_nonce,
    ) -> None:
        self.name = mechanism
        self._lookup = lookup
        self._nonce = nonce
        self.complete = False
        self.user = ""
        self._credential: ScramCredential | None = None
        self._first_bare = b""
        self._server_first = b""
        self._combined_nonce = ""

    def _failed(self) -> AuthenticationFailed:
        return AuthenticationFailed(
            "Authentication failed during authentication due to invalid credentials with "
            f"SASL mechanism {self.name}"
        )

    def evaluate(self, token: bytes) -> bytes:
        if self.complete:
            raise AuthenticationFailed("SCRAM exchange already complete")
        try:
            if self._credential is None:
                return self._server_first_message(token)
            return self._server_final_message(token)
        except SaslError as error:
            raise AuthenticationFailed(f"Authentication failed: {error}") from None
        except (ValueError, IndexError) as error:  # anything else malformed
            raise AuthenticationFailed(
                f"Authentication failed: malformed message ({error})"
            ) from None

    def _server_first_message(self, token: bytes) -> bytes:
        # gs2-header: no channel binding ("n"), no authzid (or the same user), then the bare
        # client-first message.
        parts = token.split(b",", 2)
        if len(parts) != 3 or parts[0] not in (b"n", b"y"):
            raise SaslError("invalid SCRAM client-first message (channel binding unsupported)")
        _, authzid, bare = parts
        attributes = sasl.parse_attributes(bare)
        if "n" not in attributes or "r" not in attributes:
            raise SaslError("invalid SCRAM client-first message")
        user = sasl.unescape_username(attributes["n"])
        if authzid and authzid.decode(errors="replace") != "a=" + attributes["n"]:
            raise SaslError("authorization id differs from the user name")
        credential = self._lookup(self.name, user)
        if credential is None:
            raise self._failed()
        self.user = user
        self._credential = credential
        self._first_bare = bare
        self._combined_nonce = attributes["r"] + self._nonce()
        salt = base64.b64encode(credential.salt).decode()
        self._server_first = f"r={self._combined_nonce},s={salt},i={credential.iterations}".encode()
        return self._server_first

    def _server_final_message(self, token: bytes) -> bytes:
        assert self._credential is not None
        attributes = sasl.parse_attributes(token)
        if attributes.get("r") != self._combined_nonce:
            raise SaslError("invalid SCRAM nonce")
        if "p" not in attributes or "c" not in attributes:
            raise SaslError("invalid SCRAM client-final message")
        without_proof = token[: token.rindex(b",p=")]
        auth_message = self._first_bare + b"," + self._server_first + b"," + without_proof
        try:
            proof = base64.b64decode(attributes["p"], validate=True)
        except ValueError:
            raise SaslError("invalid SCRAM proof encoding") from None
        if not sasl.verify_client_proof(self.name, self._credential, auth_message, proof):
            raise self._failed()
        signature = sasl.server_signature(self.name, self._credential.server_key, auth_message)
        self.complete = True
        return b"v=" + base64.b64encode(signature)


def server_mechanism(
    mechanism: str, plain_users: Mapping[str, str], lookup: CredentialLookup
) -> SaslServerMechanism:
    if mechanism == sasl.PLAIN:
        return PlainServer(plain_users)
    return ScramServer(mechanism, lookup)


# -- the handshake state machine -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SaslStep:
    """What to do with one request of the exchange.

    ``answer``: a response body (``api_key`` / ``version`` say for which request), ``raw``:
    bytes to send as one size-prefixed frame (the legacy v0 exchange), or neither (the
    request goes to the dispatcher: ApiVersions).  ``close``: hang up once it is sent."""

    answer: dict[str, object] | None = None
    raw: bytes | None = None
    close: bool = False
    dispatch: bool = False
    reason: str = ""
    failed: bool = False  # the credentials were refused (not a protocol mistake)


@dataclass
class SaslAuthenticator:
    """One connection's SASL state (Kafka's SaslServerAuthenticator, sans-IO).

    The shell calls :meth:`on_request` for each request frame (api key and version decoded,
    and the body for the SASL APIs) and :meth:`on_raw_token` for the bare tokens after a v0
    handshake; ``principal`` is set once the client has authenticated."""

    mechanisms: tuple[str, ...]
    plain_users: Mapping[str, str]
    lookup: CredentialLookup
    principal: str | None = None
    expects_raw_token: bool = False
    _mechanism: SaslServerMechanism | None = field(default=None, repr=False)

    @property
    def authenticated(self) -> bool:
        return self.principal is not None

    def on_request(self, api_key: int, version: int, body: object | None) -> SaslStep:
        if api_key == API_VERSIONS and self._mechanism is None:
            return SaslStep(dispatch=True)
        if api_key == SASL_HANDSHAKE and self._mechanism is None:
            return self._handshake(version, str(getattr(body, "mechanism", "")))
        if api_key == SASL_AUTHENTICATE and self._mechanism is not None:
            token = bytes(getattr(body, "auth_bytes", b"") or b"")
            return self._authenticate(token)
        return SaslStep(
            close=True,
            reason=f"unexpected request (api key {api_key}) during SASL authentication",
        )

    def _handshake(self, version: int, mechanism: str) -> SaslStep:
        answer: dict[str, object] = {"mechanisms": list(self.mechanisms)}
        if mechanism not in self.mechanisms:
            answer["error_code"] = ErrorCode.UNSUPPORTED_SASL_MECHANISM
            return SaslStep(
                answer=answer,
                close=True,
                reason=f"unsupported SASL mechanism {mechanism!r}",
            )
        self._mechanism = server_mechanism(mechanism, self.plain_users, self.lookup)
        self.expects_raw_token = version == 0
        return SaslStep(answer={**answer, "error_code": ErrorCode.NONE})

    def _evaluate(self, token: bytes) -> bytes:
        assert self._mechanism is not None
        challenge = self._mechanism.evaluate(token)
        if self._mechanism.complete:
            self.principal = "User:" + self._mechanism.user
        return challenge

    def _authenticate(self, token: bytes) -> SaslStep:
        assert self._mechanism is not None
        try:
            challenge = self._evaluate(token)
        except AuthenticationFailed as error:
            answer = {
                "error_code": ErrorCode.SASL_AUTHENTICATION_FAILED,
                "error_message": str(error),
                "auth_bytes": b"",
            }
            return SaslStep(answer=answer, close=True, reason=str(error), failed=True)
        answer = {
            "error_code": ErrorCode.NONE,
            "error_message": None,
            "auth_bytes": challenge,
            "session_lifetime_ms": 0,
        }
        return SaslStep(answer=answer)

    def on_raw_token(self, token: bytes) -> SaslStep:
        """A bare token after a v0 handshake; a failure just closes the connection."""
        try:
            challenge = self._evaluate(token)
        except AuthenticationFailed as error:
            return SaslStep(close=True, reason=str(error), failed=True)
        return SaslStep(raw=challenge)
