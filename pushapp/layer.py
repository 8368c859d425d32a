"""The channel layer pushapp sends over, resolved per use so settings changes take effect."""

from __future__ import annotations

from typing import Any

from channels.layers import get_channel_layer

from .conf import push_settings
from .exceptions import ChannelLayerMissing


def get_layer() -> Any:
    alias = push_settings.CHANNEL_LAYER
    layer = get_channel_layer(alias)
    if layer is None:
        raise ChannelLayerMissing(
            f"pushapp needs a channel layer: add {alias!r} to settings.CHANNEL_LAYERS "
            f"(or point PUSHAPP['CHANNEL_LAYER'] at an existing alias)"
        )
    return layer
