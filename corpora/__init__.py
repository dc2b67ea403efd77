"""Corpora: readers for corpus folders (SPEC §2) and the shipped ``demo`` corpus."""

from corpora.readers import (
    DIALOG_REASONS,
    LABELED_REASONS,
    SPLITS,
    Corpus,
    CorpusError,
    CorpusFile,
    SkipStats,
    Stream,
    open_corpus,
    read_lines,
    split_of_name,
)

__all__ = [
    "DIALOG_REASONS", "LABELED_REASONS", "SPLITS", "Corpus", "CorpusError", "CorpusFile",
    "SkipStats", "Stream", "open_corpus", "read_lines", "split_of_name",
]
