"""The moderation queue through its API, on SQLite and on PostgreSQL (``database_url``)."""

from __future__ import annotations

import threading

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import db
from service.rules import DEFAULT_RISK_ATTRIBUTES
from tests.service.queue_data import ARTICLE_ID, ingest_coalition


def rows(client, model=db.QueueComment):
    with Session(client.app.state.engine) as session:
        return session.scalars(select(model).order_by(model.id)).all()


def one_comment(comment_id="n1", **fields) -> dict:
    return {"id": comment_id, "author": {"id": "u1", "name": "Una"}, "text": "Fair point."} | fields


# ---- ingestion -------------------------------------------------------------------------
def test_ingestion_scores_each_comment_with_its_model_version(moderation):
    items = ingest_coalition(moderation)
    assert len(items) == 22 and all(i["created"] for i in items)
    stored = rows(moderation)
    assert len(stored) == 22
    for row in stored:
        assert row.model == "tiny@0.0.1" and row.scored_at is not None
        assert row.status in ("pending", "flagged")
        assert row.scores["off_topic"] is not None  # scored with the article as context
        assert row.risk == max(row.scores[a] for a in DEFAULT_RISK_ATTRIBUTES)
        assert row.spans is not None


def test_ingesting_the_same_id_twice_creates_one_item(moderation):
    first = moderation.post("/v1/comments", json={"comments": [one_comment()]})
    again = moderation.post("/v1/comments", json={"comments": [one_comment(text="Edited!")]})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["items"][0]["created"] is False
    assert [r.text for r in rows(moderation)] == ["Fair point."]


def test_concurrent_ingestion_of_one_id_creates_one_item(moderation):
    barrier, answers = threading.Barrier(4), []

    def post():
        barrier.wait()
        answers.append(moderation.post("/v1/comments", json={"comments": [one_comment()]}))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(a.status_code in (200, 201) for a in answers)
    assert len(rows(moderation)) == 1


def test_ingestion_names_the_bad_field(moderation):
    unknown_article = moderation.post(
        "/v1/comments", json={"comments": [one_comment(article_id="nope")]})
    assert unknown_article.status_code == 422
    assert unknown_article.json()["field"] == "comments[0].article_id"
    unknown_parent = moderation.post(
        "/v1/comments", json={"comments": [one_comment(), one_comment("n2", parent_id="zz")]})
    assert unknown_parent.json()["field"] == "comments[1].parent_id"
    no_author = moderation.post("/v1/comments", json={"comments": [{"id": "n3", "text": "x"}]})
    assert no_author.status_code == 422 and "author" in no_author.json()["message"]
    assert rows(moderation) == []  # nothing half-stored


def test_a_comment_whose_scoring_failed_is_kept_and_scored_later(moderation):
    from service.moderation import rescore_unscored

    batcher = moderation.app.state.batcher
    real = batcher.score

    async def broken(*args, **kwargs):
        raise RuntimeError("model crashed")

    batcher.score = broken
    response = moderation.post("/v1/comments", json={"comments": [one_comment()]})
    assert response.status_code == 201
    assert response.json()["items"][0]["status"] == "scoring"
    queue = moderation.get("/v1/queue", params={"queue": "pending"}).json()
    assert [i["comment_id"] for i in queue["items"]] == ["n1"]  # waiting, not lost
    batcher.score = real
    assert moderation.portal.call(rescore_unscored, moderation.app) == 1
    [row] = rows(moderation)
    assert row.scored_at is not None and row.status in ("pending", "flagged")


def test_comments_left_unscored_are_scored_at_start_up(app_client, database_url, tmp_path):
    import time

    from service import queue
    from service.settings import Settings

    client, _ = app_client(database_url=database_url)
    with Session(client.app.state.engine) as session:  # as if the service died after the commit
        queue.ingest(session, [queue.NewComment("late", None, None, "u", "U", "hello", None)],
                     Settings(database_url=database_url))
    restarted, keys = app_client(database_url=database_url)
    deadline = time.monotonic() + 20
    while rows(restarted)[0].scored_at is None:
        assert time.monotonic() < deadline, "the start-up task did not score the comment"
        time.sleep(0.05)
    assert rows(restarted)[0].model == "tiny@0.0.1"


def test_ingested_comments_can_be_parents_for_scoring(moderation):
    moderation.post("/v1/comments", json={"comments": [one_comment()]})
    response = moderation.post("/v1/score", json={"comments": [{"text": "No.",
                                                                "parent_id": "n1"}]})
    assert response.status_code == 200
    assert response.json()["results"][0]["scores"]["off_topic"] is not None


# ---- order and filters -----------------------------------------------------------------
def test_queue_is_riskiest_first_by_the_stored_scores(moderation):
    ingest_coalition(moderation)
    response = moderation.get("/v1/queue", params={"queue": "pending", "sort": "risk"})
    body = response.json()
    assert body["count"] == 22 and len(body["items"]) == 22
    keys = [(i["risk"], sum(i["scores"][a] for a in DEFAULT_RISK_ATTRIBUTES))
            for i in body["items"]]
    assert keys == sorted(keys, reverse=True)
    stored = {r.comment_id: r.risk for r in rows(moderation)}
    assert [i["risk"] for i in body["items"]] == [stored[i["comment_id"]] for i in body["items"]]
    first = body["items"][0]
    assert first["article_title"].startswith("Allies with benefits")
    assert {"comment_id", "scores", "flags", "spans", "author", "version"} <= set(first)


