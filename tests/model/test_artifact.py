"""The artifact directory: save/load round trip, required files, fp16 weights, clear errors."""

from __future__ import annotations

import json
import shutil
import socket

import pytest
import torch
from safetensors import safe_open

from model import artifact
from model.artifact import ArtifactError
from model.scorer import Scorer

COMMENTS = [
    "you are an idiot",
    {"text": "thanks , good point", "article": {"title": "war in syria"}, "parent": "why"},
    {"text": "the weather is great", "parent": "cake recipe"},
    "shut up moron " * 20,
]
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def fresh_fp32_scorer(tiny_base) -> Scorer:
    """A new (fp32, randomly initialised heads) scorer, never saved in fp16 before."""
    from model import attributes
    from training.base import new_scorer
    from training.config import Config, ModelArguments

    torch.manual_seed(0)  # the heads' random init; fp16 rounding error depends on it
    config = Config(model=ModelArguments(base=str(tiny_base), name="fresh", version="1.2.3",
                                         max_length=32, context_lengths=[24, 12, 12],
                                         context_hidden=16))
    return new_scorer(config, list(attributes.NAMES))


def assert_close(a: list, b: list, tol: float) -> None:
    for x, y in zip(a, b, strict=True):
        assert x.scores.keys() == y.scores.keys()
        for name, value in x.scores.items():
            if value is None:
                assert y.scores[name] is None
            else:
                assert y.scores[name] == pytest.approx(value, abs=tol), name


def save_full(scorer: Scorer, path):
    return scorer.save_pretrained(path, metrics={"validation": {}}, build={"git_commit": None},
                                  model_card="# model card\n")


def test_round_trip_gives_the_same_scores(tiny_scorer, tmp_path):
    before = tiny_scorer.score(COMMENTS, spans=True)
    loaded = Scorer.from_pretrained(save_full(tiny_scorer, tmp_path / "copy"))
    after = loaded.score(COMMENTS, spans=True)
    assert_close(before, after, 1e-6)  # weights were fp16 already: nothing is lost
    assert [r.spans for r in before] == [r.spans for r in after]
    assert loaded.config == tiny_scorer.config
    assert loaded.thresholds == tiny_scorer.thresholds
    assert loaded.calibration == tiny_scorer.calibration


def test_round_trip_of_fp32_weights_through_fp16_stays_close(tiny_base, tmp_path):
    scorer = fresh_fp32_scorer(tiny_base)
    assert next(scorer.network.parameters()).dtype == torch.float32
    before = scorer.score(COMMENTS)
    after = Scorer.from_pretrained(save_full(scorer, tmp_path / "fp16")).score(COMMENTS)
    # random tiny weights amplify fp16 rounding on a 60-token comment; a trained model moves less
    assert_close(before, after, 2e-2)
    assert [r.model for r in after] == ["fresh@1.2.3"] * len(COMMENTS)


def test_saved_artifact_has_every_file(tiny_scorer, tmp_path):
    path = save_full(tiny_scorer, tmp_path / "artifact")
    expected = (artifact.CONFIG, artifact.WEIGHTS, *TOKENIZER_FILES, artifact.THRESHOLDS,
                artifact.CALIBRATION, artifact.METRICS, artifact.BUILD, artifact.MODEL_CARD)
    assert expected == ("config.json", "model.safetensors", *TOKENIZER_FILES, "thresholds.json",
                        "calibration.json", "metrics.json", "build.json", "README.md")
    for name in expected:
        assert (path / name).is_file(), name
        assert (path / name).stat().st_size > 0, name
    for name in ("config.json", "thresholds.json", "calibration.json", "metrics.json",
                 "build.json"):
        json.loads((path / name).read_text(encoding="utf-8"))
    assert not list(path.glob("*.bin")) and not list(path.glob("*.pt"))  # no pickles


def test_the_tiny_fixture_artifact_is_complete(tiny_model):
    for name in (*artifact.REQUIRED, *TOKENIZER_FILES, artifact.METRICS, artifact.BUILD,
                 artifact.MODEL_CARD):
        assert (tiny_model / name).is_file(), name


