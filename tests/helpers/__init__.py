"""Helpers the tests and the benchmarks share (no test module imports another)."""
