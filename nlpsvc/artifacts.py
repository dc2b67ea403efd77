"""Versioned, hash-checked model artifacts (SPEC §3).

Layout: ``<root>/<corpus>/<kind>/<version>/`` holds ``manifest.json`` and the model's files;
``<root>/<corpus>/<kind>/CURRENT`` names the version served.

Publishing is atomic: files are written into a hidden temp folder, the manifest (with the sha256
of every file) is written last, the folder is renamed into place, and only then is ``CURRENT``
replaced (itself via temp file + rename). A crash at any point leaves the previous version
intact and serving. Loading verifies the format version and every file's hash. A temp folder
left by a killed writer is removed when ``nlpsvc train`` next starts on its model set
(``clean_set_temps``) and when the next writer of that kind starts; a folder another live
process is still writing is kept (its writer holds a lock on it).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import secrets
import shutil
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

from nlpsvc import __version__, hugemap
from nlpsvc.kinds import KINDS
from nlpsvc.locks import LockHeld, exclusive

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CURRENT = "CURRENT"
TMP_PREFIX = ".tmp-"  # a version being written; renamed to its version when complete

log = logging.getLogger(__name__)


class ArtifactError(Exception):
    """An artifact is missing, incomplete, corrupted or of an unknown format."""


def sha256_file(path: Path) -> str:
    """The manifest's hash of a file (read so that the page cache holds it in huge pages)."""
    return hugemap.sha256(path)


