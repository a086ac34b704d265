"""One module per API, each declaring its ``REQUEST`` and ``RESPONSE`` once for all versions.

``APIS`` maps an API key to its (request, response) declarations.  It includes the KRaft
controller-listener APIs (AlterPartition, BrokerRegistration, BrokerHeartbeat,
AllocateProducerIds) that brokers and controllers speak to each other, and the KIP-848 consumer
group APIs (ConsumerGroupHeartbeat, ConsumerGroupDescribe): declaring them here does not make the
broker's client listener advertise them (that is its handler table's job).
"""

from __future__ import annotations

from types import ModuleType

from client.protocol.messages import (
    add_offsets_to_txn,
    add_partitions_to_txn,
    allocate_producer_ids,
    alter_client_quotas,
    alter_configs,
    alter_partition,
    alter_partition_reassignments,
    alter_user_scram_credentials,
    api_versions,
    broker_heartbeat,
    broker_registration,
    consumer_group_describe,
    consumer_group_heartbeat,
    create_acls,
    create_partitions,
    create_topics,
    delete_acls,
    delete_groups,
    delete_records,
    delete_topics,
    describe_acls,
    describe_client_quotas,
    describe_cluster,
    describe_configs,
    describe_groups,
    describe_log_dirs,
    describe_producers,
    describe_quorum,
    describe_transactions,
    describe_user_scram_credentials,
    elect_leaders,
    end_txn,
    fetch,
    find_coordinator,
    heartbeat,
    incremental_alter_configs,
    init_producer_id,
    join_group,
    leave_group,
    list_groups,
    list_offsets,
    list_partition_reassignments,
    list_transactions,
    metadata,
    offset_commit,
    offset_delete,
    offset_fetch,
    offset_for_leader_epoch,
    produce,
    sasl_authenticate,
    sasl_handshake,
    sync_group,
    txn_offset_commit,
    unregister_broker,
    write_txn_markers,
)
from client.protocol.schema import Message

_MODULES: tuple[ModuleType, ...] = (
    produce,
    fetch,
    list_offsets,
    metadata,
    offset_commit,
    offset_fetch,
    find_coordinator,
    join_group,
    heartbeat,
    leave_group,
    sync_group,
    describe_groups,
    list_groups,
    sasl_handshake,
    api_versions,
    create_topics,
    delete_topics,
    delete_records,
    init_producer_id,
    offset_for_leader_epoch,
    add_partitions_to_txn,
    add_offsets_to_txn,
    end_txn,
    write_txn_markers,
    txn_offset_commit,
    describe_acls,
    create_acls,
    delete_acls,
    describe_configs,
    alter_configs,
    describe_log_dirs,
    sasl_authenticate,
    create_partitions,
    delete_groups,
    offset_delete,
    elect_leaders,
    describe_client_quotas,
    alter_client_quotas,
    alter_partition_reassignments,
    list_partition_reassignments,
    incremental_alter_configs,
    describe_user_scram_credentials,
    alter_user_scram_credentials,
    alter_partition,
    describe_cluster,
    describe_producers,
    describe_quorum,
    broker_registration,
    broker_heartbeat,
    unregister_broker,
    describe_transactions,
    list_transactions,
    allocate_producer_ids,
    consumer_group_heartbeat,
    consumer_group_describe,
)

APIS: dict[int, tuple[Message, Message]] = {
    module.REQUEST.api_key: (module.REQUEST, module.RESPONSE) for module in _MODULES
}

for _request, _response in APIS.values():
    assert _request.api_key == _response.api_key
    assert _request.valid_versions == _response.valid_versions, _request.name
    assert _request.flexible_versions == _response.flexible_versions, _request.name
