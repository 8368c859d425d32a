"""Old name of :mod:`pushapp.twins`, kept importable for the 0.x series."""

from .twins import plan_twins, refuse_running_loop, sync_twin, target_loop

__all__ = ["plan_twins", "refuse_running_loop", "sync_twin", "target_loop"]
