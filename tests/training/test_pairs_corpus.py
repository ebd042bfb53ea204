"""Off-topic pair building and corpus assembly (dedup, caps, missing data)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from training.data import corpus
from training.data.pairs import make_offtopic_pairs
from training.records import Record

SUBJECTS = {  # two lexical clusters: hard (TF-IDF) negatives must stay inside a cluster
    "pets": ["kitten litter", "puppy leash", "hamster cage", "parrot seed", "goldfish tank"],
    "cars": ["diesel engine", "brake pads", "gearbox oil", "tyre pressure", "clutch pedal"],
}
VOCABULARY = {"pets": "vet animals fur feeding", "cars": "garage motor driving mechanic"}


def thread_records(split: str = "train", *, family: bool = False) -> list[Record]:
    records = []
    for cluster, subjects in SUBJECTS.items():
        for t, subject in enumerate(subjects):
            group = f"{split}:{cluster}:{t}"
            meta = {"topic": group, "family": f"{split}:{cluster}" if family else None}
            for c in range(3):
                records.append(Record(
                    text=f"comment {c} about the {subject} in {group}",
                    labels={"off_topic": 0.0}, source="threads", split=split,
                    article_title=f"All about {cluster} {subject}",
                    article_text=f"{VOCABULARY[cluster]}: {subject}",
                    parent=f"earlier remark on {subject}" if c else None,
                    group=group, meta=meta))
    return records


def pairs(records, **overrides):
    options = {"negative_ratio": 1.0, "hard_fraction": 0.5, "seed": 7, "source": "threads:pairs"}
    return make_offtopic_pairs(records, **{**options, **overrides})


def cluster(group: str) -> str:
    return group.split(":")[1]


def test_own_and_negative_labels_and_sources():
    records = thread_records()
    out = pairs(records)
    own = [r for r in out if r.meta["pair"] == "own"]
    negatives = [r for r in out if r.meta["pair"] != "own"]
    assert len(own) == len(records) and len(negatives) == len(records)
    assert all(r.labels == {"off_topic": 0.0} for r in own)
    assert all(r.labels == {"off_topic": 1.0} for r in negatives)
    assert all(r.source == "threads:pairs" and r.has_context for r in out)
    assert {r.meta["pair"] for r in negatives} == {"hard", "random"}


def test_negatives_never_use_their_own_thread():
    for r in pairs(thread_records(), negative_ratio=3.0):
        if r.meta["pair"] != "own":
            assert r.meta["context_group"] != r.group
            assert r.article_title is None or r.group.split(":")[2] not in r.article_title


def test_hard_negatives_come_from_the_similar_cluster():
    out = pairs(thread_records(), hard_fraction=1.0, partial_fraction=0.0, top_k=3)
    hard = [r for r in out if r.meta["pair"] == "hard"]
    assert hard and all(r.meta["hard_by"] == "tfidf" for r in hard)
    assert all(cluster(r.meta["context_group"]) == cluster(r.group) for r in hard)
    # random negatives do cross clusters
    rand = [r for r in pairs(thread_records(), hard_fraction=0.0, negative_ratio=3.0)
            if r.meta["pair"] == "random"]
    assert any(cluster(r.meta["context_group"]) != cluster(r.group) for r in rand)


def test_hard_negatives_prefer_the_same_family():
    out = pairs(thread_records(family=True), hard_fraction=1.0)
    hard = [r for r in out if r.meta["pair"] == "hard"]
    assert hard and all(r.meta["hard_by"] == "family" for r in hard)
    assert all(cluster(r.meta["context_group"]) == cluster(r.group) for r in hard)


def test_split_isolation():
    records = thread_records("train") + thread_records("validation")
    for r in pairs(records, negative_ratio=2.0):
        assert r.split == r.group.split(":")[0]
        if r.meta["pair"] != "own":
            assert r.meta["context_group"].split(":")[0] == r.split


@pytest.mark.parametrize(("ratio", "hard"), [(0.5, 0.0), (1.0, 0.5), (2.0, 0.25), (3.0, 1.0)])
def test_configured_ratios_are_respected(ratio, hard):
    records = thread_records()
    kinds = Counter(r.meta["pair"] for r in pairs(records, negative_ratio=ratio,
                                                   hard_fraction=hard))
    negatives = kinds["hard"] + kinds["random"]
    assert kinds["own"] == len(records)
    assert negatives == int(ratio * len(records))
    assert kinds["hard"] == round(hard * negatives)


def test_partial_context_fraction():
    records = thread_records()
    both = [r for r in records if (r.article_title or r.article_text) and r.parent]
    full = pairs(records, partial_fraction=0.0)
    assert sum(r.meta["context"] == "both" for r in full if r.meta["pair"] == "own") == len(both)
    none_left = pairs(records, partial_fraction=1.0)
    assert not any(r.meta["context"] == "both" for r in none_left)
    shown = Counter(r.meta["context"] for r in none_left if r.meta["pair"] == "own")
    assert shown["article"] > len(both) / 4 and shown["parent"] > len(both) / 4
    assert all(r.has_context for r in none_left)


def test_deterministic_with_the_seed():
    def key(rs):
        return [(r.text, r.article_title, r.parent, r.labels["off_topic"], r.meta["pair"])
                for r in rs]

    records = thread_records()
    assert key(pairs(records, seed=3)) == key(pairs(records, seed=3))
    assert key(pairs(records, seed=3)) != key(pairs(records, seed=4))


def test_only_on_topic_records_with_context_are_paired():
    records = thread_records()
    records[0].labels = {"off_topic": 1.0}  # already off topic: not an on-topic example
    records[1].article_title = records[1].article_text = records[1].parent = None
    own_texts = {r.text for r in pairs(records) if r.meta["pair"] == "own"}
    assert records[0].text not in own_texts and records[1].text not in own_texts


def record(text, split, source="fake", **labels):
    return Record(text=text, labels=labels or {"incivility": 0.0}, source=source, split=split)


@pytest.fixture
def fake_source(monkeypatch):
    loaded: dict[str, list[Record]] = {}
    monkeypatch.setattr(corpus, "get_loader", lambda name: lambda path, spec: loaded[name])
    return loaded


def test_dedup_across_splits(tmp_path, fake_source):
    (tmp_path / "fake").mkdir()
    fake_source["fake"] = [record("Hello   World", "train"), record("hello world", "validation"),
                           record("only train", "train"), record("Only Validation", "validation")]
    out = corpus.load_corpus(tmp_path, sources={"fake": {"weight": 1.0}},
                             label_map={"fake": {"path": "fake"}}, pairs={}, seed=1,
                             max_records_per_source=None)
    assert [(r.text, r.split) for r in out] == [
        ("hello world", "validation"), ("only train", "train"), ("Only Validation", "validation")]


def test_max_records_per_source_keeps_split_shares(tmp_path, fake_source):
    (tmp_path / "fake").mkdir()
    fake_source["fake"] = [record(f"text {i}", "train" if i % 5 else "validation")
                           for i in range(100)]

    def run(seed):
        return corpus.load_corpus(tmp_path, sources={"fake": {}},
                                  label_map={"fake": {"path": "fake"}}, pairs={}, seed=seed,
                                  max_records_per_source=10)

    out = run(1)
    assert Counter(r.split for r in out) == {"train": 8, "validation": 2}
    assert [r.text for r in out] == [r.text for r in run(1)]


def test_missing_path_names_source_and_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'wiki_threads'.*nowhere"):
        corpus.load_corpus(tmp_path, sources={"wiki_threads": {}},
                           label_map={"wiki_threads": {"path": "nowhere"}}, pairs={}, seed=1,
                           max_records_per_source=None)


def test_pairs_from_the_label_map_with_a_real_loader(tmp_path):
    folder = tmp_path / "wiki"
    folder.mkdir()
    rows = []
    for p in range(30):
        page = f"Talk:Page {p}"
        rows.append({"source": "job1", "page_title": page, "comments": [
            {"id": f"{p}.0", "comment_type": "SECTION_CREATION", "content": f"== Topic {p} ==",
             "parent_id": "", "page_title": page},
            {"id": f"{p}.1", "comment_type": "COMMENT_ADDING", "content": f"First words {p}.",
             "parent_id": f"{p}.0", "page_title": page},
            {"id": f"{p}.2", "comment_type": "COMMENT_ADDING", "content": f"A reply {p}.",
             "parent_id": f"{p}.1", "page_title": page}]})
    (folder / "wikidetox_talk_conversations.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    spec = {"path": "wiki", "offtopic_pairs": True, "validation_fraction": 0.3}
    out = corpus.load_corpus(tmp_path, sources={"wiki_threads": {"weight": 1.0}},
                             label_map={"wiki_threads": spec},
                             pairs={"negative_ratio": 1.0, "hard_fraction": 0.5}, seed=5,
                             max_records_per_source=None)
    assert {r.source for r in out} == {"wiki_threads:pairs"}  # own copies replace the originals
    kinds = Counter(r.meta["pair"] for r in out)
    assert kinds["own"] == 60 and kinds["hard"] + kinds["random"] == 60
    summary = corpus.summarise(out)
    entry = summary["sources"]["wiki_threads:pairs"]
    assert entry["train"] and entry["validation"]
    assert entry["train"] + entry["validation"] == 120 == summary["records"]
    off_topic = summary["attributes"]["off_topic"]
    assert off_topic["train"]["positives"] + off_topic["validation"]["positives"] == 60
    assert entry["with_article"] > 0 and entry["with_parent"] > 0
