"""Routing bench (python -m bench.routing): accuracy on the held-out set and decision latency."""
