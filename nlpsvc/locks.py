"""Advisory file locks that die with their process (POSIX ``flock``).

Used where two processes must not write the same thing at once (two ``nlpsvc score`` runs on
one output) and to tell a live writer's folder from a dead one's (``ArtifactWriter`` temp
folders). The kernel drops a ``flock`` when its holder exits, however it exits (``kill -9``
included), so a lock file left behind by a dead process never blocks anybody. POSIX only, like
gunicorn, which the service already needs.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LockHeld(Exception):
    """Another live process holds the lock; ``holder`` is what it wrote there (its pid)."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} is held by process {holder or '?'}")
        self.path, self.holder = path, holder


def _lock_fd(path: Path) -> int:
    """An fd holding the exclusive lock on ``path`` (created if needed), or ``LockHeld``.

    The previous holder unlinks the file on release; a lock taken on such an unlinked file
    protects nothing, so the path is checked to still be the locked file, else retried.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip()
            os.close(fd)
            raise LockHeld(path, holder) from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextmanager
def exclusive(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the block; raise ``LockHeld`` at once if taken.

    The file holds the holder's pid (for the error message) and is removed on release.
    """
    path = Path(path)
    fd = _lock_fd(path)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        yield
    finally:
        path.unlink(missing_ok=True)  # still locked: nobody can take the old inode meanwhile
        os.close(fd)

