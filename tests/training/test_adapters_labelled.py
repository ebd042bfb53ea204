"""Each labelled-source adapter on a tiny file written in that source's published format."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from training.data.registry import get_loader
from training.data.splits import assign_split
from training.records import Record

SPECS = yaml.safe_load((Path(__file__).resolve().parents[2] / "configs/labels.yaml").read_text())


def approx(value: float):
    return pytest.approx(value, abs=1e-4)  # adapters round soft labels to 4 places


def load(name: str, data_dir: Path) -> list[Record]:
    return list(get_loader(name)(data_dir, SPECS[name]))


def by_text(records: list[Record]) -> dict[str, Record]:
    return {r.text: r for r in records}


def assert_seeded(records: list[Record]) -> None:
    for record in records:
        assert record.split == assign_split(record.group)


def write(path: Path, content: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


def write_rows(path: Path, rows: list[list], delimiter: str = ",", **kwargs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=delimiter, lineterminator="\n", **kwargs).writerows(rows)


def test_kaggle_insults_decodes_escaped_literals(tmp_path):
    write(
        tmp_path / "train.csv",
        "Insult,Date,Comment\n"
        '1,20120618192155Z,"""You are a moron, and a ""genius"" too."""\n'
        r'0,20120528192215Z,"""i really don\'t get it.\xa0 Apples\nand oranges."""'
        "\n"
        r'0,,"""A\xc2\xa0majority \u2026 \xe2\x80\x99ok\u2019 p\xe5"""'
        "\n"
        '0,,"""   """\n',
    )
    records = by_text(load("kaggle_insults", tmp_path))
    assert set(records) == {
        'You are a moron, and a "genius" too.',
        "i really don't get it.\xa0 Apples\nand oranges.",
        "A\xa0majority \u2026 \u2019ok\u2019 p\xe5",
    }
    insult = records['You are a moron, and a "genius" too.']
    assert insult.labels == {"personal_attack": 1.0, "insult": 1.0, "incivility": 1.0}
    assert records["A\xa0majority \u2026 \u2019ok\u2019 p\xe5"].labels == {"personal_attack": 0.0}
    assert_seeded(list(records.values()))


UCC_HEADER = (
    '"_unit_id","_trusted_judgments","comment","antagonize","antagonize:confidence",'
    '"condescending","condescending:confidence","dismissive","dismissive:confidence",'
    '"generalisation","generalisation:confidence","generalisation_unfair",'
    '"generalisation_unfair:confidence","healthy","healthy:confidence","hostile",'
    '"hostile:confidence","sarcastic","sarcastic:confidence"\n'
)


def test_ucc_soft_labels_from_confidence(tmp_path):
    write(
        tmp_path / "val.csv",
        UCC_HEADER
        + '1739468038,3,"Fine, ""taxis"" it is.",0,1.0,0,1.0,0,1.0,0,1.0,0.0,1.0,'
        + "1,1.0,0,1.0,0,1.0\n"
        + '1739472068,5,"Hatchet job.\nHitler? Stalin?",0,0.5995,1,0.6156,1,0.6077,0,1.0,0.0,1.0,'
        + "0,0.6077,0,0.785,1,0.6077\n"
        + '2028122508,5,"Liberals, eh.",0,1.0,0,0.7936,0,0.5973,0,0.8037,0.0,0.0,0,0.597,0,0.7936,'
        + "0,0.7936\n",
    )
    records = by_text(load("ucc", tmp_path))
    healthy = records['Fine, "taxis" it is.']
    assert healthy.labels["incivility"] == 0.0 and healthy.labels["personal_attack"] == 0.0
    unhealthy = records["Hatchet job.\nHitler? Stalin?"]
    assert unhealthy.labels["incivility"] == approx(0.6077)
    assert unhealthy.labels["condescension"] == approx(0.6156)
    assert unhealthy.labels["antagonism"] == approx(1 - 0.5995)
    assert unhealthy.labels["hostility"] == approx(1 - 0.785)
    assert "personal_attack" not in unhealthy.labels  # antagonize is no personal_attack proxy
    # confidence 0 = question not asked: the 0 label stands instead of becoming 1 - 0 = 1
    assert records["Liberals, eh."].labels["unfair_generalisation"] == 0.0
    assert_seeded(list(records.values()))


