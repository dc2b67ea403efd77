"""Embeddings benchmark: our pipeline against bare gensim on the same text, and /similar serving.

Protocol (``../shared/reference/embeddings.md``): an 8.9M-token text from 20 Newsgroups,
Gutenberg, Brown and PTB train, lower-cased and cut with ``\\w+(?:'\\w+)?``, streamed to a temp
file. For skip-gram, CBOW and fastText: bare gensim (``LineSentence`` over the file,
``build_vocab`` + ``train``) and ``EmbeddingsPipeline`` (the same file as a corpus folder's
``train.txt``) with ``workers=2, vector_size=100, window=5, epochs=5, min_count=5``, repeated
for several seeds (the two systems side by side for each seed and model, their order
alternating), so quality and throughput are compared against run-to-run noise.
Throughput is gensim's effective words (after down-sampling) per second of ``train()`` for both.

Before that, two oracle checks that the pipeline feeds gensim what bare gensim reads: the token
stream of the whole text compared line by line (with our default NFKC normalisation, and
without it), and on a slice, ``workers=1`` training of both systems compared vector by vector.

Then ``/similar`` latency at the trained ~52k vocabulary and at 200k words (exact and faiss
HNSW), in process and over HTTP through gunicorn (``wrk``, one connection, cycling through the
same 1,000 words as the in-process measurement), and memory of 1 vs 4 gunicorn workers.

fastText is also trained a third way, the pipeline with ``text.normalize=""`` (identical tokens to
bare gensim's), over five seeds: this is the suite's follow-up on the fastText quality gap, stored
and rendered with the rest.

Everything measured goes to ``bench/results/embeddings.json`` (``bench.report.publish``) and the
section, its reading against the goals included, is rendered from it.

Knobs (environment): ``NLPSVC_BENCH_EMB_FT_EPOCHS`` (fastText epochs, default 5),
``NLPSVC_BENCH_EMB_SEEDS`` (skip-gram and CBOW, default ``1,2,3``),
``NLPSVC_BENCH_EMB_FT_SEEDS`` (fastText, default ``1,2,3,4,5``), ``NLPSVC_BENCH_EMB_LINES`` (use
only the first N lines: a smoke run, written to a temp file, not stored nor rendered into
BENCHMARKS.md).
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

from bench.report import table

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
EVAL = DATA / "embedding-eval"
SETTINGS = {"vector_size": 100, "window": 5, "min_count": 5, "epochs": 5, "workers": 2,
            "seed": 1}
ALGORITHMS = ("skipgram", "cbow", "fasttext")
ANALOGY_RESTRICT = 30_000
RAW = Path(tempfile.gettempdir()) / "nlpsvc-bench-embeddings.json"  # every figure, for reading
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

def _bare_model(algorithm: str, sentences: Any, settings: dict[str, Any]) -> Any:
    from gensim.models import FastText, Word2Vec

    if algorithm == "fasttext":
        return FastText(sg=1, min_n=3, max_n=6, **settings)
    return Word2Vec(sg=int(algorithm == "skipgram"), **settings)


def bare_gensim(algorithm: str, text: Path, settings: dict[str, Any],
                evaluate: bool = True) -> dict[str, Any]:
    from gensim.models.word2vec import LineSentence

    sentences = LineSentence(str(text))
    t0 = time.perf_counter()
    model = _bare_model(algorithm, sentences, settings)
    model.build_vocab(corpus_iterable=sentences)
    t1, c1 = time.perf_counter(), time.process_time()
    trained, _ = model.train(corpus_iterable=sentences, total_examples=model.corpus_count,
                             epochs=model.epochs)
    t2, c2 = time.perf_counter(), time.process_time()
    wv = model.wv
    out = {"vocab": len(wv), "train_s": t2 - t1, "total_s": t2 - t0,
           "words_per_s": trained / (t2 - t1), "words_per_cpu_s": trained / (c2 - c1),
           "wv": wv}
    if evaluate:
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


def ours(algorithm: str, text: Path, work: Path, settings: dict[str, Any],
         normalize: str | None = None, evaluate: bool = True) -> dict[str, Any]:
    from corpora import open_corpus
    from nlpsvc.artifacts import verify
    from nlpsvc.text import TextConfig
    from pipelines.base import TrainContext
    from pipelines.embeddings import EmbeddingsPipeline

    name = f"bench-{algorithm}" if normalize is None else f"oracle-{algorithm}"
    corpus_dir = work / f"corpus-{name}"
    corpus_dir.mkdir(exist_ok=True)
    (corpus_dir / "train.txt").unlink(missing_ok=True)
    (corpus_dir / "train.txt").symlink_to(text)  # a given train split: the whole text trains
    (corpus_dir / "corpus.toml").write_text(f'name = "{name}"\n', encoding="utf-8")
    text_config = None if normalize is None else TextConfig(normalize=normalize)
    ctx = TrainContext(corpus=open_corpus(corpus_dir, text=text_config),
                       config={"embeddings": {**settings, "algorithm": algorithm,
                                              "evaluate": evaluate}},
                       out=work / ("models" if normalize is None else "oracle"), progress=False)
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


# -- oracle checks: the same tokens, the same vectors ------------------------------------------

def stream_oracle(text: Path, work: Path) -> dict[str, Any]:
    """Our corpus reader's token stream against ``str.split`` of each line of the text (what
    ``LineSentence`` reads), with the default NFKC normalisation and without it."""
    import collections
    import itertools

    from corpora import open_corpus
    from nlpsvc.text import TextConfig

    corpus_dir = work / "corpus-stream"
    corpus_dir.mkdir(exist_ok=True)
    (corpus_dir / "train.txt").unlink(missing_ok=True)
    (corpus_dir / "train.txt").symlink_to(text)
    out: dict[str, Any] = {}
    for label, cfg in (("nfkc", TextConfig()), ("none", TextConfig(normalize=""))):
        corpus = open_corpus(corpus_dir, text=cfg)
        lines = differ = 0
        theirs, mine = collections.Counter(), collections.Counter()
        with open(text, encoding="utf-8") as f:
            raw = (t for t in (line.split() for line in f) if t)
            for a, b in itertools.zip_longest(raw, corpus.sentences("train")):
                lines += 1
                if a != b:
                    differ += 1
                    theirs.update(a or [])
                    mine.update(b or [])
        out[label] = {"lines": lines, "differing_lines": differ,
                      "tokens_only_ours": sum((mine - theirs).values()),
                      "tokens_only_theirs": sum((theirs - mine).values()),
                      "examples": [w for w, _ in (mine - theirs).most_common(5)]}
    return out


def identity_oracle(text: Path, work: Path, lines: int = 50_000) -> list[dict[str, Any]]:
    """On the first ``lines`` lines, ``workers=1``, seed 1, one epoch, our normalisation off:
    the pipeline's vectors against bare gensim's, for each model."""
    from nlpsvc.artifacts import verify
    from nlpsvc.embeddings import load_artifact

    part = work / "slice.txt"
    with open(text, encoding="utf-8") as src, open(part, "w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i >= lines:
                break
            dst.write(line)
    settings = dict(SETTINGS, workers=1, epochs=1, seed=1)
    rows = []
    for algorithm in ALGORITHMS:
        bare = bare_gensim(algorithm, part, settings, evaluate=False)["wv"]
        res = ours(algorithm, part, work, settings, normalize="", evaluate=False)
        mine = load_artifact(verify(res["path"]), mmap=None).kv
        same_vocab = mine.index_to_key == bare.index_to_key
        row = {"algorithm": algorithm, "lines": lines, "vocab": len(bare),
               "same_vocab": same_vocab,
               "identical": same_vocab and bool(np.array_equal(mine.vectors, bare.vectors)),
               "max_abs_diff": float(np.max(np.abs(mine.vectors - bare.vectors)))
               if same_vocab else None}
        if algorithm == "fasttext":
            row["identical"] = row["identical"] and bool(
                np.array_equal(mine.vectors_ngrams, bare.vectors_ngrams))
        rows.append(row)
        print(f"[embeddings] identity oracle: {row}", file=sys.stderr, flush=True)
        shutil.rmtree(res["path"], ignore_errors=True)
    return rows


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


WRK_SECONDS = 10


def wrk_latency(port: int, model: str, words: list[str],
                seconds: int = WRK_SECONDS) -> dict[str, float]:
    """``/similar`` over HTTP with ``wrk -t1 -c1 --latency``: one connection, one request at a
    time, the Lua ``request()`` cycling through ``words`` (so no single word is repeated back to
    back). A 2 s warm-up run first; p50/p99 are wrk's latency distribution of the timed run."""
    from bench.service import parse_wrk

    bodies = ",\n".join(json.dumps(json.dumps({"model": model, "word": w, "topn": 10}))
                         for w in words)
    script = ('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
              f"local bodies = {{\n{bodies}\n}}\nlocal i = 0\n"
              "request = function()\n  i = i % #bodies + 1\n"
              "  return wrk.format(nil, nil, nil, bodies[i])\nend\n")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    url = f"http://127.0.0.1:{port}/similar"
    try:
        runs = [subprocess.run(["wrk", "-t1", "-c1", f"-d{d}s", "--latency", "-s", f.name, url],
                               capture_output=True, text=True, check=True).stdout
                for d in (2, seconds)]
    finally:
        os.unlink(f.name)
    out = parse_wrk(runs[-1])
    if out["non2xx"] or out["socket_errors"]:
        raise RuntimeError(f"wrk /similar {model}: {out}\n{runs[-1]}")
    return out


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

