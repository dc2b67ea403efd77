"""Training and inference of the fastText-style PyTorch classifier (variant ``fasttext``).

The recipe is fastText's ``train_supervised``: words and hashed word n-grams, averaged, one
linear layer, softmax (or one-vs-all sigmoids for multi-label data), SGD whose learning rate
decays linearly to zero over the planned epochs, one step per text (fastText's per-example SGD,
run by the compiled kernel in ``sgd_kernel``; ``example_step`` below is its readable PyTorch
reference). Added here: the texts reshuffled every epoch, dropout, weight decay on the output
layer, early stopping on the validation split (best epoch kept), a seed, optional init of word
rows from word2vec vectors, and Adam or summed mini-batch SGD as alternatives.
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

from nlpsvc.classify import sgd_kernel
from nlpsvc.classify.config import ClassifierConfig
from nlpsvc.classify.features import Bags, Featurizer
from nlpsvc.classify.model import FastTextModule, FastTextModuleConfig
from nlpsvc.text import TextConfig

log = logging.getLogger(__name__)

WEIGHTS = "fasttext.safetensors"  # data only; the row map is one of its tensors
META = "fasttext.json"
LEGACY_WEIGHTS = "fasttext.pt"  # torch.save's zip of a pickle: refused (artifacts.refuse_pickle)
PREDICT_CHUNK = 4096


def _hidden(
    module: FastTextModule, ids: torch.Tensor, offsets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mean of each bag's rows, with inverted dropout in training; the mask is returned so the
    hand-written backward pass scales the hidden gradient the same way."""
    h = F.embedding_bag(ids, module.embedding.weight, offsets, mode="mean")  # (B, dim)
    p = module.dropout.p if module.training else 0.0
    if p <= 0:
        return h, None
    mask = (torch.rand_like(h) >= p).to(h.dtype) / (1.0 - p)  # (B, dim)
    return h * mask, mask


@torch.no_grad()
def sgd_step(
    module: FastTextModule,
    ids: torch.Tensor,
    offsets: torch.Tensor,
    bag_of: torch.Tensor,
    inv_len: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    weight_decay: float = 0.0,
    loss: str = "softmax",
) -> torch.Tensor:
    """One SGD step of the summed loss with the gradients written out, as fastText does.

    For this model autograd's bookkeeping (sparse gradient tensors, coalescing, optimizer
    objects) costs several times the arithmetic; the hand-derived update is the same SGD step
    (checked against autograd in the tests) at a fraction of the time. Rows get
    ``grad_h[bag] / len(bag)``, scattered with ``scatter_add_`` (repeated ids accumulate).
    ids (N,), offsets (B,), bag_of (N,) bag of each id, inv_len (B,), y (B,) or (B, C).
    Returns the summed loss of the batch before the step.
    """
    emb, w, b = module.embedding.weight, module.output.weight, module.output.bias
    h, mask = _hidden(module, ids, offsets)  # (B, dim), dropout mask or None
    logits = torch.addmm(b, h, w.t())  # (B, C)
    if loss == "softmax":
        logp = torch.log_softmax(logits, 1)
        rows = torch.arange(len(y))
        value = -logp[rows, y].sum()
        g = logp.exp_()
        g[rows, y] -= 1.0  # d loss / d logits = softmax - onehot
    else:
        value = F.binary_cross_entropy_with_logits(logits, y, reduction="sum")
        g = torch.sigmoid(logits) - y  # (B, C)
    grad_h = g @ w  # (B, dim), with the weights of before the step
    if mask is not None:
        grad_h *= mask
    if weight_decay:
        w.mul_(1.0 - lr * weight_decay)
    w.addmm_(g.t(), h, alpha=-lr)
    b.add_(g.sum(0), alpha=-lr)
    upd = torch.index_select(grad_h * (inv_len * -lr)[:, None], 0, bag_of)  # (N, dim)
    # scatter_add_ (not index_add_, several times slower on CPU); repeated ids accumulate
    emb.scatter_add_(0, ids[:, None].expand(-1, emb.shape[1]), upd)
    return value


