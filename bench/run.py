"""``make bench``: run every benchmark suite (or ``--only a,b``), one after another.

Each suite ``bench/<name>.py`` exposes ``main() -> None``, which measures and calls
``bench.report.publish``: the results are stored in ``bench/results/<name>.json`` and its
BENCHMARKS.md section is rendered from that JSON by the suite's ``render(results) -> str``.
``--render`` rebuilds the sections from the stored JSON without measuring anything. Suites run
sequentially on purpose: two heavy benchmarks at once on a 2-core machine would measure each
other.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from types import ModuleType

from bench import report

SUITES = (
    "ngram", "ngram_scale", "ngram_estimators", "service", "service_ops", "batch", "embeddings",
    "classifier", "classifier_defaults", "chatbot", "chatbot_demo", "lstm", "dask",
)


def suite_module(name: str) -> ModuleType | None:
    """``bench.<name>``, or None when that suite is not built yet."""
    try:
        return importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"bench.{name}":
            raise
        return None


def render(names: list[str]) -> int:
    """Re-render the sections of ``names`` from their stored JSON (a suite with none is left
    as it is)."""
    failed = 0
    for name in names:
        path = report.results_path(name)
        if not path.is_file():
            print(f"[bench] {name}: no stored results ({path}): left as is; "
                  f"`python -m bench.run --only {name}` measures it", file=sys.stderr)
            continue
        fn = getattr(suite_module(name), "render", None)
        if fn is None:
            print(f"[bench] {name}: {path} stored but bench/{name}.py has no render(results)",
                  file=sys.stderr)
            failed += 1
            continue
        try:
            report.render_stored(name, fn)
        except (ValueError, KeyError) as e:  # not a stored result, or one render cannot read
            print(f"[bench] {name}: {path} not rendered: {e!r}", file=sys.stderr)
            failed += 1
            continue
        print(f"[bench] {name}: rendered from {path}", file=sys.stderr)
    return 1 if failed else 0


def measure(names: list[str]) -> int:
    failed = []
    for name in names:
        module = suite_module(name)
        if module is None:
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    ap.add_argument("--only", help=f"comma-separated subset of: {', '.join(SUITES)}")
    ap.add_argument("--render", action="store_true",
                    help="rebuild BENCHMARKS.md sections from bench/results/*.json, no measuring")
    args = ap.parse_args(argv)
    names = args.only.split(",") if args.only else list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        ap.error(f"unknown suite(s) {', '.join(unknown)}")
    return render(names) if args.render else measure(names)


if __name__ == "__main__":
    sys.exit(main())
