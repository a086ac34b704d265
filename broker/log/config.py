"""Per-log configuration: Kafka's topic-level keys (``segment.bytes`` -> ``segment_bytes``)
with Kafka's defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from client.protocol.records import CODEC_BY_NAME

LONG_MAX = 9223372036854775807


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Kafka's topic configs that the log itself obeys (defaults from Kafka's LogConfig)."""

    segment_bytes: int = 1073741824
    segment_ms: int = 604800000
    segment_jitter_ms: int = 0
    """A segment rolls by time up to this much before ``segment_ms``."""
    retention_ms: int = 604800000
    """-1: keep forever."""
    retention_bytes: int = -1
    """-1: no size limit."""
    flush_interval_messages: int = LONG_MAX
    flush_interval_ms: int = LONG_MAX
    index_interval_bytes: int = 4096
    max_index_bytes: int = 10485760
    max_message_bytes: int = 1048588
    message_timestamp_type: str = "CreateTime"
    cleanup_policy: tuple[str, ...] = ("delete",)
    """"delete" (retention by time and size), "compact" (broker/log/cleaner.py), or both."""
    delete_retention_ms: int = 86400000
    """How long a compacted log keeps tombstones."""
    min_compaction_lag_ms: int = 0
    max_compaction_lag_ms: int = LONG_MAX
    min_cleanable_dirty_ratio: float = 0.5
    compression_type: str = "producer"
    """The codec produced batches are stored with: "producer" keeps the producer's, else
    "uncompressed", "gzip", "snappy", "lz4" or "zstd" (the leader recompresses)."""
    message_timestamp_before_max_ms: int = LONG_MAX
    message_timestamp_after_max_ms: int = LONG_MAX
    message_timestamp_difference_max_ms: int = LONG_MAX
    compression_gzip_level: int = -1
    compression_lz4_level: int = 9
    compression_zstd_level: int = 3
    # Derived once here, read on every produce (not passed in: see __post_init__).
    stored_codec: int | None = field(init=False)
    """The codec of ``compression_type`` (None: "producer", batches are stored as sent)."""
    timestamp_window: tuple[int, int] | None = field(init=False)
    """(before, after): how far a produced CreateTime record's timestamp may lie behind and
    ahead of the broker's clock (KIP-937; the deprecated difference bound applies both
    ways); None: no bound, or LogAppendTime (the broker sets the timestamps)."""

    def _timestamp_window(self) -> tuple[int, int] | None:
        if self.message_timestamp_type != "CreateTime":
            return None
        difference = self.message_timestamp_difference_max_ms
        before = min(self.message_timestamp_before_max_ms, difference)
        after = min(self.message_timestamp_after_max_ms, difference)
        if before == LONG_MAX and after == LONG_MAX:
            return None
        return before, after

    @property
    def compression_level(self) -> int | None:
        """The level of ``compression_type``'s codec (None: it has none, or gzip's -1)."""
        levels = {
            "gzip": self.compression_gzip_level,
            "lz4": self.compression_lz4_level,
            "zstd": self.compression_zstd_level,
        }
        level = levels.get(self.compression_type)
        return None if level is None or (self.compression_type == "gzip" and level < 0) else level

    def __post_init__(self) -> None:
        object.__setattr__(self, "stored_codec", CODEC_BY_NAME.get(self.compression_type))
        object.__setattr__(self, "timestamp_window", self._timestamp_window())
        assert self.segment_bytes >= 14, "Kafka's minimum segment.bytes"
        assert self.index_interval_bytes >= 0
        assert self.max_index_bytes >= 12, "room for at least one time index entry"
        assert self.message_timestamp_type in ("CreateTime", "LogAppendTime")
        assert self.compression_type in (
            "producer",
            "uncompressed",
            "gzip",
            "snappy",
            "lz4",
            "zstd",
        ), self.compression_type
