"""What every form of the scorer shares, without PyTorch: input coercion, normalisation,
tokenisation, length-sorted batching, calibration, flags and results. A form (the PyTorch
``Scorer``, the ONNX Runtime ``OnnxScorer``) supplies only the network calls, ``_forward`` and
``_context_logit``, on padded numpy batches."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from model.artifact import ModelConfig
from model.calibration import apply_calibration, sigmoid
from model.comments import NO_CONTEXT, Comment, ScoreResult, char_spans
from model.encoding import (
    Encoded,
    encode_pairs,
    encode_texts,
    length_sorted_batches,
    pad_arrays,
    pad_pairs,
)
from model.text import normalise, normalise_with_offsets

# A forward pass ends where one more (longer) comment would pad it past 10% over its tokens:
# comments of mixed lengths, as a server merges them, run apart instead of padded to the
# longest. Measured (int8 form, 480 real comments): groups of 10 random comments, batches of
# 8, 95 -> 195 comments/s; the whole length-sorted corpus unchanged (218 vs 219).
MAX_PADDING = 0.1


class ScorerBase:
    """Scores comments for incivility, personal attacks, off-topic drift and more.

    Subclasses implement ``_forward`` and ``_context_logit``; everything else is here, so every
    form returns identical result structures.
    """

    precision: str | None = "fp32"  # of the encoder graphs' weights (a runtime form's own)

    def __init__(
        self,
        tokenizer,
        config: ModelConfig,
        *,
        thresholds: dict,
        calibration: dict,
        path: Path | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.config = config
        self.thresholds = thresholds
        self.calibration = calibration
        self.path = path

    # ---- what a form supplies -----------------------------------------------------------------
    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        """``logits`` (B, comment attributes) and ``span_logits`` (B, T) of comments alone."""
        raise NotImplementedError

    def _context_logit(self, ids: np.ndarray, types: np.ndarray,
                       mask: np.ndarray) -> np.ndarray:
        """Off-topic logits (B,) of padded ``[CLS] comment [SEP] context`` sequences."""
        raise NotImplementedError

    # ---- scoring ------------------------------------------------------------------------------
    def score(
        self,
        comments: str | Comment | Mapping | Sequence[str | Comment | Mapping],
        *,
        spans: bool = False,
        batch_size: int = 8,
    ) -> ScoreResult | list[ScoreResult]:
        """Score one comment (returns a ``ScoreResult``) or a list (returns a list, same order)."""
        single = isinstance(comments, (str, Comment, Mapping))
        items = [Comment.coerce(c) for c in ([comments] if single else comments)]
        rows = self.raw_scores(items, batch_size=batch_size, spans=spans)
        results = self._results(items, rows)
        return results[0] if single else results

    def raw_scores(
        self, comments: Sequence[Comment], *, batch_size: int = 8, spans: bool = False
    ) -> list[dict]:
        """Uncalibrated logits per comment (``{"logits": {...}, "span_probs": ...}``).

        Used by ``score`` and by training-time calibration. Every comment is scored alone for
        the comment attributes, in batches of similar length padded to their longest; comments
        with an article or parent are then scored for ``off_topic`` with it
        (``_score_context``).
        """
        normalised = [normalise_with_offsets(c.text) for c in comments]
        texts = [text for text, _ in normalised]
        encoded = encode_texts(self.tokenizer, texts, max_length=self.config.max_length,
                               head_fraction=self.config.head_fraction)
        out: list[dict] = [{} for _ in comments]
        lengths = [len(e.input_ids) for e in encoded]
        for batch in length_sorted_batches(lengths, batch_size, max_padding=MAX_PADDING):
            self._score_batch([encoded[i] for i in batch], [out[i] for i in batch], spans=spans)
        with_context = [i for i, c in enumerate(comments) if c.has_context]
        if with_context:
            self._score_context([comments[i] for i in with_context],
                                [texts[i] for i in with_context],
                                [out[i] for i in with_context], batch_size=batch_size)
        if spans:
            for row, (_, index), enc, comment in zip(out, normalised, encoded, comments,
                                                     strict=True):
                row["offsets"], row["index"], row["text"] = enc.offsets, index, comment.text
        return out

    def _score_batch(self, encoded: list[Encoded], rows: list[dict], *, spans: bool) -> None:
        """Fill ``rows`` with the comment heads' logits (and span probabilities)."""
        ids, mask = pad_arrays(encoded, pad_id=self.tokenizer.pad_token_id)
        result = self._forward(ids, mask)
        names = self.config.comment_attributes
        for j, (row, logits) in enumerate(zip(rows, result["logits"].tolist(), strict=True)):
            row["logits"] = dict(zip(names, logits, strict=True))
            if spans:
                row["span_probs"] = sigmoid(result["span_logits"][j, : len(encoded[j].input_ids)])

    def _score_context(self, comments: list[Comment], texts: list[str], rows: list[dict], *,
                       batch_size: int) -> None:
        """Add the off-topic logit to ``rows``: each comment (its normalised ``texts``) read
        with its parent and article by the off-topic branch, in length-sorted batches."""
        pairs = encode_pairs(
            self.tokenizer, texts,
            [normalise(c.parent) if c.parent else None for c in comments],
            [normalise(c.article.content) if c.article else None for c in comments],
            lengths=self.config.lengths, head_fraction=self.config.head_fraction)
        context_names = [n for n in self.config.attributes
                         if n not in self.config.comment_attributes]
        lengths = [len(p.input_ids) for p in pairs]
        for batch in length_sorted_batches(lengths, batch_size, max_padding=MAX_PADDING):
            ids, types, mask = pad_pairs([pairs[i] for i in batch],
                                         pad_id=self.tokenizer.pad_token_id)
            for i, off_topic in zip(batch, self._context_logit(ids, types, mask).tolist(),
                                    strict=True):
                rows[i]["logits"].update((name, off_topic) for name in context_names)

    # ---- calibration and results --------------------------------------------------------------
    def calibrate(self, name: str, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of attribute ``name`` for an array of raw logits."""
        calibrator = self.calibration.get(name, {"method": "identity"})
        return apply_calibration(np.asarray(logits, dtype=float), calibrator)

    def threshold(self, name: str) -> float:
        """The flag threshold of ``name``; ``inf`` for an attribute that is scored but never
        flagged (its validation precision was too low to flag on, ``null`` in the artifact)."""
        value = self.thresholds["attributes"][name]["threshold"]
        return math.inf if value is None else float(value)

    def span_threshold(self) -> float:
        """Token probability from which a token is part of a span (0.5 in an artifact whose
        span threshold was never tuned)."""
        return float(self.thresholds.get("spans", {}).get("threshold", 0.5))

    def _results(self, comments: list[Comment], rows: list[dict]) -> list[ScoreResult]:
        names = self.config.attributes
        probabilities = np.round(calibrated_matrix(self, rows), 6)
        flagged = probabilities >= np.array([self.threshold(n) for n in names])  # NaN: False
        span_threshold = self.span_threshold()
        results = []
        for comment, row, values, flags in zip(comments, rows, probabilities.tolist(),
                                               flagged.tolist(), strict=True):
            scores = {n: (None if v != v else v) for n, v in zip(names, values, strict=True)}
            span_map = None
            if "span_probs" in row:
                span_map = {self.config.span_attribute: char_spans(row, threshold=span_threshold)}
            results.append(
                ScoreResult(
                    scores=scores,
                    flags=[n for n, f in zip(names, flags, strict=True) if f],
                    model=self.config.tag,
                    id=comment.id,
                    unscored={n: NO_CONTEXT for n, v in scores.items() if v is None},
                    spans=span_map,
                )
            )
        return results


def calibrated_matrix(scorer: ScorerBase, rows: Sequence[dict]) -> np.ndarray:
    """(n, attributes) calibrated probabilities from ``raw_scores`` rows; NaN where unscored
    (one calibration call per attribute, not per value)."""
    names = scorer.config.attributes
    out = np.full((len(rows), len(names)), np.nan)
    for j, name in enumerate(names):
        logits = np.array([row["logits"].get(name, np.nan) for row in rows], dtype=float)
        scored = ~np.isnan(logits)
        if scored.any():
            out[scored, j] = scorer.calibrate(name, logits[scored])
    return out
