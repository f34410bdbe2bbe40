"""Reproducible benchmarks: each writes benchmarks/results/<name>.json, a table in RESULTS.md and plots."""
