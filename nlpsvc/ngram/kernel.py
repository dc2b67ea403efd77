"""The compiled scoring loop of ``NgramModel`` (numba, ``cache=True``, no GIL held).

Why compiled: scoring is a chain of lookups per token; in numpy each order costs a dozen
array passes (batch) and ~100 us of fixed set-up (one sentence). Here a whole request is one
call, a few hash probes per token, as in KenLM.

Why it is shaped this way: on a model larger than the CPU caches, time goes to DRAM misses
(~200 ns each), not to arithmetic. The tables are keyed by word hashes (``probing``), known
from the words alone, so the table slots of a position are prefetched ``AHEAD`` positions
early (for the orders that get looked up), and so are its word's vocabulary slot and unigram;
the misses of many positions then overlap instead of stalling one after the other. A row
found brings its log prob and backoff with its key (``records``: one cache line), and in a
suffix-closed model a position's lookups stop at its first miss, as KenLM's. Sentences
of a batch are one stream of positions, so the lookahead runs across their boundaries; each
position's id and hashes are produced by the lookahead itself into small rings, with no array
per position (a batch's memory is its input and output). The ``score_text*`` entry points
also map the tokens to ids there (``wordids``): a request is one call.

Rules (ARPA backoff, KenLM's ``full_scores``), the same float operations in the same order as
the numpy path kept as the oracle in ``tests/ngram/numpy_oracle.py``, so every figure is the
same bit for bit:

* ``row[o]`` of the o-gram ending at a position is looked up from the (o-1)-gram ending at the
  previous position (its prefix), for every o; ``row[1]`` is the word id.
* the match is the longest o with ``row[2..o]`` all present; its log10 prob, plus the backoff
  of each longer context (length ``match``..min(history, N-1)) ending at the previous
  position, ``missing`` for a context that is not stored.
* ``<s>`` (when ``bos``) is context only; ``</s>`` (when ``eos``) is scored; sentence totals
  are sequential sums from 0.0 (as ``np.bincount``).

The model is passed as ``desc``, an int64 (N + 1, 8) array of addresses and sizes per order (see
``describe``; one array argument instead of four tuples keeps numba's per-call dispatch under
a microsecond); the caller keeps the arrays alive (``NgramModel`` holds them).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import numba
import numpy as np

from nlpsvc.ngram._probejit import address, data_address, find, home, prefetch, step
from nlpsvc.ngram._wordidsjit import lookup_hashed, scan_token
from nlpsvc.ngram.config import MAX_ORDER
from nlpsvc.ngram.probing import SEED, readonly, row_bits
from nlpsvc.ngram.vocab import BOS_ID, EOS_ID, UNK_ID

# desc columns, one row per order. Row 0 (unigrams, indexed by id) has no keys nor table: its
# ROWS is V and its KEYS column the address of ``missing_backoff`` (a 1-element float64 array).
# F32: the order's logprob and backoff are float32 (models saved since the float32 format; 0:
# float64, as older models): read either way, each value widened to float64 before any sum.
# KSTEP, VSTEP: bytes from one row's key, and log prob or backoff, to the next's: 8 and 4 for
# arrays of their own, the record's size for a saved model's records (``records``: a row's
# key, log prob and backoff on one cache line). SPLIT: they are not in one record (then the
# log prob and backoff of a row found are asked for at once).
KEYS, ROWS, SLOTS, NSLOTS, RBITS, LP, BO, F32, KSTEP, VSTEP, SPLIT = range(11)
# ... and a last row for the vocabulary table (``wordids``): bytes, offsets, slots
V_BLOB, V_BYTES, V_SLOTS, V_NSLOTS, V_OFFSETS = range(5)
# The table slots of a position are prefetched AHEAD positions before they are probed (its
# word hashes need no lookup): a DRAM miss (~200 ns here) then overlaps the work of the
# positions in between instead of stalling each (measured: ~1.5x on a 4M-token order-5 model;
# also prefetching the rows the slots point to did not pay). RING > AHEAD: hashes kept.
AHEAD, RING = 12, 16
PREFETCH_WINDOW, PREFETCH_DROP, PREFETCH_ADD = 128, 5, 3  # see ``top`` in ``_score``
_NO_WORDS = np.empty(0, dtype=np.int64)  # ``_score``'s words when the tokens come as text


def describe(
    V: int, keys: list[np.ndarray | None], slots: list[np.ndarray | None],
    lp: list[np.ndarray], bo: list[np.ndarray], missing: float,
    vocab: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The descriptor array of a model and the read-only views it points into (keep them);
    ``vocab``: ``wordids.build``'s arrays. Arrays are read where they are, strided or not
    (a saved model's keys, log probs and backoffs are fields of one record array)."""
    N = len(lp)
    desc = np.zeros((N + 1, 11), dtype=np.int64)
    hold: list[np.ndarray] = []

    def addr(a: np.ndarray, dtype: type) -> int:
        v = readonly(np.asarray(a, dtype=dtype))
        hold.append(v)
        return int(v.ctypes.data)

    def strided(a: np.ndarray, dtype: type) -> tuple[int, int]:
        """Address and stride of a 1-D view of ``a`` as ``dtype``, without a copy when it is
        one already (a record field)."""
        v = np.asarray(a)
        if v.dtype != dtype or v.ndim != 1 or (v.shape[0] > 1 and v.strides[0] <= 0):
            v = np.ascontiguousarray(v, dtype=dtype)
        hold.append(v)
        return int(v.ctypes.data), int(v.strides[0]) if v.shape[0] > 1 else v.itemsize

    for o in range(N):
        # float32 when the order's arrays both are (no copy); else both read as float64
        f32 = lp[o].dtype == np.float32 and (o >= len(bo) or bo[o].dtype == np.float32)
        ftype = np.float32 if f32 else np.float64
        desc[o, F32] = f32
        desc[o, LP], vstep = strided(lp[o], ftype)
        desc[o, BO], bstep = strided(bo[o], ftype) if o < len(bo) else (0, vstep)
        if bstep != vstep:  # one stride for both: the backoffs apart, as the log probs
            desc[o, LP], vstep = addr(lp[o], ftype), np.dtype(ftype).itemsize
            desc[o, BO] = addr(bo[o], ftype)
        desc[o, VSTEP] = vstep
        if o == 0:
            desc[o, ROWS] = V
            desc[o, KEYS] = addr(np.array([missing]), np.float64)
            continue
        k, s = keys[o], slots[o]
        assert k is not None and s is not None
        desc[o, KEYS], desc[o, KSTEP] = strided(k, np.int64)
        desc[o, SPLIT] = not (desc[o, KSTEP] == vstep and desc[o, KEYS] < desc[o, LP]
                              < desc[o, KEYS] + vstep)
        desc[o, ROWS] = k.shape[0]
        desc[o, SLOTS] = addr(s, np.uint32)
        desc[o, NSLOTS] = s.shape[0]
        desc[o, RBITS] = row_bits(k.shape[0])
    blob, offsets, vslots = vocab
    desc[N, V_BLOB] = addr(blob, np.uint8)
    desc[N, V_BYTES] = blob.shape[0]
    desc[N, V_SLOTS] = addr(vslots, np.uint32)
    desc[N, V_NSLOTS] = vslots.shape[0]
    desc[N, V_OFFSETS] = addr(offsets, np.int64)
    return desc, hold


