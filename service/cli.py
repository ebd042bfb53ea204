"""The ``civility`` command line: score, evaluate, train, train-context-head, recalibrate,
audit-labels, compare, audit-bias, build-runtime, serve, keys, export-decisions.

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
EXIT_GATE_FAILED = 1  # `civility compare`: the new model is worse on some attribute
PROGRESS_MIN_RECORDS = 200
BACKENDS = ("auto", "onnx", "torch")
BACKEND_HELP = "auto: the ONNX Runtime form (built once if missing), else PyTorch"
PRECISIONS = ("fp32", "int8")  # model.loading.PRECISIONS (not imported at start-up)
PRECISION_HELP = ("the encoder graphs' weights (default: $CIVILITY_RUNTIME_PRECISION, else "
                  "int8); fp32 gives PyTorch's scores exactly, int8 is 1.7x faster")
MISSING_MODEL_HINT = ("train one with `civility train --config configs/release.yaml` or "
                      "point --model at a model directory")


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


def _load_scorer(path: str | None, backend: str = "auto"):
    from model.loading import load_scorer

    try:
        return load_scorer(path, backend=backend)
    except ArtifactError as error:
        raise CliError(f"{error}; {MISSING_MODEL_HINT}") from None
    except ValueError as error:  # a bad $CIVILITY_RUNTIME_PRECISION
        raise CliError(str(error)) from None


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
    scorer = _load_scorer(args.model, args.backend)
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
    scorer = _load_scorer(args.model, args.backend)
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


def _training_config(args: argparse.Namespace, flags: dict[str, str | None]):
    """The YAML config with the command line's overrides and ``--flag`` values applied."""
    from training.config import ConfigError, load_config

    overrides = [*getattr(args, "overrides", []),
                 *(f"{key}={value}" for key, value in flags.items() if value)]
    try:
        config = load_config(args.config, overrides)
    except ConfigError as error:
        raise CliError(str(error)) from None
    if not Path(config.data.data_dir).is_dir():
        raise CliError(f"data directory not found: {config.data.data_dir} (pass --data-dir)")
    return config


def _write_artifact(args: argparse.Namespace, run, flags: dict[str, str | None],
                    errors: tuple[type[Exception], ...] = ()) -> None:
    """Run a step that writes an artifact (``run(config, command=...)``) on the config with the
    command line's flags; its config, data and artifact errors (and ``errors``) are user
    errors."""
    from training.config import ConfigError

    config = _training_config(args, flags)
    try:
        path = run(config, command=["civility", *args.argv])
    except (FileNotFoundError, ConfigError, ArtifactError, *errors) as error:
        raise CliError(str(error)) from None
    print(f"artifact written to {path}")


def cmd_train(args: argparse.Namespace) -> None:
    from training.pipeline import run

    _write_artifact(args, run, {"data.data_dir": args.data_dir,
                                "training.output_dir": args.output,
                                "training.base_artifact": args.base})


def cmd_train_context_head(args: argparse.Namespace) -> None:
    from training.context_head import run

    _write_artifact(args, run, {"data.data_dir": args.data_dir,
                                "training.output_dir": args.output,
                                "context_head.base_artifact": args.base}, errors=(ValueError,))


def cmd_recalibrate(args: argparse.Namespace) -> None:
    from training.recalibrate import run

    _write_artifact(args, run, {"data.data_dir": args.data_dir,
                                "training.output_dir": args.output,
                                "training.base_artifact": args.base})


