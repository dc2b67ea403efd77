"""fastText quality, 5 seeds: bare gensim vs our pipeline with ``text.normalize=""``.

With normalisation off both systems train on identical token streams (bench/embeddings.py's
oracle), so the seed-to-seed spread is all that separates them. Prints one JSON line per run;
``flock /tmp/nlpsvc-bench.lock python -m bench.embeddings_ft_nonorm`` (about 33 minutes here).
"""

import json
import shutil
import tempfile
from pathlib import Path

import bench.embeddings as b


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="nlpsvc-ft-nonorm-"))
    try:
        text = work / "text.txt"
        print(b.build_text(text), flush=True)
        for i, seed in enumerate((1, 2, 3, 4, 5)):
            settings = dict(b.SETTINGS, seed=seed)
            for system in (("gensim", "nlpsvc") if i % 2 == 0 else ("nlpsvc", "gensim")):
                if system == "gensim":
                    r = b.bare_gensim("fasttext", text, settings)
                    r.pop("wv", None)
                else:
                    r = b.ours("fasttext", text, work, settings, normalize="")
                    r.pop("path", None)
                    shutil.rmtree(work / "oracle", ignore_errors=True)
                r = {k: float(v) if hasattr(v, "item") else v for k, v in r.items()}
                r.update(seed=seed, system=system)
                print(json.dumps(r), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
