"""``civility train-context-head``: tuning the off-topic branch (its own top layers and the
context head) of an artifact, leaving every toxicity output alone (the tiny encoder and the mini
wiki threads)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from model.artifact import ArtifactError
from model.metrics import roc_auc
from model.scorer import Scorer
from service.cli import main
from tests.datasets_fixture import mini_datasets  # noqa: F401 (a fixture)
from training.config import ConfigError, load_config
from training.context_head import (
    drifted_conversations,
    length_bucketed_batches,
    load_records,
    tune_branch,
)
from training.records import Record

ROOT = Path(__file__).resolve().parents[2]
SMOKE = "configs/smoke.yaml"


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # configs name configs/labels.yaml relative to the repository


def smoke_config(data: Path, base: Path, out: Path, *overrides: str):
    return load_config(SMOKE, [f"data.data_dir={data}", f"context_head.base_artifact={base}",
                               f"training.output_dir={out}", "context_head.sources=[wiki_threads]",
                               *overrides])


def refit_cli(data: Path, base: Path, out: Path, *overrides: str) -> Path:
    """``civility train-context-head`` on the wiki threads of ``data``, from the repository root."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        code = main(["train-context-head", "--config", SMOKE, "--data-dir", str(data),
                     "--base", str(base), "--output", str(out),
                     "context_head.sources=[wiki_threads]", *overrides])
    assert code == 0
    return out


SAME_BUDGETS = "model.context_lengths=[24,12,12]"  # the tiny model's (tests/conftest.py)
TUNING = ("context_head.steps=6", "context_head.batch_size=8",
          "context_head.learning_rate=1e-3", "context_head.splice_fraction=0.5",
          "context_head.drifted_ratio=0.5")


@pytest.fixture(scope="module")
def refitted(mini_datasets, tiny_model, tmp_path_factory) -> Path:  # noqa: F811
    return refit_cli(mini_datasets, tiny_model, tmp_path_factory.mktemp("refit") / "artifact",
                     "model.version=0.0.2", *TUNING, SAME_BUDGETS,
                     "model.known_gaps=[off_topic misses c8 on the thread]")


def test_tuning_changes_only_the_off_topic_branch(refitted, tiny_model):
    before, after = (load_file(str(p / "model.safetensors")) for p in (tiny_model, refitted))
    assert set(before) == set(after)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("topic_layers.") for k in changed), changed
    assert any(k.startswith("context_head.") for k in changed), changed
    assert all(k.startswith(("topic_layers.", "context_head.")) for k in changed), changed
    assert after["context_head.0.weight"].dtype == torch.float16
    old, new = Scorer.from_pretrained(tiny_model), Scorer.from_pretrained(refitted)
    comment = {"text": "what about the war, you fool", "parent": "the war is wrong"}
    old_scores, new_scores = old.score(comment).scores, new.score(comment).scores
    assert {k: v for k, v in old_scores.items() if k != "off_topic"} == \
        {k: v for k, v in new_scores.items() if k != "off_topic"}


def test_refit_updates_off_topic_calibration_threshold_metrics_and_version(refitted, tiny_model):
    read = lambda p, n: json.loads((p / n).read_text(encoding="utf-8"))  # noqa: E731
    scorer = Scorer.from_pretrained(refitted)
    assert scorer.config.tag == "tiny@0.0.2"
    old_cal, new_cal = read(tiny_model, "calibration.json"), read(refitted, "calibration.json")
    assert {k: v for k, v in old_cal.items() if k != "off_topic"} == \
        {k: v for k, v in new_cal.items() if k != "off_topic"}
    assert new_cal["off_topic"] != old_cal["off_topic"]
    rule = read(refitted, "thresholds.json")["attributes"]["off_topic"]
    assert 0.0 <= rule["threshold"] <= 1.0 and rule["rule"]
    metrics = read(refitted, "metrics.json")
    assert metrics["model"] == "tiny@0.0.2"
    assert metrics["validation"]["wiki_threads:pairs"]["off_topic"]["n"] > 0
    refit = metrics["context_head"]
    assert refit["base_model"] == "tiny@0.0.1"
    assert refit["branch"]["examples"]["splice"] > 0
    assert refit["branch"]["examples"]["drifted"] > 0
    for kind in ("drift_splices_roc_auc", "drifted_conversations_roc_auc"):
        assert 0.0 <= refit[kind] <= 1.0
    assert set(refit["roc_auc_before"]) == set(refit["roc_auc_after"])
    assert refit["upgraded_from_1x"] is False
    assert refit["context_lengths_before"] == refit["context_lengths"] == [24, 12, 12]
    assert "train-context-head" in refit["command"]
    assert "context_head" in read(refitted, "build.json")
    card = (refitted / "README.md").read_text(encoding="utf-8")
    assert card.startswith("# tiny@0.0.2") and "## Off-topic branch" in card
    assert "## Known gaps\n\n- off_topic misses c8 on the thread" in card
    assert (refitted / "calibration_off_topic.png").is_file()
    result = scorer.score({"text": "what about the war", "parent": "the war is wrong"})
    assert result.scores["off_topic"] is not None


