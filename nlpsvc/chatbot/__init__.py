"""The seq2seq chatbot: LSTM encoder-decoder with attention, trained on dialogue pairs.

``vocab``/``data`` turn dialogues into padded batches, ``model`` holds the modules, ``train`` the
loop, ``decode`` the searches, ``evaluate`` the held-out figures and ``bot`` the served object.
The service loads a published artifact with ``load_artifact``; ``nlpsvc eval --kind chatbot
--input DIALOGUES`` calls ``cli_eval``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nlpsvc.artifacts import Artifact, refuse_pickle
from nlpsvc.chatbot.bot import FILES, LEGACY_MODEL_FILE, Chatbot, Reply
from nlpsvc.torch_threads import set_serving_threads

__all__ = ["Chatbot", "Reply", "cli_eval", "load_artifact"]


def load_artifact(artifact: Artifact, threads: int | None = None) -> Chatbot:
    """The chatbot of a verified artifact, ready to answer.

    ``threads`` sets ``torch.set_num_threads`` for this process (one server worker); by default
    ``$NLPSVC_TORCH_THREADS`` or 1 (``nlpsvc.torch_threads``, shared with the classifier).
    An artifact from before safetensors (``model.pt``) is refused, naming how to re-train.
    """
    if LEGACY_MODEL_FILE in artifact.manifest.get("files", {}):
        raise refuse_pickle(artifact, f"its weights as {LEGACY_MODEL_FILE}")
    for name in FILES:
        artifact.file(name)  # raises ArtifactError naming a missing file
    set_serving_threads(threads)
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
