"""Adapters for what the ASGI standard leaves to each server."""
