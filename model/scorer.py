"""The scorer: load an artifact, score comments with their context, return plain Python."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, BertConfig

from model import artifact
from model.artifact import RELEASE_DIR, ArtifactError, ModelConfig  # noqa: F401
from model.calibration import apply_calibration
from model.comments import (  # noqa: F401 (re-exported: the scorer's public types)
    NO_CONTEXT,
    Article,
    Comment,
    ScoreResult,
    char_spans,
)
from model.encoding import Encoded, encode_texts, length_sorted_batches, pad_batch
from model.network import CivilityNetwork
from model.text import normalise, normalise_with_offsets


class Scorer:
    """Scores comments for incivility, personal attacks, off-topic drift and more.

    >>> scorer = Scorer.from_pretrained("model/release")              # doctest: +SKIP
    >>> scorer.score("You're an idiot.").scores["personal_attack"]   # doctest: +SKIP
    0.97
    >>> scorer.score([{"text": "...", "article": {"title": "..."}, "parent": "..."}])  # +SKIP
    """

    def __init__(
        self,
        network: CivilityNetwork,
        tokenizer,
        config: ModelConfig,
        *,
        thresholds: dict,
        calibration: dict,
        path: Path | None = None,
        context_cache_size: int = 4096,
    ) -> None:
        self.network = network.eval()
        self.tokenizer = tokenizer
        self.config = config
        self.thresholds = thresholds
        self.calibration = calibration
        self.path = path
        self._context_cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._context_cache_size = context_cache_size

    # ---- loading and saving -------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path) -> Scorer:
        """Load an artifact directory (no network access; raises ``ArtifactError``)."""
        path = Path(path)
        artifact.check_directory(path)
        try:
            config = ModelConfig.from_dict(artifact.read_json(path / artifact.CONFIG))
        except (KeyError, TypeError) as error:  # unknown attribute, missing field
            reason = error.args[0] if error.args else error
            raise ArtifactError(f"{path / artifact.CONFIG}: {reason}") from None
        network = CivilityNetwork(
            BertConfig(**config.encoder),
            comment_attributes=config.comment_attributes,
            context_hidden=config.context_hidden,
            topic_layers=config.topic_layers,
        )
        state = {k: v.float() for k, v in load_file(str(path / artifact.WEIGHTS)).items()}
        try:
            network.load_state_dict(state)
        except RuntimeError as error:  # weights of another architecture or attribute list
            first = str(error).strip().splitlines()[0]
            raise ArtifactError(
                f"{path / artifact.WEIGHTS} does not match config.json ({first})"
            ) from None
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as error:
            raise ArtifactError(f"{path}: cannot load tokenizer ({error})") from None
        return cls(
            network,
            tokenizer,
            config,
            thresholds=artifact.read_json(path / artifact.THRESHOLDS),
            calibration=artifact.read_json(path / artifact.CALIBRATION),
            path=path,
        )

    def save_pretrained(
        self,
        path: str | Path,
        *,
        dtype: torch.dtype = torch.float16,
        metrics: dict | None = None,
        build: dict | None = None,
        model_card: str | None = None,
    ) -> Path:
        """Write the artifact directory (weights as safetensors in ``dtype``)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        artifact.write_json(path / artifact.CONFIG, self.config.to_dict())
        state = {k: v.detach().to(dtype).contiguous() for k, v in self.network.state_dict().items()}
        save_file(state, str(path / artifact.WEIGHTS), metadata={"format": "pt"})
        self.tokenizer.save_pretrained(str(path))
        artifact.write_json(path / artifact.THRESHOLDS, self.thresholds)
        artifact.write_json(path / artifact.CALIBRATION, self.calibration)
        for name, content in ((artifact.METRICS, metrics), (artifact.BUILD, build)):
            if content is not None:
                artifact.write_json(path / name, content)
        if model_card is not None:
            (path / artifact.MODEL_CARD).write_text(model_card, encoding="utf-8")
        return path

    # ---- scoring --------------------------------------------------------------------------
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
        raw = self.raw_scores(items, batch_size=batch_size, spans=spans)
        results = [self._result(item, row) for item, row in zip(items, raw, strict=True)]
        return results[0] if single else results

    def raw_scores(
        self, comments: Sequence[Comment], *, batch_size: int = 8, spans: bool = False
    ) -> list[dict]:
        """Uncalibrated logits per comment (``{"logits": {...}, "span_probs": ...}``).

        Used by ``score`` and by training-time calibration; one forward pass per batch.
        """
        normalised = [normalise_with_offsets(c.text) for c in comments]
        encoded = encode_texts(
            self.tokenizer,
            [text for text, _ in normalised],
            max_length=self.config.max_length,
            head_fraction=self.config.head_fraction,
        )
        out: list[dict] = [{} for _ in comments]
        lengths = [len(e.input_ids) for e in encoded]
        with torch.inference_mode():
            for batch in length_sorted_batches(lengths, batch_size):
                self._score_batch(
                    [comments[i] for i in batch],
                    [encoded[i] for i in batch],
                    [out[i] for i in batch],
                    spans=spans,
                )
        if spans:
            for row, (_, index), enc, comment in zip(out, normalised, encoded, comments,
                                                     strict=True):
                row["offsets"], row["index"], row["text"] = enc.offsets, index, comment.text
        return out

    def _score_batch(
        self, comments: list[Comment], encoded: list[Encoded], rows: list[dict], *, spans: bool
    ) -> None:
        ids, mask = pad_batch(encoded, pad_id=self.tokenizer.pad_token_id)
        article, has_article = self._context(
            [c.article.content if c.article else None for c in comments], head_fraction=1.0
        )
        parent, has_parent = self._context(
            [c.parent for c in comments], head_fraction=self.config.head_fraction
        )
        result = self.network(
            ids,
            mask,
            article=article,
            parent=parent,
            has_article=has_article,
            has_parent=has_parent,
        )
        logits = result["logits"].float().numpy()
        context_logit = result["context_logit"].float().numpy()
        span_probs = torch.sigmoid(result["span_logits"].float()).numpy()
        for j, row in enumerate(rows):
            row["logits"] = dict(
                zip(self.config.comment_attributes, logits[j].tolist(), strict=True)
            )
            if has_article[j] or has_parent[j]:
                for name in self.config.attributes:
                    if name not in row["logits"]:
                        row["logits"][name] = float(context_logit[j])
            if spans:
                row["span_probs"] = span_probs[j, : len(encoded[j].input_ids)]

    def embed_context(self, texts: list[str], *, head_fraction: float = 1.0) -> torch.Tensor:
        """Unit embeddings of context texts (articles, parents), cached by content."""
        keys = [hashlib.sha1(f"{head_fraction}:{t}".encode()).hexdigest() for t in texts]
        missing = [i for i, k in enumerate(keys) if k not in self._context_cache]
        if missing:
            encoded = encode_texts(
                self.tokenizer,
                [normalise(texts[i]) for i in missing],
                max_length=self.config.context_max_length,
                head_fraction=head_fraction,
            )
            ids, mask = pad_batch(encoded, pad_id=self.tokenizer.pad_token_id)
            with torch.inference_mode():
                _, pooled = self.network.embed(ids, mask)
            for i, vector in zip(missing, pooled, strict=True):
                self._context_cache[keys[i]] = vector
                if len(self._context_cache) > self._context_cache_size:
                    self._context_cache.popitem(last=False)
        for k in keys:
            self._context_cache.move_to_end(k)
        return torch.stack([self._context_cache[k] for k in keys])

    def _context(
        self, texts: list[str | None], *, head_fraction: float
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        present = torch.tensor([bool(t and t.strip()) for t in texts])
        if not present.any():
            return None, present
        given = [i for i, p in enumerate(present.tolist()) if p]
        vectors = self.embed_context([texts[i] for i in given], head_fraction=head_fraction)
        full = torch.zeros(len(texts), vectors.shape[-1])
        full[given] = vectors
        return full, present

    def calibrate(self, name: str, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of attribute ``name`` for an array of raw logits."""
        calibrator = self.calibration.get(name, {"method": "identity"})
        return apply_calibration(np.asarray(logits, dtype=float), calibrator)

    def threshold(self, name: str) -> float:
        return float(self.thresholds["attributes"][name]["threshold"])

    def _result(self, comment: Comment, row: dict) -> ScoreResult:
        scores: dict[str, float | None] = {}
        unscored: dict[str, str] = {}
        for name in self.config.attributes:
            logit = row["logits"].get(name)
            if logit is None:
                scores[name] = None
                unscored[name] = NO_CONTEXT
            else:
                scores[name] = round(float(self.calibrate(name, [logit])[0]), 6)
        flags = [n for n, s in scores.items() if s is not None and s >= self.threshold(n)]
        span_map = None
        if "span_probs" in row:
            threshold = self.thresholds.get("spans", {}).get("threshold", 0.5)
            span_map = {self.config.span_attribute: char_spans(row, threshold=threshold)}
        return ScoreResult(
            scores=scores,
            flags=flags,
            model=self.config.tag,
            id=comment.id,
            unscored=unscored,
            spans=span_map,
        )
