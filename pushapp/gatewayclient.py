"""GatewayClient's camelCase names, for people porting PHP code: ``Gateway.sendToUid(uid, data)``.

Each name is the sync pushapp function of the same meaning (docs/api.md lists them side by side);
``destoryClient`` keeps GatewayClient's spelling. The async twins keep their snake_case names only.
"""

from __future__ import annotations

from . import gateway


class Gateway:
    """The PHP static-call style, mapped onto :mod:`pushapp.gateway`."""

    sendToAll = staticmethod(gateway.send_to_all)
    sendToClient = staticmethod(gateway.send_to_client)
    sendToUid = staticmethod(gateway.send_to_uid)
    sendToGroup = staticmethod(gateway.send_to_group)
    closeClient = staticmethod(gateway.close_client)
    destoryClient = staticmethod(gateway.destroy_client)
    destroyClient = staticmethod(gateway.destroy_client)
    bindUid = staticmethod(gateway.bind_uid)
    unbindUid = staticmethod(gateway.unbind_uid)
    joinGroup = staticmethod(gateway.join_group)
    leaveGroup = staticmethod(gateway.leave_group)
    ungroup = staticmethod(gateway.ungroup)
    setSession = staticmethod(gateway.set_session)
    updateSession = staticmethod(gateway.update_session)
    getSession = staticmethod(gateway.get_session)
    isOnline = staticmethod(gateway.is_online)
    isUidOnline = staticmethod(gateway.is_uid_online)
    isUidsOnline = staticmethod(gateway.are_uids_online)
    getClientIdByUid = staticmethod(gateway.get_client_id_by_uid)
    batchGetClientIdByUid = staticmethod(gateway.get_client_ids_by_uids)
    getUidByClientId = staticmethod(gateway.get_uid_by_client_id)
    getClientIdListByGroup = staticmethod(gateway.get_client_id_list_by_group)
    getClientIdCountByGroup = staticmethod(gateway.get_client_count_by_group)
    getClientCountByGroup = staticmethod(gateway.get_client_count_by_group)
    batchGetClientIdCountByGroup = staticmethod(gateway.get_client_count_by_groups)
    getClientSessionsByGroup = staticmethod(gateway.get_client_sessions_by_group)
    getUidListByGroup = staticmethod(gateway.get_uid_list_by_group)
    getUidCountByGroup = staticmethod(gateway.get_uid_count_by_group)
    getAllClientIdList = staticmethod(gateway.get_all_client_id_list)
    getAllClientIdCount = staticmethod(gateway.get_all_client_count)
    getAllClientCount = staticmethod(gateway.get_all_client_count)
    getAllClientSessions = staticmethod(gateway.get_all_client_sessions)
    getAllUidList = staticmethod(gateway.get_all_uid_list)
    getAllUidCount = staticmethod(gateway.get_all_uid_count)
    getAllGroupIdList = staticmethod(gateway.get_all_group_id_list)
    getAllGroupUidList = staticmethod(gateway.get_all_group_uid_list)
    getAllGroupUidCount = staticmethod(gateway.get_all_group_uid_count)
    getAllGroupClientIdList = staticmethod(gateway.get_all_group_client_id_list)
    getAllGroupClientIdCount = staticmethod(gateway.get_all_group_client_id_count)
