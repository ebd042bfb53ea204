"""The ``civility`` command line: score, evaluate, train, train-context-head, audit-labels,
serve.

Bad input stops with exit code 2 and a one-line reason on stderr. Training and serving code is
imported only by the subcommands that need it, so scoring stays light.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from contextlib import nullcontext
from pathlib import Path

from model.artifact import RELEASE_DIR, ArtifactError

EXIT_USAGE = 2
PROGRESS_MIN_RECORDS = 200
MISSING_MODEL_HINT = ("train one with `civility train --config configs/release.yaml` or "
                      "point --model at a model directory")


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


def _load_scorer(path: str | None):
    from model.scorer import Scorer

    directory = Path(path) if path else RELEASE_DIR
    try:
        return Scorer.from_pretrained(directory)
    except ArtifactError as error:
        raise CliError(f"{error}; {MISSING_MODEL_HINT}") from None


def _progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="comment", file=sys.stderr,
                disable=total < PROGRESS_MIN_RECORDS)


def _read_all(path: Path, skip_bad: bool):
    from service.inputs import InputError, read_records

    if not path.exists():
        raise CliError(f"input file not found: {path}")
    try:
        return list(read_records(path, skip_bad=skip_bad,
                                 warn=lambda m: print(f"warning: {m}", file=sys.stderr)))
    except InputError as error:
        raise CliError(f"{path}: {error}") from None
    except UnicodeDecodeError:
        raise CliError(f"{path}: not UTF-8 text") from None


def cmd_score(args: argparse.Namespace) -> None:
    if args.batch_size < 1:
        raise CliError("--batch-size must be at least 1")
    records = _read_all(Path(args.input), args.skip_bad)
    scorer = _load_scorer(args.model)
    chunk = max(args.batch_size * 16, 256)
    output = open(args.output, "w", encoding="utf-8") if args.output else nullcontext(sys.stdout)
    with output as sink, _progress(len(records), "scoring") as bar:
        for start in range(0, len(records), chunk):
            part = records[start : start + chunk]
            results = scorer.score([r.comment for r in part], spans=args.spans,
                                   batch_size=args.batch_size)
            for result in results:
                sink.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
            bar.update(len(part))


def cmd_evaluate(args: argparse.Namespace) -> None:
    from model.evaluation import evaluate
    from model.metrics import format_metrics_table

    records = _read_all(Path(args.input), args.skip_bad)
    if not any(r.labels for r in records):
        raise CliError(f"{args.input}: no record has 'labels' to evaluate against")
    scorer = _load_scorer(args.model)
    spans = [r.span_chars for r in records]
    result = evaluate(scorer, [r.comment for r in records], [r.labels for r in records],
                      span_chars=spans if any(s is not None for s in spans) else None,
                      batch_size=args.batch_size)
    result["model"] = scorer.config.tag
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    else:
        print(f"model {scorer.config.tag} on {args.input} ({len(records)} records)")
        print(format_metrics_table(result["attributes"]))
        if "spans" in result:
            print(f"span F1 (SemEval-2021): {result['spans']['f1']:.4f} "
                  f"over {result['spans']['n']} posts")


def cmd_train(args: argparse.Namespace) -> None:
    from training.config import ConfigError, load_config
    from training.pipeline import run

    overrides = list(args.overrides)
    if args.data_dir:
        overrides.append(f"data.data_dir={args.data_dir}")
    if args.output:
        overrides.append(f"training.output_dir={args.output}")
    try:
        config = load_config(args.config, overrides)
    except ConfigError as error:
        raise CliError(str(error)) from None
    if not Path(config.data.data_dir).is_dir():
        raise CliError(f"data directory not found: {config.data.data_dir} (pass --data-dir)")
    try:
        path = run(config, command=["civility", *args.argv])
    except (FileNotFoundError, ConfigError) as error:
        raise CliError(str(error)) from None
    print(f"artifact written to {path}")


def cmd_train_context_head(args: argparse.Namespace) -> None:
    from training.config import ConfigError, load_config

    overrides = list(args.overrides)
    for flag, key in ((args.data_dir, "data.data_dir"), (args.output, "training.output_dir"),
                      (args.base, "context_head.base_artifact")):
        if flag:
            overrides.append(f"{key}={flag}")
    try:
        config = load_config(args.config, overrides)
    except ConfigError as error:
        raise CliError(str(error)) from None
    if not Path(config.data.data_dir).is_dir():
        raise CliError(f"data directory not found: {config.data.data_dir} (pass --data-dir)")
    from training.context_head import run

    try:
        path = run(config, command=["civility", *args.argv])
    except (FileNotFoundError, ConfigError, ArtifactError, ValueError) as error:
        raise CliError(str(error)) from None
    print(f"artifact written to {path}")


def cmd_audit_labels(args: argparse.Namespace) -> None:
    from training.audit import main as audit_main

    audit_main(args)


def cmd_serve(args: argparse.Namespace) -> None:
    from service.app import serve

    try:
        serve(host=args.host, port=args.port, model=args.model, database=args.database)
    except ArtifactError as error:
        raise CliError(f"{error}; {MISSING_MODEL_HINT}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="civility", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    score = sub.add_parser("score", help="score comments from a .jsonl or .csv file")
    score.add_argument("input")
    score.add_argument("--output", "-o", help="output JSONL (default: stdout)")
    score.add_argument("--model", help=f"model directory (default: {RELEASE_DIR})")
    score.add_argument("--batch-size", type=int, default=8)
    score.add_argument("--spans", action="store_true", help="add character spans")
    score.add_argument("--skip-bad", action="store_true", help="skip malformed records")
    score.set_defaults(func=cmd_score)

    ev = sub.add_parser("evaluate", help="metrics of a model on a labelled file")
    ev.add_argument("input")
    ev.add_argument("--model", help=f"model directory (default: {RELEASE_DIR})")
    ev.add_argument("--output", "-o", help="write metrics as JSON here")
    ev.add_argument("--batch-size", type=int, default=16)
    ev.add_argument("--skip-bad", action="store_true")
    ev.set_defaults(func=cmd_evaluate)

    tr = sub.add_parser("train", help="fine-tune a model and write an artifact")
    tr.add_argument("--config", required=True, help="YAML config under configs/")
    tr.add_argument("--data-dir", help="datasets folder (e.g. ../shared/datasets)")
    tr.add_argument("--output", help="artifact directory")
    tr.add_argument("overrides", nargs="*", help="section.field=value overrides")
    tr.set_defaults(func=cmd_train)

    head = sub.add_parser("train-context-head",
                          help="refit only the off-topic context head of an artifact")
    head.add_argument("--config", required=True, help="YAML config, e.g. configs/context_head.yaml")
    head.add_argument("--base", help="artifact to start from (default: context_head.base_artifact)")
    head.add_argument("--data-dir", help="datasets folder (e.g. ../shared/datasets)")
    head.add_argument("--output", help="artifact directory (may be the base artifact)")
    head.add_argument("overrides", nargs="*", help="section.field=value overrides")
    head.set_defaults(func=cmd_train_context_head)

    audit = sub.add_parser("audit-labels", help="rank likely mislabelled training examples")
    audit.add_argument("--config", required=True)
    audit.add_argument("--data-dir")
    audit.add_argument("--model", help="artifact whose encoder provides the features")
    audit.add_argument("--output", "-o", help="write the ranking as JSONL here")
    audit.add_argument("--top", type=int, default=20)
    audit.add_argument("--folds", type=int, default=5)
    audit.set_defaults(func=cmd_audit_labels)

    serve = sub.add_parser("serve", help="run the HTTP scoring service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--model", help=f"model directory (default: {RELEASE_DIR})")
    serve.add_argument("--database", help="SQLAlchemy URL (default: sqlite:///civility.db)")
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded in build.json
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        args.func(args)
    except CliError as error:
        print(f"civility {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