def test_olid_combinations_and_literal_quotes(tmp_path):
    write(
        tmp_path / "olid-training-v1.0.tsv",
        "id\ttweet\tsubtask_a\tsubtask_b\tsubtask_c\n"
        "86426\t@USER She should ask a few native Americans.\tOFF\tUNT\tNULL\n"
        "90194\t@USER Go home you’re drunk!!! URL\tOFF\tTIN\tIND\n"
        '62688\t"@USER Someone should\'ve ""Taken"" this idiot, lol"""\tOFF\tTIN\tGRP\n'
        "16820\tAmazon is investigating employees. URL #Amazon\tNOT\tNULL\tNULL\n",
    )
    records = by_text(load("olid", tmp_path))
    assert records["@USER Go home you’re drunk!!! URL"].labels["personal_attack"] == 0.7
    group = records['@USER Someone should\'ve "Taken" this idiot, lol"']
    assert group.labels["identity_attack"] == 0.5 and group.labels["personal_attack"] == 0.0
    assert records["@USER She should ask a few native Americans."].labels["incivility"] == 1.0
    assert records["Amazon is investigating employees. URL #Amazon"].labels["incivility"] == 0.0
    assert_seeded(list(records.values()))


def test_toxic_spans_keeps_split_and_shifts_offsets(tmp_path):
    write(
        tmp_path / "tsd_train.csv",
        "spans,text\n"
        '"[9, 10, 11, 12, 13]","  What a moron, ""honestly"".\nBye"\n'
        '[],"As long as you pay, fine.\nBut you\'re a hypocritical wanker."\n'
        '"[0, 1, 2, 3]","Damn, a whole family."\n',
    )
    write(tmp_path / "tsd_trial.csv", 'spans,text\n"[0, 1, 2, 3]","Damn, a whole family."\n')
    records = by_text(load("toxic_spans", tmp_path))
    spanned = records['What a moron, "honestly".\nBye']
    assert spanned.split == "train" and spanned.labels == {"incivility": 1.0}
    assert "".join(spanned.text[i] for i in spanned.span_chars) == "moron"  # re-based after strip
    no_span = records["As long as you pay, fine.\nBut you're a hypocritical wanker."]
    assert no_span.span_chars is None and no_span.labels == {"incivility": 1.0}
    damn = [r for r in load("toxic_spans", tmp_path) if r.text == "Damn, a whole family."]
    assert [r.split for r in damn] == ["validation"]  # also in train: kept on one side only


def test_toxic_spans_raw_votes_types_and_semeval_alignment(tmp_path):
    raw = tmp_path / "toxic_spans_civil_comments" / "acl2022_raw"
    semeval = tmp_path / "toxic_spans_civil_comments" / "semeval2021"
    write(
        raw / "comments.csv",
        "comment_id,comment_text\n"
        '239607,"You idiot, ""damn"" you.\nGo away."\n'
        "240311,You're an idiot.\n"
        "240400,Have a nice day.\n"
        "240401,Have a nice day.\n",
    )
    write(
        raw / "annotations.csv",
        "annotation,comment_id,worker,country,all toxic,not toxic\n"
        "1,239607,418,VEN,False,False\n2,239607,2076,USA,True,True\n3,239607,459,VEN,False,False\n"
        "4,240311,1,USA,False,False\n5,240311,2,USA,True,True\n"
        "6,240400,3,USA,True,True\n7,240401,4,VEN,True,False\n8,240401,5,USA,False,False\n",
    )
    write(
        raw / "spans.csv",
        "annotation,type,start,end\n"
        "1,Insult,4,9\n1,Profane/Obscene,12,16\n3,Insu,4,9\n4,Insult,9,14\n",
    )
    write(semeval / "tsd_trial.csv", 'spans,text\n"[9, 10, 11, 12, 13]",You\'re an idiot.\n')
    write(semeval / "tsd_train.csv", "spans,text\n")
    records = by_text(load("toxic_spans_raw", raw))
    shared = records["You're an idiot."]  # in SemEval: its split, typed labels only
    assert shared.split == "validation" and "incivility" not in shared.labels
    assert shared.labels["insult"] == 0.5
    post = records['You idiot, "damn" you.\nGo away.']
    assert post.labels["incivility"] == approx(2 / 3)  # rater 2 marked nothing: not toxic
    assert post.labels["insult"] == approx(2 / 3)  # the truncated "Insu" counts
    assert post.labels["profanity"] == approx(1 / 3)
    assert post.labels["threat"] == 0.0 and post.span_chars is None
    nice = records["Have a nice day."]  # two comment ids, one text: raters pooled, voter 8 abstains
    assert nice.labels["incivility"] == 0.5 and nice.meta["raters"] == 2
    assert_seeded([post, nice])


