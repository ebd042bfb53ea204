"""``civility train`` end to end on configs/smoke.yaml: the tiny encoder and a mini data folder in
the real formats of its three sources. Each training run takes a few seconds."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from safetensors.torch import load_file

from model.calibration import METHODS
from model.scorer import Scorer
from service.cli import main
from tests.datasets_fixture import mini_datasets  # noqa: F401 (a fixture)
from training.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
SMOKE = "configs/smoke.yaml"
SOURCES = ("kaggle_insults", "toxic_spans", "wiki_threads")
ATTRIBUTES = ["incivility", "personal_attack", "off_topic", "insult"]
ARTIFACT_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                  "thresholds.json", "calibration.json", "metrics.json", "build.json", "README.md")


def train(data: Path, out: Path, base: Path, *overrides: str) -> int:
    return main(["train", "--config", SMOKE, "--data-dir", str(data), "--output", str(out),
                 f"model.base={base}", *overrides])


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # configs/smoke.yaml names configs/labels.yaml relative to it


@pytest.fixture(scope="module")
def smoke_artifact(mini_datasets, tiny_base, tmp_path_factory) -> Path:  # noqa: F811
    """One full smoke training run, shared by the checks on its artifact."""
    out = tmp_path_factory.mktemp("smoke") / "artifact"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        code = train(mini_datasets, out, tiny_base)
    assert code == 0
    return out


# ---- the artifact of a full run ------------------------------------------------------------------
def test_train_writes_every_artifact_file(smoke_artifact):
    for name in ARTIFACT_FILES:
        assert (smoke_artifact / name).is_file(), name


def test_trained_artifact_loads_and_scores_with_context_and_spans(smoke_artifact):
    scorer = Scorer.from_pretrained(smoke_artifact)
    assert scorer.config.attributes == ATTRIBUTES
    assert scorer.config.tag == "civility-smoke@0.0.1"
    assert scorer.config.max_length == 48 and scorer.config.context_hidden == 16
    results = scorer.score([
        {"id": 1, "text": "you are an idiot", "article": {"title": "war in syria"},
         "parent": "i think the war is wrong"},
        {"id": 2, "text": "thanks , good point about the cake recipe", "parent": "great cake"},
        {"id": 3, "text": "shut up , moron"},
    ], spans=True)
    assert [r.id for r in results] == [1, 2, 3]
    assert results[0].scores["off_topic"] is not None
    assert results[1].scores["off_topic"] is not None
    assert results[2].scores["off_topic"] is None
    for result in results:
        assert list(result.scores) == ATTRIBUTES
        assert all(0.0 <= v <= 1.0 for v in result.scores.values() if v is not None)
        assert set(result.flags) <= set(ATTRIBUTES)
        assert list(result.spans) == ["incivility"]
        for start, end in result.spans["incivility"]:
            assert 0 <= start < end


def test_metrics_have_validation_metrics_per_source(smoke_artifact):
    metrics = read_json(smoke_artifact / "metrics.json")
    assert metrics["model"] == "civility-smoke@0.0.1"
    validation = metrics["validation"]
    assert {"all", "kaggle_insults", "toxic_spans", "wiki_threads:pairs"} <= set(validation)
    assert set(validation["kaggle_insults"]) >= {"incivility", "personal_attack", "insult"}
    assert set(validation["wiki_threads:pairs"]) == {"off_topic"}
    assert set(validation["all"]) == set(ATTRIBUTES)
    for source, per_attribute in validation.items():
        for name, entry in per_attribute.items():
            if name == "_spans":
                continue
            assert entry["n"] > 0, (source, name)
            assert {"roc_auc", "pr_auc", "precision", "recall", "f1", "ece", "threshold"} <= set(
                entry)
    # off-topic pairs: own (0) and other-thread (1) contexts, so the AUC is defined
    assert validation["wiki_threads:pairs"]["off_topic"]["positives"] > 0
    assert 0.0 <= validation["wiki_threads:pairs"]["off_topic"]["roc_auc"] <= 1.0
    assert validation["toxic_spans"]["_spans"]["n"] > 0
    assert 0.0 <= validation["toxic_spans"]["_spans"]["f1"] <= 1.0
    assert metrics["spans"]["rule"].startswith("best validation span F1")
    assert metrics["training"]["steps"] >= 1
    assert metrics["bias"].get("skipped")  # the mini folder has no bias files
    assert metrics["data"]["records"] == metrics["data"]["train"] + metrics["data"]["validation"]


def test_build_json_records_versions_commit_and_data(smoke_artifact):
    build = read_json(smoke_artifact / "build.json")
    assert {"created", "git_commit", "python", "versions", "command", "config", "data"} <= set(
        build)
    assert build["versions"]["torch"] and build["versions"]["transformers"]
    assert build["versions"]["safetensors"] and build["versions"]["numpy"]
    assert build["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}", build["git_commit"])
    assert build["config"]["model"]["name"] == "civility-smoke"
    assert build["config"]["training"]["seed"] == 7
    data = build["data"]
    assert data == read_json(smoke_artifact / "metrics.json")["data"]
    sources = set(data["sources"])
    assert {"kaggle_insults", "toxic_spans", "wiki_threads:pairs"} <= sources
    assert all(data["sources"][s]["train"] > 0 for s in sources)
    assert data["validation"] > 0
    assert set(data["attributes"]) == set(ATTRIBUTES)


def test_model_card_describes_the_model(smoke_artifact):
    card = (smoke_artifact / "README.md").read_text(encoding="utf-8")
    assert card.startswith("# civility-smoke@0.0.1")
    for name in ATTRIBUTES:
        assert name in card


def test_thresholds_have_a_rule_per_attribute(smoke_artifact):
    thresholds = read_json(smoke_artifact / "thresholds.json")
    assert list(thresholds["attributes"]) == ATTRIBUTES
    for name, rule in thresholds["attributes"].items():
        assert 0.0 <= rule["threshold"] <= 1.0, name
        assert isinstance(rule["rule"], str) and rule["rule"], name
    assert 0.0 < thresholds["spans"]["threshold"] < 1.0
    assert thresholds["spans"]["rule"]


def test_calibration_has_a_calibrator_per_attribute(smoke_artifact):
    calibration = read_json(smoke_artifact / "calibration.json")
    assert list(calibration) == ATTRIBUTES
    assert all(c["method"] in METHODS for c in calibration.values())


def test_trained_artifact_scores_from_the_command_line(smoke_artifact, tmp_path, capsys):
    comments = tmp_path / "in.jsonl"
    comments.write_text(json.dumps({"id": "x", "text": "you are an idiot", "parent": "war"}) + "\n",
                        encoding="utf-8")
    capsys.readouterr()
    assert main(["score", str(comments), "--model", str(smoke_artifact), "--spans"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["id"] == "x" and row["model"] == "civility-smoke@0.0.1"
    assert row["scores"]["off_topic"] is not None and "incivility" in row["spans"]


# ---- resume and determinism ----------------------------------------------------------------------
def weights(path: Path) -> dict:
    return load_file(str(path / "model.safetensors"))


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not (a[k].dtype == b[k].dtype and a[k].equal(b[k]))]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


def test_rerun_resumes_from_the_last_checkpoint(
    mini_datasets, tiny_base, tmp_path, caplog, monkeypatch  # noqa: F811
):
    caplog.set_level(logging.INFO)
    steps = ("training.max_steps=6", "training.checkpoint_every=2")
    whole = tmp_path / "whole"
    assert train(mini_datasets, whole, tiny_base, *steps) == 0
    assert not (whole / "checkpoint").exists()  # a finished artifact carries no checkpoint

    out = tmp_path / "run"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr("training.pipeline.validation.predict", interrupted)
        with pytest.raises(KeyboardInterrupt):
            train(mini_datasets, out, tiny_base, *steps)
    assert (out / "checkpoint" / "step").read_text() == "4"  # the last checkpoint before the end
    caplog.clear()
    assert train(mini_datasets, out, tiny_base, *steps) == 0
    assert "resuming from checkpoint at step 4" in caplog.text
    assert "starting at 4" in caplog.text
    for name in ARTIFACT_FILES:
        assert (out / name).is_file(), name
    Scorer.from_pretrained(out).score("you are an idiot")
    # the resumed run replays steps 5-6 with the same batches and seeds: same weights
    assert_same_weights(weights(whole), weights(out))


def test_resume_refuses_a_checkpoint_of_another_config(
    mini_datasets, tiny_base, tmp_path, monkeypatch, capsys  # noqa: F811
):
    out = tmp_path / "run"
    monkeypatch.setattr("training.pipeline.validation.predict",
                        lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        train(mini_datasets, out, tiny_base, "training.max_steps=6", "training.checkpoint_every=2")
    assert train(mini_datasets, out, tiny_base, "training.max_steps=6",
                 "training.checkpoint_every=2", "training.learning_rate=0.001") == 2
    assert "another config" in capsys.readouterr().err


def test_same_seed_gives_identical_weights(mini_datasets, tiny_base, tmp_path):  # noqa: F811
    a, b = tmp_path / "a", tmp_path / "b"
    assert train(mini_datasets, a, tiny_base, "training.max_steps=8") == 0
    assert train(mini_datasets, b, tiny_base, "training.max_steps=8") == 0
    assert_same_weights(weights(a), weights(b))
    assert read_json(a / "thresholds.json") == read_json(b / "thresholds.json")
    assert read_json(a / "calibration.json") == read_json(b / "calibration.json")


def test_another_seed_gives_other_weights(mini_datasets, tiny_base, tmp_path):  # noqa: F811
    a, b = tmp_path / "a", tmp_path / "b"
    assert train(mini_datasets, a, tiny_base, "training.max_steps=4") == 0
    assert train(mini_datasets, b, tiny_base, "training.max_steps=4", "training.seed=8") == 0
    first, second = weights(a), weights(b)
    assert any(not first[k].equal(second[k]) for k in first)


# ---- bad usage -----------------------------------------------------------------------------------
def assert_exit_2(code: int, err: str) -> str:
    assert code == 2
    message = err.strip()
    assert message.startswith("civility train: error:") and "\n" not in message
    return message


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("training.nonsense=1", "nonsense"),
        ("training", "section.field=value"),
        ("optimizer.lr=1", "section.field=value"),
        ("training.epochs=0", "epochs"),
        ("training.epochs=lots", "training.epochs"),
        ("training.batch_size=eight", "training.batch_size"),
        ("training.batch_size=0", "training.batch_size"),
        ("training.checkpoint_every=0", "training.checkpoint_every"),
        ("model.max_length=[1, 2]", "model.max_length"),
        ("data.sources=olid", "data.sources"),
        ("model.head_fraction=1.5", "model.head_fraction"),
    ],
)
def test_bad_config_override_exits_2(mini_datasets, tiny_base, tmp_path, capsys, override,  # noqa: F811
                                     expected):
    code = train(mini_datasets, tmp_path / "out", tiny_base, override)
    assert expected in assert_exit_2(code, capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_missing_data_dir_exits_2(tiny_base, tmp_path, capsys):
    code = train(tmp_path / "no-data", tmp_path / "out", tiny_base)
    message = assert_exit_2(code, capsys.readouterr().err)
    assert "data directory not found" in message and "no-data" in message


def test_data_dir_without_a_source_exits_2(tiny_base, tmp_path, capsys):
    (tmp_path / "data").mkdir()
    code = train(tmp_path / "data", tmp_path / "out", tiny_base)
    assert "kaggle_insults" in assert_exit_2(code, capsys.readouterr().err)


def test_missing_config_file_exits_2(tmp_path, capsys):
    code = main(["train", "--config", str(tmp_path / "none.yaml"), "--data-dir", str(tmp_path)])
    assert "config file not found" in assert_exit_2(code, capsys.readouterr().err)


def test_missing_base_model_exits_2(mini_datasets, tmp_path, capsys):  # noqa: F811
    code = train(mini_datasets, tmp_path / "out", tmp_path / "no-base")
    assert "no-base" in assert_exit_2(code, capsys.readouterr().err)


def test_float_override_written_without_a_dot_is_read_as_a_number():
    config = load_config(SMOKE, ["training.learning_rate=1e-4", "training.epochs=2"])
    assert config.training.learning_rate == pytest.approx(1e-4)
    with pytest.raises(ConfigError, match="model.version"):
        load_config(SMOKE, ["model.version=1.0"])


# ---- continuing a finished artifact (--base) -----------------------------------------------------
def continue_from(data: Path, base: Path, out: Path, *overrides: str) -> int:
    return main(["train", "--config", SMOKE, "--data-dir", str(data), "--output", str(out),
                 "--base", str(base), "model.version=0.0.2", *overrides])


@pytest.fixture(scope="module")
def continued(smoke_artifact, mini_datasets, tmp_path_factory) -> Path:  # noqa: F811
    out = tmp_path_factory.mktemp("continued") / "artifact"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        assert continue_from(mini_datasets, smoke_artifact, out, "training.epochs=2",
                             "model.known_gaps=[incivility misses c5]") == 0
    return out


def test_continuing_trains_the_toxicity_side_and_leaves_off_topic_as_it_was(
        continued, smoke_artifact):
    before, after = (load_file(str(p / "model.safetensors")) for p in (smoke_artifact, continued))
    assert set(before) == set(after)
    changed = {k for k in before if not (before[k] == after[k]).all()}
    last = "encoder.encoder.layer.1."  # the smoke model's toxicity top (2 layers, 1 shared)
    assert any(k.startswith(last) for k in changed), changed
    assert {"heads.weight", "span_head.weight"} <= changed
    assert all(k.startswith((last, "heads.", "span_head.")) for k in changed), changed
    old, new = Scorer.from_pretrained(smoke_artifact), Scorer.from_pretrained(continued)
    comment = {"text": "you are an idiot , stop posting", "parent": "the war is wrong",
               "article": {"title": "war in syria"}}
    assert new.score(comment).scores["off_topic"] == old.score(comment).scores["off_topic"]
    assert new.score(comment).scores["incivility"] != old.score(comment).scores["incivility"]
    assert new.calibration["off_topic"] == old.calibration["off_topic"]
    assert new.thresholds["attributes"]["off_topic"] == old.thresholds["attributes"]["off_topic"]
    assert new.config.tag == "civility-smoke@0.0.2"


def test_a_continued_artifact_keeps_the_bases_off_topic_figures_beside_its_own(
        continued, smoke_artifact):
    base = read_json(smoke_artifact / "metrics.json")
    metrics = read_json(continued / "metrics.json")
    assert metrics["validation"]["wiki_threads:pairs"]["off_topic"] == \
        base["validation"]["wiki_threads:pairs"]["off_topic"]
    assert metrics["validation"]["kaggle_insults"]["incivility"]["n"] > 0
    training = metrics["training"]
    assert training["base_model"] == "civility-smoke@0.0.1" and "--base" in training["command"]
    assert set(training["roc_auc_before"]) == set(training["roc_auc_after"])
    assert training["roc_auc_before"]["kaggle_insults"]["personal_attack"] == \
        base["validation"]["kaggle_insults"]["personal_attack"]["roc_auc"]  # the same records
    assert metrics["known_gaps"] == ["incivility misses c5"]
    assert read_json(continued / "build.json")["base_artifact"]["model"] == "civility-smoke@0.0.1"
    card = (continued / "README.md").read_text(encoding="utf-8")
    assert "## Continued from civility-smoke@0.0.1" in card
    assert (continued / "calibration_off_topic.png").read_bytes() == \
        (smoke_artifact / "calibration_off_topic.png").read_bytes()


def test_continuing_into_its_own_base_or_from_a_missing_one_exits_2(
        smoke_artifact, mini_datasets, tmp_path, capsys):  # noqa: F811
    code = continue_from(mini_datasets, smoke_artifact, smoke_artifact)
    assert "must not be training.base_artifact" in assert_exit_2(code, capsys.readouterr().err)
    code = continue_from(mini_datasets, tmp_path / "nowhere", tmp_path / "out")
    assert "nowhere" in assert_exit_2(code, capsys.readouterr().err)


def test_continuing_a_model_whose_off_topic_shares_every_layer_exits_2(
        tiny_base, mini_datasets, tmp_path, capsys):  # noqa: F811
    from training.base import new_scorer
    from training.config import Config, ModelArguments

    shared = Config(model=ModelArguments(base=str(tiny_base), name="shared", version="0.0.1",
                                         max_length=32, context_hidden=16, topic_layers=0))
    base = new_scorer(shared, ATTRIBUTES).save_pretrained(tmp_path / "shared", metrics={},
                                                          build={}, model_card="# shared\n")
    code = continue_from(mini_datasets, base, tmp_path / "out")
    assert "topic_layers: 0" in assert_exit_2(code, capsys.readouterr().err)
