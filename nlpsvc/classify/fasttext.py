"""Training and inference of the fastText-style PyTorch classifier (variant ``fasttext``).

The recipe is fastText's ``train_supervised``: words and hashed word n-grams, averaged, one
linear layer, softmax (or one-vs-all sigmoids for multi-label data), SGD whose learning rate
decays linearly to zero over the planned epochs. Added here: shuffled mini-batches, dropout,
weight decay on the output layer, early stopping on the validation split (best epoch kept),
a seed, and optional init of word rows from word2vec vectors.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nlpsvc.classify.config import ClassifierConfig
from nlpsvc.classify.features import Bags, Featurizer
from nlpsvc.classify.model import FastTextModule, FastTextModuleConfig
from nlpsvc.text import TextConfig

log = logging.getLogger(__name__)

WEIGHTS = "fasttext.pt"
META = "fasttext.json"
PREDICT_CHUNK = 4096


class FastTextClassifier:
    """fit / predict_proba / save / load around ``FastTextModule``."""

    def __init__(self, config: ClassifierConfig, text: TextConfig) -> None:
        self.config = config
        self.text = text

    # ----------------------------------------------------------------------------- training
    def fit(
        self,
        texts: list[str],
        labels: list[list[str]],
        *,
        classes: list[str],
        multilabel: bool,
        valid: tuple[list[str], list[list[str]]] | None = None,
        on_epoch: Callable[[dict], None] | None = None,
    ) -> FastTextClassifier:
        """Train on ``texts``; with ``valid``, keep the best epoch and stop early."""
        # The seed drives init, dropout and shuffling without touching the caller's global RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            return self._fit(texts, labels, classes=classes, multilabel=multilabel, valid=valid,
                             on_epoch=on_epoch)

    def _fit(
        self,
        texts: list[str],
        labels: list[list[str]],
        *,
        classes: list[str],
        multilabel: bool,
        valid: tuple[list[str], list[list[str]]] | None,
        on_epoch: Callable[[dict], None] | None,
    ) -> FastTextClassifier:
        cfg = self.config
        self.classes_ = list(classes)
        self.multilabel_ = multilabel
        ova = cfg.loss == "ova" or (cfg.loss == "auto" and multilabel)
        self.loss_ = "ova" if ova else "softmax"
        rng = np.random.default_rng(cfg.seed)

        self.featurizer_ = Featurizer(self.text, word_ngrams=cfg.word_ngrams, buckets=cfg.buckets)
        docs = self.featurizer_.tokenizer.tokenize_many(texts)
        self.featurizer_.fit_tokens(docs, cfg.min_count)
        bags = self.featurizer_.transform_tokens(docs)
        y = self._targets(labels)
        vbags = vy = None
        if valid is not None and len(valid[0]):
            vbags, vy = self.featurizer_.transform(valid[0]), self._targets(valid[1])

        mcfg = FastTextModuleConfig(self.featurizer_.num_rows, cfg.dim, len(classes), cfg.dropout)
        module = FastTextModule(mcfg)
        module.reset_parameters(word_rows=len(self.featurizer_.vocab))
        self.pretrained_words_ = self._init_pretrained(module)
        optimizers = self._optimizers(module)

        n = len(bags)
        steps_per_epoch = math.ceil(n / cfg.batch_size)
        total_steps = cfg.epochs * steps_per_epoch
        step = 0
        best: tuple[float, float] | None = None
        # Only rows that training texts contain ever change: snapshot those, not the table.
        used = torch.from_numpy(np.unique(np.concatenate([bags.ids, np.arange(len(
            self.featurizer_.vocab))])))
        best_state: dict[str, torch.Tensor] | None = None
        self.history_: list[dict] = []
        self.best_epoch_ = cfg.epochs
        bad_epochs = 0
        for epoch in range(1, cfg.epochs + 1):
            t0 = time.perf_counter()
            module.train()
            order = rng.permutation(n)
            shuffled = bags.take(order)  # one gather per epoch; batches are then slices
            ids = torch.from_numpy(shuffled.ids)
            offs = shuffled.offsets
            ends = np.append(offs, len(shuffled.ids))
            ys = y[torch.from_numpy(order)]
            total_loss = 0.0
            for b0 in range(0, n, cfg.batch_size):
                b1 = min(b0 + cfg.batch_size, n)
                if cfg.optimizer == "sgd":
                    lr = cfg.lr * max(0.0, 1.0 - step / total_steps)
                    for opt in optimizers:
                        for g in opt.param_groups:
                            g["lr"] = lr
                start, stop = int(ends[b0]), int(ends[b1])
                logits = module(ids[start:stop], torch.from_numpy(offs[b0:b1] - start))
                loss = self._loss(logits, ys[b0:b1])
                for opt in optimizers:
                    opt.zero_grad(set_to_none=True)
                loss.backward()
                for opt in optimizers:
                    opt.step()
                total_loss += float(loss.detach())
                step += 1
            row = {"epoch": epoch, "train_loss": total_loss / n,
                   "seconds": round(time.perf_counter() - t0, 3)}
            log.debug("epoch %s", row)
            if vbags is not None:
                vloss, vacc = self._evaluate(module, vbags, vy)
                row.update(valid_loss=vloss, valid_accuracy=vacc)
                score = (vacc, -vloss)
                if best is None or score > best:
                    best, bad_epochs, self.best_epoch_ = score, 0, epoch
                    best_state = self._snapshot(module, used)
                else:
                    bad_epochs += 1
            self.history_.append(row)
            if on_epoch is not None:
                on_epoch(row)
            if vbags is not None and cfg.patience and bad_epochs >= cfg.patience:
                break
        if best_state is not None:
            with torch.no_grad():
                module.embedding.weight[used] = best_state["rows"]
                module.output.load_state_dict(best_state["output"])
        self.module_ = self._compact(module, used)
        self.module_.eval()
        return self

    def _targets(self, labels: list[list[str]]) -> torch.Tensor:
        index = {c: i for i, c in enumerate(self.classes_)}
        if self.loss_ == "softmax":
            # multi-label data under softmax: fastText samples one label; we take the first
            return torch.tensor([index[ls[0]] for ls in labels], dtype=torch.int64)
        y = torch.zeros(len(labels), len(self.classes_))
        for i, ls in enumerate(labels):
            y[i, [index[label] for label in ls]] = 1.0
        return y

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # summed, not averaged: lr then means what it means in fastText (a per-example step)
        if self.loss_ == "softmax":
            return F.cross_entropy(logits, y, reduction="sum")
        return F.binary_cross_entropy_with_logits(logits, y, reduction="sum")

    def _optimizers(self, module: FastTextModule) -> list[torch.optim.Optimizer]:
        cfg = self.config
        emb = [module.embedding.weight]
        out = list(module.output.parameters())
        if cfg.optimizer == "adam":
            return [torch.optim.SparseAdam(emb, lr=cfg.lr),
                    torch.optim.AdamW(out, lr=cfg.lr, weight_decay=cfg.weight_decay)]
        return [torch.optim.SGD([{"params": emb, "weight_decay": 0.0},
                                 {"params": out, "weight_decay": cfg.weight_decay}], lr=cfg.lr)]

    @torch.no_grad()
    def _evaluate(self, module: FastTextModule, bags: Bags, y: torch.Tensor) -> tuple[float, float]:
        module.eval()
        logits = self._logits(module, bags)
        loss = float(self._loss(logits, y)) / len(bags)
        top = logits.argmax(1)
        if self.loss_ == "softmax":
            acc = float((top == y).float().mean())
        else:  # precision@1: the top label is one of the gold labels
            acc = float(y[torch.arange(len(top)), top].mean())
        return loss, acc

    def _logits(self, module: FastTextModule, bags: Bags) -> torch.Tensor:
        out = []
        for c0 in range(0, len(bags), PREDICT_CHUNK):
            part = bags.take(np.arange(c0, min(c0 + PREDICT_CHUNK, len(bags))))
            out.append(module(torch.from_numpy(part.ids), torch.from_numpy(part.offsets)))
        if not out:
            return torch.zeros(0, len(self.classes_))
        return torch.cat(out)

    def _init_pretrained(self, module: FastTextModule) -> int:
        """Copy word2vec vectors into the rows of known words; 0 when not configured/found."""
        path = self.config.pretrained
        if not path:
            return 0
        if not Path(path).exists():
            log.warning("classifier.pretrained %s not found; word rows start random", path)
            return 0
        from gensim.models import KeyedVectors

        kv = KeyedVectors.load(str(path), mmap="r")
        if kv.vector_size != self.config.dim:
            raise ValueError(
                f"classifier.pretrained vectors have size {kv.vector_size}, "
                f"classifier.dim is {self.config.dim}; set classifier.dim={kv.vector_size}"
            )
        hits = [(i, w) for i, w in enumerate(self.featurizer_.vocab) if w in kv.key_to_index]
        if hits:
            rows = torch.tensor([i for i, _ in hits])
            vecs = torch.from_numpy(np.stack([kv[w] for _, w in hits]).astype(np.float32))
            with torch.no_grad():
                module.embedding.weight[rows] = vecs
        return len(hits)

    @staticmethod
    def _snapshot(module: FastTextModule, used: torch.Tensor) -> dict:
        with torch.no_grad():
            return {"rows": module.embedding.weight[used].clone(),
                    "output": {k: v.clone() for k, v in module.output.state_dict().items()}}

    @staticmethod
    def _compact(module: FastTextModule, keep: torch.Tensor) -> FastTextModule:
        """Drop the n-gram rows no training text touched (still zero): smaller files and RAM.

        Untouched ids map to one shared zero row, so predictions are unchanged.
        """
        weight = module.embedding.weight.detach()
        zero_row = len(keep)
        row_map = torch.full((weight.shape[0],), zero_row, dtype=torch.int64)
        row_map[keep] = torch.arange(len(keep))
        c = module.config
        small = FastTextModule(FastTextModuleConfig(
            len(keep) + 1, c.dim, c.num_classes, c.dropout, compact=True, map_size=weight.shape[0]
        ))
        with torch.no_grad():
            small.embedding.weight.zero_()
            small.embedding.weight[:zero_row] = weight[keep]
            small.output.load_state_dict(module.output.state_dict())
            small.row_map.copy_(row_map)
        return small

    # ----------------------------------------------------------------------------- inference
    @torch.no_grad()
    def predict_proba(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities (n, C) and the empty-after-tokenisation flags (n,)."""
        bags = self.featurizer_.transform(texts)
        logits = self._logits(self.module_, bags)
        probs = torch.sigmoid(logits) if self.loss_ == "ova" else torch.softmax(logits, 1)
        return probs.numpy().astype(np.float64), bags.empty

    # ----------------------------------------------------------------------------- persistence
    def save(self, folder: Path) -> None:
        torch.save(self.module_.state_dict(), folder / WEIGHTS)
        meta = {
            "module": self.module_.config.to_dict(),
            "classes": self.classes_,
            "multilabel": self.multilabel_,
            "loss": self.loss_,
            "word_ngrams": self.featurizer_.word_ngrams,
            "buckets": self.featurizer_.buckets,
            "vocab": self.featurizer_.vocab,
            "best_epoch": self.best_epoch_,
            "history": self.history_,
        }
        (folder / META).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(
        cls, weights: Path, meta_path: Path, config: ClassifierConfig, text: TextConfig
    ) -> FastTextClassifier:
        meta = json.loads(Path(meta_path).read_text(encoding="utf-8"))
        self = cls(config, text)
        self.classes_, self.multilabel_ = meta["classes"], meta["multilabel"]
        self.loss_ = meta["loss"]
        self.best_epoch_, self.history_ = meta["best_epoch"], meta["history"]
        self.featurizer_ = Featurizer(text, word_ngrams=meta["word_ngrams"],
                                      buckets=meta["buckets"], vocab=meta["vocab"])
        self.module_ = FastTextModule(FastTextModuleConfig(**meta["module"]))
        self.module_.load_state_dict(torch.load(weights, weights_only=True, map_location="cpu"))
        self.module_.eval()
        return self
