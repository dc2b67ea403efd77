"""Settings of the n-gram LM: the ``[ngram]`` config table (``--set ngram.KEY=VALUE``).

Checked by ``check()`` before any data is read (``nlpsvc.config.family_config``), so a bad
key or value fails ``nlpsvc train`` at once, naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nlpsvc.config import ConfigError

SMOOTHINGS = ("mle", "addk", "witten_bell", "katz", "absolute", "kn", "mkn", "stupid_backoff")


MAX_ORDER = 10  # the longest n-gram a model may hold (the scoring kernel compiles per order)


@dataclass
class NgramConfig:
    """Settings of ``nlpsvc train --only ngram``; defaults match ``lmplz -o 3``."""

    order: int = 3  # longest n-gram
    smoothing: str = "mkn"  # one of SMOOTHINGS
    k: float | None = None  # addk: pseudo-count (engine default when None)
    discount: float | None = None  # absolute / kn: fixed discount (estimated when None)
    prune: list[int] | None = None  # per-order count thresholds, e.g. [0, 0, 1] (KenLM style)
    min_count: int = 1  # words seen fewer times become <unk>
    max_vocab: int | None = None  # keep at most this many words (most frequent)
    arpa: bool = False  # also store model.arpa in the artifact
    # mkn/kn/absolute: discounts used where estimating them fails (tiny corpora): mkn takes
    # [D1, D2, D3+] (e.g. [0.5, 1.0, 1.5]), kn/absolute one number
    discount_fallback: list[float] | float | None = None
    memory: str = "1G"  # build memory budget: "1G", "500M", "80%" of RAM (lmplz -S)
    temp_dir: str | None = None  # where the build spills sorted runs (default: $TMPDIR)
    params: dict[str, Any] = field(default_factory=dict)  # extra estimator parameters

    def check(self) -> None:
        if not isinstance(self.order, int) or not 1 <= self.order <= MAX_ORDER:
            raise ConfigError(f"ngram.order must be an integer in 1..{MAX_ORDER}, "
                              f"got {self.order!r}")
        if self.smoothing not in SMOOTHINGS:
            raise ConfigError(f"ngram.smoothing {self.smoothing!r} is not one of "
                              f"{', '.join(SMOOTHINGS)}")
        if self.k is not None and self.smoothing != "addk":
            raise ConfigError("ngram.k applies to smoothing 'addk' only")
        if self.min_count < 1:
            raise ConfigError("ngram.min_count must be at least 1")
        if self.arpa and self.smoothing in ("mle", "stupid_backoff"):
            # ARPA cannot hold their unseen-context weight (nlpsvc.ngram.arpa.arpa_loss): fail
            # before training rather than after it.
            raise ConfigError(f"ngram.arpa = true cannot represent smoothing "
                              f"{self.smoothing!r}; use the binary model or nlpsvc export --lossy")
        if self.prune is not None and len(self.prune) not in (self.order, self.order - 1):
            raise ConfigError(f"ngram.prune needs one threshold per order ({self.order})")
        self._check_fallback()
        from nlpsvc.ngram.memory import BudgetError, parse_memory  # light: no numpy

        try:
            parse_memory(self.memory, "ngram.memory")
        except BudgetError as e:
            raise ConfigError(str(e)) from e
        if self.temp_dir is not None and not isinstance(self.temp_dir, str):
            raise ConfigError(f"ngram.temp_dir must be a folder path, got {self.temp_dir!r}")

    def _check_fallback(self) -> None:
        fb = self.discount_fallback
        if fb is None:
            return
        if self.smoothing not in ("mkn", "kn", "absolute"):
            raise ConfigError("ngram.discount_fallback applies to smoothing mkn, kn and "
                              "absolute only")
        numbers = fb if isinstance(fb, list) else [fb]
        if not numbers or any(isinstance(x, bool) or not isinstance(x, int | float)
                              for x in numbers):
            raise ConfigError(f"ngram.discount_fallback must be numbers, got {fb!r}")
        if self.smoothing == "mkn" and len(numbers) != 3:
            raise ConfigError("ngram.discount_fallback for mkn is [D1, D2, D3+], e.g. "
                              f"--set ngram.discount_fallback=[0.5,1.0,1.5]; got {fb!r}")
        if self.smoothing != "mkn" and len(numbers) != 1:
            raise ConfigError(f"ngram.discount_fallback for {self.smoothing} is one number in "
                              f"(0, 1), e.g. --set ngram.discount_fallback=0.7; got {fb!r}")

    def estimator_params(self) -> dict[str, Any]:
        params = dict(self.params)
        if self.k is not None:
            params["k"] = self.k
        if self.discount is not None:
            params["discount"] = self.discount
        if self.discount_fallback is not None:
            fb = self.discount_fallback
            params["discount_fallback"] = fb[0] if isinstance(fb, list) and len(fb) == 1 else fb
        return params