def test_cat_context_parent_only_when_rated_with_it(tmp_path):
    parent = 'I think "StuRat" should have his say,\nfrankly.'
    write_rows(
        tmp_path / "CAT_LARGE_gc.csv",
        [
            ["id", "text", "parent", "label", "api"],
            ["100030037.40314.40314", 'BTW, I see no "attack" here.  ', parent, "0", "0.1323"],
            ["100030038.1.1", "Shut up, you fool.", parent, "1", "0.91"],
        ],
    )
    write_rows(
        tmp_path / "CAT_LARGE_gn.csv",
        [
            ["id", "text", "label", "api", "parent"],
            ["100012187.76918.76918", "Templates?\nYes.", "0", "0.04", ""],
        ],
    )
    records = by_text(load("cat_context", tmp_path))
    attack, calm = records["Shut up, you fool."], records['BTW, I see no "attack" here.']
    assert attack.labels == {"incivility": 1.0} and calm.labels == {"incivility": 0.0}
    assert attack.parent == parent and attack.group == calm.group and attack.split == calm.split
    assert records["Templates?\nYes."].parent is None
    assert_seeded(list(records.values()))


def test_ruddit_score_mapping_and_deleted(tmp_path):
    url = "https://www.reddit.com/r/changemyview/comments/42g75o/cmv_the_wage_gap_is_a_myth//{}/"
    write_rows(
        tmp_path / "ruddit_with_text.csv",
        [
            ["post_id", "comment_id", "txt", "url", "offensiveness_score"],
            [
                "42g75o",
                "cza1q49",
                '> The gap.\n\nSo it isn\'t a "myth", then.',
                url.format("cza1q49"),
                "-0.083",
            ],
            ["42g75o", "cza23qx", "[deleted]", url.format("cza23qx"), "0.167"],
            [
                "42g75o",
                "cza2bw8",
                "Shut the fuck up, you ignorant degenerate!",
                url.format("cza2bw8"),
                "0.8",
            ],
            ["7abcde", "dpx1", "Meh, kinda dumb take.", "https://i.redd.it/pit25z.png/dpx1/",
             "0.35"],
        ],
    )
    records = by_text(load("ruddit", tmp_path))
    assert len(records) == 3
    # the post title from the permalink's slug; an image post has none
    assert records["Shut the fuck up, you ignorant degenerate!"].article_title == (
        "cmv the wage gap is a myth")
    assert records["Meh, kinda dumb take."].article_title is None
    assert records['> The gap.\n\nSo it isn\'t a "myth", then.'].labels == {"incivility": 0.0}
    assert records["Shut the fuck up, you ignorant degenerate!"].labels == {"incivility": 1.0}
    assert records["Meh, kinda dumb take."].labels["incivility"] == approx(0.5)
    assert records["Meh, kinda dumb take."].group == "reddit:7abcde"
    assert_seeded(list(records.values()))


def test_jigsaw_per_annotator_means(tmp_path):
    write(
        tmp_path / "sample_comment_text.csv",
        "_unit_id,comment_text\n"
        "y8hD11I6/FIAywrkZOTm/BZprzc=,fuck you mother fucker\n"
        'I2ZqEb2THNZ4GYw1ksyvwpfsERg=,"""\n\nSpan is a word for """"generate"""", see the page'
        '."""\n',
    )
    write(
        tmp_path / "sample_training_data.csv",
        "_unit_id,_worker_id,identity_hate,obscene,threat,insult\n"
        "y8hD11I6/FIAywrkZOTm/BZprzc=,Cg4r,1,1,0,1\n"
        "y8hD11I6/FIAywrkZOTm/BZprzc=,sbGs,0,1,0,1\n"
        "y8hD11I6/FIAywrkZOTm/BZprzc=,K/ub,0,1,0,0\n"
        "y8hD11I6/FIAywrkZOTm/BZprzc=,tpa7,0,0,0,1\n"
        "I2ZqEb2THNZ4GYw1ksyvwpfsERg=,lz8G,0,0,0,0\n"
        "I2ZqEb2THNZ4GYw1ksyvwpfsERg=,jm11,0,0,0,0\n",
    )
    records = by_text(load("jigsaw_per_annotator", tmp_path))
    rude = records["fuck you mother fucker"]
    assert rude.labels == {
        "identity_attack": 0.25,
        "profanity": 0.75,
        "threat": 0.0,
        "insult": 0.75,
    }
    calm = records['Span is a word for "generate", see the page.']  # double CSV quoting undone
    assert calm.labels["insult"] == 0.0 and "incivility" not in calm.labels
    assert_seeded(list(records.values()))


