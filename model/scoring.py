"""What every form of the scorer shares, without PyTorch: input coercion, normalisation,
tokenisation, length-sorted batching, the context-embedding cache, calibration, flags and
results. A form (the PyTorch ``Scorer``, the ONNX Runtime ``OnnxScorer``) supplies only the
network calls, ``_forward``, ``_context_logit`` and ``_embed``, on padded numpy batches."""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.artifact import ModelConfig
from model.calibration import apply_calibration, sigmoid
from model.comments import NO_CONTEXT, Comment, ScoreResult, char_spans
from model.encoding import Encoded, encode_texts, length_sorted_batches, pad_arrays
from model.text import normalise, normalise_with_offsets

# A forward pass ends where one more (longer) comment would pad it past 10% over its tokens:
# comments of mixed lengths, as a server merges them, run apart instead of padded to the
# longest. Measured (int8 form, 480 real comments): groups of 10 random comments, batches of
# 8, 95 -> 195 comments/s; the whole length-sorted corpus unchanged (218 vs 219).
MAX_PADDING = 0.1
# Comments per call of the context head (a small MLP on embeddings; articles and parents are
# embedded per chunk, length-sorted, through the cache).
CONTEXT_CHUNK = 256


@dataclass
class ContextBatch:
    """Unit embeddings of each comment's article and parent (zeros where absent) and flags."""

    article: np.ndarray  # (B, H) float32
    parent: np.ndarray  # (B, H) float32
    has_article: np.ndarray  # (B,) bool
    has_parent: np.ndarray  # (B,) bool


