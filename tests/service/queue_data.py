"""The coalition thread as ingestion requests, for the queue and UI tests."""

from __future__ import annotations

import json
from pathlib import Path

THREAD = Path(__file__).resolve().parent.parent / "fixtures" / "coalition_thread.json"
ARTICLE_ID = "coalition-2015"


def coalition() -> tuple[dict, list[dict]]:
    """``(article registration, comments)``; authors are made up, five readers taking turns."""
    thread = json.loads(THREAD.read_text(encoding="utf-8"))
    article = thread["article"]
    registration = {"id": ARTICLE_ID, "title": article["title"],
                    "text": "\n\n".join(p for p in (article.get("subtitle"), article["body"]) if p)}
    comments = [
        {"id": c["id"], "article_id": ARTICLE_ID, "parent_id": c["parent_id"],
         "author": {"id": f"reader-{i % 5}", "name": f"Reader {i % 5}"}, "text": c["text"],
         "time": f"2015-11-20T10:{i:02d}:00Z"}
        for i, c in enumerate(thread["comments"])
    ]
    return registration, comments


def ingest_coalition(client) -> list[dict]:
    """Register the article and ingest the thread; the ingestion items."""
    registration, comments = coalition()
    assert client.post("/v1/articles", json=registration).status_code in (200, 201)
    response = client.post("/v1/comments", json={"comments": comments})
    assert response.status_code == 201, response.text
    return response.json()["items"]
