"""The ``civility`` command line: score and evaluate, in-process, plus one real process."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sklearn.metrics import roc_auc_score

from model.metrics import span_f1
from service.cli import main

ROOT = Path(__file__).resolve().parents[2]
RECORDS = [
    {"id": "a", "text": "you are an idiot", "source": "forum", "score": 3},
    {"id": 2, "text": "thanks , good point about the war",
     "article": {"title": "war in syria", "text": "the coalition will bomb syria"},
     "parent": "i think the war is wrong"},
    {"id": "c", "text": "the weather is great for a football game", "article": {"title": "cake"}},
    {"text": "shut up moron", "parent": "great idea"},
    {"id": "e", "text": "i agree with this comment " * 30},
]


def write_jsonl(path: Path, rows: list) -> Path:
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def lines_of(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# ---- score ---------------------------------------------------------------------------------------
def test_score_jsonl_writes_one_line_per_record_in_order(tiny_model, tmp_path, capsys):
    path = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    code, out, err = cli(capsys, "score", path, "--model", tiny_model, "--batch-size", 2)
    assert code == 0, err
    rows = lines_of(out)
    assert [r["id"] for r in rows] == ["a", 2, "c", None, "e"]
    for row in rows:
        assert {"id", "scores", "flags", "model"} <= set(row)
        assert set(row) <= {"id", "scores", "flags", "model", "unscored"}
        assert row["model"] == "tiny@0.0.1"
        assert all(name in row["scores"] for name in row["flags"])
        assert "source" not in row and "spans" not in row
    assert [r["scores"]["off_topic"] is None for r in rows] == [True, False, False, False, True]
    assert rows[0]["unscored"] == {"off_topic": "no article or parent given"}


@pytest.mark.parametrize("backend", ["auto", "onnx", "torch"])
def test_score_output_matches_the_python_api(tiny_model, tmp_path, capsys, backend):
    from model.loading import load_scorer

    path = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    code, out, _ = cli(capsys, "score", path, "--model", tiny_model, "--backend", backend)
    assert code == 0
    expected = [r.to_dict() for r in load_scorer(tiny_model, backend=backend).score(RECORDS)]
    assert lines_of(out) == json.loads(json.dumps(expected))


def test_score_csv_with_article_and_parent_columns(tiny_model, tmp_path, capsys):
    path = write_csv(tmp_path / "in.csv", ["id", "text", "article_title", "article_text", "parent",
                                           "notes"], [
        ["x1", "you are an idiot", "war in syria", "the coalition", "i agree", "n"],
        ["x2", "good point", "", "", "", ""],
        ["x3", "great idea", "", "weather", "", ""],
        ["x4", "shut up", "", "", "why", ""],
        ["", "thanks", "", "", "", ""],
    ])
    code, out, err = cli(capsys, "score", path, "--model", tiny_model)
    assert code == 0, err
    rows = lines_of(out)
    assert [r["id"] for r in rows] == ["x1", "x2", "x3", "x4", None]
    assert [r["scores"]["off_topic"] is None for r in rows] == [False, True, False, False, True]


def test_score_csv_context_columns_score_like_jsonl_objects(tiny_model, tmp_path, capsys):
    csv_path = write_csv(tmp_path / "in.csv", ["text", "article_title", "article_text", "parent"],
                         [["you are an idiot", "war", "syria", "i agree"]])
    jsonl_path = write_jsonl(tmp_path / "in.jsonl", [{
        "text": "you are an idiot", "article": {"title": "war", "text": "syria"},
        "parent": "i agree"}])
    _, from_csv, _ = cli(capsys, "score", csv_path, "--model", tiny_model)
    _, from_jsonl, _ = cli(capsys, "score", jsonl_path, "--model", tiny_model)
    assert lines_of(from_csv) == lines_of(from_jsonl)


def test_score_accepts_files_with_a_utf8_byte_order_mark(tiny_model, tmp_path, capsys):
    # spreadsheet "CSV UTF-8" exports start with a BOM
    csv_path = tmp_path / "excel.csv"
    csv_path.write_text("id,text,parent\r\nb1,you are an idiot,why\r\n", encoding="utf-8-sig")
    jsonl_path = tmp_path / "bom.jsonl"
    jsonl_path.write_text(json.dumps({"id": "b2", "text": "you are"}) + "\n",
                          encoding="utf-8-sig")
    for path, expected in ((csv_path, "b1"), (jsonl_path, "b2")):
        code, out, err = cli(capsys, "score", path, "--model", tiny_model)
        assert code == 0, err
        assert [r["id"] for r in lines_of(out)] == [expected]


def test_score_spans_adds_character_spans(tiny_model, tmp_path, capsys):
    path = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    code, out, _ = cli(capsys, "score", path, "--model", tiny_model, "--spans")
    assert code == 0
    for record, row in zip(RECORDS, lines_of(out), strict=True):
        assert list(row["spans"]) == ["incivility"]
        for start, end in row["spans"]["incivility"]:
            assert 0 <= start < end <= len(record["text"])


def test_score_output_file(tiny_model, tmp_path, capsys):
    path = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    target = tmp_path / "out.jsonl"
    code, out, _ = cli(capsys, "score", path, "--model", tiny_model, "--output", target)
    assert code == 0
    assert out == ""
    assert [r["id"] for r in lines_of(target.read_text(encoding="utf-8"))] == ["a", 2, "c", None,
                                                                                "e"]


def test_score_skips_blank_lines(tiny_model, tmp_path, capsys):
    path = write_jsonl(tmp_path / "in.jsonl", [RECORDS[0], "", "   ", RECORDS[2]])
    code, out, _ = cli(capsys, "score", path, "--model", tiny_model)
    assert code == 0
    assert [r["id"] for r in lines_of(out)] == ["a", "c"]


def test_score_empty_file_writes_nothing(tiny_model, tmp_path, capsys):
    path = tmp_path / "empty.jsonl"
    path.write_text("", encoding="utf-8")
    assert cli(capsys, "score", path, "--model", tiny_model)[:2] == (0, "")


# ---- score: bad input ----------------------------------------------------------------------------
def assert_one_line_error(code: int, err: str) -> str:
    assert code == 2
    message = err.strip()
    assert message.startswith("civility ")
    assert "\n" not in message
    assert "Traceback" not in err
    return message


def test_malformed_json_line_exits_2_naming_the_line(tiny_model, tmp_path, capsys):
    rows = [RECORDS[0], RECORDS[2], '{"text": "oops"', RECORDS[3]]
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    code, out, err = cli(capsys, "score", path, "--model", tiny_model)
    message = assert_one_line_error(code, err)
    assert "line 3" in message and "invalid JSON" in message
    assert out == ""  # nothing half-written


@pytest.mark.parametrize(
    ("row", "field"),
    [({"id": 1}, "text"), ({"text": ""}, "text"), ({"text": 5}, "text"),
     ({"text": "hi", "article": "war"}, "article"), ({"text": "hi", "parent": ["x"]}, "parent"),
     ([1, 2], "object")],
)
def test_bad_record_exits_2_naming_line_and_field(tiny_model, tmp_path, capsys, row, field):
    path = write_jsonl(tmp_path / "in.jsonl", [RECORDS[0], row])
    code, _, err = cli(capsys, "score", path, "--model", tiny_model)
    message = assert_one_line_error(code, err)
    assert "line 2" in message and field in message


def test_skip_bad_warns_and_scores_the_rest(tiny_model, tmp_path, capsys):
    path = write_jsonl(tmp_path / "in.jsonl",
                       [RECORDS[0], '{"text": "oops"', {"id": "no-text"}, RECORDS[2]])
    code, out, err = cli(capsys, "score", path, "--model", tiny_model, "--skip-bad")
    assert code == 0
    assert [r["id"] for r in lines_of(out)] == ["a", "c"]
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2
    assert "line 2" in warnings[0] and "line 3" in warnings[1] and "text" in warnings[1]


def test_missing_model_directory_exits_2_pointing_at_civility_train(tmp_path, capsys):
    path = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    code, out, err = cli(capsys, "score", path, "--model", tmp_path / "no-model")
    message = assert_one_line_error(code, err)
    assert "civility train" in message
    assert str(tmp_path / "no-model") in message
    assert out == ""


def test_broken_model_directory_exits_2(tiny_model, tmp_path, capsys):
    broken = shutil.copytree(tiny_model, tmp_path / "broken")
    (broken / "model.safetensors").unlink()
    code, _, err = cli(capsys, "score", write_jsonl(tmp_path / "in.jsonl", RECORDS),
                       "--model", broken)
    assert "model.safetensors" in assert_one_line_error(code, err)


def test_model_config_with_unknown_attribute_exits_2(tiny_model, tmp_path, capsys):
    broken = shutil.copytree(tiny_model, tmp_path / "broken")
    config = json.loads((broken / "config.json").read_text(encoding="utf-8"))
    config["attributes"].append("rudeness")
    (broken / "config.json").write_text(json.dumps(config), encoding="utf-8")
    code, _, err = cli(capsys, "score", write_jsonl(tmp_path / "in.jsonl", RECORDS),
                       "--model", broken)
    assert "rudeness" in assert_one_line_error(code, err)


@pytest.mark.parametrize("name", ["in.txt", "in.tsv", "in"])
def test_unsupported_extension_exits_2(tiny_model, tmp_path, capsys, name):
    path = tmp_path / name
    path.write_text('{"text": "hi"}\n', encoding="utf-8")
    code, _, err = cli(capsys, "score", path, "--model", tiny_model)
    message = assert_one_line_error(code, err)
    assert ".jsonl or .csv" in message
    assert message.count(str(path)) == 1


def test_missing_input_file_exits_2(tiny_model, tmp_path, capsys):
    code, _, err = cli(capsys, "score", tmp_path / "none.jsonl", "--model", tiny_model)
    assert "not found" in assert_one_line_error(code, err)


def test_csv_without_text_column_exits_2(tiny_model, tmp_path, capsys):
    path = write_csv(tmp_path / "in.csv", ["comment"], [["hi"]])
    code, _, err = cli(capsys, "score", path, "--model", tiny_model)
    message = assert_one_line_error(code, err)
    assert "'text' column" in message
    assert message.count(str(path)) == 1


def test_non_utf8_input_exits_2(tiny_model, tmp_path, capsys):
    path = tmp_path / "in.jsonl"
    path.write_bytes('{"text": "caf\u00e9"}\n'.encode("latin-1"))
    code, _, err = cli(capsys, "score", path, "--model", tiny_model)
    assert "UTF-8" in assert_one_line_error(code, err)


def test_batch_size_below_one_exits_2(tiny_model, tmp_path, capsys):
    path = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    code, _, err = cli(capsys, "score", path, "--model", tiny_model, "--batch-size", 0)
    assert "--batch-size" in assert_one_line_error(code, err)


def test_console_script_exits_2_on_bad_input(tiny_model, tmp_path):
    """A real process: the console script turns main()'s return value into the exit code."""
    bad = write_jsonl(tmp_path / "bad.jsonl", [RECORDS[0], '{"text": '])
    script = ROOT / ".venv" / "bin" / "civility"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "service.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([*command, "score", str(bad), "--model", str(tiny_model)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "line 2" in done.stderr and "Traceback" not in done.stderr