def test_refit_is_deterministic_and_may_overwrite_its_base(
        refitted, mini_datasets, tiny_model, tmp_path):  # noqa: F811
    copy = refit_cli(mini_datasets, tiny_model, tmp_path / "copy", "model.version=0.0.2",
                     *TUNING, SAME_BUDGETS)
    for name in ("topic_layers.0.output.dense.weight", "context_head.0.weight"):
        again = load_file(str(copy / "model.safetensors"))[name].float()
        first = load_file(str(refitted / "model.safetensors"))[name].float()
        torch.testing.assert_close(again, first, rtol=0, atol=2e-4)  # 3 fp16 steps at most
    refit_cli(mini_datasets, copy, copy, "model.version=0.0.3", "context_head.steps=1",
              SAME_BUDGETS)
    assert Scorer.from_pretrained(copy).config.version == "0.0.3"
    assert not list(tmp_path.glob(".*partial"))


def test_the_branch_is_tuned_and_serves_at_the_configs_context_budgets(
        mini_datasets, tiny_model, tmp_path):  # noqa: F811
    base = Path(shutil.copytree(tiny_model, tmp_path / "base"))
    metrics = {"validation": {"wiki_threads:pairs": {"off_topic": {"roc_auc": 0.58, "n": 10}}}}
    (base / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    out = refit_cli(mini_datasets, base, tmp_path / "longer", "model.version=0.0.2", *TUNING,
                    "model.context_lengths=[24,20,20]")
    assert Scorer.from_pretrained(out).config.context_lengths == [24, 20, 20]
    refit = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["context_head"]
    assert refit["context_lengths_before"] == [24, 12, 12]
    assert refit["context_lengths"] == [24, 20, 20]
    assert refit["roc_auc_before"] == {"wiki_threads:pairs": 0.58}  # the base as it served
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "cut to 24/12/12 tokens; this branch was tuned and serves at 24/20/20" in card


def as_release_1(artifact: Path, out: Path) -> Path:
    """``artifact`` as a 1.x artifact: a bi-encoder off_topic (its context head read four
    embeddings and four similarities) and config.json's fields of then."""
    shutil.copytree(artifact, out)
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    config.pop("context_lengths")
    config.update(context_max_length=64, architecture="bi-encoder: shared encoder, "
                  "per-attribute heads, span head, context head")
    (out / "config.json").write_text(json.dumps(config), encoding="utf-8")
    state = load_file(str(out / "model.safetensors"))
    hidden = config["encoder"]["hidden_size"]
    state["context_head.0.weight"] = torch.randn(config["context_hidden"], 4 * hidden + 4,
                                                 dtype=torch.float16)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    metrics = {"validation": {"wiki_threads:pairs": {"off_topic": {"roc_auc": 0.61, "n": 10}}}}
    (out / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    return out


def test_a_release_1_artifact_is_upgraded_to_the_cross_encoder_branch(
        mini_datasets, tiny_model, tiny_base, tmp_path):  # noqa: F811
    old = as_release_1(tiny_model, tmp_path / "release-1")
    with pytest.raises(ArtifactError, match="does not match config.json"):
        Scorer.from_pretrained(old)  # a 1.x artifact does not serve with this code
    out = refit_cli(mini_datasets, old, tmp_path / "release-2", f"model.base={tiny_base}",
                    "model.version=2.0.0", *TUNING)
    before, after = load_file(str(old / "model.safetensors")), \
        load_file(str(out / "model.safetensors"))
    kept = {k for k in before if not k.startswith(("topic_layers.", "context_head."))}
    assert kept and all(torch.equal(before[k], after[k]) for k in kept)
    assert after["context_head.0.weight"].shape[1] == 2 * before["heads.weight"].shape[1]
    scorer = Scorer.from_pretrained(out)
    assert scorer.config.version == "2.0.0" and scorer.config.context_lengths == [32, 16, 16]
    assert scorer.config.architecture.endswith("cross-encoder over comment, parent and article")
    result = scorer.score({"text": "what about the war", "parent": "the war is wrong"})
    assert result.scores["off_topic"] is not None
    refit = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["context_head"]
    assert refit["upgraded_from_1x"] is True
    assert refit["roc_auc_before"] == {"wiki_threads:pairs": 0.61}  # the bi-encoder's own
    assert "The base was a 1.x artifact" in (out / "README.md").read_text(encoding="utf-8")


def test_drifted_conversations_keep_the_parent_and_take_another_topics_article(
        mini_datasets, tiny_model, tmp_path):  # noqa: F811
    config = smoke_config(mini_datasets, tiny_model, tmp_path)
    records = [r for r in load_records(config) if r.split == "train"]
    drifted = drifted_conversations(records, ratio=1.0, seed=0)
    assert len(drifted) > 0
    own = {r.text: r for r in records if r.meta.get("pair") == "own" and r.parent}
    for record in drifted:
        original = own[record.text]
        assert record.labels == {"off_topic": 1.0} and record.meta["pair"] == "drifted"
        assert record.parent == original.parent
        assert record.meta["topic"] == original.meta["topic"]
        assert (record.article_title, record.article_text) != (original.article_title,
                                                               original.article_text)
    assert drifted_conversations(records, ratio=0.0, seed=0) == []
    assert drifted_conversations(records, ratio=1.0, seed=0) == drifted


def test_the_branch_learns_a_context_it_can_only_see_across_the_pair(tiny_model):
    """Comments and contexts drawn from the same words, labelled by whether the comment's words
    appear in its context: only attention across the pair can tell."""
    scorer = Scorer.from_pretrained(tiny_model)
    words = "war tax road school bank farm rail park club vote".split()
    rng = torch.Generator().manual_seed(0)

    def example(i: int) -> Record:
        pick = [words[int(k)] for k in torch.randint(len(words), (3,), generator=rng)]
        fits = i % 2 == 0
        context = pick if fits else [w for w in words if w not in pick][:3]
        return Record(text=" ".join(pick), labels={"off_topic": 0.0 if fits else 1.0},
                      source="s", split="train", parent=" ".join(context))

    records = [example(i) for i in range(400)]
    train, held = records[:300], records[300:]
    from training.context_head import context_logits

    tune_branch(scorer, train, steps=150, batch_size=16, learning_rate=3e-3,
                head_learning_rate=3e-3, weight_decay=0.0, seed=0)
    y = [int(r.labels["off_topic"]) for r in held]
    assert roc_auc(y, context_logits(scorer, held)) > 0.9


def test_batches_cover_every_example_and_group_similar_lengths():
    lengths = [5, 50, 6, 48, 7, 52, 4, 49]
    batches = length_bucketed_batches(lengths, batch_size=2, steps=4, seed=0, bucket=4)
    assert sorted(i for b in batches for i in b) == list(range(8))
    assert all(abs(lengths[a] - lengths[b]) < 10 for a, b in batches)
    assert length_bucketed_batches(lengths, batch_size=2, steps=6, seed=0, bucket=4)[:4] == \
        batches


def test_bad_context_head_settings_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="context_head.steps"):
        load_config(SMOKE, ["context_head.steps=0"])
    with pytest.raises(ConfigError, match="context_head"):
        load_config(SMOKE, ["context_head.no_such=1"])
    with pytest.raises(ConfigError, match="context_head.learning_rate"):
        load_config(SMOKE, ["context_head.learning_rate=0"])
    with pytest.raises(ConfigError, match="context_head.splice_fraction"):
        load_config(SMOKE, ["context_head.splice_fraction=1.5"])
    with pytest.raises(ConfigError, match="drifted_ratio"):
        load_config(SMOKE, ["context_head.drifted_ratio=-1"])
    with pytest.raises(ConfigError, match="model.context_lengths"):
        load_config(SMOKE, ["model.context_lengths=[128, 64]"])
    code = main(["train-context-head", "--config", SMOKE, "--data-dir", str(tmp_path / "none")])
    assert code == 2


def test_drift_splices_come_in_pairs_that_differ_only_in_where_the_reply_wanders():
    from training.data.pairs import drift_splices

    def reply(text, topic):
        return Record(text=text, labels={"off_topic": 0.0}, source="t:pairs", split="train",
                      parent=f"parent about {topic}", group=topic,
                      meta={"pair": "own", "topic": topic})

    records = [reply(f"{topic} reply {i}", topic) for topic in ("war", "tax") for i in range(3)]
    spliced = drift_splices(records, fraction=1.0, seed=0)
    assert len(spliced) == 2 * len(records)
    for own, same, other in zip(records, spliced[::2], spliced[1::2], strict=True):
        topic = own.meta["topic"]
        assert same.labels == {"off_topic": 0.0} and other.labels == {"off_topic": 1.0}
        assert same.text.startswith(own.text) and other.text.startswith(own.text)
        assert same.text.split("\n\n")[1].startswith(topic)
        assert not other.text.split("\n\n")[1].startswith(topic)
        assert same.parent == other.parent == own.parent
    assert drift_splices(records, fraction=0.0, seed=0) == []
    assert drift_splices(records, fraction=1.0, seed=0) == spliced