def test_queue_sorts_by_time_and_thread(moderation):
    ingest_coalition(moderation)
    newest = moderation.get("/v1/queue", params={"sort": "time"}).json()["items"]
    assert [i["comment_id"] for i in newest][:2] == ["c22", "c21"]
    thread = moderation.get("/v1/queue", params={"sort": "thread"}).json()["items"]
    order = [i["comment_id"] for i in thread]
    for item in thread:  # every reply after its parent, and c5's subtree before c7's thread
        if item["parent_id"]:
            assert order.index(item["parent_id"]) < order.index(item["comment_id"])
    assert order[:7] == ["c1", "c2", "c3", "c4", "c5", "c6", "c7"]
    assert thread[4]["parent"]["text"].startswith(thread[3]["text"][:20])


def test_queue_filters_by_article_author_attribute_and_score(moderation):
    ingest_coalition(moderation)
    moderation.post("/v1/comments", json={"comments": [one_comment()]})
    get = lambda **p: moderation.get("/v1/queue", params=p | {"limit": 200}).json()  # noqa: E731
    assert get(article_id=ARTICLE_ID)["count"] == 22
    assert {i["author"]["id"] for i in get(author_id="reader-1")["items"]} == {"reader-1"}
    stored = rows(moderation)
    flagged = {r.comment_id for r in stored if "incivility" in (r.flags or [])}
    assert {i["comment_id"] for i in get(attribute="incivility")["items"]} == flagged
    high = {r.comment_id for r in stored if r.scores["incivility"] >= 0.5}
    assert {i["comment_id"] for i in get(attribute="incivility", min_score=0.5)["items"]} == high
    assert all(i["risk"] <= 0.5 for i in get(max_score=0.5)["items"])
    bad = moderation.get("/v1/queue", params={"attribute": "rudeness"})
    assert bad.status_code == 422 and bad.json()["field"] == "attribute"


def test_queue_needs_a_moderator_key(moderation):
    scorer = {"Authorization": f"Bearer {moderation.keys['scorer']}"}
    assert moderation.get("/v1/queue", headers=scorer).status_code == 403
    assert moderation.post("/v1/queue/decide", headers=scorer, json={
        "comment_id": "c1", "decision": "approve"}).status_code == 403


# ---- claims, decisions, bulk, undo, audit ---------------------------------------------------
def as_other(client) -> dict:
    from service.auth import create_key

    with Session(client.app.state.engine) as session:
        _, key = create_key(session, role="moderator", name="Other")
    return {"Authorization": f"Bearer {key}"}


def test_a_claimed_comment_is_left_to_its_moderator(moderation):
    moderation.post("/v1/comments", json={"comments": [one_comment()]})
    other = as_other(moderation)
    assert moderation.post("/v1/queue/claim", json={"comment_id": "n1"}).status_code == 200
    taken = moderation.post("/v1/queue/claim", json={"comment_id": "n1"}, headers=other)
    assert taken.status_code == 409 and "claimed by moderator" in taken.json()["detail"]
    blocked = moderation.post("/v1/queue/decide", headers=other,
                              json={"comment_id": "n1", "decision": "approve"})
    assert blocked.status_code == 409
    moderation.post("/v1/queue/release", json={"comment_id": "n1"})
    assert moderation.post("/v1/queue/claim", json={"comment_id": "n1"},
                           headers=other).status_code == 200


def test_decisions_need_a_reason_to_reject_and_conflict_once_made(moderation):
    moderation.post("/v1/comments", json={"comments": [one_comment()]})
    no_reason = moderation.post("/v1/queue/decide", json={"comment_id": "n1",
                                                          "decision": "reject"})
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    done = moderation.post("/v1/queue/decide", json={
        "comment_id": "n1", "decision": "reject", "reason": "off topic", "note": "about cats"})
    assert done.status_code == 200
    decision = done.json()["decision"]
    assert (decision["reason"], decision["moderator"], decision["note"]) == (
        "off_topic", "moderator", "about cats")
    assert decision["scores"] == rows(moderation)[0].scores  # the scores at that time
    again = moderation.post("/v1/queue/decide", json={"comment_id": "n1", "decision": "approve"})
    assert again.status_code == 409
    change = moderation.post("/v1/queue/decide", json={
        "comment_id": "n1", "decision": "approve", "version": done.json()["item"]["version"]})
    assert change.status_code == 200 and change.json()["item"]["status"] == "approved"
    missing = moderation.post("/v1/queue/decide", json={"comment_id": "zz", "decision": "approve"})
    assert missing.status_code == 404