# ---- evaluate ------------------------------------------------------------------------------------
WORDS = ["you are an idiot", "stupid moron", "shut up", "good point", "thanks", "great idea",
         "i agree", "read the article", "the war in syria", "cake recipe", "football game",
         "we think that is wrong", "vote in the election", "the police and the law"]


def labelled_records() -> list[dict]:
    rows = []
    for i, text in enumerate(WORDS):
        rude = i < 3 or i == 11
        row = {"id": f"r{i}", "text": f"{text} {' '.join(WORDS[(i + 3) % len(WORDS)].split()[:2])}",
               "labels": {"incivility": int(rude), "personal_attack": int(i < 2),
                          "insult": 0.8 if rude else 0.0, "not_an_attribute": 1}}
        if i % 3 == 0:
            row["parent"] = WORDS[(i + 5) % len(WORDS)]
            row["labels"]["off_topic"] = int(i % 2)
        rows.append(row)
    rows.append({"id": "unlabelled", "text": "the weather"})
    return rows


def test_evaluate_roc_auc_equals_sklearn_on_scored_probabilities(tiny_model, tmp_path, capsys):
    records = labelled_records()
    path = write_jsonl(tmp_path / "labelled.jsonl", records)
    metrics_path = tmp_path / "metrics.json"
    code, _, err = cli(capsys, "evaluate", path, "--model", tiny_model, "--output", metrics_path)
    assert code == 0, err
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    assert metrics["model"] == "tiny@0.0.1"
    code, out, _ = cli(capsys, "score", path, "--model", tiny_model)
    assert code == 0
    scored = lines_of(out)
    for name in ("incivility", "personal_attack", "insult"):
        y = [r["labels"][name] >= 0.5 for r in records if "labels" in r]
        p = [s["scores"][name] for r, s in zip(records, scored, strict=True) if "labels" in r]
        assert len(set(p)) == len(p), "rounded scores tie: pick other texts"
        assert metrics["attributes"][name]["roc_auc"] == pytest.approx(roc_auc_score(y, p),
                                                                       abs=1e-9)
        assert metrics["attributes"][name]["n"] == len(y)
        assert metrics["attributes"][name]["positives"] == sum(y)
    off = metrics["attributes"]["off_topic"]
    assert off["n"] == sum("off_topic" in r.get("labels", {}) for r in records)
    assert "not_an_attribute" not in metrics["attributes"]
    assert "spans" not in metrics


