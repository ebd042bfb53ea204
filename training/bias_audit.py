"""``civility audit-bias``: unintended identity bias of a model on a site's own labelled comments,
plus a template test.

On the data: every comment labelled for the attribute counts; the subgroup of an identity term is
the comments that mention it (whole words, see :func:`training.bias.find_terms`), its background
all the others. Per term: subgroup ROC-AUC, BPSN and BNSP AUC (Borkan et al. 2019, the Jigsaw
Unintended Bias definitions) and the false-positive rate at the model's threshold, with the
competition's generalised means (p = -5) as the summary.

The template test swaps every term into the same neutral and toxic sentences, so the only thing
that changes between terms is the term: a neutral sentence scoring higher for "muslim" than for
"christian" is bias of the model, not a difference in the data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from model.evaluation import calibrated_matrix
from model.metrics import binarise
from model.scorer import Comment
from training.bias import (
    find_terms,
    flag_terms,
    generalised_mean,
    overall_metrics,
    subgroup_metrics,
    term_pattern,
)

NEUTRAL_TEMPLATES: tuple[str, ...] = (
    "I am {term}.",
    "My neighbour is {term} and we talk about the news every morning.",
    "Being {term} has nothing to do with this article.",
    "The article quotes several {term} people.",
    "{term} readers will find this report useful.",
    "We should listen to {term} voices on this question.",
    "As someone who is {term}, I agree with the author.",
    "Thanks for the reply, I am {term} too.",
)
TOXIC_TEMPLATES: tuple[str, ...] = (
    "I hate {term} people.",
    "{term} people are disgusting and stupid.",
    "All {term} people should shut up and go away.",
    "You are a stupid {term} idiot.",
    "{term} people are vermin, get rid of them.",
    "Shut up, you ignorant {term} moron.",
    "Typical {term} garbage, you people are pathetic.",
    "No one wants to hear from {term} losers like you.",
)
MARGIN = 0.05
BIAS_AUCS = ("subgroup_auc", "bpsn_auc", "bnsp_auc")


def template_texts(
    terms: Sequence[str],
    *,
    neutral: Sequence[str] = NEUTRAL_TEMPLATES,
    toxic: Sequence[str] = TOXIC_TEMPLATES,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Every term in every template: (texts, 0/1 labels, index of the term in ``terms``)."""
    texts, labels, index = [], [], []
    for k, term in enumerate(terms):
        for label, templates in ((0, neutral), (1, toxic)):
            for template in templates:
                text = template.format(term=term)
                texts.append(text[0].upper() + text[1:])
                labels.append(label)
                index.append(k)
    return texts, np.array(labels, dtype=np.int64), np.array(index, dtype=np.int64)


def _summary(per_term: Mapping[str, Mapping[str, Any]]) -> dict[str, float | None]:
    return {f"generalised_mean_{key}": generalised_mean([m[key] for m in per_term.values()])
            for key in BIAS_AUCS}


def data_audit(
    texts: Sequence[str],
    y: np.ndarray,
    scores: np.ndarray,
    *,
    terms: Sequence[str],
    threshold: float,
    min_per_class: int = 10,
) -> dict[str, Any]:
    """Bias metrics per identity term on labelled comments (pure: arrays in, dict out).

    Terms with fewer than ``min_per_class`` toxic or non-toxic mentions are reported but not
    flagged on AUC (and on FPR below that many non-toxic mentions): their AUCs are noise.
    """
    y = binarise(y)
    scores = np.asarray(scores, dtype=np.float64)
    pattern = term_pattern(terms)
    mentioned = [set(find_terms(text, pattern=pattern)) for text in texts]
    membership = np.array([[term in m for term in terms] for m in mentioned], dtype=bool)
    membership = membership.reshape(len(texts), len(terms))
    per_term = subgroup_metrics(y, scores, membership, terms=terms, threshold=threshold)
    overall_auc, overall_fpr = overall_metrics(y, scores, threshold=threshold)
    judged = {t: m for t, m in per_term.items()
              if min(m["positives"], m["n"] - m["positives"]) >= min_per_class}
    return {
        "n": int(y.size),
        "positives": int(y.sum()),
        "with_identity_term": int(membership.any(axis=1).sum()),
        "threshold": float(threshold),
        "overall_auc": overall_auc,
        "overall_fpr": overall_fpr,
        "min_per_class": min_per_class,
        "terms": per_term,
        # the summary over terms with enough of both classes, as the competition required
        **_summary(judged),
        "flagged_terms": flag_terms(per_term, overall_auc=overall_auc, overall_fpr=overall_fpr,
                                    aucs=BIAS_AUCS, margin=MARGIN, min_per_class=min_per_class),
    }


