"""Nearest-neighbour search over unit vectors: exact (one faiss scan) and approximate (HNSW).

Exact search is an inner-product scan over the whole vocabulary: fine up to ~100k words,
linear beyond. Above ``ann_threshold`` words the pipeline builds an HNSW graph over the
unit-normalised vectors (inner product = cosine), raises ``efSearch`` until recall@10 against
exact search reaches the target, and stores that recall in the manifest. The index file is read
with ``IO_FLAG_MMAP_IFC`` so its vector storage is memory-mapped and shared between workers.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

HNSW_M = 32  # graph degree: recall/memory trade-off
EF_CONSTRUCTION = 80
EF_SEARCH_STEPS = (32, 48, 64, 96, 128, 192, 256, 384, 512)
RECALL_QUERIES = 1000


def _faiss() -> Any:
    import faiss  # imported only when an index is built or loaded

    return faiss


def normalized(vectors: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    """A float32 copy of ``vectors`` with unit rows (zero rows stay zero)."""
    out = np.empty(vectors.shape, dtype=np.float32)
    for start in range(0, len(vectors), chunk):
        block = np.asarray(vectors[start:start + chunk], dtype=np.float32)
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        out[start:start + chunk] = block / np.maximum(norms, 1e-12)
    return out


def exact_top(unit: np.ndarray, queries: np.ndarray, k: int, exclude: np.ndarray) -> np.ndarray:
    """Row ids of the ``k`` best cosine matches of each query, ``exclude[i]`` left out."""
    scores = queries @ unit.T  # (Q, V)
    scores[np.arange(len(queries)), exclude] = -np.inf
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(top, order, axis=1)


def exact_search(unit: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids), shape (1, k): the ``k`` rows of ``unit`` with the largest inner product
    with ``query``, best first. faiss reads the (mapped) array in place; ids are -1 past the
    end."""
    faiss = _faiss()
    q = np.ascontiguousarray(np.atleast_2d(query), dtype=np.float32)
    return faiss.knn(q, unit, k, metric=faiss.METRIC_INNER_PRODUCT)


class AnnIndex:
    """A faiss HNSW inner-product index over unit vectors, row i = vocabulary word i."""

    FILE = "ann.faiss"

    def __init__(self, index: Any, ef_search: int) -> None:
        self.index = index
        self.ef_search = ef_search
        index.hnsw.efSearch = ef_search

    @classmethod
    def build(cls, vectors: np.ndarray, m: int = HNSW_M) -> tuple[AnnIndex, np.ndarray]:
        """The index and the unit vectors it was built from (for recall measurement)."""
        faiss = _faiss()
        unit = normalized(vectors)
        index = faiss.IndexHNSWFlat(unit.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = EF_CONSTRUCTION
        index.add(unit)
        return cls(index, EF_SEARCH_STEPS[0]), unit

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of shape (Q, k); ids are -1 where fewer than k were found."""
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        return self.index.search(q, k)

    def recall_at(self, unit: np.ndarray, sample: np.ndarray, k: int = 10) -> float:
        """Mean overlap of the ANN and exact top-k of vocabulary words (each word excluded)."""
        truth = exact_top(unit, unit[sample], k, sample)
        _, ids = self.search(unit[sample], k + 1)
        hits = 0
        for row, own, exact in zip(ids, sample, truth, strict=True):
            found = [i for i in row if i != own and i >= 0][:k]
            hits += len(set(found) & set(exact.tolist()))
        return hits / (k * len(sample))

    def tune(self, unit: np.ndarray, target: float, seed: int = 0, k: int = 10) -> dict[str, Any]:
        """Smallest efSearch reaching ``target`` recall@k; returns what goes into the manifest."""
        rng = np.random.default_rng(seed)
        n = len(unit)
        sample = rng.choice(n, size=min(RECALL_QUERIES, n), replace=False)
        recall = 0.0
        for ef in EF_SEARCH_STEPS:
            self.index.hnsw.efSearch = self.ef_search = ef
            recall = self.recall_at(unit, sample, k)
            if recall >= target:
                break
        t0 = time.perf_counter()
        self.search(unit[sample[:200]], k + 1)
        per_query_ms = (time.perf_counter() - t0) / min(200, len(sample)) * 1000
        return {
            "library": "faiss", "type": "IndexHNSWFlat", "M": int(self.index.hnsw.nb_neighbors(1)),
            "ef_construction": EF_CONSTRUCTION, "ef_search": self.ef_search,
            f"recall_at_{k}": round(recall, 4), "recall_queries": int(len(sample)),
            "query_ms": round(per_query_ms, 4), "reached_target": recall >= target,
        }

    def save(self, path: str | Path) -> None:
        _faiss().write_index(self.index, str(path))

    @classmethod
    def load(cls, path: str | Path, ef_search: int) -> AnnIndex:
        faiss = _faiss()
        return cls(faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC), ef_search)


def build_index(vectors: np.ndarray, target: float, seed: int = 0) -> tuple[AnnIndex | None, dict]:
    """Build and tune an index; None (with the reason in the info) if it misses ``target``."""
    t0 = time.perf_counter()
    index, unit = AnnIndex.build(vectors)
    info = index.tune(unit, target, seed=seed)
    info["build_seconds"] = round(time.perf_counter() - t0, 3)
    if not info["reached_target"]:
        log.warning("ANN index recall@10 %.3f < %.2f; serving exact search", info["recall_at_10"],
                    target)
        return None, info
    return index, info
