"""Tune the off-topic branch of a finished artifact: its own top layers and the context head.

The branch is a cross-encoder (``model/network.py``): ``[CLS] comment [SEP] parent [SEP]
article [SEP]`` through the frozen shared trunk and the branch's top layers. Tuning it moves no
other weight: the embeddings and the trunk are frozen, and the toxicity top and heads are not
in the branch, so every other attribute's score, calibrator, threshold and metrics stay exactly
as they were; only ``topic_layers``, ``context_head``, the ``off_topic`` calibrator and
threshold, the ``off_topic`` rows of metrics.json and the model card change.

Besides the off-topic records of the configured sources (thread pairs made as in the joint run,
and the human relevance labels of SemEval), two kinds of example teach what thread pairs alone
do not show:

* ``splice_fraction``: partial drift. A reply followed by another reply of its own topic is on
  topic; followed by a reply of another topic, it drifts and is off topic (``drift_splices``).
  Both are emitted, so splicing alone is no clue to the label.
* ``drifted_ratio``: drifted conversations. A reply shown with its own parent but the article
  of another thread is off topic: the reply and its parent are both about something other than
  the article. Thread pairs only show a context that fits as a whole or not at all, so a reply
  that continues an off-topic parent looked on topic.

Comments, parents and articles are cut to the config's ``model.context_lengths``, as the scorer
cuts them when serving (the tuned artifact keeps them; a base with other budgets is compared by its
own metrics, as it served); validation scores come from the scorer itself.

The base may be a 1.x artifact (release 1.1.0 and models retrained from it, whose off_topic was
a bi-encoder; ``load_base``): its embeddings, trunk, toxicity top, heads, calibrators and
thresholds are kept as they are, the branch starts from the base model's top layers (as in a
joint run) and the context head from scratch, so tuning gives it a 2.x off_topic.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import random
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import BertModel

from model import artifact
from model.artifact import ArtifactError
from model.calibration import apply_calibration
from model.encoding import PairEncoded, pad_pairs
from model.metrics import per_label_metrics, roc_auc
from model.scorer import Scorer, network_for, read_weights
from model.text import normalise_with_offsets
from training.base import resolve_base
from training.calibration import choose_calibration, choose_threshold
from training.config import Config, ConfigError
from training.data.corpus import load_configured, read_label_map
from training.data.pairs import drift_splices
from training.features import article_content, record_pairs
from training.noise import make_perturber
from training.pipeline import build_info, check_output, write_artifact
from training.records import Record
from training.validation import as_comment

log = logging.getLogger(__name__)
ATTRIBUTE = "off_topic"


def drifted_conversations(records: list[Record], *, ratio: float, seed: int) -> list[Record]:
    """Off-topic records from own-context thread replies (see the module docstring): the reply
    keeps its own parent and gets the article of a thread of another topic.

    Only pair records shown with their own context (``meta["pair"] == "own"``) that have both
    an article and a parent qualify; ``ratio`` of them (seeded) yield one record each, weighted
    as the original, with ``meta["pair"] == "drifted"``."""
    rng = random.Random(f"{seed}:drifted")

    def topic_of(record: Record) -> str:
        return record.meta.get("topic") or record.group or ""

    eligible = [r for r in records
                if r.meta.get("pair") == "own" and r.parent and article_content(r)]
    articles: dict[str, dict[str, tuple[str | None, str | None]]] = {}
    for r in eligible:
        articles.setdefault(r.source, {}).setdefault(topic_of(r),
                                                    (r.article_title, r.article_text))
    out = []
    for r in eligible:
        if rng.random() >= ratio:
            continue
        others = [t for t in articles[r.source] if t != topic_of(r)]
        if not others:
            continue
        title, text = articles[r.source][rng.choice(others)]
        out.append(dataclasses.replace(r, labels={ATTRIBUTE: 1.0}, article_title=title,
                                       article_text=text, meta={**r.meta, "pair": "drifted"}))
    return out


def pair_inputs(scorer: Scorer, records: list[Record]) -> list[PairEncoded]:
    """The off-topic branch's input for each record, prepared as the scorer prepares it."""
    return record_pairs(scorer.tokenizer, records,
                        [normalise_with_offsets(r.text)[0] for r in records],
                        lengths=scorer.config.lengths, head_fraction=scorer.config.head_fraction)


