"""Benchmarks (``make bench``): each suite measures itself against its reference system in the
same run, stores its results in ``bench/results/<suite>.json`` and renders its BENCHMARKS.md
section from that JSON (``bench.report.publish``; ``python -m bench.run --render``)."""
