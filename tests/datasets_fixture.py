"""A miniature ``--data-dir`` in the real file formats of the three sources configs/smoke.yaml
trains on, built from the tiny tokenizer's words (tests/tiny.py) so training takes seconds.

    kaggle_insults_impermium_2012/train.csv           Insult,Date,Comment (escaped literals)
    toxic_spans_civil_comments/semeval2021/tsd_*.csv  spans,text (spans like "[0, 1, 2]")
    wikipedia_talk_threads_unlabeled/wikidetox_talk_conversations.jsonl
                                                      one conversation per line

Use ``write_mini_datasets(folder)`` directly, or the ``mini_datasets`` fixture (session-scoped,
read-only: copy it before changing anything) by importing it into a test module.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from training.data.splits import assign_split

INSULTS = ("idiot", "moron", "stupid")
ATTACKS = ("you are an {w}", "shut up , you {w}", "you are a {w} and wrong", "{w} , shut up")
POLITE = ("thanks , good point", "great idea", "i agree with this", "good point , i think",
          "we read the article", "that is right", "i disagree but thanks", "good reply")
TOPICS = {
    "war": "war russia putin coalition bomb terror syria",
    "politics": "obama government vote election law country people police",
    "tech": "nsa biosensor future game",
    "food": "cake recipe weather",
    "sport": "football game great",
}
KAGGLE = "kaggle_insults_impermium_2012"
SPANS = "toxic_spans_civil_comments/semeval2021"
WIKI = "wikipedia_talk_threads_unlabeled"
WIKI_FILE = "wikidetox_talk_conversations.jsonl"


def _topic_words(rng: random.Random, topic: str, k: int) -> str:
    words = TOPICS[topic].split()
    return " ".join(rng.choice(words) for _ in range(k))


def _kaggle_literal(text: str, rng: random.Random) -> str:
    """The competition's storage: a quoted, Python-escaped string literal."""
    if rng.random() < 0.3:
        text = text.replace(" , ", ",\\xa0 ", 1)  # an escaped non-breaking space
    if rng.random() < 0.2:
        text += "\\n"
    return f'"{text}"'


def write_kaggle(root: Path, rng: random.Random, n: int = 80) -> int:
    folder = root / KAGGLE
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "train.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Insult", "Date", "Comment"])
        for i in range(n):
            topic = rng.choice(sorted(TOPICS))
            if i % 2:
                text = rng.choice(ATTACKS).format(w=rng.choice(INSULTS))
            else:
                text = rng.choice(POLITE)
            text = f"{text} {_topic_words(rng, topic, 3)} {i}"
            date = f"201205{10 + i % 20:02d}192215Z" if i % 4 else ""
            writer.writerow([i % 2, date, _kaggle_literal(text, rng)])
    return n


def _span_post(rng: random.Random, i: int) -> tuple[str, list[int]]:
    """A toxic post and the character offsets of its insult (some posts: no majority span)."""
    before = f"{rng.choice(POLITE)} {_topic_words(rng, rng.choice(sorted(TOPICS)), 2)} ,"
    word = rng.choice(INSULTS)
    after = f"{_topic_words(rng, rng.choice(sorted(TOPICS)), 2)} {i}"
    text = f"{before} you {word} {after}"
    start = len(before) + len(" you ")
    spans = [] if i % 7 == 0 else list(range(start, start + len(word)))
    return text, spans


def write_toxic_spans(root: Path, rng: random.Random, train: int = 40, trial: int = 16) -> int:
    folder = root / SPANS
    folder.mkdir(parents=True, exist_ok=True)
    for name, count, offset in (("tsd_train.csv", train, 0), ("tsd_trial.csv", trial, 1000)):
        with (folder / name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["spans", "text"])
            for i in range(count):
                text, spans = _span_post(rng, offset + i)
                writer.writerow([json.dumps(spans), text])
    return train + trial


def _page_titles(validation: int, train: int) -> list[str]:
    """Talk-page titles, chosen so that the seeded page split puts ``validation`` pages in
    validation and ``train`` in train (the loader splits whole pages by a hash of the title)."""
    chosen: dict[str, list[str]] = {"validation": [], "train": []}
    want = {"validation": validation, "train": train}
    topics = sorted(TOPICS)
    i = 0
    while any(len(chosen[s]) < want[s] for s in want):
        topic = topics[i % len(topics)]
        prefix = "User talk:" if i % 4 == 3 else "Talk:"
        title = f"{prefix}{topic.title()} {i}"
        split = assign_split(f"wiki:{title}", validation_fraction=0.2)
        if len(chosen[split]) < want[split]:
            chosen[split].append(title)
        i += 1
    return chosen["validation"] + chosen["train"]


def _conversation(page: str, number: int, rng: random.Random, comments: int) -> dict:
    topic = page.split(":", 1)[1].split()[0].lower()
    base = f"{7000 + number}"
    section = {"id": f"{base}.1.1", "comment_type": "SECTION_CREATION",
               "content": f" =={_topic_words(rng, topic, 2)}==", "parent_id": ""}
    rows = [section]
    parent = section["id"]
    for k in range(comments):
        words = _topic_words(rng, topic, 4)
        content = f":{rng.choice(POLITE)} , {words} [WIKI_LINK: {topic}] {number}.{k}"
        if k % 3 == 2:
            content = f"::{words} {rng.choice(POLITE)} {number}.{k}"
        cid = f"{base}.{k + 2}.1"
        rows.append({"id": cid,
                     "comment_type": "COMMENT_ADDING" if k % 4 else "COMMENT_MODIFICATION",
                     "content": content, "parent_id": parent})
        parent = cid if k % 2 == 0 else section["id"]
    for row in rows:
        row.update({"timestamp": "2006-03-10 14:50:43 UTC", "status": "just added",
                    "page_title": page, "user_text": f"User{rng.randrange(50)}"})
    return {"source": "job2", "page_title": page, "comments": rows}


def write_wiki_threads(root: Path, rng: random.Random, validation_pages: int = 3,
                       train_pages: int = 9, comments: int = 5) -> int:
    folder = root / WIKI
    folder.mkdir(parents=True, exist_ok=True)
    conversations = [_conversation(page, n, rng, comments)
                     for n, page in enumerate(_page_titles(validation_pages, train_pages))]
    # the file joins overlapping dumps: repeat one conversation's prefix under another dump
    first = conversations[0]
    conversations.append({**first, "source": "job1", "comments": first["comments"][:3]})
    with (folder / WIKI_FILE).open("w", encoding="utf-8") as handle:
        for conversation in conversations:
            handle.write(json.dumps(conversation) + "\n")
    return (validation_pages + train_pages) * comments


def write_mini_datasets(root: Path, *, seed: int = 0) -> Path:
    """Write the three sources under ``root`` (about 200 records) and return ``root``."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    write_kaggle(root, rng)
    write_toxic_spans(root, rng)
    write_wiki_threads(root, rng)
    return root


@pytest.fixture(scope="session")
def mini_datasets(tmp_path_factory) -> Path:
    """A session-wide mini data folder (treat as read-only)."""
    return write_mini_datasets(tmp_path_factory.mktemp("datasets"))
