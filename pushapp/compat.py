"""Old name of :mod:`pushapp.gatewayclient`, kept importable for the 0.x series."""

from .gatewayclient import Gateway

__all__ = ["Gateway"]
