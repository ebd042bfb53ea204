"""``civility export-decisions``: decisions (and suggestscore feedback) as training records
that the training registry reads as the ``moderator_decisions`` source."""

from __future__ import annotations

import json

import pytest
import yaml

from service.cli import main
from tests.service.queue_data import ingest_coalition
from training.data.registry import get_loader


def decide(client, comment_id, decision, reason=None):
    response = client.post("/v1/queue/decide", json={"comment_id": comment_id,
                                                     "decision": decision, "reason": reason})
    assert response.status_code == 200, response.text


@pytest.fixture
def exported(moderation, database_url, tmp_path):
    """The coalition thread with four decisions (one undone) and one suggested score,
    exported into ``tmp_path/moderator_decisions/export.jsonl``."""
    ingest_coalition(moderation)
    decide(moderation, "c1", "reject", "off topic")
    decide(moderation, "c2", "reject", "personal attack")
    decide(moderation, "c3", "reject", "spam")
    moderation.post("/v1/queue/undo", json={"comment_id": "c3"})
    decide(moderation, "c4", "approve")
    feedback = moderation.post("/v1alpha1/comments:suggestscore", json={
        "comment": {"text": "You are a fool."}, "attributeScores": {
            "TOXICITY": {"summaryScore": {"value": 1}}}, "communityId": "Coral:test"})
    assert feedback.status_code == 200, feedback.text
    folder = tmp_path / "moderator_decisions"
    folder.mkdir()
    output = folder / "export.jsonl"
    assert main(["export-decisions", "--since", "2000-01-01", "--output", str(output),
                 "--database", database_url]) == 0
    return output


def test_export_writes_the_decisions_in_force_with_their_context(exported, moderation):
    records = {r["comment_id"]: r for r in map(json.loads, exported.read_text().splitlines())}
    assert set(records) == {"c1", "c2", "c4", "suggestscore:1"}  # c3 was undone
    assert records["c1"]["reason"] == "off_topic" and records["c1"]["decision"] == "reject"
    assert records["c1"]["article"]["title"].startswith("Allies with benefits")
    assert records["c2"]["parent"] == records["c1"]["text"]
    flagged = moderation.get("/v1/queue/item", params={"comment_id": "c4"}).json()["decision"]
    risky = [a for a in flagged["flags"] if a in ("incivility", "personal_attack", "off_topic",
                                                    "insult", "threat", "identity_attack")]
    assert records["c4"]["labels"] == ({a: 0 for a in risky} or None)
    assert records["suggestscore:1"]["labels"] == {"incivility": 1}
    assert records["c1"]["moderator"] == "moderator" and records["c1"]["model"] == "tiny@0.0.1"


def test_training_reads_the_export_as_a_source(exported):
    spec = yaml.safe_load(open("configs/labels.yaml", encoding="utf-8"))["moderator_decisions"]
    records = {r.meta["comment_id"]: r for r in
               get_loader("moderator_decisions")(exported.parent, spec)}
    assert records["c1"].labels == {"off_topic": 1.0}
    assert records["c2"].labels == {"personal_attack": 1.0, "incivility": 1.0}
    approved = records["c4"].labels
    assert approved["incivility"] == approved["personal_attack"] == approved["off_topic"] == 0.0
    assert all(v == 0.0 for v in approved.values())
    assert records["c2"].parent and records["c1"].article_title
    assert records["suggestscore:1"].labels == {"incivility": 1.0}


def test_export_since_leaves_older_decisions_out(exported, database_url, tmp_path):
    later = tmp_path / "later.jsonl"
    assert main(["export-decisions", "--since", "2999-01-01", "--output", str(later),
                 "--database", database_url]) == 0
    assert later.read_text() == ""


@pytest.mark.parametrize("args, message", [
    (["--since", "last week", "--output", "x.jsonl"], "--since"),
    (["--output", "/no/such/folder/x.jsonl"], "folder not found"),
])
def test_export_bad_arguments_exit_2_with_one_line(args, message, capsys, tmp_path):
    assert main(["export-decisions", *args, "--database", f"sqlite:///{tmp_path}/e.db"]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
