"""The scorer on the tiny random artifact: shapes, order, context, normalisation, spans, flags."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from model.scorer import NO_CONTEXT, Article, Comment, Scorer, ScoreResult, char_spans
from model.text import normalise, normalise_with_offsets

ZWSP, ZWJ = "\u200b", "\u200d"
TEXTS = [
    "you are an idiot",
    "thanks , good point about the war in syria and the coalition",
    "shut up",
    "i think the government is wrong because people vote",
    "great idea",
    "this is not a good article about the weather , cake recipe and football game " * 3,
    "moron",
    "we agree with that reply",
    "stupid stupid stupid police law",
    "read the comment again",
]


def copy_with_thresholds(source, destination, edit) -> Scorer:
    """A copy of the artifact at ``source`` whose thresholds.json was changed by ``edit``."""
    shutil.copytree(source, destination)
    path = destination / "thresholds.json"
    thresholds = json.loads(path.read_text(encoding="utf-8"))
    edit(thresholds)
    path.write_text(json.dumps(thresholds), encoding="utf-8")
    return Scorer.from_pretrained(destination)


def assert_same_scores(a: dict, b: dict, tol: float = 1e-5) -> None:
    assert a.keys() == b.keys()
    for name in a:
        if a[name] is None or b[name] is None:
            assert a[name] is b[name] is None, name
        else:
            assert a[name] == pytest.approx(b[name], abs=tol), name


# ---- shapes and order ----------------------------------------------------------------------------
def test_score_single_string_returns_one_score_result(tiny_scorer):
    result = tiny_scorer.score("you are an idiot")
    assert isinstance(result, ScoreResult)
    assert result.model == "tiny@0.0.1"
    assert result.id is None
    assert result.spans is None and "spans" not in result.to_dict()


@pytest.mark.parametrize("item", [Comment(text="you are"), {"text": "you are"}])
def test_score_single_comment_or_mapping_returns_one_score_result(tiny_scorer, item):
    assert isinstance(tiny_scorer.score(item), ScoreResult)


def test_score_list_returns_list_of_same_length(tiny_scorer):
    results = tiny_scorer.score(TEXTS)
    assert isinstance(results, list) and len(results) == len(TEXTS)
    assert all(isinstance(r, ScoreResult) for r in results)
    assert tiny_scorer.score([]) == []


def test_score_keeps_input_order_and_ids(tiny_scorer):
    items = [{"id": f"c{i}", "text": text} for i, text in enumerate(TEXTS)]
    items[3]["id"] = 17  # ids keep their type
    results = tiny_scorer.score(items, batch_size=3)  # length-sorted batches of mixed lengths
    assert [r.id for r in results] == [item["id"] for item in items]
    singles = [tiny_scorer.score(item) for item in items]
    for batched, single in zip(results, singles, strict=True):
        assert_same_scores(batched.scores, single.scores)
    # the texts score differently, so a reordering could not go unnoticed
    incivility = [r.scores["incivility"] for r in results]
    assert len(set(incivility)) == len(incivility)


def test_score_values_are_probabilities_for_every_config_attribute(tiny_scorer):
    results = tiny_scorer.score(TEXTS + [{"text": "you are", "parent": "the war"}])
    for result in results:
        assert list(result.scores) == list(tiny_scorer.config.attributes)
        for name, value in result.scores.items():
            if value is not None:
                assert isinstance(value, float)
                assert 0.0 <= value <= 1.0, name


# ---- context -------------------------------------------------------------------------------------
def test_off_topic_is_none_with_unscored_note_without_context(tiny_scorer):
    result = tiny_scorer.score("you are an idiot")
    assert result.scores["off_topic"] is None
    assert result.unscored == {"off_topic": NO_CONTEXT}
    assert result.to_dict()["unscored"] == {"off_topic": NO_CONTEXT}
    assert "off_topic" not in result.flags
    assert all(v is not None for k, v in result.scores.items() if k != "off_topic")


@pytest.mark.parametrize(
    "context",
    [
        {"article": {"title": "war in syria"}},
        {"article": {"text": "the coalition will bomb syria"}},
        {"article": Article(title="war", text="syria")},
        {"parent": "i think the war is wrong"},
        {"article": {"title": "war in syria"}, "parent": "i think the war is wrong"},
    ],
    ids=["title", "article-text", "article-object", "parent", "both"],
)
def test_off_topic_is_scored_with_article_or_parent(tiny_scorer, context):
    result = tiny_scorer.score({"text": "you are an idiot", **context})
    assert isinstance(result.scores["off_topic"], float)
    assert 0.0 <= result.scores["off_topic"] <= 1.0
    assert result.unscored == {}
    assert "unscored" not in result.to_dict()


def test_blank_context_counts_as_no_context(tiny_scorer):
    result = tiny_scorer.score({"text": "you are", "article": {"title": " ", "text": ""},
                                "parent": ""})
    assert result.scores["off_topic"] is None


def test_different_articles_give_different_off_topic_scores(tiny_scorer):
    comment = "the war in syria is wrong"
    on = tiny_scorer.score({"text": comment, "article": {"title": "war in syria"}})
    off = tiny_scorer.score({"text": comment, "article": {"title": "cake recipe"}})
    parent = tiny_scorer.score({"text": comment, "parent": "great football game"})
    values = {on.scores["off_topic"], off.scores["off_topic"], parent.scores["off_topic"]}
    assert len(values) == 3


def test_context_does_not_change_the_comment_only_scores(tiny_scorer):
    alone = tiny_scorer.score("you are an idiot").scores
    with_context = tiny_scorer.score({"text": "you are an idiot", "article": {"title": "war"},
                                      "parent": "good point"}).scores
    for name, value in alone.items():
        if name != "off_topic":
            assert with_context[name] == pytest.approx(value, abs=1e-5)


def test_mixed_batch_scores_context_only_where_given(tiny_scorer):
    items = [{"text": "you are"}, {"text": "you are", "parent": "the war"},
             {"text": "you are", "article": {"title": "cake"}}, {"text": "moron"}]
    results = tiny_scorer.score(items)
    assert [r.scores["off_topic"] is None for r in results] == [True, False, False, True]
    for item, result in zip(items, results, strict=True):
        assert_same_scores(result.scores, tiny_scorer.score(item).scores)


ARTICLE = {"title": "council budget", "text": "the council cut the library hours"}
PARENT = "the library hours matter more than the roads"
REPLY = {"text": "roads matter too", "article": ARTICLE, "parent": PARENT}


def counting_pairs(scorer: Scorer) -> list[tuple]:
    """Record the shape of every off-topic branch call of ``scorer``."""
    calls: list[tuple] = []
    run = scorer._context_logit
    scorer._context_logit = lambda ids, types, mask: (calls.append(ids.shape),
                                                      run(ids, types, mask))[1]
    return calls


def with_lengths(scorer: Scorer, lengths: list[int]) -> Scorer:
    config = dataclasses.replace(scorer.config, context_lengths=lengths)
    return Scorer(scorer.network, scorer.tokenizer, config, thresholds=scorer.thresholds,
                  calibration=scorer.calibration)


def test_off_topic_reads_the_comment_with_its_context_in_one_sequence(tiny_scorer):
    scorer = with_lengths(tiny_scorer, [64, 64, 64])
    calls = counting_pairs(scorer)
    scorer.score(["no context", REPLY])
    assert len(calls) == 1 and calls[0][0] == 1  # only the comment with context
    tokens = scorer.tokenizer(["roads matter too", PARENT,
                               "council budget\nthe council cut the library hours"],
                              add_special_tokens=False)["input_ids"]
    assert calls[0][1] == 1 + len(tokens[0]) + 1 + len(tokens[1]) + 1 + len(tokens[2]) + 1
    short = with_lengths(tiny_scorer, [8, 6, 5])
    calls = counting_pairs(short)
    short.score(REPLY)
    assert calls[0][1] == 8 + 6 + 5  # each part cut to its budget


def test_the_context_changes_the_off_topic_score(tiny_scorer):
    scores = [tiny_scorer.score({**REPLY, **change}).scores["off_topic"] for change in (
        {}, {"parent": "what a lovely sunny day at the beach"}, {"article": None},
        {"parent": None})]
    assert len(set(scores)) == len(scores), scores


def test_a_long_article_is_read_to_its_budget(tiny_scorer):
    lengths = tiny_scorer.config.lengths
    long_text = " ".join(["the council cut the library hours"] * 400)
    clipped = tiny_scorer.tokenizer.decode(tiny_scorer.tokenizer(
        long_text, add_special_tokens=False)["input_ids"][:lengths.article - 1])
    full = tiny_scorer.score({"text": "roads", "article": {"text": long_text}})
    short = tiny_scorer.score({"text": "roads", "article": {"text": clipped}})
    assert full.scores["off_topic"] == short.scores["off_topic"]


# ---- normalisation -------------------------------------------------------------------------------
def test_full_width_text_scores_like_ascii(tiny_scorer):
    wide, plain = tiny_scorer.score(["ｙｏｕ　ａｒｅ　ａｎ　ｉｄｉｏｔ", "you are an idiot"])
    assert wide.scores == plain.scores
    assert wide.flags == plain.flags


def test_zero_width_characters_do_not_change_scores(tiny_scorer):
    dodged = f"you a{ZWSP}re an id{ZWJ}i{ZWSP}ot"
    clean = "you are an idiot"
    assert normalise(dodged) == clean
    a, b = tiny_scorer.score([dodged, clean])
    assert a.scores == b.scores


def test_tiny_vocabulary_knows_the_test_words(tiny_scorer):
    # guards the two tests above: the words are in the tiny vocabulary, so scores are not
    # equal merely because everything became [UNK]
    tokens = tiny_scorer.tokenizer.tokenize("you are an idiot")
    assert "[UNK]" not in tokens
    assert tiny_scorer.score("you are an idiot").scores != tiny_scorer.score("zq zq zq").scores


# ---- long and batched input ----------------------------------------------------------------------
def test_very_long_comment_scores_without_error(tiny_scorer):
    words = ("you are an idiot and the war in syria is wrong " * 500).split()
    text = " ".join(words[:5000])
    result = tiny_scorer.score(text, spans=True)
    assert all(0.0 <= v <= 1.0 for v in result.scores.values() if v is not None)
    for start, end in result.spans["incivility"]:
        assert 0 <= start < end <= len(text)


def test_single_and_batch_scoring_agree(tiny_scorer):
    batch = tiny_scorer.score(TEXTS, batch_size=8)
    for text, result in zip(TEXTS, batch, strict=True):
        assert_same_scores(tiny_scorer.score(text).scores, result.scores)


def test_batch_size_one_and_eight_agree(tiny_scorer):
    items = [{"text": t, "parent": TEXTS[0] if i % 2 else None} for i, t in enumerate(TEXTS)]
    one = tiny_scorer.score(items, batch_size=1)
    eight = tiny_scorer.score(items, batch_size=8)
    for a, b in zip(one, eight, strict=True):
        assert_same_scores(a.scores, b.scores)
        assert a.flags == b.flags


# ---- spans ---------------------------------------------------------------------------------------
def all_tokens_are_spans(thresholds: dict) -> None:
    thresholds["spans"]["threshold"] = 0.0


def test_spans_are_valid_ranges_into_the_original_text(tiny_model, tmp_path):
    scorer = copy_with_thresholds(tiny_model, tmp_path / "m", all_tokens_are_spans)
    text = f"{ZWSP}you a{ZWSP}re\tan   id{ZWJ}{ZWJ}iot{ZWSP}"
    result = scorer.score(text, spans=True)
    spans = result.spans[scorer.config.span_attribute]
    assert spans, "threshold 0 marks every token"
    for start, end in spans:
        assert 0 <= start < end <= len(text)
        assert text[start] not in (ZWSP, ZWJ, " ", "\t")
        assert text[end - 1] not in (ZWSP, ZWJ, " ", "\t")
    assert spans == sorted(spans)
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False))
    # every word is covered, with offsets in the ORIGINAL text (shifted by the removed chars)
    assert spans[0][0] == 1  # after the leading zero-width space
    assert spans[-1][1] == len(text) - 1  # the last "t", before the trailing zero-width space
    covered = "".join(text[s:e] for s, e in spans)
    assert normalise(covered).replace(" ", "").replace("\t", "") == "youareanidiot"
    assert text[spans[-1][0]:spans[-1][1]] == f"id{ZWJ}{ZWJ}iot"


def test_spans_merge_words_one_character_apart(tiny_model, tmp_path):
    scorer = copy_with_thresholds(tiny_model, tmp_path / "m", all_tokens_are_spans)
    result = scorer.score("you are   idiot", spans=True)
    assert result.spans["incivility"] == [[0, 7], [10, 15]]


def test_spans_empty_above_every_probability(tiny_model, tmp_path):
    def none(thresholds):
        thresholds["spans"]["threshold"] = 1.01

    scorer = copy_with_thresholds(tiny_model, tmp_path / "m", none)
    result = scorer.score("you are an idiot", spans=True)
    assert result.spans == {"incivility": []}
    assert result.to_dict()["spans"] == {"incivility": []}


def test_spans_in_a_batch_belong_to_their_own_comment(tiny_model, tmp_path):
    scorer = copy_with_thresholds(tiny_model, tmp_path / "m", all_tokens_are_spans)
    texts = ["moron", f"you{ZWSP} are an idiot and stupid", "shut up"]
    results = scorer.score(texts, spans=True, batch_size=2)
    for text, result in zip(texts, results, strict=True):
        spans = result.spans["incivility"]
        assert spans[0][0] == 0 and spans[-1][1] == len(text)


def test_char_spans_maps_tokens_through_the_index_and_merges_neighbours():
    text = f"ab{ZWSP}c de  fg"
    _, index = normalise_with_offsets(text)
    # normalised "abc de  fg": tokens "abc" (0,3), "de" (4,6), "fg" (8,10)
    row = {"index": index, "offsets": [(0, 0), (0, 3), (4, 6), (8, 10), (0, 0)],
           "span_probs": np.array([0.9, 0.8, 0.7, 0.6, 0.9])}
    assert char_spans(row, threshold=0.5) == [[0, 7], [9, 11]]
    assert char_spans(row, threshold=0.65) == [[0, 7]]
    assert char_spans(row, threshold=0.75) == [[0, 4]]
    assert char_spans(row, threshold=0.95) == []


# ---- flags ---------------------------------------------------------------------------------------
def test_flags_are_exactly_the_attributes_at_or_above_threshold(tiny_model, tiny_scorer, tmp_path):
    item = {"text": "you are an idiot", "parent": "good point"}
    scores = tiny_scorer.score(item).scores
    names = list(scores)
    at = set(names[::2])  # threshold equal to the score: flagged (>=)

    def edit(thresholds):
        for name in names:
            rule = thresholds["attributes"][name]
            rule["threshold"] = scores[name] if name in at else scores[name] + 1e-4

    scorer = copy_with_thresholds(tiny_model, tmp_path / "m", edit)
    result = scorer.score(item)
    assert result.scores == scores
    assert set(result.flags) == at
    assert result.flags == [n for n in names if n in at]  # in attribute order


def test_flags_follow_edited_thresholds_and_never_include_unscored(tiny_model, tmp_path):
    def everything(thresholds):
        for rule in thresholds["attributes"].values():
            rule["threshold"] = 0.0

    scorer = copy_with_thresholds(tiny_model, tmp_path / "all", everything)
    result = scorer.score("you are an idiot")
    assert set(result.flags) == set(scorer.config.attributes) - {"off_topic"}
    with_context = scorer.score({"text": "you are", "parent": "war"})
    assert set(with_context.flags) == set(scorer.config.attributes)

    def nothing(thresholds):
        for rule in thresholds["attributes"].values():
            rule["threshold"] = 1.01

    scorer = copy_with_thresholds(tiny_model, tmp_path / "none", nothing)
    assert scorer.score({"text": "you are", "parent": "war"}).flags == []


# ---- Comment.coerce ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({}, "text"),
        ({"id": 1}, "text"),
        ({"text": None}, "text"),
        ({"text": 42}, "text"),
        ({"text": "hi", "article": "war in syria"}, "article"),
        ({"text": "hi", "article": ["war"]}, "article"),
        ({"text": "hi", "parent": 3}, "parent"),
    ],
)
def test_comment_coerce_rejects_bad_fields_naming_them(item, field):
    with pytest.raises(ValueError, match=f"'{field}'"):
        Comment.coerce(item)


def test_comment_coerce_rejects_a_non_mapping():
    with pytest.raises(TypeError):
        Comment.coerce(42)


def test_comment_coerce_accepts_strings_mappings_and_comments():
    comment = Comment.coerce({"id": "x", "text": "hi", "article": {"title": "War"},
                              "parent": "why", "extra": "ignored"})
    assert comment == Comment(text="hi", article=Article(title="War"), parent="why", id="x")
    assert Comment.coerce(comment) is comment
    assert Comment.coerce("hi") == Comment(text="hi")
    assert Comment.coerce({"text": "hi", "article": {"title": "", "text": "  "}}).article is None


def test_score_rejects_bad_items_before_scoring(tiny_scorer):
    with pytest.raises(ValueError, match="'text'"):
        tiny_scorer.score([{"text": "fine"}, {"txt": "typo"}])


def test_spans_include_combining_marks_of_decomposed_text(tiny_model, tmp_path):
    scorer = copy_with_thresholds(tiny_model, tmp_path / "m", all_tokens_are_spans)
    text = "cafe\u0301 you are stupide\u0301"  # decomposed (NFD) accents, as macOS sends them
    result = scorer.score(text, spans=True)
    # one span over the whole text: no accent cut off the end of a word, no gap left
    assert result.spans["incivility"] == [[0, len(text)]]


def test_char_spans_extends_over_combining_marks_when_the_text_is_known():
    text = "ide\u0301e\u0301 ok"
    normalised, index = normalise_with_offsets(text)
    assert normalised == "id\u00e9\u00e9 ok"
    row = {"text": text, "index": index, "offsets": [(0, 4), (5, 7)],
           "span_probs": np.array([0.9, 0.1])}
    assert char_spans(row, threshold=0.5) == [[0, 6]]


@pytest.mark.parametrize("field", ["title", "text"])
def test_comment_coerce_rejects_non_string_article_parts(field):
    with pytest.raises(ValueError, match=f"article.{field}"):
        Comment.coerce({"text": "hi", "article": {field: 5}})


def test_the_off_topic_branch_does_not_touch_the_comment_outputs(tiny_scorer):
    """The off-topic branch has top layers of its own on the shared trunk: changing them moves
    the off-topic logit and nothing the comment heads read."""
    import copy

    import torch

    network = copy.deepcopy(tiny_scorer.network)
    ids = torch.tensor([[2, 40, 41, 42, 3, 44, 45, 3], [2, 43, 3, 46, 3, 0, 0, 0]])
    mask = (ids != 0).long()
    types = torch.tensor([[0, 0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 0, 0, 0]])
    with torch.inference_mode():
        before, context = network(ids, mask), network.context_logit(ids, types, mask)
        for parameter in network.topic_layers.parameters():
            parameter.add_(0.05)
        after, moved = network(ids, mask), network.context_logit(ids, types, mask)
    for name in ("logits", "span_logits", "pooled"):
        torch.testing.assert_close(after[name], before[name], rtol=0, atol=0)
    assert not torch.allclose(moved, context)
