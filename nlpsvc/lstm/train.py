"""Training loop: truncated BPTT over the running text, early stopping on validation perplexity.

Adam, SGD, or SGD that switches to averaging (NT-ASGD, Merity et al. 2018) once validation
stalls; the learning rate decays by ``lr_decay`` after an epoch that does not improve; gradient
norm clipping; a time budget checked after every batch (the best weights so far are kept); a
seed; a progress bar with tokens/s. Validation uses the serving convention (each sentence from a
fresh state), so early stopping optimises the figure ``/score`` reports.

Resume: after every epoch ``last.safetensors`` (weights, optimizer tensors, best weights, RNG)
and ``last.json`` (history, counters, optimizer settings) are written, data only, via temp file +
rename; ``last.json`` goes last and names the epoch both files hold.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from nlpsvc import training
from nlpsvc.lstm.config import LstmConfig
from nlpsvc.lstm.data import BpttBatches
from nlpsvc.lstm.lm import LstmLM
from nlpsvc.lstm.model import LSTMNet
from nlpsvc.ngram.vocab import BOS_ID

log = logging.getLogger(__name__)

CKPT_TENSORS, CKPT_META = "last.safetensors", "last.json"


@dataclass
class FitResult:
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_valid_ppl: float = math.inf
    stopped: str = "epochs"  # epochs | early_stopping | time_budget
    seconds: float = 0.0
    resumed_from: int = 0  # epoch the run resumed after (0 = fresh)
    averaged_from: int = 0  # asgd: first epoch with averaged weights (0 = never)


def weights(net: LSTMNet) -> dict[str, torch.Tensor]:
    """The state dict without the tied copy of the embedding (safetensors stores no aliases)."""
    sd = net.state_dict()
    if net.cfg.tie_weights:
        sd.pop("decoder.weight", None)
    return {k: v.detach().clone().contiguous() for k, v in sd.items()}


def load_weights(net: LSTMNet, tensors: dict[str, torch.Tensor]) -> None:
    sd = dict(tensors)
    if net.cfg.tie_weights:
        sd["decoder.weight"] = sd["embedding.weight"]
    net.load_state_dict(sd)


def _make_optimizer(net: LSTMNet, cfg: LstmConfig, phase: str) -> torch.optim.Optimizer:
    params = net.parameters()
    if phase == "averaged":
        return torch.optim.ASGD(params, lr=cfg.lr, t0=0, lambd=0.0, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _averaged(opt: torch.optim.Optimizer, net: LSTMNet) -> dict[str, torch.Tensor] | None:
    """ASGD's running averages as weights (None before averaging started)."""
    if not isinstance(opt, torch.optim.ASGD):
        return None
    backup = weights(net)
    with torch.no_grad():
        for p in net.parameters():
            if "ax" in opt.state.get(p, {}):
                p.copy_(opt.state[p]["ax"])
    avg = weights(net)
    load_weights(net, backup)
    return avg


def valid_subset(sentences: Sequence[Sequence[str]], max_tokens: int) -> list[Sequence[str]]:
    """The first sentences holding ``max_tokens`` tokens (all of them when 0)."""
    if max_tokens <= 0:
        return list(sentences)
    out, n = [], 0
    for s in sentences:
        if n >= max_tokens:
            break
        out.append(s)
        n += len(s) + 1
    return out


def fit(lm: LstmLM, train: BpttBatches, valid: Sequence[Sequence[str]], cfg: LstmConfig,
        workdir: str | Path | None = None, *, progress: bool = True) -> FitResult:
    """Train ``lm.net`` in place; on return it holds the best validation weights (eval mode).

    With ``workdir`` and ``cfg.resume``, a checkpoint there continues the run (same config:
    the caller clears the folder when the corpus or config changed).
    """
    if not valid:
        raise ValueError("LSTM training needs validation sentences")
    before = torch.get_num_threads()
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    try:
        return _fit(lm, train, valid_subset(valid, cfg.valid_max_tokens), cfg,
                    Path(workdir) if workdir is not None else None, progress)
    finally:
        torch.set_num_threads(before)


