"""Plain-Python reference estimators (dicts and recursion, one formula per line) for tests.

Deliberately naive and independent of the numpy code under test: counts are re-derived from the
token lists, and each probability follows the textbook recursion directly.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

BOS, EOS, UNK = "<s>", "</s>", "<unk>"


class RefCounts:
    """Every n-gram (orders 1..order) of ``<s> w1 … wn </s>`` (KenLM padding), as tuples."""

    def __init__(self, sentences: Sequence[Sequence[str]], order: int) -> None:
        self.order = order
        self.c: Counter[tuple[str, ...]] = Counter()
        for s in sentences:
            toks = [BOS, *s, EOS]
            for o in range(1, order + 1):
                for i in range(len(toks) - o + 1):
                    self.c[tuple(toks[i : i + o])] += 1
        self.c[(BOS,)] = 0  # <s> is only ever a context, never predicted
        self.total: Counter[tuple[str, ...]] = Counter()
        self.after: defaultdict[tuple[str, ...], set[str]] = defaultdict(set)
        for g, n in self.c.items():
            if n > 0:
                self.total[g[:-1]] += n
                self.after[g[:-1]].add(g[-1])
        self.events = sorted({g[0] for g in self.c if len(g) == 1} - {BOS} | {UNK, EOS})

    def count(self, g: tuple[str, ...]) -> int:
        return self.c.get(g, 0)


def witten_bell(rc: RefCounts, w: str, h: tuple[str, ...]) -> float:
    """Interpolated Witten-Bell ending in the uniform distribution over the events."""
    if not h:
        n1 = rc.total[()]
        t1 = len(rc.after[()])
        return (rc.count((w,)) + t1 / len(rc.events)) / (n1 + t1)
    C = rc.total[h]
    if C == 0:
        return witten_bell(rc, w, h[1:])
    T = len(rc.after[h])
    return (rc.count((*h, w)) + T * witten_bell(rc, w, h[1:])) / (C + T)


def addk(rc: RefCounts, w: str, h: tuple[str, ...], k: float) -> float:
    """Add-k on the full context; contexts that start a sentence keep their own counts."""
    E = len(rc.events)
    own = len(h) == rc.order - 1 or (h and h[0] == BOS)
    if rc.order == 1 or (own and rc.total[h] > 0):
        return (rc.count((*h, w)) + k) / (rc.total[h] + k * E)
    return 1.0 / E


def katz(rc: RefCounts, w: str, h: tuple[str, ...], disc: list[list[float]]) -> float:
    """Katz backoff with the given Good-Turing coefficients ``disc[o-1][r-1]`` (r ≤ k)."""

    def d(o: int, r: int) -> float:
        return disc[o - 1][r - 1] if 1 <= r <= len(disc[o - 1]) else 1.0

    if not h:
        n1 = rc.total[()]
        star = {v: d(1, rc.count((v,))) * rc.count((v,)) / n1 for v in rc.events}
        left = 1.0 - sum(star.values())
        unseen = [v for v in rc.events if rc.count((v,)) == 0]
        if rc.count((w,)) == 0:
            return left / len(unseen)
        return star[w] + (0.0 if unseen else left / len(rc.events))
    C = rc.total[h]
    if C == 0:
        return katz(rc, w, h[1:], disc)
    o = len(h) + 1
    seen = rc.after[h]
    star = {v: d(o, rc.count((*h, v))) * rc.count((*h, v)) / C for v in seen}
    den = 1.0 - sum(katz(rc, v, h[1:], disc) for v in seen)
    if den < 1e-10:  # the lower order is used up by the seen words: renormalise them
        return star[w] / sum(star.values()) if w in seen else 0.0
    if w in seen:
        return star[w]
    num = 1.0 - sum(star.values())
    return num / den * katz(rc, w, h[1:], disc)