class ScorerBase:
    """Scores comments for incivility, personal attacks, off-topic drift and more.

    Subclasses implement ``_forward``, ``_context_logit`` and ``_embed``; everything else is
    here, so every form returns identical result structures.
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
        context_cache_size: int = 4096,
    ) -> None:
        self.tokenizer = tokenizer
        self.config = config
        self.thresholds = thresholds
        self.calibration = calibration
        self.path = path
        self._context_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._context_cache_size = context_cache_size
        self._cache_lock = threading.Lock()  # the service scores from several threads

    # ---- what a form supplies -----------------------------------------------------------------
    def _forward(self, ids: np.ndarray, mask: np.ndarray, *, topic: bool) -> dict[str, np.ndarray]:
        """``logits`` (B, comment attributes) and ``span_logits`` (B, T); with ``topic`` also the
        comments' unit topic embeddings ``topic`` (B, H). Without it the topic branch need not
        run."""
        raise NotImplementedError

    def _context_logit(self, topic: np.ndarray, context: ContextBatch) -> np.ndarray:
        """Off-topic logits (B,) from the comments' topic embeddings and their contexts."""
        raise NotImplementedError

    def _embed(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Unit topic embeddings (B, H) of context texts."""
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

        Used by ``score`` and by training-time calibration. Comments with context and without
        are batched apart (only the former need the topic branch), each group in batches of
        similar length padded to their longest. The context head runs once the comments with
        context are encoded, so a parent scored in the same call (or any earlier one, through
        the cache) is not encoded again as a context.
        """
        normalised = [normalise_with_offsets(c.text) for c in comments]
        encoded = encode_texts(
            self.tokenizer,
            [text for text, _ in normalised],
            max_length=self.config.max_length,
            head_fraction=self.config.head_fraction,
        )
        out: list[dict] = [{} for _ in comments]
        flags = [c.has_context for c in comments]
        for with_context in (False, True):
            group = [i for i, f in enumerate(flags) if f is with_context]
            lengths = [len(encoded[i].input_ids) for i in group]
            topics: dict[int, np.ndarray] = {}
            for batch in length_sorted_batches(lengths, batch_size, max_padding=MAX_PADDING):
                rows = [group[k] for k in batch]
                topic = self._score_batch([encoded[i] for i in rows], [out[i] for i in rows],
                                          spans=spans, topic=with_context)
                if with_context:
                    topics.update(zip(rows, topic, strict=True))
            if with_context and group:
                self._score_context([comments[i] for i in group],
                                    np.stack([topics[i] for i in group]),
                                    [out[i] for i in group])
        if spans:
            for row, (_, index), enc, comment in zip(out, normalised, encoded, comments,
                                                     strict=True):
                row["offsets"], row["index"], row["text"] = enc.offsets, index, comment.text
        return out

    def _score_batch(
        self, encoded: list[Encoded], rows: list[dict], *, spans: bool, topic: bool
    ) -> np.ndarray | None:
        """Fill ``rows`` with the comment heads' logits (and span probabilities); return the
        comments' topic embeddings (B, H) with ``topic``, else None."""
        ids, mask = pad_arrays(encoded, pad_id=self.tokenizer.pad_token_id)
        result = self._forward(ids, mask, topic=topic)
        names = self.config.comment_attributes
        for j, (row, logits) in enumerate(zip(rows, result["logits"].tolist(), strict=True)):
            row["logits"] = dict(zip(names, logits, strict=True))
            if spans:
                row["span_probs"] = sigmoid(result["span_logits"][j, : len(encoded[j].input_ids)])
        return result.get("topic")

    def _score_context(self, comments: list[Comment], topic: np.ndarray,
                       rows: list[dict]) -> None:
        """Add the off-topic logit to ``rows``: the context head on the comments' ``topic``
        embeddings and their articles' and parents' embeddings (cached; a parent among these
        comments is looked up, not encoded)."""
        if self.config.max_length == self.config.context_max_length:
            # a comment's topic embedding is its embedding as a parent: same text preparation,
            # same length budget, same branch
            self._cache_put([self._context_key(c.text, self.config.head_fraction)
                             for c in comments], topic)
        context_names = [n for n in self.config.attributes
                         if n not in self.config.comment_attributes]
        for start in range(0, len(comments), CONTEXT_CHUNK):
            chunk = slice(start, start + CONTEXT_CHUNK)
            logits = self._context_logit(topic[chunk], self._context_batch(comments[chunk]))
            for row, off_topic in zip(rows[chunk], logits.tolist(), strict=True):
                row["logits"].update((name, off_topic) for name in context_names)

    # ---- context ------------------------------------------------------------------------------
    def embed_context(self, texts: list[str], *, head_fraction: float = 1.0) -> np.ndarray:
        """Unit embeddings (n, H) of context texts (articles, parents), cached by content."""
        keys = [self._context_key(t, head_fraction) for t in texts]
        with self._cache_lock:
            known = {k: self._context_cache.get(k) for k in keys}
        missing = list({k: i for i, k in enumerate(keys) if known[k] is None}.values())
        if missing:
            encoded = encode_texts(
                self.tokenizer,
                [normalise(texts[i]) for i in missing],
                max_length=self.config.context_max_length,
                head_fraction=head_fraction,
            )
            vectors = []
            lengths = [len(e.input_ids) for e in encoded]
            for batch in length_sorted_batches(lengths, 8, max_padding=MAX_PADDING):
                ids, mask = pad_arrays([encoded[i] for i in batch],
                                       pad_id=self.tokenizer.pad_token_id)
                vectors += zip(batch, self._embed(ids, mask), strict=True)
            for position, vector in vectors:
                known[keys[missing[position]]] = vector
        vectors = np.stack([known[k] for k in keys])
        self._cache_put(keys, vectors)
        return vectors

    def clear_context_cache(self) -> None:
        """Forget every cached article, parent and comment embedding."""
        with self._cache_lock:
            self._context_cache.clear()

    @staticmethod
    def _context_key(text: str, head_fraction: float) -> str:
        return hashlib.sha1(f"{head_fraction}:{text}".encode()).hexdigest()

    def _cache_put(self, keys: list[str], vectors: np.ndarray) -> None:
        """Store (or refresh) context embeddings, dropping the least recently used past the
        cache's size."""
        with self._cache_lock:
            for key, vector in zip(keys, vectors, strict=True):
                self._context_cache[key] = vector
                self._context_cache.move_to_end(key)
            while len(self._context_cache) > self._context_cache_size:
                self._context_cache.popitem(last=False)

    def _context_vectors(
        self, texts: list[str | None], *, head_fraction: float
    ) -> tuple[np.ndarray, np.ndarray]:
        present = np.array([t is not None for t in texts])  # Comment: blank context is None
        full = np.zeros((len(texts), self.config.encoder["hidden_size"]), dtype=np.float32)
        if present.any():
            given = np.flatnonzero(present)
            full[given] = self.embed_context([texts[i] for i in given],
                                             head_fraction=head_fraction)
        return full, present

    def _context_batch(self, comments: list[Comment]) -> ContextBatch:
        article, has_article = self._context_vectors(
            [c.article.content if c.article else None for c in comments], head_fraction=1.0
        )
        parent, has_parent = self._context_vectors(
            [c.parent for c in comments], head_fraction=self.config.head_fraction
        )
        return ContextBatch(article, parent, has_article, has_parent)

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
