"""Rebuild ``corpora/demo`` from the public-domain / BSD sources in ``../shared/data``.

Run once by a maintainer (``python -m corpora.build_demo``); the output is committed, so users
never need the sources. Needs PyYAML (the ``dev`` extra) for the chatterbot-corpus files.
Deterministic: the same sources give byte-identical files.

* ``books.txt``: whole books as running text, one sentence a line (hard-wrapped lines of a
  paragraph joined, then split at sentence ends).
* ``labeled.tsv``: author-classification sentences (``author<TAB>sentence``), evenly spaced
  through books *not* in ``books.txt``.
* ``dialogs.jsonl``: every chatterbot-corpus conversation (``{"turns": [...], "topic": ...}``).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SHARED = ROOT.parent.parent / "shared" / "data"

BOOKS = ("carroll-alice.txt", "austen-persuasion.txt", "blake-poems.txt")
AUTHORS = {  # label -> books its sentences are drawn from
    "austen": ("austen-sense.txt",),
    "chesterton": ("chesterton-thursday.txt",),
    "melville": ("melville-moby_dick.txt",),
    "milton": ("milton-paradise.txt",),
    "shakespeare": ("shakespeare-hamlet.txt", "shakespeare-macbeth.txt"),
    "whitman": ("whitman-leaves.txt",),
}
PER_AUTHOR = 700
MIN_WORDS = 5

# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) before a capital.
_SENT_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z])")


def paragraphs(path: Path) -> Iterator[str]:
    """Blank-line separated paragraphs with their hard-wrapped lines joined."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if lines and lines[0].startswith("["):  # the NLTK title line "[Title by Author Year]"
        lines = lines[1:]
    buf: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            buf.append(line.strip())
        elif buf:
            yield " ".join(buf)
            buf = []


def sentences(path: Path) -> Iterator[str]:
    for para in paragraphs(path):
        for sent in _SENT_END.split(para):
            if sent := sent.strip():
                yield sent


def build(out: Path, shared: Path) -> None:
    gut = shared / "gutenberg"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "books.txt", "w", encoding="utf-8", newline="\n") as f:
        for name in BOOKS:
            for sent in sentences(gut / name):
                f.write(sent + "\n")
    with open(out / "labeled.tsv", "w", encoding="utf-8", newline="\n") as f:
        for label, names in AUTHORS.items():
            pool = [s for n in names for s in sentences(gut / n)
                    if len(s.split()) >= MIN_WORDS and "\t" not in s]
            step = max(1, len(pool) // PER_AUTHOR)
            for sent in pool[::step][:PER_AUTHOR]:
                f.write(f"{label}\t{sent}\n")
    import yaml  # only needed here, for the chatterbot-corpus sources

    with open(out / "dialogs.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for yml in sorted((shared / "chatterbot-corpus" / "english").glob("*.yml")):
            data = yaml.safe_load(yml.read_text(encoding="utf-8"))
            topic = (data.get("categories") or [yml.stem])[0]
            for conv in data.get("conversations") or []:
                if not isinstance(conv, list):  # a bare string (one in trivia.yml) is no
                    continue  # conversation: iterated, it gave one turn per letter
                turns = [" ".join(str(t).split()) for t in conv if str(t).strip()]
                if len(turns) >= 2:
                    f.write(json.dumps({"turns": turns, "topic": topic}, ensure_ascii=False)
                            + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "demo")
    ap.add_argument("--shared", type=Path, default=SHARED)
    args = ap.parse_args()
    build(args.out, args.shared)


if __name__ == "__main__":
    main()
