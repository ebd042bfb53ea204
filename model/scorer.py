"""The PyTorch scorer: the reference form. Loads an artifact, scores comments with their
context, returns plain Python. ``model.loading.load_scorer`` picks the faster runtime form
(``model.runtime.OnnxScorer``, same API and results) when it is built."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, BertConfig

from model import artifact
from model.artifact import RELEASE_DIR, ArtifactError, ModelConfig  # noqa: F401
from model.comments import (  # noqa: F401 (re-exported: the scorer's public types)
    NO_CONTEXT,
    Article,
    Comment,
    ScoreResult,
    char_spans,
)
from model.network import CivilityNetwork
from model.scoring import ScorerBase


def network_for(config: ModelConfig) -> CivilityNetwork:
    """An untrained network of the shape ``config`` describes."""
    return CivilityNetwork(
        BertConfig(**config.encoder),
        comment_attributes=config.comment_attributes,
        context_hidden=config.context_hidden,
        topic_layers=config.topic_layers,
    )


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The artifact's weights, in fp32."""
    return {k: v.float() for k, v in load_file(str(path / artifact.WEIGHTS)).items()}


class Scorer(ScorerBase):
    """Scores comments for incivility, personal attacks, off-topic drift and more.

    >>> scorer = Scorer.from_pretrained("model/release")              # doctest: +SKIP
    >>> scorer.score("You're an idiot.").scores["personal_attack"]   # doctest: +SKIP
    0.97
    >>> scorer.score([{"text": "...", "article": {"title": "..."}, "parent": "..."}])  # +SKIP
    """

    def __init__(self, network: CivilityNetwork, tokenizer, config: ModelConfig,
                 **options) -> None:
        """``options``: ``thresholds``, ``calibration``, ``path`` (see ``ScorerBase``)."""
        super().__init__(tokenizer, config, **options)
        self.network = network.eval()

    # ---- loading and saving -------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path) -> Scorer:
        """Load an artifact directory (no network access; raises ``ArtifactError``)."""
        path = Path(path)
        artifact.check_directory(path)
        config = artifact.read_config(path)
        network = network_for(config)
        try:
            network.load_state_dict(read_weights(path))
        except RuntimeError as error:  # weights of another architecture or attribute list
            first = str(error).strip().splitlines()[0]
            raise ArtifactError(
                f"{path / artifact.WEIGHTS} does not match config.json ({first})"
            ) from None
        return cls.with_network(path, network, config)

    @classmethod
    def with_network(cls, path: Path, network: CivilityNetwork, config: ModelConfig) -> Scorer:
        """A scorer of ``network`` (described by ``config``) with the tokenizer, thresholds and
        calibration of the artifact at ``path``."""
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

    # ---- the two network calls -----------------------------------------------------------
    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
        with torch.inference_mode():
            out = self.network(ids_t, mask_t)
        return {name: out[name].float().numpy() for name in ("logits", "span_logits")}

    def _context_logit(self, ids: np.ndarray, types: np.ndarray,
                       mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            logits = self.network.context_logit(torch.from_numpy(ids), torch.from_numpy(types),
                                                torch.from_numpy(mask))
        return logits.float().numpy()
