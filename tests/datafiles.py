"""Check that a served artifact holds data only: no pickle anywhere (issue 14).

Whoever can write the models folder must not be able to run code in the server, so every file
a loader reads must be a format that cannot carry code: JSON, ``.npy`` without object arrays,
safetensors, faiss indexes, PNG plots.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

DATA_SUFFIXES = {".json", ".npy", ".safetensors", ".faiss", ".png"}
PICKLE_MAGIC = b"\x80"  # protocol 2+ opcode PROTO
ZIP_MAGIC = b"PK\x03\x04"  # torch.save's container (a pickle inside)


def assert_data_only(folder: Path) -> list[str]:
    """Every file of ``folder`` is a data-only format that loads without pickle; returns them."""
    names = []
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        names.append(path.relative_to(folder).as_posix())
        assert path.suffix in DATA_SUFFIXES, f"{path.name}: not a data-only format"
        head = path.read_bytes()[:4]
        assert not head.startswith(PICKLE_MAGIC) and head != ZIP_MAGIC, path.name
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False, mmap_mode="r")
            assert arr.dtype != object, path.name
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), "np") as f:
                assert list(f.keys()), path.name
    return names
