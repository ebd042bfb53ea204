"""Label audit: out-of-fold probabilities, confident-learning flags, the CLI end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from training.audit import find_label_issues, label_issue_ranking, out_of_fold_probabilities

LABELS_YAML = Path(__file__).resolve().parents[2] / "configs" / "labels.yaml"


def _blobs(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.vstack([rng.normal(-3, 1, (n, 2)), rng.normal(3, 1, (n, 2))])
    return x, np.repeat([0, 1], n)


def test_flipped_label_gets_low_self_confidence_and_is_flagged():
    x, y = _blobs()
    noisy = y.copy()
    noisy[5] = 1  # a clear negative labelled positive
    probs = out_of_fold_probabilities(x, noisy, folds=5, seed=0)
    quality = label_issue_ranking(noisy, probs)
    assert quality[5] < 0.1
    assert np.argmin(quality) == 5
    issues = find_label_issues(noisy, probs)
    assert issues[5]
    assert issues.sum() == 1


def test_out_of_fold_never_memorises_labels():
    # random labels on random high-dimensional features: an in-sample fit memorises them
    # (self-confidence near 1), held-out folds cannot do better than chance
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(60, 200)), np.repeat([0, 1], 30)
    probs = out_of_fold_probabilities(x, y, folds=5, seed=0)
    assert label_issue_ranking(y, probs).mean() < 0.7
    copy = x.copy()
    again = out_of_fold_probabilities(x, y, folds=5, seed=0)
    np.testing.assert_array_equal(probs, again)
    np.testing.assert_array_equal(x, copy)


def test_out_of_fold_rejects_a_missing_class():
    with pytest.raises(ValueError):
        out_of_fold_probabilities(np.zeros((5, 2)), np.zeros(5, dtype=int))


def test_quality_is_probability_of_given_label():
    labels = np.array([1, 1, 0, 0])
    probs = np.array([0.9, 0.2, 0.1, 0.6])
    np.testing.assert_allclose(label_issue_ranking(labels, probs), [0.9, 0.2, 0.9, 0.4])
    assert list(np.argsort(label_issue_ranking(labels, probs))) == [1, 3, 0, 2]
    two = np.column_stack([1 - probs, probs])
    np.testing.assert_allclose(label_issue_ranking(labels, two), [0.9, 0.2, 0.9, 0.4])


def test_find_label_issues_hand_made():
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    probs = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.2, 0.45, 0.85])
    # t_1 = mean(0.9, 0.8, 0.7, 0.2) = 0.65; t_0 = mean(0.9, 0.8, 0.55, 0.15) = 0.6
    # index 3: p0 = 0.8 >= 0.6 and p0 > p1 -> issue; index 7: p1 = 0.85 >= 0.65 -> issue
    # index 6: p1 = 0.45 < t_1 (and the model agrees with label 0) -> not an issue
    expected = [False, False, False, True, False, False, False, True]
    assert find_label_issues(labels, probs).tolist() == expected


def test_find_label_issues_needs_the_other_class_above_its_threshold():
    # labelled 0 but p1 = 0.6 > p0: still not an issue, since t_1 = 0.95 is not reached
    labels = np.array([1, 1, 0, 0, 0])
    probs = np.array([0.95, 0.95, 0.6, 0.1, 0.1])
    assert not find_label_issues(labels, probs).any()


def _write_kaggle(data_dir: Path, rows: int = 80, flipped: tuple[int, ...] = ()) -> None:
    folder = data_dir / "kaggle_insults_impermium_2012"
    folder.mkdir(parents=True)
    with open(folder / "train.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Insult", "Date", "Comment"])
        for i in range(rows):
            insult = i % 2
            text = (f"you are an idiot moron number {i}" if insult
                    else f"thanks good point about the weather {i}")
            # stored as a quoted string literal, as in the real file: """text"""
            label = 0 if i in flipped else insult  # insults labelled clean on purpose
            writer.writerow([label, "20120618192155Z", f'"{text}"'])


def _write_config(path: Path) -> Path:
    path.write_text(f"data:\n  label_map: {LABELS_YAML}\n  sources:\n    kaggle_insults: {{}}\n"
                    "training:\n  seed: 3\n", encoding="utf-8")
    return path


def test_cli_audit_labels_end_to_end(tmp_path, tiny_model, capsys):
    from service.cli import main

    _write_kaggle(tmp_path / "data", flipped=(1, 3, 5))  # all three land in train
    config = _write_config(tmp_path / "audit.yaml")
    out = tmp_path / "ranking.jsonl"
    code = main(["audit-labels", "--config", str(config), "--data-dir", str(tmp_path / "data"),
                 "--model", str(tiny_model), "--top", "3", "--output", str(out)])
    assert code == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 3  # only personal_attack has both classes in kaggle_insults
    keys = {"source", "attribute", "text", "given_label", "predicted_probability", "quality",
            "is_issue", "rank"}
    assert all(keys <= set(row) for row in rows)
    assert [row["rank"] for row in rows] == [1, 2, 3]
    assert {(row["source"], row["attribute"]) for row in rows} == {
        ("kaggle_insults", "personal_attack")}
    qualities = [row["quality"] for row in rows]
    assert qualities == sorted(qualities)
    # the most suspicious example is an insult labelled clean
    assert rows[0]["given_label"] == 0 and "idiot" in rows[0]["text"]
    report = capsys.readouterr().out
    assert "kaggle_insults / personal_attack" in report
    assert "likely label issues" in report


def test_cli_audit_labels_missing_model_or_data(tmp_path, capsys):
    from service.cli import main

    _write_kaggle(tmp_path / "data", rows=4)
    config = str(_write_config(tmp_path / "audit.yaml"))
    code = main(["audit-labels", "--config", config, "--data-dir", str(tmp_path / "data"),
                 "--model", str(tmp_path / "no-model")])
    assert code == 2
    err = capsys.readouterr().err
    assert "no model directory" in err and len(err.strip().splitlines()) == 1
    code = main(["audit-labels", "--config", config, "--data-dir", str(tmp_path / "missing"),
                 "--model", str(tmp_path / "no-model")])
    assert code == 2
    assert "data directory not found" in capsys.readouterr().err
