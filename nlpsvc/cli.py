"""The ``nlpsvc`` command: train | serve | score | eval | export | info (SPEC §1, §5, §7).

A thin layer: argument parsing, then one library call per command. This is the one module that
knows both ``pipelines/`` (training) and ``nlpsvc/`` (models and service).

The kinds and their packages, pipelines and config classes are declared once, in
``nlpsvc.kinds``. Other model families plug into ``eval`` and ``export`` through two optional
functions of their package:

* ``cli_eval(artifact, args) -> dict`` — figures for ``nlpsvc eval --kind KIND`` (``args`` is the
  argparse namespace: ``input``, ``pairs``, ``analogies``);
* ``cli_export(artifact, fmt, output) -> None`` — ``nlpsvc export --format FMT``.

The language-model kinds (``kinds.LM_KINDS``) are evaluated here through ``nlpsvc.scoring``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from nlpsvc import __version__, kinds
from nlpsvc.artifacts import (
    CURRENT,
    ArtifactError,
    clean_set_temps,
    info,
    info_text,
    model_sets,
    served,
)
from nlpsvc.config import ConfigError, load_toml, merge, parse_sets, to_dataclass
from nlpsvc.kinds import KINDS, LM_KINDS
from nlpsvc.text import TextConfig

PROG = "nlpsvc"


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


# -- train ----------------------------------------------------------------------------------------


def _pipeline_classes(only: list[str] | None) -> dict[str, type]:
    if only:
        unknown = [k for k in only if k not in KINDS]
        if unknown:
            raise CliError(
                f"unknown kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}"
            )
    out = {}
    for kind, target in kinds.pipelines().items():
        if only and kind not in only:
            continue
        module_name = target.partition(":")[0]
        try:
            out[kind] = kinds.load(target)
        except ModuleNotFoundError as e:
            if e.name != module_name:
                raise
            if only:
                raise CliError(f"the {kind} pipeline is not available in this build") from e
            continue  # family not built yet
    return out


def build_config(corpus_config: dict[str, Any], config_file: str | None,
                 sets: list[str]) -> dict[str, Any]:
    """defaults (in each pipeline) < corpus.toml < --config FILE < --set KEY=VALUE."""
    file_tree = load_toml(config_file) if config_file else {}
    tree = merge(corpus_config, file_tree, parse_sets(sets))
    known = {"text", *KINDS}
    for source, t in (("--config", file_tree), ("--set", parse_sets(sets))):
        unknown = sorted(k for k in t if k not in known)
        if unknown:
            raise ConfigError(
                f"{source}: unknown config section(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
    to_dataclass(TextConfig, tree.get("text"), "text")  # fail fast on a bad text.* key
    return tree


def cmd_train(args: argparse.Namespace) -> int:
    from corpora import open_corpus
    from pipelines.base import TrainContext

    only = [k.strip() for k in args.only.split(",") if k.strip()] if args.only else None
    probe = open_corpus(args.corpus, errors=args.errors)
    config = build_config(probe.config(), args.config, args.set or [])
    text = to_dataclass(TextConfig, config.get("text"), "text")
    corpus = open_corpus(args.corpus, text=text, errors=args.errors)
    # First, what killed trainings left in this model set (a live writer's folder is kept).
    clean_set_temps(Path(args.out) / corpus.name)
    config["text"] = text.to_dict()
    classes = _pipeline_classes(only)
    if not classes:
        raise CliError("no training pipelines are available in this build")
    pipelines = [cls() for cls in classes.values()]
    chosen = [p for p in pipelines if p.has_data(corpus)]
    if only:
        missing = [p.kind for p in pipelines if p not in chosen]
        if missing:
            raise CliError(f"corpus {corpus.name!r} has no data for: {', '.join(missing)}")
    if not chosen:
        raise CliError(f"{args.corpus}: no data any pipeline can train on "
                       "(expected *.txt, labeled*.tsv, *.ft or dialogs* files)")
    if args.if_missing:  # `make run`: train only what has no published version yet
        out_set = Path(args.out) / corpus.name
        chosen = [p for p in chosen if not (out_set / p.kind / CURRENT).is_file()]
        if not chosen:
            _say(args, f"{out_set}: every model is already trained")
            return 0
    progress = not args.quiet and sys.stderr.isatty()
    ctx = TrainContext(corpus=corpus, config=config, out=Path(args.out), progress=progress)
    for p in chosen:  # every config checked before any training starts
        p.check(ctx)
    if args.scheduler and args.backend != "dask":
        raise CliError("--scheduler needs --backend dask")
    if args.backend == "dask":
        if [p.kind for p in chosen] != ["ngram"]:
            raise CliError("--backend dask trains the ngram kind only; add --only ngram")
        return _train_on_dask(args, ctx, chosen)
    return _train_chosen(args, ctx, corpus, chosen)


def _train_on_dask(args: argparse.Namespace, ctx: Any, chosen: list[Any]) -> int:
    """``_train_chosen`` with a Dask client in ``ctx.dask`` (the ngram counts on its workers)."""
    from nlpsvc.dask.cluster import ClusterError, dask_client

    try:
        with dask_client(args.scheduler, args.jobs or os.cpu_count() or 2) as client:
            ctx.dask = client
            return _train_chosen(args, ctx, ctx.corpus, chosen)
    except ClusterError as e:
        raise CliError(str(e)) from None


def _train_chosen(args: argparse.Namespace, ctx: Any, corpus: Any, chosen: list[Any]) -> int:
    """Run each chosen pipeline, print the summary table; 1 when any failed."""
    _say(args, f"corpus {corpus.name} ({args.corpus}), training: "
               f"{', '.join(p.kind for p in chosen)}")
    rows, failed = [], []
    for i, p in enumerate(chosen, 1):
        _say(args, f"[{i}/{len(chosen)}] {p.kind} ...")
        t0 = time.perf_counter()
        try:
            res = p.run(ctx)
        except Exception as e:  # one failed family must not hide the others' results
            logging.getLogger(PROG).debug("training %s failed", p.kind, exc_info=True)
            print(f"{PROG} train: error: {p.kind}: {e}", file=sys.stderr)
            failed.append(p.kind)
            rows.append([p.kind, "FAILED", "", "", f"{time.perf_counter() - t0:.1f} s"])
            continue
        value = "" if res.value is None else f"{res.value:.4g}"
        rows.append([res.kind, res.version, res.metric, value, f"{res.seconds:.1f} s"])
    print(_table(["kind", "version", "held-out metric", "value", "time"], rows))
    print(f"artifacts: {Path(args.out) / corpus.name}")
    return 1 if failed else 0


def _say(args: argparse.Namespace, msg: str) -> None:
    if not args.quiet:
        print(msg, file=sys.stderr, flush=True)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*headers), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r) for r in rows]
    return "\n".join(lines)


# -- serve ----------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from nlpsvc.service.auth import TokenConfigError
    from nlpsvc.service.server import serve

    if not model_sets(args.models):
        raise CliError(f"{args.models}: no trained models (run `nlpsvc train CORPUS` first)")
    try:
        serve(
            models=args.models, host=args.host, port=args.port, workers=args.workers,
            threads=args.threads, default_model=args.default_model, timeout=args.timeout,
            tokens_file=args.tokens_file, reload_interval=args.reload_interval,
        )
    except TokenConfigError as e:
        raise CliError(str(e)) from e
    return 0


# -- score -----------------------------------------------------------------------------------------


def cmd_score(args: argparse.Namespace) -> int:
    from nlpsvc.batch import BatchError, score_file

    if args.scheduler and args.backend != "dask":
        raise CliError("--scheduler needs --backend dask")
    try:
        stats = score_file(
            models=args.models, input=args.input, output=args.output, kind=args.kind,
            model=args.model, column=args.column, jobs=args.jobs, chunk_size=args.chunk_size,
            resume=args.resume, per_token=args.per_token, progress=not args.quiet,
            options=_classifier_options(args) if args.kind == "classifier" else None,
            backend=args.backend, scheduler=args.scheduler, partition_lines=args.partition_lines,
        )
    except BatchError as e:
        raise CliError(str(e)) from e
    if not args.quiet:
        print(f"{stats['lines']} lines ({stats['errors']} with errors) -> {args.output} "
              f"in {stats['seconds']:.1f} s", file=sys.stderr)
    return 0


def _classifier_options(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"top_k": args.top_k}
    if args.variant:
        out["variant"] = args.variant
    return out


# -- eval / export / info ------------------------------------------------------------------------


def _family(kind: str) -> Any:
    try:
        return kinds.package(kind)
    except ModuleNotFoundError as e:
        raise CliError(f"the {kind} model family is not available in this build") from e


def cmd_eval(args: argparse.Namespace) -> int:
    kind = kinds.artifact_kind(args.kind)  # mix: its λ is in the lstm artifact
    artifact = served(args.models, kind)
    family = _family(kind)
    if args.kind in LM_KINDS:
        if not args.input:
            raise CliError(f"eval --kind {args.kind} needs --input FILE (text, a sentence a line)")
        from nlpsvc.scoring import LanguageModel

        lm = LanguageModel.from_artifact(artifact, kinds.load_model(args.kind, artifact))
        result = lm.evaluate_file(args.input)
    elif hasattr(family, "cli_eval"):
        result = family.cli_eval(artifact, args)
    else:
        raise CliError(f"eval is not available for kind {args.kind!r} in this build")
    result = {"model": artifact.manifest.get("corpus"), "kind": args.kind,
              "version": artifact.version, **result}
    if args.json:
        print(json.dumps(result))
    else:
        width = max(len(k) for k in result)
        for k, v in result.items():
            print(f"{k:<{width}}  {v:.6g}" if isinstance(v, float) else f"{k:<{width}}  {v}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    artifact = served(args.models, args.kind)
    family = _family(args.kind)
    out = Path(args.output)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        if args.kind == "ngram" and args.format == "arpa":
            family.load_artifact(artifact).to_arpa(tmp, lossy=args.lossy)
        elif hasattr(family, "cli_export"):
            family.cli_export(artifact, args.format, tmp)
        else:
            raise CliError(f"export --format {args.format} is not available for {args.kind}")
        os.replace(tmp, out)  # the output appears whole or not at all
    finally:
        tmp.unlink(missing_ok=True)
    print(f"{args.kind} {artifact.version} -> {out} ({args.format})", file=sys.stderr)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    reports = info(args.path)
    if args.json:
        print(json.dumps(reports if len(reports) > 1 else reports[0], indent=2))
    else:
        for r in reports:
            print(info_text(r))
    return 0 if all(r["verified"] for r in reports) else 1


# -- parser ----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description="NLP text models from corpus to service.")
    ap.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    ap.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train every model the corpus has data for")
    p.add_argument("corpus", help="corpus folder or a single text file")
    p.add_argument("--only", metavar="KIND[,KIND]", help="train only these kinds")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="config override, e.g. ngram.order=5 (repeatable)")
    p.add_argument("--config", metavar="FILE", help="TOML file with config tables")
    p.add_argument("--out", default="models", metavar="DIR",
                   help="models root; artifacts go to DIR/<corpus>/<kind>/<version>/")
    p.add_argument("--errors", choices=("strict", "replace"), default="strict",
                   help="bad UTF-8 bytes: fail naming file and line (default), or replace")
    p.add_argument("--if-missing", action="store_true",
                   help="train only kinds with no published version in DIR yet")
    p.add_argument("--backend", choices=("local", "dask"), default="local",
                   help="dask: count the n-grams on a Dask cluster (with --only ngram)")
    p.add_argument("--scheduler", metavar="ADDR",
                   help="Dask scheduler address (default: a local cluster of --jobs workers)")
    p.add_argument("--jobs", type=int, metavar="N",
                   help="dask without --scheduler: worker processes (default: one per core)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("serve", help="serve trained models over HTTP (gunicorn)")
    p.add_argument("--models", default="models", metavar="DIR",
                   help="models (every set in it) or models/<corpus>")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    # One sync worker per core (CPU-bound requests; threads only add GIL hand-offs).
    p.add_argument("--workers", type=int,
                   default=int(os.environ.get("WORKERS") or os.cpu_count() or 2),
                   help="gunicorn worker processes (default: env WORKERS, else one per core)")
    p.add_argument("--threads", type=int, default=int(os.environ.get("THREADS") or 1),
                   help="threads per worker; >1 uses gthread workers (default: env THREADS, 1)")
    p.add_argument("--timeout", type=int, default=60, help="worker timeout, seconds")
    p.add_argument("--default-model", metavar="NAME",
                   help="model set used when a request names none")
    p.add_argument("--tokens-file", metavar="FILE",
                   help="API tokens, one per line (# comments): every POST then needs "
                        "'Authorization: Bearer TOKEN' (also env NLPSVC_API_TOKENS=a,b)")
    p.add_argument("--reload-interval", type=float, default=2.0, metavar="SECONDS",
                   help="poll each CURRENT this often and serve new versions (0: off)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("score", help="score a large file offline (a JSON line per input line)")
    p.add_argument("--models", default="models", metavar="DIR")
    p.add_argument("--input", required=True, metavar="FILE", help=".txt, .jsonl, .csv or .tsv")
    p.add_argument("--output", required=True, metavar="FILE", help="JSON lines")
    p.add_argument("--kind", default="ngram", choices=kinds.BATCH_KINDS)
    p.add_argument("--model", metavar="NAME", help="model set name when DIR holds several")
    p.add_argument("--column", help="text column of a .csv/.tsv (default: 'text')")
    p.add_argument("--jobs", type=int, default=1,
                   help="worker processes (joblib, or a local Dask cluster's workers)")
    p.add_argument("--chunk-size", type=int, default=2000, help="lines per work unit")
    p.add_argument("--per-token", action="store_true", help="include per-token log10 probs")
    p.add_argument("--top-k", type=int, default=1, help="labels per text (classifier)")
    p.add_argument("--variant", choices=("linear", "fasttext"), help="classifier variant")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--backend", choices=("joblib", "dask"), default="joblib",
                   help="dask: partitions on a Dask cluster (--scheduler, else a local one "
                        "with --jobs workers); the input may then be an fsspec URL")
    p.add_argument("--scheduler", metavar="ADDR",
                   help="Dask scheduler address (tcp://HOST:8786) or scheduler file (.json)")
    p.add_argument("--partition-lines", type=int, metavar="N",
                   help="dask: records per partition (whole chunks; default 25 chunks)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("eval", help="evaluate a trained model on a file")
    p.add_argument("--models", required=True, metavar="DIR", help="models/<corpus>")
    p.add_argument("--kind", required=True, choices=kinds.EVAL_KINDS)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--input", metavar="FILE", help="text (LMs) or labelled data (classifier)")
    g.add_argument("--pairs", metavar="FILE", help="word-similarity pairs (embeddings)")
    g.add_argument("--analogies", metavar="FILE", help="analogy questions (embeddings)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("export", help="export a trained model to a standard format")
    p.add_argument("--models", required=True, metavar="DIR", help="models/<corpus>")
    p.add_argument("--kind", required=True, choices=KINDS)
    p.add_argument("--format", required=True, choices=("arpa", "word2vec", "word2vec-binary"))
    p.add_argument("--output", required=True, metavar="FILE")
    p.add_argument("--lossy", action="store_true",
                   help="arpa: write even a model ARPA cannot represent (stupid backoff, "
                        "nltk-style MLE); its scores will differ when read back")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("info", help="describe and verify models/<corpus>[/<kind>[/<version>]]")
    p.add_argument("path")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except BrokenPipeError:  # `nlpsvc info ... | head`: the reader has gone, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (CliError, ArtifactError, ConfigError, ValueError, OSError) as e:
        # CorpusError is a ValueError: bad corpus data ends here too, as one line.
        print(f"{PROG} {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

