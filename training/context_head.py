"""Refit the off-topic context head of a finished artifact, alone, on frozen topic embeddings.

The split-top network's topic embeddings come from frozen layers (the shared trunk and the
frozen copy of the base model's top layers), so every comment, article and parent embedding the
context head reads is fixed: they are computed once, and the small MLP is then fitted in seconds.
Every other weight of the artifact, and every other attribute's calibration, threshold and
metrics, stay exactly as they were; only ``context_head``, the ``off_topic`` calibrator and
threshold, the ``off_topic`` rows of metrics.json and the model card change.

The embeddings are computed as the scorer computes them when serving (the artifact's
``max_length``/``context_max_length``, head-and-tail truncation, the same normalisation), not at
the shorter training lengths of the joint run.

``topic_steps`` > 0 first *tunes the topic branch*: the top ``topic_layers`` layers of the topic
branch and the context head are fine-tuned together on the pairs (the embeddings and the shared
trunk stay frozen, so every toxicity output is unchanged), with two additions:

* ``splice_fraction``: partial drift. A reply followed by another reply of its own topic is on
  topic; followed by a reply of another topic, it drifts and is off topic (``drift_splices``).
* ``fit_margin``: a generic reply fits any thread, so an other-thread negative is dropped when
  its comment is not closer to its own context than to the borrowed one by the margin.

The head trained with the branch is kept, and calibrated on the validation pairs as below.

``drifted_ratio`` adds *drifted conversation* negatives: a comment shown with its own parent but
the article of another thread (of another topic) is off topic, since the comment and its parent
are both about something else than the article. The thread pairs alone only show a context that
matches or mismatches as a whole, so a reply that continues an off-topic parent looked on topic.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import random
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from model import artifact
from model.calibration import apply_calibration
from model.encoding import encode_texts, length_sorted_batches, pad_batch
from model.metrics import per_label_metrics, roc_auc
from model.network import CivilityNetwork
from model.scorer import Scorer
from model.text import normalise, normalise_with_offsets
from training import card
from training.calibration import choose_calibration, choose_threshold
from training.config import Config, ConfigError
from training.data.corpus import load_configured, read_label_map
from training.data.pairs import drift_splices
from training.features import article_content
from training.noise import make_perturber
from training.pipeline import build_info
from training.records import Record

log = logging.getLogger(__name__)
ATTRIBUTE = "off_topic"


@dataclass
class Examples:
    """Embedded off-topic examples: unit embeddings (zero where a context is missing)."""

    comment: torch.Tensor  # (n, H)
    article: torch.Tensor  # (n, H)
    parent: torch.Tensor  # (n, H)
    has_article: torch.Tensor  # (n,) bool
    has_parent: torch.Tensor  # (n,) bool
    target: torch.Tensor  # (n,) soft off_topic label
    weight: torch.Tensor  # (n,)
    source: list[str]

    def __len__(self) -> int:
        return len(self.source)

    def take(self, index: list[int] | np.ndarray) -> Examples:
        rows = torch.as_tensor(np.asarray(index, dtype=np.int64))
        return Examples(*(t[rows] for t in (self.comment, self.article, self.parent,
                                            self.has_article, self.has_parent, self.target,
                                            self.weight)),
                        source=[self.source[int(i)] for i in rows])

    @staticmethod
    def concat(parts: list[Examples]) -> Examples:
        tensors = [torch.cat([getattr(p, name) for p in parts]) for name in
                   ("comment", "article", "parent", "has_article", "has_parent", "target",
                    "weight")]
        return Examples(*tensors, source=[s for p in parts for s in p.source])


def prepared(texts: list[str], role: str, head_fraction: float) -> tuple[list[str], float]:
    """``texts`` normalised as the scorer normalises a ``role`` ("comment", "article" or
    "parent"), and the head fraction its truncation keeps (an article keeps its head)."""
    if role == "comment":
        return [normalise_with_offsets(t)[0] for t in texts], head_fraction
    return [normalise(t) for t in texts], 1.0 if role == "article" else head_fraction


def with_presence(texts: list[str | None], hidden: int,
                  embed) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings (n, ``hidden``) of ``texts`` by ``embed`` (called once, on the present ones),
    zero for a missing or blank text, and the presence mask."""
    present = torch.tensor([bool(t and t.strip()) for t in texts], dtype=torch.bool)
    out = torch.zeros(len(texts), hidden)
    given = [i for i, p in enumerate(present.tolist()) if p]
    if given:
        out[given] = embed([texts[i] for i in given])
    return out, present