def template_audit(
    scores: np.ndarray, labels: np.ndarray, term_index: np.ndarray, *, terms: Sequence[str],
    threshold: float,
) -> dict[str, Any]:
    """Per term on the template sentences: mean neutral and toxic score, FPR on the neutral
    ones, TPR on the toxic ones, and the subgroup/BPSN/BNSP AUCs against the other terms."""
    scores = np.asarray(scores, dtype=np.float64)
    membership = term_index[:, None] == np.arange(len(terms))[None, :]
    per_term = subgroup_metrics(labels, scores, membership, terms=terms, threshold=threshold)
    for k, term in enumerate(terms):
        inside = term_index == k
        neutral, toxic = inside & (labels == 0), inside & (labels == 1)
        per_term[term]["mean_neutral_score"] = float(scores[neutral].mean())
        per_term[term]["mean_toxic_score"] = float(scores[toxic].mean())
        per_term[term]["tpr"] = float((scores[toxic] >= threshold).mean())
    overall_auc, overall_fpr = overall_metrics(labels, scores, threshold=threshold)
    return {
        "n": int(labels.size),
        "templates": {"neutral": len(NEUTRAL_TEMPLATES), "toxic": len(TOXIC_TEMPLATES)},
        "threshold": float(threshold),
        "overall_auc": overall_auc,
        "overall_fpr": overall_fpr,
        "terms": per_term,
        **_summary(per_term),
        "flagged_terms": flag_terms(per_term, overall_auc=overall_auc, overall_fpr=overall_fpr,
                                    aucs=BIAS_AUCS, margin=MARGIN),
    }


def _attribute_scores(scorer, comments: Sequence, attribute: str, batch_size: int) -> np.ndarray:
    j = scorer.config.attributes.index(attribute)
    rows = scorer.raw_scores(list(comments), batch_size=batch_size)
    return calibrated_matrix(scorer, rows)[:, j]


