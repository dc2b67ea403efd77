"""Corpora: readers for corpus folders (SPEC §2) and the shipped ``demo`` corpus."""

from corpora.readers import (
    SPLITS,
    Corpus,
    CorpusError,
    CorpusFile,
    Stream,
    open_corpus,
    read_lines,
    split_of_name,
)

__all__ = [
    "SPLITS", "Corpus", "CorpusError", "CorpusFile", "Stream", "open_corpus", "read_lines",
    "split_of_name",
]
