"""The model card: the artifact's README.md, rendered from metrics.json, the config and build.json.

Every section reads its inputs defensively: a quick run without span data, bias files or
robustness numbers still gets a card, with "n/a" or a short note where numbers are missing.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from model import attributes as taxonomy

NA = "n/a"
# Published results, each on its dataset's official test split (ours are on validation data).
# (benchmark, metric, published value, who published it, our source, our attribute, our key)
ANCHORS: tuple[tuple[str, str, float, str, str, str, str], ...] = (
    ("Kaggle Insults 2012", "ROC-AUC", 0.919, "competition winner", "kaggle_insults",
     "personal_attack", "roc_auc"),
    ("UCC hostile", "ROC-AUC", 0.84, "BERT baseline (Price et al. 2020)", "ucc", "hostility",
     "roc_auc"),
    ("UCC antagonize", "ROC-AUC", 0.82, "BERT baseline", "ucc", "antagonism", "roc_auc"),
    ("UCC dismissive", "ROC-AUC", 0.82, "BERT baseline", "ucc", "dismissiveness", "roc_auc"),
    ("UCC condescending", "ROC-AUC", 0.78, "BERT baseline", "ucc", "condescension", "roc_auc"),
    ("UCC sarcastic", "ROC-AUC", 0.64, "BERT baseline", "ucc", "sarcasm", "roc_auc"),
    ("UCC unhealthy", "ROC-AUC", 0.69, "BERT baseline", "ucc", "incivility", "roc_auc"),
    ("OLID level A (OffensEval 2019)", "macro-F1", 0.829, "best system", "olid", "incivility",
     "macro_f1"),
    ("SemEval-2021 Toxic Spans", "char F1", 0.7083, "best system", "toxic_spans", "_spans", "f1"),
)
INTENDED_USE = (
    "This model ranks and flags comments for human review: it helps moderators find the "
    "comments most likely to need their attention first. It is not an automatic ban tool, and "
    "its scores should not remove comments or sanction people without a person deciding."
)


def _get(data: Any, *keys: str) -> Any:
    """``data[k1][k2]...`` or None where any level is missing or not a mapping."""
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return NA
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.3f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _fmt4(value: Any) -> Any:
    """A number to 4 decimals (thresholds move by less than ``_fmt``'s 3 show); else as is."""
    return f"{value:.4f}" if isinstance(value, (float, int)) else value


def _lengths(value: Any) -> str:
    """Token budgets as ``128/96/96``."""
    return "/".join(map(str, value)) if isinstance(value, (list, tuple)) else _fmt(value)


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return ["_No data recorded._", ""]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _mappings(data: Any) -> dict[str, Mapping]:
    """The mapping-valued entries of ``data`` (skipping private ``_`` keys such as ``_spans``)."""
    if not isinstance(data, Mapping):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, Mapping) and not str(k).startswith("_")}


def _attributes(metrics: Mapping, config: Mapping) -> list[str]:
    seen = set(_mappings(_get(metrics, "validation", "all")))
    seen |= set(_mappings(_get(metrics, "thresholds", "attributes")))
    seen |= set(_get(config, "model", "attributes") or [])
    return [name for name in taxonomy.NAMES if name in seen]


def _calibration(entry: Any) -> tuple[Any, Any, Any]:
    """(method, out-of-fold ECE, reason) from ``{"method", "selection"}`` or a bare selection."""
    if not isinstance(entry, Mapping):
        return None, None, entry
    selection = entry.get("selection") if isinstance(entry.get("selection"), Mapping) else entry
    scores = {k: v for k, v in (selection.get("scores") or {}).items()
              if isinstance(v, (int, float)) and math.isfinite(v)}
    # choose_calibration keeps the lowest out-of-fold ECE, so the winner can be recovered.
    method = entry.get("method") or (min(scores, key=scores.get) if scores else None)
    return method, scores.get(method), selection.get("reason")


