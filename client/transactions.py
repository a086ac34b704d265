"""A transactional producer's state (KIP-98), sans-IO: Kafka's ``TransactionManager`` trimmed
to what :class:`~client.producer.Producer` needs.

States: ``UNINITIALIZED`` until InitProducerId answered, ``READY`` between transactions,
``IN_TRANSACTION`` after :meth:`begin`, ``COMMITTING`` / ``ABORTING`` while EndTxn is under
way, ``ABORTABLE_ERROR`` when a record of the transaction failed (only an abort may follow),
``FATAL_ERROR`` when the producer was fenced (only closing may follow).

A partition sends only once AddPartitionsToTxn added it to the transaction
(:meth:`may_send`, the accumulator's gate); :meth:`take_pending` hands the I/O side the
partitions to add, :meth:`added` / :meth:`add_failed` take the answer.
"""

from __future__ import annotations

from enum import Enum

from client.errors import KafkaError
from client.metadata import TopicPartition
from client.protocol.errors import ErrorCode

TRANSACTION_KEY_TYPE = 1
# Errors after which this producer can never continue (Kafka's fatal errors).
FATAL_CODES = frozenset(
    {
        ErrorCode.PRODUCER_FENCED,
        ErrorCode.INVALID_PRODUCER_EPOCH,
        ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        ErrorCode.INVALID_PRODUCER_ID_MAPPING,
        ErrorCode.UNSUPPORTED_VERSION,
        ErrorCode.INVALID_TXN_STATE,
    }
)


class TxnState(Enum):
    UNINITIALIZED = "uninitialized"
    READY = "ready"
    IN_TRANSACTION = "in transaction"
    COMMITTING = "committing"
    ABORTING = "aborting"
    ABORTABLE_ERROR = "abortable error"
    FATAL_ERROR = "fatal error"


class TransactionStateError(KafkaError):
    """A transactional call in a state that does not allow it (Kafka's IllegalStateException)."""


class TransactionManager:
    def __init__(self, transactional_id: str, timeout_ms: int) -> None:
        self.transactional_id = transactional_id
        self.timeout_ms = timeout_ms
        self.state = TxnState.UNINITIALIZED
        self.error: KafkaError | None = None
        self._added: set[TopicPartition] = set()
        self._pending: set[TopicPartition] = set()
        self.offsets_added = False

    # -- transitions -------------------------------------------------------------------------

    def _require(self, *states: TxnState, action: str) -> None:
        if self.state is TxnState.FATAL_ERROR and self.error is not None:
            raise self.error
        if self.state not in states:
            raise TransactionStateError(f"cannot {action}: the producer is {self.state.value}")

    def initialized(self) -> None:
        self.state = TxnState.READY

    def begin(self) -> None:
        self._require(TxnState.READY, action="begin a transaction")
        self.state = TxnState.IN_TRANSACTION
        self._added.clear()
        self._pending.clear()
        self.offsets_added = False

    def check_send(self) -> None:
        """Records are accepted in a transaction only."""
        if self.state is TxnState.ABORTABLE_ERROR and self.error is not None:
            raise self.error
        self._require(TxnState.IN_TRANSACTION, action="send outside a transaction")

    def check_offsets(self) -> None:
        self._require(TxnState.IN_TRANSACTION, action="send offsets outside a transaction")

    def start_end(self, commit: bool) -> None:
        if commit:
            if self.state is TxnState.ABORTABLE_ERROR and self.error is not None:
                raise self.error
            self._require(TxnState.IN_TRANSACTION, TxnState.COMMITTING, action="commit")
            self.state = TxnState.COMMITTING
        else:
            self._require(
                TxnState.IN_TRANSACTION,
                TxnState.ABORTING,
                TxnState.ABORTABLE_ERROR,
                action="abort",
            )
            self.state = TxnState.ABORTING

    def ended(self) -> None:
        self.state = TxnState.READY
        self.error = None
        self._added.clear()
        self._pending.clear()

    def fail(self, error: KafkaError) -> None:
        """A request of the transaction failed for good: fatal, or only abortable."""
        if self.state is TxnState.FATAL_ERROR:
            return
        fatal = error.error_code in FATAL_CODES
        self.state = TxnState.FATAL_ERROR if fatal else TxnState.ABORTABLE_ERROR
        self.error = error

    @property
    def is_empty(self) -> bool:
        """Nothing was added: EndTxn is not needed (as Kafka's clients)."""
        return not self._added and not self._pending and not self.offsets_added

    # -- partitions --------------------------------------------------------------------------

    def may_send(self, tp: TopicPartition) -> bool:
        return tp in self._added

    def note_partition(self, tp: TopicPartition) -> bool:
        """A record for ``tp``: whether it must be added first (True once per partition)."""
        if tp in self._added or tp in self._pending:
            return False
        self._pending.add(tp)
        return True

    def take_pending(self) -> list[TopicPartition]:
        return sorted(self._pending)

    def added(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._pending.discard(tp)
            self._added.add(tp)

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)
