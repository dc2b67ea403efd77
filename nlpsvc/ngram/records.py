"""A saved model's arrays: one record per n-gram, its key, log prob and backoff side by side.

Why: a lookup reads the key of the row its table slot names, then (if it is the match) the
row's log prob and (if it is a context next) its backoff. Kept in three arrays, that is three
cache misses for one n-gram; in one record of 16 bytes it is one line (KenLM's probing entries
hold hash, prob and backoff together likewise). Measured on the AG News test file over the
1M-token order-5 model, the scoring loop takes ~5% less; a unigram's log prob and backoff
share a line the same way. The records are the same bytes as the three arrays, so the model's
size on disk is unchanged.

``ngrams<o>.npy`` holds order o's records (a packed structured array, no padding): ``key``
(int64, orders >= 2), ``logprob`` and ``backoff`` (below the top order), both ``STORE``
(float32) as saved today, or float64 for a model kept in float64. ``fields`` gives the three
arrays back as views (no copy); the kernel reads them in place (``kernel.describe``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

KEY, LOGPROB, BACKOFF = "key", "logprob", "backoff"


def name(o: int) -> str:
    """The file of order ``o``'s records."""
    return f"ngrams{o}.npy"


def dtype(o: int, order: int, value: np.dtype | type) -> np.dtype:
    """The record of order ``o`` in a model of order ``order``, log values of type ``value``."""
    fields = [(KEY, "<i8")] if o >= 2 else []
    fields.append((LOGPROB, np.dtype(value).str))
    if o < order:
        fields.append((BACKOFF, np.dtype(value).str))
    return np.dtype(fields)


def join(keys: np.ndarray | None, logprob: np.ndarray, backoff: np.ndarray | None,
         o: int, order: int) -> np.ndarray:
    """Order ``o``'s records from its arrays (log values kept in their own type)."""
    rec = np.empty(logprob.shape[0], dtype=dtype(o, order, logprob.dtype))
    if o >= 2:
        rec[KEY] = keys
    rec[LOGPROB] = logprob
    if o < order:
        rec[BACKOFF] = backoff
    return rec


def fields(rec: np.ndarray, o: int, order: int
           ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Keys (None at order 1), log probs and backoffs (None at the top order) of ``rec``, as
    views into it; raises when ``rec`` is not order ``o``'s records."""
    names = rec.dtype.names or ()
    value = rec.dtype[LOGPROB] if LOGPROB in names else None
    if rec.ndim != 1 or value is None or value.kind != "f" or rec.dtype != dtype(o, order,
                                                                                  value):
        raise ValueError(f"{name(o)}: not the records of order {o} of an order-{order} model "
                         f"(dtype {rec.dtype})")
    return (rec[KEY] if o >= 2 else None, rec[LOGPROB],
            rec[BACKOFF] if o < order else None)


def pack(parts: Path, folder: Path, order: int, block: int = 1 << 18) -> None:
    """Write ``ngrams<o>.npy`` into ``folder`` from the arrays a build wrote one by one into
    ``parts`` (``keys<o>.npy``, ``logprob<o>.npy``, ``backoff<o>.npy``), ``block`` rows at a
    time, removing each array once packed: RAM holds a block (256K rows: ~8 MB with the parts
    read; 1M rows put 24 MB on the 4M-token build's peak), the disk one order's parts more
    than the model. The bytes are ``np.save``'s of the whole records (``NpyWriter``)."""
    from nlpsvc.hugemap import npy_header
    from nlpsvc.ngram.spill import NpyWriter

    for o in range(1, order + 1):
        names = ([f"keys{o}.npy"] if o >= 2 else []) + [f"logprob{o}.npy"]
        names += [f"backoff{o}.npy"] if o < order else []
        files = [open(parts / n, "rb") for n in names]  # noqa: SIM115 - closed below
        try:
            heads = [npy_header(f) for f in files]
            n = heads[-1][0][0]
            if any(h[0] != (n,) or h[1] for h in heads):
                raise ValueError(f"{parts}: the order-{o} arrays differ in shape")
            rec_t = dtype(o, order, heads[-1][2])
            out = NpyWriter(folder / name(o), rec_t, n)
            for start in range(0, n, block):
                rec = np.empty(min(block, n - start), dtype=rec_t)
                for f, (_, _, t), field in zip(files, heads, rec_t.names, strict=True):
                    rec[field] = np.fromfile(f, dtype=t, count=rec.shape[0])
                out.write(rec)
            out.close()
        finally:
            for f in files:
                f.close()
        for n_ in names:
            (parts / n_).unlink()
