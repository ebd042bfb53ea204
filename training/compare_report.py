"""``civility compare``: score labelled files with two models and write the report.

The report folder holds ``compare.json`` (everything), ``compare.md`` (tables for a person) and
PNG charts: ``metrics.png`` (each metric per attribute with both models' confidence intervals)
and ``calibration.png`` (both models' calibration curves per attribute). The numbers come from
the pure functions in :mod:`training.compare`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from model.evaluation import calibrated_matrix, label_matrix
from model.scorer import Comment, Scorer
from training.compare import METRICS, compare_arrays, gate

EXAMPLE_CHARS = 160


def score_matrix(scorer: Scorer, comments: Sequence[Comment], names: Sequence[str], *,
                 batch_size: int) -> np.ndarray:
    """(n, len(names)) calibrated probabilities; NaN where the model has no such attribute
    or did not score it (off_topic without context)."""
    probs = calibrated_matrix(scorer, scorer.raw_scores(list(comments), batch_size=batch_size))
    columns = {name: j for j, name in enumerate(scorer.config.attributes)}
    out = np.full((len(comments), len(names)), np.nan)
    for k, name in enumerate(names):
        if name in columns:
            out[:, k] = probs[:, columns[name]]
    return out


def compare_models(
    old: Scorer,
    new: Scorer,
    files: Mapping[str, tuple[Sequence[Comment], Sequence[Mapping[str, float] | None]]],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    batch_size: int = 16,
    top: int = 5,
    metric: str = "roc_auc",
    tolerance: float = 0.01,
) -> dict[str, Any]:
    """Score every file with both models and compare them; ``files`` maps a file name to its
    (comments, labels). Returns the JSON report (comparison, gate, examples with text)."""
    names = [a for a in old.config.attributes if a in new.config.attributes]
    comments = [c for cs, _ in files.values() for c in cs]
    labels = label_matrix([lab for _, labs in files.values() for lab in labs], names)
    groups = [name for name, (cs, _) in files.items() for _ in cs]
    old_probs = score_matrix(old, comments, names, batch_size=batch_size)
    new_probs = score_matrix(new, comments, names, batch_size=batch_size)
    comparison = compare_arrays(
        labels, old_probs, new_probs, names=names, groups=groups,
        old_thresholds={a: old.threshold(a) for a in names},
        new_thresholds={a: new.threshold(a) for a in names},
        n_resamples=n_resamples, seed=seed, top=top,
    )
    j_of = {name: j for j, name in enumerate(names)}
    for name, per_group in comparison["attributes"].items():
        j = j_of[name]
        per_group["all"]["examples"] = {
            direction: [{"file": groups[i], "id": comments[i].id,
                         "text": comments[i].text[:EXAMPLE_CHARS], "label": labels[i, j],
                         "old": old_probs[i, j], "new": new_probs[i, j]} for i in rows]
            for direction, rows in per_group["all"].pop("largest_changes").items()
        }
    return {"old_model": old.config.tag, "new_model": new.config.tag,
            "files": {name: len(cs) for name, (cs, _) in files.items()},
            **comparison, "gate": gate(comparison, metric=metric, tolerance=tolerance)}


def _number(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.3f}"


def _with_ci(value: float | None, ci: Sequence[float | None]) -> str:
    if value is None:
        return "-"
    if ci[0] is None:
        return _number(value)
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def _signed(value: float | None, ci: Sequence[float | None]) -> str:
    if value is None:
        return "-"
    text = f"{value:+.3f}"
    return text if ci[0] is None else f"{text} [{ci[0]:+.3f}, {ci[1]:+.3f}]"


def metrics_table(report: Mapping[str, Any], *, group: str = "all") -> str:
    """A Markdown table: one row per attribute, old/new/difference with CIs per metric."""
    header = ["attribute", "n", "pos"]
    for metric in METRICS:
        header += [f"{metric} old", f"{metric} new", f"{metric} diff"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, per_group in report["attributes"].items():
        entry = per_group.get(group)
        if entry is None:
            continue
        cells = [name, str(entry["n"]), str(entry["positives"])]
        for metric in METRICS:
            m = entry["metrics"][metric]
            cells += [_with_ci(m["old"], m["old_ci"]), _with_ci(m["new"], m["new_ci"]),
                      _signed(m["diff"], m["diff_ci"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def flags_table(report: Mapping[str, Any]) -> str:
    """A Markdown table of flag changes per attribute (all files pooled)."""
    lines = ["| attribute | old flags | new flags | newly flagged (right / wrong) "
             "| unflagged (missed now / false alarm gone) |", "|---|---|---|---|---|"]
    for name, per_group in report["attributes"].items():
        f = per_group["all"]["flags"]
        lines.append(f"| {name} | {f['old_flagged']} | {f['new_flagged']} | "
                     f"{f['newly_flagged']} ({f['newly_flagged_positive']} / "
                     f"{f['newly_flagged_negative']}) | {f['unflagged']} "
                     f"({f['unflagged_positive']} / {f['unflagged_negative']}) |")
    return "\n".join(lines)


def render_markdown(report: Mapping[str, Any]) -> str:
    """The whole report as Markdown (tables, gate verdict, examples, chart links)."""
    g = report["gate"]
    verdict = "PASSED" if g["passed"] else "FAILED"
    files = ", ".join(f"`{name}` ({n})" for name, n in report["files"].items())
    out = [
        f"# {report['new_model']} (new) against {report['old_model']} (old)", "",
        f"Data: {files}. Intervals: {report['confidence']:.0%} paired bootstrap, "
        f"{report['n_resamples']} resamples (seed {report['seed']}). F1 at each model's own "
        "threshold.", "",
        f"**Gate {verdict}**: new {g['metric']} >= old - {g['tolerance']} on every attribute"
        + (f"; worse on {', '.join(g['worse'])}" if g["worse"] else "")
        + (f"; undecided (one class): {', '.join(g['undecided'])}" if g["undecided"] else "")
        + ".", "",
        "## All files", "", metrics_table(report), "",
    ]
    for group in report["files"]:
        if len(report["files"]) > 1:
            out += [f"## {group}", "", metrics_table(report, group=group), ""]
    out += ["## Flag changes (all files)", "", flags_table(report), "",
            "## Largest score changes", ""]
    for name, per_group in report["attributes"].items():
        examples = per_group["all"]["examples"]
        if not examples["rises"] and not examples["falls"]:
            continue
        out.append(f"**{name}**")
        out.append("")
        for direction in ("rises", "falls"):
            for e in examples[direction]:
                text = " ".join(e["text"].split()).replace("|", "/")
                out.append(f"- {e['old']:.2f} -> {e['new']:.2f} (label {e['label']:g}, "
                           f"{e['file']}): {text}")
        out.append("")
    out += ["![metrics](metrics.png)", "", "![calibration](calibration.png)", ""]
    return "\n".join(out)


def write_charts(report: Mapping[str, Any], folder: Path) -> list[Path]:
    """``metrics.png`` and ``calibration.png`` under ``folder``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["attributes"])
    if not names:
        return []
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 0.45 * len(names) + 1.6),
                             sharey=True)
    y = np.arange(len(names))
    for ax, metric in zip(axes, METRICS, strict=True):
        for offset, model, colour in ((-0.15, "old", "tab:grey"), (0.15, "new", "tab:blue")):
            values, low, high = [], [], []
            for name in names:
                m = report["attributes"][name]["all"]["metrics"][metric]
                value = m[model] if m[model] is not None else np.nan
                ci = m[f"{model}_ci"]
                values.append(value)
                low.append(value - ci[0] if ci[0] is not None else 0.0)
                high.append(ci[1] - value if ci[1] is not None else 0.0)
            label = f"{model}: {report[f'{model}_model']}"
            ax.errorbar(values, y + offset, xerr=[low, high], fmt="o", color=colour,
                        label=label, capsize=2, markersize=4)
        ax.set_title(metric)
        ax.set_xlim(0, 1)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, names)
    axes[0].invert_yaxis()
    axes[0].legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    metrics_png = folder / "metrics.png"
    fig.savefig(metrics_png, dpi=90)
    plt.close(fig)

    columns = min(4, len(names))
    rows = math.ceil(len(names) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names, strict=False):
        curves = report["attributes"][name]["all"]["calibration"]
        ax.plot([0, 1], [0, 1], color="black", lw=0.6, ls="--")
        for model, colour in (("old", "tab:grey"), ("new", "tab:blue")):
            ax.plot(curves[model]["mean_prob"], curves[model]["positive_rate"], marker="o",
                    color=colour, label=model, markersize=3)
        ax.set_title(name, fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.supxlabel("predicted probability")
    fig.supylabel("observed positive rate")
    fig.tight_layout()
    calibration_png = folder / "calibration.png"
    fig.savefig(calibration_png, dpi=80)
    plt.close(fig)
    return [metrics_png, calibration_png]


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def write_report(report: Mapping[str, Any], folder: Path, *, charts: bool = True) -> Path:
    """Write compare.json, compare.md (and the charts) into ``folder``; return the .md path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "compare.json").write_text(json.dumps(_json_safe(report), indent=2) + "\n",
                                         encoding="utf-8")
    markdown = folder / "compare.md"
    markdown.write_text(render_markdown(report), encoding="utf-8")
    if charts:
        write_charts(report, folder)
    return markdown
