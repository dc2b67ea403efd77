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
from corpora.records import hash_fraction, hash_split, parse_labeled

__all__ = [
    "DIALOG_REASONS", "LABELED_REASONS", "SPLITS", "Corpus", "CorpusError", "CorpusFile",
    "SkipStats", "Stream", "hash_fraction", "hash_split", "open_corpus", "parse_labeled",
    "read_lines", "split_of_name",
]