def test_bulk_decides_each_and_reports_the_conflicts(moderation):
    ingest_coalition(moderation)
    moderation.post("/v1/queue/decide", json={"comment_id": "c2", "decision": "approve"})
    response = moderation.post("/v1/queue/bulk", json={
        "comment_ids": ["c1", "c2", "c3", "nope"], "decision": "reject", "reason": "hate"})
    body = response.json()
    assert (body["decided"], body["failed"]) == (2, 2)
    assert [r["status"] for r in body["results"]] == ["rejected", 409, "rejected", 404]
    counts = moderation.get("/v1/queue/counts").json()
    assert (counts["rejected"], counts["approved"], counts["pending"]) == (2, 1, 19)


def test_undo_returns_the_comment_to_its_queue_and_is_logged(moderation):
    moderation.post("/v1/comments", json={"comments": [one_comment()]})
    before = moderation.get("/v1/queue/item", params={"comment_id": "n1"}).json()["status"]
    moderation.post("/v1/queue/decide", json={"comment_id": "n1", "decision": "reject",
                                              "reason": "spam"})
    undone = moderation.post("/v1/queue/undo", json={"comment_id": "n1"})
    assert undone.status_code == 200
    assert undone.json()["item"]["status"] == before
    assert undone.json()["decision"]["action"] == "undo"
    assert moderation.post("/v1/queue/undo", json={"comment_id": "n1"}).status_code == 409
    log = moderation.get("/v1/decisions", params={"comment_id": "n1",
                                                  "automatic": False}).json()
    assert [d["action"] for d in log["items"]] == ["undo", "reject"]
    assert log["items"][0]["undoes"] == log["items"][1]["id"]


def test_audit_log_and_author_history(moderation):
    ingest_coalition(moderation)
    for comment_id in ("c1", "c6", "c11"):  # reader-0, reader-0 (index 5), reader-0 (index 10)
        moderation.post("/v1/queue/decide", json={"comment_id": comment_id,
                                                  "decision": "reject", "reason": "incivility"})
    moderation.post("/v1/queue/decide", json={"comment_id": "c2", "decision": "approve"})
    history = moderation.get("/v1/authors/reader-0").json()
    assert (history["total"], history["rejected"]) == (5, 3)
    assert history["author"]["name"] == "Reader 0"
    assert moderation.get("/v1/authors/nobody").status_code == 404
    log = moderation.get("/v1/decisions", params={"automatic": False}).json()
    assert log["count"] == 4
    newest = log["items"][0]
    assert (newest["comment_id"], newest["action"], newest["moderator"]) == (
        "c2", "approve", "moderator")
    assert newest["decided_at"].endswith("Z") and newest["model"] == "tiny@0.0.1"
    with Session(moderation.app.state.engine) as session:  # one row per decision, no more
        human = session.scalar(select(func.count()).select_from(db.Decision)
                               .where(db.Decision.automatic.is_(False)))
    assert human == 4


def test_every_automatic_decision_records_its_rule(app_client, database_url, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text('hold_on_model_flags = false\nbanned_words = ["gutless"]\n'
                     "[attributes.incivility]\napprove_below = 1.0\n", encoding="utf-8")
    client, keys = app_client(database_url=database_url, rules_file=rules)
    client.headers["Authorization"] = f"Bearer {keys['moderator']}"
    ingest_coalition(client)
    stored = {r.comment_id: r for r in rows(client)}
    assert stored["c1"].status == "rejected" and stored["c1"].rule == "banned word 'gutless'"
    assert stored["c2"].status == "approved" and "approve_below" in stored["c2"].rule
    log = client.get("/v1/decisions", params={"limit": 100}).json()["items"]
    assert len(log) == 22 and all(d["automatic"] and d["rule"] for d in log)


def test_two_moderators_deciding_at_once_one_wins(live_server):
    """Two real HTTP clients, two keys, on each of ten comments at the same instant: exactly
    one 200 and one 409 per comment, and exactly one decision recorded."""
    import httpx

    clients = [httpx.Client(base_url=live_server.url, timeout=30,
                            headers={"Authorization": f"Bearer {live_server.keys[k]}"})
               for k in ("moderator", "moderator2")]
    ids = [f"race-{i}" for i in range(10)]
    response = clients[0].post("/v1/comments", json={"comments": [one_comment(i) for i in ids]})
    assert response.status_code == 201
    outcomes: dict[str, list[int]] = {i: [] for i in ids}
    for comment_id in ids:
        barrier = threading.Barrier(2)

        def decide(client, decision, comment_id=comment_id, barrier=barrier):
            barrier.wait()
            answer = client.post("/v1/queue/decide", json={
                "comment_id": comment_id, "decision": decision, "reason":
                "spam" if decision == "reject" else None})
            outcomes[comment_id].append(answer.status_code)

        threads = [threading.Thread(target=decide, args=(c, d))
                   for c, d in zip(clients, ("approve", "reject"), strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert all(sorted(codes) == [200, 409] for codes in outcomes.values()), outcomes
    with Session(live_server.app.state.engine) as session:
        per_comment = session.execute(
            select(db.Decision.queue_comment_id, func.count())
            .where(db.Decision.automatic.is_(False)).group_by(db.Decision.queue_comment_id)
        ).all()
    assert len(per_comment) == 10 and all(n == 1 for _, n in per_comment)
    for client in clients:
        client.close()