def _header(metrics: Mapping, config: Mapping, names: list[str]) -> list[str]:
    model = _get(config, "model")
    model = model if isinstance(model, Mapping) else {}
    name, version, base = model.get("name") or "civility", model.get("version"), model.get("base")
    tag = metrics.get("model") or (f"{name}@{version}" if version else name)
    return [
        f"# {tag}", "",
        f"A comment-moderation model that scores English comments for "
        f"{', '.join(f'`{n}`' for n in names) or 'incivility'}. It is a multi-task fine-tune "
        f"of {f'`{base}`' if base else 'a pretrained sentence encoder'} with one head per "
        "attribute, a toxic-span head and a context head that compares a comment with its "
        "article or parent for off-topic drift. Scores are calibrated probabilities, and each "
        "attribute has a flag threshold chosen on validation data.", "",
        "## Intended use", "", INTENDED_USE, "",
        "**Out of scope / misuse:** automatic removal, bans or shadow-bans without review; "
        "profiling or ranking people rather than comments; inferring anyone's identity; "
        "employment, legal or other high-stakes decisions; languages other than English.", "",
    ]


def _data_section(metrics: Mapping, label_map: Mapping) -> list[str]:
    rows = []
    for source, info in sorted(_mappings(_get(metrics, "data", "sources")).items()):
        positives = ", ".join(f"{a}: {n}" for a, n in (info.get("positives") or {}).items())
        rows.append([source, _get(label_map, source, "licence"), _get(label_map, source, "path"),
                     info.get("train"), info.get("validation"), positives or NA])
    headers = ["source", "licence", "path", "train", "validation", "positives (train+val)"]
    return ["## Training data", "", *_table(headers, rows)]


def _validation_section(metrics: Mapping) -> list[str]:
    validation = _mappings(metrics.get("validation"))
    out = ["## Validation metrics", "",
           "On each source's validation split (never its test split), at the artifact's "
           "thresholds. `all` pools every source.", ""]
    headers = ["attribute", "n", "positives", "ROC-AUC", "PR-AUC", "precision", "recall",
               "F1 @ threshold", "ECE", "threshold"]
    keys = ("n", "positives", "roc_auc", "pr_auc", "precision", "recall", "f1", "ece",
            "threshold")
    for source in sorted(validation, key=lambda s: (s != "all", s)):
        rows = [[a, *(m.get(k) for k in keys)] for a, m in _mappings(validation[source]).items()]
        out += [f"### {source}", "", *_table(headers, rows)]
    spans = [[s, _get(v, "_spans", "n"), _get(v, "_spans", "f1")]
             for s, v in sorted(validation.items()) if isinstance(v.get("_spans"), Mapping)]
    return [*out, "### Toxic spans (character F1, SemEval-2021 definition)", "",
            *_table(["source", "posts", "span F1"], spans)]


def _calibration_section(metrics: Mapping, names: list[str], plots: Mapping[str, str]) -> list[str]:
    rows = []
    for name in names:
        method, ece, reason = _calibration(_get(metrics, "calibration", name))
        t = _get(metrics, "thresholds", "attributes", name) or {}
        rows.append([name, method, ece, t.get("threshold"), t.get("precision"), t.get("recall"),
                     t.get("rule") or reason])
    headers = ["attribute", "calibration", "out-of-fold ECE", "threshold", "val. precision",
               "val. recall", "threshold rule"]
    out = ["## Calibration and thresholds", "", "Calibrators were compared by out-of-fold ECE on "
           "pooled validation data and refitted on all of it; a comment is flagged when its "
           "probability reaches the threshold.", "", *_table(headers, rows)]
    spans = _get(metrics, "thresholds", "spans") or _get(metrics, "spans")
    if isinstance(spans, Mapping):
        out += [f"Span threshold: {_fmt(spans.get('threshold'))} ({_fmt(spans.get('rule'))}; "
                f"span F1 {_fmt(spans.get('f1'))}).", ""]
    for name, filename in (plots or {}).items():
        out += [f"![Reliability diagram for {name}]({filename})", ""]
    return out


def _anchor_section(metrics: Mapping) -> list[str]:
    rows = [[bench, metric, published, who, _get(metrics, "validation", src, attr, key),
             f"{src} / {attr.lstrip('_')}"]
            for bench, metric, published, who, src, attr, key in ANCHORS]
    return ["## Published reference results", "",
            "Published numbers are on each dataset's official **test** split, which is withheld "
            "here; ours are on our **validation** split of the same data, with labels mapped "
            "onto our attributes. Read them as a sanity check, not a leaderboard entry.", "",
            *_table(["benchmark", "metric", "published", "by", "ours (validation)",
                     "our source / attribute"], rows)]


