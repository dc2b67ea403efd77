"""Embeddings benchmark: our pipeline against bare gensim on the same text, and /similar serving.

Protocol (``../shared/reference/embeddings.md``): an 8.9M-token text from 20 Newsgroups,
Gutenberg, Brown and PTB train, lower-cased and cut with ``\\w+(?:'\\w+)?``, streamed to a temp
file. For skip-gram, CBOW and fastText, in one run: bare gensim (``LineSentence`` over the file,
``build_vocab`` + ``train``) and ``EmbeddingsPipeline`` (the same file as a corpus folder's
``train.txt``) with ``workers=2, vector_size=100, window=5, epochs=5, min_count=5, seed=1``.
Throughput is gensim's effective words (after down-sampling) per second of ``train()`` for both.
Then ``/similar`` latency at the trained ~52k vocabulary and at 200k words (exact and faiss
HNSW), in process and over HTTP through gunicorn, and memory of 1 vs 4 gunicorn workers.

Knobs (environment): ``NLPSVC_BENCH_EMB_FT_EPOCHS`` (fastText epochs, default 5),
``NLPSVC_BENCH_EMB_LINES`` (use only the first N lines: a quick smoke run).
"""

from __future__ import annotations

import glob
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
EVAL = DATA / "embedding-eval"
SETTINGS = {"vector_size": 100, "window": 5, "min_count": 5, "epochs": 5, "workers": 2,
            "seed": 1}
ALGORITHMS = ("skipgram", "cbow", "fasttext")
ANALOGY_RESTRICT = 30_000
_WORD_RE = re.compile(r"\w+(?:'\w+)?")


# -- the training text --------------------------------------------------------------------------

def build_text(path: Path, max_lines: int | None = None) -> dict[str, int]:
    """Stream the anchor's training text into ``path`` (one sentence/line a line)."""
    lines = tokens = 0
    with open(path, "w", encoding="utf-8") as out:

        def emit(text: str) -> bool:
            nonlocal lines, tokens
            words = _WORD_RE.findall(text.lower())
            if words:
                out.write(" ".join(words) + "\n")
                lines += 1
                tokens += len(words)
            return max_lines is not None and lines >= max_lines

        def sources():  # noqa: ANN202
            for split in ("train", "test"):
                with open(DATA / "20newsgroups" / f"20news-bydate-{split}.jsonl",
                          encoding="utf-8") as f:
                    for record in f:
                        text = json.loads(record)["text"]
                        _, sep, body = text.partition("\n\n")  # drop the header block
                        yield from (body if sep else text).split("\n")
            for book in sorted(glob.glob(str(DATA / "gutenberg" / "*.txt"))):
                if "README" not in book:
                    with open(book, encoding="utf-8", errors="replace") as f:
                        yield from f
            with open(DATA / "brown" / "brown_tagged.tsv", encoding="utf-8") as f:
                for line in f:
                    words = line.partition("\t")[2].split()
                    yield " ".join(w.rsplit("/", 1)[0] for w in words)
            with open(DATA / "ptb" / "ptb.train.txt", encoding="utf-8") as f:
                yield from f

        for text in sources():
            if emit(text):
                break
    return {"lines": lines, "tokens": tokens}


# -- training: bare gensim and ours ------------------------------------------------------------

def bare_gensim(algorithm: str, text: Path, settings: dict[str, Any]) -> dict[str, Any]:
    from gensim.models import FastText, Word2Vec
    from gensim.models.word2vec import LineSentence

    kw = dict(settings)
    sentences = LineSentence(str(text))
    t0 = time.perf_counter()
    if algorithm == "fasttext":
        model = FastText(sg=1, min_n=3, max_n=6, **kw)
    else:
        model = Word2Vec(sg=int(algorithm == "skipgram"), **kw)
    model.build_vocab(corpus_iterable=sentences)
    t1, c1 = time.perf_counter(), time.process_time()
    trained, _ = model.train(corpus_iterable=sentences, total_examples=model.corpus_count,
                             epochs=model.epochs)
    t2, c2 = time.perf_counter(), time.process_time()
    wv = model.wv
    out = {"vocab": len(wv), "train_s": t2 - t1, "total_s": t2 - t0,
           "words_per_s": trained / (t2 - t1), "words_per_cpu_s": trained / (c2 - c1)}
    out.update(_bare_eval(wv))
    return out


