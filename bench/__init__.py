"""Benchmarks of Relay: run from the repository root as `python -m bench.<name>`."""
