"""Word vectors given at training time to start a model's word rows from.

``classifier.pretrained`` and ``chatbot.pretrained_embeddings`` name a file or folder in any of
the forms people have vectors in, so nobody has to convert first:

* a word2vec file, text or binary (``.gz`` too), as ``nlpsvc export --format word2vec[-binary]``,
  word2vec's own tool or fastText's ``.vec`` write it;
* an nlpsvc embeddings artifact: a version folder, a kind folder (its ``CURRENT`` version, hashes
  checked) or a folder of the files ``save_vectors`` writes;
* a gensim ``KeyedVectors.save`` file (``.kv``). That is a pickle: only name your own files
  (it is read at training time, never by the server).
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path
from typing import IO

from gensim.models.keyedvectors import KeyedVectors

from nlpsvc.artifacts import CURRENT, MANIFEST, load_current, verify
from nlpsvc.embeddings.model import load_artifact, load_vectors

log = logging.getLogger(__name__)

PICKLE_PROTO = b"\x80"  # first byte of a protocol 2+ pickle (gensim's .kv)


def read_pretrained(path: str | Path) -> KeyedVectors:
    """The word vectors at ``path`` (see the module doc for the accepted forms)."""
    path = Path(path)
    if path.is_dir():
        if (path / CURRENT).is_file():
            return load_artifact(load_current(path)).kv
        if (path / MANIFEST).is_file():
            return load_artifact(verify(path)).kv
        return load_vectors(path)
    with _open(path) as f:
        first = f.read(1)
    if first == PICKLE_PROTO and not path.name.endswith(".gz"):
        log.info("%s: a gensim KeyedVectors pickle (training-time input only)", path.name)
        return KeyedVectors.load(str(path), mmap="r")
    return KeyedVectors.load_word2vec_format(str(path), binary=word2vec_is_binary(path))


def word2vec_is_binary(path: str | Path) -> bool:
    """Whether a word2vec file is the binary format: its first row after the ``COUNT DIM``
    header is not a word and DIM numbers in text."""
    path = Path(path)
    with _open(path) as f:
        header = f.readline()
        try:
            _, dim = (int(x) for x in header.split())
        except ValueError:
            raise ValueError(
                f"{path}: not word vectors: a word2vec file starts with 'COUNT DIM' (got "
                f"{header[:40]!r}); also accepted: an nlpsvc embeddings folder or a gensim .kv"
            ) from None
        row = f.readline(64 + 64 * dim)
    if not row:
        return False  # no rows: either reader gives the same empty vectors
    try:
        fields = row.decode("utf-8").split()
        if len(fields) != dim + 1:
            return True
        [float(x) for x in fields[1:]]
    except (UnicodeDecodeError, ValueError):
        return True
    return False


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")