@torch.no_grad()
def example_step(
    module: FastTextModule,
    ids: torch.Tensor,
    offsets: torch.Tensor,
    bag_of: torch.Tensor,
    inv_len: torch.Tensor,
    y: np.ndarray,
    *,
    lr: torch.Tensor,
    weight_decay: float = 0.0,
    loss: str = "softmax",
) -> float:
    """fastText's per-example SGD over a batch: B steps on the output layer, one on the rows.

    Summing a batch's gradient at fastText's lr gives the shared output layer (and frequent
    rows) B examples' worth of step computed at one stale point, which diverges at lr 1.0.
    Here the output layer takes the B updates one after the other, exactly: with
    ``K = H H^T + 1``, example i's logits are ``base_i - sum_{j<i} lr_j K_ij g_j``, so only a
    (B, C) recurrence runs in a loop. Its hidden gradient uses the output layer as it stood
    before its own update (``g_i W_i``), as fastText does. Input rows are read at the start of
    the batch and updated once (as fastText's hogwild threads do); they rarely overlap within
    a batch. ``lr`` (B,) is each example's rate (fastText decays it per token). Returns the
    summed loss of the batch.
    """
    emb, w, b = module.embedding.weight, module.output.weight, module.output.bias
    h, mask = _hidden(module, ids, offsets)  # (B, dim), dropout mask or None
    # float64 for the recurrence: exp stays finite for any logit gap a sane model reaches
    base = torch.addmm(b, h, w.t()).numpy().astype(np.float64)  # (B, C) before any update
    hd = h.numpy()
    lrs = lr.numpy().astype(np.float64)
    kl = (hd @ hd.T + 1.0) * lrs[None, :]  # kl[i, j] = lr_j K_ij
    g = np.zeros_like(base)
    rows = np.arange(len(base))
    yn = y
    if loss == "softmax":
        onehot = np.zeros_like(base)
        onehot[rows, yn] = 1.0
    else:
        onehot = yn
    # The only sequential part: B steps on (C,) vectors, written for few numpy calls each
    # (rows of g not yet computed are zero, so the full-row dot needs no slicing).
    dot, exp, add = np.dot, np.exp, np.add.reduce
    shift = base.max(1, keepdims=True)  # softmax is shift-invariant: keeps exp in range
    base_rows, k_rows, y_rows = list(base - shift), list(kl), list(onehot)
    for i in range(len(base)):
        zi = base_rows[i] - dot(k_rows[i], g)
        if loss == "softmax":
            e = exp(zi)
            g[i] = e / add(e) - y_rows[i]
        else:
            g[i] = 1.0 / (1.0 + exp(-zi - shift[i])) - y_rows[i]
    z = base - np.tril(kl, -1) @ g
    if loss == "softmax":
        m = z.max(1)
        value = float(np.sum(np.log(np.exp(z - m[:, None]).sum(1)) + m - z[rows, yn]))
    else:
        value = float(np.sum(np.logaddexp(0.0, z) - onehot * z))
    gt = torch.from_numpy(g).float()  # (B, C)
    # hidden gradients with W_i = W_0 - sum_{j<i} lr_j g_j h_j^T
    gg = torch.from_numpy(np.tril(g @ g.T, -1) * lrs[None, :]).float()
    grad_h = torch.addmm(gt @ w, gg, h, alpha=-1.0)  # (B, dim)
    if mask is not None:
        grad_h *= mask
    if weight_decay:
        w.mul_(1.0 - float(lrs.mean()) * weight_decay)
    glr = gt * lr[:, None]
    w.addmm_(glr.t(), h, alpha=-1.0)
    b.sub_(glr.sum(0))
    upd = torch.index_select(grad_h * (inv_len * -lr)[:, None], 0, bag_of)  # (N, dim)
    emb.scatter_add_(0, ids[:, None].expand(-1, emb.shape[1]), upd)
    return value


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

        self.featurizer_ = Featurizer(self.text, word_ngrams=cfg.word_ngrams, buckets=cfg.buckets,
                                      eos=cfg.eos)
        docs = self.featurizer_.tokenizer.tokenize_many(texts)
        self.featurizer_.fit_tokens(docs, cfg.min_count)
        bags = self.featurizer_.transform_tokens(docs)
        y = self._targets(labels)
        vbags = vy = None
        if valid is not None and len(valid[0]):
            vbags, vy = self.featurizer_.transform(valid[0]), self._targets(valid[1])

        mcfg = FastTextModuleConfig(self.featurizer_.num_rows, cfg.dim, len(classes), cfg.dropout)
        module = FastTextModule(mcfg, word_rows=len(self.featurizer_.vocab))
        self.pretrained_words_ = self._init_pretrained(module)
        optimizers = self._optimizers(module) if cfg.optimizer == "adam" else []

        n = len(bags)
        steps_per_epoch = math.ceil(n / cfg.batch_size)
        total_steps = cfg.epochs * steps_per_epoch
        step = 0
        # fastText decays lr linearly over the tokens of all planned epochs (not over steps)
        total_tokens = max(1, cfg.epochs * int(np.maximum(bags.lengths, 1).sum()))
        seen = 0
        best: tuple[float, float] | None = None
        # Only rows that training texts contain ever change: snapshot those, not the table.
        used = torch.from_numpy(np.unique(np.concatenate([bags.ids, np.arange(len(
            self.featurizer_.vocab))])))
        best_state: dict[str, torch.Tensor] | None = None
        self.history_: list[dict] = []
        self.best_epoch_ = cfg.epochs
        bad_epochs = 0
        kernel = cfg.optimizer == "sgd" and cfg.update == "example" and sgd_kernel.AVAILABLE
        if cfg.optimizer == "sgd" and cfg.update == "example" and not kernel:
            log.warning("numba is not installed: fastText's per-example SGD runs per batch "
                        "(example_step), several times slower")
        lengths_all = bags.lengths
        for epoch in range(1, cfg.epochs + 1):
            t0 = time.perf_counter()
            module.train()
            order = rng.permutation(n)
            if kernel:
                # each text's lr, decayed linearly over the tokens of all planned epochs
                toks = np.maximum(lengths_all[order], 1)
                before = seen + np.cumsum(toks) - toks
                seen += int(toks.sum())
                lr_all = (cfg.lr * np.maximum(0.0, 1.0 - before / total_tokens)).astype(
                    np.float32)
                total_loss = self._kernel_epoch(module, bags, y, order, lr_all,
                                                seed=cfg.seed if epoch == 1 else -1)
            else:
                total_loss = self._torch_epoch(module, bags, y, order, optimizers, seen,
                                               total_tokens, step, total_steps)
                seen += int(np.maximum(lengths_all, 1).sum())
                step += math.ceil(n / cfg.batch_size)
            total_loss = float(total_loss)
            if not math.isfinite(total_loss):
                if best_state is None:
                    raise ValueError(f"fastText training diverged in epoch {epoch} "
                                     f"(loss {total_loss}); lower classifier.lr ({cfg.lr})")
                log.warning("training diverged in epoch %d; keeping epoch %d",
                            epoch, self.best_epoch_)
                break
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

    def _kernel_epoch(self, module: FastTextModule, bags: Bags, y: torch.Tensor,
                      order: np.ndarray, lr: np.ndarray, *, seed: int) -> float:
        """One epoch of fastText's per-example SGD in the compiled kernel (``sgd_kernel``),
        written straight into the module's parameters."""
        cfg = self.config
        ova = self.loss_ == "ova"
        yn = y.numpy()
        y_idx = np.zeros(len(yn), np.int64) if ova else yn
        y_multi = yn if ova else np.zeros((1, len(self.classes_)), np.float32)
        with torch.no_grad():
            return sgd_kernel.train_epoch(
                module.embedding.weight.detach().numpy(), module.output.weight.detach().numpy(),
                module.output.bias.detach().numpy(), bags.ids, bags.offsets, bags.lengths,
                order, y_idx, y_multi, lr, dropout=cfg.dropout,
                weight_decay=cfg.weight_decay, ova=ova, seed=seed)

    def _torch_epoch(self, module: FastTextModule, bags: Bags, y: torch.Tensor,
                     order: np.ndarray, optimizers: list[torch.optim.Optimizer], seen: int,
                     total_tokens: int, step: int, total_steps: int) -> torch.Tensor:
        """One epoch in PyTorch: summed mini-batch SGD (``update = "batch"``), Adam, or the
        per-batch reference of fastText's per-example SGD when numba is missing."""
        cfg = self.config
        n = len(bags)
        shuffled = bags.take(order)  # one gather per epoch; batches are then slices
        ids = torch.from_numpy(shuffled.ids)
        lengths = shuffled.lengths
        offs = torch.from_numpy(shuffled.offsets)
        ends = np.append(shuffled.offsets, len(shuffled.ids))
        bag_of = torch.from_numpy(np.repeat(np.arange(n, dtype=np.int64), lengths))
        inv_len = torch.from_numpy(1.0 / np.maximum(lengths, 1)).float()
        ys = y[torch.from_numpy(order)]
        ys_np = ys.numpy()
        # each text's lr, decayed linearly over the tokens of all planned epochs
        toks = np.maximum(lengths, 1)
        before = seen + np.cumsum(toks) - toks
        lr_all = (cfg.lr * np.maximum(0.0, 1.0 - before / total_tokens)).astype(np.float32)
        lr_t = torch.from_numpy(lr_all)
        total_loss = torch.zeros(())
        for b0 in range(0, n, cfg.batch_size):
            b1 = min(b0 + cfg.batch_size, n)
            start, stop = int(ends[b0]), int(ends[b1])
            batch_ids, batch_offs = ids[start:stop], offs[b0:b1] - start
            if cfg.optimizer == "sgd" and cfg.update == "example":
                total_loss += example_step(
                    module, batch_ids, batch_offs, bag_of[start:stop] - b0,
                    inv_len[b0:b1], ys_np[b0:b1], lr=lr_t[b0:b1],
                    weight_decay=cfg.weight_decay, loss=self.loss_)
            elif cfg.optimizer == "sgd":
                lr = cfg.lr * max(0.0, 1.0 - step / total_steps)
                total_loss += sgd_step(
                    module, batch_ids, batch_offs, bag_of[start:stop] - b0,
                    inv_len[b0:b1], ys[b0:b1], lr=lr, weight_decay=cfg.weight_decay,
                    loss=self.loss_)
            else:
                loss = self._loss(module(batch_ids, batch_offs), ys[b0:b1])
                for opt in optimizers:
                    opt.zero_grad(set_to_none=True)
                loss.backward()
                for opt in optimizers:
                    opt.step()
                total_loss += loss.detach()
            step += 1
        return total_loss

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
        return [torch.optim.SparseAdam(emb, lr=cfg.lr),
                torch.optim.AdamW(out, lr=cfg.lr, weight_decay=cfg.weight_decay)]

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
        """Copy word vectors into the rows of known words; 0 when not configured/found.

        Any form ``nlpsvc.embeddings.pretrained`` reads: word2vec text or binary, an nlpsvc
        embeddings artifact, a gensim ``.kv``."""
        path = self.config.pretrained
        if not path:
            return 0
        if not Path(path).exists():
            log.warning("classifier.pretrained %s not found; word rows start random", path)
            return 0
        from nlpsvc.embeddings.pretrained import read_pretrained

        kv = read_pretrained(path)
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
        """``fasttext.safetensors`` (weights) + ``fasttext.json`` (vocabulary, settings)."""
        from safetensors.torch import save_model

        save_model(self.module_, str(Path(folder) / WEIGHTS))
        meta = {
            "module": self.module_.config.to_dict(),
            "classes": self.classes_,
            "multilabel": self.multilabel_,
            "loss": self.loss_,
            "word_ngrams": self.featurizer_.word_ngrams,
            "buckets": self.featurizer_.buckets,
            "eos": self.featurizer_.eos,
            "vocab": self.featurizer_.vocab,
            "best_epoch": self.best_epoch_,
            "history": self.history_,
        }
        (folder / META).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(
        cls, weights: Path, meta_path: Path, config: ClassifierConfig, text: TextConfig
    ) -> FastTextClassifier:
        from safetensors.torch import load_model

        meta = json.loads(Path(meta_path).read_text(encoding="utf-8"))
        self = cls(config, text)
        self.classes_, self.multilabel_ = meta["classes"], meta["multilabel"]
        self.loss_ = meta["loss"]
        self.best_epoch_, self.history_ = meta["best_epoch"], meta["history"]
        self.featurizer_ = Featurizer(text, word_ngrams=meta["word_ngrams"],
                                      buckets=meta["buckets"], vocab=meta["vocab"],
                                      eos=meta.get("eos", False))
        self.module_ = FastTextModule(FastTextModuleConfig(**meta["module"]))
        load_model(self.module_, str(weights))  # on CPU; strict: every tensor, right shapes
        self.module_.eval()
        return self