def _bare_eval(wv: Any) -> dict[str, Any]:
    """gensim's own evaluation calls, as a gensim user would write them."""
    out: dict[str, Any] = {}
    for name, file in (("wordsim353", "wordsim353.tsv"), ("simlex999", "simlex999.txt")):
        _, spearman, oov = wv.evaluate_word_pairs(str(EVAL / file))
        out[f"{name}_spearman"], out[f"{name}_oov_ratio"] = spearman.statistic, oov / 100
    acc, sections = wv.evaluate_word_analogies(str(EVAL / "questions-words.txt"),
                                               restrict_vocab=ANALOGY_RESTRICT)
    evaluated = len(sections[-1]["correct"]) + len(sections[-1]["incorrect"])
    out["analogies_accuracy"] = acc
    out["analogies_oov_ratio"] = 1 - evaluated / 19_544
    return out


def ours(algorithm: str, text: Path, work: Path, settings: dict[str, Any]) -> dict[str, Any]:
    from corpora import open_corpus
    from nlpsvc.artifacts import verify
    from pipelines.base import TrainContext
    from pipelines.embeddings import EmbeddingsPipeline

    corpus_dir = work / f"corpus-{algorithm}"
    corpus_dir.mkdir(exist_ok=True)
    (corpus_dir / "train.txt").unlink(missing_ok=True)
    (corpus_dir / "train.txt").symlink_to(text)  # a given train split: the whole text trains
    (corpus_dir / "corpus.toml").write_text(f'name = "bench-{algorithm}"\n', encoding="utf-8")
    ctx = TrainContext(corpus=open_corpus(corpus_dir),
                       config={"embeddings": {**settings, "algorithm": algorithm}},
                       out=work / "models", progress=False)
    pipeline = EmbeddingsPipeline()
    pipeline.check(ctx)
    t0 = time.perf_counter()
    res = pipeline.run(ctx)
    total = time.perf_counter() - t0
    m = verify(res.path, check_hashes=False).manifest
    out = {"vocab": m["training"]["vocab_size"], "train_s": m["training"]["train_seconds"],
           "total_s": total, "words_per_s": m["training"]["words_per_second"],
           "words_per_cpu_s": m["training"]["words_per_cpu_second"],
           "path": res.path}
    out.update({k: v for k, v in m["metrics"].items() if k.endswith(("_spearman", "_ratio",
                                                                     "_accuracy"))})
    return out


# -- serving ------------------------------------------------------------------------------------

def percentiles(samples: list[float]) -> tuple[float, float]:
    a = np.asarray(samples) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def inprocess_latency(model: Any, words: list[str]) -> tuple[float, float]:
    times = []
    for w in words:
        t0 = time.perf_counter()
        model.most_similar([w], topn=10)
        times.append(time.perf_counter() - t0)
    return percentiles(times)


def synth_vocab(kv: Any, size: int, seed: int = 0) -> Any:
    """``kv`` grown to ``size`` words: the real vectors plus noisy copies of them (so the
    extra words sit in the same clustered geometry as real ones, not in uniform noise)."""
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(seed)
    n, dim = kv.vectors.shape
    extra = size - n
    base = np.asarray(kv.vectors)[rng.integers(0, n, extra)]
    scale = np.linalg.norm(base, axis=1, keepdims=True) / np.sqrt(dim)
    vecs = base + rng.standard_normal((extra, dim)).astype(np.float32) * scale * 0.6
    big = KeyedVectors(dim)
    big.add_vectors(list(kv.index_to_key) + [f"synth_{i}" for i in range(extra)],
                    np.vstack([np.asarray(kv.vectors), vecs.astype(np.float32)]))
    return big


