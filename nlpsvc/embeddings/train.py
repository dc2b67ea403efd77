"""Training word vectors with gensim from a restartable corpus.

gensim makes ``epochs + 1`` passes over the sentences (one to build the vocabulary), so the input
must be a restartable iterable (each ``iter()`` starts again), never a one-shot generator. The
pipeline tokenizes the corpus once into a ``TokenFile`` (one sentence a line, tokens separated by
spaces) so that the passes gensim makes cost a ``str.split`` per line, not a tokenizer run:
memory stays flat whatever the corpus size, and gensim is not slowed down.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gensim.models import FastText, Word2Vec
from gensim.models.callbacks import CallbackAny2Vec
from gensim.models.keyedvectors import KeyedVectors
from gensim.models.phrases import FrozenPhrases, Phrases

from nlpsvc.embeddings.config import EmbeddingsConfig

log = logging.getLogger(__name__)

# gensim's C routines see at most this many words of one sentence (MAX_WORDS_IN_BATCH); longer
# lines are cut into pieces so no word is silently dropped.
MAX_SENTENCE = 10_000


class EmbeddingsError(ValueError):
    """The data cannot give a model (no text, nothing frequent enough, a one-shot iterator)."""


def require_restartable(sentences: Iterable[Any]) -> None:
    """Reject iterators and generators: gensim needs several passes over the same sentences."""
    if isinstance(sentences, Iterator):
        raise EmbeddingsError(
            f"{type(sentences).__name__} is a one-shot iterator, but training makes several "
            "passes; pass a restartable iterable (a list, corpus.sentences(split), TokenFile)"
        )


def _chunks(tokens: list[str]) -> Iterator[list[str]]:
    if len(tokens) <= MAX_SENTENCE:
        yield tokens
        return
    for start in range(0, len(tokens), MAX_SENTENCE):
        yield tokens[start:start + MAX_SENTENCE]


@dataclass
class TokenStats:
    sentences: int = 0
    tokens: int = 0


class TokenFile:
    """A restartable iterable over a file of space-separated tokens, one sentence a line."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __iter__(self) -> Iterator[list[str]]:
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                tokens = line.split()
                if tokens:
                    yield from _chunks(tokens)

    @classmethod
    def write(
        cls,
        path: str | Path,
        sentences: Iterable[list[str]],
        transform: Callable[[list[str]], list[str]] | None = None,
    ) -> tuple[TokenFile, TokenStats]:
        """Stream ``sentences`` (optionally through ``transform``) into ``path`` in one pass."""
        stats = TokenStats()
        with open(path, "w", encoding="utf-8") as f:
            for tokens in sentences:
                if transform is not None:
                    tokens = transform(tokens)
                if not tokens:
                    continue
                # A token never holds whitespace (both tokenizers split on it), so split() in
                # __iter__ gives back exactly these tokens.
                f.write(" ".join(tokens))
                f.write("\n")
                stats.sentences += 1
                stats.tokens += len(tokens)
        return cls(path), stats


class _Mapped:
    """A restartable iterable applying ``fn`` to each sentence of another one."""

    def __init__(self, source: Iterable[list[str]], fn: Callable[[list[str]], list[str]]) -> None:
        self.source, self.fn = source, fn

    def __iter__(self) -> Iterator[list[str]]:
        fn = self.fn
        for tokens in self.source:
            yield fn(tokens)


def learn_phrases(sentences: Iterable[list[str]], config: EmbeddingsConfig) -> FrozenPhrases:
    """One pass of gensim ``Phrases``; the frozen result joins collocations with ``_``."""
    require_restartable(sentences)
    phrases = Phrases(
        sentences, min_count=config.phrases_min_count, threshold=config.phrases_threshold
    )
    return phrases.freeze()


def apply_phrases(sentences: Iterable[list[str]], frozen: FrozenPhrases) -> Iterable[list[str]]:
    """Sentences with detected phrases joined (restartable, lazy)."""
    return _Mapped(sentences, lambda tokens: frozen[tokens])


