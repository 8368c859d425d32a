"""Everything that needs the ``redis`` extra: the direct publisher of sync sends and the Redis presence
backend with its Lua script. Nothing outside this folder imports redis-py, so pushapp installs without it."""
