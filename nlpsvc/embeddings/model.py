"""Trained vectors as served: queries, saving, loading from an artifact, word2vec export.

Files of an embeddings artifact, data only (no pickle: whoever can write the models folder must
not be able to run code in the server), every array its own ``.npy`` memory-mapped at load so N
server processes share one copy:

* ``vectors.npy`` — the word vectors, float32, row i = word i (fastText: the in-vocabulary
  vectors as trained, so nothing is recomposed at load).
* ``vocab.json`` — the words in row order, their training counts, and for fastText the subword
  settings (``min_n``, ``max_n``, ``bucket``).
* ``vectors.ngrams.npy`` — fastText only: the character n-gram bucket vectors that compose a
  vector for an unseen word.
* ``vectors.unit.npy`` — the vectors with unit rows (float32): exact cosine search is one faiss
  inner-product scan over it (``faiss.knn``), with gensim's ``most_similar`` rules; without it
  search falls back to gensim's.
* ``ann.faiss`` — optional approximate index (see ``index.py``).

Loading rebuilds gensim ``KeyedVectors`` (``FastTextKeyedVectors``) around the mapped arrays, so
queries keep gensim's arithmetic. An artifact with gensim's pickled ``vectors.kv`` (before this
format) is refused with the command that re-trains it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gensim.models.fasttext import FastTextKeyedVectors
from gensim.models.keyedvectors import KeyedVectors

from nlpsvc.artifacts import Artifact, load_current, refuse_pickle
from nlpsvc.embeddings.index import AnnIndex, exact_search, normalized
from nlpsvc.text import TextConfig, Tokenizer

log = logging.getLogger(__name__)

VECTORS = "vectors.npy"
VOCAB = "vocab.json"
NGRAMS = "vectors.ngrams.npy"
UNIT = "vectors.unit.npy"
LEGACY = "vectors.kv"  # gensim's pickle (+ .npy arrays): refused
FORMAT, FORMAT_VERSION = "nlpsvc-vectors", 1


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
    """Write the data-only files (``vectors.npy``, ``vocab.json``, fastText's
    ``vectors.ngrams.npy``) plus the unit-row matrix exact search scans."""
    folder = Path(folder)
    vectors = np.ascontiguousarray(kv.vectors, dtype=np.float32)
    meta: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION,
                            "words": list(kv.index_to_key), "fasttext": None}
    if "count" in kv.expandos:
        meta["counts"] = [int(c) for c in kv.expandos["count"]]
    if isinstance(kv, FastTextKeyedVectors):
        meta["fasttext"] = {"min_n": kv.min_n, "max_n": kv.max_n, "bucket": kv.bucket}
        np.save(folder / NGRAMS, np.ascontiguousarray(kv.vectors_ngrams, dtype=np.float32),
                allow_pickle=False)
    np.save(folder / VECTORS, vectors, allow_pickle=False)
    (folder / VOCAB).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    np.save(folder / UNIT, normalized(vectors), allow_pickle=False)
    return folder / VECTORS


def load_vectors(folder: str | Path, mmap: str | None = "r",
                 file: Callable[[str], Path] | None = None) -> KeyedVectors:
    """gensim vectors rebuilt around the saved arrays (mapped read-only with ``mmap="r"``).

    ``file(name)`` gives each file's path (an artifact's ``Artifact.file``: only files its
    manifest lists and hashes); by default the files of ``folder``.
    """
    file = file or Path(folder).joinpath
    meta = json.loads(file(VOCAB).read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{VOCAB}: format {meta.get('format')!r} v{meta.get('format_version')!r},"
                         f" this nlpsvc reads {FORMAT} v{FORMAT_VERSION}; re-train the model")
    words = meta["words"]
    vectors = np.load(file(VECTORS), mmap_mode=mmap, allow_pickle=False)
    if vectors.ndim != 2 or vectors.shape[0] != len(words) or vectors.dtype != np.float32:
        raise ValueError(f"{VECTORS}: {vectors.shape} {vectors.dtype}, expected "
                         f"({len(words)}, dim) float32 for the {len(words)} words of {VOCAB}")
    dim = vectors.shape[1]
    ft = meta.get("fasttext")
    kv: KeyedVectors
    if ft:
        kv = FastTextKeyedVectors(dim, int(ft["min_n"]), int(ft["max_n"]), int(ft["bucket"]))
        ngrams = np.load(file(NGRAMS), mmap_mode=mmap, allow_pickle=False)
        if ngrams.shape != (kv.bucket, dim) or ngrams.dtype != np.float32:
            raise ValueError(f"{NGRAMS}: {ngrams.shape} {ngrams.dtype}, expected "
                             f"({kv.bucket}, {dim}) float32")
        kv.vectors_ngrams = ngrams
    else:
        kv = KeyedVectors(dim)
    kv.vectors = vectors
    kv.index_to_key = list(words)
    kv.key_to_index = {w: i for i, w in enumerate(words)}
    if len(kv.key_to_index) != len(words):
        raise ValueError(f"{VOCAB}: a word is listed twice")
    counts = meta.get("counts")
    if counts is not None:
        if len(counts) != len(words):
            raise ValueError(f"{VOCAB}: {len(counts)} counts for {len(words)} words")
        kv.allocate_vecattrs(attrs=["count"], types=[np.int64])
        kv.expandos["count"][:] = counts
    kv.fill_norms()  # once here, not on the first request
    return kv


def load_unit(path: str | Path, kv: KeyedVectors, mmap: str | None = "r") -> np.ndarray | None:
    """The stored unit-row matrix, or None (with a warning) when it does not fit ``kv``."""
    unit = np.load(path, mmap_mode=mmap, allow_pickle=False)
    if unit.shape != (len(kv), kv.vector_size) or unit.dtype != np.float32:
        log.warning("%s is %s %s, not (%d, %d) float32: exact search falls back to gensim",
                    Path(path).name, unit.shape, unit.dtype, len(kv), kv.vector_size)
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
    if LEGACY in files:
        raise refuse_pickle(artifact, f"its vectors as gensim's {LEGACY}")
    kv = load_vectors(artifact.path, mmap=mmap, file=artifact.file)
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