def _mean_sd(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def _ms(values: list[float], fmt: str = "{:.3f}") -> str:
    mean, sd = _mean_sd(values)
    return f"{fmt.format(mean)} ± {fmt.format(sd)}"


COMMAND = "flock /tmp/nlpsvc-bench.lock .venv/bin/python -m bench.run --only embeddings"
NONORM = "nlpsvc, no NFKC"
SYSTEMS = {"skipgram": ["gensim", "nlpsvc"], "cbow": ["gensim", "nlpsvc"],
           "fasttext": ["gensim", "nlpsvc", NONORM]}
CASES = (("bench-skipgram", "exact (faiss scan of unit rows)"),
         ("v200k", "exact (faiss scan of unit rows)"),
         ("v200kann", "faiss HNSW"))


def serving_models(skipgram: Path, models: Path) -> dict[str, Any]:
    """The served skip-gram model, its 200k-word copy with and without the HNSW index
    (published next to it), and the 1,000 query words (of the 30k most frequent)."""
    from nlpsvc.artifacts import load_current, verify
    from nlpsvc.embeddings import load_artifact, pin_threads
    from nlpsvc.embeddings.index import build_index

    pin_threads()
    sg = load_artifact(verify(skipgram, check_hashes=False))
    rng = np.random.default_rng(1)
    top = sg.kv.index_to_key[:30_000]
    words = [top[i] for i in rng.integers(0, len(top), 1000)]
    big = synth_vocab(sg.kv, 200_000)
    t0 = time.perf_counter()
    index, ann = build_index(big.vectors, 0.95, seed=1)
    ann["build_seconds"] = round(time.perf_counter() - t0, 1)
    publish(big, models, "v200k")
    publish(big, models, "v200kann", index, {**ann, "served": index is not None})
    v200k = load_artifact(load_current(models / "v200k" / "embeddings"))
    v200kann = load_artifact(load_current(models / "v200kann" / "embeddings"))
    assert sg.unit is not None and v200k.unit is not None and v200kann.index is not None
    return {"sg": sg, "big": big, "words": words, "ann": ann,
            "loaded": {"bench-skipgram": sg, "v200k": v200k, "v200kann": v200kann}}


def inprocess_latencies(s: dict[str, Any]) -> tuple[dict, dict]:
    from nlpsvc.embeddings import EmbeddingModel

    words = s["words"]
    inproc = {name: inprocess_latency(s["loaded"][name], words) for name, _ in CASES}
    # the previous exact path (gensim most_similar), as artifacts without unit rows use it
    before = {"52k": inprocess_latency(EmbeddingModel(s["sg"].kv), words),
              "200k": inprocess_latency(EmbeddingModel(s["big"]), words)}
    return inproc, before


def latency_rows(results: dict[str, Any]) -> list[list]:
    ann, vocab, rows = results["ann"], results["vocab_sizes"], []
    inproc, before, http = results["latency"], results["latency_before"], results["http"]
    for name, search in CASES:
        recall = f"{ann['recall_at_10']:.3f}" if "HNSW" in search else "1 (exact)"
        rows.append([f"{vocab[name]:,}", search, recall,
                     "{:.2f} / {:.2f}".format(*inproc[name]),
                     "{:.2f} / {:.2f}".format(http[name]["p50_ms"], http[name]["p99_ms"]),
                     f"{http[name]['requests']:,}"])
    for label, name in (("52k", "bench-skipgram"), ("200k", "v200k")):
        rows.append([f"{vocab[name]:,}", "exact, gensim `most_similar` (previous path)",
                     "1 (exact)", "{:.2f} / {:.2f}".format(*before[label]), "—", "—"])
    return rows


def _latency_text(lat_rows: list, ann: dict, wrk_seconds: int) -> str:
    return f"""`/similar` latency (`{{"word": w, "topn": 10}}`, ms, p50 / p99): in process
(`EmbeddingModel.most_similar`, 1,000 random words of the 30k most frequent, BLAS and faiss pinned
to one thread, models loaded from their artifacts as the service loads them) and over HTTP
(`wrk -t1 -c1 -d{wrk_seconds}s --latency` after a 2 s warm-up, one request at a time, a Lua
`request()` cycling through the same 1,000 words; gunicorn, 1 sync worker, p50 / p99 of wrk's
latency distribution). gunicorn's sync worker closes the connection after each response, so wrk
reconnects between requests, but its clock starts when the request is written: the client's TCP
set-up is outside the figure, the server's accept and the whole request/response inside it.
Exact search is `faiss.knn` (inner product) over the memory-mapped unit-row matrix
`vectors.unit.npy`, with gensim's rules (query words excluded, analogy = mean of unit positives
minus negatives); the last two rows are gensim's `most_similar`, still used for artifacts written
without that file. The 200k vocabulary is the 52k trained vectors plus 148k noisy copies of them
(`synth_vocab`); the HNSW index (M=32, efConstruction=80) was built in {ann['build_seconds']} s and
tuned to efSearch {ann['ef_search']} for recall@10 {ann['recall_at_10']:.3f} against exact search
on {ann['recall_queries']} vocabulary words.

{table(["vocab", "search", "recall@10", "in process p50 / p99", "HTTP p50 / p99",
        "HTTP requests"], lat_rows)}
"""


def train_runs(text: Path, work: Path, seeds: list[int], ft_seeds: list[int],
               ft_epochs: int) -> tuple[dict[str, dict[str, list[dict[str, Any]]]], Path]:
    """Every training run, systems of a seed and model back to back in a rotated order; the
    skip-gram model of the last seed is kept (served below)."""
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        a: {s: [] for s in SYSTEMS[a]} for a in ALGORITHMS}
    served: dict[str, Path] = {}
    for i, seed in enumerate(sorted(set(seeds) | set(ft_seeds), key=(seeds + ft_seeds).index)):
        for algorithm in ALGORITHMS:
            if seed not in (ft_seeds if algorithm == "fasttext" else seeds):
                continue
            settings = dict(SETTINGS, seed=seed, epochs=ft_epochs if algorithm == "fasttext"
                            else SETTINGS["epochs"])
            systems = SYSTEMS[algorithm]
            for system in systems[i % len(systems):] + systems[:i % len(systems)]:
                if system == "gensim":
                    r = bare_gensim(algorithm, text, settings)
                    r.pop("wv")
                elif system == NONORM:  # identical tokens to gensim's (the stream oracle)
                    r = ours(algorithm, text, work, settings, normalize="")
                    shutil.rmtree(r.pop("path"), ignore_errors=True)
                else:
                    r = ours(algorithm, text, work, settings)
                    if algorithm in served:  # keep only the last version on disk
                        shutil.rmtree(served[algorithm], ignore_errors=True)
                    served[algorithm] = r.pop("path")
                r = {k: v.item() if hasattr(v, "item") else v for k, v in r.items()}
                r["seed"] = seed
                runs[algorithm][system].append(r)
                print(f"[embeddings] {system} {algorithm} seed {seed}: {r}", file=sys.stderr,
                      flush=True)
    return runs, served["skipgram"]