def library_versions(*names: str) -> dict[str, str]:
    """Versions of nlpsvc, Python and the given distributions, for the manifest."""
    out = {"nlpsvc": __version__, "python": platform.python_version()}
    for name in ("numpy", *names):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def atomic_write_text(path: Path, text: str) -> None:
    """Write a small text file via temp file + fsync + rename."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _new_version() -> str:
    # Sortable by time to the microsecond (fallback picks "the newest older version" by name);
    # the random suffix keeps two machines publishing at the same instant apart.
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ") + "-" + secrets.token_hex(2)


class ArtifactWriter:
    """Context manager that publishes one model version atomically.

    >>> with ArtifactWriter("models", "demo", "ngram") as w:   # doctest: +SKIP
    ...     save_model(w.dir / "model")           # write any files under w.dir
    ...     w.manifest.update(config=cfg, metrics=metrics, text=text_cfg)
    >>> w.version_dir                              # doctest: +SKIP
    """

    def __init__(self, root: str | Path, corpus: str, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown model kind {kind!r}; expected one of {', '.join(KINDS)}")
        self.kind_dir = Path(root) / corpus / kind
        self.version = _new_version()
        self.dir = self.kind_dir / f"{TMP_PREFIX}{self.version}"
        self.version_dir = self.kind_dir / self.version
        self.manifest: dict[str, Any] = {"kind": kind, "corpus": corpus}
        self._start = time.perf_counter()
        self._lock = ExitStack()

    def __enter__(self) -> ArtifactWriter:
        self.kind_dir.mkdir(parents=True, exist_ok=True)
        clean_stale_temps(self.kind_dir)
        # Locked before the folder exists: a cleaner never sees it unlocked while we live.
        self._lock.enter_context(exclusive(_temp_lock(self.dir)))
        try:
            self.dir.mkdir(exist_ok=False)
        except BaseException:
            self._lock.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:  # released last, after the folder is renamed or removed
            if exc_type is not None:
                shutil.rmtree(self.dir, ignore_errors=True)
                return
            try:
                self._finish()
            except BaseException:
                shutil.rmtree(self.dir, ignore_errors=True)
                raise

    def _finish(self) -> None:
        files = {}
        for path in sorted(p for p in self.dir.rglob("*") if p.is_file()):
            rel = path.relative_to(self.dir).as_posix()
            hugemap.settle(path)  # written out, then read back in large folios
            files[rel] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
        if not files:
            raise ArtifactError(f"refusing to publish an empty {self.manifest['kind']} model")
        manifest = {
            "format_version": FORMAT_VERSION,
            "version": self.version,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "libraries": library_versions(),
            **self.manifest,
            "files": files,
        }
        manifest.setdefault("training_seconds", round(time.perf_counter() - self._start, 3))
        # Manifest last: a folder without one is never loaded.
        atomic_write_text(self.dir / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
        _fsync_dir(self.dir)
        os.replace(self.dir, self.version_dir)
        atomic_write_text(self.kind_dir / CURRENT, self.version + "\n")
        _fsync_dir(self.kind_dir)
        self.manifest = manifest


def _temp_lock(temp_dir: Path) -> Path:
    """The lock file a live writer holds for its temp folder (beside it, not in it: the
    folder's files are hashed and published)."""
    return temp_dir.with_name(temp_dir.name + ".lock")


def clean_stale_temps(kind_dir: str | Path) -> list[str]:
    """Remove temp folders (and lock files) left in ``kind_dir`` by killed writers.

    A writer holds its folder's lock for as long as it lives (the kernel drops it when the
    process dies, ``kill -9`` included), so a folder whose lock can be taken belongs to nobody;
    one another live process is writing is left alone. Returns the names removed.
    """
    kind_dir = Path(kind_dir)
    if not kind_dir.is_dir():
        return []
    removed = []
    for path in sorted(kind_dir.glob(f"{TMP_PREFIX}*")):  # a folder sorts before its lock
        temp = path.with_name(path.name.removesuffix(".lock"))
        if not path.exists() or path != temp and temp.is_dir() or path == temp and (
                not path.is_dir()):
            continue  # gone already, a lock handled with its folder, or a stray file
        try:
            with exclusive(_temp_lock(temp)):
                existed = temp.is_dir()
                shutil.rmtree(temp, ignore_errors=True)
        except LockHeld:
            continue  # a live writer's
        if existed:
            log.warning("removed %s, left by an interrupted training", temp.name)
            removed.append(temp.name)
    return removed


def clean_set_temps(set_dir: str | Path) -> list[str]:
    """``clean_stale_temps`` over every kind folder of a model set; ``nlpsvc train`` runs it
    first, so a killed training's folder goes at the next start, whichever kinds it trains.
    Returns ``kind/name`` of each folder removed."""
    return [f"{kind}/{name}" for kind in KINDS
            for name in clean_stale_temps(Path(set_dir) / kind)]


def _fsync_dir(path: Path) -> None:
    if sys.platform.startswith("win"):
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Artifact:
    """A verified model version on disk."""

    path: Path
    manifest: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    @property
    def version(self) -> str:
        return self.manifest["version"]

    def file(self, name: str) -> Path:
        if name not in self.manifest["files"]:
            raise ArtifactError(f"{self.path}: manifest lists no file {name!r}")
        return self.path / name

    def summary(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "kind": m["kind"],
            "version": m["version"],
            "corpus": m.get("corpus"),
            "created": m.get("created"),
            "metrics": m.get("metrics", {}),
        }


def refuse_pickle(artifact: Artifact, what: str) -> ArtifactError:
    """The error for an artifact saved before served files were data only: its ``what`` is a
    pickle, and whoever can write the models folder could make loading it run code, so it is
    refused (not loaded with a warning) with the command that re-trains it."""
    corpus = artifact.manifest.get("corpus") or "CORPUS"
    return ArtifactError(
        f"{artifact.kind} model {artifact.manifest.get('version')} stores {what}, a pickle this "
        f"nlpsvc no longer loads (loading it could run code); re-train it: "
        f"nlpsvc train <{corpus} corpus folder> --only {artifact.kind}")


def verify(version_dir: str | Path, check_hashes: bool = True) -> Artifact:
    """Read and check one version folder; raise ArtifactError naming the problem."""
    version_dir = Path(version_dir)
    mpath = version_dir / MANIFEST
    if not mpath.is_file():
        raise ArtifactError(f"{version_dir}: no {MANIFEST} (incomplete or not a model folder)")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ArtifactError(f"{mpath}: unreadable manifest ({e})") from e
    fv = manifest.get("format_version")
    if fv != FORMAT_VERSION:
        raise ArtifactError(
            f"{mpath}: format version {fv!r}, this nlpsvc reads {FORMAT_VERSION}; retrain the model"
        )
    for name, info in manifest.get("files", {}).items():
        path = version_dir / name
        if not path.is_file():
            raise ArtifactError(f"{version_dir}: file {name} listed in the manifest is missing")
        if path.stat().st_size != info["size"]:
            raise ArtifactError(f"{path}: size {path.stat().st_size}, manifest says {info['size']}")
        if check_hashes and sha256_file(path) != info["sha256"]:
            raise ArtifactError(f"{path}: sha256 mismatch (file corrupted or modified)")
    return Artifact(version_dir, manifest)


def versions(kind_dir: str | Path) -> list[str]:
    """Published versions in a kind folder, oldest first (temp folders excluded)."""
    kind_dir = Path(kind_dir)
    if not kind_dir.is_dir():
        return []
    return sorted(
        p.name for p in kind_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
    )


def load_current(kind_dir: str | Path, fallback: bool = True) -> Artifact:
    """The verified version named by CURRENT.

    If it fails verification and ``fallback`` is set, the newest older version that verifies is
    used instead (with a warning), so one bad publish never takes a model off the air.
    """
    kind_dir = Path(kind_dir)
    cur = kind_dir / CURRENT
    if not cur.is_file():
        raise ArtifactError(f"{kind_dir}: no {CURRENT} file (no model has been published here)")
    name = cur.read_text(encoding="utf-8").strip()
    try:
        return verify(kind_dir / name)
    except ArtifactError as first:
        if not fallback:
            raise
        for older in reversed([v for v in versions(kind_dir) if v < name]):
            try:
                art = verify(kind_dir / older)
            except ArtifactError:
                continue
            log.warning("%s; serving previous version %s instead", first, older)
            return art
        raise


def model_sets(root: str | Path) -> dict[str, Path]:
    """Model sets under ``root``: ``models`` (every corpus in it) or ``models/<corpus>`` (one)."""
    root = Path(root)
    if not root.is_dir():
        raise ArtifactError(f"{root}: no such models folder")

    def is_set(p: Path) -> bool:
        return any((p / k / CURRENT).is_file() for k in KINDS)

    if is_set(root):
        return {root.name: root}
    return {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and is_set(p)}


# -- lookup and description (nlpsvc eval | export | score | info) ---------------------------------


class NoSingleSet(ArtifactError):
    """``models`` holds no model set with a ``kind`` model, or several (``sets`` names them)."""

    def __init__(self, root: Path, kind: str, sets: list[str]) -> None:
        if sets:
            message = (f"{root}: several model sets have a {kind} model ({', '.join(sets)}); "
                       f"name one, e.g. --models {root / sets[0]}")
        else:
            message = f"{root}: no {kind} model (expected {root}/{kind}/{CURRENT})"
        super().__init__(message)
        self.root, self.kind, self.sets = root, kind, sets


def served(models: str | Path, kind: str, model: str | None = None) -> Artifact:
    """The verified served version of ``kind`` under ``models``: a model set folder
    (``models/<corpus>``) or a folder of sets; ``model`` names the set, else there must be one.
    """
    root = Path(models)
    if (root / kind / CURRENT).is_file() and (model is None or model == root.name):
        return load_current(root / kind)
    sets = {n: p for n, p in model_sets(root).items() if (p / kind / CURRENT).is_file()}
    if model is not None:
        if model not in sets:
            raise ArtifactError(f"{root}: no {kind} model in a set named {model!r}")
        return load_current(sets[model] / kind)
    if len(sets) != 1:
        raise NoSingleSet(root, kind, list(sets))
    return load_current(next(iter(sets.values())) / kind)


def info(path: str | Path) -> list[dict[str, Any]]:
    """What ``nlpsvc info PATH`` reports: one dict per served version under ``path`` (a
    version, kind or set folder), each verified (``verified``, ``problem``) and described."""
    path = Path(path)
    if (path / CURRENT).is_file():
        kind_dirs = [path]
    elif (path / MANIFEST).is_file():
        return [_describe(path, None)]
    else:
        kind_dirs = [path / k for k in KINDS if (path / k / CURRENT).is_file()]
        if not kind_dirs:
            raise ArtifactError(f"{path}: not a model version, kind or set folder")
    return [_describe(kd / (kd / CURRENT).read_text(encoding="utf-8").strip(), kd)
            for kd in kind_dirs]


def _describe(version_dir: Path, kind_dir: Path | None) -> dict[str, Any]:
    report: dict[str, Any] = {"path": str(version_dir)}
    try:
        art = verify(version_dir)
        report.update(verified=True, problem=None)
    except ArtifactError as e:
        report.update(verified=False, problem=str(e))
        try:
            art = Artifact(version_dir, json.loads((version_dir / MANIFEST).read_text()))
        except (OSError, ValueError):
            return report
    m = art.manifest
    report.update({k: m.get(k) for k in (
        "kind", "version", "corpus", "corpus_sha256", "created", "format_version",
        "training_seconds", "metrics", "text", "config", "libraries")})
    report["files"] = {n: f["size"] for n, f in m.get("files", {}).items()}
    if kind_dir is not None:
        report["versions"] = versions(kind_dir)
        if not report["verified"]:
            try:
                report["served_instead"] = load_current(kind_dir).version
            except ArtifactError:
                report["served_instead"] = None
    return report


def info_text(report: dict[str, Any]) -> str:
    """One ``info`` report as the lines ``nlpsvc info`` prints without ``--json``."""
    r = report
    status = "OK (all hashes match)" if r["verified"] else f"FAILED: {r['problem']}"
    lines = [r["path"], f"  verification: {status}"]
    for key in ("kind", "version", "corpus", "created", "training_seconds"):
        if r.get(key) is not None:
            lines.append(f"  {key}: {r[key]}")
    for key in ("metrics", "text", "config"):
        if r.get(key):
            lines.append(f"  {key}: {json.dumps(r[key], sort_keys=True)}")
    if r.get("files"):
        total = sum(r["files"].values())
        lines.append(f"  files: {len(r['files'])} ({total / 1e6:.2f} MB)")
    if r.get("versions"):
        lines.append(f"  versions: {', '.join(r['versions'])}")
    if "served_instead" in r:
        lines.append(f"  served instead: {r['served_instead'] or 'nothing (no good version)'}")
    return "\n".join(lines)
