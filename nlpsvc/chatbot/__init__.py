"""The seq2seq chatbot: LSTM encoder-decoder with attention, trained on dialogue pairs.

``vocab``/``data`` turn dialogues into padded batches, ``model`` holds the modules, ``train`` the
loop, ``decode`` the searches, ``evaluate`` the held-out figures and ``bot`` the served object.
The service loads a published artifact with ``load_artifact``; ``nlpsvc eval --kind chatbot
--input DIALOGUES`` calls ``cli_eval``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from nlpsvc.artifacts import Artifact, ArtifactError
from nlpsvc.chatbot.bot import FILES, Chatbot, Reply

__all__ = ["Chatbot", "Reply", "cli_eval", "load_artifact"]

THREADS_ENV = "NLPSVC_TORCH_THREADS"


def load_artifact(artifact: Artifact, threads: int | None = None) -> Chatbot:
    """The chatbot of a verified artifact, ready to answer.

    ``threads`` sets ``torch.set_num_threads`` for this process (one server worker); by default
    ``$NLPSVC_TORCH_THREADS`` or 1, so N workers on N cores do not fight over cores.
    """
    for name in FILES:
        artifact.file(name)  # raises ArtifactError naming a missing file
    if threads is None:
        raw = os.environ.get(THREADS_ENV, "1")
        try:
            threads = int(raw)
        except ValueError as e:
            raise ArtifactError(f"{THREADS_ENV}={raw!r} is not an integer") from e
    if threads > 0:
        torch.set_num_threads(threads)
    return Chatbot.load(artifact.path)


def cli_eval(artifact: Artifact, args: Any) -> dict[str, Any]:
    """``nlpsvc eval --kind chatbot --input FILE``: figures on a dialogue file.

    FILE is ``prompt<TAB>reply`` lines (``.tsv``), ``{"turns": [...]}`` lines (``.jsonl``) or
    DailyDialog lines (turns split by ``__eou__``); consecutive turns are the pairs.
    """
    from nlpsvc.chatbot.evaluate import evaluate_file

    path = getattr(args, "input", None) or getattr(args, "pairs", None)
    if not path:
        raise ValueError("eval --kind chatbot needs --input FILE (a dialogue file)")
    return evaluate_file(load_artifact(artifact), Path(path))
