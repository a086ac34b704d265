"""The transaction coordinator (KIP-98), sans-IO: Kafka's ``TransactionCoordinator`` and
``TransactionStateManager`` without the log and the network.

Each transactional id has one :class:`TxnMetadata`, kept as a compacted record in its
partition of ``__transaction_state``; the leader of that partition is the id's
coordinator, and the partition's leader epoch is its *coordinator epoch* (markers carry it,
so a deposed coordinator's late markers are refused).  Every change is a :class:`Write`:
the shell appends the record, waits until it is committed (acks=all), then calls
:meth:`TxnCoordinator.written` (or :meth:`TxnCoordinator.write_failed`).  While a write is
in flight the id is *pending*: every other request for it gets CONCURRENT_TRANSACTIONS, the
error clients retry.

The state machine (Kafka's, transaction version 1):

- InitProducerId: a new id gets a producer id at epoch 0 (``Empty``).  A known id bumps
  its epoch (a new producer id once the epoch is exhausted), which fences the previous
  producer; if a transaction is open it is first aborted with the bumped epoch
  (``PrepareAbort``), and the client, answered CONCURRENT_TRANSACTIONS, asks again.
- AddPartitionsToTxn / AddOffsetsToTxn: ``Ongoing`` with the partitions added.
- EndTxn: ``PrepareCommit`` / ``PrepareAbort``; the client is answered once that record
  is committed (the outcome is decided), then the shell writes the markers to every
  partition of the transaction (:class:`Markers`) and calls :meth:`markers_written`,
  which writes ``CompleteCommit`` / ``CompleteAbort``.
- :meth:`expire`: a transaction open longer than its timeout is aborted with a bumped epoch
  (the producer is fenced); an id idle for ``transactional.id.expiration.ms`` is forgotten
  (a tombstone).
- A coordinator that loads a partition resumes the markers of every transaction it finds
  in a prepare state.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from broker.core.txn_log import (
    TopicPartition,
    TxnLogError,
    TxnLogValue,
    TxnState,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
    partition_for,
)
from client.protocol.errors import ErrorCode

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
# Kafka bumps to a new producer id once the epoch reaches Short.MaxValue - 1.
MAX_PRODUCER_EPOCH = 2**15 - 2


@dataclass(frozen=True, slots=True)
class TxnCoordinatorConfig:
    """Kafka's ``transaction.*`` settings."""

    transaction_state_log_num_partitions: int = 50
    transaction_max_timeout_ms: int = 900_000
    transactional_id_expiration_ms: int = 604_800_000


@dataclass(frozen=True, slots=True)
class TxnMetadata:
    transactional_id: str
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    state: TxnState
    partitions: frozenset[TopicPartition]
    start_ms: int
    last_update_ms: int
    # In memory only (as Kafka's lastProducerId/lastProducerEpoch): what an InitProducerId
    # retry of the last bump may present.
    last_producer_id: int = NO_PRODUCER_ID
    last_producer_epoch: int = NO_PRODUCER_EPOCH

    def log_value(self) -> TxnLogValue:
        return TxnLogValue(
            self.producer_id,
            self.producer_epoch,
            self.timeout_ms,
            self.state,
            self.partitions,
            self.last_update_ms,
            self.start_ms,
        )


@dataclass(frozen=True, slots=True)
class Write:
    """Append ``key``/``value`` to ``partition`` of ``__transaction_state``; once committed,
    call :meth:`TxnCoordinator.written` and answer the client ``error`` (with ``target``'s
    producer id and epoch for InitProducerId)."""

    partition: int
    transactional_id: str
    target: TxnMetadata | None  # None: a tombstone
    error: ErrorCode = ErrorCode.NONE

    @property
    def key(self) -> bytes:
        return encode_key(self.transactional_id)

    @property
    def value(self) -> bytes | None:
        return None if self.target is None else encode_value(self.target.log_value())


@dataclass(frozen=True, slots=True)
class Markers:
    """Write an end-transaction marker to each partition (WriteTxnMarkers or locally), then
    call :meth:`TxnCoordinator.markers_written`."""

    transactional_id: str
    producer_id: int
    producer_epoch: int
    commit: bool
    coordinator_epoch: int
    partitions: frozenset[TopicPartition]


@dataclass(frozen=True, slots=True)
class Answer:
    """Nothing to write: answer at once."""

    error: ErrorCode
    producer_id: int = NO_PRODUCER_ID
    producer_epoch: int = NO_PRODUCER_EPOCH


@dataclass(frozen=True, slots=True)
class NeedProducerId:
    """Call again with ``fresh_producer_id`` (the shell allocates producer ids)."""


NEED_PRODUCER_ID = NeedProducerId()
Step = Write | Answer | NeedProducerId


