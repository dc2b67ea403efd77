"""``hugemap``: the model's arrays mapped in huge pages are the arrays ``np.load`` reads, and a
published model is mapped in 2 MiB pages where the file system can."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np
import pytest

from nlpsvc import hugemap
from nlpsvc.ngram import NgramModel, train

BIG = hugemap.HUGE_PAGE // 8 + 1000  # int64 items of a file past one huge page


def thp_on() -> bool:
    p = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    return p.exists() and "[never]" not in p.read_text()


def smaps(path: Path, field: str) -> list[str]:
    """The ``field`` lines of this process's mappings of ``path``."""
    out, cur = [], False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        parts = line.split()
        if not parts[0].endswith(":"):  # a mapping's first line: range, perms, ..., path
            cur = len(parts) >= 6 and parts[5] == str(path)
        elif cur and parts[0] == field:
            out.append(line)
    return out


def pmd_kb(path: Path) -> int:
    return sum(int(line.split()[1]) for line in smaps(path, "FilePmdMapped:"))


def vm_flags(path: Path) -> list[str]:
    return smaps(path, "VmFlags:")


def file_thp(tmp: Path) -> bool:
    """Whether this kernel and file system give a settled file 2 MiB pages (ext4/xfs with
    large folios, THP not off): a capability of the machine, probed, not assumed."""
    if not (thp_on() and Path("/proc/self/smaps").exists()):
        return False
    path = tmp / "probe.npy"
    np.save(path, np.zeros(3 * hugemap.HUGE_PAGE // 8, dtype=np.int64))
    hugemap.settle(path)
    a = hugemap.load(path)
    int(a[: hugemap.HUGE_PAGE // 8].sum())  # touch the first huge page
    return pmd_kb(path) > 0


@pytest.mark.parametrize("huge", [True, False])
@pytest.mark.parametrize("array", [
    np.arange(BIG, dtype=np.int64) * 7919,
    np.linspace(-5, 0, BIG * 2, dtype=np.float32),
    np.arange(BIG * 2, dtype=np.uint32).reshape(-1, 4),
    np.arange(10, dtype=np.float64),  # small: numpy's own map
    np.zeros(0, dtype=np.int64),
])
def test_load_is_np_load(array, huge, tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, array)
    got = hugemap.load(path, huge)
    assert got.dtype == array.dtype and got.shape == array.shape
    assert np.array_equal(got, array) and not got.flags.writeable


def test_bad_files_fail_as_np_load(tmp_path):
    truncated = tmp_path / "t.npy"
    np.save(truncated, np.arange(BIG, dtype=np.int64))
    truncated.write_bytes(truncated.read_bytes()[:-8])
    with pytest.raises(ValueError):
        hugemap.load(truncated)
    pickled = tmp_path / "p.npy"
    np.save(pickled, np.array([{"x": 1}] * BIG, dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="object"):
        hugemap.load(pickled)


@pytest.mark.skipif(not (thp_on() and Path("/proc/self/smaps").exists()),
                    reason="no transparent huge pages in this kernel")
def test_mapping_asks_for_huge_pages(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.arange(BIG, dtype=np.int64))
    a = hugemap.load(path)
    assert vm_flags(path) and all(" hg" in f for f in vm_flags(path))
    del a
    b = hugemap.load(path, huge=False)
    assert vm_flags(path) and not any(" hg" in f for f in vm_flags(path))
    del b


def test_model_in_huge_pages_scores_as_in_small(tmp_path):
    """A model with arrays past a huge page scores bit for bit the same either way."""
    rng = random.Random(5)
    words = [f"w{i}" for i in range(5000)]
    sents = [[rng.choice(words) for _ in range(8)] for _ in range(40_000)]
    d = train(sents, order=3, discount_fallback=(0.5, 1, 1.5)).save(tmp_path / "m")
    assert max(f.stat().st_size for f in d.glob("*.npy")) > hugemap.HUGE_PAGE
    huge, small = NgramModel.load(d), NgramModel.load(d, huge_pages=False)
    probe = sents[:300] + [[rng.choice(words) for _ in range(9)] for _ in range(300)]
    a, b = huge.score_batch(probe, per_token=True), small.score_batch(probe, per_token=True)
    assert [s.to_dict() for s in a] == [s.to_dict() for s in b]


def test_sha256_is_the_files_hash_and_settle_keeps_it(tmp_path):
    for size in (0, 10, hugemap.HUGE_PAGE + 12345, 3 * hugemap.HUGE_PAGE):
        path = tmp_path / f"f{size}"
        data = random.Random(size).randbytes(size)
        path.write_bytes(data)
        hugemap.settle(path)
        assert hugemap.sha256(path) == hashlib.sha256(data).hexdigest()
        # read through maps of one huge page at a time: the windows' seams
        assert hugemap.sha256(path, window=hugemap.HUGE_PAGE) == hashlib.sha256(data).hexdigest()
        assert path.read_bytes() == data


def test_published_model_is_mapped_in_huge_pages(tmp_path):
    """Train, publish, verify and load as the service does: the big arrays end up in 2 MiB
    pages (where the machine can: probed first)."""
    if not file_thp(tmp_path):
        pytest.skip("this kernel or file system maps files in 4 KiB pages only")
    from nlpsvc.artifacts import ArtifactWriter, verify
    from nlpsvc.ngram import MODEL_DIR, load_artifact

    rng = random.Random(7)
    words = [f"w{i}" for i in range(5000)]
    sents = [[rng.choice(words) for _ in range(8)] for _ in range(60_000)]
    lm = train(sents, order=3, discount_fallback=(0.5, 1, 1.5))
    with ArtifactWriter(tmp_path / "models", "demo", "ngram") as w:
        lm.save(w.dir / MODEL_DIR)
    served = load_artifact(verify(w.version_dir))
    served.score_batch(sents[:2000])
    keys = w.version_dir / MODEL_DIR / "ngrams3.npy"  # the top order's records
    assert keys.stat().st_size > hugemap.HUGE_PAGE + 4096
    assert pmd_kb(keys) >= hugemap.HUGE_PAGE >> 10
