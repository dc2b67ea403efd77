"""Training loop for the seq2seq chatbot.

Masked cross-entropy over padded batches, teacher forcing with a linear ratio schedule, AdamW,
plateau or exponential learning-rate decay, gradient-norm clipping, early stopping on validation
perplexity, the best weights kept, a resumable checkpoint written every epoch, a seed, a time
budget and a progress bar with loss and tokens/s.

The checkpoint folder (``models/<corpus>/chatbot/.checkpoint``) holds data only, no pickle:
``best.safetensors`` (best weights), ``last.safetensors`` (weights, optimizer tensors, RNG states)
and ``last.json`` (history, counters, optimizer and scheduler settings), each written via temp
file + rename, ``last.json`` last, naming the epoch both ``last`` files hold.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from nlpsvc import training
from nlpsvc.chatbot.data import Batch, batches
from nlpsvc.chatbot.evaluate import masked_nll, nll_total
from nlpsvc.chatbot.model import Seq2Seq
from nlpsvc.chatbot.vocab import SPECIALS, UNK_ID, Vocab

log = logging.getLogger(__name__)

Encoded = list[tuple[list[int], list[int]]]
BEST, LAST_TENSORS, LAST_META = "best.safetensors", "last.safetensors", "last.json"


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-5  # AdamW (decoupled) weight decay
    lr_schedule: str = "plateau"  # plateau | exponential | none
    lr_gamma: float = 0.5  # plateau: factor on a bad epoch; exponential: factor per epoch
    lr_patience: int = 0  # plateau: bad epochs tolerated before decaying
    min_lr: float = 1e-5
    clip: float = 5.0  # max gradient norm
    teacher_forcing: float = 1.0  # ratio at epoch 1 ...
    teacher_forcing_end: float = 1.0  # ... falling linearly to this ...
    teacher_forcing_epochs: int = 10  # ... over this many epochs
    label_smoothing: float = 0.0
    # word dropout (Kiperwasser & Goldberg 2016): a token seen c times in training becomes <unk>
    # with probability word_dropout / (word_dropout + c), on both sides. Rare words stand in for
    # the unseen ones, so the model learns to read and predict <unk>; 0 = off.
    word_dropout: float = 0.0
    patience: int = 3  # early stopping: epochs without a better validation perplexity
    seed: int = 1
    threads: int = 0  # torch.set_num_threads; 0 leaves torch's default
    max_minutes: float = 0.0  # training time budget, 0 = none
    eval_batch_size: int = 128

    def __post_init__(self) -> None:
        if self.lr_schedule not in ("plateau", "exponential", "none"):
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be positive")
        if self.word_dropout < 0:
            raise ValueError("word_dropout must be >= 0")
        for name in ("teacher_forcing", "teacher_forcing_end", "label_smoothing"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")

    def tf_ratio(self, epoch: int) -> float:
        """Teacher forcing ratio for a 1-based epoch."""
        if self.teacher_forcing_epochs <= 1:
            return self.teacher_forcing_end
        frac = min(1.0, (epoch - 1) / (self.teacher_forcing_epochs - 1))
        return self.teacher_forcing + frac * (self.teacher_forcing_end - self.teacher_forcing)


@dataclass
class FitResult:
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_valid_ppl: float = math.inf
    stopped: str = "epochs"  # epochs | early_stopping | time_budget
    seconds: float = 0.0
    resumed_from: int = 0  # epoch the run resumed after (0 = fresh)


def _read_last(workdir: Path, model_config: dict) -> tuple[dict[str, torch.Tensor], dict] | None:
    """The resumable checkpoint of ``workdir``, or None (with a warning when one is unusable)."""
    meta_path, tensor_path = workdir / LAST_META, workdir / LAST_TENSORS
    if not meta_path.is_file():
        if (workdir / "last.pt").is_file():
            log.warning("%s: a checkpoint from an older nlpsvc (a pickle, not read); "
                        "starting afresh", workdir)
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("model_config") != model_config:
        log.warning("%s is from a different model config; starting afresh", meta_path)
        return None
    try:
        tensors, epoch = training.load_tensors(tensor_path)
    except (OSError, KeyError, ValueError) as e:  # safetensors raises its own error too
        log.warning("%s unreadable (%s); starting afresh", tensor_path, e)
        return None
    if epoch != meta["epoch"]:
        log.warning("%s holds epoch %d, %s epoch %d; starting afresh", tensor_path, epoch,
                    meta_path, meta["epoch"])
        return None
    return tensors, meta


def unk_probabilities(data: Encoded, vocab_size: int, alpha: float) -> torch.Tensor:
    """Per word id, the word-dropout probability ``alpha / (alpha + count)`` (V,); specials 0."""
    counts = torch.zeros(vocab_size)
    for src, tgt in data:
        counts += torch.bincount(torch.tensor(src + tgt, dtype=torch.long), minlength=vocab_size)
    probs = alpha / (alpha + counts.clamp(min=1))
    probs[: len(SPECIALS)] = 0.0
    return probs


def apply_word_dropout(batch: Batch, probs: torch.Tensor, generator: torch.Generator) -> Batch:
    """A copy of ``batch`` with tokens replaced by ``<unk>`` with their word-dropout probability.

    The target side changes ``tgt_out`` and the same words in ``tgt_in`` (shifted by one).
    """
    src = batch.src.clone()
    hit = torch.rand(src.shape, generator=generator) < probs[src]  # (B, S)
    src[hit] = UNK_ID
    out = batch.tgt_out.clone()
    hit = torch.rand(out.shape, generator=generator) < probs[out]  # (B, T)
    out[hit] = UNK_ID
    tgt_in = batch.tgt_in.clone()
    tgt_in[:, 1:][hit[:, :-1]] = UNK_ID  # tgt_in[:, j+1] is tgt_out[:, j]
    return Batch(src, batch.src_len, tgt_in, out, batch.ntokens)


def _make_scheduler(
    opt: torch.optim.Optimizer, cfg: TrainConfig
) -> torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau | None:
    if cfg.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, factor=cfg.lr_gamma, patience=cfg.lr_patience, min_lr=cfg.min_lr
        )
    if cfg.lr_schedule == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.lr_gamma)
    return None


def fit(
    model: Seq2Seq,
    train: Encoded,
    valid: Encoded,
    cfg: TrainConfig,
    workdir: str | Path,
    *,
    resume: bool = True,
    progress: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> FitResult:
    """Train ``model`` in place; on return it holds the best validation weights.

    ``workdir`` keeps ``last.safetensors`` + ``last.json`` (everything needed to resume) and
    ``best.safetensors`` (best weights). With ``resume`` and a checkpoint from the same model
    config, training continues from it.
    """
    if not train or not valid:
        raise ValueError("chatbot training needs non-empty train and validation pairs")
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    best_path = workdir / BEST

    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = _make_scheduler(opt, cfg)
    result = FitResult()
    start_epoch, bad_epochs, elapsed_before = 1, 0, 0.0

    last = _read_last(workdir, model.cfg.to_dict()) if resume else None
    if last is not None:
        tensors, ckpt = last
        model.load_state_dict(training.prefixed("model.", tensors))
        opt.load_state_dict(training.optimizer_state(tensors, ckpt["optimizer"]))
        if sched is not None and ckpt.get("scheduler"):
            sched.load_state_dict(ckpt["scheduler"])
        gen.set_state(tensors["rng.generator"])
        torch.set_rng_state(tensors["rng.torch"])
        result.history = list(ckpt["history"])
        result.best_epoch, result.best_valid_ppl = ckpt["best_epoch"], ckpt["best_valid_ppl"]
        bad_epochs, elapsed_before = ckpt["bad_epochs"], ckpt["elapsed"]
        start_epoch = ckpt["epoch"] + 1
        result.resumed_from = ckpt["epoch"]
        log.info("resuming after epoch %d from %s", ckpt["epoch"], workdir / LAST_META)
        if ckpt.get("finished"):
            start_epoch = cfg.epochs + 1  # nothing left to do; reload best below
            result.stopped = ckpt.get("stopped", "epochs")

    unk_probs = None
    if cfg.word_dropout > 0:
        unk_probs = unk_probabilities(train, model.cfg.vocab_size, cfg.word_dropout)
    budget = cfg.max_minutes * 60.0 if cfg.max_minutes > 0 else math.inf
    t0 = time.perf_counter() - elapsed_before
    n_batches = math.ceil(len(train) / cfg.batch_size)
    for epoch in range(start_epoch, cfg.epochs + 1):
        model.train()
        tf = cfg.tf_ratio(epoch)
        loss_sum, tok_sum, n_done, ep_start = 0.0, 0, 0, time.perf_counter()
        out_of_time = False
        bar = tqdm(batches(train, cfg.batch_size, generator=gen), total=n_batches,
                   desc=f"epoch {epoch}", disable=not progress, leave=False)
        for batch in bar:
            if unk_probs is not None:
                batch = apply_word_dropout(batch, unk_probs, gen)
            log_probs = model(batch.src, batch.src_len, batch.tgt_in, tf, gen)
            loss, ntok = masked_nll(log_probs, batch.tgt_out, cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            (loss / ntok).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
            loss_sum += float(loss.detach())
            tok_sum += ntok
            n_done += 1
            rate = tok_sum / max(time.perf_counter() - ep_start, 1e-9)
            bar.set_postfix(loss=f"{loss_sum / tok_sum:.3f}", tok_s=f"{rate:.0f}")
            if time.perf_counter() - t0 > budget:
                out_of_time = True
                break
        bar.close()
        train_seconds = time.perf_counter() - ep_start
        v_nll, v_tok = nll_total(model, valid, cfg.eval_batch_size)
        valid_loss = v_nll / max(v_tok, 1)
        valid_ppl = math.exp(valid_loss)
        row = {
            "epoch": epoch,
            "train_loss": round(loss_sum / max(tok_sum, 1), 4),
            "valid_loss": round(valid_loss, 4),
            "valid_ppl": round(valid_ppl, 3),
            "lr": opt.param_groups[0]["lr"],
            "teacher_forcing": round(tf, 3),
            "batches": n_done,
            "tokens_per_s": round(tok_sum / max(train_seconds, 1e-9), 1),
            "seconds": round(time.perf_counter() - t0, 1),
            "partial": out_of_time,
        }
        result.history.append(row)
        log.info("chatbot epoch %d: %s", epoch, row)
        if valid_ppl < result.best_valid_ppl:
            result.best_valid_ppl, result.best_epoch, bad_epochs = valid_ppl, epoch, 0
            training.save_tensors(model.state_dict(), best_path, epoch)
        else:
            bad_epochs += 1
        if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            sched.step(valid_loss)
        elif sched is not None:
            sched.step()
        stop = None
        if out_of_time:
            stop = "time_budget"
        elif bad_epochs > cfg.patience:
            stop = "early_stopping"
        elif epoch == cfg.epochs:
            stop = "epochs"
        opt_tensors, opt_meta = training.optimizer_tensors(opt)
        training.save_tensors({**{f"model.{k}": v for k, v in model.state_dict().items()},
                       **opt_tensors, "rng.generator": gen.get_state(),
                       "rng.torch": torch.get_rng_state()}, workdir / LAST_TENSORS, epoch)
        training.save_json({  # last: names the epoch last.safetensors holds
            "optimizer": opt_meta, "scheduler": sched.state_dict() if sched is not None else {},
            "history": result.history, "best_epoch": result.best_epoch,
            "best_valid_ppl": result.best_valid_ppl, "bad_epochs": bad_epochs,
            "elapsed": time.perf_counter() - t0, "epoch": epoch,
            "model_config": model.cfg.to_dict(), "train_config": asdict(cfg),
            "finished": stop is not None, "stopped": stop or "",
        }, workdir / LAST_META)
        if on_epoch is not None:  # after the checkpoint: an exception here loses nothing
            on_epoch(row)
        if stop is not None:
            result.stopped = stop
            break
    if best_path.is_file():
        model.load_state_dict(training.load_tensors(best_path)[0])
    model.eval()
    result.seconds = round(time.perf_counter() - t0, 1)
    return result


def load_pretrained_embeddings(
    embedding: torch.nn.Embedding, vocab: Vocab, path: str | Path
) -> int:
    """Copy word vectors into ``embedding``; returns the words found.

    ``path``: any form ``nlpsvc.embeddings.pretrained`` reads (word2vec text or binary, an
    nlpsvc embeddings artifact folder, a gensim ``.kv``). A missing path is skipped with a
    warning (returns 0); a size mismatch is an error.
    """
    path = Path(path)
    if not path.exists():
        log.warning("pretrained embeddings %s not found; embedding initialised at random", path)
        return 0
    from nlpsvc.embeddings.pretrained import read_pretrained

    kv = read_pretrained(path)
    if kv.vector_size != embedding.embedding_dim:
        raise ValueError(
            f"{path}: vectors have {kv.vector_size} dimensions, chatbot.embedding_dim is "
            f"{embedding.embedding_dim}"
        )
    found = 0
    with torch.no_grad():
        for i, word in enumerate(vocab.itos):
            if word in kv.key_to_index:
                embedding.weight[i] = torch.tensor(kv[word], dtype=embedding.weight.dtype)  # copy
                found += 1
    return found


def plot_curves(history: list[dict[str, Any]], path: str | Path) -> None:
    """Train/validation loss per epoch as a PNG."""
    training.plot_curves(history, path, [("train_loss", "train loss"),
                                         ("valid_loss", "validation loss")],
                         ylabel="cross-entropy (nats / token)", title="chatbot training")