@numba.njit(inline="always")
def _f64(addr: int, n: int, i: int) -> float:
    return numba.carray(address(addr), n, np.float64)[i]


@numba.njit(inline="always")
def _val(addr: int, step: int, i: int, f32: int) -> float:
    """Row ``i``'s log prob or backoff at ``addr`` (``step`` bytes a row), float32 (widened
    exactly) or float64."""
    if f32:
        return np.float64(numba.carray(address(addr + i * step), 1, np.float32)[0])
    return numba.carray(address(addr + i * step), 1, np.float64)[0]


@numba.njit(inline="always")
def _hash(x: int, hist: int, u: int, N: int, H: np.ndarray) -> None:
    """Word hashes of the n-grams ending at position ``u`` (word ``x``, history ``hist``;
    orders up to ``hist + 1``), from those ending at ``u - 1``, into the ring ``H``."""
    i = u % RING
    H[i, 1] = step(SEED, x)
    if hist > 0:
        k = (u - 1) % RING
        for o in range(2, min(hist + 1, N) + 1):
            H[i, o] = step(H[k, o - 1], x)


@numba.njit(inline="always")
def _prefetch_slots(hist: int, u: int, N: int, top: int, H: np.ndarray, desc: np.ndarray
                    ) -> None:
    """Ask for the home slots of position ``u``'s lookups of orders up to ``top`` (``AHEAD``
    positions early). The loop runs to the constant ``N``, each order tested: ~8% faster
    than a loop to a bound that varies (measured)."""
    i = u % RING
    last = min(hist + 1, top)
    for o in range(2, N + 1):
        if o <= last:
            prefetch(desc[o - 1, SLOTS] + 4 * home(H[i, o], desc[o - 1, NSLOTS]))