class TopicEmbedder:
    """Unit topic embeddings of texts, as the scorer computes them, cached by text and role."""

    def __init__(self, scorer: Scorer, *, batch_size: int = 32) -> None:
        if not len(scorer.network.topic_layers):
            raise ValueError("the artifact has no frozen topic branch (topic_layers: 0): its "
                             "context head cannot be refitted alone")
        self.scorer, self.batch_size = scorer, batch_size
        self.cache: dict[tuple[str, str], torch.Tensor] = {}
        self._fingerprint: str | None = None

    def fingerprint(self) -> str:
        """Identifies the frozen topic branch (weights and truncation): a cache of another
        artifact's embeddings is never reused. Hashed once: the branch is frozen."""
        if self._fingerprint is None:
            network, config = self.scorer.network, self.scorer.config
            digest = hashlib.sha1(json.dumps(
                [config.encoder, config.max_length, config.context_max_length,
                 config.head_fraction, config.topic_layers], sort_keys=True).encode())
            for module in network.frozen_modules():
                for tensor in module.state_dict().values():
                    digest.update(tensor.detach().to(torch.float16).contiguous().numpy()
                                  .tobytes())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def load(self, path: Path) -> None:
        """Reuse embeddings saved by ``save`` for this same topic branch (else ignore them)."""
        if not path.exists():
            return
        saved = torch.load(path, weights_only=True)
        if saved.get("fingerprint") != self.fingerprint():
            log.info("%s holds another model's embeddings: not used", path)
            return
        for (role, text), vector in zip(saved["keys"], saved["vectors"], strict=True):
            self.cache[(role, text)] = vector
        log.info("%d cached embeddings from %s", len(saved["keys"]), path)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self.cache)
        vectors = torch.stack([self.cache[k] for k in keys]) if keys else torch.zeros(0)
        torch.save({"fingerprint": self.fingerprint(), "keys": keys, "vectors": vectors}, path)

    def __call__(self, texts: list[str], role: str) -> torch.Tensor:
        """``role`` is "comment", "article" or "parent" (each has its own truncation)."""
        config = self.scorer.config
        clean, head = prepared(texts, role, config.head_fraction)
        length = config.max_length if role == "comment" else config.context_max_length
        missing = sorted({c for c in clean if (role, c) not in self.cache})
        if missing:
            self._embed(missing, role, length, head)
        hidden = self.scorer.network.encoder.config.hidden_size
        if not texts:
            return torch.zeros(0, hidden)
        return torch.stack([self.cache[(role, c)] for c in clean])

    def _embed(self, texts: list[str], role: str, max_length: int, head: float) -> None:
        tokenizer = self.scorer.tokenizer
        encoded = encode_texts(tokenizer, texts, max_length=max_length, head_fraction=head)
        batches = length_sorted_batches([len(e.input_ids) for e in encoded], self.batch_size)
        log.info("embedding %d %s texts", len(texts), role)
        with torch.inference_mode():
            for batch in batches:
                ids, mask = pad_batch([encoded[i] for i in batch], pad_id=tokenizer.pad_token_id)
                _, topic = self.scorer.network.embed(ids, mask)
                for i, vector in zip(batch, topic, strict=True):
                    self.cache[(role, texts[i])] = vector.clone()


def embed_records(embedder: TopicEmbedder, records: list[Record]) -> Examples:
    """``Examples`` for records with an ``off_topic`` label and an article or a parent."""
    records = [r for r in records if ATTRIBUTE in r.labels and r.has_context]
    comment = embedder([r.text for r in records], "comment")
    hidden = comment.shape[-1] if len(records) else 0
    article, has_article = with_presence([article_content(r) for r in records], hidden,
                                         lambda texts: embedder(texts, "article"))
    parent, has_parent = with_presence([r.parent for r in records], hidden,
                                       lambda texts: embedder(texts, "parent"))
    return Examples(comment, article, parent, has_article, has_parent,
                    target=torch.tensor([r.labels[ATTRIBUTE] for r in records]),
                    weight=torch.tensor([r.weight for r in records], dtype=torch.float32),
                    source=[r.source for r in records])


