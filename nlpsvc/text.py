"""The one tokenizer of nlpsvc, shared by every training pipeline and by the service.

A model is always queried with the tokenizer settings it was trained with: the settings are
stored in the manifest (``TextConfig.to_dict``) and rebuilt at load time (``TextConfig.from_dict``).
No tokenizer here needs data files or downloads.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any

TOKENIZERS = ("default", "whitespace")

# Markers such as <unk> or </s> kept whole, words with inner apostrophes/hyphens kept whole, and
# any other non-space symbol as its own token (punctuation is kept: LMs and the chatbot need it).
_DEFAULT_RE = re.compile(r"</?\w+>|\w+(?:[-'’]\w+)*|[^\w\s]", re.UNICODE)


@dataclass(frozen=True)
class TextConfig:
    """Tokenizer settings (config keys ``text.tokenizer`` and ``text.lowercase``)."""

    # "default": regex words + punctuation; "whitespace": pre-tokenised text such as PTB
    tokenizer: str = "default"
    lowercase: bool = True
    normalize: str = "NFKC"  # Unicode normal form applied before tokenising ("" to skip)

    def __post_init__(self) -> None:
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(
                f"unknown text.tokenizer {self.tokenizer!r}; "
                f"expected one of {', '.join(TOKENIZERS)}"
            )
        if self.normalize not in ("", "NFC", "NFKC", "NFD", "NFKD"):
            raise ValueError(f"unknown text.normalize {self.normalize!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TextConfig:
        data = dict(data or {})
        known = {k: data[k] for k in ("tokenizer", "lowercase", "normalize") if k in data}
        return cls(**known)


class Tokenizer:
    """Turns a line of text into a list of tokens according to a ``TextConfig``."""

    def __init__(self, config: TextConfig | None = None) -> None:
        self.config = config or TextConfig()

    def normalize(self, text: str) -> str:
        if self.config.normalize and not text.isascii():  # every form leaves ASCII as is
            text = unicodedata.normalize(self.config.normalize, text)
        return text.lower() if self.config.lowercase else text

    def __call__(self, text: str) -> list[str]:
        text = self.normalize(text)
        if self.config.tokenizer == "whitespace":
            return text.split()
        return _DEFAULT_RE.findall(text)

    def tokenize_many(self, texts: list[str]) -> list[list[str]]:
        return [self(t) for t in texts]