@dataclass(slots=True)
class _Partition:
    coordinator_epoch: int
    ids: set[str] = field(default_factory=set)


class TxnCoordinator:
    def __init__(self, config: TxnCoordinatorConfig) -> None:
        self.config = config
        self._txns: dict[str, TxnMetadata] = {}
        self._pending: dict[str, TxnMetadata | None] = {}
        self._partitions: dict[int, _Partition] = {}
        self._loading: dict[int, dict[str, TxnMetadata]] = {}

    # ---------------------------------------------------------------- ownership

    def partition_for(self, transactional_id: str) -> int:
        return partition_for(transactional_id, self.config.transaction_state_log_num_partitions)

    def owns(self, partition: int) -> bool:
        return partition in self._partitions

    def coordinator_epoch(self, partition: int) -> int:
        return self._partitions[partition].coordinator_epoch

    def begin_load(self, partition: int) -> None:
        self._loading[partition] = {}

    def replay(self, partition: int, key: bytes, value: bytes | None) -> None:
        """One record of the partition being loaded, in log order (later wins)."""
        try:
            transactional_id = decode_key(key)
            decoded = None if value is None else decode_value(value)
        except TxnLogError:
            return  # not ours to read; Kafka skips unknown record versions too
        loading = self._loading[partition]
        if decoded is None:
            loading.pop(transactional_id, None)
            return
        loading[transactional_id] = TxnMetadata(
            transactional_id,
            decoded.producer_id,
            decoded.producer_epoch,
            decoded.transaction_timeout_ms,
            decoded.state,
            decoded.partitions,
            decoded.start_ms,
            decoded.last_update_ms,
        )

    def load_complete(self, partition: int, coordinator_epoch: int) -> list[Markers]:
        """The partition is this coordinator's now; returns the markers of the transactions
        it found decided but not completed (their writers died before completing them)."""
        loaded = self._loading.pop(partition)
        self._partitions[partition] = _Partition(coordinator_epoch, set(loaded))
        self._txns.update(loaded)
        return [
            self._markers(txn, coordinator_epoch)
            for txn in loaded.values()
            if txn.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT)
        ]

    def unload(self, partition: int) -> None:
        """Leadership moved away: forget the partition's ids (writes in flight fail)."""
        owned = self._partitions.pop(partition, None)
        self._loading.pop(partition, None)
        if owned is None:
            return
        for transactional_id in owned.ids:
            self._txns.pop(transactional_id, None)
            self._pending.pop(transactional_id, None)

    def _owner_error(self, transactional_id: str) -> ErrorCode:
        partition = self.partition_for(transactional_id)
        if partition in self._loading:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        if partition not in self._partitions:
            return ErrorCode.NOT_COORDINATOR
        return ErrorCode.NONE

    # ---------------------------------------------------------------- requests

    def init_producer_id(
        self,
        transactional_id: str,
        timeout_ms: int,
        now_ms: int,
        *,
        expected_producer_id: int = NO_PRODUCER_ID,
        expected_epoch: int = NO_PRODUCER_EPOCH,
        fresh_producer_id: int | None = None,
    ) -> Step:
        if not transactional_id:
            return Answer(ErrorCode.INVALID_REQUEST)
        if not 0 < timeout_ms <= self.config.transaction_max_timeout_ms:
            return Answer(ErrorCode.INVALID_TRANSACTION_TIMEOUT)
        error = self._owner_error(transactional_id)
        if error is not ErrorCode.NONE:
            return Answer(error)
        if transactional_id in self._pending:
            return Answer(ErrorCode.CONCURRENT_TRANSACTIONS)
        txn = self._txns.get(transactional_id)
        partition = self.partition_for(transactional_id)
        if txn is None:
            if fresh_producer_id is None:
                return NEED_PRODUCER_ID
            target = TxnMetadata(
                transactional_id,
                fresh_producer_id,
                0,
                timeout_ms,
                TxnState.EMPTY,
                frozenset(),
                -1,
                now_ms,
            )
            return self._write(partition, target)
        if expected_producer_id != NO_PRODUCER_ID:
            current = (txn.producer_id, txn.producer_epoch)
            last = (txn.last_producer_id, txn.last_producer_epoch)
            presented = (expected_producer_id, expected_epoch)
            if presented == last and txn.state is TxnState.EMPTY:
                # A retry of the bump that already happened: the same answer again.
                return Answer(ErrorCode.NONE, txn.producer_id, txn.producer_epoch)
            if presented != current:
                return Answer(ErrorCode.PRODUCER_FENCED)
        if txn.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
            return Answer(ErrorCode.CONCURRENT_TRANSACTIONS)
        if txn.state is TxnState.ONGOING:
            # Fence the open transaction's producer and abort it; the client asks again.
            bumped = self._bumped(txn, fresh_producer_id=None, same_id=True)
            target = replace(bumped, state=TxnState.PREPARE_ABORT, last_update_ms=now_ms)
            return self._write(partition, target, ErrorCode.CONCURRENT_TRANSACTIONS)
        if txn.producer_epoch >= MAX_PRODUCER_EPOCH and fresh_producer_id is None:
            return NEED_PRODUCER_ID
        bumped = self._bumped(txn, fresh_producer_id=fresh_producer_id, same_id=False)
        target = replace(
            bumped,
            timeout_ms=timeout_ms,
            state=TxnState.EMPTY,
            partitions=frozenset(),
            start_ms=-1,
            last_update_ms=now_ms,
        )
        return self._write(partition, target)

    def _bumped(
        self, txn: TxnMetadata, *, fresh_producer_id: int | None, same_id: bool
    ) -> TxnMetadata:
        if txn.producer_epoch < MAX_PRODUCER_EPOCH or same_id:
            epoch = min(txn.producer_epoch + 1, MAX_PRODUCER_EPOCH + 1)
            producer_id = txn.producer_id
        else:
            assert fresh_producer_id is not None
            producer_id, epoch = fresh_producer_id, 0
        return replace(
            txn,
            producer_id=producer_id,
            producer_epoch=epoch,
            last_producer_id=txn.producer_id,
            last_producer_epoch=txn.producer_epoch,
        )

    def _check_producer(
        self, transactional_id: str, producer_id: int, producer_epoch: int
    ) -> TxnMetadata | ErrorCode:
        error = self._owner_error(transactional_id)
        if error is not ErrorCode.NONE:
            return error
        txn = self._txns.get(transactional_id)
        if txn is None or txn.producer_id != producer_id:
            return ErrorCode.INVALID_PRODUCER_ID_MAPPING
        if txn.producer_epoch != producer_epoch:
            return ErrorCode.PRODUCER_FENCED
        if transactional_id in self._pending:
            return ErrorCode.CONCURRENT_TRANSACTIONS
        return txn

    def add_partitions(
        self,
        transactional_id: str,
        producer_id: int,
        producer_epoch: int,
        partitions: Iterable[TopicPartition],
        now_ms: int,
    ) -> Write | Answer:
        """AddPartitionsToTxn (and AddOffsetsToTxn with the group's offsets partition)."""
        txn = self._check_producer(transactional_id, producer_id, producer_epoch)
        if isinstance(txn, ErrorCode):
            return Answer(txn)
        if txn.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
            return Answer(ErrorCode.CONCURRENT_TRANSACTIONS)
        if txn.state is TxnState.PREPARE_EPOCH_FENCE or txn.state is TxnState.DEAD:
            return Answer(ErrorCode.INVALID_TXN_STATE)
        wanted = frozenset(partitions)
        if txn.state is TxnState.ONGOING and wanted <= txn.partitions:
            return Answer(ErrorCode.NONE)
        starting = txn.state is not TxnState.ONGOING
        target = replace(
            txn,
            state=TxnState.ONGOING,
            partitions=(frozenset() if starting else txn.partitions) | wanted,
            start_ms=now_ms if starting else txn.start_ms,
            last_update_ms=now_ms,
        )
        return self._write(self.partition_for(transactional_id), target)

    def end_txn(
        self,
        transactional_id: str,
        producer_id: int,
        producer_epoch: int,
        commit: bool,
        now_ms: int,
    ) -> Write | Answer:
        txn = self._check_producer(transactional_id, producer_id, producer_epoch)
        if isinstance(txn, ErrorCode):
            return Answer(txn)
        state = txn.state
        if state is TxnState.ONGOING:
            target = replace(
                txn,
                state=TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT,
                last_update_ms=now_ms,
            )
            return self._write(self.partition_for(transactional_id), target)
        done = TxnState.COMPLETE_COMMIT if commit else TxnState.COMPLETE_ABORT
        preparing = TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT
        if state is done:
            return Answer(ErrorCode.NONE)  # a retry of an EndTxn that completed
        if state is preparing:
            return Answer(ErrorCode.CONCURRENT_TRANSACTIONS)
        return Answer(ErrorCode.INVALID_TXN_STATE)

    def check_offsets_commit(
        self, transactional_id: str, producer_id: int, producer_epoch: int
    ) -> ErrorCode:
        """Whether a TxnOffsetCommit of this producer may go ahead (the group coordinator
        asks when it hosts the transaction coordinator too; else it trusts the epoch)."""
        txn = self._check_producer(transactional_id, producer_id, producer_epoch)
        return txn if isinstance(txn, ErrorCode) else ErrorCode.NONE

    # ---------------------------------------------------------------- completions

    def _write(
        self, partition: int, target: TxnMetadata, error: ErrorCode = ErrorCode.NONE
    ) -> Write:
        self._pending[target.transactional_id] = target
        return Write(partition, target.transactional_id, target, error)

    def written(self, write: Write) -> Markers | None:
        """``write`` is committed: it becomes the state; returns the markers to send when
        the transaction is now decided."""
        transactional_id = write.transactional_id
        self._pending.pop(transactional_id, None)
        owned = self._partitions.get(write.partition)
        if owned is None:
            return None  # unloaded meanwhile: the next coordinator replays the record
        if write.target is None:
            self._txns.pop(transactional_id, None)
            owned.ids.discard(transactional_id)
            return None
        self._txns[transactional_id] = write.target
        owned.ids.add(transactional_id)
        if write.target.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
            return self._markers(write.target, owned.coordinator_epoch)
        return None

    def write_failed(self, write: Write) -> None:
        """The record was not committed: the state stays as it was."""
        if self._pending.get(write.transactional_id) is write.target:
            del self._pending[write.transactional_id]

    def _markers(self, txn: TxnMetadata, coordinator_epoch: int) -> Markers:
        return Markers(
            txn.transactional_id,
            txn.producer_id,
            txn.producer_epoch,
            txn.state is TxnState.PREPARE_COMMIT,
            coordinator_epoch,
            txn.partitions,
        )

    def markers_written(self, markers: Markers, now_ms: int) -> Write | None:
        """Every marker is written: complete the transaction (None if it moved on, e.g. the
        partition was unloaded, or another write is in flight)."""
        transactional_id = markers.transactional_id
        txn = self._txns.get(transactional_id)
        expected = TxnState.PREPARE_COMMIT if markers.commit else TxnState.PREPARE_ABORT
        if (
            txn is None
            or transactional_id in self._pending
            or txn.state is not expected
            or (txn.producer_id, txn.producer_epoch)
            != (markers.producer_id, markers.producer_epoch)
        ):
            return None
        target = replace(
            txn,
            state=TxnState.COMPLETE_COMMIT if markers.commit else TxnState.COMPLETE_ABORT,
            partitions=frozenset(),
            last_update_ms=now_ms,
        )
        return self._write(self.partition_for(transactional_id), target)

    # ---------------------------------------------------------------- timers

    def expire(self, now_ms: int, *, remove_ids: bool = True) -> list[Write]:
        """Abort transactions open past their timeout (fencing their producer) and, with
        ``remove_ids``, forget ids idle past ``transactional.id.expiration.ms``."""
        writes: list[Write] = []
        for transactional_id, txn in list(self._txns.items()):
            if transactional_id in self._pending:
                continue
            partition = self.partition_for(transactional_id)
            if txn.state is TxnState.ONGOING and now_ms - txn.start_ms > txn.timeout_ms:
                bumped = self._bumped(txn, fresh_producer_id=None, same_id=True)
                target = replace(bumped, state=TxnState.PREPARE_ABORT, last_update_ms=now_ms)
                writes.append(self._write(partition, target))
            elif (
                remove_ids
                and txn.state in (TxnState.EMPTY, TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT)
                and now_ms - txn.last_update_ms > self.config.transactional_id_expiration_ms
            ):
                self._pending[transactional_id] = None
                writes.append(Write(partition, transactional_id, None))
        return writes

    # ---------------------------------------------------------------- admin

    def describe(self, transactional_id: str) -> TxnMetadata | ErrorCode:
        error = self._owner_error(transactional_id)
        if error is not ErrorCode.NONE:
            return error
        txn = self._txns.get(transactional_id)
        return ErrorCode.TRANSACTIONAL_ID_NOT_FOUND if txn is None else txn

    def list(
        self,
        states: frozenset[TxnState] = frozenset(),
        producer_ids: frozenset[int] = frozenset(),
        *,
        min_duration_ms: int = -1,
        id_pattern: str | None = None,
        now_ms: int = 0,
    ) -> list[TxnMetadata]:
        """ListTransactions (KIP-664, KIP-994 duration and KIP-1152 pattern filters);
        ``id_pattern`` is a regular expression the whole id must match (a bad one raises
        ``re.error``)."""
        found = []
        for txn in self._txns.values():
            if states and txn.state not in states:
                continue
            if producer_ids and txn.producer_id not in producer_ids:
                continue
            if min_duration_ms >= 0 and (
                txn.state is not TxnState.ONGOING or now_ms - txn.start_ms < min_duration_ms
            ):
                continue
            if id_pattern and not re.fullmatch(id_pattern, txn.transactional_id):
                continue
            found.append(txn)
        return sorted(found, key=lambda txn: txn.transactional_id)