def _fit(lm: LstmLM, train: BpttBatches, valid: Sequence[Sequence[str]], cfg: LstmConfig,
         workdir: Path | None, progress: bool) -> FitResult:
    net = lm.net
    dev = lm.device
    torch.manual_seed(cfg.seed)
    phase = "plain"  # "averaged" once NT-ASGD switched
    opt = _make_optimizer(net, cfg, phase)
    result = FitResult()
    best: dict[str, torch.Tensor] = weights(net)
    start_epoch, bad_epochs, elapsed_before = 1, 0, 0.0

    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        meta_path, tensor_path = workdir / CKPT_META, workdir / CKPT_TENSORS
        if cfg.resume and meta_path.is_file() and tensor_path.is_file():
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            tensors, saved_epoch = training.load_tensors(tensor_path)
            if saved_epoch == meta["epoch"]:
                load_weights(net, training.prefixed("w.", tensors))
                best = training.prefixed("b.", tensors)
                phase = meta["phase"]
                opt = _make_optimizer(net, cfg, phase)
                opt.load_state_dict(training.optimizer_state(tensors, meta["optimizer"]))
                torch.set_rng_state(tensors["rng"])
                result.history = meta["history"]
                result.best_epoch, result.best_valid_ppl = meta["best_epoch"], meta["best_ppl"]
                result.averaged_from = meta["averaged_from"]
                bad_epochs, elapsed_before = meta["bad_epochs"], meta["elapsed"]
                start_epoch = result.resumed_from = meta["epoch"]
                start_epoch += 1
                log.info("lstm: resuming after epoch %d from %s", meta["epoch"], workdir)
                if meta.get("stopped"):
                    start_epoch = cfg.epochs + 1
                    result.stopped = meta["stopped"]
            else:
                log.warning("lstm: checkpoint in %s is incomplete; starting afresh", workdir)

    budget = cfg.max_minutes * 60.0 if cfg.max_minutes > 0 else math.inf
    t0 = time.perf_counter() - elapsed_before
    for epoch in range(start_epoch, cfg.epochs + 1):
        net.train()
        loss_sum, tok_sum, n_done, ep_start = 0.0, 0, 0, time.perf_counter()
        out_of_time = False
        state = None
        bar = tqdm(train, total=len(train), desc=f"lstm epoch {epoch}", disable=not progress,
                   leave=False, unit=" batch")
        for x, y in bar:
            x, y = x.to(dev), y.to(dev)
            if state is not None:
                state = (state[0].detach(), state[1].detach())
            hidden, state = net.hidden(x, state)
            keep = (y != BOS_ID).reshape(-1)  # sentence starts are given, not predicted
            loss = net.loss(hidden.reshape(-1, hidden.size(-1))[keep], y.reshape(-1)[keep])
            ntok = int(keep.sum())
            opt.zero_grad(set_to_none=True)
            (loss / max(ntok, 1)).backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip)
            opt.step()
            loss_sum += float(loss.detach())
            tok_sum += ntok
            n_done += 1
            if progress:
                rate = tok_sum / max(time.perf_counter() - ep_start, 1e-9)
                bar.set_postfix(ppl=f"{math.exp(min(loss_sum / max(tok_sum, 1), 50)):.1f}",
                                tok_s=f"{rate:.0f}")
            if time.perf_counter() - t0 > budget:
                out_of_time = True
                break
        bar.close()
        train_seconds = time.perf_counter() - ep_start
        avg = _averaged(opt, net)
        current = weights(net)
        if avg is not None:
            load_weights(net, avg)
        net.eval()
        valid_ppl = float(lm.evaluate(valid)["perplexity"])
        load_weights(net, current)
        row = {
            "epoch": epoch,
            "train_ppl": round(math.exp(min(loss_sum / max(tok_sum, 1), 50)), 3),
            "valid_ppl": round(valid_ppl, 3),
            "lr": opt.param_groups[0]["lr"],
            "optimizer": "asgd-averaged" if avg is not None else cfg.optimizer,
            "batches": n_done,
            "tokens_per_s": round(tok_sum / max(train_seconds, 1e-9), 1),
            "seconds": round(time.perf_counter() - t0, 1),
            "partial": out_of_time,
        }
        result.history.append(row)
        log.info("lstm epoch %d: %s", epoch, row)
        if valid_ppl < result.best_valid_ppl:
            result.best_valid_ppl, result.best_epoch, bad_epochs = valid_ppl, epoch, 0
            best = avg if avg is not None else current
        else:
            bad_epochs += 1
            if cfg.optimizer == "asgd" and phase == "plain":
                phase, bad_epochs = "averaged", 0  # NT-ASGD: stalled, so start averaging
                result.averaged_from = epoch + 1
                lr = opt.param_groups[0]["lr"]
                opt = _make_optimizer(net, cfg, phase)
                opt.param_groups[0]["lr"] = lr
            elif phase == "plain":
                for g in opt.param_groups:
                    g["lr"] *= cfg.lr_decay
        stop = None
        if out_of_time:
            stop = "time_budget"
        elif bad_epochs > cfg.patience:
            stop = "early_stopping"
        elif epoch == cfg.epochs:
            stop = "epochs"
        if workdir is not None:
            otensors, ometa = training.optimizer_tensors(opt)
            tensors = {**{f"w.{k}": v for k, v in current.items()},
                       **{f"b.{k}": v for k, v in best.items()},  # save_tensors copies aliases
                       **otensors, "rng": torch.get_rng_state()}
            training.save_tensors(tensors, workdir / CKPT_TENSORS, epoch)
            training.save_json({
                "epoch": epoch, "phase": phase, "optimizer": ometa, "history": result.history,
                "best_epoch": result.best_epoch, "best_ppl": result.best_valid_ppl,
                "averaged_from": result.averaged_from, "bad_epochs": bad_epochs,
                "elapsed": time.perf_counter() - t0, "stopped": stop or "",
            }, workdir / CKPT_META)
        if stop is not None:
            result.stopped = stop
            break
    load_weights(net, best)
    net.eval()
    result.seconds = round(time.perf_counter() - t0, 1)
    return result


def plot_curves(history: list[dict[str, Any]], path: str | Path) -> None:
    """Train and validation perplexity per epoch as a PNG (log scale)."""
    training.plot_curves(history, path, [("train_ppl", "train (running text)"),
                                         ("valid_ppl", "validation (sentence by sentence)")],
                         ylabel="perplexity", title="LSTM language model training", log_y=True)