def length_bucketed_batches(lengths: list[int], *, batch_size: int, steps: int,
                            seed: int, bucket: int = 16) -> list[list[int]]:
    """``steps`` batches drawn from seeded permutations of all examples: each run of ``bucket``
    batches is sorted by length before it is split (little padding), then shuffled."""
    rng = random.Random(f"{seed}:batches")
    batches: list[list[int]] = []
    while len(batches) < steps:
        order = list(range(len(lengths)))
        rng.shuffle(order)
        for start in range(0, len(order), batch_size * bucket):
            run = sorted(order[start:start + batch_size * bucket], key=lengths.__getitem__)
            chunk = [run[i:i + batch_size] for i in range(0, len(run), batch_size)]
            rng.shuffle(chunk)
            batches += chunk
    return batches[:steps]


def tune_branch(scorer: Scorer, records: list[Record], *, steps: int, batch_size: int,
                learning_rate: float, head_learning_rate: float, weight_decay: float,
                seed: int) -> list[float]:
    """Fine-tune the off-topic branch (its top layers and the context head) on ``records``
    (weighted soft-label BCE, AdamW, one-cycle schedule) for ``steps`` length-bucketed batches;
    the embeddings and the shared trunk stay frozen. Returns the loss of each step."""
    network, pad = scorer.network, scorer.tokenizer.pad_token_id
    if not len(network.topic_layers):
        raise ConfigError("the artifact's off-topic branch shares every layer with the toxicity "
                          "heads (topic_layers: 0): it cannot be tuned alone")
    pairs = pair_inputs(scorer, records)
    targets = torch.tensor([r.labels[ATTRIBUTE] for r in records], dtype=torch.float32)
    weights = torch.tensor([r.weight for r in records], dtype=torch.float32)
    branch = list(network.topic_layers.parameters())
    head = list(network.context_head.parameters())
    for parameter in (*branch, *head):
        parameter.requires_grad_(True)
    optimizer = torch.optim.AdamW(
        [{"params": branch, "lr": learning_rate}, {"params": head, "lr": head_learning_rate}],
        weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[learning_rate, head_learning_rate], total_steps=steps, pct_start=0.1)
    torch.manual_seed(seed)
    losses: list[float] = []
    began = time.time()
    network.train()
    try:
        for step, rows in enumerate(length_bucketed_batches(
                [len(p.input_ids) for p in pairs], batch_size=batch_size, steps=steps,
                seed=seed)):
            ids, types, mask = (torch.from_numpy(a) for a in pad_pairs([pairs[i] for i in rows],
                                                                        pad_id=pad))
            logits = network.context_logit(ids, types, mask)
            losses_now = nn.functional.binary_cross_entropy_with_logits(
                logits, targets[rows], reduction="none")
            loss = (losses_now * weights[rows]).sum() / weights[rows].sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_([*branch, *head], 1.0)
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            if (step + 1) % 50 == 0 or step + 1 == steps:
                rate = (step + 1) / (time.time() - began)
                log.info("off-topic branch step %d/%d: loss %.4f, eta %.0f min", step + 1, steps,
                         float(np.mean(losses[-50:])), (steps - step - 1) / rate / 60)
    finally:
        network.eval()
    return losses


def context_logits(scorer: Scorer, records: list[Record], *, batch_size: int = 32,
                   texts: list[str] | None = None) -> np.ndarray:
    """Raw off-topic logits of ``records`` (with ``texts`` in place of their comments), scored
    by the scorer as it serves."""
    comments = [as_comment(r, None if texts is None else texts[i])
                for i, r in enumerate(records)]
    rows = scorer.raw_scores(comments, batch_size=batch_size)
    return np.array([row["logits"][ATTRIBUTE] for row in rows], dtype=float)


# ---- the whole refit: artifact in, artifact out ---------------------------------------------
def load_records(config: Config) -> list[Record]:
    """Off-topic records of the configured context sources (pairs made as in the joint run)."""
    wanted = config.context_head.sources or list(config.data.sources)
    unknown = [s for s in wanted if s not in config.data.sources]
    if unknown:
        raise ConfigError(f"context_head.sources not in data.sources: {', '.join(unknown)}")
    sources = {name: config.data.sources[name] for name in wanted}
    records = load_configured(config, sources)
    return [r for r in records if ATTRIBUTE in r.labels and r.has_context]


def _groups(sources: list[str]) -> dict[str, np.ndarray]:
    """Row indices of every source, and of all of them."""
    groups = {"all": np.arange(len(sources))}
    for source in sorted(set(sources)):
        groups[source] = np.array([i for i, s in enumerate(sources) if s == source])
    return groups


def _metrics(y: np.ndarray, probs: np.ndarray, sources: list[str], threshold: float) -> dict:
    out = {}
    for name, rows in _groups(sources).items():
        result = per_label_metrics(y[rows, None], probs[rows, None], labels=[ATTRIBUTE],
                                   thresholds={ATTRIBUTE: threshold})
        out[name] = result.get(ATTRIBUTE)
    return out


