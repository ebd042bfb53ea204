"""From ``Record``s to model inputs: targets with masks, token span labels, batches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from model.encoding import ContextLengths, PairEncoded, encode_pairs, encode_texts, pad_batch
from model.evaluation import label_matrix
from model.text import normalise, normalise_with_offsets
from training.records import Record


@dataclass
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    targets: torch.Tensor  # (B, k) with NaN where unlabelled
    context_target: torch.Tensor  # (B,) off_topic target, NaN where unlabelled
    span_labels: torch.Tensor  # (B, T) 0/1, NaN where the record has no span annotation
    weights: torch.Tensor  # (B,)
    pairs: list[PairEncoded | None]  # the off-topic branch's input, None without context


def article_content(record: Record) -> str | None:
    content = "\n".join(p for p in (record.article_title, record.article_text) if p)
    return content or None


def make_batch(
    records: list[Record],
    tokenizer,
    *,
    comment_attributes: list[str],
    context_attribute: str,
    max_length: int,
    head_fraction: float,
    context_lengths: ContextLengths,
    perturb: Callable[[str], str] | None = None,
) -> Batch:
    """Tokenise a batch (with optional noise on comments that have no span annotation), and
    each comment that has an article or parent with them for the off-topic branch."""
    texts, index_maps = [], []
    for record in records:
        text = record.text
        if perturb is not None and record.span_chars is None:
            text = perturb(text)
        normalised, index = normalise_with_offsets(text)
        texts.append(normalised)
        index_maps.append(index)
    encoded = encode_texts(tokenizer, texts, max_length=max_length, head_fraction=head_fraction)
    ids, mask = pad_batch(encoded, pad_id=tokenizer.pad_token_id)
    span_labels = torch.full(ids.shape, float("nan"))
    for row, (record, enc, index) in enumerate(zip(records, encoded, index_maps, strict=True)):
        if record.span_chars is None:
            continue
        toxic = set(record.span_chars)
        for col, (start, end) in enumerate(enc.offsets):
            if end > start:
                span_labels[row, col] = float(any(index[c] in toxic for c in range(start, end)))
    context = [r.labels.get(context_attribute, np.nan) for r in records]
    with_context = [i for i, r in enumerate(records) if r.has_context]
    pairs: list[PairEncoded | None] = [None] * len(records)
    encoded_pairs = record_pairs(tokenizer, [records[i] for i in with_context],
                                 [texts[i] for i in with_context], lengths=context_lengths,
                                 head_fraction=head_fraction)
    for i, pair in zip(with_context, encoded_pairs, strict=True):
        pairs[i] = pair
    return Batch(
        input_ids=ids,
        attention_mask=mask,
        targets=torch.from_numpy(
            label_matrix([r.labels for r in records], comment_attributes).astype(np.float32)
        ),
        context_target=torch.tensor(context, dtype=torch.float32),
        span_labels=span_labels,
        weights=torch.tensor([r.weight for r in records], dtype=torch.float32),
        pairs=pairs,
    )


def record_pairs(tokenizer, records: list[Record], texts: list[str], *,
                 lengths: ContextLengths, head_fraction: float) -> list[PairEncoded]:
    """The off-topic branch's input for each record: ``texts`` (its normalised comment) with
    its parent and article, prepared as the scorer prepares them."""
    return encode_pairs(tokenizer, texts, [_normalised_or_none(r.parent) for r in records],
                        [_normalised_or_none(article_content(r)) for r in records],
                        lengths=lengths, head_fraction=head_fraction)


def _normalised_or_none(text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    return normalise(text)


def token_lengths(tokenizer, records: list[Record], *, max_length: int) -> list[int]:
    """Approximate token length of each comment (for length bucketing)."""
    lengths = []
    for start in range(0, len(records), 2048):
        chunk = [r.text for r in records[start : start + 2048]]
        ids = tokenizer(chunk, add_special_tokens=False, truncation=False)["input_ids"]
        lengths += [min(len(x) + 2, max_length) for x in ids]
    return lengths


def sampling_plan(
    records: list[Record],
    lengths: list[int],
    *,
    source_weights: dict[str, float],
    temperature: float,
    steps: int,
    batch_size: int,
    seed: int,
    bucket_batches: int = 50,
) -> list[list[int]]:
    """Batches of record indices for the whole run, drawn up front from the seed.

    Sources are drawn with probability ``size**temperature * weight`` so large sources do not
    drown small ones; within a source, records cycle through seeded permutations. Each run of
    ``bucket_batches`` batches is sorted by length before splitting, to keep padding small.
    """
    rng = np.random.default_rng(seed)
    by_source: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        by_source.setdefault(record.source.split(":")[0], []).append(i)
    names = sorted(by_source)
    sizes = np.array([len(by_source[n]) for n in names], dtype=float)
    probs = sizes**temperature * np.array([source_weights.get(n, 1.0) for n in names])
    probs /= probs.sum()
    cursors = {n: len(by_source[n]) for n in names}
    orders: dict[str, np.ndarray] = {}

    def draw(name: str) -> int:
        if cursors[name] >= len(by_source[name]):
            orders[name] = rng.permutation(by_source[name])
            cursors[name] = 0
        cursors[name] += 1
        return int(orders[name][cursors[name] - 1])

    batches: list[list[int]] = []
    while len(batches) < steps:
        n = batch_size * min(bucket_batches, steps - len(batches))
        picks = [draw(names[k]) for k in rng.choice(len(names), size=n, p=probs)]
        picks.sort(key=lambda i: lengths[i])
        chunk = [picks[i : i + batch_size] for i in range(0, n, batch_size)]
        rng.shuffle(chunk)
        batches += chunk
    return batches
