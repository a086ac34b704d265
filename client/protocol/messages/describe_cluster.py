"""DescribeCluster (key 60): KIP-700 (cluster metadata and authorized operations outside
Metadata), KIP-919 (endpoint type: brokers or controllers, v1), KIP-1073 (fenced brokers on
request, v2)."""

from client.protocol.schema import BOOL, INT8, INT16, INT32, STRING, Array, Field, Message, Struct

# Endpoint type 1 = brokers, 2 = controllers (KIP-919).
_BROKERS_ENDPOINT_TYPE = 1

REQUEST = Message(
    "DescribeClusterRequest",
    api_key=60,
    kind="request",
    valid="0-2",
    flexible="0+",
    fields=[
        Field("include_cluster_authorized_operations", BOOL),
        Field("endpoint_type", INT8, "1+", default=_BROKERS_ENDPOINT_TYPE),
        Field("include_fenced_brokers", BOOL, "2+"),
    ],
)

_DESCRIBE_CLUSTER_BROKER = Struct(
    [
        Field("broker_id", INT32),
        Field("host", STRING),
        Field("port", INT32),
        Field("rack", STRING, nullable="0+"),
        Field("is_fenced", BOOL, "2+"),
    ],
    name="DescribeClusterBroker",
)

RESPONSE = Message(
    "DescribeClusterResponse",
    api_key=60,
    kind="response",
    valid="0-2",
    flexible="0+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
        Field("endpoint_type", INT8, "1+", default=_BROKERS_ENDPOINT_TYPE),
        Field("cluster_id", STRING),
        Field("controller_id", INT32, default=-1),
        Field("brokers", Array(_DESCRIBE_CLUSTER_BROKER)),
        Field("cluster_authorized_operations", INT32, default=-(2**31)),
    ],
)
