"""Tokenisation with the head-and-tail truncation policy, and dynamic padding (torch-free: the
runtime form uses it without PyTorch; ``pad_batch`` converts to tensors for the PyTorch path)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.text import head_tail_keep


@dataclass
class Encoded:
    """One tokenised text: ids with [CLS]/[SEP], and each token's character span (0, 0 for
    special tokens) in the text that was tokenised."""

    input_ids: list[int]
    offsets: list[tuple[int, int]]


class FastTokenizer:
    """An artifact's ``tokenizer.json`` through the ``tokenizers`` library alone (no
    transformers import): the same ids and offsets as ``AutoTokenizer``, called the same way.

    Padding and truncation stored in the file are switched off: some base models ship
    ``tokenizer.json`` padding every input to 128 tokens, and truncation is ours (head + tail).
    """

    def __init__(self, directory: str | Path) -> None:
        from tokenizers import Tokenizer

        directory = Path(directory)
        self._tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        settings_path = directory / "tokenizer_config.json"
        settings = json.loads(settings_path.read_text("utf-8")) if settings_path.exists() else {}
        self.cls_token_id = self._id(settings.get("cls_token", "[CLS]"))
        self.sep_token_id = self._id(settings.get("sep_token", "[SEP]"))
        self.pad_token_id = self._id(settings.get("pad_token", "[PAD]"))

    def _id(self, token: str | dict) -> int:
        name = token["content"] if isinstance(token, dict) else token
        token_id = self._tokenizer.token_to_id(name)
        if token_id is None:
            raise ValueError(f"tokenizer.json has no {name!r} token")
        return token_id

    def __call__(self, texts: list[str], **_: object) -> dict[str, list]:
        """``tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)``."""
        batch = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        return {"input_ids": [e.ids for e in batch], "offset_mapping": [e.offsets for e in batch]}


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
        if head + tail < len(ids):  # drop the middle
            ids = ids[:head] + ids[len(ids) - tail :]
            offsets = offsets[:head] + offsets[len(offsets) - tail :]
        encoded.append(
            Encoded(
                input_ids=[cls, *ids, sep],
                offsets=[(0, 0), *map(tuple, offsets), (0, 0)],
            )
        )
    return encoded


# Characters of an article read before tokenising: its head is all the off-topic branch reads
# (``ContextLengths.article`` tokens), and a 20 KB article need not be tokenised whole for that.
ARTICLE_CHARS_PER_TOKEN = 16


@dataclass(frozen=True)
class ContextLengths:
    """Token budgets of the off-topic branch's input, ``[CLS] comment [SEP] parent [SEP]
    article [SEP]``: the comment and the parent keep head and tail, the article its head (title
    and lede)."""

    comment: int = 128
    parent: int = 64
    article: int = 64


@dataclass
class PairEncoded:
    """A comment with its context as one sequence: ids with [CLS]/[SEP], and token types (0 for
    ``[CLS] comment [SEP]``, 1 for the context after it)."""

    input_ids: list[int]
    token_type_ids: list[int]


def encode_pairs(
    tokenizer, comments: list[str], parents: list[str | None], articles: list[str | None], *,
    lengths: ContextLengths, head_fraction: float,
) -> list[PairEncoded]:
    """``[CLS] comment [SEP] parent [SEP] article [SEP]`` per comment (normalised texts; a
    missing parent or article is left out with its [SEP]), each part cut to its budget in
    ``lengths``. A text repeated in the batch (the article of a thread) is tokenised once."""
    if not comments:
        return []

    def parts(texts: list[str | None], budget: int, head: float) -> list[list[int] | None]:
        unique = sorted({t for t in texts if t})
        if head == 1.0:  # only the head is read: skip tokenising the rest of a long text
            clipped = [t[: budget * ARTICLE_CHARS_PER_TOKEN] for t in unique]
        else:
            clipped = unique
        by_text = {t: e.input_ids[1:] for t, e in zip(unique, encode_texts(
            tokenizer, clipped, max_length=budget + 1, head_fraction=head), strict=True)}
        return [by_text[t] if t else None for t in texts]

    comment_ids = [e.input_ids for e in encode_texts(
        tokenizer, comments, max_length=lengths.comment, head_fraction=head_fraction)]
    parent_ids = parts(parents, lengths.parent, head_fraction)
    article_ids = parts(articles, lengths.article, 1.0)
    out = []
    for comment, parent, article in zip(comment_ids, parent_ids, article_ids, strict=True):
        context = [*(parent or ()), *(article or ())]
        out.append(PairEncoded(input_ids=[*comment, *context],
                               token_type_ids=[0] * len(comment) + [1] * len(context)))
    return out


def pad_pairs(encoded: list[PairEncoded], *,
              pad_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pad_arrays`` for pairs: int64 ids, token types and attention mask."""
    ids, mask = pad_arrays(encoded, pad_id=pad_id)
    types = np.zeros_like(ids)
    for row, e in enumerate(encoded):
        types[row, : len(e.token_type_ids)] = e.token_type_ids
    return ids, types, mask


def pad_arrays(encoded: list[Encoded], *, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad to the longest sequence of this batch (never to the maximum length): int64 ids and
    attention mask."""
    width = max(len(e.input_ids) for e in encoded)
    ids = np.full((len(encoded), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(encoded), width), dtype=np.int64)
    for row, e in enumerate(encoded):
        ids[row, : len(e.input_ids)] = e.input_ids
        mask[row, : len(e.input_ids)] = 1
    return ids, mask


def pad_batch(encoded: list[Encoded], *, pad_id: int):
    """``pad_arrays`` as PyTorch tensors (for training and the PyTorch scorer)."""
    import torch

    ids, mask = pad_arrays(encoded, pad_id=pad_id)
    return torch.from_numpy(ids), torch.from_numpy(mask)


def length_sorted_batches(lengths: list[int], batch_size: int, *,
                          max_padding: float | None = None) -> list[list[int]]:
    """Indices grouped into batches of similar length, so padding stays small: shortest first,
    at most ``batch_size`` a batch. With ``max_padding``, a batch also ends where the next
    (longer) sequence would make its padded size exceed (1 + max_padding) times its tokens: a
    few comments of mixed lengths (what a server merges) then run apart instead of all padded
    to the longest."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    if max_padding is None:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    batches: list[list[int]] = []
    batch: list[int] = []
    tokens = 0
    for index in order:
        length = lengths[index]
        if batch and (len(batch) == batch_size
                      or (len(batch) + 1) * length > (1 + max_padding) * (tokens + length)):
            batches.append(batch)
            batch, tokens = [], 0
        batch.append(index)
        tokens += length
    return [*batches, batch] if batch else batches