def _bias_section(bias: Any) -> list[str]:
    out = ["## Bias checks", ""]
    if not isinstance(bias, Mapping):
        return [*out, "_Not run._", ""]
    if bias.get("skipped"):
        return [*out, f"_Skipped: {_fmt(bias['skipped'])}._", ""]
    madlibs, debiasing = _get(bias, "madlibs") or {}, _get(bias, "debiasing") or {}
    if madlibs.get("skipped") or not madlibs:
        out += [f"Madlibs: _skipped ({_fmt(madlibs.get('skipped') or 'not run')})._", ""]
    else:
        flagged = madlibs.get("flagged_terms") or []
        out += [f"Identity-term template sentences (Dixon et al. 2018), `incivility` at threshold "
                f"{_fmt(madlibs.get('threshold'))}: n = {_fmt(madlibs.get('n'))}, overall "
                f"ROC-AUC {_fmt(madlibs.get('overall_auc'))}, overall FPR "
                f"{_fmt(madlibs.get('overall_fpr'))}. BPSN/BNSP AUCs follow Borkan et al. 2019.",
                "", f"**Flagged terms:** {', '.join(flagged) if flagged else 'none'} (FPR above "
                "2x overall + 0.05, or subgroup AUC more than 0.05 below overall).", ""]
        rows = [[t, m.get("n"), m.get("fpr"), m.get("subgroup_auc"), m.get("bpsn_auc"),
                 m.get("bnsp_auc"), m.get("mean_nontoxic_score"), "**yes**" if t in flagged
                 else ""] for t, m in _mappings(madlibs.get("terms")).items()]
        out += _table(["term", "n", "FPR", "subgroup AUC", "BPSN AUC", "BNSP AUC",
                       "mean score (non-toxic)", "flagged"], rows)
    if debiasing and not debiasing.get("skipped"):
        rows = [[t, m.get("n"), m.get("fpr")]
                for t, m in _mappings(debiasing.get("terms")).items()]
        out += [f"Real non-toxic Wikipedia sentences mentioning identity terms: n = "
                f"{_fmt(debiasing.get('n'))}, FPR {_fmt(debiasing.get('overall_fpr'))}.", "",
                *_table(["term", "n", "FPR"], rows)]
    return out


def _robustness_section(metrics: Mapping) -> list[str]:
    from training.noise import NOISE_KINDS

    rows = [[a, m.get("n"), m.get("roc_auc_clean"), m.get("roc_auc_perturbed")]
            for a, m in _mappings(metrics.get("robustness")).items()]
    return ["## Robustness to filter-dodging noise", "",
            f"Validation comments with about a quarter of their words perturbed "
            f"({', '.join(NOISE_KINDS)}).", "",
            *_table(["attribute", "n", "ROC-AUC clean", "ROC-AUC perturbed"], rows)]


LIMITATIONS = [
    "English only.",
    "Trained on news comments, Wikipedia talk pages, Reddit, tweets and the Qatar Living forum; "
    "other communities and registers may score differently.",
    "`off_topic` was learned from question-answer relevance data and thread self-supervision "
    "(a comment under another thread is off topic, as is a reply spliced with "
    "another thread's text or moved with its parent under another thread's article), not from "
    "labelled article comments; it reads the article's title and lede only (64 tokens), the "
    "parent's head and tail (64) and the comment's (128).",
    "Calibrated on pooled validation data from the sources above: recalibrate thresholds on "
    "your own site's moderation decisions before relying on the probabilities.",
    "Labels come from crowd raters with their own biases; see the bias checks above.",
]


def _known_gaps_section(metrics: Mapping) -> list[str]:
    """Measured shortfalls of this release against its acceptance checks, if any."""
    gaps = metrics.get("known_gaps")
    if not isinstance(gaps, list) or not gaps:
        return []
    return ["## Known gaps", "", *(f"- {_fmt(item)}" for item in gaps), ""]


def _build_section(metrics: Mapping, config: Mapping, build: Mapping) -> list[str]:
    training = metrics.get("training") if isinstance(metrics.get("training"), Mapping) else {}
    command = training.get("command") or _get(build, "command")
    facts = [("command", f"`{command}`" if command else None),
             ("git commit", build.get("git_commit")), ("created", build.get("created")),
             ("python", build.get("python")),
             *((k, training.get(k)) for k in ("steps", "batch_size", "train_records", "seconds",
                                              "device"))]
    versions = build.get("versions") if isinstance(build.get("versions"), Mapping) else {}
    return ["## How it was built", "", *(f"- {k}: {_fmt(v)}" for k, v in facts), "",
            *_table(["library", "version"], [[k, v] for k, v in versions.items()]),
            "Training config:", "", "```json", json.dumps(config, indent=2, default=str), "```", ""]


