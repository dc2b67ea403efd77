"""``nlpsvc.locks``: exclusive, refused at once when held, gone on release."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nlpsvc.locks import LockHeld, exclusive


def test_exclusive_refuses_a_second_holder_and_cleans_up(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    with exclusive(lock):
        assert lock.read_text() == f"{os.getpid()}\n"
        with pytest.raises(LockHeld) as info, exclusive(lock):
            pass
        assert info.value.holder == str(os.getpid())
    assert not lock.exists()
    with exclusive(lock):  # free again
        assert lock.exists()


def test_a_stale_lock_file_is_taken_over(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    lock.write_text("12345\n")  # left by a process that died: no flock on it
    with exclusive(lock):
        assert lock.read_text() == f"{os.getpid()}\n"
