"""Timing and memory benchmarks of the reference implementation (``python -m benchmarks.core``)."""
