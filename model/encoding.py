"""Tokenisation with the head-and-tail truncation policy, and dynamic padding."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from model.text import head_tail_keep


@dataclass
class Encoded:
    """One tokenised text: ids with [CLS]/[SEP], and each token's character span (0, 0 for
    special tokens) in the text that was tokenised."""

    input_ids: list[int]
    offsets: list[tuple[int, int]]


def encode_texts(
    tokenizer, texts: list[str], *, max_length: int, head_fraction: float
) -> list[Encoded]:
    """Tokenise ``texts`` and truncate each to ``max_length`` tokens, keeping head and tail."""
    if not texts:  # fast tokenizers raise IndexError on an empty batch
        return []
    batch = tokenizer(
        texts, add_special_tokens=False, return_offsets_mapping=True, truncation=False
    )
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    budget = max_length - 2
    encoded = []
    for ids, offsets in zip(batch["input_ids"], batch["offset_mapping"], strict=True):
        head, tail = head_tail_keep(len(ids), budget, head_fraction=head_fraction)
        keep = list(range(head)) + list(range(len(ids) - tail, len(ids)))
        encoded.append(
            Encoded(
                input_ids=[cls] + [ids[i] for i in keep] + [sep],
                offsets=[(0, 0)] + [tuple(offsets[i]) for i in keep] + [(0, 0)],
            )
        )
    return encoded


def pad_batch(encoded: list[Encoded], *, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad to the longest sequence of this batch (never to the maximum length)."""
    width = max(len(e.input_ids) for e in encoded)
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, e in enumerate(encoded):
        ids[row, : len(e.input_ids)] = torch.tensor(e.input_ids)
        mask[row, : len(e.input_ids)] = 1
    return ids, mask


def length_sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, so padding stays small."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
