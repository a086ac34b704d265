"""BrokerHeartbeat (key 63, controller listener): a registered broker's lease renewal and
fencing / controlled-shutdown handshake with the KRaft controller.  KIP-631 (v0), KIP-858
(offline log directories, tagged, v1).  Flexible from v0."""

from client.protocol.schema import BOOL, INT16, INT32, INT64, UUID, Array, Field, Message

REQUEST = Message(
    "BrokerHeartbeatRequest",
    api_key=63,
    kind="request",
    valid="0-1",
    flexible="0+",
    fields=[
        Field("broker_id", INT32),
        Field("broker_epoch", INT64, default=-1),
        Field("current_metadata_offset", INT64),
        Field("want_fence", BOOL),
        Field("want_shut_down", BOOL),
        Field("offline_log_dirs", Array(UUID), "1+", tag=0),
    ],
)

RESPONSE = Message(
    "BrokerHeartbeatResponse",
    api_key=63,
    kind="response",
    valid="0-1",
    flexible="0+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16),
        Field("is_caught_up", BOOL, default=False),
        Field("is_fenced", BOOL, default=True),
        Field("should_shut_down", BOOL),
    ],
)
