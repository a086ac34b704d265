"""Typed client exceptions: one class per Kafka error code, plus the client's own.

Every exception derives from :class:`KafkaError`, which carries three flags a caller can act on
without knowing the class: ``error_code`` (the :class:`~client.protocol.errors.ErrorCode`, or
``None`` for client-side errors), ``retriable`` (Kafka's ``RetriableException``: the same
request may succeed if sent again) and ``invalid_metadata`` (Kafka's
``InvalidMetadataException``: refresh metadata before the retry).

The broker-error classes are derived from the ``ErrorCode`` table: ``UNKNOWN_TOPIC_OR_PARTITION``
becomes :class:`UnknownTopicOrPartitionError`.  The table below is written by
:func:`render_error_classes` and a test keeps it in sync with ``ErrorCode``, so the classes stay
visible to mypy while still being generated from one source.  :func:`error_for` maps a code from
a response to an instance.

A producer send that fails raises a :class:`DeliveryError` that says whether the records may
have been written anyway: :class:`MaybeWrittenError` (ambiguous, ``ambiguous = True``) when the
request reached the broker and no definite answer came back, :class:`DefinitelyFailedError`
otherwise.  Never a silent drop.
"""

from __future__ import annotations

from typing import Any, ClassVar

from client.protocol.errors import ErrorCode


class KafkaError(Exception):
    """Base of every client exception.

    ``error_code`` is ``None`` for errors raised by the client itself; ``retriable`` and
    ``invalid_metadata`` follow Kafka's exception hierarchy.
    """

    error_code: ClassVar[ErrorCode | None] = None
    retriable: ClassVar[bool] = False
    invalid_metadata: ClassVar[bool] = False

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message()
        super().__init__(self.message)

    @classmethod
    def default_message(cls) -> str:
        """The text used when no message is given."""
        if cls.error_code is None:
            return cls.__name__
        return f"{cls.error_code.name} ({int(cls.error_code)})"


