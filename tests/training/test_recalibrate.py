"""``civility recalibrate``: every calibrator and threshold of an artifact refitted on the
config's validation records, its weights and raw scores untouched (the tiny model and the mini
data folder of configs/smoke.yaml's sources)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from model.calibration import METHODS
from model.scorer import Comment, Scorer
from service.cli import main
from tests.datasets_fixture import mini_datasets  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parents[2]
SMOKE = "configs/smoke.yaml"
LABELLED = ("incivility", "personal_attack", "insult", "off_topic")  # what the mini data labels
COMMENTS = [Comment("you are an idiot"), Comment("thanks , good point"),
            Comment("what about the war", parent="the war is wrong")]


def recalibrate(data: Path, base: Path | None, out: Path, *overrides: str) -> int:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)  # configs/smoke.yaml names configs/labels.yaml relative to it
        return main(["recalibrate", "--config", SMOKE, "--data-dir", str(data),
                     "--output", str(out), *(["--base", str(base)] if base else []),
                     *overrides])


def read(path: Path, name: str) -> dict:
    return json.loads((path / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def recalibrated(mini_datasets, tiny_model, tmp_path_factory) -> Path:  # noqa: F811
    out = tmp_path_factory.mktemp("recalibrated") / "artifact"
    assert recalibrate(mini_datasets, tiny_model, out, "model.name=tiny",
                       "model.version=0.0.2", "model.known_gaps=[threat is never flagged]") == 0
    return out


def test_the_weights_and_raw_scores_stay_the_base_models(recalibrated, tiny_model):
    assert (recalibrated / "model.safetensors").read_bytes() == \
        (tiny_model / "model.safetensors").read_bytes()
    old, new = Scorer.from_pretrained(tiny_model), Scorer.from_pretrained(recalibrated)
    assert new.raw_scores(COMMENTS) == old.raw_scores(COMMENTS)
    assert new.config.tag == "tiny@0.0.2"


def test_every_labelled_attribute_gets_a_fitted_calibrator_and_threshold(recalibrated, tiny_model):
    old, new = read(tiny_model, "calibration.json"), read(recalibrated, "calibration.json")
    thresholds = read(recalibrated, "thresholds.json")
    for name in LABELLED:
        assert new[name]["method"] in METHODS and new[name] != old[name], name
        assert new[name]["selection"]["n"] > 0
        assert 0.0 <= thresholds["attributes"][name]["threshold"] <= 1.0
        assert "validation labels" not in thresholds["attributes"][name]["rule"]
    assert new["threat"]["method"] == "identity"  # the mini data has no threat labels
    assert thresholds["spans"]["rule"].startswith("best validation span F1")


def test_metrics_record_the_refit_and_everything_measured_again(recalibrated, tiny_model):
    metrics, scorer = read(recalibrated, "metrics.json"), Scorer.from_pretrained(recalibrated)
    assert metrics["model"] == "tiny@0.0.2"
    assert metrics["thresholds"] == scorer.thresholds
    refit = metrics["recalibration"]
    assert refit["base_model"] == "tiny@0.0.1" and "recalibrate" in refit["command"]
    assert refit["records"] > 0 and refit["target_precision"] == 0.8
    base_thresholds = read(tiny_model, "thresholds.json")["attributes"]
    for name in LABELLED:
        entry = refit["attributes"][name]
        assert entry["threshold_before"] == base_thresholds[name]["threshold"]
        assert entry["threshold_after"] == scorer.threshold(name)
        assert entry["method_after"] == scorer.calibration[name]["method"]
    all_sources = metrics["validation"]["all"]
    assert all_sources["incivility"]["threshold"] == pytest.approx(scorer.threshold("incivility"))
    assert "wiki_threads:pairs" in metrics["validation"]
    assert {"robustness", "bias", "spans"} <= set(metrics)  # measured again (few here)
    assert metrics["known_gaps"] == ["threat is never flagged"]
    assert "recalibration" in read(recalibrated, "build.json")
    card = (recalibrated / "README.md").read_text(encoding="utf-8")
    assert card.startswith("# tiny@0.0.2") and "## Recalibrated from tiny@0.0.1" in card
    for name in LABELLED:
        assert (recalibrated / f"calibration_{name}.png").is_file()


def test_recalibration_is_deterministic_and_may_overwrite_its_base(
        recalibrated, mini_datasets, tmp_path):  # noqa: F811
    copy = tmp_path / "copy"
    shutil.copytree(recalibrated, copy)
    assert recalibrate(mini_datasets, copy, copy, "model.name=tiny", "model.version=0.0.3") == 0
    again = read(copy, "calibration.json")
    assert again == read(recalibrated, "calibration.json")  # same weights, same records
    assert read(copy, "thresholds.json") == read(recalibrated, "thresholds.json")
    assert read(copy, "metrics.json")["recalibration"]["base_model"] == "tiny@0.0.2"
    assert not list(tmp_path.glob(".*partial"))


def test_bad_recalibrations_are_refused_and_lose_nothing(
        mini_datasets, tiny_model, tmp_path, capsys):  # noqa: F811
    assert recalibrate(mini_datasets, None, tmp_path / "out") == 2
    assert "training.base_artifact" in capsys.readouterr().err
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "todo.txt").write_text("keep me", encoding="utf-8")
    assert recalibrate(mini_datasets, tiny_model, precious) == 2
    assert "not a model artifact" in capsys.readouterr().err
    assert (precious / "todo.txt").read_text(encoding="utf-8") == "keep me"
    assert recalibrate(mini_datasets, tmp_path / "missing", tmp_path / "out") == 2
    assert "missing" in capsys.readouterr().err