def test_debiasing_negatives_and_withheld_test(tmp_path):
    write(
        tmp_path / "toxicity_debiasing_data.tsv",
        "rev_id\tcomment\tis_toxic\tsplit\n"
        'wikipedia30730588_Jeanne Galzy_2\t"A ""breeding ground,"" said\none paper."\tFalse\ttest\n'
        "wikipedia571061_Egan v Canada_0\tThey were a gay couple since 1948.\tFalse\ttrain\n"
        "wikipedia571061_Egan v Canada_1\tEgan, a gay man, sued.\tFalse\tdev\n",
    )
    records = by_text(load("debiasing", tmp_path))
    assert set(records) == {"They were a gay couple since 1948.", "Egan, a gay man, sued."}
    for record in records.values():
        assert record.labels == {"incivility": 0.0, "identity_attack": 0.0, "insult": 0.0}
        assert record.group == "debiasing:wikipedia571061_Egan v Canada"
    assert_seeded(list(records.values()))


def test_jigsaw_toxic_2018_format(tmp_path):
    write_rows(
        tmp_path / "train.csv",
        [
            [
                "id",
                "comment_text",
                "toxic",
                "severe_toxic",
                "obscene",
                "threat",
                "insult",
                "identity_hate",
            ],
            [
                "0000997932d777bf",
                "Explanation\nWhy the edits, made under my username?",
                0,
                0,
                0,
                0,
                0,
                0,
            ],
            ["0002bcb3da6cb337", "COCKSUCKER BEFORE YOU PISS AROUND ON MY WORK", 1, 1, 1, 0, 1, 0],
            [
                "00025465d4725e87",
                '"\n\nCongratulations, use the ""tools"" well.  · talk "',
                0,
                0,
                0,
                0,
                0,
                0,
            ],
        ],
        quoting=csv.QUOTE_NONNUMERIC,
    )
    records = by_text(load("jigsaw_toxic_2018", tmp_path))
    rude = records["COCKSUCKER BEFORE YOU PISS AROUND ON MY WORK"]
    assert rude.labels == {
        "incivility": 1.0,
        "profanity": 1.0,
        "threat": 0.0,
        "insult": 1.0,
        "identity_attack": 0.0,
    }
    assert 'Congratulations, use the "tools" well.  · talk' in records
    assert_seeded(list(records.values()))


def test_wikipedia_talk_labels_format(tmp_path):
    write(
        tmp_path / "attack_annotated_comments.tsv",
        "rev_id\tcomment\tyear\tlogged_in\tns\tsample\tsplit\n"
        "37675\t`-NEWLINE_TOKENThis is not ``creative``.TAB_TOKENThose are dictionary words."
        "\t2002\tFalse\tarticle\trandom\ttrain\n"
        '44816\t"NEWLINE_TOKEN You are a ""liar"", and stupid."\t2002\tFalse\tuser\trandom\tdev\n'
        "49851\tNEWLINE_TOKENNEWLINE_TOKENHe is an idiot.\t2002\tTrue\tarticle\tblocked\ttest\n",
    )
    write(
        tmp_path / "attack_annotations.tsv",
        "rev_id\tworker_id\tquoting_attack\trecipient_attack\tthird_party_attack\tother_attack\tattack\n"
        "37675\t1362\t0.0\t0.0\t0.0\t0.0\t0.0\n37675\t2408\t1.0\t0.0\t0.0\t0.0\t1.0\n"
        "44816.0\t1\t0.0\t1.0\t0.0\t0.0\t1.0\n44816.0\t2\t0.0\t0.0\t1.0\t0.0\t1.0\n"
        "44816.0\t3\t0.0\t0.0\t0.0\t0.0\t0.0\n49851\t4\t0.0\t0.0\t1.0\t0.0\t1.0\n",
    )
    records = by_text(load("wikipedia_talk_labels", tmp_path))
    assert len(records) == 2  # the test row is withheld
    plain = records["`-\nThis is not ``creative``.\tThose are dictionary words."]
    assert plain.split == "train" and plain.labels == {"personal_attack": 0.0}  # quoting only
    liar = records['You are a "liar", and stupid.']
    assert liar.split == "validation" and liar.labels["personal_attack"] == approx(2 / 3)


