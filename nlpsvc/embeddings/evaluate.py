"""Intrinsic evaluation with gensim's own functions: word-pair similarity and analogies.

Pair files are tab-separated ``word1<TAB>word2<TAB>score`` (``#`` lines are comments); analogy
files are the Google ``questions-words.txt`` format (``: section`` lines, then ``a b c d``).
gensim skips malformed lines silently; we count them (``skipped_lines``) so a broken file shows.
OOV ratios are fractions (0..1) of the valid items that had a word outside the vocabulary.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from pathlib import Path
from typing import Any

from gensim.models.fasttext import FastTextKeyedVectors
from gensim.models.keyedvectors import KeyedVectors
from scipy import stats

log = logging.getLogger(__name__)

# The shipped benchmark sets: <repo>/../shared/data/embedding-eval (override with the env var).
EVAL_DIR_ENV = "NLPSVC_EMBEDDING_EVAL"
STANDARD_SETS = {
    "wordsim353": ("pairs", "wordsim353.tsv"),
    "simlex999": ("pairs", "simlex999.txt"),
    "analogies": ("analogies", "questions-words.txt"),
}
PAIRS_RESTRICT = 300_000  # gensim's default for evaluate_word_pairs
ANALOGY_RESTRICT = 30_000  # the usual setting (and the reference anchor's) for analogies


def eval_dir() -> Path:
    env = os.environ.get(EVAL_DIR_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "embedding-eval"


def _finite(x: float) -> float | None:
    x = float(x)
    return round(x, 6) if math.isfinite(x) else None


def _scan_pairs(path: Path) -> tuple[int, int, list[tuple[str, str, float]]]:
    """(valid pairs, malformed lines, pairs) parsed the way gensim parses them."""
    valid, bad, pairs = 0, 0, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            parts = line.rstrip("\r\n").split("\t")
            try:
                if len(parts) != 3:
                    raise ValueError(line)
                pairs.append((parts[0], parts[1], float(parts[2])))
                valid += 1
            except ValueError:
                bad += 1
    return valid, bad, pairs


def evaluate_pairs(
    kv: KeyedVectors, path: str | Path, restrict_vocab: int = PAIRS_RESTRICT
) -> dict[str, Any]:
    """Spearman and Pearson correlation with human scores (gensim ``evaluate_word_pairs``).

    Pairs with a word outside the vocabulary are skipped and counted in ``oov_ratio``. For
    fastText, ``spearman_all`` also scores every pair, unseen words from their subwords.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such pair file")
    valid, bad, pairs = _scan_pairs(path)
    out: dict[str, Any] = {"pairs": valid, "skipped_lines": bad}
    if bad:
        log.warning("%s: skipped %d malformed line(s)", path, bad)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant input -> scipy warning, result is nan
            pearson, spearman, oov_pct = kv.evaluate_word_pairs(
                str(path), restrict_vocab=restrict_vocab, case_insensitive=True
            )
        out.update(spearman=_finite(spearman.statistic), pearson=_finite(pearson.statistic),
                   oov_ratio=round(oov_pct / 100, 6))
    except ValueError:  # gensim: no pair in the vocabulary at all
        out.update(spearman=None, pearson=None, oov_ratio=1.0 if valid else None)
    if isinstance(kv, FastTextKeyedVectors) and kv.bucket and pairs:
        gold = [score for _, _, score in pairs]
        model = [float(kv.similarity(a.lower(), b.lower())) for a, b, _ in pairs]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out["spearman_all"] = _finite(stats.spearmanr(gold, model).statistic)
    return out


def evaluate_analogies(
    kv: KeyedVectors, path: str | Path, restrict_vocab: int = ANALOGY_RESTRICT
) -> dict[str, Any]:
    """Accuracy on analogy questions (gensim ``evaluate_word_analogies``, top-1, case-folded).

    Questions with a word outside the ``restrict_vocab`` most frequent words are skipped and
    counted in ``oov_ratio``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such analogy file")
    valid = bad = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith(":") or not line.strip():
                continue
            if len(line.split()) == 4:
                valid += 1
            else:
                bad += 1
    if bad:
        log.warning("%s: skipped %d malformed line(s)", path, bad)
    score, sections = kv.evaluate_word_analogies(
        str(path), restrict_vocab=restrict_vocab, case_insensitive=True
    )
    total = sections[-1] if sections else {"correct": [], "incorrect": []}
    evaluated = len(total["correct"]) + len(total["incorrect"])
    return {
        "accuracy": _finite(score) if evaluated else None,
        "oov_ratio": round(1 - evaluated / valid, 6) if valid else None,
        "questions": valid,
        "evaluated": evaluated,
        "skipped_lines": bad,
    }


def evaluate_standard(kv: KeyedVectors, folder: str | Path | None = None) -> dict[str, Any]:
    """WordSim-353, SimLex-999 and Google analogies, flattened for the manifest.

    Keys: ``wordsim353_spearman``, ``wordsim353_oov_ratio``, ..., ``analogies_accuracy``,
    ``analogies_oov_ratio``. A set whose file is missing is left out, with a warning.
    """
    folder = Path(folder) if folder is not None else eval_dir()
    metrics: dict[str, Any] = {}
    for name, (kind, filename) in STANDARD_SETS.items():
        path = folder / filename
        if not path.is_file():
            log.warning("embedding evaluation set %s not found at %s; skipped", name, path)
            continue
        if kind == "pairs":
            res = evaluate_pairs(kv, path)
            keys = ("spearman", "pearson", "oov_ratio", "spearman_all")
        else:
            res = evaluate_analogies(kv, path)
            keys = ("accuracy", "oov_ratio")
        metrics.update({f"{name}_{k}": res[k] for k in keys if k in res})
    return metrics
