"""Unlabelled Wikipedia talk-page conversations (WikiConv / wikidetox), one per JSON line.

Each line: ``{"source", "page_title", "comments": [{"id", "comment_type", "content",
"parent_id", "user_text", ...}]}``; ``comment_type`` is SECTION_CREATION (the ``== heading ==``),
COMMENT_ADDING or COMMENT_MODIFICATION. The file joins three upstream dumps that overlap: the same
conversation (same comment ids) can appear two or three times, sometimes one a prefix of another,
so conversations sharing any comment id are merged and every comment is used once.

Every comment becomes an on-topic record (``off_topic`` 0) with its real context: the page title
as ``article_title`` (``Talk:`` dropped: the subject is the article), the section heading as
``article_text`` (the data has no article body; the heading is the thread's subject line), and
its real parent comment as ``parent`` (none when it answers the heading directly).
The off-topic negatives are built from these by ``training.data.pairs``; ``meta`` tells it what
counts as the same subject: on an article's talk page every section is about the article, so the
page is the ``topic`` (never a negative); on a user's talk page sections are unrelated
(a block notice, an image question), so each conversation is its own topic and the page is the
``family`` that hard negatives come from. Split: whole pages, seeded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from training.data.splits import assign_split
from training.records import Record

# namespaces whose page is a personal/user page: sections there are unrelated to each other
_PERSONAL = ("User talk:", "User:")
_MARKUP = [
    (re.compile(r"\[WIKI_LINK:\s*([^\]@|]*)[@|]\s*([^\]]*)\]"), r"\2"),  # [WIKI_LINK: target@label]
    (re.compile(r"\[WIKI_LINK:\s*([^\]]*)\]"), r"\1"),
    (re.compile(r"\[EXTERNA?L?_LINK:\s*([^\]]*)\]"), r"\1"),
    (re.compile(r"\[(?:REPLY_TO|MENTION):\s*([^\]]*)\]"), r"@\1"),
    (re.compile(r"\[((?:WP|WT|MOS|M|W):[^\]@]*)@\s*([^\]]*)\]"), r"\2"),  # [WP:NPA@personal attack]
    (re.compile(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]"), r"\1"),  # raw [[target|label]]
    (re.compile(r"\{\{[^{}]*\}\}"), ""),  # templates
    (re.compile(r"(?m)^\s*[:*#]+\s*"), ""),  # reply indentation
    (re.compile(r"[ \t]+"), " "),
]


def clean(content: str) -> str:
    """Wikitext placeholders -> readable text (link labels, @mentions), indentation removed."""
    text = content
    for pattern, replacement in _MARKUP:
        text = pattern.sub(replacement, text)
    return text.strip()


def heading(content: str) -> str:
    return clean(content.strip().strip("=").strip())


def _merge(conversations: list[dict]) -> list[tuple[str, list[dict]]]:
    """Conversations sharing a comment id become one (union-find), each comment once."""
    owner: dict[str, int] = {}
    parent = list(range(len(conversations)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, conversation in enumerate(conversations):
        for comment in conversation["comments"]:
            j = owner.setdefault(comment["id"], i)
            parent[find(i)] = find(j)
    merged: dict[int, dict[str, dict]] = {}
    for i, conversation in enumerate(conversations):
        comments = merged.setdefault(find(i), {})
        for comment in conversation["comments"]:
            comments.setdefault(comment["id"], comment)  # first dump's rendering wins
    out = []
    for root, comments in merged.items():
        out.append((conversations[root]["page_title"], list(comments.values())))
    return out


def load(data_dir: Path, spec: dict) -> Iterator[Record]:
    """Yield one on-topic record per talk-page comment, with its page, section and parent."""
    path = Path(data_dir) / spec.get("file", "wikidetox_talk_conversations.jsonl")
    fraction = float(spec.get("validation_fraction", 0.2))
    min_chars = int(spec.get("min_chars", 5))
    labels = dict(spec.get("labels", {"off_topic": 0.0}))
    with path.open(encoding="utf-8") as handle:
        conversations = [json.loads(line) for line in handle if line.strip()]
    for page, comments in _merge(conversations):
        by_id = {c["id"]: c for c in comments}
        sections = [c for c in comments if c.get("comment_type") == "SECTION_CREATION"]
        section = heading(sections[0]["content"]) if sections else None
        group = "wiki:" + min(by_id)
        personal = page.startswith(_PERSONAL)
        split = assign_split(f"wiki:{page}", validation_fraction=fraction)
        title = page.removeprefix("Talk:")
        for comment in comments:
            if comment.get("comment_type") == "SECTION_CREATION":
                continue
            text = clean(comment.get("content") or "")
            if len(text) < min_chars:
                continue
            up = by_id.get(comment.get("parent_id") or "")
            parent = None
            if up is not None and up.get("comment_type") != "SECTION_CREATION":
                parent = clean(up.get("content") or "") or None
            yield Record(
                text=text,
                labels=dict(labels),
                source="wiki_threads",
                split=split,
                article_title=title,
                article_text=section or None,
                parent=parent,
                group=group,
                meta={
                    "topic": group if personal else f"wiki:{page}",
                    "family": f"wiki:{page}" if personal else None,
                    "comment_id": comment["id"],
                },
            )