def test_evaluate_reports_span_f1(tiny_model, tmp_path, capsys):
    records = [
        {"text": "you are an idiot", "span_chars": [11, 12, 13, 14, 15],
         "labels": {"incivility": 1}},
        {"text": "shut up moron", "span_chars": [0, 1, 2, 3, 8, 9, 10, 11, 12],
         "labels": {"incivility": 1}},
        {"text": "good point", "span_chars": [], "labels": {"incivility": 0}},
        {"text": "thanks", "labels": {"incivility": 0}},
    ]
    path = write_jsonl(tmp_path / "spans.jsonl", records)
    metrics_path = tmp_path / "metrics.json"
    code, _, err = cli(capsys, "evaluate", path, "--model", tiny_model, "-o", metrics_path)
    assert code == 0, err
    spans = json.loads(metrics_path.read_text(encoding="utf-8"))["spans"]
    assert spans["n"] == 3
    # the same F1 from the spans `civility score --spans` returns
    _, out, _ = cli(capsys, "score", path, "--model", tiny_model, "--spans")
    predicted = [{c for s, e in row["spans"]["incivility"] for c in range(s, e)}
                 for row in lines_of(out)[:3]]
    assert spans["f1"] == pytest.approx(span_f1(predicted, [set(r["span_chars"])
                                                            for r in records[:3]]))
    assert 0.0 <= spans["f1"] <= 1.0
    code, out, _ = cli(capsys, "evaluate", path, "--model", tiny_model)
    assert code == 0
    assert "span F1" in out and "over 3 posts" in out