def publish(kv: Any, root: Path, name: str, index: Any = None, ann: dict | None = None) -> None:
    from nlpsvc.artifacts import ArtifactWriter
    from nlpsvc.embeddings import save_vectors
    from nlpsvc.embeddings.index import AnnIndex

    with ArtifactWriter(root, name, "embeddings") as w:
        save_vectors(kv, w.dir)
        if index is not None:
            index.save(w.dir / AnnIndex.FILE)
        w.manifest.update(text={}, config={"synthetic": True}, metrics={},
                          **({"ann": ann} if ann else {}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(models: Path, workers: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "NLPSVC_MODELS_DIR": str(models), "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
         "--timeout", "300", "nlpsvc.service.app:create_app()"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            if request(port, "GET", "/ready")[0] == 200:
                return proc, port
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited during start-up")
        time.sleep(0.5)
    stop_server(proc)
    raise RuntimeError("gunicorn did not become ready")


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def request(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data,
                     headers={"Content-Type": "application/json"} if data else {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def http_latency(port: int, model: str, words: list[str]) -> tuple[float, float]:
    times = []
    for w in words:
        t0 = time.perf_counter()
        status, _ = request(port, "POST", "/similar", {"model": model, "word": w, "topn": 10})
        times.append(time.perf_counter() - t0)
        if status != 200:
            raise RuntimeError(f"/similar answered {status} for {w!r}")
    return percentiles(times)


def memory(proc: subprocess.Popen) -> dict[str, float]:
    import psutil

    master = psutil.Process(proc.pid)
    procs = [master, *master.children(recursive=True)]
    rss = pss = uss = 0
    for p in procs:
        info = p.memory_full_info()
        rss, pss, uss = rss + info.rss, pss + info.pss, uss + info.uss
    mib = 1024 ** 2
    return {"processes": len(procs), "rss": rss / mib, "pss": pss / mib, "uss": uss / mib}


# -- the run ------------------------------------------------------------------------------------

def main() -> None:
    from bench.report import write_section
    from nlpsvc.embeddings import load_artifact, pin_threads
    from nlpsvc.embeddings.index import build_index

    ft_epochs = int(os.environ.get("NLPSVC_BENCH_EMB_FT_EPOCHS", "5"))
    max_lines = int(os.environ.get("NLPSVC_BENCH_EMB_LINES", "0")) or None
    work = Path(tempfile.mkdtemp(prefix="nlpsvc-bench-emb-"))
    try:
        text = work / "text.txt"
        counts = build_text(text, max_lines)
        print(f"[embeddings] text: {counts}", file=sys.stderr, flush=True)
        rows, results = [], {}
        for algorithm in ALGORITHMS:
            settings = dict(SETTINGS, epochs=ft_epochs if algorithm == "fasttext"
                            else SETTINGS["epochs"])
            bare = bare_gensim(algorithm, text, settings)
            print(f"[embeddings] gensim {algorithm}: {bare}", file=sys.stderr, flush=True)
            mine = ours(algorithm, text, work, settings)
            print(f"[embeddings] ours {algorithm}: {mine}", file=sys.stderr, flush=True)
            results[algorithm] = mine
            ratio = mine["words_per_s"] / bare["words_per_s"]
            cpu_ratio = mine["words_per_cpu_s"] / bare["words_per_cpu_s"]
            for system, r in (("gensim", bare), ("nlpsvc", mine)):
                rows.append([
                    f"{algorithm} ({settings['epochs']} ep.)", system, f"{r['vocab']:,}",
                    f"{r['train_s']:.0f}", f"{r['words_per_s']:,.0f}",
                    f"{r['words_per_cpu_s']:,.0f}",
                    f"{ratio:.1%} / {cpu_ratio:.1%}" if system == "nlpsvc" else "",
                    _rho(r, "wordsim353"), _rho(r, "simlex999"),
                    f"{r['analogies_accuracy']:.3f} ({r['analogies_oov_ratio']:.1%})",
                    f"{r['total_s']:.0f}",
                ])

        # Serving: the 52k skip-gram model, and 200k words exact and with the HNSW index.
        pin_threads()
        models = work / "models"
        from nlpsvc.artifacts import verify

        sg = load_artifact(verify(results["skipgram"]["path"], check_hashes=False))
        rng = np.random.default_rng(1)
        top = sg.kv.index_to_key[:30_000]
        words = [top[i] for i in rng.integers(0, len(top), 1000)]
        big = synth_vocab(sg.kv, 200_000)
        t0 = time.perf_counter()
        index, ann = build_index(big.vectors, 0.95, seed=1)
        ann["build_seconds"] = round(time.perf_counter() - t0, 1)
        publish(big, models, "v200k")
        publish(big, models, "v200kann", index, {**ann, "served": index is not None})
        from nlpsvc.embeddings import EmbeddingModel

        lat_rows = []
        cases = (("bench-skipgram", sg, "exact"),
                 ("v200k", EmbeddingModel(big), "exact"),
                 ("v200kann", EmbeddingModel(big, index=index), "faiss HNSW"))
        inproc = {name: inprocess_latency(model, words) for name, model, _ in cases}

        server, port = start_server(models, 1)
        try:
            http = {name: http_latency(port, name, words[:300]) for name, _, _ in cases}
            mem1 = _warm_memory(server, port, 1)
        finally:
            stop_server(server)
        server, port = start_server(models, 4)
        try:
            mem4 = _warm_memory(server, port, 4)
        finally:
            stop_server(server)
        for name, model, search in cases:
            recall = f"{ann['recall_at_10']:.3f}" if search != "exact" else "1 (exact)"
            lat_rows.append([f"{model.vocab_size:,}", search, recall,
                             "{:.2f} / {:.2f}".format(*inproc[name]),
                             "{:.2f} / {:.2f}".format(*http[name])])
        mem_rows = [[n, m["processes"], f"{m['rss']:.0f}", f"{m['pss']:.0f}", f"{m['uss']:.0f}"]
                    for n, m in ((1, mem1), (4, mem4))]

        body = _report(counts, ft_epochs, rows, lat_rows, mem_rows, ann, max_lines)
        write_section("embeddings", "Word embeddings (gensim word2vec / fastText)", body,
                      "flock /tmp/nlpsvc-bench.lock .venv/bin/python -m bench.run "
                      "--only embeddings" + (f" (NLPSVC_BENCH_EMB_FT_EPOCHS={ft_epochs})"
                                             if ft_epochs != 5 else ""))
        print(body)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _rho(r: dict[str, Any], name: str) -> str:
    rho = r.get(f"{name}_spearman")
    return "n/a" if rho is None else f"{rho:.3f} ({r[f'{name}_oov_ratio']:.1%})"


def _warm_memory(server: subprocess.Popen, port: int, workers: int) -> dict[str, float]:
    """Query every model enough times that each worker has touched its pages, then measure."""
    for i in range(12 * workers):
        for name in ("bench-skipgram", "bench-fasttext", "v200k", "v200kann"):
            request(port, "POST", "/similar", {"model": name, "word": ["the", "king", "war",
                                                                        "time"][i % 4]})
    return memory(server)


def _report(counts: dict, ft_epochs: int, rows: list, lat_rows: list, mem_rows: list,
            ann: dict, max_lines: int | None) -> str:
    from bench.report import table

    note = (f"**Smoke run on the first {max_lines:,} lines only; not the benchmark.**\n\n"
            if max_lines else "")
    ft_note = (f" fastText ran {ft_epochs} epochs (both systems) to fit the time budget."
               if ft_epochs != 5 else "")
    return f"""{note}Training text: {counts['tokens']:,} tokens, {counts['lines']:,} lines
(20 Newsgroups, Gutenberg, Brown, PTB train; lower-cased, `\\w+(?:'\\w+)?`), as in
`shared/reference/embeddings.md`. Settings for both systems: `workers=2, vector_size=100, window=5,
epochs=5, min_count=5, seed=1`, negative sampling; fastText skip-gram with `min_n=3, max_n=6`,
2M buckets.{ft_note} *gensim* = bare gensim 4.4 over `LineSentence(file)`; *nlpsvc* =
`EmbeddingsPipeline` with the same file as a corpus's `train.txt` (our tokenizer, token file,
gensim). Effective words/s = gensim's effective (down-sampled) words per second of `train()`,
measured the same way for both, per wall-clock second and per CPU-second of the process (the
second is steadier on a shared machine); *total s* = the whole run (nlpsvc: tokenizing, vocabulary,
training, evaluation and publishing; gensim: vocabulary and training). Spearman ρ with the OOV
pair ratio in brackets (OOV pairs skipped, gensim's default); analogies: top-1 accuracy,
`restrict_vocab=30000`, share of the 19,544 questions skipped as OOV in brackets.

{table(["model", "system", "vocab", "train s", "effective words/s", "per CPU-s",
        "ours / gensim (wall / CPU)", "WordSim-353 ρ", "SimLex-999 ρ", "analogies", "total s"],
       rows)}

`/similar` latency (`{{"word": w, "topn": 10}}`, ms, p50 / p99): in process
(`EmbeddingModel.most_similar`, 1,000 random words of the 30k most frequent, BLAS pinned to one
thread) and over HTTP (300 sequential requests to gunicorn, 1 sync worker, a new connection each).
The 200k vocabulary is the 52k trained vectors plus 148k noisy copies of them (`synth_vocab`);
the HNSW index (M=32, efConstruction=80) was built in {ann['build_seconds']} s and tuned to efSearch
{ann['ef_search']} for recall@10 {ann['recall_at_10']:.3f} against exact search on
{ann['recall_queries']} vocabulary words.

{table(["vocab", "search", "recall@10", "in process p50 / p99", "HTTP p50 / p99"], lat_rows)}

Memory of the gunicorn service (MiB, master + workers, after every worker answered queries on
all four loaded embedding sets: 52k skip-gram, 52k fastText with its 800 MB n-gram buckets, 200k
exact, 200k + HNSW). RSS counts shared pages once per process; PSS splits them between the
processes that share them, so its growth from 1 to 4 workers is what the extra workers really cost.

{table(["workers", "processes", "RSS sum", "PSS sum", "USS sum"], mem_rows)}
"""


if __name__ == "__main__":
    main()
