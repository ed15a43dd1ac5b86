"""Benchmarks (not tests): ``python -m benchmarks.<name>``; figures go into benchmarks/README.md."""