def _robustness(scorer: Scorer, records: list[Record], logits: np.ndarray, *,
                per_source: int, seed: int) -> dict:
    """Off-topic ROC-AUC on clean and noisy copies of validation comments of sources with real
    off-topic labels (not pairs), as the joint run's robustness check."""
    chosen, counts = [], {}
    for i, r in enumerate(records):
        if not r.is_pair and counts.get(r.source, 0) < per_source:
            counts[r.source] = counts.get(r.source, 0) + 1
            chosen.append(i)
    if not chosen:
        return {}
    perturb = make_perturber(np.random.default_rng(seed))
    subset = [records[i] for i in chosen]
    noisy = context_logits(scorer, subset, texts=[perturb(r.text) for r in subset])
    y = (np.array([r.labels[ATTRIBUTE] for r in subset]) >= 0.5).astype(int)
    return {"n": len(chosen), "roc_auc_clean": roc_auc(y, logits[chosen]),
            "roc_auc_perturbed": roc_auc(y, noisy)}


def _held_out_kinds(scorer: Scorer, records: list[Record], *, seed: int) -> dict:
    """Validation ROC-AUC on the two kinds of example the thread pairs lack: drift splices of
    every own-context validation reply, and own-context replies with both parent and article
    against the same replies under another thread's article (drifted conversations)."""
    out = {}
    spliced = drift_splices(records, fraction=1.0, seed=seed)
    if spliced:
        y = (np.array([r.labels[ATTRIBUTE] for r in spliced]) >= 0.5).astype(int)
        out["drift_splices_roc_auc"] = roc_auc(y, context_logits(scorer, spliced))
    drifted = drifted_conversations(records, ratio=1.0, seed=seed)
    if drifted:
        own = [r for r in records if r.meta.get("pair") == "own" and r.parent
               and article_content(r)]
        both = own + drifted
        y = np.array([0] * len(own) + [1] * len(drifted))
        out["drifted_conversations_roc_auc"] = roc_auc(y, context_logits(scorer, both))
    return out


BI_ENCODER = "bi-encoder"  # how 1.x artifacts' config.json names their architecture


def load_base(path: Path, config: Config) -> tuple[Scorer, bool]:
    """The artifact to tune, and whether it was upgraded: a 1.x one (bi-encoder off_topic)
    comes upgraded, in memory, to the cross-encoder branch: every weight but the branch's is its
    own, the branch's top layers are the base model's (``config.model.base``) and the context
    head is new, untrained."""
    artifact.check_directory(path)
    if not str(artifact.read_json(path / artifact.CONFIG).get("architecture", "")).startswith(
            BI_ENCODER):
        return Scorer.from_pretrained(path), False
    old = artifact.read_config(path)
    if not old.topic_layers:
        raise ConfigError(f"{path}: a 1.x artifact without topic layers cannot be upgraded "
                          "(its whole encoder was shared with off_topic)")
    fresh = artifact.ModelConfig(**{
        **old.to_dict(), "architecture": artifact.ModelConfig.architecture,
        "context_lengths": list(config.model.context_lengths)})
    network = network_for(fresh)
    network.reset_topic_layers(BertModel.from_pretrained(str(resolve_base(config.model.base)),
                                                         add_pooling_layer=False))
    branch = ("topic_layers.", "context_head.")
    state = {k: v for k, v in read_weights(path).items() if not k.startswith(branch)}
    missing, unexpected = network.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith(branch) for k in missing):
        raise ArtifactError(f"{path / artifact.WEIGHTS} does not match its config.json")
    log.info("%s: 1.x artifact (bi-encoder off_topic) upgraded; its branch starts from %s",
             path, config.model.base)
    return Scorer.with_network(path, network, fresh), True


def base_roc_auc(metrics: dict) -> dict[str, float]:
    """The base's own validation ROC-AUC of off_topic per source, from its metrics.json (the
    comparison for an upgraded base, whose branch before tuning is a fresh head)."""
    return {source: entry[ATTRIBUTE]["roc_auc"]
            for source, entry in (metrics.get("validation") or {}).items()
            if isinstance(entry.get(ATTRIBUTE), dict)
            and entry[ATTRIBUTE].get("roc_auc") is not None}