def cmd_audit_labels(args: argparse.Namespace) -> None:
    from model.scorer import Scorer
    from training.audit import audit, format_report
    from training.data.corpus import load_configured

    if args.top < 1 or args.folds < 2:
        raise CliError("--top must be at least 1 and --folds at least 2")
    config = _training_config(args, {"data.data_dir": args.data_dir})
    label_map_path = Path(config.data.label_map)
    if not label_map_path.is_file():
        raise CliError(f"label map not found: {label_map_path}")
    directory = Path(args.model) if args.model else RELEASE_DIR
    try:
        scorer = Scorer.from_pretrained(directory)
    except ArtifactError as error:
        raise CliError(f"{error}; point --model at a model directory") from None
    try:
        records = load_configured(config)
    except (FileNotFoundError, KeyError) as error:
        raise CliError(str(error).strip("'\"")) from None
    # off-topic pairs are made-up records (their labels are true by construction): not audited
    records = [r for r in records if not r.is_pair]
    rows = audit(records, scorer, folds=args.folds, seed=config.training.seed, top=args.top)
    print(format_report(rows))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as sink:
            for row in rows:
                sink.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"ranking written to {args.output}", file=sys.stderr)


def cmd_build_runtime(args: argparse.Namespace) -> None:
    from model.loading import build_runtime, runtime_precision

    try:
        precision = runtime_precision(args.precision)
    except ValueError as error:  # a bad $CIVILITY_RUNTIME_PRECISION
        raise CliError(str(error)) from None
    try:
        directory = build_runtime(args.model or RELEASE_DIR, force=args.force,
                                  precision=precision)
    except ArtifactError as error:
        raise CliError(f"{error}; {MISSING_MODEL_HINT}") from None
    print(f"runtime form ({precision}) ready in {directory}")
def cmd_compare(args: argparse.Namespace) -> int:
    from training.compare_report import compare_models, write_report

    if args.resamples < 1 or args.tolerance < 0:
        raise CliError("--resamples must be at least 1 and --tolerance at least 0")
    files = {}
    for name in args.data:
        records = _read_all(Path(name), args.skip_bad)
        if not any(r.labels for r in records):
            raise CliError(f"{name}: no record has 'labels' to compare on")
        files[Path(name).name] = ([r.comment for r in records], [r.labels for r in records])
    old, new = _load_scorer(args.old), _load_scorer(args.new)
    report = compare_models(old, new, files, n_resamples=args.resamples, seed=args.seed,
                            batch_size=args.batch_size, metric=args.metric,
                            tolerance=args.tolerance)
    markdown = write_report(report, Path(args.output))
    verdict = report["gate"]
    print(f"report written to {markdown}")
    print(f"gate {'passed' if verdict['passed'] else 'FAILED'}: new {verdict['metric']} >= old "
          f"- {verdict['tolerance']} on every attribute"
          + (f" (worse: {', '.join(verdict['worse'])})" if verdict["worse"] else ""))
    return 0 if verdict["passed"] else EXIT_GATE_FAILED


def cmd_audit_bias(args: argparse.Namespace) -> None:
    from training.bias import TERMS_FILE, load_identity_terms
    from training.bias_audit import audit_bias, write_report

    terms_file = Path(args.identity_terms) if args.identity_terms else TERMS_FILE
    try:
        terms = load_identity_terms(terms_file)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise CliError(f"--identity-terms: cannot read {terms_file} ({error})") from None
    records = [r for name in args.data for r in _read_all(Path(name), args.skip_bad)]
    scorer = _load_scorer(args.model)
    try:
        report = audit_bias(scorer, [r.comment for r in records], [r.labels for r in records],
                            terms=terms, attribute=args.attribute, batch_size=args.batch_size,
                            min_per_class=args.min_per_class)
    except ValueError as error:
        raise CliError(str(error)) from None
    markdown = write_report(report, Path(args.output))
    data = report["data"]
    print(f"{report['model']} {args.attribute}: {data['n']} comments, "
          f"{data['with_identity_term']} with an identity term; flagged on the data: "
          f"{', '.join(data['flagged_terms']) or 'none'}; on templates: "
          f"{', '.join(report['templates']['flagged_terms']) or 'none'}")
    print(f"report written to {markdown}")


