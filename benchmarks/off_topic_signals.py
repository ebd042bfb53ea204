"""What the off-topic validation data and the coalition thread each reward: the release model's
cross-encoder against the base model's zero-shot similarity, on both.

    .venv/bin/python benchmarks/off_topic_signals.py [--data-dir ../shared/datasets]
        [--max-per-source 500] [--train-sample 2000] [--name off_topic_signals]

Signals, each scored on the off-topic validation records (configs/context_head.yaml's sources,
seed and split; at most ``--max-per-source`` per source, seeded) and on the hand-labelled
coalition thread (tests/fixtures, never trained on):

* ``cross-encoder``: the release model's off_topic logit (comment, parent and article read
  together, as served);
* ``-cos parent``, ``-cos article``, ``-max cos``: minus the cosine of the base model's
  mean-pooled embeddings (``model.base``, untrained here) of the comment and of its parent, its
  article, or the closer of the two: the bi-encoder's signal (release 1.1.0's off_topic
  fine-tuned it);
* ``combined``: a logistic regression on the cross-encoder logit and the max cosine, fitted on
  ``--train-sample`` seeded *training* records per source (pairs as training makes them), as a
  head trained on both would be. The cross-encoder was tuned on those records, so its logit is
  surer there than on new data and gets more weight than held-out data would give it;
* ``combined (validation)``: the same regression fitted on the validation records, which the
  cross-encoder never saw: scored on them out of fold (two folds), and fitted on all of them
  for the thread. The two fits bracket how much weight the similarity deserves.

It prints ROC-AUC per source and on the thread, and each signal's thread ranking; the result
goes to ``benchmarks/results/NAME.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from common import ROOT, SHARED, save, table, thread

from model.artifact import RELEASE_DIR

SIGNALS = ("cross-encoder", "-cos parent", "-cos article", "-max cos", "combined",
           "combined (validation)")


def study_config(data_dir: Path):
    from training.config import load_config

    return load_config(str(ROOT / "configs" / "context_head.yaml"),
                       [f"data.data_dir={data_dir}",
                        f"data.label_map={ROOT / 'configs' / 'labels.yaml'}"])


def off_topic_records(records: list, split: str, limit: int, seed: int) -> list:
    """At most ``limit`` of ``records`` of ``split`` per source (seeded)."""
    by_source: dict[str, list] = {}
    for record in records:
        if record.split == split:
            by_source.setdefault(record.source, []).append(record)
    rng = random.Random(f"{seed}:{split}")
    return [r for source in sorted(by_source)
            for r in rng.sample(by_source[source], min(limit, len(by_source[source])))]


class BaseEmbedder:
    """The base model's sentence embeddings (mean-pooled, unit length), as sentence-transformers
    computes them."""

    def __init__(self, base: str) -> None:
        from transformers import AutoTokenizer, BertModel

        from training.base import resolve_base

        path = str(resolve_base(base))
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = BertModel.from_pretrained(path).eval()

    def __call__(self, texts: list[str], *, max_length: int, batch_size: int = 64):
        import numpy as np
        import torch

        from model.network import mean_pool

        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                batch = self.tokenizer([texts[i] for i in rows], truncation=True, padding=True,
                                       max_length=max_length, return_tensors="pt")
                pooled = mean_pool(self.model(**batch).last_hidden_state, batch["attention_mask"])
                out[rows] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        return out


def signals(scorer, embed: BaseEmbedder, comments: list) -> dict:
    """Every signal but the combinations, for ``Comment``s with their parent and article."""
    import numpy as np

    cross = np.array([row["logits"]["off_topic"] for row in scorer.raw_scores(comments)])
    text = embed([c.text for c in comments], max_length=128)
    contexts = {"parent": [c.parent for c in comments],
                "article": [c.article.content if c.article else None for c in comments]}
    cosines = {}
    for field, texts in contexts.items():
        present = [i for i, t in enumerate(texts) if t]
        cos = np.full(len(comments), np.nan)
        if present:
            cos[present] = (text[present] * embed([texts[i] for i in present],
                                                  max_length=256)).sum(1)
        cosines[field] = cos
    closest = np.fmax(cosines["parent"], cosines["article"])  # the one present, else the max
    return {"cross-encoder": cross, "-cos parent": -cosines["parent"],
            "-cos article": -cosines["article"], "-max cos": -closest}


def roc(y, score) -> float | None:
    import numpy as np

    from model.metrics import roc_auc

    keep = ~np.isnan(score)
    return float(roc_auc(y[keep], score[keep])) if len(set(y[keep])) == 2 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=SHARED)
    parser.add_argument("--model", default=str(RELEASE_DIR))
    parser.add_argument("--max-per-source", type=int, default=500)
    parser.add_argument("--train-sample", type=int, default=2000,
                        help="training records per source the combination is fitted on")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--name", default="off_topic_signals", help="results file name")
    args = parser.parse_args()
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    from model.scorer import Article, Comment, Scorer
    from training.context_head import load_records
    from training.validation import as_comment

    config = study_config(args.data_dir)
    records = load_records(config)  # off-topic records, pairs made as training makes them
    scorer = Scorer.from_pretrained(args.model)
    embed = BaseEmbedder(config.model.base)
    data = thread()
    by_id = {c["id"]: c for c in data["comments"]}
    article = Article(title=data["article"]["title"], text="\n".join(
        p for p in (data["article"].get("subtitle"), data["article"]["body"]) if p))
    sets = {
        "validation": off_topic_records(records, "validation", args.max_per_source, args.seed),
        "train": off_topic_records(records, "train", args.train_sample, args.seed),
    }
    scored = {name: ([as_comment(r) for r in records],
                     np.array([r.labels["off_topic"] >= 0.5 for r in records], dtype=int),
                     [r.source for r in records]) for name, records in sets.items()}
    scored["thread"] = (
        [Comment(text=c["text"], article=article,
                 parent=by_id[c["parent_id"]]["text"] if c["parent_id"] else None)
         for c in data["comments"]],
        np.array([c["labels"]["off_topic"] for c in data["comments"]], dtype=int),
        ["coalition thread"] * len(data["comments"]))
    values = {}
    for name, (items, y, _) in scored.items():
        print(f"{name}: {len(items)} records, {int(y.sum())} off topic", flush=True)
        values[name] = signals(scorer, embed, items)

    def features(name: str):
        return np.stack([values[name]["cross-encoder"], values[name]["-max cos"]], axis=1)

    combiner = LogisticRegression().fit(features("train"), scored["train"][1])
    held_out = LogisticRegression().fit(features("validation"), scored["validation"][1])
    for name in ("validation", "thread"):
        values[name]["combined"] = combiner.decision_function(features(name))
    values["validation"]["combined (validation)"] = cross_val_predict(
        LogisticRegression(), features("validation"), scored["validation"][1], cv=2,
        method="decision_function")
    values["thread"]["combined (validation)"] = held_out.decision_function(features("thread"))

    groups = {}
    _, y, sources = scored["validation"]
    for source in ["all", *sorted(set(sources))]:
        rows = np.array([source in ("all", s) for s in sources])
        groups[source] = (y[rows], {k: v[rows] for k, v in values["validation"].items()})
    groups["coalition thread"] = (scored["thread"][1], values["thread"])
    results = {group: {signal: roc(y, scores[signal]) for signal in SIGNALS}
               for group, (y, scores) in groups.items()}
    print(table(["records", *SIGNALS],
                [[group, *(results[group][s] for s in SIGNALS)] for group in results]))
    ids, labels = [c["id"] for c in data["comments"]], scored["thread"][1]
    rankings = {}
    for signal in SIGNALS:
        order = np.argsort(-values["thread"][signal])
        rankings[signal] = [ids[i] for i in order]
        print(f"thread by {signal}: " + " ".join(
            f"{ids[i]}{'*' if labels[i] else ''}" for i in order[:8]) + " ...")
    for name, fitted in (("combined", combiner), ("combined (validation)", held_out)):
        print(f"{name} = {fitted.coef_[0][0]:+.3f} x cross-encoder logit "
              f"{fitted.coef_[0][1]:+.3f} x (-max cos) {fitted.intercept_[0]:+.3f}")
    print("* = labelled off topic")

    def chart(axes) -> None:
        names = list(results)
        width = 0.8 / len(SIGNALS)
        for i, signal in enumerate(SIGNALS):
            axes.bar([x + i * width for x in range(len(names))],
                     [results[g][signal] or 0 for g in names], width=width, label=signal)
        axes.set_xticks([x + 0.4 - width / 2 for x in range(len(names))],
                        [n.split(":")[0] for n in names], rotation=20)
        axes.set_ylim(0.3, 1.0)
        axes.set_ylabel("off_topic ROC-AUC")
        axes.set_title("Off-topic signals: validation sources vs the coalition thread")
        axes.legend(fontsize=7)

    save(args.name, {"model": scorer.config.tag, "max_per_source": args.max_per_source,
                     "train_sample": args.train_sample,
                     "records": {k: len(v[0]) for k, v in scored.items()},
                     "roc_auc": results, "thread_rankings": rankings,
                     "combiners": {name: {"coef": fitted.coef_[0].tolist(),
                                          "intercept": float(fitted.intercept_[0])}
                                   for name, fitted in (("combined", combiner),
                                                        ("combined (validation)", held_out))}},
         chart)


if __name__ == "__main__":
    main()