def test_weights_are_fp16_safetensors(tiny_base, tmp_path):
    path = save_full(fresh_fp32_scorer(tiny_base), tmp_path / "artifact")
    with safe_open(str(path / "model.safetensors"), framework="pt") as handle:
        keys = list(handle.keys())
        assert keys
        assert {handle.get_tensor(k).dtype for k in keys} == {torch.float16}
        assert handle.metadata() == {"format": "pt"}
    assert any(k.startswith("encoder.") for k in keys)
    assert {"heads.weight", "span_head.weight"} <= set(keys)


def test_save_in_fp32_when_asked(tiny_scorer, tmp_path):
    path = tiny_scorer.save_pretrained(tmp_path / "fp32", dtype=torch.float32)
    with safe_open(str(path / "model.safetensors"), framework="pt") as handle:
        assert {handle.get_tensor(k).dtype for k in handle.keys()} == {torch.float32}


@pytest.mark.parametrize("missing", ["model.safetensors", "config.json", "thresholds.json",
                                     "calibration.json"])
def test_missing_required_file_raises_artifact_error_naming_it(tiny_model, tmp_path, missing):
    path = shutil.copytree(tiny_model, tmp_path / "broken")
    (path / missing).unlink()
    with pytest.raises(ArtifactError, match=missing.replace(".", r"\.")):
        Scorer.from_pretrained(path)


def test_missing_directory_raises_artifact_error(tmp_path):
    with pytest.raises(ArtifactError, match="no model directory"):
        Scorer.from_pretrained(tmp_path / "nowhere")


def test_missing_tokenizer_raises_artifact_error(tiny_model, tmp_path):
    path = shutil.copytree(tiny_model, tmp_path / "broken")
    for name in TOKENIZER_FILES:
        (path / name).unlink()
    with pytest.raises(ArtifactError, match="tokenizer"):
        Scorer.from_pretrained(path)


def edit_config(tiny_model, tmp_path, edit):
    path = shutil.copytree(tiny_model, tmp_path / "edited")
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    edit(config)
    (path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return path


def test_config_with_an_unknown_attribute_raises_artifact_error(tiny_model, tmp_path):
    path = edit_config(tiny_model, tmp_path, lambda c: c["attributes"].append("rudeness"))
    with pytest.raises(ArtifactError, match="rudeness"):
        Scorer.from_pretrained(path)


def test_config_without_a_core_attribute_raises_artifact_error(tiny_model, tmp_path):
    path = edit_config(tiny_model, tmp_path, lambda c: c["attributes"].remove("off_topic"))
    with pytest.raises(ArtifactError, match="off_topic"):
        Scorer.from_pretrained(path)


def test_config_without_attributes_raises_artifact_error(tiny_model, tmp_path):
    path = edit_config(tiny_model, tmp_path, lambda c: c.pop("attributes"))
    with pytest.raises(ArtifactError, match="attributes"):
        Scorer.from_pretrained(path)


def test_weights_not_matching_the_config_raise_artifact_error(tiny_model, tmp_path):
    path = edit_config(tiny_model, tmp_path, lambda c: c["attributes"].remove("sarcasm"))
    with pytest.raises(ArtifactError, match="model.safetensors"):
        Scorer.from_pretrained(path)


def test_invalid_json_raises_artifact_error(tiny_model, tmp_path):
    path = shutil.copytree(tiny_model, tmp_path / "broken")
    (path / "thresholds.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ArtifactError, match="thresholds.json"):
        Scorer.from_pretrained(path)


def test_unknown_config_keys_from_a_newer_version_are_ignored(tiny_model, tmp_path):
    path = edit_config(tiny_model, tmp_path, lambda c: c.update(future_option=True))
    assert Scorer.from_pretrained(path).score("you are").model == "tiny@0.0.1"


def test_loading_needs_no_network(tiny_model, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise AssertionError("the scorer tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    scorer = Scorer.from_pretrained(tiny_model)
    result = scorer.score({"text": "you are an idiot", "parent": "the war"}, spans=True)
    assert result.scores["off_topic"] is not None
