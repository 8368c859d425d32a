"""Helpers of the test suite, shared with bench/: a private Redis, real processes, clients, waiting."""