def cmd_serve(args: argparse.Namespace) -> None:
    from pydantic import ValidationError

    from service.app import serve

    try:
        serve(host=args.host, port=args.port, model=args.model, database=args.database)
    except ArtifactError as error:
        raise CliError(f"{error}; {MISSING_MODEL_HINT}") from None
    except ValidationError as error:  # a bad CIVILITY_* variable: name it, no traceback
        problems = "; ".join(f"CIVILITY_{str(e['loc'][0]).upper()}: {e['msg']}"
                             for e in error.errors())
        raise CliError(f"bad setting: {problems}") from None


def _database(url: str | None):
    """An engine on ``url`` (default: the service's setting), migrated; exit 2 if unreachable."""
    from service.db import make_engine
    from service.settings import Settings

    url = url or Settings().database_url
    try:
        return make_engine(url)
    except Exception as error:  # unreachable server, bad URL: one line, not a traceback
        raise CliError(f"database {url}: {error}".splitlines()[0]) from None


def cmd_keys(args: argparse.Namespace) -> None:
    from sqlalchemy.orm import Session

    from service.auth import KeyRequestError, create_key, revoke_key

    engine = _database(args.database)
    with Session(engine) as session:
        if args.keys_command == "create":
            try:
                row, key = create_key(session, role=args.role, name=args.name or "")
            except KeyRequestError as error:
                raise CliError(str(error)) from None
            print(f"created key {row.id} ({row.name}, role {row.role}); it is shown only once:")
            print(key)
        elif not revoke_key(session, args.id):
            raise CliError(f"no active key with id {args.id}")
        else:
            print(f"revoked key {args.id}")


