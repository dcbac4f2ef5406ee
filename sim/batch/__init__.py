"""Batch work over the engine: sweeps, the runner and its executors, comparisons, analysis, benchmarks."""
