"""BrokerRegistration (key 62, controller listener): a broker registers with the KRaft
controller and is given its broker epoch.  KIP-631 (v0), KIP-866 (ZK migration flag, v1),
KIP-858 (log directories, v2), KIP-966 (previous broker epoch, v3), KAFKA-17011 (v4: features
with a minimum supported version of 0 are sent; v0-3 omit them).  Flexible from v0; the
response is the same in every version."""

from client.protocol.schema import (
    BOOL,
    INT16,
    INT32,
    INT64,
    STRING,
    UINT16,
    UUID,
    Array,
    Field,
    Message,
    Struct,
)

_LISTENER = Struct(
    [
        Field("name", STRING),
        Field("host", STRING),
        Field("port", UINT16),
        Field("security_protocol", INT16),
    ],
    name="Listener",
)

_FEATURE = Struct(
    [
        Field("name", STRING),
        Field("min_supported_version", INT16),
        Field("max_supported_version", INT16),
    ],
    name="Feature",
)

REQUEST = Message(
    "BrokerRegistrationRequest",
    api_key=62,
    kind="request",
    valid="0-4",
    flexible="0+",
    fields=[
        Field("broker_id", INT32),
        Field("cluster_id", STRING),
        Field("incarnation_id", UUID),
        Field("listeners", Array(_LISTENER)),
        Field("features", Array(_FEATURE)),
        Field("rack", STRING, nullable="0+"),
        Field("is_migrating_zk_broker", BOOL, "1+", default=False),
        Field("log_dirs", Array(UUID), "2+"),
        Field("previous_broker_epoch", INT64, "3+", default=-1),
    ],
)

RESPONSE = Message(
    "BrokerRegistrationResponse",
    api_key=62,
    kind="response",
    valid="0-4",
    flexible="0+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16),
        # -1 when no epoch was assigned.
        Field("broker_epoch", INT64, default=-1),
    ],
)