def cmd_export_decisions(args: argparse.Namespace) -> None:
    import datetime as dt

    from sqlalchemy.orm import Session

    from service.export import export_decisions

    since = None
    if args.since:
        try:
            since = dt.datetime.fromisoformat(args.since)
        except ValueError:
            raise CliError(f"--since: not a date (YYYY-MM-DD or ISO 8601): {args.since!r}"
                           ) from None
    output = Path(args.output)
    if not output.parent.is_dir():
        raise CliError(f"--output: folder not found: {output.parent}")
    engine = _database(args.database)
    with Session(engine) as session:
        decisions, feedback = export_decisions(session, output, since=since)
    engine.dispose()
    print(f"wrote {decisions} moderator decisions and {feedback} suggestscore records "
          f"to {output}")


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
    score.add_argument("--backend", choices=BACKENDS, default="auto", help=BACKEND_HELP)
    score.set_defaults(func=cmd_score)

    ev = sub.add_parser("evaluate", help="metrics of a model on a labelled file")
    ev.add_argument("input")
    ev.add_argument("--model", help=f"model directory (default: {RELEASE_DIR})")
    ev.add_argument("--output", "-o", help="write metrics as JSON here")
    ev.add_argument("--batch-size", type=int, default=16)
    ev.add_argument("--skip-bad", action="store_true")
    ev.add_argument("--backend", choices=BACKENDS, default="auto", help=BACKEND_HELP)
    ev.set_defaults(func=cmd_evaluate)

    tr = sub.add_parser("train", help="fine-tune a model and write an artifact")
    tr.add_argument("--config", required=True, help="YAML config under configs/")
    tr.add_argument("--data-dir", help="datasets folder (e.g. ../shared/datasets)")
    tr.add_argument("--output", help="artifact directory")
    tr.add_argument("--base", help="artifact whose toxicity side trains further (its off-topic "
                                   "branch stays as it is; default: training.base_artifact)")
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

    recal = sub.add_parser("recalibrate", help="refit every calibrator and threshold of an "
                                               "artifact on validation data (weights unchanged)")
    recal.add_argument("--config", required=True,
                       help="YAML config, e.g. configs/recalibrate.yaml (its data and seed "
                            "give the validation records)")
    recal.add_argument("--base", help="artifact to recalibrate (default: training.base_artifact)")
    recal.add_argument("--data-dir", help="datasets folder (e.g. ../shared/datasets)")
    recal.add_argument("--output", help="artifact directory (may be the base artifact)")
    recal.add_argument("overrides", nargs="*", help="section.field=value overrides")
    recal.set_defaults(func=cmd_recalibrate)

    audit = sub.add_parser("audit-labels", help="rank likely mislabelled training examples")
    audit.add_argument("--config", required=True)
    audit.add_argument("--data-dir")
    audit.add_argument("--model", help="artifact whose encoder provides the features")
    audit.add_argument("--output", "-o", help="write the ranking as JSONL here")
    audit.add_argument("--top", type=int, default=20)
    audit.add_argument("--folds", type=int, default=5)
    audit.set_defaults(func=cmd_audit_labels)

    runtime = sub.add_parser("build-runtime", help="build and cache the fast runtime form")
    runtime.add_argument("--model", help=f"model directory (default: {RELEASE_DIR})")
    runtime.add_argument("--force", action="store_true", help="rebuild even if cached")
    runtime.add_argument("--precision", choices=PRECISIONS, help=PRECISION_HELP)
    runtime.set_defaults(func=cmd_build_runtime)
    compare = sub.add_parser("compare", help="compare two models on the same labelled files")
    compare.add_argument("data", nargs="+", help="labelled .jsonl or .csv files")
    compare.add_argument("--old", required=True, help="the current model directory")
    compare.add_argument("--new", required=True, help="the candidate model directory")
    compare.add_argument("--output", "-o", default="compare-report", help="report folder")
    compare.add_argument("--metric", default="roc_auc", choices=("roc_auc", "pr_auc", "f1"),
                         help="metric the exit status gates on")
    compare.add_argument("--tolerance", type=float, default=0.01,
                         help="how much worse the new model may be per attribute")
    compare.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    compare.add_argument("--seed", type=int, default=0)
    compare.add_argument("--batch-size", type=int, default=16)
    compare.add_argument("--skip-bad", action="store_true")
    compare.set_defaults(func=cmd_compare)

    bias = sub.add_parser("audit-bias", help="identity-term bias on your labelled comments")
    bias.add_argument("data", nargs="+", help="labelled .jsonl or .csv files")
    bias.add_argument("--identity-terms", help="term list, one per line (default: the shipped "
                      "English list, training/identity_terms.txt)")
    bias.add_argument("--attribute", default="incivility")
    bias.add_argument("--model", help=f"model directory (default: {RELEASE_DIR})")
    bias.add_argument("--output", "-o", default="bias-report", help="report folder")
    bias.add_argument("--min-per-class", type=int, default=10,
                      help="toxic and non-toxic mentions a term needs to be flagged on AUC")
    bias.add_argument("--batch-size", type=int, default=16)
    bias.add_argument("--skip-bad", action="store_true")
    bias.set_defaults(func=cmd_audit_bias)

    serve = sub.add_parser("serve", help="run the HTTP scoring service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--model", help=f"model directory (default: {RELEASE_DIR})")
    serve.add_argument("--database", help="SQLAlchemy URL (default: sqlite:///civility.db)")
    serve.set_defaults(func=cmd_serve)

    keys = sub.add_parser("keys", help="create or revoke API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key; prints it alone on the last line")
    create.add_argument("--role", required=True, choices=("scorer", "moderator", "admin"))
    create.add_argument("--name", help="who or what uses it")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id", type=int)
    for parser_ in (create, revoke):
        parser_.add_argument("--database", help="SQLAlchemy URL (default: CIVILITY_DATABASE_URL "
                                                "or sqlite:///civility.db)")
    keys.set_defaults(func=cmd_keys)

    export = sub.add_parser("export-decisions",
                            help="write moderator decisions as labelled training records")
    export.add_argument("--since", help="only decisions made on or after this date (ISO 8601)")
    export.add_argument("--output", "-o", required=True, help="JSONL file to write")
    export.add_argument("--database", help="SQLAlchemy URL (default: CIVILITY_DATABASE_URL "
                                           "or sqlite:///civility.db)")
    export.set_defaults(func=cmd_export_decisions)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded in build.json
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        status = args.func(args)
    except CliError as error:
        print(f"civility {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return 0
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