@numba.njit(inline="always")
def _score(
    N: int, closed: bool, ws: int, text: bytes, words: np.ndarray, lens: np.ndarray, bos: bool,
    eos: bool, desc: np.ndarray, totals: np.ndarray, oovs: np.ndarray, per_token: bool,
    tok_lp: np.ndarray, tok_order: np.ndarray, tok_oov: np.ndarray,
) -> bool:
    """Score; the tokens are ``text`` (NUL-separated, looked up in the vocabulary table here)
    when ``words`` is empty, else the ids ``words``; ``N``: the model's order (``desc`` has
    ``N + 1`` rows) and ``closed``: whether it is suffix-closed, constants in each entry point
    (``for_order``); ``ws``: which text bytes end a token (``scan_token``; 0 but for
    ``score_text`` over lines). Positions are produced ``AHEAD`` of the scoring into rings (no array
    per position: on a VM, fresh pages cost more than the loop).

    False when ``text`` does not hold ``lens.sum()`` tokens (one held NUL: the caller's dict
    answers), found by the scan itself, which stays within the text whatever it holds (what
    it scored then is to be thrown away); True otherwise."""
    V = desc[0, ROWS]
    missing = _f64(desc[0, KEYS], 1, 0)
    ns = lens.shape[0]
    T = lens.sum() + ns * (bos + eos)
    use_text = words.shape[0] == 0
    blob = numba.carray(address(desc[N, V_BLOB]), desc[N, V_BYTES], np.uint8)
    offsets = numba.carray(address(desc[N, V_OFFSETS]), V + 1, np.int64)
    vslots = numba.carray(address(desc[N, V_SLOTS]), (desc[N, V_NSLOTS], 3), np.uint32)
    n_text = len(text)
    tp = data_address(text)
    ring_id = np.zeros(RING, dtype=np.int64)
    H = np.zeros((RING, N + 1), dtype=np.uint64)
    ctx = np.full(N + 1, -1, dtype=np.int64)  # rows of the n-grams ending at t - 1
    # Slots are asked for only for orders up to ``top``: an o-gram is looked up only where
    # the (o-1)-gram matched, so the high orders' lookups are rare (AG News over the 1M-token
    # model: order 3 at 34% of positions, order 4 at 7%), and asking for slots never read
    # cost more than it saved (measured, orders <= 3 against all: 1.15x at 1M, 1.06x at 4M,
    # 1.05x at 13.2M, where orders <= 4 did no better). ``top`` starts at N and moves by one
    # after each PREFETCH_WINDOW positions: down when order ``top`` was looked up at fewer
    # than 1 in PREFETCH_DROP of them, up when order ``top + 1`` would have been at 1 in
    # PREFETCH_ADD or more (apart, so that a share near the cut does not swing it).
    top, hit_top, hit_below = N, 0, 0  # matches of order >= top, >= top - 1: this window
    cur = np.full(N + 1, -1, dtype=np.int64)  # ... and at t
    # the lookahead cursor: next position to produce, its sentence, place and word
    u, us, up, uw = 0, 0, 0, 0
    # the token scan, AHEAD tokens before the lookahead: each text token's bounds, head and
    # hash, and its vocabulary slot asked for (then one cache line: ``wordids``)
    n_tok = lens.sum() if use_text else 0
    nvs = desc[N, V_NSLOTS]
    tb = np.zeros((RING, 2), dtype=np.int64)
    th = np.zeros((RING, 2), dtype=np.uint64)
    sc, sa = 0, 0
    t = 0
    j = 0
    for s in range(ns):
        total = 0.0
        noov = 0
        for p in range(lens[s] + bos + eos):
            while u < T and u <= t + AHEAD:  # produce position u: its id, hashes, slots
                F = lens[us] + bos + eos
                while F == 0:
                    us += 1
                    F = lens[us] + bos + eos
                if bos and up == 0:
                    x = BOS_ID
                elif eos and up == F - 1:
                    x = EOS_ID
                elif use_text:
                    while sc < n_tok and sc <= uw + AHEAD:  # scan token sc, ask for its slot
                        k = sc % RING
                        e, th[k, 0], th[k, 1] = scan_token(text, tp, sa, n_text, ws)
                        tb[k, 0] = sa
                        tb[k, 1] = e
                        prefetch(desc[N, V_SLOTS] + 12 * home(th[k, 1], nvs))
                        sa = e + 1
                        sc += 1
                    k = uw % RING
                    x = lookup_hashed(text, tb[k, 0], tb[k, 1], th[k, 0], th[k, 1], blob,
                                      offsets, vslots, UNK_ID)
                    uw += 1
                else:
                    x = words[uw]
                    uw += 1
                ring_id[u % RING] = x
                # its unigram's log prob and backoff (one record): 1.08x at 4M (measured)
                prefetch(desc[0, LP] + desc[0, VSTEP] * x)
                _hash(x, up, u, N, H)
                _prefetch_slots(up, u, N, top, H, desc)
                u += 1
                up += 1
                if up == F:
                    up = 0
                    us += 1
            # 2-D indexing only in this loop: a row view (``desc[o]``, ``H[i]``) costs an
            # atomic reference count increment and decrement (measured: ~4x the loop's time)
            x = ring_id[t % RING]
            i = t % RING
            cur[1] = x
            for o in range(2, N + 1):
                r = -1
                par = ctx[o - 1]  # the (o-1)-gram ending one position earlier
                # in a suffix-closed model no o-gram ends here once an (o-1)-gram does not
                # (its suffix would be missing): the lookups stop at the first miss, as
                # KenLM's; the others find what is stored, gaps included
                if p >= o - 1 and par >= 0 and (not closed or cur[o - 1] >= 0):
                    q = o - 1
                    r = find(desc[q, KEYS], desc[q, KSTEP], desc[q, SLOTS], desc[q, NSLOTS],
                             desc[q, RBITS], H[i, o], par * V + x)
                    if r >= 0 and desc[q, SPLIT]:  # prob (if the match), backoff (a context)
                        prefetch(desc[q, LP] + desc[q, VSTEP] * r)
                        if o < N:
                            prefetch(desc[q, BO] + desc[q, VSTEP] * r)
                cur[o] = r
            m = 1
            while m < N and cur[m + 1] >= 0:
                m += 1
            hit_top += m >= top
            hit_below += m >= top - 1
            v = _val(desc[m - 1, LP], desc[m - 1, VSTEP], cur[m], desc[m - 1, F32])
            for L in range(m, min(p, N - 1) + 1):  # contexts longer than the match's
                c = ctx[L]
                v += (_val(desc[L - 1, BO], desc[L - 1, VSTEP], c, desc[L - 1, F32]) if c >= 0
                      else missing)
            for L in range(1, N):
                ctx[L] = cur[L]
            t += 1
            if t % PREFETCH_WINDOW == 0:  # o-grams are looked up where m >= o - 1
                if top > 2 and hit_below * PREFETCH_DROP < PREFETCH_WINDOW:
                    top -= 1
                elif top < N and hit_top * PREFETCH_ADD >= PREFETCH_WINDOW:
                    top += 1
                hit_top, hit_below = 0, 0
            if bos and p == 0:
                continue  # <s> is context only
            total += v
            noov += x == UNK_ID
            if per_token:
                tok_lp[j] = v
                tok_order[j] = m
                tok_oov[j] = x == UNK_ID
                j += 1
        totals[s] = total
        oovs[s] = noov
    if not use_text:
        return True
    return sa == n_text + 1 if n_tok > 0 else n_text == 0