def test_evaluate_csv_labels_and_span_columns(tiny_model, tmp_path, capsys):
    path = write_csv(tmp_path / "labelled.csv", ["text", "incivility", "span_chars"], [
        ["you are an idiot", "1", "[11, 12, 13, 14, 15]"],
        ["good point", "0", ""],
        ["shut up", "1", "[0, 1, 2, 3]"],
        ["thanks", "", ""],
    ])
    metrics_path = tmp_path / "metrics.json"
    code, _, err = cli(capsys, "evaluate", path, "--model", tiny_model, "-o", metrics_path)
    assert code == 0, err
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    assert metrics["attributes"]["incivility"]["n"] == 3
    assert metrics["spans"]["n"] == 2


def test_evaluate_table_names_each_labelled_attribute(tiny_model, tmp_path, capsys):
    path = write_jsonl(tmp_path / "labelled.jsonl", labelled_records())
    code, out, err = cli(capsys, "evaluate", path, "--model", tiny_model)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("model tiny@0.0.1")
    assert f"({len(labelled_records())} records)" in lines[0]
    assert lines[1].split()[:3] == ["label", "n", "pos"]
    labels = {line.split()[0] for line in lines[2:] if line.strip()}
    assert labels == {"incivility", "personal_attack", "insult", "off_topic"}
    assert "span F1" not in out


