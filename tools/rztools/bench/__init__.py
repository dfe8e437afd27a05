"""Benchmarks and reliability runs, and the figures they share: `python -m
rztools.bench.swap` (`make bench`), `rztools.bench.alloc`, `rztools.bench.reliability`
(`make reliability`), `rztools.bench.setup_cost` (`make bench-setup`).
"""
