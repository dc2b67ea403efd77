"""The shared-data guard: skip without ../shared/data, fail when it is there but incomplete."""

from __future__ import annotations

from pathlib import Path

import pytest

import tests.conftest as root


def test_absent_folder_skips_with_the_reason(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(root, "SHARED_DATA", tmp_path / "absent")
    with pytest.raises(pytest.skip.Exception, match="needs the shared data folder .*absent"):
        root.shared_data("ptb")


def test_present_folder_gives_the_path_or_fails_on_a_missing_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ptb").mkdir()
    monkeypatch.setattr(root, "SHARED_DATA", tmp_path)
    assert root.shared_data("ptb") == tmp_path / "ptb"
    with pytest.raises(pytest.fail.Exception, match="trec is missing"):
        root.shared_data("trec")
