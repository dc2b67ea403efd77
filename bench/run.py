"""``make bench``: run every benchmark module (or ``--only a,b``), one after another.

Each module ``bench/<name>.py`` exposes ``main() -> None`` and writes its own BENCHMARKS.md
section via ``bench.report.write_section``. They run sequentially on purpose: two heavy
benchmarks at once on a 2-core machine would measure each other.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

SUITES = (
    "ngram", "ngram_scale", "ngram_estimators", "service", "service_ops", "batch", "embeddings",
    "classifier", "chatbot", "lstm", "dask",
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    ap.add_argument("--only", help=f"comma-separated subset of: {', '.join(SUITES)}")
    args = ap.parse_args(argv)
    names = args.only.split(",") if args.only else list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        ap.error(f"unknown suite(s) {', '.join(unknown)}")
    failed = []
    for name in names:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"bench.{name}":
                raise
            print(f"[bench] {name}: not built yet, skipped", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            module.main()
        except Exception as e:  # keep going: one broken suite must not hide the others
            print(f"[bench] {name} FAILED: {e!r}", file=sys.stderr)
            failed.append(name)
        print(f"[bench] {name} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
