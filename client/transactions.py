"""A transactional producer's state (KIP-98), sans-IO: Kafka's ``TransactionManager`` trimmed
to what :class:`~client.producer.Producer` needs.

States: ``UNINITIALIZED`` until InitProducerId answered, ``READY`` between transactions,
``IN_TRANSACTION`` after :meth:`begin`, ``COMMITTING`` / ``ABORTING`` while EndTxn is under
way, ``ABORTABLE_ERROR`` when a record of the transaction failed (only an abort may follow),
``FATAL_ERROR`` when the producer was fenced (only closing may follow).

A partition sends only once AddPartitionsToTxn added it to the transaction
(:meth:`may_send`, the accumulator's gate); :meth:`take_pending` hands the I/O side the
partitions to add, :meth:`added` takes the answer.

The requests are data (:class:`CoordinatorCall`: which API, which body, at the coordinator of
which key); both producers (async and blocking) send them with their own I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from construct import Container

from client.errors import KafkaError, error_for
from client.metadata import TopicPartition
from client.protocol.errors import ErrorCode

FIND_COORDINATOR = 10
INIT_PRODUCER_ID = 22
ADD_PARTITIONS_TO_TXN = 24
ADD_OFFSETS_TO_TXN = 25
END_TXN = 26
TXN_OFFSET_COMMIT = 28
GROUP_KEY_TYPE = 0
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


@dataclass(frozen=True, slots=True)
class CoordinatorCall:
    """One request for the coordinator of ``key`` (``key_type`` 0 group, 1 transaction)."""

    api_key: int
    body: dict[str, Any]
    key: str
    key_type: int

    def find_coordinator_body(self) -> dict[str, Any]:
        return {"key": self.key, "key_type": self.key_type, "coordinator_keys": [self.key]}


def coordinator_node(found: Container, key: str) -> int:
    """The node a FindCoordinator answer names (v4+ answers per key), or its error raised."""
    answers = found.get("coordinators")
    answer = found if answers is None else answers[0]
    if answer.error_code:
        raise error_for(answer.error_code, f"coordinator of {key!r}")
    return int(answer.node_id)


def first_error(response: Container) -> int:
    """A response's top-level error code, else its first per-partition one (0: none)."""
    code = response.get("error_code", 0)
    if code:
        return int(code)
    for topic in response.get("results_by_topic_v3_and_below") or response.get("topics") or ():
        for part in topic.get("results_by_partition") or topic.get("partitions") or ():
            part_code = part.get("partition_error_code", part.get("error_code", 0))
            if part_code:
                return int(part_code)
    return 0


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

    def delivered(self, batches: list[Any], commit: bool) -> bool:
        """After the flush of an ending transaction: whether EndTxn is needed (False for an
        empty transaction, which ends here); a failed record fails a commit (raised)."""
        failed = next((b.error for b in batches if b.error is not None), None)
        if failed is not None and commit:
            self.fail(failed)
            raise failed
        if self.is_empty:
            self.ended()
            return False
        return True

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
        """Partitions wait for AddPartitionsToTxn (never after the transaction failed: its
        waiting records were failed with it)."""
        return bool(self._pending) and self.state in (
            TxnState.IN_TRANSACTION,
            TxnState.COMMITTING,
            TxnState.ABORTING,
        )

    # -- the requests ------------------------------------------------------------------------

    def _call(self, api_key: int, body: dict[str, Any]) -> CoordinatorCall:
        return CoordinatorCall(api_key, body, self.transactional_id, TRANSACTION_KEY_TYPE)

    def _ids(self, producer: tuple[int, int]) -> dict[str, Any]:
        return {
            "transactional_id": self.transactional_id,
            "producer_id": producer[0],
            "producer_epoch": producer[1],
        }

    def init_call(self) -> CoordinatorCall:
        """InitProducerId with the transactional id (fences earlier producers of it)."""
        return self._call(
            INIT_PRODUCER_ID,
            {**self._ids((-1, -1)), "transaction_timeout_ms": self.timeout_ms},
        )

    def add_partitions_call(
        self, producer: tuple[int, int], partitions: list[TopicPartition]
    ) -> CoordinatorCall:
        topics: dict[str, list[int]] = {}
        for tp in partitions:
            topics.setdefault(tp.topic, []).append(tp.partition)
        return self._call(
            ADD_PARTITIONS_TO_TXN,
            {
                "v3_and_below_transactional_id": self.transactional_id,
                "v3_and_below_producer_id": producer[0],
                "v3_and_below_producer_epoch": producer[1],
                "v3_and_below_topics": [
                    {"name": name, "partitions": parts} for name, parts in topics.items()
                ],
            },
        )

    def add_offsets_call(self, producer: tuple[int, int], group_id: str) -> CoordinatorCall:
        return self._call(ADD_OFFSETS_TO_TXN, {**self._ids(producer), "group_id": group_id})

    def offset_commit_call(
        self,
        producer: tuple[int, int],
        offsets: Mapping[TopicPartition, int],
        group_id: str,
        *,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
    ) -> CoordinatorCall:
        """TxnOffsetCommit, sent to the *group* coordinator."""
        topics: dict[str, list[dict[str, Any]]] = {}
        for tp, offset in offsets.items():
            topics.setdefault(tp.topic, []).append(
                {
                    "partition_index": tp.partition,
                    "committed_offset": offset,
                    "committed_leader_epoch": -1,
                    "committed_metadata": "",
                }
            )
        body = {
            **self._ids(producer),
            "group_id": group_id,
            "generation_id": generation_id,
            "member_id": member_id,
            "group_instance_id": group_instance_id,
            "topics": [{"name": name, "partitions": parts} for name, parts in topics.items()],
        }
        return CoordinatorCall(TXN_OFFSET_COMMIT, body, group_id, GROUP_KEY_TYPE)

    def end_call(self, producer: tuple[int, int], commit: bool) -> CoordinatorCall:
        return self._call(END_TXN, {**self._ids(producer), "committed": commit})
