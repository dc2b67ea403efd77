"""Side-by-side query speed of our n-gram model and the kenlm module (issue 10), one process.

    python bench/ngram_query_probe.py MODEL_DIR KENLM_BINARY TEST_TXT [--rounds 3]

Lines are split on whitespace. Rounds alternate the two systems: batch throughput (ours
``score_batch`` over the whole file, kenlm ``Model.score`` sentence by sentence) and
one-sentence p50 latency (ours ``score``, kenlm ``Model.score``), plus load time and size on
disk. Ratios are within a round, so a busy machine slows both sides alike.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from pathlib import Path


def _p50(fn, items, n: int) -> float:  # noqa: ANN001
    lat = []
    for x in items[:n]:
        t0 = time.perf_counter()
        fn(x)
        lat.append(time.perf_counter() - t0)
    return statistics.median(lat) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("kenlm_binary")
    ap.add_argument("test")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--latency-sentences", type=int, default=5000)
    a = ap.parse_args()
    import kenlm

    from nlpsvc.ngram import NgramModel

    t0 = time.perf_counter()
    lm = NgramModel.load(a.model)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    km = kenlm.Model(a.kenlm_binary)
    t_kenlm = time.perf_counter() - t0
    lines = [line.rstrip("\n") for line in open(a.test, encoding="utf-8")]
    toks = [line.split() for line in lines]
    lines = [" ".join(t) for t in toks]
    n_tok = sum(len(t) + 1 for t in toks)
    size = sum(p.stat().st_size for p in Path(a.model).iterdir())
    print(f"load: ours {t_ours * 1e3:.0f} ms, kenlm {t_kenlm * 1e3:.0f} ms")
    print(f"size: ours {size / 1e6:.1f} MB, kenlm {Path(a.kenlm_binary).stat().st_size / 1e6:.1f}"
          f" MB ({size / Path(a.kenlm_binary).stat().st_size:.2f}x)")
    print(f"{len(toks)} sentences, {n_tok} tokens (with </s>)")
    ours_sum = sum(r.log10_prob for r in lm.score_batch(toks))
    kenlm_sum = sum(km.score(s, bos=True, eos=True) for s in lines)
    print(f"total log10: ours {ours_sum:.4f}, kenlm {kenlm_sum:.4f}")
    for r in range(a.rounds):
        gc.collect()  # garbage of the previous round is not this round's cost
        t0 = time.perf_counter()
        lm.score_batch(toks)
        ours = n_tok / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for s in lines:
            km.score(s, bos=True, eos=True)
        ken = n_tok / (time.perf_counter() - t0)
        gc.collect()
        p_ours = _p50(lm.score, toks, a.latency_sentences)
        p_ken = _p50(lambda s: km.score(s, bos=True, eos=True), lines, a.latency_sentences)
        print(f"round {r}: batch ours {ours / 1e6:.2f} Mtok/s, kenlm {ken / 1e6:.2f} Mtok/s "
              f"({ours / ken:.2f}x); p50 one sentence ours {p_ours:.2f} us, kenlm "
              f"{p_ken:.2f} us ({p_ours / p_ken:.2f}x)")


if __name__ == "__main__":
    main()