def test_evaluate_without_labels_exits_2(tiny_model, tmp_path, capsys):
    path = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    code, _, err = cli(capsys, "evaluate", path, "--model", tiny_model)
    assert "labels" in assert_one_line_error(code, err)


@pytest.mark.parametrize(
    ("labels", "expected"),
    [({"incivility": "yes"}, "labels.incivility"), ({"incivility": 2}, "labels.incivility"),
     ({"insult": -0.5}, "labels.insult"), ({"insult": "0.5x"}, "labels.insult"),
     (["incivility"], "'labels'")],
)
def test_evaluate_bad_label_value_exits_2(tiny_model, tmp_path, capsys, labels, expected):
    path = write_jsonl(tmp_path / "in.jsonl", [{"text": "ok", "labels": {"incivility": 1}},
                                               {"text": "hi", "labels": labels}])
    code, _, err = cli(capsys, "evaluate", path, "--model", tiny_model)
    message = assert_one_line_error(code, err)
    assert "line 2" in message and expected in message


def test_evaluate_bad_span_chars_exits_2(tiny_model, tmp_path, capsys):
    path = write_jsonl(tmp_path / "in.jsonl", [{"text": "ok", "labels": {"incivility": 1},
                                                "span_chars": "0-3"}])
    code, _, err = cli(capsys, "evaluate", path, "--model", tiny_model)
    assert "span_chars" in assert_one_line_error(code, err)


def test_evaluate_missing_model_exits_2(tmp_path, capsys):
    path = write_jsonl(tmp_path / "in.jsonl", labelled_records())
    code, _, err = cli(capsys, "evaluate", path, "--model", tmp_path / "nothing")
    assert "civility train" in assert_one_line_error(code, err)


# ---- compare -------------------------------------------------------------------------------------
LABELLED = [
    {"id": f"r{i}", "text": text, "labels": {"incivility": label, "personal_attack": label},
     **({"parent": "i think the war is wrong"} if i % 2 else {})}
    for i, (text, label) in enumerate([
        ("you are an idiot", 1), ("thanks , good point", 0), ("shut up moron", 1),
        ("great idea , i agree", 0), ("you stupid moron", 1), ("the weather is great", 0),
        ("idiot , shut up", 1), ("good reply about the war", 0),
    ])
]


def with_thresholds(source: Path, folder: Path, threshold: float) -> Path:
    """A copy of an artifact whose every attribute flags at ``threshold``."""
    shutil.copytree(source, folder)
    path = folder / "thresholds.json"
    thresholds = json.loads(path.read_text())
    for entry in thresholds["attributes"].values():
        entry["threshold"] = threshold
    path.write_text(json.dumps(thresholds))
    return folder


