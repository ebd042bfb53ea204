"""``civility train-context-head``: refitting only the off-topic head of an artifact on frozen topic
embeddings (the tiny encoder and the mini wiki threads)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from model.metrics import roc_auc
from model.scorer import Scorer
from service.cli import main
from tests.datasets_fixture import mini_datasets  # noqa: F401 (a fixture)
from training.config import ConfigError, load_config
from training.context_head import (
    Examples,
    TopicEmbedder,
    context_logits,
    drifted_conversations,
    embed_records,
    fit_context_head,
    load_records,
)

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


@pytest.fixture(scope="module")
def refitted(mini_datasets, tiny_model, tmp_path_factory) -> Path:  # noqa: F811
    return refit_cli(mini_datasets, tiny_model, tmp_path_factory.mktemp("refit") / "artifact",
                     "model.version=0.0.2", "context_head.epochs=3",
                     "context_head.drifted_ratio=0.5",
                     "context_head.known_gaps=[off_topic misses c8 on the thread]")


def test_refit_changes_only_the_context_head(refitted, tiny_model):
    before, after = (load_file(str(p / "model.safetensors")) for p in (tiny_model, refitted))
    assert set(before) == set(after)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("context_head.") for k in changed), changed
    assert after["context_head.0.weight"].dtype == torch.float16


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
    assert refit["train_examples"]["wiki_threads:pairs:drifted"] > 0
    assert "train-context-head" in refit["command"]
    assert "context_head" in read(refitted, "build.json")
    card = (refitted / "README.md").read_text(encoding="utf-8")
    assert card.startswith("# tiny@0.0.2") and "## Off-topic head refit" in card
    assert "## Known gaps\n\n- off_topic misses c8 on the thread" in card
    assert (refitted / "calibration_off_topic.png").is_file()
    result = scorer.score({"text": "what about the war", "parent": "the war is wrong"})
    assert result.scores["off_topic"] is not None


def test_refit_is_deterministic_and_may_overwrite_its_base(refitted, mini_datasets, tmp_path):  # noqa: F811
    copy = tmp_path / "copy"
    code = main(["train-context-head", "--config", SMOKE, "--data-dir", str(mini_datasets),
                 "--base", str(refitted), "--output", str(copy), "model.version=0.0.2",
                 "context_head.sources=[wiki_threads]", "context_head.epochs=3",
                 "context_head.drifted_ratio=0.5"])
    assert code == 0
    # the head is refitted from a seeded fresh start: the base's own head plays no part. Equal
    # to within 3 fp16 steps (2e-4 at these weights' 0.06-0.12): one CI run under load
    # differed in the last bits (cause not found; varying thread counts would reorder float
    # sums), while a refit that started from the base's head sits its training step away
    # (2.5e-3 at most, 2.4e-3 on average).
    again = load_file(str(copy / "model.safetensors"))["context_head.0.weight"].float()
    base = load_file(str(refitted / "model.safetensors"))["context_head.0.weight"].float()
    assert (again - base).abs().max() <= 2e-4
    cache = tmp_path / "embeddings.pt"
    code = main(["train-context-head", "--config", SMOKE, "--data-dir", str(mini_datasets),
                 "--base", str(copy), "--output", str(copy), "model.version=0.0.3",
                 "context_head.sources=[wiki_threads]", "context_head.epochs=1",
                 f"context_head.embedding_cache={cache}"])
    assert code == 0 and cache.is_file()
    assert Scorer.from_pretrained(copy).config.version == "0.0.3"
    assert not list(tmp_path.glob(".*partial"))


def test_drifted_conversations_keep_the_parent_and_take_another_topics_article(
        mini_datasets, tiny_model, tmp_path):  # noqa: F811
    config = smoke_config(mini_datasets, tiny_model, tmp_path)
    records = [r for r in load_records(config) if r.split == "train"]
    examples = embed_records(TopicEmbedder(Scorer.from_pretrained(tiny_model)), records)
    drifted = drifted_conversations(records, examples, ratio=1.0, seed=0)
    assert len(drifted) > 0
    assert (drifted.target == 1).all() and drifted.has_parent.all() and drifted.has_article.all()
    for i in range(len(drifted)):
        own = [j for j in range(len(examples)) if torch.equal(examples.comment[j],
                                                              drifted.comment[i])
               and records[j].meta["pair"] == "own"]
        assert any(torch.equal(examples.parent[j], drifted.parent[i]) for j in own)
        assert not any(torch.equal(examples.article[j], drifted.article[i]) for j in own)


def test_fitted_head_learns_a_separable_off_topic_signal(tiny_model):
    network = Scorer.from_pretrained(tiny_model).network
    rng = torch.Generator().manual_seed(0)
    n, hidden = 400, network.encoder.config.hidden_size
    unit = lambda x: torch.nn.functional.normalize(x, dim=-1)  # noqa: E731
    article = unit(torch.randn(n, hidden, generator=rng))
    target = (torch.arange(n) % 2).float()  # odd rows: the comment is about something else
    other = unit(torch.randn(n, hidden, generator=rng))
    comment = unit(torch.where(target[:, None] == 1, other, article + 0.3 * other))
    examples = Examples(comment, article, torch.zeros(n, hidden), torch.ones(n, dtype=torch.bool),
                        torch.zeros(n, dtype=torch.bool), target, torch.ones(n), ["s"] * n)
    head = fit_context_head(network, examples.take(np.arange(300)), epochs=10, batch_size=32,
                            learning_rate=3e-3, weight_decay=0.0, seed=0)
    held = examples.take(np.arange(300, n))
    assert roc_auc(held.target.numpy(), context_logits(network, held, head)) > 0.95
    # the network's own head is untouched until the caller installs the new one
    assert network.context_head is not head


def test_bad_context_head_settings_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="context_head.epochs"):
        load_config(SMOKE, ["context_head.epochs=0"])
    with pytest.raises(ConfigError, match="context_head"):
        load_config(SMOKE, ["context_head.no_such=1"])
    with pytest.raises(ConfigError, match="context_head.topic_steps"):
        load_config(SMOKE, ["context_head.topic_steps=-1"])
    with pytest.raises(ConfigError, match="context_head.splice_fraction"):
        load_config(SMOKE, ["context_head.splice_fraction=1.5"])
    with pytest.raises(ConfigError, match="context_head.topic_max_length"):
        load_config(SMOKE, ["context_head.topic_max_length=2"])
    code = main(["train-context-head", "--config", SMOKE, "--data-dir", str(tmp_path / "none")])
    assert code == 2


def test_embedding_cache_is_reused_only_for_the_same_topic_branch(tiny_model, tmp_path):
    scorer = Scorer.from_pretrained(tiny_model)
    embedder = TopicEmbedder(scorer)
    vectors = embedder(["a comment about the war", "another"], "comment")
    embedder.save(tmp_path / "cache.pt")
    same = TopicEmbedder(Scorer.from_pretrained(tiny_model))
    same.load(tmp_path / "cache.pt")
    assert len(same.cache) == 2
    assert torch.equal(same(["a comment about the war", "another"], "comment"), vectors)
    changed = Scorer.from_pretrained(tiny_model)
    with torch.no_grad():
        changed.network.topic_layers[0].output.dense.weight.add_(0.1)
    other = TopicEmbedder(changed)
    other.load(tmp_path / "cache.pt")
    assert other.cache == {}


@pytest.fixture(scope="module")
def tuned(mini_datasets, tiny_model, tmp_path_factory) -> Path:  # noqa: F811
    return refit_cli(mini_datasets, tiny_model, tmp_path_factory.mktemp("tuned") / "artifact",
                     "model.version=0.0.4", "context_head.topic_steps=6",
                     "context_head.topic_batch_size=8", "context_head.splice_fraction=0.5",
                     "context_head.fit_margin=-0.5", "context_head.topic_learning_rate=1e-3")


def test_tuning_the_topic_branch_leaves_every_toxicity_output_alone(tuned, tiny_model):
    before, after = (load_file(str(p / "model.safetensors")) for p in (tiny_model, tuned))
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("topic_layers.") for k in changed), changed
    assert all(k.startswith(("topic_layers.", "context_head.")) for k in changed), changed
    old, new = Scorer.from_pretrained(tiny_model), Scorer.from_pretrained(tuned)
    comment = {"text": "what about the war, you fool", "parent": "the war is wrong"}
    old_scores, new_scores = old.score(comment).scores, new.score(comment).scores
    assert {k: v for k, v in old_scores.items() if k != "off_topic"} == \
        {k: v for k, v in new_scores.items() if k != "off_topic"}
    refit = json.loads((tuned / "metrics.json").read_text(encoding="utf-8"))["context_head"]
    assert refit["topic_branch"]["examples"]["splice"] > 0
    assert 0.0 <= refit["drift_splices_roc_auc"] <= 1.0


def test_drift_splices_come_in_pairs_that_differ_only_in_where_the_reply_wanders():
    from training.data.pairs import drift_splices
    from training.records import Record

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


def test_fit_margin_drops_negatives_that_fit_anywhere(mini_datasets, tiny_model, tmp_path):  # noqa: F811
    from training.context_head import BranchInputs, fitting_negatives

    config = smoke_config(mini_datasets, tiny_model, tmp_path)
    records = [r for r in load_records(config) if r.split == "train"]
    inputs = BranchInputs(Scorer.from_pretrained(tiny_model), max_length=32,
                          context_max_length=32)
    negatives = sum(r.meta.get("pair") in ("hard", "random") for r in records)
    assert len(fitting_negatives(inputs, records, margin=-3.0)) == len(records)
    kept = fitting_negatives(inputs, records, margin=3.0)  # cosines differ by at most 2
    assert len(kept) == len(records) - negatives
    assert all(r.meta.get("pair") not in ("hard", "random") for r in kept)