def measure(seeds: list[int], ft_seeds: list[int], ft_epochs: int,
            max_lines: int | None) -> dict[str, Any]:
    """Every figure of the section (training runs, oracles, latency, memory)."""
    work = Path(tempfile.mkdtemp(prefix="nlpsvc-bench-emb-"))
    try:
        text = work / "text.txt"
        counts = build_text(text, max_lines)
        print(f"[embeddings] text: {counts}", file=sys.stderr, flush=True)
        stream = stream_oracle(text, work)
        print(f"[embeddings] stream oracle: {stream}", file=sys.stderr, flush=True)
        identity = identity_oracle(text, work, min(50_000, counts["lines"]))
        runs, skipgram = train_runs(text, work, seeds, ft_seeds, ft_epochs)

        # Serving: the 52k skip-gram model, and 200k words exact and with the HNSW index.
        models = work / "models"
        s = serving_models(skipgram, models)
        inproc, before = inprocess_latencies(s)
        server, port = start_server(models, 1)
        try:
            http = {name: wrk_latency(port, name, s["words"]) for name, _ in CASES}
            mem1 = _warm_memory(server, port, 1)
        finally:
            stop_server(server)
        server, port = start_server(models, 4)
        try:
            mem4 = _warm_memory(server, port, 4)
        finally:
            stop_server(server)
        return {
            "text": counts, "max_lines": max_lines, "settings": SETTINGS, "seeds": seeds,
            "ft_seeds": ft_seeds, "ft_epochs": ft_epochs, "stream": stream,
            "identity": identity, "runs": runs, "ann": s["ann"],
            "vocab_sizes": {name: m.vocab_size for name, m in s["loaded"].items()},
            "latency": inproc, "latency_before": before, "http": http,
            "wrk_seconds": WRK_SECONDS, "memory": {"1": mem1, "4": mem4},
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    from bench.report import publish

    ft_epochs = int(os.environ.get("NLPSVC_BENCH_EMB_FT_EPOCHS", "5"))
    seeds = [int(x) for x in os.environ.get("NLPSVC_BENCH_EMB_SEEDS", "1,2,3").split(",")]
    ft_seeds = [int(x) for x in
                os.environ.get("NLPSVC_BENCH_EMB_FT_SEEDS", "1,2,3,4,5").split(",")]
    max_lines = int(os.environ.get("NLPSVC_BENCH_EMB_LINES", "0")) or None
    results = measure(seeds, ft_seeds, ft_epochs, max_lines)
    if max_lines:  # a smoke run is not the benchmark: nothing stored, BENCHMARKS.md unchanged
        RAW.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
        print(render(json.loads(RAW.read_text(encoding="utf-8"))))
        print(f"[embeddings] smoke run: stored in {RAW} only, BENCHMARKS.md not written",
              file=sys.stderr)
        return
    knobs = [f"NLPSVC_BENCH_EMB_FT_EPOCHS={ft_epochs}" if ft_epochs != 5 else "",
             f"NLPSVC_BENCH_EMB_SEEDS={','.join(map(str, seeds))}" if seeds != [1, 2, 3] else "",
             f"NLPSVC_BENCH_EMB_FT_SEEDS={','.join(map(str, ft_seeds))}"
             if ft_seeds != [1, 2, 3, 4, 5] else ""]
    command = COMMAND + (f" ({' '.join(k for k in knobs if k)})" if any(knobs) else "")
    doc = publish("embeddings", "Word embeddings (gensim word2vec / fastText)", results, render,
                  command)
    print(render(doc["results"]))


def _stats(rs: list[dict[str, Any]], key: str) -> tuple[float, float]:
    return _mean_sd([r[key] for r in rs])


def _training_tables(runs: dict, ft_epochs: int) -> tuple[list, list]:
    rows, detail = [], []
    metrics = ("wordsim353_spearman", "simlex999_spearman", "analogies_accuracy")
    for algorithm, systems in runs.items():
        epochs = ft_epochs if algorithm == "fasttext" else SETTINGS["epochs"]
        g = systems["gensim"]
        for system, rs in systems.items():
            ratio = ""
            if system != "gensim":
                wall = _stats(rs, "words_per_s")[0] / _stats(g, "words_per_s")[0]
                cpu = _stats(rs, "words_per_cpu_s")[0] / _stats(g, "words_per_cpu_s")[0]
                by_seed = {r["seed"]: r["words_per_s"] for r in g}
                pair = [r["words_per_s"] / by_seed[r["seed"]] for r in rs]
                ratio = f"{wall:.1%} / {cpu:.1%} ({min(pair):.0%}–{max(pair):.0%})"
            rows.append([
                f"{algorithm} ({epochs} ep.)", system, len(rs), f"{rs[0]['vocab']:,}",
                _ms([r["train_s"] for r in rs], "{:.0f}"),
                _ms([r["words_per_s"] for r in rs], "{:,.0f}"),
                _ms([r["words_per_cpu_s"] for r in rs], "{:,.0f}"), ratio,
                *(_ms([r[m] for r in rs]) for m in metrics),
            ])
            for r in rs:
                detail.append([algorithm, r["seed"], system, f"{r['words_per_s']:,.0f}",
                               f"{r['words_per_cpu_s']:,.0f}", f"{r['train_s']:.0f}",
                               *(f"{r[m]:.3f}" for m in metrics), f"{r['total_s']:.0f}"])
    return rows, detail


def _warm_memory(server: subprocess.Popen, port: int, workers: int) -> dict[str, float]:
    """Query every model enough times that each worker has touched its pages, then measure."""
    for i in range(12 * workers):
        for name in ("bench-skipgram", "bench-fasttext", "v200k", "v200kann"):
            request(port, "POST", "/similar", {"model": name, "word": ["the", "king", "war",
                                                                        "time"][i % 4]})
    return memory(server)


METRICS = (("wordsim353_spearman", "WordSim-353"), ("simlex999_spearman", "SimLex-999"),
           ("analogies_accuracy", "analogies"))


def _reading(results: dict[str, Any]) -> str:
    """The findings against the issue's goals, computed from the stored figures."""
    runs, out = results["runs"], []
    ratios = []
    for algorithm, systems in runs.items():
        g, o = systems["gensim"], systems["nlpsvc"]
        wall = _stats(o, "words_per_s")[0] / _stats(g, "words_per_s")[0]
        cpu = _stats(o, "words_per_cpu_s")[0] / _stats(g, "words_per_cpu_s")[0]
        ratios.append((algorithm, wall, cpu))
    out.append("Throughput, ours (default NFKC) / bare gensim, ratio of the means over the seeds "
               "(goal ≥ 90%): " + "; ".join(
                   f"{a} {w:.0%} (wall) / {c:.0%} (CPU): {'met' if w >= 0.9 else 'NOT met'}"
                   for a, w, c in ratios) + ".")
    ident = results["identity"]
    raw = results["stream"]["none"]
    out.append(
        f"Same tokens, same training: with NFKC off our token stream differs from "
        f"`LineSentence`'s on {raw['differing_lines']} of {raw['lines']:,} lines; at `workers=1` "
        "the pipeline's vectors are " + ", ".join(
            f"{r['algorithm']} {'bit-identical' if r['identical'] else 'NOT identical'}"
            for r in ident) + " to bare gensim's.")
    for algorithm, systems in runs.items():
        g = systems["gensim"]
        for system, rs in systems.items():
            if system == "gensim":
                continue
            parts = []
            for key, label in METRICS:
                (mo, so), (mg, sg) = _stats(rs, key), _stats(g, key)
                noise = max(so, sg, 1e-9)
                verdict = ("≥ gensim" if mo >= mg else
                           f"below by {mg - mo:.3f} = {(mg - mo) / noise:.1f} sd")
                parts.append(f"{label} {mo:.3f} ± {so:.3f} vs {mg:.3f} ± {sg:.3f} ({verdict})")
            out.append(f"Quality, {algorithm}, {system} vs gensim over {len(rs)} seeds: "
                       + "; ".join(parts) + ".")
    lat, http = results["latency"], results["http"]
    out.append(
        f"Exact search at 200k words: p50 {lat['v200k'][0]:.2f} ms in process (gensim's "
        f"`most_similar` {results['latency_before']['200k'][0]:.2f} ms), "
        f"{http['v200k']['p50_ms']:.2f} ms over HTTP: goal p50 ≤ 5 ms "
        f"{'met' if max(lat['v200k'][0], http['v200k']['p50_ms']) <= 5 else 'NOT met'}. "
        f"HNSW at 200k: p50 {lat['v200kann'][0]:.2f} ms in process, "
        f"{http['v200kann']['p50_ms']:.2f} ms over HTTP, recall@10 "
        f"{results['ann']['recall_at_10']:.3f}: goal p50 ≤ 1 ms over HTTP "
        f"{'met' if http['v200kann']['p50_ms'] <= 1 else 'NOT met'}.")
    mem = results["memory"]
    out.append(
        f"Memory: 4 workers cost {mem['4']['pss'] - mem['1']['pss']:,.0f} MiB PSS more than 1 "
        f"while the RSS sum grows by {mem['4']['rss'] - mem['1']['rss']:,.0f} MiB: the mapped "
        "vector files are shared between the workers.")
    return "Reading (against the issue's goals):\n" + "\n".join(f"- {x}" for x in out)


def render(results: dict[str, Any]) -> str:
    """The section from the stored results (``publish`` and ``--render``)."""
    counts, ft_epochs = results["text"], results["ft_epochs"]
    seeds, ft_seeds, max_lines = results["seeds"], results["ft_seeds"], results["max_lines"]
    stream, identity = results["stream"], results["identity"]
    oov = results["runs"]["skipgram"]["gensim"][0]
    rows, detail = _training_tables(results["runs"], ft_epochs)
    mem = results["memory"]
    mem_rows = [[n, m["processes"], f"{m['rss']:.0f}", f"{m['pss']:.0f}", f"{m['uss']:.0f}"]
                for n, m in ((1, mem["1"]), (4, mem["4"]))]
    note = (f"**Smoke run on the first {max_lines:,} lines only; not the benchmark.**\n\n"
            if max_lines else "")
    ft_note = (f" fastText ran {ft_epochs} epoch(s) (all systems) to fit the time budget."
               if ft_epochs != 5 else "")
    nfkc, raw = stream["nfkc"], stream["none"]
    ident = "; ".join(
        f"{r['algorithm']} {'identical' if r['identical'] else 'NOT identical'}"
        + (f" (max |Δ| {r['max_abs_diff']:.2g})" if not r["identical"] and r["same_vocab"]
           else "") + ("" if r["same_vocab"] else " (vocabularies differ)")
        for r in identity)
    examples = (
        "; NFKC rewrites mojibake such as `ã¾` into `ã3 ⁄ 4`, so ours has e.g. "
        + ", ".join(f"`{w}`" for w in nfkc["examples"][:3]) + ": the vocabulary difference"
        if nfkc["examples"] else "")
    return f"""{note}Training text: {counts['tokens']:,} tokens, {counts['lines']:,} lines
(20 Newsgroups, Gutenberg, Brown, PTB train; lower-cased, `\\w+(?:'\\w+)?`), as in
`shared/reference/embeddings.md`. Settings for every system: `workers=2, vector_size=100, window=5,
epochs=5, min_count=5`, negative sampling; fastText skip-gram with `min_n=3, max_n=6`,
2M buckets.{ft_note} *gensim* = bare gensim 4.4 over `LineSentence(file)`; *nlpsvc* =
`EmbeddingsPipeline` with the same file as a corpus's `train.txt` (our default tokenizer with
NFKC normalisation, token file, gensim); *{NONORM}* (fastText only) = the same pipeline with
`text.normalize=""`, so that it trains on exactly gensim's tokens (the stream oracle below).
Skip-gram and CBOW were trained with seeds {', '.join(map(str, seeds))}, fastText with seeds
{', '.join(map(str, ft_seeds))}; for each seed and model the systems ran back to back, in a
rotated order; figures are mean ± sample sd over those runs. 2-thread training is not
deterministic, so the sd is the run-to-run noise the systems are compared against.

**Oracle checks (same tokens, same vectors).** Token stream: of {nfkc['lines']:,} lines, our
reader's tokens differ from `str.split` of the text (what `LineSentence` reads) on
{nfkc['differing_lines']} with the default NFKC normalisation ({nfkc['tokens_only_ours']} tokens
only ours, {nfkc['tokens_only_theirs']} only gensim's{examples}) and on
{raw['differing_lines']} with normalisation off (`text.normalize=""`). Vectors: on the first
{identity[0]['lines']:,} lines, `workers=1`, seed 1, one epoch, normalisation off, the
pipeline's vectors against bare gensim's: {ident}. (`tests/embeddings/test_same_as_gensim.py`
checks the same on a book slice in `make test`.) Both systems iterate sentences
(`corpus_iterable`), neither uses `corpus_file`.

Effective words/s = gensim's effective (down-sampled) words per second of `train()`, measured the
same way for both, per wall-clock second and per CPU-second of the process. *ours / gensim* =
ratio of the mean words/s (wall / CPU), with the range of the per-seed wall ratios in brackets.
Spearman ρ on WordSim-353 ({oov['wordsim353_oov_ratio']:.1%} of pairs OOV) and SimLex-999
({oov['simlex999_oov_ratio']:.1%}), OOV pairs skipped (gensim's default); analogies: top-1
accuracy, `restrict_vocab=30000` ({oov['analogies_oov_ratio']:.1%} of the 19,544 questions
skipped as OOV).

{table(["model", "system", "runs", "vocab", "train s", "effective words/s", "per CPU-s",
        "ours / gensim (wall / CPU)", "WordSim-353 ρ", "SimLex-999 ρ", "analogies"], rows)}

Each run (total s: nlpsvc = tokenizing, vocabulary, training, evaluation, publishing; gensim =
vocabulary and training):

{table(["model", "seed", "system", "words/s", "per CPU-s", "train s", "WordSim-353 ρ",
        "SimLex-999 ρ", "analogies", "total s"], detail)}

{_latency_text(latency_rows(results), results["ann"], results["wrk_seconds"])}
Memory of the gunicorn service (MiB, master + workers, after every worker answered queries on
four of the five loaded embedding sets: 52k skip-gram, 52k fastText with its 800 MB n-gram
buckets, 200k exact, 200k + HNSW; 52k CBOW loaded too). RSS counts shared pages once per
process; PSS splits them between the processes that share them, so its growth from 1 to 4
workers is what the extra workers really cost.

{table(["workers", "processes", "RSS sum", "PSS sum", "USS sum"], mem_rows)}

{_reading(results)}
"""


if __name__ == "__main__":
    main()
