"""The context/thread adapters on tiny files in each source's real format."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

from training.data import cmv, semeval2015_cqa, semeval_cqa, wiki_threads
from training.data.registry import get_loader

LABELS_YAML = Path(__file__).resolve().parents[2] / "configs" / "labels.yaml"
FOOTNOTE = ("\n_____\n\n> *Hello, users of CMV! This is a footnote from your moderators.* "
            "***[read through our rules](http://www.reddit.com/r/changemyview/wiki/rules)***")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def cmv_row(thread, position, cid, parent, link, body, *, rule=0, kind="ah", delta=False):
    return {"thread_file": thread, "thread_idx": 0, "thread_type": kind, "position": position,
            "is_last": False, "id": cid, "parent_id": parent, "link_id": link,
            "author_name": "someone", "body": body, "violated_rule": rule, "delta": delta,
            "created_utc": 1.0, "ups": 1}


def test_registry_knows_the_context_sources():
    assert get_loader("cmv") is cmv.load
    assert get_loader("semeval2016_cqa") is semeval_cqa.load
    assert get_loader("semeval2015_cqa") is semeval2015_cqa.load
    assert get_loader("wiki_threads") is wiki_threads.load
    spec = yaml.safe_load(LABELS_YAML.read_text(encoding="utf-8"))
    for name in ("cmv", "semeval2016_cqa", "semeval2015_cqa", "wiki_threads"):
        assert spec[name]["path"] and spec[name]["licence"]


def test_cmv_labels_parents_and_op(tmp_path):
    ah, delta = "1_ah_t1_a4.json", "2_delta_t1_d2.json"
    write_jsonl(tmp_path / "cmv_ad_hominem_threads.jsonl", [
        cmv_row(ah, 0, "a1", "t1_zz", "t3_s1", "Taxes fund roads &amp; schools."),
        cmv_row(ah, 1, "a2", "t1_a1", "t3_s1", "Roads could be private."),
        cmv_row(ah, 2, "a3", "t1_a2", "t3_s1", "That is naive.", rule=5),
        cmv_row(ah, 3, "a4", "t1_a3", "t3_s1", "You are an idiot.", rule=2),
        cmv_row("3_ah_t1_a9.json", 0, "a1", "t1_zz", "t3_s1", "Taxes fund roads &amp; schools."),
        cmv_row("3_ah_t1_a9.json", 1, "a9", "t1_a1", "t3_s1", "[removed]", rule=2),
        cmv_row(delta, 0, "s2", "", "", "I think cats beat dogs." + FOOTNOTE, kind="delta"),
        cmv_row(delta, 1, "d1", "t3_s2", "t3_s2", "Dogs are loyal.", kind="delta"),
        cmv_row(delta, 2, "d2", "t1_d1", "t3_s2", "Fair point, delta.", kind="delta", delta=True),
    ])
    records = {r.meta["comment_id"]: r for r in cmv.load(tmp_path, {})}
    assert set(records) == {"a1", "a2", "a4", "d1", "d2"}  # OP, rule 5 and [removed] skipped
    assert records["a4"].labels == {"personal_attack": 1.0, "incivility": 1.0}
    assert records["a4"].parent == "That is naive."  # a skipped comment still serves as parent
    assert records["a2"].labels == {"personal_attack": 0.0}
    assert records["a2"].parent == "Taxes fund roads & schools."
    assert records["a1"].parent is None and not records["a1"].has_context
    assert records["d1"].labels == {"personal_attack": 0.0, "incivility": 0.0}
    assert records["d1"].article_text == "I think cats beat dogs."  # footnote stripped
    assert records["d1"].parent is None  # its parent is the OP, already the article
    assert records["d2"].parent == "Dogs are loyal."
    assert records["a4"].group == "cmv:1_ah_t1_a4" and records["a4"].meta["topic"] == "cmv:s1"
    assert len({records[c].split for c in ("a1", "a2", "a4")}) == 1  # one submission, one split


def qa_csv(path: Path, second: str, rows: list[tuple[str, str, str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["feature", "question", second, "labels"])
        writer.writerows(rows)


def test_semeval2016_mapping_articles_and_subjects(tmp_path):
    qa_csv(tmp_path / "subtaskA_val.csv", "answer", [
        ("Best bank", "Which bank is best; in Doha?", "QNB; definitely", "Good"),
        ("Best bank", "Which bank is best; in Doha?", "lol who cares", "Bad"),
        ("Best bank", "Which bank is best; in Doha?", "Try several", "PotentiallyUseful"),
    ])
    qa_csv(tmp_path / "subtaskB_val.csv", "rel_question", [
        ("Good bank Best bank", "A good bank here?", "Which bank is best; in Doha?", "Relevant"),
        ("Good bank Cheap cars", "A good bank here?", "Where to buy a cheap car?", "Irrelevant"),
    ])
    qa_csv(tmp_path / "subtaskC_val.csv", "answer", [
        ("Good bank", "A good bank here?", "QNB; definitely", "Good"),
        ("Good bank", "A good bank here?", "Toyota dealers", "Bad"),
    ])
    records = list(semeval_cqa.load(tmp_path, {"validation_fraction": 0.0}))
    assert len(records) == 7 and all(r.split == "train" for r in records)
    a = [r for r in records if r.meta["subtask"] == "A"]
    assert [r.labels["off_topic"] for r in a] == [0.0, 0.3, 0.0]
    assert a[0].article_title == "Best bank"
    assert a[0].article_text == "Which bank is best, in Doha?"  # the export's ';' undone
    assert a[0].text == "QNB, definitely" and a[0].parent is None
    b = [r for r in records if r.meta["subtask"] == "B"]
    assert b[1].article_title == "Good bank"  # from C's subject for the original question
    assert b[1].text == "Cheap cars\nWhere to buy a cheap car?"
    assert b[1].labels == {"off_topic": 0.7} and b[1].weight == 0.5
    c = [r for r in records if r.meta["subtask"] == "C"]
    assert [r.labels["off_topic"] for r in c] == [0.0, 0.7]
    custom = {"labels": {"C": {"Bad": 1.0}}, "validation_fraction": 0.0}
    assert [r.labels["off_topic"] for r in semeval_cqa.load(tmp_path, custom)][-1] == 1.0


def test_semeval2016_subject_from_common_prefix(tmp_path):
    qa_csv(tmp_path / "subtaskB_train.csv", "rel_question", [
        ("Massage oil massage oil", "Where to buy massage oil?", "Scented oils?", "PerfectMatch"),
        ("Massage oil Best spa", "Where to buy massage oil?", "A good spa?", "Irrelevant"),
    ])
    records = list(semeval_cqa.load(tmp_path, {"validation_fraction": 0.0}))
    assert [r.article_title for r in records] == ["Massage oil", "Massage oil"]
    assert [r.text for r in records] == ["massage oil\nScented oils?", "Best spa\nA good spa?"]


def test_semeval2016_no_question_or_comment_on_both_sides(tmp_path):
    rows_b, rows_c = [], []
    for i in range(16):  # related questions shared between neighbouring originals
        for rel in (i, i + 1):
            rows_b.append((f"Orig {i} Rel {rel}", f"original question {i}?",
                           f"related question {rel}?", "Relevant"))
        rows_c.append((f"Orig {i}", f"original question {i}?", f"comment {i}", "Good"))
        rows_c.append((f"Orig {i}", f"original question {i}?", "shared comment", "Bad"))
    qa_csv(tmp_path / "subtaskB_train.csv", "rel_question", rows_b)
    qa_csv(tmp_path / "subtaskC_val.csv", "answer", rows_c)
    records = list(semeval_cqa.load(tmp_path, {"validation_fraction": 0.5}))
    held = [r for r in records if r.split == "validation"]
    train = [r for r in records if r.split == "train"]
    assert held and train
    questions = {r.meta["article_key"] for r in held} | {r.meta.get("text_key") for r in held}
    questions.discard(None)
    for r in train:
        assert r.meta["article_key"] not in questions
        assert r.meta.get("text_key") not in questions
    assert not {r.text for r in train} & {r.text for r in held}


GOLD_XML = """<root>
<Question QID="Q1" QCATEGORY="Cars" QDATE="2010-01-01" QUSERID="U1" QTYPE="GENERAL">
  <QSubject>Cheap car</QSubject>
  <QBody>Where can I buy a cheap car?</QBody>
  <Comment CID="Q1_C1" CUSERID="U2" CGOLD="?"><CSubject>try</CSubject>
    <CBody>Try the souq &amp;amp; &lt;a href="x"&gt;dealers&lt;/a&gt;</CBody></Comment>
  <Comment CID="Q1_C2" CUSERID="U3" CGOLD="?"><CSubject>x</CSubject><CBody>lol</CBody></Comment>
  <Comment CID="Q1_C3" CUSERID="U4" CGOLD="?"><CSubject>x</CSubject><CBody>merci</CBody></Comment>
  <Comment CID="Q1_C4" CUSERID="U5" CGOLD="Dialogue"><CSubject>x</CSubject>
    <CBody>@U2 thanks</CBody></Comment>
