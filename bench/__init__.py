"""Side-by-side benchmark of pushapp and the plain Channels group pattern (docs/performance.md).

Run ``python -m bench`` from the repository root. Everything it starts (Redis, servers, clients,
producers) is a separate process on 127.0.0.1, so the numbers include the real network path.
"""