def drifted_conversations(records: list[Record], examples: Examples, *, ratio: float,
                          seed: int) -> Examples:
    """Off-topic examples from own-context thread replies: the comment keeps its own parent and
    gets the article of a thread of another topic (see the module docstring).

    ``records``/``examples`` are aligned (the output of ``embed_records``'s filter); only pair
    records shown with their own context (``meta["pair"] == "own"``) that have both an article
    and a parent qualify; ``ratio`` of them (seeded) yield one example each, weighted as the
    original."""
    rng = random.Random(seed)
    eligible = [i for i, r in enumerate(records)
                if r.meta.get("pair") == "own" and r.parent and examples.has_article[i]]
    by_topic: dict[tuple[str, str], list[int]] = {}
    for i in eligible:
        r = records[i]
        by_topic.setdefault((r.source, r.meta.get("topic") or r.group or ""), []).append(i)
    articles_of: dict[str, list[tuple[str, int]]] = {}
    for (source, topic), rows in by_topic.items():
        articles_of.setdefault(source, []).append((topic, rows[0]))
    chosen = [i for i in eligible if rng.random() < ratio]
    rows, donors = [], []
    for i in chosen:
        r = records[i]
        topic = r.meta.get("topic") or r.group or ""
        candidates = articles_of[r.source]
        for _ in range(20):
            other_topic, donor = rng.choice(candidates)
            if other_topic != topic:
                rows.append(i)
                donors.append(donor)
                break
    out = examples.take(rows)
    out.article = examples.article[torch.as_tensor(donors, dtype=torch.long)] if rows else \
        out.article
    out.target = torch.ones(len(rows))
    out.source = [f"{s}:drifted" for s in out.source]
    return out


def fresh_context_head(network: CivilityNetwork, *, seed: int) -> nn.Module:
    """A newly initialised copy of ``network.context_head`` (same shapes), seeded."""
    head = copy.deepcopy(network.context_head)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    for module in head.modules():
        if isinstance(module, nn.Linear):
            module.reset_parameters()
    torch.random.set_rng_state(generator_state)
    return head


def context_logits(network: CivilityNetwork, examples: Examples,
                   head: nn.Module | None = None) -> np.ndarray:
    """Raw off-topic logits of ``examples`` through ``head`` (default the network's own)."""
    original = network.context_head
    if head is not None:
        network.context_head = head
    try:
        was_training = network.context_head.training
        network.context_head.eval()
        with torch.inference_mode():
            logits = network.context_logit(examples.comment, examples.article, examples.parent,
                                           has_article=examples.has_article,
                                           has_parent=examples.has_parent)
        network.context_head.train(was_training)
    finally:
        network.context_head = original
    return logits.float().numpy()