class BrokerResponseError(KafkaError):
    """An error code returned by a broker.  Subclasses exist for every :class:`ErrorCode`."""

    error_code: ClassVar[ErrorCode | None] = ErrorCode.UNKNOWN_SERVER_ERROR

    def __init_subclass__(cls, code: ErrorCode | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if code is None:
            return
        cls.error_code = code
        cls.retriable = code.retriable
        cls.invalid_metadata = code.invalid_metadata
        assert code not in _BY_CODE, f"two classes for {code.name}"
        _BY_CODE[code] = cls

    @classmethod
    def default_message(cls) -> str:
        code = cls.error_code
        assert code is not None
        return f"{code.name} ({int(code)})"


_BY_CODE: dict[ErrorCode, type[BrokerResponseError]] = {}


# -- client-side errors ----------------------------------------------------------------------


class KafkaTimeoutError(KafkaError):
    """A request, connect or wait did not complete within its deadline (Kafka's TimeoutException).

    Retriable: the operation may succeed if tried again.  ``request_sent`` says whether the
    request had been written to the broker (then a produce may have been written:
    :class:`MaybeWrittenError`).
    """

    retriable = True

    def __init__(self, message: str | None = None, *, request_sent: bool = False) -> None:
        self.request_sent = request_sent
        super().__init__(message)


class KafkaConnectionError(KafkaError):
    """A connection could not be opened, or broke while requests were pending.

    ``address`` names the broker (``host:port``).  Retriable, and metadata should be refreshed:
    the broker may have moved or gone.  ``request_sent`` says whether the request had been
    (possibly partly) written before the connection failed.
    """

    retriable = True
    invalid_metadata = True

    def __init__(
        self, address: str, message: str | None = None, *, request_sent: bool = False
    ) -> None:
        self.address = address
        self.request_sent = request_sent
        super().__init__(f"{address}: {message}" if message else f"{address}: connection failed")


class KafkaProtocolError(KafkaError):
    """A response that does not decode as the message it should be (a bad or foreign peer)."""


class IllegalConfigError(KafkaError, ValueError):
    """A configuration key is unknown or a value is invalid (Kafka's ConfigException).

    ``key`` is the offending key when there is one.
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        self.key = key
        super().__init__(message)


class KafkaClosedError(KafkaError):
    """The client (or connection) was closed by the application; nothing more will be sent."""


# -- producer sends ----------------------------------------------------------------------------

# Broker answers after which the records may nevertheless be in the log: the leader appended
# them and then a later step failed (replication wait timed out, ISR shrank after the append),
# or the broker failed in a way that does not say.
_AMBIGUOUS_CODES = frozenset(
    {
        ErrorCode.REQUEST_TIMED_OUT,
        ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        ErrorCode.NETWORK_EXCEPTION,
        ErrorCode.UNKNOWN_SERVER_ERROR,
    }
)


class DeliveryError(KafkaError):
    """A produce send failed.  ``cause`` is the underlying error (also ``__cause__``).

    ``ambiguous`` says whether the records may have been written: catch
    :class:`MaybeWrittenError` / :class:`DefinitelyFailedError` to tell them apart.
    ``topic`` and ``partition`` name where the send was going (``partition`` is -1 if none was
    chosen yet).
    """

    ambiguous: ClassVar[bool] = False

    def __init__(self, cause: KafkaError, topic: str, partition: int) -> None:
        self.cause = cause
        self.topic = topic
        self.partition = partition
        verdict = "may have been written" if self.ambiguous else "definitely not written"
        super().__init__(f"send to {topic}-{partition} failed ({verdict}): {cause}")
        self.__cause__ = cause

    @property
    def retriable_cause(self) -> bool:
        """Whether the cause is retriable (the producer retries those until its deadline)."""
        return self.cause.retriable


class DefinitelyFailedError(DeliveryError):
    """The records were not written: never sent, or rejected by a definite broker answer."""

    ambiguous = False


class MaybeWrittenError(DeliveryError):
    """The records may or may not be in the log (ambiguous): no definite answer came back."""

    ambiguous = True


def is_ambiguous(cause: KafkaError, *, request_sent: bool | None = None) -> bool:
    """Whether a produce that failed with ``cause`` may nevertheless have been written.

    Not sent at all: never ambiguous.  Sent, then a timeout or a broken connection (no answer),
    or a broker answer that comes after the append (see ``_AMBIGUOUS_CODES``): ambiguous.
    ``request_sent`` defaults to the cause's own ``request_sent`` (timeouts and connection
    errors from :meth:`Connection.send <client.connection.Connection.send>` carry it), else
    True: a broker error code is an answer to a request that was sent.
    """
    if request_sent is None:
        request_sent = getattr(cause, "request_sent", True)
    if not request_sent:
        return False
    if isinstance(cause, KafkaTimeoutError | KafkaConnectionError):
        return True
    return cause.error_code in _AMBIGUOUS_CODES


def delivery_error(
    cause: KafkaError, topic: str, partition: int, *, request_sent: bool | None = None
) -> DeliveryError:
    """The :class:`DeliveryError` subclass (maybe-written or definitely-failed) for ``cause``.

    ``request_sent``: as for :func:`is_ambiguous`.
    """
    if is_ambiguous(cause, request_sent=request_sent):
        return MaybeWrittenError(cause, topic, partition)
    return DefinitelyFailedError(cause, topic, partition)


# -- from codes ------------------------------------------------------------------------------


def error_class(code: ErrorCode | int) -> type[BrokerResponseError]:
    """The exception class of an error code (``UnknownServerError`` for codes we do not know)."""
    try:
        return _BY_CODE[ErrorCode(code)]
    except (ValueError, KeyError):
        return UnknownServerError


def error_for(code: ErrorCode | int, message: str | None = None) -> KafkaError:
    """An exception instance for a (non-zero) error code from a response.

    ``message`` is the broker's error message if it sent one.  A code missing from our table
    becomes :class:`UnknownServerError` naming the number.
    """
    assert code != ErrorCode.NONE, "error_for(NONE)"
    cls = error_class(code)
    if cls is UnknownServerError and code != ErrorCode.UNKNOWN_SERVER_ERROR:
        message = f"unknown error code {int(code)}" + (f": {message}" if message else "")
    elif message:
        message = f"{cls.default_message()}: {message}"
    return cls(message)


def raise_for(code: ErrorCode | int, message: str | None = None) -> None:
    """Raise :func:`error_for` ``(code, message)`` unless ``code`` is ``NONE``."""
    if code != ErrorCode.NONE:
        raise error_for(code, message)


def class_name(code: ErrorCode) -> str:
    """The class name for ``code``: ``NOT_LEADER_OR_FOLLOWER`` → ``NotLeaderOrFollowerError``."""
    words = code.name.split("_")
    if words[-1] in ("EXCEPTION", "ERROR"):
        words = words[:-1]
    return "".join(word.capitalize() for word in words) + "Error"


_LINE_LIMIT = 100  # ruff's line-length


def render_error_classes() -> str:
    """The source of the generated table below, from ``ErrorCode`` (a test compares the two)."""
    lines = []
    for code in ErrorCode:
        if code is ErrorCode.NONE:
            continue
        flags = [flag for flag in ("retriable", "invalid_metadata") if getattr(code, flag)]
        note = f"; {', '.join(flags)}" if flags else ""
        bases = f"BrokerResponseError, code=ErrorCode.{code.name}"
        header = f"class {class_name(code)}({bases}):"
        if len(header) > _LINE_LIMIT:
            header = f"class {class_name(code)}(\n    {bases}\n):"
        lines.append(f'{header}\n    """{code.name} ({int(code)}){note}."""\n')
    return "\n\n".join(lines)


# fmt: off
# -- BEGIN GENERATED by render_error_classes() -- do not edit by hand --
class UnknownServerError(BrokerResponseError, code=ErrorCode.UNKNOWN_SERVER_ERROR):
    """UNKNOWN_SERVER_ERROR (-1)."""


class OffsetOutOfRangeError(BrokerResponseError, code=ErrorCode.OFFSET_OUT_OF_RANGE):
    """OFFSET_OUT_OF_RANGE (1)."""


class CorruptMessageError(BrokerResponseError, code=ErrorCode.CORRUPT_MESSAGE):
    """CORRUPT_MESSAGE (2); retriable."""


class UnknownTopicOrPartitionError(BrokerResponseError, code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION):
    """UNKNOWN_TOPIC_OR_PARTITION (3); retriable, invalid_metadata."""


class InvalidFetchSizeError(BrokerResponseError, code=ErrorCode.INVALID_FETCH_SIZE):
    """INVALID_FETCH_SIZE (4)."""


class LeaderNotAvailableError(BrokerResponseError, code=ErrorCode.LEADER_NOT_AVAILABLE):
    """LEADER_NOT_AVAILABLE (5); retriable, invalid_metadata."""


class NotLeaderOrFollowerError(BrokerResponseError, code=ErrorCode.NOT_LEADER_OR_FOLLOWER):
    """NOT_LEADER_OR_FOLLOWER (6); retriable, invalid_metadata."""


class RequestTimedOutError(BrokerResponseError, code=ErrorCode.REQUEST_TIMED_OUT):
    """REQUEST_TIMED_OUT (7); retriable."""


class BrokerNotAvailableError(BrokerResponseError, code=ErrorCode.BROKER_NOT_AVAILABLE):
    """BROKER_NOT_AVAILABLE (8); retriable, invalid_metadata."""


class ReplicaNotAvailableError(BrokerResponseError, code=ErrorCode.REPLICA_NOT_AVAILABLE):
    """REPLICA_NOT_AVAILABLE (9); retriable, invalid_metadata."""


class MessageTooLargeError(BrokerResponseError, code=ErrorCode.MESSAGE_TOO_LARGE):
    """MESSAGE_TOO_LARGE (10)."""


class StaleControllerEpochError(BrokerResponseError, code=ErrorCode.STALE_CONTROLLER_EPOCH):
    """STALE_CONTROLLER_EPOCH (11)."""


class OffsetMetadataTooLargeError(BrokerResponseError, code=ErrorCode.OFFSET_METADATA_TOO_LARGE):
    """OFFSET_METADATA_TOO_LARGE (12)."""


class NetworkError(BrokerResponseError, code=ErrorCode.NETWORK_EXCEPTION):
    """NETWORK_EXCEPTION (13); retriable, invalid_metadata."""


class CoordinatorLoadInProgressError(
    BrokerResponseError, code=ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
):
    """COORDINATOR_LOAD_IN_PROGRESS (14); retriable."""


class CoordinatorNotAvailableError(BrokerResponseError, code=ErrorCode.COORDINATOR_NOT_AVAILABLE):
    """COORDINATOR_NOT_AVAILABLE (15); retriable, invalid_metadata."""


class NotCoordinatorError(BrokerResponseError, code=ErrorCode.NOT_COORDINATOR):
    """NOT_COORDINATOR (16); retriable, invalid_metadata."""


class InvalidTopicError(BrokerResponseError, code=ErrorCode.INVALID_TOPIC_EXCEPTION):
    """INVALID_TOPIC_EXCEPTION (17)."""


class RecordListTooLargeError(BrokerResponseError, code=ErrorCode.RECORD_LIST_TOO_LARGE):
    """RECORD_LIST_TOO_LARGE (18)."""


class NotEnoughReplicasError(BrokerResponseError, code=ErrorCode.NOT_ENOUGH_REPLICAS):
    """NOT_ENOUGH_REPLICAS (19); retriable."""


class NotEnoughReplicasAfterAppendError(
    BrokerResponseError, code=ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND
):
    """NOT_ENOUGH_REPLICAS_AFTER_APPEND (20); retriable."""


class InvalidRequiredAcksError(BrokerResponseError, code=ErrorCode.INVALID_REQUIRED_ACKS):
    """INVALID_REQUIRED_ACKS (21)."""


class IllegalGenerationError(BrokerResponseError, code=ErrorCode.ILLEGAL_GENERATION):
    """ILLEGAL_GENERATION (22)."""


class InconsistentGroupProtocolError(
    BrokerResponseError, code=ErrorCode.INCONSISTENT_GROUP_PROTOCOL
):
    """INCONSISTENT_GROUP_PROTOCOL (23)."""


class InvalidGroupIdError(BrokerResponseError, code=ErrorCode.INVALID_GROUP_ID):
    """INVALID_GROUP_ID (24)."""


class UnknownMemberIdError(BrokerResponseError, code=ErrorCode.UNKNOWN_MEMBER_ID):
    """UNKNOWN_MEMBER_ID (25)."""


class InvalidSessionTimeoutError(BrokerResponseError, code=ErrorCode.INVALID_SESSION_TIMEOUT):
    """INVALID_SESSION_TIMEOUT (26)."""


class RebalanceInProgressError(BrokerResponseError, code=ErrorCode.REBALANCE_IN_PROGRESS):
    """REBALANCE_IN_PROGRESS (27); retriable."""


class InvalidCommitOffsetSizeError(BrokerResponseError, code=ErrorCode.INVALID_COMMIT_OFFSET_SIZE):
    """INVALID_COMMIT_OFFSET_SIZE (28)."""


class TopicAuthorizationFailedError(BrokerResponseError, code=ErrorCode.TOPIC_AUTHORIZATION_FAILED):
    """TOPIC_AUTHORIZATION_FAILED (29)."""


class GroupAuthorizationFailedError(BrokerResponseError, code=ErrorCode.GROUP_AUTHORIZATION_FAILED):
    """GROUP_AUTHORIZATION_FAILED (30)."""


class ClusterAuthorizationFailedError(
    BrokerResponseError, code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED
):
    """CLUSTER_AUTHORIZATION_FAILED (31)."""


class InvalidTimestampError(BrokerResponseError, code=ErrorCode.INVALID_TIMESTAMP):
    """INVALID_TIMESTAMP (32)."""


class UnsupportedSaslMechanismError(BrokerResponseError, code=ErrorCode.UNSUPPORTED_SASL_MECHANISM):
    """UNSUPPORTED_SASL_MECHANISM (33)."""


class IllegalSaslStateError(BrokerResponseError, code=ErrorCode.ILLEGAL_SASL_STATE):
    """ILLEGAL_SASL_STATE (34)."""


class UnsupportedVersionError(BrokerResponseError, code=ErrorCode.UNSUPPORTED_VERSION):
    """UNSUPPORTED_VERSION (35)."""


class TopicAlreadyExistsError(BrokerResponseError, code=ErrorCode.TOPIC_ALREADY_EXISTS):
    """TOPIC_ALREADY_EXISTS (36)."""


class InvalidPartitionsError(BrokerResponseError, code=ErrorCode.INVALID_PARTITIONS):
    """INVALID_PARTITIONS (37)."""


class InvalidReplicationFactorError(BrokerResponseError, code=ErrorCode.INVALID_REPLICATION_FACTOR):
    """INVALID_REPLICATION_FACTOR (38)."""


class InvalidReplicaAssignmentError(BrokerResponseError, code=ErrorCode.INVALID_REPLICA_ASSIGNMENT):
    """INVALID_REPLICA_ASSIGNMENT (39)."""


class InvalidConfigError(BrokerResponseError, code=ErrorCode.INVALID_CONFIG):
    """INVALID_CONFIG (40)."""


class NotControllerError(BrokerResponseError, code=ErrorCode.NOT_CONTROLLER):
    """NOT_CONTROLLER (41); retriable, invalid_metadata."""


class InvalidRequestError(BrokerResponseError, code=ErrorCode.INVALID_REQUEST):
    """INVALID_REQUEST (42)."""


class UnsupportedForMessageFormatError(
    BrokerResponseError, code=ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT
):
    """UNSUPPORTED_FOR_MESSAGE_FORMAT (43)."""


class PolicyViolationError(BrokerResponseError, code=ErrorCode.POLICY_VIOLATION):
    """POLICY_VIOLATION (44)."""


class OutOfOrderSequenceNumberError(
    BrokerResponseError, code=ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
):
    """OUT_OF_ORDER_SEQUENCE_NUMBER (45)."""


class DuplicateSequenceNumberError(BrokerResponseError, code=ErrorCode.DUPLICATE_SEQUENCE_NUMBER):
    """DUPLICATE_SEQUENCE_NUMBER (46)."""


class InvalidProducerEpochError(BrokerResponseError, code=ErrorCode.INVALID_PRODUCER_EPOCH):
    """INVALID_PRODUCER_EPOCH (47)."""


class InvalidTxnStateError(BrokerResponseError, code=ErrorCode.INVALID_TXN_STATE):
    """INVALID_TXN_STATE (48)."""


class InvalidProducerIdMappingError(
    BrokerResponseError, code=ErrorCode.INVALID_PRODUCER_ID_MAPPING
):
    """INVALID_PRODUCER_ID_MAPPING (49)."""


class InvalidTransactionTimeoutError(
    BrokerResponseError, code=ErrorCode.INVALID_TRANSACTION_TIMEOUT
):
    """INVALID_TRANSACTION_TIMEOUT (50)."""


class ConcurrentTransactionsError(BrokerResponseError, code=ErrorCode.CONCURRENT_TRANSACTIONS):
    """CONCURRENT_TRANSACTIONS (51); retriable."""


class TransactionCoordinatorFencedError(
    BrokerResponseError, code=ErrorCode.TRANSACTION_COORDINATOR_FENCED
):
    """TRANSACTION_COORDINATOR_FENCED (52)."""


class TransactionalIdAuthorizationFailedError(
    BrokerResponseError, code=ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
):
    """TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53)."""


class SecurityDisabledError(BrokerResponseError, code=ErrorCode.SECURITY_DISABLED):
    """SECURITY_DISABLED (54)."""


class OperationNotAttemptedError(BrokerResponseError, code=ErrorCode.OPERATION_NOT_ATTEMPTED):
    """OPERATION_NOT_ATTEMPTED (55)."""


class KafkaStorageError(BrokerResponseError, code=ErrorCode.KAFKA_STORAGE_ERROR):
    """KAFKA_STORAGE_ERROR (56); retriable, invalid_metadata."""


class LogDirNotFoundError(BrokerResponseError, code=ErrorCode.LOG_DIR_NOT_FOUND):
    """LOG_DIR_NOT_FOUND (57)."""


class SaslAuthenticationFailedError(BrokerResponseError, code=ErrorCode.SASL_AUTHENTICATION_FAILED):
    """SASL_AUTHENTICATION_FAILED (58)."""


class UnknownProducerIdError(BrokerResponseError, code=ErrorCode.UNKNOWN_PRODUCER_ID):
    """UNKNOWN_PRODUCER_ID (59); retriable."""


class ReassignmentInProgressError(BrokerResponseError, code=ErrorCode.REASSIGNMENT_IN_PROGRESS):
    """REASSIGNMENT_IN_PROGRESS (60)."""


class DelegationTokenAuthDisabledError(
    BrokerResponseError, code=ErrorCode.DELEGATION_TOKEN_AUTH_DISABLED
):
    """DELEGATION_TOKEN_AUTH_DISABLED (61)."""


class DelegationTokenNotFoundError(BrokerResponseError, code=ErrorCode.DELEGATION_TOKEN_NOT_FOUND):
    """DELEGATION_TOKEN_NOT_FOUND (62)."""


class DelegationTokenOwnerMismatchError(
    BrokerResponseError, code=ErrorCode.DELEGATION_TOKEN_OWNER_MISMATCH
):
    """DELEGATION_TOKEN_OWNER_MISMATCH (63)."""


class DelegationTokenRequestNotAllowedError(
    BrokerResponseError, code=ErrorCode.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED
):
    """DELEGATION_TOKEN_REQUEST_NOT_ALLOWED (64)."""


class DelegationTokenAuthorizationFailedError(
    BrokerResponseError, code=ErrorCode.DELEGATION_TOKEN_AUTHORIZATION_FAILED
):
    """DELEGATION_TOKEN_AUTHORIZATION_FAILED (65)."""


class DelegationTokenExpiredError(BrokerResponseError, code=ErrorCode.DELEGATION_TOKEN_EXPIRED):
    """DELEGATION_TOKEN_EXPIRED (66)."""


class InvalidPrincipalTypeError(BrokerResponseError, code=ErrorCode.INVALID_PRINCIPAL_TYPE):
    """INVALID_PRINCIPAL_TYPE (67)."""


class NonEmptyGroupError(BrokerResponseError, code=ErrorCode.NON_EMPTY_GROUP):
    """NON_EMPTY_GROUP (68)."""


class GroupIdNotFoundError(BrokerResponseError, code=ErrorCode.GROUP_ID_NOT_FOUND):
    """GROUP_ID_NOT_FOUND (69)."""


class FetchSessionIdNotFoundError(BrokerResponseError, code=ErrorCode.FETCH_SESSION_ID_NOT_FOUND):
    """FETCH_SESSION_ID_NOT_FOUND (70); retriable."""


class InvalidFetchSessionEpochError(
    BrokerResponseError, code=ErrorCode.INVALID_FETCH_SESSION_EPOCH
):
    """INVALID_FETCH_SESSION_EPOCH (71); retriable."""


class ListenerNotFoundError(BrokerResponseError, code=ErrorCode.LISTENER_NOT_FOUND):
    """LISTENER_NOT_FOUND (72)."""


class TopicDeletionDisabledError(BrokerResponseError, code=ErrorCode.TOPIC_DELETION_DISABLED):
    """TOPIC_DELETION_DISABLED (73)."""


class FencedLeaderEpochError(BrokerResponseError, code=ErrorCode.FENCED_LEADER_EPOCH):
    """FENCED_LEADER_EPOCH (74); retriable, invalid_metadata."""


class UnknownLeaderEpochError(BrokerResponseError, code=ErrorCode.UNKNOWN_LEADER_EPOCH):
    """UNKNOWN_LEADER_EPOCH (75); retriable, invalid_metadata."""


class UnsupportedCompressionTypeError(
    BrokerResponseError, code=ErrorCode.UNSUPPORTED_COMPRESSION_TYPE
):
    """UNSUPPORTED_COMPRESSION_TYPE (76)."""


class StaleBrokerEpochError(BrokerResponseError, code=ErrorCode.STALE_BROKER_EPOCH):
    """STALE_BROKER_EPOCH (77)."""


class OffsetNotAvailableError(BrokerResponseError, code=ErrorCode.OFFSET_NOT_AVAILABLE):
    """OFFSET_NOT_AVAILABLE (78); retriable."""


class MemberIdRequiredError(BrokerResponseError, code=ErrorCode.MEMBER_ID_REQUIRED):
    """MEMBER_ID_REQUIRED (79)."""


class PreferredLeaderNotAvailableError(
    BrokerResponseError, code=ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE
):
    """PREFERRED_LEADER_NOT_AVAILABLE (80); retriable."""


class GroupMaxSizeReachedError(BrokerResponseError, code=ErrorCode.GROUP_MAX_SIZE_REACHED):
    """GROUP_MAX_SIZE_REACHED (81)."""


class FencedInstanceIdError(BrokerResponseError, code=ErrorCode.FENCED_INSTANCE_ID):
    """FENCED_INSTANCE_ID (82)."""


class EligibleLeadersNotAvailableError(
    BrokerResponseError, code=ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE
):
    """ELIGIBLE_LEADERS_NOT_AVAILABLE (83); retriable."""


class ElectionNotNeededError(BrokerResponseError, code=ErrorCode.ELECTION_NOT_NEEDED):
    """ELECTION_NOT_NEEDED (84)."""


class NoReassignmentInProgressError(
    BrokerResponseError, code=ErrorCode.NO_REASSIGNMENT_IN_PROGRESS
):
    """NO_REASSIGNMENT_IN_PROGRESS (85)."""


class GroupSubscribedToTopicError(BrokerResponseError, code=ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC):
    """GROUP_SUBSCRIBED_TO_TOPIC (86)."""


class InvalidRecordError(BrokerResponseError, code=ErrorCode.INVALID_RECORD):
    """INVALID_RECORD (87)."""


class UnstableOffsetCommitError(BrokerResponseError, code=ErrorCode.UNSTABLE_OFFSET_COMMIT):
    """UNSTABLE_OFFSET_COMMIT (88); retriable."""


class ThrottlingQuotaExceededError(BrokerResponseError, code=ErrorCode.THROTTLING_QUOTA_EXCEEDED):
    """THROTTLING_QUOTA_EXCEEDED (89); retriable."""


class ProducerFencedError(BrokerResponseError, code=ErrorCode.PRODUCER_FENCED):
    """PRODUCER_FENCED (90)."""


class ResourceNotFoundError(BrokerResponseError, code=ErrorCode.RESOURCE_NOT_FOUND):
    """RESOURCE_NOT_FOUND (91)."""


class DuplicateResourceError(BrokerResponseError, code=ErrorCode.DUPLICATE_RESOURCE):
    """DUPLICATE_RESOURCE (92)."""


class UnacceptableCredentialError(BrokerResponseError, code=ErrorCode.UNACCEPTABLE_CREDENTIAL):
    """UNACCEPTABLE_CREDENTIAL (93)."""


class InconsistentVoterSetError(BrokerResponseError, code=ErrorCode.INCONSISTENT_VOTER_SET):
    """INCONSISTENT_VOTER_SET (94)."""


class InvalidUpdateVersionError(BrokerResponseError, code=ErrorCode.INVALID_UPDATE_VERSION):
    """INVALID_UPDATE_VERSION (95)."""


class FeatureUpdateFailedError(BrokerResponseError, code=ErrorCode.FEATURE_UPDATE_FAILED):
    """FEATURE_UPDATE_FAILED (96)."""


class PrincipalDeserializationFailureError(
    BrokerResponseError, code=ErrorCode.PRINCIPAL_DESERIALIZATION_FAILURE
):
    """PRINCIPAL_DESERIALIZATION_FAILURE (97)."""


class SnapshotNotFoundError(BrokerResponseError, code=ErrorCode.SNAPSHOT_NOT_FOUND):
    """SNAPSHOT_NOT_FOUND (98)."""


class PositionOutOfRangeError(BrokerResponseError, code=ErrorCode.POSITION_OUT_OF_RANGE):
    """POSITION_OUT_OF_RANGE (99)."""


class UnknownTopicIdError(BrokerResponseError, code=ErrorCode.UNKNOWN_TOPIC_ID):
    """UNKNOWN_TOPIC_ID (100); retriable, invalid_metadata."""


class DuplicateBrokerRegistrationError(
    BrokerResponseError, code=ErrorCode.DUPLICATE_BROKER_REGISTRATION
):
    """DUPLICATE_BROKER_REGISTRATION (101)."""


class BrokerIdNotRegisteredError(BrokerResponseError, code=ErrorCode.BROKER_ID_NOT_REGISTERED):
    """BROKER_ID_NOT_REGISTERED (102)."""


class InconsistentTopicIdError(BrokerResponseError, code=ErrorCode.INCONSISTENT_TOPIC_ID):
    """INCONSISTENT_TOPIC_ID (103); retriable, invalid_metadata."""


class InconsistentClusterIdError(BrokerResponseError, code=ErrorCode.INCONSISTENT_CLUSTER_ID):
    """INCONSISTENT_CLUSTER_ID (104)."""


class TransactionalIdNotFoundError(BrokerResponseError, code=ErrorCode.TRANSACTIONAL_ID_NOT_FOUND):
    """TRANSACTIONAL_ID_NOT_FOUND (105)."""


class FetchSessionTopicIdError(BrokerResponseError, code=ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR):
    """FETCH_SESSION_TOPIC_ID_ERROR (106)."""


class IneligibleReplicaError(BrokerResponseError, code=ErrorCode.INELIGIBLE_REPLICA):
    """INELIGIBLE_REPLICA (107)."""


class NewLeaderElectedError(BrokerResponseError, code=ErrorCode.NEW_LEADER_ELECTED):
    """NEW_LEADER_ELECTED (108)."""


class OffsetMovedToTieredStorageError(
    BrokerResponseError, code=ErrorCode.OFFSET_MOVED_TO_TIERED_STORAGE
):
    """OFFSET_MOVED_TO_TIERED_STORAGE (109)."""


class FencedMemberEpochError(BrokerResponseError, code=ErrorCode.FENCED_MEMBER_EPOCH):
    """FENCED_MEMBER_EPOCH (110)."""


class UnreleasedInstanceIdError(BrokerResponseError, code=ErrorCode.UNRELEASED_INSTANCE_ID):
    """UNRELEASED_INSTANCE_ID (111)."""


class UnsupportedAssignorError(BrokerResponseError, code=ErrorCode.UNSUPPORTED_ASSIGNOR):
    """UNSUPPORTED_ASSIGNOR (112)."""


class StaleMemberEpochError(BrokerResponseError, code=ErrorCode.STALE_MEMBER_EPOCH):
    """STALE_MEMBER_EPOCH (113)."""


class MismatchedEndpointTypeError(BrokerResponseError, code=ErrorCode.MISMATCHED_ENDPOINT_TYPE):
    """MISMATCHED_ENDPOINT_TYPE (114)."""


class UnsupportedEndpointTypeError(BrokerResponseError, code=ErrorCode.UNSUPPORTED_ENDPOINT_TYPE):
    """UNSUPPORTED_ENDPOINT_TYPE (115)."""


class UnknownControllerIdError(BrokerResponseError, code=ErrorCode.UNKNOWN_CONTROLLER_ID):
    """UNKNOWN_CONTROLLER_ID (116)."""


class UnknownSubscriptionIdError(BrokerResponseError, code=ErrorCode.UNKNOWN_SUBSCRIPTION_ID):
    """UNKNOWN_SUBSCRIPTION_ID (117)."""


class TelemetryTooLargeError(BrokerResponseError, code=ErrorCode.TELEMETRY_TOO_LARGE):
    """TELEMETRY_TOO_LARGE (118)."""


class InvalidRegistrationError(BrokerResponseError, code=ErrorCode.INVALID_REGISTRATION):
    """INVALID_REGISTRATION (119)."""


class TransactionAbortableError(BrokerResponseError, code=ErrorCode.TRANSACTION_ABORTABLE):
    """TRANSACTION_ABORTABLE (120)."""


class InvalidRecordStateError(BrokerResponseError, code=ErrorCode.INVALID_RECORD_STATE):
    """INVALID_RECORD_STATE (121)."""


class ShareSessionNotFoundError(BrokerResponseError, code=ErrorCode.SHARE_SESSION_NOT_FOUND):
    """SHARE_SESSION_NOT_FOUND (122)."""


class InvalidShareSessionEpochError(
    BrokerResponseError, code=ErrorCode.INVALID_SHARE_SESSION_EPOCH
):
    """INVALID_SHARE_SESSION_EPOCH (123)."""


class FencedStateEpochError(BrokerResponseError, code=ErrorCode.FENCED_STATE_EPOCH):
    """FENCED_STATE_EPOCH (124)."""


class InvalidVoterKeyError(BrokerResponseError, code=ErrorCode.INVALID_VOTER_KEY):
    """INVALID_VOTER_KEY (125)."""


class DuplicateVoterError(BrokerResponseError, code=ErrorCode.DUPLICATE_VOTER):
    """DUPLICATE_VOTER (126)."""


class VoterNotFoundError(BrokerResponseError, code=ErrorCode.VOTER_NOT_FOUND):
    """VOTER_NOT_FOUND (127)."""


class InvalidRegularExpressionError(BrokerResponseError, code=ErrorCode.INVALID_REGULAR_EXPRESSION):
    """INVALID_REGULAR_EXPRESSION (128)."""


class RebootstrapRequiredError(BrokerResponseError, code=ErrorCode.REBOOTSTRAP_REQUIRED):
    """REBOOTSTRAP_REQUIRED (129)."""


class StreamsInvalidTopologyError(BrokerResponseError, code=ErrorCode.STREAMS_INVALID_TOPOLOGY):
    """STREAMS_INVALID_TOPOLOGY (130)."""


class StreamsInvalidTopologyEpochError(
    BrokerResponseError, code=ErrorCode.STREAMS_INVALID_TOPOLOGY_EPOCH
):
    """STREAMS_INVALID_TOPOLOGY_EPOCH (131)."""


class StreamsTopologyFencedError(BrokerResponseError, code=ErrorCode.STREAMS_TOPOLOGY_FENCED):
    """STREAMS_TOPOLOGY_FENCED (132)."""


class ShareSessionLimitReachedError(
    BrokerResponseError, code=ErrorCode.SHARE_SESSION_LIMIT_REACHED
):
    """SHARE_SESSION_LIMIT_REACHED (133)."""

# -- END GENERATED --
# fmt: on

# Kafka's client names CORRUPT_MESSAGE's exception CorruptRecordException; the record decoders
# raise it under that name for a batch that fails its CRC or does not parse.
CorruptRecordError = CorruptMessageError


AUTHENTICATION_ERRORS = (
    SaslAuthenticationFailedError,
    UnsupportedSaslMechanismError,
    IllegalSaslStateError,
)
"""Errors of a refused SASL login: not retried (another broker would refuse it as well)."""
