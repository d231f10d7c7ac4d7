"""Benchmarks: cold start, load, worker throughput and cost per target."""