</Question>
</root>
"""


def test_semeval2015_xml_and_gold(tmp_path):
    (tmp_path / "CQA-QL-devel-input.xml").write_text(GOLD_XML, encoding="utf-8")
    (tmp_path / "CQA-QL-devel-gold.txt").write_text(
        "Q1_C1\tGood\nQ1_C2\tBad\nQ1_C3\tNot English\n", encoding="utf-8")
    records = list(semeval2015_cqa.load(tmp_path, {"validation_fraction": 0.0}))
    assert [r.meta["label"] for r in records] == ["Good", "Bad", "Dialogue"]  # Not English out
    assert [r.labels["off_topic"] for r in records] == [0.0, 0.6, 0.2]
    assert records[0].text == "Try the souq & dealers"
    assert records[0].article_title == "Cheap car"
    assert records[0].article_text == "Where can I buy a cheap car?"
    assert records[0].meta["family"] == "qatarliving:Cars"
    assert len({r.group for r in records}) == 1


def wiki_comment(cid, kind, content, parent, page):
    return {"id": cid, "comment_type": kind, "content": content, "timestamp": "2006-01-01",
            "status": "just added", "page_title": page, "user_text": "u", "parent_id": parent}


def test_wiki_threads_merge_context_and_topics(tmp_path):
    page, user = "Talk:Ooze", "User talk:Ritchy"
    conversation = [
        wiki_comment("1.1.1", "SECTION_CREATION", " ==Utroms==", "", page),
        wiki_comment("1.2.1", "COMMENT_ADDING", " The [WIKI_LINK: Utrom] scene was cut.", "1.1.1",
                     page),
        wiki_comment("2.1.1", "COMMENT_ADDING", " ::Source? See [WP:RS@reliable sources].",
                     "1.2.1", page),
    ]
    write_jsonl(tmp_path / "wikidetox_talk_conversations.jsonl", [
        {"source": "job1", "page_title": page, "comments": conversation[:2]},
        {"source": "job2", "page_title": page, "comments": conversation},  # overlapping dump
        {"source": "job1", "page_title": user, "comments": [
            wiki_comment("5.1.1", "SECTION_CREATION", "== Unblock ==", "", user),
            wiki_comment("5.2.1", "COMMENT_ADDING", "Please unblock me.", "5.1.1", user)]},
        {"source": "job1", "page_title": user, "comments": [
            wiki_comment("6.1.1", "SECTION_CREATION", "== Image ==", "", user),
            wiki_comment("6.2.1", "COMMENT_ADDING", "ok", "6.1.1", user)]},  # too short
    ])
    records = list(wiki_threads.load(tmp_path, {}))
    by_id = {r.meta["comment_id"]: r for r in records}
    assert sorted(by_id) == ["1.2.1", "2.1.1", "5.2.1"]  # merged: each comment once
    first, reply = by_id["1.2.1"], by_id["2.1.1"]
    assert first.text == "The Utrom scene was cut." and first.parent is None
    assert reply.text == "Source? See reliable sources." and reply.parent == first.text
    assert first.article_title == "Ooze" and first.article_text == "Utroms"
    assert first.labels == {"off_topic": 0.0} and first.group == reply.group
    assert first.meta["topic"] == "wiki:Talk:Ooze" and first.meta["family"] is None
    own = by_id["5.2.1"]
    assert own.article_title == "User talk:Ritchy" and own.meta["topic"] == own.group
    assert own.meta["family"] == "wiki:User talk:Ritchy"
