"""fastText's per-example SGD as one compiled loop (numba): the training kernel of the PyTorch
fastText-style model.

Why hand-written and compiled: fastText's recipe is one SGD step per text at a high learning
rate (up to 1.0), the output layer and the text's rows updated before the next text is read.
Each step is a few thousand flops (mean of ~20 rows, C x dim logits, the two updates), so in
PyTorch the per-step cost is all dispatch: autograd + an optimizer take ~100 us a text, and even
the vectorised per-batch recurrence of ``fasttext.example_step`` leaves ~9 us of Python per
text. Summing a mini-batch's gradient instead (one vectorised step) diverges at fastText's
learning rates. Compiled, a step costs about a microsecond, as in fastText's C++. The model stays
a PyTorch ``nn.Module`` (EmbeddingBag mean -> dropout -> linear): the kernel writes straight
into its parameter tensors (numpy views), and inference and the saved state_dict are PyTorch's.
``fasttext.example_step`` is the readable reference of one step (checked against autograd);
tests check that this kernel equals it step for step.

Compiled with ``cache=True``: the machine code is stored next to this file (or in
``NUMBA_CACHE_DIR``) on the first call of a process that finds no cache, which takes a few
seconds once; later processes load it in well under a second. ``compile_seconds`` reports what
the current process spent.
"""

from __future__ import annotations

import math
import time

import numpy as np

try:  # numba is a dependency; without it training falls back to fasttext.example_step
    import numba
except ImportError:  # pragma: no cover - exercised only on a broken install
    numba = None

AVAILABLE = numba is not None
_compile_seconds: float | None = None


def _epoch(
    emb: np.ndarray,  # (rows, dim) float32, updated in place
    w: np.ndarray,  # (C, dim) float32, updated in place
    b: np.ndarray,  # (C,) float32, updated in place
    ids: np.ndarray,  # (N,) int64 row ids of all texts
    offsets: np.ndarray,  # (n,) int64 start of each text's ids
    lengths: np.ndarray,  # (n,) int64
    order: np.ndarray,  # (k,) int64 texts in the order stepped
    y: np.ndarray,  # (n,) int64 class (softmax)
    y_multi: np.ndarray,  # (n, C) float32 targets (ova); unused under softmax
    lr: np.ndarray,  # (k,) float32 rate of each step
    dropout: float,
    weight_decay: float,
    ova: bool,
    seed: int,  # >= 0: reseed numba's RNG (dropout masks) first
) -> float:
    """Steps ``order[0], order[1], ...`` one after the other; returns the summed loss (each
    text's loss before its own step)."""
    if seed >= 0:
        np.random.seed(seed)
    dim = emb.shape[1]
    ncls = w.shape[0]
    h = np.zeros(dim, np.float32)
    mask = np.ones(dim, np.float32)
    grad_h = np.zeros(dim, np.float32)
    z = np.zeros(ncls, np.float64)
    g = np.zeros(ncls, np.float32)
    total = 0.0
    keep = 1.0 - dropout
    for k in range(order.shape[0]):
        i = order[k]
        start = offsets[i]
        n = lengths[i]
        rate = lr[k]
        # hidden: mean of the text's rows (zeros for an empty text), then inverted dropout
        for d in range(dim):
            h[d] = 0.0
        for t in range(start, start + n):
            r = ids[t]
            for d in range(dim):
                h[d] += emb[r, d]
        if n > 0:
            inv = np.float32(1.0 / n)
            for d in range(dim):
                h[d] *= inv
        if dropout > 0.0:
            for d in range(dim):
                mask[d] = np.float32(1.0 / keep) if np.random.random() >= dropout else 0.0
                h[d] *= mask[d]
        # logits and d loss / d logits
        for c in range(ncls):
            s = np.float64(b[c])
            for d in range(dim):
                s += w[c, d] * h[d]
            z[c] = s
        if ova:
            for c in range(ncls):
                t_c = y_multi[i, c]
                zc = z[c]
                # log(1 + exp(z)) - t z, stable for both signs
                total += max(zc, 0.0) + math.log1p(math.exp(-abs(zc))) - t_c * zc
                g[c] = np.float32(1.0 / (1.0 + math.exp(-zc)) - t_c)
        else:
            m = z[0]
            for c in range(1, ncls):
                m = max(m, z[c])
            s = 0.0
            for c in range(ncls):
                s += math.exp(z[c] - m)
            total += m + math.log(s) - z[y[i]]
            for c in range(ncls):
                g[c] = np.float32(math.exp(z[c] - m) / s)
            g[y[i]] -= 1.0
        # hidden gradient with the output layer before its update (as fastText)
        for d in range(dim):
            grad_h[d] = 0.0
        for c in range(ncls):
            gc = g[c]
            for d in range(dim):
                grad_h[d] += gc * w[c, d]
        # output layer: decoupled weight decay, then the gradient step
        decay = np.float32(1.0 - rate * weight_decay)
        for c in range(ncls):
            step = rate * g[c]
            for d in range(dim):
                w[c, d] = w[c, d] * decay - step * h[d]
            b[c] -= step
        # the text's rows: each gets -lr * grad_h / len (repeated ids accumulate)
        if n > 0:
            scale = np.float32(-rate / n)
            for d in range(dim):
                grad_h[d] *= scale * mask[d]
            for t in range(start, start + n):
                r = ids[t]
                for d in range(dim):
                    emb[r, d] += grad_h[d]
    return total


_compiled = numba.njit(cache=True, fastmath=False, boundscheck=False)(_epoch) if AVAILABLE \
    else None


def train_epoch(
    emb: np.ndarray, w: np.ndarray, b: np.ndarray, ids: np.ndarray, offsets: np.ndarray,
    lengths: np.ndarray, order: np.ndarray, y: np.ndarray, y_multi: np.ndarray, lr: np.ndarray,
    *, dropout: float = 0.0, weight_decay: float = 0.0, ova: bool = False, seed: int = -1,
) -> float:
    """Run the compiled kernel (see ``_epoch``); the first call of a process compiles or loads
    it from the cache, timed in ``compile_seconds()``."""
    global _compile_seconds
    if _compiled is None:
        raise RuntimeError("numba is not installed")
    args = (emb, w, b, np.ascontiguousarray(ids, np.int64),
            np.ascontiguousarray(offsets, np.int64), np.ascontiguousarray(lengths, np.int64),
            np.ascontiguousarray(order, np.int64), np.ascontiguousarray(y, np.int64),
            np.ascontiguousarray(y_multi, np.float32), np.ascontiguousarray(lr, np.float32),
            float(dropout), float(weight_decay), bool(ova), int(seed))
    if _compile_seconds is None:
        t0 = time.perf_counter()
        _compiled.compile(tuple(numba.typeof(a) for a in args))
        _compile_seconds = time.perf_counter() - t0
    return float(_compiled(*args))


def compile_seconds() -> float | None:
    """Seconds this process spent compiling or loading the kernel (None: not used yet)."""
    return _compile_seconds