class Kernels(NamedTuple):
    """The entry points compiled for one model order (``for_order``)."""

    score_sentences: Callable[..., None]
    score_text: Callable[..., bool]
    score_text_one: Callable[..., tuple[float, int]]


@functools.cache
def for_order(N: int, closed: bool = False) -> Kernels:
    """The entry points for models of order ``N``, suffix-closed or not (``closed``: every
    n-gram's suffix is stored, as in every model trained here; the lookups of a position then
    stop at its first miss), compiled with both constants (numba caches each pair apart: the
    closure's values are part of its cache key). Why: the per-order loops then unroll and the
    rings' rows have a fixed size; measured 1.07-1.12x on batches and 1.09-1.14x with the
    rows in cache, on order-5 models."""
    if not 1 <= N <= MAX_ORDER:
        raise ValueError(f"order {N}: the kernel scores orders 1..{MAX_ORDER}")

    @numba.njit(cache=True, nogil=True)
    def score_sentences(
        words: np.ndarray, lens: np.ndarray, bos: bool, eos: bool, desc: np.ndarray,
        totals: np.ndarray, oovs: np.ndarray, per_token: bool, tok_lp: np.ndarray,
        tok_order: np.ndarray, tok_oov: np.ndarray,
    ) -> None:
        """Score consecutive sentences (``words`` concatenated, ``lens`` each) into
        ``totals`` and ``oovs``; with ``per_token``, every scored position into ``tok_*``."""
        _score(N, closed, 0, b"", words, lens, bos, eos, desc, totals, oovs, per_token, tok_lp,
               tok_order, tok_oov)

    @numba.njit(cache=True, nogil=True)
    def score_text(
        text: bytes, lens: np.ndarray, bos: bool, eos: bool, desc: np.ndarray,
        totals: np.ndarray, oovs: np.ndarray, per_token: bool, tok_lp: np.ndarray,
        tok_order: np.ndarray, tok_oov: np.ndarray, ws: int,
    ) -> bool:
        """``score_sentences`` over tokens given as text (``wordids.encode_sentences``: NUL
        ends a token, ``ws`` 0; or lines as ``wordids.encode_lines`` gives them, ``ws`` 1 or
        2: one ASCII whitespace byte or NUL ends one, ``str.split``'s tokens read in place):
        the vocabulary lookups run here too. False, the outputs meaningless, when ``text``
        does not hold ``lens.sum()`` tokens (one held NUL: the caller's dict answers); the
        scan finds it, no pass over the bytes before (``bytes.count`` costs more in Python).
        One entry for both (``ws`` a runtime value): each entry is a compilation of the whole
        loop per order, ~5 s the first time."""
        return _score(N, closed, ws, text, _NO_WORDS, lens, bos, eos, desc, totals, oovs,
                      per_token, tok_lp, tok_order, tok_oov)

    @numba.njit(cache=True, nogil=True)
    def score_text_one(
        text: bytes, n: int, bos: bool, eos: bool, desc: np.ndarray
    ) -> tuple[float, int]:
        """Total and OOV count of one sentence of ``n`` tokens given as text: ``score``'s one
        call (five arguments: numba's dispatch costs per argument; no output arrays)."""
        lens = np.full(1, n, dtype=np.int64)
        totals = np.empty(1, dtype=np.float64)
        oovs = np.empty(1, dtype=np.int64)
        none = np.empty(0, dtype=np.int64)
        _score(N, closed, 0, text, _NO_WORDS, lens, bos, eos, desc, totals, oovs, False,
               totals[:0], none, none == 0)
        return totals[0], oovs[0]

    return Kernels(score_sentences, score_text, score_text_one)
