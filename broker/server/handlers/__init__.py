"""One module per API; ``HANDLERS`` maps an API key to its handler coroutine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.server.handlers import (
    admin,
    alter_configs,
    api_versions,
    client_quotas,
    consumer_groups,
    coordinator,
    delete_records,
    describe_producers,
    describe_quorum,
    elect_leaders,
    features,
    fetch,
    groups,
    list_offsets,
    log_dirs,
    metadata,
    offset_for_leader_epoch,
    produce,
    producer_id,
    reassignments,
    security,
    transactions,
    unregister_broker,
)

if TYPE_CHECKING:
    from broker.server.dispatcher import Handler

# Versions declared but not advertised: EndTxn v5 and TxnOffsetCommit v5 belong to
# transaction version 2 (KIP-890 part 2: an epoch bump per transaction, offsets added to the
# transaction implicitly), which this broker does not implement.
MAX_ADVERTISED_VERSIONS: dict[int, int] = {26: 4, 28: 4}

HANDLERS: dict[int, Handler] = {
    0: produce.handle,
    1: fetch.handle,
    2: list_offsets.handle,
    3: metadata.handle,
    8: groups.offset_commit,
    9: groups.offset_fetch,
    10: coordinator.find_coordinator,
    11: groups.join_group,
    12: groups.heartbeat,
    13: groups.leave_group,
    14: groups.sync_group,
    15: groups.describe_groups,
    16: groups.list_groups,
    17: security.sasl_handshake,
    29: security.describe_acls,
    30: security.create_acls,
    31: security.delete_acls,
    36: security.sasl_authenticate,
    50: security.describe_user_scram_credentials,
    51: security.alter_user_scram_credentials,
    42: groups.delete_groups,
    47: groups.offset_delete,
    48: client_quotas.describe_client_quotas,
    49: client_quotas.alter_client_quotas,
    43: elect_leaders.handle,
    18: api_versions.handle,
    19: admin.create_topics,
    20: admin.delete_topics,
    21: delete_records.handle,
    22: producer_id.handle,
    23: offset_for_leader_epoch.handle,
    24: transactions.add_partitions_to_txn,
    25: transactions.add_offsets_to_txn,
    26: transactions.end_txn,
    27: transactions.write_txn_markers,
    28: transactions.txn_offset_commit,
    32: admin.describe_configs,
    33: alter_configs.alter_configs,
    34: log_dirs.alter_replica_log_dirs,
    35: log_dirs.describe_log_dirs,
    37: admin.create_partitions,
    44: alter_configs.incremental_alter_configs,
    45: reassignments.alter_reassignments,
    46: reassignments.list_reassignments,
    55: describe_quorum.handle,
    57: features.update_features,
    60: metadata.describe_cluster,
    61: describe_producers.describe_producers,
    64: unregister_broker.handle,
    65: transactions.describe_transactions,
    66: transactions.list_transactions,
    68: consumer_groups.consumer_group_heartbeat,
    69: consumer_groups.consumer_group_describe,
    74: admin.list_config_resources,
    75: metadata.describe_topic_partitions,
}