class _Progress(CallbackAny2Vec):
    """A tqdm bar over all epochs, counted in raw words; tqdm shows the words/s.

    gensim calls the epoch hooks once an epoch, and the counting wrapper below touches the bar
    once per ~64k words, so the bar costs nothing measurable.
    """

    def __init__(self, total_words: int, epochs: int) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total_words * epochs, unit="word", unit_scale=True,
                        desc="embeddings", smoothing=0.1)
        self.epochs, self.epoch = epochs, 0
        self.pending = 0

    def on_epoch_begin(self, model: Any) -> None:
        self.epoch += 1
        self.bar.set_description(f"embeddings epoch {self.epoch}/{self.epochs}")

    def on_epoch_end(self, model: Any) -> None:
        # Align the bar with whole epochs (the reader runs ahead of training by its queue).
        target = self.bar.total * self.epoch // self.epochs
        if target > self.bar.n:
            self.bar.update(target - self.bar.n)
        self.pending = 0

    def count(self, words: int) -> None:
        self.pending += words
        if self.pending >= 65_536:
            ceiling = self.bar.total * self.epoch // self.epochs
            step = min(self.pending, max(0, ceiling - self.bar.n))
            if step:
                self.bar.update(step)
            self.pending = 0

    def close(self) -> None:
        self.bar.close()


class _Counted:
    """Sentences passed through unchanged, reporting word counts to the progress bar."""

    def __init__(self, source: Iterable[list[str]], progress: _Progress) -> None:
        self.source, self.progress = source, progress

    def __iter__(self) -> Iterator[list[str]]:
        count = self.progress.count
        for tokens in self.source:
            count(len(tokens))
            yield tokens


@dataclass
class FitResult:
    """The trained vectors and what training cost."""

    wv: KeyedVectors
    stats: dict[str, Any] = field(default_factory=dict)


def build_model(config: EmbeddingsConfig) -> Word2Vec:
    """An untrained gensim model with the config's parameters."""
    common: dict[str, Any] = dict(
        vector_size=config.vector_size, window=config.window, min_count=config.min_count,
        workers=config.n_workers, seed=config.seed, sample=config.sample,
        negative=config.negative, hs=int(config.hs), epochs=config.epochs, alpha=config.alpha,
        min_alpha=config.min_alpha, max_final_vocab=config.max_vocab or None,
    )
    if config.algorithm == "fasttext":
        return FastText(sg=1, min_n=config.min_n, max_n=config.max_n, bucket=config.bucket,
                        **common)
    return Word2Vec(sg=int(config.algorithm == "skipgram"), **common)


def fit(
    sentences: Iterable[list[str]], config: EmbeddingsConfig, *, progress: bool = False
) -> FitResult:
    """Build the vocabulary and train; return the ``KeyedVectors`` and training figures.

    ``stats`` holds ``words_per_second``: gensim's effective words (after down-sampling and
    ``min_count``) per second of ``train()``, the figure gensim itself logs.
    """
    config.check()
    require_restartable(sentences)
    model = build_model(config)
    t0 = time.perf_counter()
    model.build_vocab(corpus_iterable=sentences)
    vocab_seconds = time.perf_counter() - t0
    if model.corpus_total_words == 0:
        raise EmbeddingsError("the corpus has no words to train embeddings on")
    if len(model.wv) == 0:
        raise EmbeddingsError(
            f"no word occurs at least embeddings.min_count={config.min_count} times in the "
            f"corpus ({model.corpus_total_words} words in all); lower embeddings.min_count "
            "or give more text"
        )
    bar = _Progress(model.corpus_total_words, config.epochs) if progress else None
    t1, cpu1 = time.perf_counter(), time.process_time()
    try:
        trained, raw = model.train(
            corpus_iterable=_Counted(sentences, bar) if bar else sentences,
            total_examples=model.corpus_count, epochs=model.epochs,
            callbacks=[bar] if bar else (),
        )
    finally:
        if bar is not None:
            bar.close()
    train_seconds = time.perf_counter() - t1
    cpu_seconds = time.process_time() - cpu1  # all threads: steadier than wall time under load
    stats = {
        "sentences": model.corpus_count,
        "words": model.corpus_total_words,
        "vocab_size": len(model.wv),
        "vocab_seconds": round(vocab_seconds, 3),
        "train_seconds": round(train_seconds, 3),
        "effective_words": trained,
        "raw_words": raw,
        "words_per_second": round(trained / train_seconds) if train_seconds > 0 else None,
        "train_cpu_seconds": round(cpu_seconds, 3),
        "words_per_cpu_second": round(trained / cpu_seconds) if cpu_seconds > 0 else None,
        "workers": config.n_workers,
    }
    log.info("embeddings: %s", stats)
    return FitResult(model.wv, stats)
