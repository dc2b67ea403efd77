"""Trained vectors as served: queries, saving, loading from an artifact, word2vec export.

Files of an embeddings artifact:

* ``vectors.kv`` + ``vectors.kv.*.npy`` — gensim ``KeyedVectors`` (``FastTextKeyedVectors`` for
  fastText) saved with ``sep_limit=0``, so every array is its own ``.npy`` and
  ``KeyedVectors.load(path, mmap="r")`` memory-maps them: N server processes share one copy.
  (gensim's default keeps arrays under 10 MB inside the pickle, where mmap cannot reach them.)
  gensim recomposes fastText's in-vocabulary vectors at load time (it does not save them); its
  big n-gram bucket array stays mapped.
* ``vectors.unit.npy`` — the vectors with unit rows (float32, row i = word i), memory-mapped:
  exact cosine search is one faiss inner-product scan over it (``faiss.knn``), with gensim's
  ``most_similar`` rules. Artifacts written before it existed fall back to gensim's search.
* ``vectors.words.npy`` — fastText only: the in-vocabulary vectors as trained, mapped over the
  copy gensim recomposes at load, so workers share them instead of holding one each.
* ``ann.faiss`` — optional approximate index (see ``index.py``).

The pickle inside ``vectors.kv`` is only ever loaded from a hash-checked artifact.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gensim.models.fasttext import FastTextKeyedVectors
from gensim.models.keyedvectors import KeyedVectors

from nlpsvc.artifacts import Artifact, load_current
from nlpsvc.embeddings.index import AnnIndex, exact_search, normalized
from nlpsvc.text import TextConfig, Tokenizer

log = logging.getLogger(__name__)

VECTORS = "vectors.kv"
UNIT = "vectors.unit.npy"
WORDS = "vectors.words.npy"


class UnknownWord(KeyError):
    """A word with no vector (word2vec models only: fastText composes one from subwords)."""

    def __init__(self, word: str, where: str | None = None) -> None:
        super().__init__(word)
        self.word, self.where = word, where

    def __str__(self) -> str:
        return f"word {self.word!r} is not in the vocabulary"


@dataclass
class Neighbour:
    word: str
    score: float


def save_vectors(kv: KeyedVectors, folder: str | Path) -> Path:
    """Save so that every array is a separate, memory-mappable ``.npy`` file, plus the
    unit-row matrix exact search scans (and fastText's in-vocabulary vectors)."""
    folder = Path(folder)
    path = folder / VECTORS
    kv.save(str(path), sep_limit=0)
    np.save(folder / UNIT, normalized(kv.vectors))
    if isinstance(kv, FastTextKeyedVectors):
        np.save(folder / WORDS, np.ascontiguousarray(kv.vectors, dtype=np.float32))
    return path


def load_vectors(path: str | Path, mmap: str | None = "r",
                 words: str | Path | None = None) -> KeyedVectors:
    kv = KeyedVectors.load(str(path), mmap=mmap)
    if words is not None and isinstance(kv, FastTextKeyedVectors):
        stored = np.load(words, mmap_mode=mmap)
        if stored.shape == kv.vectors.shape:
            kv.vectors = stored  # the recomposed private copy is freed
        else:
            log.warning("%s has shape %s, not %s: ignored", words, stored.shape,
                        kv.vectors.shape)
    kv.fill_norms()  # once here, not on the first request
    return kv


def load_unit(path: str | Path, kv: KeyedVectors, mmap: str | None = "r") -> np.ndarray | None:
    """The stored unit-row matrix, or None (with a warning) when it does not fit ``kv``."""
    unit = np.load(path, mmap_mode=mmap)
    if unit.shape != (len(kv), kv.vector_size) or unit.dtype != np.float32:
        log.warning("%s is %s %s, not (%d, %d) float32: exact search falls back to gensim",
                    path, unit.shape, unit.dtype, len(kv), kv.vector_size)
        return None
    return unit


class EmbeddingModel:
    """Word vectors plus the tokenizer settings they were trained with and an optional index.

    Query words are normalised like the training text (Unicode form, lower-casing) but not
    split: a query is one vocabulary item (``new_york`` when phrases were learnt).
    """

    def __init__(
        self, kv: KeyedVectors, text: TextConfig | None = None, index: AnnIndex | None = None,
        unit: np.ndarray | None = None,
    ) -> None:
        self.kv = kv
        self.tokenizer = Tokenizer(text or TextConfig())
        self.index = index
        self.unit = unit  # unit rows for exact search; None: gensim's most_similar

    @property
    def subwords(self) -> bool:
        """True when unseen words get vectors from character n-grams (fastText)."""
        return isinstance(self.kv, FastTextKeyedVectors) and self.kv.bucket > 0

    @property
    def vocab_size(self) -> int:
        return len(self.kv)

    def normalize(self, word: str) -> str:
        return self.tokenizer.normalize(word).strip()

    def known(self, word: str) -> bool:
        """In the trained vocabulary (after normalisation)."""
        return self.kv.has_index_for(self.normalize(word))

    def _resolve(self, words: list[str], where: list[str] | None = None) -> tuple[list[str], bool]:
        """Normalised words and whether any was unseen; word2vec raises ``UnknownWord``."""
        out, oov = [], False
        for i, word in enumerate(words):
            key = self.normalize(word)
            if not self.kv.has_index_for(key):
                if not self.subwords or not key:
                    raise UnknownWord(word, where[i] if where else None)
                oov = True
            out.append(key)
        return out, oov

    def vector(self, word: str) -> tuple[np.ndarray, bool]:
        (key,), oov = self._resolve([word])
        return np.asarray(self.kv.get_vector(key), dtype=np.float32), oov

    def most_similar(
        self, positive: list[str], negative: list[str] | None = None, topn: int = 10,
        where: list[str] | None = None,
    ) -> tuple[list[Neighbour], bool]:
        """Nearest words to the mean of ``positive`` minus ``negative`` (cosine, gensim's rule).

        The query words themselves are never returned. Exact unless an index is loaded: one
        faiss inner-product scan over the stored unit rows (``faiss.knn``, no copy of the
        mapped matrix), or gensim's ``most_similar`` for artifacts without them.
        """
        negative = negative or []
        keys, oov = self._resolve(list(positive) + list(negative), where)
        pos, neg = keys[:len(positive)], keys[len(positive):]
        topn = min(topn, self.vocab_size)
        if self.index is None and self.unit is None:
            pairs = self.kv.most_similar(positive=pos, negative=neg, topn=topn)
            return [Neighbour(w, float(s)) for w, s in pairs], oov
        # gensim's query: the mean of the unit vectors (negatives weighted -1), made unit.
        weights = np.concatenate([np.ones(len(pos)), -np.ones(len(neg))])
        mean = self.kv.get_mean_vector(keys, weights, pre_normalize=True, post_normalize=True)
        skip = {self.kv.get_index(k) for k in keys if self.kv.has_index_for(k)}
        k = min(topn + len(skip), self.vocab_size)
        if self.index is not None:
            scores, ids = self.index.search(mean, k)
        else:
            scores, ids = exact_search(self.unit, mean, k)
        found = [
            Neighbour(self.kv.index_to_key[i], float(s))
            for i, s in zip(ids[0], scores[0], strict=True) if i >= 0 and i not in skip
        ]
        return found[:topn], oov

    def similarity(self, a: str, b: str, where: list[str] | None = None) -> tuple[float, bool]:
        """Cosine similarity of two words, and whether either was unseen."""
        (ka, kb), oov = self._resolve([a, b], where)
        return float(self.kv.similarity(ka, kb)), oov


def pin_threads() -> None:
    """One BLAS (and OpenMP) thread per process: a single query is too small to split, and on a
    server the workers already use every core, so extra threads only hand work back and forth.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    try:
        import faiss

        faiss.omp_set_num_threads(1)
    except ImportError:
        pass


def load_artifact(artifact: Artifact, mmap: str | None = "r") -> EmbeddingModel:
    """The model of a verified embeddings artifact (the service registry's entry point)."""
    files = artifact.manifest.get("files", {})
    kv = load_vectors(artifact.file(VECTORS), mmap=mmap,
                      words=artifact.file(WORDS) if WORDS in files else None)
    unit = load_unit(artifact.file(UNIT), kv, mmap=mmap) if UNIT in files else None
    index = None
    ann = artifact.manifest.get("ann") or {}
    if AnnIndex.FILE in files:
        index = AnnIndex.load(artifact.file(AnnIndex.FILE), int(ann.get("ef_search", 64)))
    return EmbeddingModel(kv, TextConfig.from_dict(artifact.manifest.get("text")), index, unit)


def open_model(models_dir: str | Path) -> EmbeddingModel:
    """The served (CURRENT) embeddings of a model set, ``models/<corpus-name>``."""
    return load_artifact(load_current(Path(models_dir) / "embeddings"))


def export_word2vec(model: EmbeddingModel, output: str | Path, binary: bool = False) -> Path:
    """Write the word vectors in the word2vec text (or binary) format, atomically.

    fastText models export their in-vocabulary word vectors (the format has no subwords).
    """
    output = Path(output)
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        model.kv.save_word2vec_format(str(tmp), binary=binary)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    return output


def cli_eval(artifact: Artifact, args: Any) -> dict[str, Any]:
    """``nlpsvc eval --kind embeddings --pairs FILE | --analogies FILE``."""
    from nlpsvc.embeddings.evaluate import evaluate_analogies, evaluate_pairs

    pairs, analogies = getattr(args, "pairs", None), getattr(args, "analogies", None)
    if bool(pairs) == bool(analogies):
        raise ValueError("eval --kind embeddings needs --pairs FILE or --analogies FILE")
    model = load_artifact(artifact)
    if pairs:
        return evaluate_pairs(model.kv, pairs)
    return evaluate_analogies(model.kv, analogies)


EXPORT_FORMATS = ("word2vec", "word2vec-binary")


def cli_export(artifact: Artifact, fmt: str, output: str | Path) -> None:
    """``nlpsvc export --kind embeddings --format word2vec[-binary] --output FILE``."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"embeddings export formats: {', '.join(EXPORT_FORMATS)}; not {fmt!r}")
    model = load_artifact(artifact)
    model.kv.save_word2vec_format(str(output), binary=fmt == "word2vec-binary")


def describe(model: EmbeddingModel) -> dict[str, Any]:
    return {"vocab_size": model.vocab_size, "vector_size": model.kv.vector_size,
            "subwords": model.subwords, "ann": model.index is not None,
            "exact_search": "faiss" if model.unit is not None else "gensim"}
