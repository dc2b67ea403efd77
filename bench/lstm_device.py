"""PTB LSTM configurations on a lent GPU (the ``device`` tool), for the LSTM section's table.

Not part of ``make bench`` (it needs a GPU): its figures are stored in
``bench/results/lstm_device_h100.json`` and quoted, labelled, by ``bench.lstm``. Each run trains
with ``lstm.device = "cuda"`` under a wall-clock cap and reports the figures ``bench.lstm``
reports on the CPU: per-sentence valid/test perplexity (the ``/score`` convention), the
running-text test figure papers use (``carry_state``), and the mix with KenLM's KN5 (the
reference ARPA, test perplexity 141.19), λ tuned on valid.

    python -m bench.lstm_device prepare DIR    # here: PTB + KN5 per-token log10 -> DIR
    python -m bench.lstm_device run DIR [NAME...]   # there, with DIR carried; JSON to $OUT
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from nlpsvc.lstm.config import LstmConfig
from nlpsvc.lstm.data import BpttBatches, build_vocab, stream_ids
from nlpsvc.lstm.lm import LstmLM
from nlpsvc.lstm.mix import interpolate, tune_lambda
from nlpsvc.lstm.model import LSTMNet
from nlpsvc.lstm.train import fit

ROOT = Path(__file__).resolve().parent.parent
PTB = ROOT.parent / "shared" / "data" / "ptb"
KN5_ARPA = ROOT.parent / "shared" / "reference" / "kenlm" / "ptb.o5.arpa.gz"
ADAPTIVE = {"softmax": "adaptive", "tie_weights": False, "cutoffs": [2000]}
FULL = {"softmax": "full", "tie_weights": True}
RUNS: dict[str, dict] = {
    "small-full": {**FULL, "epochs": 7, "max_minutes": 1.2},
    "small-adaptive": {**ADAPTIVE, "epochs": 15, "max_minutes": 1.5},
    "small-adaptive-dropout0.35": {**ADAPTIVE, "epochs": 15, "max_minutes": 1.5,
                                   "dropout_emb": 0.35, "dropout": 0.35, "dropout_out": 0.35},
    "medium-full": {**FULL, "embedding_dim": 650, "hidden_size": 650, "dropout_emb": 0.5,
                    "dropout": 0.5, "dropout_out": 0.5, "lr": 1e-3, "bptt": 35, "epochs": 40,
                    "max_minutes": 3.0},
}


def _read(folder: Path, split: str) -> list[list[str]]:
    with open(folder / f"ptb.{split}.txt", encoding="utf-8") as f:
        return [line.split() for line in f if line.strip()]


def prepare(folder: Path) -> None:
    """PTB files and KenLM KN5's per-token log10 on valid/test (``<unk>`` renamed as KenLM's
    reference models were trained, ``../shared/reference/kenlm/README.md``)."""
    from nlpsvc.ngram import NgramModel

    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid", "test"):
        shutil.copy(PTB / f"ptb.{split}.txt", folder)
    kn5 = NgramModel.from_arpa(KN5_ARPA)
    for split in ("valid", "test"):
        sents = [[w if w != "<unk>" else "<unk_lit>" for w in s] for s in _read(folder, split)]
        lp = np.concatenate([[t.log10_prob for t in r.per_token]
                             for r in kn5.score_batch(sents, per_token=True)])
        np.save(folder / f"kn5_{split}.npy", lp)


def run(folder: Path, names: list[str], out: Path) -> list[dict]:
    train, valid, test = (_read(folder, s) for s in ("train", "valid", "test"))
    kn5 = {s: np.load(folder / f"kn5_{s}.npy") for s in ("valid", "test")}
    vocab = build_vocab(train)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    results = []
    for name in names or list(RUNS):
        cfg = LstmConfig(device=device, **RUNS[name])
        batches = BpttBatches.from_stream(stream_ids(train, vocab), cfg.batch_size, cfg.bptt)
        torch.manual_seed(cfg.seed)
        lm = LstmLM(LSTMNet(cfg.model_config(len(vocab))).to(device), vocab, 128)
        t0 = time.time()
        fitted = fit(lm, batches, valid, cfg, progress=False)
        row = {"name": name, "config": RUNS[name], "train_s": round(time.time() - t0, 1),
               "epochs": len(fitted.history), "stopped": fitted.stopped,
               "best_epoch": fitted.best_epoch,
               "history": [(h["epoch"], h["train_ppl"], h["valid_ppl"], h["seconds"])
                           for h in fitted.history]}
        lp = {s: np.concatenate(lm.token_log10(lm.encode(x)))
              for s, x in (("valid", valid), ("test", test))}
        for s in lp:
            row[f"{s}_ppl"] = round(10 ** (-lp[s].mean()), 2)
        row["test_ppl_carry"] = round(lm.evaluate_running(test)["perplexity"], 2)
        row["lambda"] = lam = tune_lambda(lp["valid"], kn5["valid"])
        for s in lp:
            row[f"mix_{s}_ppl"] = round(10 ** (-interpolate(lp[s], kn5[s], lam).mean()), 2)
        print(json.dumps(row), flush=True)
        results.append(row)
        (out / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    return results


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[0] not in ("prepare", "run"):
        print(__doc__, file=sys.stderr)
        return 2
    if args[0] == "prepare":
        prepare(Path(args[1]))
    else:
        run(Path(args[1]), args[2:], Path(os.environ.get("OUT", ".")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