def run(config: Config, *, command: list[str] | None = None) -> Path:
    """Tune the off-topic branch of ``context_head.base_artifact`` and write the new artifact to
    ``training.output_dir`` (which may be the base artifact itself); return its path."""
    args, seed = config.context_head, config.training.seed
    base = Path(args.base_artifact)
    check_output(Path(config.training.output_dir))
    scorer, upgraded = load_base(base, config)
    if ATTRIBUTE not in scorer.config.attributes:
        raise ConfigError(f"{base}: the artifact does not score {ATTRIBUTE}")
    served = list(scorer.config.context_lengths)
    rebudgeted = served != list(config.model.context_lengths)
    if rebudgeted:  # the branch is tuned, and will serve, at the config's budgets
        scorer.config.context_lengths = list(config.model.context_lengths)
        log.info("%s: context_lengths %s -> %s", base, served, scorer.config.context_lengths)
    base_tag = scorer.config.tag
    torch.manual_seed(seed)
    began = time.time()
    records = load_records(config)
    train_records = [r for r in records if r.split == "train"]
    valid_records = [r for r in records if r.split == "validation"]
    if not train_records or not valid_records:
        raise ConfigError("off-topic tuning needs off-topic train and validation records")
    batch = config.training.eval_batch_size
    base_metrics = artifact.read_optional_json(base / artifact.METRICS)
    # the comparison is the base as it served: its own metrics when the branch or budgets change
    own_before = upgraded or rebudgeted
    before_logits = None if own_before else context_logits(scorer, valid_records,
                                                           batch_size=batch)
    examples = [*train_records,
                *drift_splices(train_records, fraction=args.splice_fraction, seed=seed),
                *drifted_conversations(train_records, ratio=args.drifted_ratio, seed=seed)]
    kinds = dict(sorted(Counter(r.meta.get("pair") or r.source for r in examples).items()))
    log.info("off-topic branch: %d examples (%s), %d validation", len(examples), kinds,
             len(valid_records))
    tuned = time.time()
    losses = tune_branch(scorer, examples, steps=args.steps, batch_size=args.batch_size,
                         learning_rate=args.learning_rate,
                         head_learning_rate=args.head_learning_rate,
                         weight_decay=args.weight_decay, seed=seed)
    tuning = {"examples": kinds, "seconds": round(time.time() - tuned, 1),
              "final_loss": float(np.mean(losses[-50:]))}
    logits = context_logits(scorer, valid_records, batch_size=batch)
    y = (np.array([r.labels[ATTRIBUTE] for r in valid_records]) >= 0.5).astype(int)
    sources = [r.source for r in valid_records]
    calibrator = choose_calibration(logits, y)
    probs = apply_calibration(logits, calibrator)
    threshold = choose_threshold(y, probs, target_precision=config.training.target_precision)

    scorer.calibration[ATTRIBUTE] = calibrator
    scorer.thresholds["attributes"][ATTRIBUTE] = threshold
    scorer.config.version = config.model.version
    metrics = copy.deepcopy(base_metrics)
    new = _metrics(y, probs, sources, threshold["threshold"])
    for source, entry in new.items():
        metrics.setdefault("validation", {}).setdefault(source, {})[ATTRIBUTE] = entry
    metrics["model"] = scorer.config.tag
    metrics.setdefault("thresholds", {})["attributes"] = scorer.thresholds["attributes"]
    metrics.setdefault("calibration", {})[ATTRIBUTE] = {
        "method": calibrator["method"], "selection": calibrator.get("selection")}
    robust = _robustness(scorer, valid_records, logits, per_source=400, seed=seed)
    if robust:
        metrics.setdefault("robustness", {})[ATTRIBUTE] = robust
    before = base_roc_auc(base_metrics) if own_before else \
        {name: roc_auc(y[rows], before_logits[rows])
         for name, rows in _groups(sources).items() if len(set(y[rows])) == 2}
    metrics["context_head"] = {
        "base_model": base_tag, "command": " ".join(command or sys.argv),
        "config": dataclasses.asdict(args), "seconds": round(time.time() - began, 1),
        "branch": tuning, **_held_out_kinds(scorer, valid_records, seed=seed),
        "upgraded_from_1x": upgraded, "context_lengths_before": served,
        "context_lengths": list(scorer.config.context_lengths),
        "roc_auc_before": before,
        "roc_auc_after": {s: m.get("roc_auc") for s, m in new.items() if m},
    }
    metrics.pop("known_gaps", None)
    if config.model.known_gaps:
        metrics["known_gaps"] = list(config.model.known_gaps)
    build = artifact.read_optional_json(base / artifact.BUILD)
    build["context_head"] = {**build_info(config, None, command or sys.argv),
                             "base_model": base_tag}
    return write_artifact(scorer, Path(config.training.output_dir), metrics=metrics,
                          build=build, config=build.get("config") or {},
                          curves={ATTRIBUTE: (y, probs)}, label_map=read_label_map(config),
                          base=base)
