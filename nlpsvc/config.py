"""Training configuration: nested dicts from defaults, ``corpus.toml``, ``--config`` and ``--set``.

Later sources win: family defaults < corpus.toml < --config FILE < --set key=value.
Keys are dotted (``ngram.order``). Each family's table becomes its config dataclass
(``nlpsvc/<family>/config.py``, named in ``nlpsvc.kinds``) through ``family_config``, the one
place a table is validated: unknown keys, the dataclass's own checks (``__post_init__``, and
``check()`` where it has one), all before any training starts.
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A bad configuration key or value."""


def parse_value(text: str) -> Any:
    """A --set value as TOML would read it (``5``, ``0.5``, ``true``, ``"x"``), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}")
        set_dotted(out, key.strip(), parse_value(value.strip()))
    return out


def set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = tree
    for p in parents:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"config key {key!r}: {p!r} is not a table")
    node[leaf] = value


def merge(*trees: dict[str, Any]) -> dict[str, Any]:
    """Deep merge; later trees win."""
    out: dict[str, Any] = {}
    for tree in trees:
        for k, v in tree.items():
            if isinstance(v, dict) and isinstance(out.get(k), dict):
                out[k] = merge(out[k], v)
            else:
                out[k] = copy.deepcopy(v)
    return out


def load_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: no such config file") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML ({e})") from e


def to_dataclass(cls: type[T], table: dict[str, Any] | None, section: str) -> T:
    """Build a config dataclass from a table, rejecting unknown keys by name."""
    table = dict(table or {})
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(table) - names)
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {', '.join(f'{section}.{k}' for k in unknown)}; "
            f"known: {', '.join(sorted(names))}"
        )
    try:
        return cls(**table)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"[{section}] {e}") from e



def family_config(kind: str, table: dict[str, Any] | None) -> Any:
    """The ``[kind]`` table as its family's config dataclass, checked; ``ConfigError`` naming
    the bad key or value otherwise."""
    from nlpsvc import kinds

    cfg = to_dataclass(kinds.config_class(kind), table, kind)
    check = getattr(cfg, "check", None)
    if check is not None:
        try:
            check()
        except ConfigError:
            raise
        except (TypeError, ValueError) as e:
            raise ConfigError(f"[{kind}] {e}") from e
    return cfg
