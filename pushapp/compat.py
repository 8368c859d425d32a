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