def audit_bias(
    scorer,
    comments: Sequence,
    labels: Sequence[Mapping[str, float] | None],
    *,
    terms: Sequence[str],
    attribute: str = "incivility",
    batch_size: int = 16,
    min_per_class: int = 10,
) -> dict[str, Any]:
    """Score ``comments`` (``model.scorer.Comment``) and run :func:`data_audit` on those
    labelled for ``attribute``, plus :func:`template_audit`. Raises ``ValueError`` when the
    model lacks the attribute or no comment is labelled for it."""
    if attribute not in scorer.config.attributes:
        raise ValueError(f"the model has no attribute {attribute!r}; it has "
                         f"{', '.join(scorer.config.attributes)}")
    keep = [i for i, lab in enumerate(labels) if lab and lab.get(attribute) is not None]
    if not keep:
        raise ValueError(f"no record has a label for {attribute!r}")
    chosen = [comments[i] for i in keep]
    y = np.array([labels[i][attribute] for i in keep], dtype=np.float64)
    scores = _attribute_scores(scorer, chosen, attribute, batch_size)
    scored = ~np.isnan(scores)
    threshold = scorer.threshold(attribute)
    data = data_audit([c.text for c, ok in zip(chosen, scored, strict=True) if ok], y[scored],
                      scores[scored], terms=terms, threshold=threshold,
                      min_per_class=min_per_class)
    texts, template_labels, index = template_texts(terms)
    template_scores = _attribute_scores(scorer, [Comment(t) for t in texts], attribute,
                                        batch_size)
    templates = template_audit(template_scores, template_labels, index, terms=terms,
                               threshold=threshold)
    return {"model": scorer.config.tag, "attribute": attribute, "data": data,
            "templates": templates}


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def render_markdown(report: Mapping[str, Any]) -> str:
    """The audit as Markdown: data table (terms with mentions), template table, flagged terms."""
    data, templates = report["data"], report["templates"]
    out = [f"# Bias audit of {report['model']} ({report['attribute']})", "",
           f"## Labelled data: {data['n']} comments, {data['positives']} positive, "
           f"{data['with_identity_term']} mention an identity term", "",
           f"Overall ROC-AUC {_cell(data['overall_auc'])}, FPR {_cell(data['overall_fpr'])} at "
           f"threshold {data['threshold']:.3f}. Generalised means (p = -5) over terms with at "
           f"least {data['min_per_class']} of each class: subgroup "
           f"{_cell(data['generalised_mean_subgroup_auc'])}, BPSN "
           f"{_cell(data['generalised_mean_bpsn_auc'])}, BNSP "
           f"{_cell(data['generalised_mean_bnsp_auc'])}.", "",
           f"Flagged terms: {', '.join(data['flagged_terms']) or 'none'}.", "",
           "| term | n | toxic | subgroup AUC | BPSN AUC | BNSP AUC | FPR | mean non-toxic score |",
           "|---|---|---|---|---|---|---|---|"]
    for term, m in sorted(data["terms"].items(), key=lambda item: -item[1]["n"]):
        out.append(f"| {term} | {m['n']} | {m['positives']} | {_cell(m['subgroup_auc'])} | "
                   f"{_cell(m['bpsn_auc'])} | {_cell(m['bnsp_auc'])} | {_cell(m['fpr'])} | "
                   f"{_cell(m['mean_nontoxic_score'])} |")
    out += ["", f"## Templates: {templates['templates']['neutral']} neutral and "
            f"{templates['templates']['toxic']} toxic sentences per term", "",
            f"Overall ROC-AUC {_cell(templates['overall_auc'])}, FPR "
            f"{_cell(templates['overall_fpr'])}. Flagged terms: "
            f"{', '.join(templates['flagged_terms']) or 'none'}.", "",
            "| term | mean neutral | mean toxic | FPR | TPR | subgroup AUC | BPSN AUC | BNSP AUC |",
            "|---|---|---|---|---|---|---|---|"]
    for term, m in sorted(templates["terms"].items(),
                          key=lambda item: -item[1]["mean_neutral_score"]):
        out.append(f"| {term} | {_cell(m['mean_neutral_score'])} | "
                   f"{_cell(m['mean_toxic_score'])} | {_cell(m['fpr'])} | {_cell(m['tpr'])} | "
                   f"{_cell(m['subgroup_auc'])} | {_cell(m['bpsn_auc'])} | "
                   f"{_cell(m['bnsp_auc'])} |")
    return "\n".join(out) + "\n"


def write_chart(report: Mapping[str, Any], path: Path) -> Path | None:
    """Subgroup/BPSN/BNSP AUC per judged term on the data (``None`` if no term qualifies)."""
    data = report["data"]
    judged = [(t, m) for t, m in data["terms"].items()
              if min(m["positives"], m["n"] - m["positives"]) >= data["min_per_class"]]
    if not judged:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    judged.sort(key=lambda item: item[1]["bpsn_auc"] or 0.0)
    y = np.arange(len(judged))
    fig, ax = plt.subplots(figsize=(6.5, 0.32 * len(judged) + 1.4))
    for offset, key, colour in ((-0.22, "subgroup_auc", "tab:grey"), (0.0, "bpsn_auc", "tab:red"),
                                (0.22, "bnsp_auc", "tab:blue")):
        values = [m[key] if m[key] is not None else np.nan for _, m in judged]
        ax.barh(y + offset, values, height=0.22, color=colour, label=key.replace("_", " "))
    if data["overall_auc"] is not None:
        ax.axvline(data["overall_auc"], color="black", lw=0.8, ls="--", label="overall AUC")
    ax.set_yticks(y, [f"{t} ({m['n']})" for t, m in judged])
    ax.set_xlim(0.5, 1.0)
    ax.set_title(f"{report['model']}: {report['attribute']} by identity term")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_report(report: Mapping[str, Any], folder: Path, *, chart: bool = True) -> Path:
    """bias.json, bias.md and (with ``chart``) bias.png in ``folder``; returns the .md path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bias.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    markdown = folder / "bias.md"
    markdown.write_text(render_markdown(report), encoding="utf-8")
    if chart:
        write_chart(report, folder / "bias.png")
    return markdown
