"""What the PyTorch trainers (chatbot, LSTM LM) share: data-only checkpoints and curve plots.

Checkpoints are safetensors plus JSON, never a pickle, each written to a temp file and renamed,
so a crash leaves either the previous file or the new one. An optimizer's state is split into
tensors (``opt.<param>.<name>``) and JSON scalars for the same reason.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch


def save_tensors(tensors: dict[str, torch.Tensor], path: Path, epoch: int) -> None:
    """safetensors via a temp file + rename, tagged with the epoch it was written after."""
    from safetensors.torch import save_file

    tmp = path.with_name(f".{path.name}.tmp")
    save_file({k: v.detach().clone().contiguous() for k, v in tensors.items()}, str(tmp),
              metadata={"epoch": str(epoch)})  # clones: tied or shared weights become copies
    os.replace(tmp, path)


def save_json(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj), encoding="utf-8")
    os.replace(tmp, path)


def load_tensors(path: Path) -> tuple[dict[str, torch.Tensor], int]:
    """The tensors of a checkpoint file and the epoch it was written after."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, int((f.metadata() or {})["epoch"])


def prefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors whose names start with ``prefix``, with the prefix cut."""
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer's state split into tensors (``opt.<param>.<name>``) and JSON."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for name, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"opt.{pid}.{name}"] = v
            else:
                scalars[f"{pid}.{name}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict[str, Any]:
    """The ``state_dict`` that ``optimizer_tensors`` split, put back together."""
    state: dict[int, dict[str, Any]] = {}
    for key, v in prefixed("opt.", tensors).items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    for key, v in meta["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    return {"state": state, "param_groups": meta["param_groups"]}


def plot_curves(history: list[dict[str, Any]], path: str | Path,
                series: Sequence[tuple[str, str]], *, ylabel: str, title: str,
                log_y: bool = False) -> None:
    """One line per ``(history key, label)`` against the epoch, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in series:
        ax.plot(epochs, [r[key] for r in history], marker="o", label=label)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
