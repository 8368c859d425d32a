"""Realtime push for Django: WebSocket connections held by the ASGI server, pushed to from any Django code."""

__version__ = "0.1.0"