def test_compare_same_model_passes_and_writes_the_report(tiny_model, tmp_path, capsys):
    data = write_jsonl(tmp_path / "site.jsonl", LABELLED)
    other = write_jsonl(tmp_path / "other.jsonl", LABELLED[:4])
    out = tmp_path / "report"
    code, stdout, err = cli(capsys, "compare", data, other, "--old", tiny_model,
                            "--new", tiny_model, "--output", out, "--resamples", 50)
    assert code == 0, err
    assert "gate passed" in stdout
    report = json.loads((out / "compare.json").read_text())
    assert report["files"] == {"site.jsonl": 8, "other.jsonl": 4}
    incivility = report["attributes"]["incivility"]
    assert set(incivility) == {"all", "site.jsonl", "other.jsonl"}
    assert incivility["all"]["n"] == 12 and incivility["all"]["positives"] == 6
    assert incivility["all"]["metrics"]["roc_auc"]["diff"] == 0.0
    assert incivility["all"]["flags"]["newly_flagged"] == 0
    assert "off_topic" not in report["attributes"]  # not labelled
    markdown = (out / "compare.md").read_text()
    assert "Gate PASSED" in markdown and "| incivility | 12 | 6 |" in markdown
    assert (out / "metrics.png").stat().st_size > 1000
    assert (out / "calibration.png").stat().st_size > 1000


def test_compare_exit_status_fails_the_gate_when_new_is_worse(tiny_model, tmp_path, capsys):
    data = write_jsonl(tmp_path / "site.jsonl", LABELLED)
    flags_all = with_thresholds(tiny_model, tmp_path / "old", 0.0)  # F1 = 2/3 at 50% positives
    flags_none = with_thresholds(tiny_model, tmp_path / "new", 1.01)  # F1 = 0
    code, stdout, _ = cli(capsys, "compare", data, "--old", flags_all, "--new", flags_none,
                          "--metric", "f1", "--output", tmp_path / "r", "--resamples", 20)
    assert code == 1
    assert "gate FAILED" in stdout and "incivility" in stdout
    report = json.loads((tmp_path / "r" / "compare.json").read_text())
    flags = report["attributes"]["incivility"]["all"]["flags"]
    assert flags["unflagged"] == 8 and flags["unflagged_positive"] == 4
    # the other way round the new model is better: the gate passes
    code, _, _ = cli(capsys, "compare", data, "--old", flags_none, "--new", flags_all,
                     "--metric", "f1", "--output", tmp_path / "r2", "--resamples", 20)
    assert code == 0


def test_compare_bad_input_exits_2(tiny_model, tmp_path, capsys):
    unlabelled = write_jsonl(tmp_path / "plain.jsonl", [{"text": "hello"}])
    code, _, err = cli(capsys, "compare", unlabelled, "--old", tiny_model, "--new", tiny_model)
    assert code == 2 and "no record has 'labels'" in err
    code, _, err = cli(capsys, "compare", tmp_path / "missing.jsonl", "--old", tiny_model,
                       "--new", tiny_model)
    assert code == 2 and "not found" in err
    data = write_jsonl(tmp_path / "site.jsonl", LABELLED)
    code, _, err = cli(capsys, "compare", data, "--old", tmp_path / "nowhere", "--new",
                       tiny_model, "--output", tmp_path / "r")
    assert code == 2 and err.count("\n") == 1