def _continued_section(metrics: Mapping) -> list[str]:
    """How a run that continued a finished artifact (``civility train --base``) compares with
    it, attribute by attribute; nothing for a run from the base encoder."""
    training = metrics.get("training") if isinstance(metrics.get("training"), Mapping) else {}
    base = training.get("base_model")
    if not base:
        return []
    before = _mappings(training.get("roc_auc_before"))
    after = _mappings(training.get("roc_auc_after"))
    rows = [[source, name, (before.get(source) or {}).get(name), value]
            for source in sorted(after, key=lambda s: (s != "all", s))
            for name, value in after[source].items()]
    return [f"## Continued from {base}", "",
            f"This model is `{base}` with its toxicity side (the top layers the comment "
            "attributes read, their heads and the span head) trained further by this run; its "
            "embeddings, shared trunk and off-topic branch are that model's, and so were the "
            "off_topic calibrator and threshold"
            + (" until this model was recalibrated (below)" if metrics.get("recalibration")
               else "") + ". Validation ROC-AUC before and after, on the same validation "
            "records:", "",
            *_table(["source", "attribute", f"ROC-AUC {base}", "ROC-AUC now"], rows)]


def _context_head_section(metrics: Mapping) -> list[str]:
    """How the off-topic branch was tuned after the joint run (``civility train-context-head``),
    with validation ROC-AUC before and after; nothing when it was not."""
    refit = metrics.get("context_head")
    if not isinstance(refit, Mapping):
        return []
    before, after = refit.get("roc_auc_before") or {}, refit.get("roc_auc_after") or {}
    rows = [[s, before.get(s), after.get(s)] for s in sorted(after, key=lambda s: (s != "all", s))]
    config = refit.get("config") if isinstance(refit.get("config"), Mapping) else {}
    settings = {k: v for k, v in config.items() if k != "known_gaps"}  # 2.1.0 kept gaps there
    tuned = refit.get("branch") if isinstance(refit.get("branch"), Mapping) else {}
    examples = tuned.get("examples") if isinstance(tuned.get("examples"), Mapping) else {}
    settings_lengths = refit.get("context_lengths")
    return ["## Off-topic branch", "",
            f"The off-topic branch of `{_fmt(refit.get('base_model'))}` (its own top layers and "
            f"the context head, reading comment, parent and article as one sequence) was tuned "
            f"on the off-topic data ({_fmt(tuned.get('seconds'))} s; final loss "
            f"{_fmt(tuned.get('final_loss'))}); the embeddings, the shared trunk and every "
            "toxicity head are that model's, so no other attribute's score changed. Its "
            "calibrator and threshold were refitted on validation data.", "",
            *(["The base was a 1.x artifact, whose off_topic was a bi-encoder: the branch was "
               "replaced (its top layers started from the base model's, its head from scratch), "
               "and the first column below is the base's own off_topic, from its metrics.json.",
               ""] if refit.get("upgraded_from_1x") else []),
            *([f"The base read comment, parent and article cut to "
               f"{_lengths(refit.get('context_lengths_before'))} tokens; this branch was tuned "
               f"and serves at {_lengths(settings_lengths)}, so the first column below is the "
               "base's own off_topic as it served, from its metrics.json.", ""]
              if settings_lengths and not refit.get("upgraded_from_1x")
              and refit.get("context_lengths_before") not in (None, settings_lengths) else []),
            f"- command: `{_fmt(refit.get('command'))}`",
            f"- seconds: {_fmt(refit.get('seconds'))}",
            f"- settings: {', '.join(f'{k}={v}' for k, v in settings.items()) or NA}",
            f"- training examples by kind: "
            f"{', '.join(f'{k}: {v}' for k, v in examples.items()) or NA}",
            f"- validation ROC-AUC on drift splices (a reply followed by one of its own topic, "
            f"or of another): {_fmt(refit.get('drift_splices_roc_auc'))}",
            f"- validation ROC-AUC on drifted conversations (replies with their own parent "
            f"under their own article, or under another thread's): "
            f"{_fmt(refit.get('drifted_conversations_roc_auc'))}",
            "", *_table(["source", f"off_topic ROC-AUC {_fmt(refit.get('base_model'))}",
                         "off_topic ROC-AUC tuned"], rows)]


