"""The model artifact: one self-contained directory, loadable with no network and no pickle.

    config.json        attributes, architecture, encoder config, truncation policy, version
    model.safetensors  weights (fp16 for a release)
    tokenizer files    tokenizer.json, tokenizer_config.json, vocab.txt, ...
    thresholds.json    flag threshold per attribute (and the span threshold), with the rule used
    calibration.json   calibrator per attribute (applied to the raw logit)
    metrics.json       validation metrics
    build.json         library versions, git commit, training data summary
    README.md          the model card
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from model import attributes as taxonomy
from model.encoding import ContextLengths

RELEASE_DIR = Path(__file__).resolve().parent / "release"

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
THRESHOLDS = "thresholds.json"
CALIBRATION = "calibration.json"
METRICS = "metrics.json"
BUILD = "build.json"
MODEL_CARD = "README.md"
REQUIRED = (CONFIG, WEIGHTS, THRESHOLDS, CALIBRATION)


class ArtifactError(Exception):
    """The directory is not a usable Civility model artifact (the message says why)."""


@dataclass
class ModelConfig:
    """What ``config.json`` holds: everything needed to rebuild the network and tokenise."""

    attributes: list[str]
    encoder: dict
    name: str = "civility"
    version: str = "0.0.0"
    problem_type: str = "multi_label_classification"
    pooling: str = "mean"
    max_length: int = 256
    # off_topic's input budgets: comment, parent, article tokens (``ContextLengths``)
    context_lengths: list[int] = field(default_factory=lambda: [128, 64, 64])
    head_fraction: float = 0.67
    context_hidden: int = 256
    topic_layers: int = 0  # top layers of the off-topic branch's own (0: the encoder's, shared)
    span_attribute: str = "incivility"
    architecture: str = ("shared encoder with per-attribute heads and a span head; off_topic: "
                         "cross-encoder over comment, parent and article")
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.attributes:
            taxonomy.get(name)
        missing = [name for name in taxonomy.CORE if name not in self.attributes]
        if missing:
            raise ArtifactError(f"config.json lacks core attributes {missing}")
        if len(self.context_lengths) != 3 or min(self.context_lengths) < 2:
            raise ArtifactError("config.json: context_lengths must be three token budgets "
                                "(comment, parent, article) of at least 2")

    @property
    def comment_attributes(self) -> list[str]:
        """Attributes scored from the comment alone (one head each)."""
        return [a for a in self.attributes if a not in taxonomy.CONTEXT_ATTRIBUTES]

    @property
    def lengths(self) -> ContextLengths:
        """The off-topic branch's token budgets."""
        return ContextLengths(*self.context_lengths)

    @property
    def tag(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path.parent}: missing {path.name}") from None
    except json.JSONDecodeError as error:
        raise ArtifactError(f"{path}: not valid JSON ({error})") from None


def read_optional_json(path: Path) -> dict:
    """``read_json``, or ``{}`` where the artifact has no such file (metrics.json and build.json
    are optional)."""
    return read_json(path) if path.exists() else {}


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def check_directory(path: Path) -> None:
    """Raise ``ArtifactError`` with a one-line reason if ``path`` is not an artifact."""
    if not path.is_dir():
        raise ArtifactError(f"no model directory at {path}")
    missing = [name for name in REQUIRED if not (path / name).exists()]
    if missing:
        raise ArtifactError(f"{path} is not a Civility model: missing {', '.join(missing)}")


def read_config(path: Path) -> ModelConfig:
    """The artifact's ``ModelConfig`` (raises ``ArtifactError`` with the reason)."""
    try:
        return ModelConfig.from_dict(read_json(path / CONFIG))
    except (KeyError, TypeError) as error:  # unknown attribute, missing field
        reason = error.args[0] if error.args else error
        raise ArtifactError(f"{path / CONFIG}: {reason}") from None
