"""What one process holds: its channel layer, its event loops, sync twins, registry, counters."""