def _recalibration_section(metrics: Mapping) -> list[str]:
    """Each attribute's calibrator and threshold before and after ``civility recalibrate``;
    nothing when the model was not recalibrated."""
    refit = metrics.get("recalibration")
    if not isinstance(refit, Mapping):
        return []
    rows = [[name, entry.get("method_before"), entry.get("method_after"),
             _fmt4(entry.get("threshold_before")), _fmt4(entry.get("threshold_after"))]
            for name, entry in _mappings(refit.get("attributes")).items()]
    spans = _get(refit, "attributes", "_spans") or {}
    return [f"## Recalibrated from {_fmt(refit.get('base_model'))}", "",
            f"This model has the weights of `{_fmt(refit.get('base_model'))}`, so every raw score "
            "is that model's; every calibrator and flag threshold was fitted again on "
            f"{_fmt(refit.get('records'))} validation records (target precision "
            f"{_fmt(refit.get('target_precision'))}), and every figure above that depends on them "
            "was measured again.", "",
            f"- command: `{_fmt(refit.get('command'))}`",
            f"- seconds: {_fmt(refit.get('seconds'))}",
            f"- span threshold: {_fmt(spans.get('threshold_before'))} -> "
            f"{_fmt(spans.get('threshold_after'))}", "",
            *_table(["attribute", "calibration before", "calibration now", "threshold before",
                     "threshold now"], rows)]


def render_model_card(
    metrics: dict, *, config: dict, build: dict, label_map: dict,
    plots: dict[str, str] | None = None,
) -> str:
    """The Markdown model card; sections with no data say so instead of failing."""
    metrics, config = metrics if isinstance(metrics, Mapping) else {}, config or {}
    build, label_map = build if isinstance(build, Mapping) else {}, label_map or {}
    names = _attributes(metrics, config)
    definitions = [[n, taxonomy.get(n).definition, taxonomy.get(n).needs_context] for n in names]
    lines = [*_header(metrics, config, names), "## Attributes", "",
             *_table(["attribute", "definition", "needs context"], definitions),
             *_data_section(metrics, label_map), *_validation_section(metrics),
             *_calibration_section(metrics, names, plots or {}), *_anchor_section(metrics),
             *_bias_section(metrics.get("bias")), *_robustness_section(metrics),
             "## Known limitations", "", *(f"- {item}" for item in LIMITATIONS), "",
             *_known_gaps_section(metrics),
             *_build_section(metrics, config, build), *_continued_section(metrics),
             *_context_head_section(metrics), *_recalibration_section(metrics)]
    return "\n".join(lines).rstrip() + "\n"


def write_calibration_plots(
    curves: dict[str, tuple[np.ndarray, np.ndarray]], directory: Path, *, n_bins: int = 10
) -> dict[str, str]:
    """One reliability diagram PNG per attribute in ``directory``; returns {attr: file name}."""
    # The object API with the Agg canvas: no pyplot global state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    written: dict[str, str] = {}
    for name, (y_true, probs) in curves.items():
        y, p = np.asarray(y_true, dtype=float), np.clip(np.asarray(probs, dtype=float), 0, 1)
        bins = np.searchsorted(edges[1:-1], p, side="right")  # same bins as the ECE metric
        counts = np.bincount(bins, minlength=n_bins)
        filled = counts > 0
        mean_p = np.bincount(bins, weights=p, minlength=n_bins)[filled] / counts[filled]
        mean_y = np.bincount(bins, weights=y, minlength=n_bins)[filled] / counts[filled]
        figure = Figure(figsize=(5, 6))
        FigureCanvasAgg(figure)
        top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
        top.plot(mean_p, mean_y, marker="o", label="model")
        top.set(ylabel="observed frequency", xlim=(0, 1), ylim=(0, 1),
                title=f"{name}: reliability (n = {y.size})")
        top.legend(loc="upper left")
        bottom.bar((edges[:-1] + edges[1:]) / 2, counts, width=1 / n_bins, edgecolor="black")
        bottom.set(xlabel="predicted probability", ylabel="comments", yscale="symlog")
        filename = f"calibration_{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.png"
        figure.savefig(directory / filename, dpi=100, bbox_inches="tight")
        written[name] = filename
    return written
