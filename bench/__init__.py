"""Benchmarks (``make bench``): each family's module measures itself against its reference system
in the same run and writes its own section of BENCHMARKS.md."""