# ---- audit-bias ----------------------------------------------------------------------------------
def bias_rows() -> list[dict]:
    rows = []
    for i, term in enumerate(["gay", "muslim", "deaf", None] * 6):
        label = (i // 4) % 2
        text = "you are an idiot" if label else "thanks , good point"
        rows.append({"id": f"b{i}", "text": f"{text} {term or ''} {i}".strip(),
                     "labels": {"incivility": label}})
    return rows


def test_audit_bias_writes_data_and_template_results(tiny_model, tmp_path, capsys):
    data = write_jsonl(tmp_path / "site.jsonl", bias_rows())
    out = tmp_path / "bias"
    code, stdout, err = cli(capsys, "audit-bias", data, "--model", tiny_model, "--output", out,
                            "--min-per-class", 2)
    assert code == 0, err
    assert "24 comments, 18 with an identity term" in stdout
    report = json.loads((out / "bias.json").read_text())
    assert set(report["data"]["terms"]) == {"gay", "muslim", "deaf"}
    assert report["data"]["terms"]["gay"] == {**report["data"]["terms"]["gay"], "n": 6,
                                              "positives": 3}
    assert len(report["templates"]["terms"]) == 50  # the shipped list
    assert "| gay | 6 | 3 |" in (out / "bias.md").read_text()
    assert (out / "bias.png").stat().st_size > 1000


def test_audit_bias_with_own_terms_and_bad_input(tiny_model, tmp_path, capsys):
    data = write_jsonl(tmp_path / "site.jsonl", bias_rows())
    terms = tmp_path / "terms.txt"
    terms.write_text("deaf\nroma\n")
    code, _, err = cli(capsys, "audit-bias", data, "--model", tiny_model, "--identity-terms",
                       terms, "--output", tmp_path / "b")
    assert code == 0, err
    report = json.loads((tmp_path / "b" / "bias.json").read_text())
    assert set(report["data"]["terms"]) == {"deaf"}
    assert set(report["templates"]["terms"]) == {"deaf", "roma"}
    empty = tmp_path / "empty.txt"
    empty.write_text("# none\n")
    for args, message in (
        (["--identity-terms", empty], "no identity terms"),
        (["--identity-terms", tmp_path / "missing.txt"], "cannot read"),
        (["--attribute", "rudeness"], "no attribute 'rudeness'"),
        (["--attribute", "threat"], "no record has a label for 'threat'"),
    ):
        code, _, err = cli(capsys, "audit-bias", data, "--model", tiny_model,
                           "--output", tmp_path / "c", *args)
        assert code == 2 and message in err and err.count("\n") == 1


# ---- build-runtime -------------------------------------------------------------------------------
def test_build_runtime_builds_the_asked_precision(tiny_model, capsys):
    from model.loading import runtime_dir

    code, out, _ = cli(capsys, "build-runtime", "--model", tiny_model, "--precision", "int8")
    directory = runtime_dir(tiny_model, precision="int8")
    assert code == 0 and out.strip() == f"runtime form (int8) ready in {directory}"
    assert json.loads((directory / "runtime.json").read_text())["precision"] == "int8"


def test_cli_and_settings_precisions_are_the_loaders():
    import typing

    from model.loading import PRECISIONS
    from service import cli as cli_module
    from service.settings import Settings

    assert cli_module.PRECISIONS == PRECISIONS
    annotation = Settings.model_fields["runtime_precision"].annotation
    assert typing.get_args(annotation) == PRECISIONS


def test_bad_precision_in_the_environment_exits_2(tiny_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CIVILITY_RUNTIME_PRECISION", "fp16")
    path = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    for args in (["build-runtime"], ["score", path]):
        code, _, err = cli(capsys, *args, "--model", tiny_model)
        assert code == 2
        assert "CIVILITY_RUNTIME_PRECISION must be one of" in err and "Traceback" not in err


def test_serve_with_a_bad_precision_setting_exits_2_naming_the_variable(tiny_model, capsys,
                                                                        monkeypatch):
    monkeypatch.setenv("CIVILITY_RUNTIME_PRECISION", "fp16")
    code, _, err = cli(capsys, "serve", "--model", tiny_model)
    assert code == 2
    assert "CIVILITY_RUNTIME_PRECISION" in err and "fp32" in err and "Traceback" not in err


def test_serve_with_a_negative_malloc_arena_setting_exits_2_naming_the_variable(tiny_model,
                                                                               capsys,
                                                                               monkeypatch):
    monkeypatch.setenv("CIVILITY_MALLOC_ARENAS", "-1")
    code, _, err = cli(capsys, "serve", "--model", tiny_model)
    assert code == 2
    assert "CIVILITY_MALLOC_ARENAS" in err and "Traceback" not in err


def test_malloc_arenas_zero_leaves_malloc_alone():
    from service.app import limit_malloc_arenas

    assert limit_malloc_arenas(0) is False