def fit_context_head(network: CivilityNetwork, train: Examples, *, epochs: int,
                     batch_size: int, learning_rate: float, weight_decay: float,
                     seed: int) -> nn.Module:
    """A context head fitted from scratch on ``train`` (weighted soft-label BCE, AdamW); the
    network itself is left untouched."""
    head = fresh_context_head(network, seed=seed)
    original = network.context_head
    network.context_head = head
    optimizer = torch.optim.AdamW(head.parameters(), lr=learning_rate, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    steps = epochs * max(1, -(-len(train) // batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate,
                                                   total_steps=steps, pct_start=0.1)
    try:
        head.train()
        for epoch in range(epochs):
            order = torch.randperm(len(train), generator=generator)
            total = 0.0
            for start in range(0, len(train), batch_size):
                rows = order[start:start + batch_size]
                logits = network.context_logit(
                    train.comment[rows], train.article[rows], train.parent[rows],
                    has_article=train.has_article[rows], has_parent=train.has_parent[rows])
                losses = nn.functional.binary_cross_entropy_with_logits(
                    logits, train.target[rows], reduction="none")
                weights = train.weight[rows]
                loss = (losses * weights).sum() / weights.sum()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                total += loss.item() * len(rows)
            log.debug("context head epoch %d: loss %.4f", epoch + 1, total / len(train))
    finally:
        network.context_head = original
    return head.eval()


# ---- tuning the topic branch ------------------------------------------------------------------
class BranchInputs:
    """Tokenised comments, articles and parents at the tuning lengths, for
    ``CivilityNetwork.encode`` (the shared trunk runs without gradients: it is frozen)."""

    def __init__(self, scorer: Scorer, *, max_length: int, context_max_length: int) -> None:
        self.scorer, self.lengths = scorer, {"comment": max_length, "article": context_max_length,
                                             "parent": context_max_length}

    def __call__(self, texts: list[str | None], role: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit topic embeddings (zero for a missing text) and the presence mask."""
        network, tokenizer = self.scorer.network, self.scorer.tokenizer

        def embed(given: list[str]) -> torch.Tensor:
            clean, head = prepared(given, role, self.scorer.config.head_fraction)
            encoded = encode_texts(tokenizer, clean, max_length=self.lengths[role],
                                   head_fraction=head)
            ids, mask = pad_batch(encoded, pad_id=tokenizer.pad_token_id)
            return network.encode(ids, mask, toxicity=False)[1]

        return with_presence(texts, network.encoder.config.hidden_size, embed)


def fitting_negatives(inputs: BranchInputs, records: list[Record], *, margin: float,
                      batch_size: int = 64) -> list[Record]:
    """``records`` without the other-thread negatives (``meta["pair"]`` hard or random) whose
    comment is not closer to its own context than to the borrowed one by ``margin`` (cosine of
    the current topic branch, the better of article and parent on each side): a generic reply
    ("you need to work on your comprehension") fits any thread, so showing it with another
    thread's context does not make it off topic."""
    own = {r.text: r for r in records if r.meta.get("pair") == "own"}
    negatives = [i for i, r in enumerate(records)
                 if r.meta.get("pair") in ("hard", "random") and r.text in own]
    chosen = [records[i] for i in negatives]
    sides = [*chosen, *(own[r.text] for r in chosen)]

    def distinct(texts: list[str | None], role: str) -> dict[str, torch.Tensor]:
        """Each distinct present text embedded once (threads share their article)."""
        texts = list(dict.fromkeys(t for t in texts if t and t.strip()))
        found: dict[str, torch.Tensor] = {}
        for start in range(0, len(texts), batch_size):
            chunk = texts[start:start + batch_size]
            found.update(zip(chunk, inputs(chunk, role)[0], strict=True))
        return found

    with torch.inference_mode():
        comments = distinct([r.text for r in chosen], "comment")
        articles = distinct([article_content(r) for r in sides], "article")
        parents = distinct([r.parent for r in sides], "parent")

    def fit(comment: torch.Tensor, record: Record) -> float:
        """The better cosine of the comment with the record's article and parent."""
        context = [vectors[text] for vectors, text in ((articles, article_content(record)),
                                                       (parents, record.parent))
                   if text in vectors]
        return max((float(comment @ vector) for vector in context), default=-2.0)

    dropped = {i for i, r in zip(negatives, chosen, strict=True)
               if fit(comments[r.text], own[r.text]) - fit(comments[r.text], r) < margin}
    log.info("fit margin %.2f: %d of %d other-thread negatives dropped", margin, len(dropped),
             len(negatives))
    return [r for i, r in enumerate(records) if i not in dropped]


def tune_topic_branch(scorer: Scorer, records: list[Record], *, steps: int, batch_size: int,
                      learning_rate: float, head_learning_rate: float, weight_decay: float,
                      inputs: BranchInputs, seed: int) -> list[float]:
    """Fine-tune the topic branch's layers and the context head together on ``records``
    (weighted soft-label BCE, AdamW, one-cycle schedule) for ``steps`` batches drawn in seeded
    epochs; the embeddings and the shared trunk stay frozen, so every toxicity output is
    unchanged. Returns the loss of each step; the branch is frozen again afterwards."""
    network = scorer.network
    branch = [p for layer in network.topic_layers for p in layer.parameters()]
    for parameter in (*branch, *network.context_head.parameters()):
        parameter.requires_grad_(True)
    optimizer = torch.optim.AdamW(
        [{"params": branch, "lr": learning_rate},
         {"params": list(network.context_head.parameters()), "lr": head_learning_rate}],
        weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[learning_rate, head_learning_rate], total_steps=steps, pct_start=0.1)
    generator = torch.Generator().manual_seed(seed)
    order: list[int] = []
    losses = []
    network.train()
    network.topic_layers.train()  # frozen modules stay in eval mode; this branch is tuned now
    try:
        for step in range(steps):
            if len(order) < batch_size:
                order += torch.randperm(len(records), generator=generator).tolist()
            batch = [records[order.pop()] for _ in range(min(batch_size, len(records)))]
            comment, _ = inputs([r.text for r in batch], "comment")
            article, has_article = inputs([article_content(r) for r in batch], "article")
            parent, has_parent = inputs([r.parent for r in batch], "parent")
            logits = network.context_logit(comment, article, parent, has_article=has_article,
                                           has_parent=has_parent)
            target = torch.tensor([r.labels[ATTRIBUTE] for r in batch])
            weights = torch.tensor([r.weight for r in batch], dtype=torch.float32)
            loss = (nn.functional.binary_cross_entropy_with_logits(
                logits, target, reduction="none") * weights).sum() / weights.sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            if (step + 1) % 50 == 0:
                log.info("topic branch step %d/%d: loss %.4f", step + 1, steps,
                         float(np.mean(losses[-50:])))
    finally:
        network.freeze_shared()
        network.eval()
    return losses


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


def _metrics(y: np.ndarray, probs: np.ndarray, sources: list[str], threshold: float) -> dict:
    out = {}
    groups = {"all": np.arange(len(sources))}
    for source in sorted(set(sources)):
        groups[source] = np.array([i for i, s in enumerate(sources) if s == source])
    for name, rows in groups.items():
        result = per_label_metrics(y[rows, None], probs[rows, None], labels=[ATTRIBUTE],
                                   thresholds={ATTRIBUTE: threshold})
        out[name] = result.get(ATTRIBUTE)
    return out


def _robustness(network, embedder: TopicEmbedder, records: list[Record], valid: Examples,
                logits: np.ndarray, *, per_source: int, seed: int) -> dict:
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
    noisy = valid.take(chosen)
    noisy.comment = embedder([perturb(records[i].text) for i in chosen], "comment")
    y = (valid.target[chosen].numpy() >= 0.5).astype(int)
    return {"n": len(chosen), "roc_auc_clean": roc_auc(y, logits[chosen]),
            "roc_auc_perturbed": roc_auc(y, context_logits(network, noisy))}


def _splice_auc(network, embedder: TopicEmbedder, records: list[Record], *,
                seed: int) -> float | None:
    """Off-topic ROC-AUC on validation replies spliced with a reply of their own topic or of
    another (``drift_splices`` of every own-context validation pair): partial drift."""
    spliced = drift_splices(records, fraction=1.0, seed=seed)
    if not spliced:
        return None
    examples = embed_records(embedder, spliced)
    return roc_auc((examples.target.numpy() >= 0.5).astype(int),
                   context_logits(network, examples))


def run(config: Config, *, command: list[str] | None = None) -> Path:
    """Refit the context head of ``context_head.base_artifact`` and write the new artifact to
    ``training.output_dir`` (which may be the base artifact itself); return its path."""
    args, seed = config.context_head, config.training.seed
    base = Path(args.base_artifact)
    scorer = Scorer.from_pretrained(base)
    if ATTRIBUTE not in scorer.config.attributes:
        raise ConfigError(f"{base}: the artifact does not score {ATTRIBUTE}")
    base_tag = scorer.config.tag
    torch.manual_seed(seed)
    began = time.time()
    records = load_records(config)
    embedder = TopicEmbedder(scorer, batch_size=config.training.eval_batch_size)
    train_records = [r for r in records if r.split == "train"]
    valid_records = [r for r in records if r.split == "validation"]
    if not train_records or not valid_records:
        raise ConfigError("context head refit needs off-topic train and validation records")
    network = scorer.network
    tuning: dict = {}
    if args.topic_steps:
        # the tuned branch's embeddings differ from the base's: no cache, and the context head
        # trained with the branch is kept (it is not refitted on frozen embeddings)
        inputs = BranchInputs(scorer, max_length=args.topic_max_length,
                              context_max_length=args.topic_context_max_length)
        examples = train_records + drift_splices(train_records, fraction=args.splice_fraction,
                                                 seed=seed)
        if args.fit_margin is not None:
            examples = fitting_negatives(inputs, examples, margin=args.fit_margin)
        tuned = time.time()
        losses = tune_topic_branch(
            scorer, examples, steps=args.topic_steps, batch_size=args.topic_batch_size,
            learning_rate=args.topic_learning_rate,
            head_learning_rate=args.topic_head_learning_rate, weight_decay=args.weight_decay,
            inputs=inputs, seed=seed)
        kinds = Counter(r.meta.get("pair") or r.source for r in examples)
        tuning = {"examples": dict(sorted(kinds.items())), "seconds": round(time.time() - tuned, 1),
                  "final_loss": float(np.mean(losses[-50:]))}
        log.info("topic branch tuned: %s", tuning)
        valid = embed_records(embedder, valid_records)
        train_counts = dict(sorted(Counter(r.source for r in examples).items()))
    else:
        cache = Path(args.embedding_cache) if args.embedding_cache else None
        if cache:
            embedder.load(cache)
        train_set, valid = embed_records(embedder, train_records), embed_records(embedder,
                                                                                 valid_records)
        if cache:
            embedder.save(cache)
        parts = [train_set]
        if args.drifted_ratio > 0:
            parts.append(drifted_conversations(train_records, train_set,
                                               ratio=args.drifted_ratio, seed=seed))
        train_set = Examples.concat(parts)
        log.info("context head: %d train examples (%s), %d validation", len(train_set),
                 dict(Counter(train_set.source)), len(valid))
        network.context_head = fit_context_head(
            network, train_set, epochs=args.epochs, batch_size=args.batch_size,
            learning_rate=args.learning_rate, weight_decay=args.weight_decay, seed=seed)
        train_counts = dict(sorted(Counter(train_set.source).items()))
    logits = context_logits(network, valid)
    y = valid.target.numpy()
    calibrator = choose_calibration(logits, (y >= 0.5).astype(int))
    probs = apply_calibration(logits, calibrator)
    threshold = choose_threshold((y >= 0.5).astype(int), probs,
                                 target_precision=config.training.target_precision)
    seconds = round(time.time() - began, 1)

    scorer.calibration[ATTRIBUTE] = calibrator
    scorer.thresholds["attributes"][ATTRIBUTE] = threshold
    scorer.config.version = config.model.version
    metrics = artifact.read_json(base / artifact.METRICS) if (base / artifact.METRICS).exists() \
        else {}
    before = {s: (m or {}).get(ATTRIBUTE) for s, m in (metrics.get("validation") or {}).items()}
    new = _metrics(y, probs, valid.source, threshold["threshold"])
    for source, entry in new.items():
        metrics.setdefault("validation", {}).setdefault(source, {})[ATTRIBUTE] = entry
    metrics["model"] = scorer.config.tag
    metrics.setdefault("thresholds", {})["attributes"] = scorer.thresholds["attributes"]
    metrics.setdefault("calibration", {})[ATTRIBUTE] = {
        "method": calibrator["method"], "selection": calibrator.get("selection")}
    robust = _robustness(network, embedder, valid_records, valid, logits, per_source=400,
                         seed=seed)
    if robust:
        metrics.setdefault("robustness", {})[ATTRIBUTE] = robust
    metrics["context_head"] = {
        "base_model": base_tag, "command": " ".join(command or sys.argv),
        "config": dataclasses.asdict(args), "seconds": seconds,
        "train_examples": train_counts,
        **({"topic_branch": tuning} if tuning else {}),
        "drift_splices_roc_auc": _splice_auc(network, embedder, valid_records, seed=seed),
        "roc_auc_before": {s: m.get("roc_auc") for s, m in before.items() if m},
        "roc_auc_after": {s: m.get("roc_auc") for s, m in new.items() if m},
    }
    metrics.pop("known_gaps", None)
    if args.known_gaps:
        metrics["known_gaps"] = list(args.known_gaps)
    build = artifact.read_json(base / artifact.BUILD) if (base / artifact.BUILD).exists() else {}
    build["context_head"] = {**build_info(config, {}, command or sys.argv),
                             "base_model": base_tag}
    build["context_head"].pop("data", None)
    curve = ((y >= 0.5).astype(int), probs)
    return _write(scorer, base, Path(config.training.output_dir), metrics, build, curve,
                  label_map=read_label_map(config))


def _write(scorer: Scorer, base: Path, out: Path, metrics: dict, build: dict,
           curve: tuple[np.ndarray, np.ndarray], *, label_map: dict) -> Path:
    """Write the complete artifact next to ``out`` first, then put it in place: ``out`` may be
    the base artifact, and an interrupted run must not leave half an artifact there."""
    staging = out.parent / f".{out.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    plots = {}
    for name in scorer.config.attributes:  # other attributes' reliability plots are unchanged
        filename = f"calibration_{name}.png"
        if name != ATTRIBUTE and (base / filename).exists():
            shutil.copy2(base / filename, staging / filename)
            plots[name] = filename
        elif name == ATTRIBUTE:
            plots.update(card.write_calibration_plots({name: curve}, staging))
    scorer.save_pretrained(staging, metrics=metrics, build=build, model_card=card.render_model_card(
        metrics, config=build.get("config") or {}, build=build, label_map=label_map, plots=plots))
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    log.info("artifact written to %s", out)
    return out