def test_civil_comments_format(tmp_path):
    header = [
        "id",
        "target",
        "comment_text",
        "severe_toxicity",
        "obscene",
        "identity_attack",
        "insult",
        "threat",
        "asian",
        "parent_id",
        "article_id",
        "toxicity_annotator_count",
    ]
    write_rows(
        tmp_path / "train.csv",
        [
            header,
            [
                59848,
                0.0,
                "This is so cool. It's like, 'would you want your mother to read this??'",
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                "",
                "",
                2006,
                4,
            ],
            [
                239607,
                0.912,
                'Yet call out all Muslims?\n"Idiots", all of them.',
                0.2,
                0.05,
                0.8,
                0.7,
                0.0,
                0.0,
                239575,
                2006,
                10,
            ],
            [
                239612,
                0.5,
                "Haha you guys are a bunch of losers.",
                0.0,
                0.0,
                0.0,
                0.5,
                0.0,
                "",
                "",
                "",
                4,
            ],
        ],
    )
    records = by_text(load("civil_comments", tmp_path))
    muslims = records['Yet call out all Muslims?\n"Idiots", all of them.']
    assert muslims.labels == {
        "incivility": 0.912,
        "profanity": 0.05,
        "identity_attack": 0.8,
        "insult": 0.7,
        "threat": 0.0,
    }
    cool = records["This is so cool. It's like, 'would you want your mother to read this??'"]
    assert cool.group == muslims.group == "civil_comments_article:2006"
    assert records["Haha you guys are a bunch of losers."].group == "civil_comments:239612"
    assert_seeded(list(records.values()))


def test_civil_comments_tfds_export_without_ids(tmp_path):
    write_rows(
        tmp_path / "train.csv",
        [
            [
                "text",
                "toxicity",
                "severe_toxicity",
                "obscene",
                "threat",
                "insult",
                "identity_attack",
                "sexual_explicit",
            ],
            ["You fools, honestly.", 0.8, 0.1, 0.0, 0.0, 0.8, 0.0, 0.0],
        ],
    )
    (record,) = load("civil_comments", tmp_path)
    assert record.labels["incivility"] == 0.8 and record.labels["insult"] == 0.8


def _decision(comment_id: str, **fields) -> str:
    item = {
        "comment_id": comment_id,
        "text": 'Some text, with "quotes".',
        "article": None,
        "parent": None,
        "decision": "approve",
        "reason": None,
        "labels": None,
        "moderator": "mod-1",
        "decided_at": "2024-05-01T12:00:00Z",
        "model": None,
    }
    item.update(fields)
    return json.dumps(item)


def test_moderator_decisions(tmp_path):
    article = {"title": "Council votes on bike lanes", "text": "The council voted 7-2 ..."}
    lines = [
        _decision("c1", text="Great reporting.", article=article),
        _decision(
            "c2",
            text="You are an idiot.",
            decision="reject",
            reason="abusive",
            parent="I like the lanes.",
        ),
        _decision("c3", text="Buy cheap watches!", decision="reject", reason="spam"),
        _decision("c4", text="My cat is cute.", decision="reject", reason="irrelevant"),
        _decision(
            "c5",
            text="My cat is cute.\nReally.",
            decision="reject",
            reason="irrelevant",
            article=article,
            labels={"incivility": 0},
        ),
        _decision("c6", text="Nice.", decided_at="2024-05-01T12:00:00+00:00"),
        "",
        _decision(
            "c6",
            text="Nice.",
            decision="reject",
            reason="offensive",
            decided_at="2024-05-02T09:00:00",
        ),
    ]
    write(tmp_path / "export-2024-05.jsonl", "\n".join(lines) + "\n")
    records = {r.meta["comment_id"]: r for r in load("moderator_decisions", tmp_path)}
    assert set(records) == {"c1", "c2", "c5", "c6"}  # spam: no labels; c4: off_topic needs context
    assert records["c1"].labels == {"incivility": 0.0, "personal_attack": 0.0, "off_topic": 0.0}
    assert records["c1"].article_title == "Council votes on bike lanes"
    assert records["c2"].labels == {"incivility": 1.0, "personal_attack": 1.0}
    assert records["c2"].parent == "I like the lanes."
    assert records["c5"].labels == {"off_topic": 1.0, "incivility": 0.0}  # explicit labels win
    assert records["c6"].labels == {"incivility": 1.0}  # the later decision wins
    assert_seeded(list(records.values()))


@pytest.mark.parametrize(
    "bad",
    [
        "{not json",
        _decision("c9", decision="maybe"),
        _decision("c9", reason="rude"),
        _decision("c9", labels={"rudeness": 1}),
        _decision("c9", labels={"incivility": 0.5}),
        _decision("c9", decided_at="yesterday"),
        _decision("", text="x"),
    ],
)
def test_moderator_decisions_bad_line_names_line(tmp_path, bad):
    write(tmp_path / "export.jsonl", _decision("c1") + "\n" + bad + "\n")
    with pytest.raises(ValueError, match="export.jsonl line 2"):
        load("moderator_decisions", tmp_path)
