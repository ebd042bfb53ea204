"""Self-supervised off-topic pairs from threads.

A comment shown with its own thread's context (article and/or parent) is on topic; the same
comment shown with the context of a thread about something else is off topic. Both versions of
every comment are emitted, so the text alone never predicts the label and the model has to read
the context.

Negatives come from threads of the same split only (validation threads are held out whole, and a
validation comment is never paired with a training thread) and never from the comment's own
``topic`` (``meta["topic"]``, default the thread): threads of one CMV submission, or sections of
one article's talk page, are about the same subject, so pairing them would be mislabelled.
*Hard* negatives are another topic of the same ``meta["family"]`` (e.g. another section of the
same user talk page) or else one of the ``top_k`` lexically most similar threads (TF-IDF cosine
over article title/text and the thread's first comments); *random* negatives are any other
thread. Candidates at or above ``max_similarity`` are skipped: a near-identical thread (a
templated notice, a reposted question) is probably the same subject.

``partial_fraction`` of the records that have both an article and a parent keep only one of
them (half article-only, half parent-only), for own and negative records alike, so the model
learns to judge partial context and the kind of context is no clue to the label.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from training.records import Record

log = logging.getLogger(__name__)

Context = tuple[str | None, str | None, str | None]  # article_title, article_text, parent


@dataclass
class _Thread:
    group: str
    topic: str
    family: str | None
    contexts: list[Context] = field(default_factory=list)
    doc: list[str] = field(default_factory=list)


def _eligible(record: Record) -> bool:
    """On topic with its own context: has context, a thread, and is not itself off topic."""
    return bool(record.has_context and record.group and record.text.strip()
                and record.labels.get("off_topic", 0.0) == 0.0)


def _threads(records: list[Record]) -> list[_Thread]:
    threads: dict[str, _Thread] = {}
    for r in records:
        t = threads.get(r.group)
        if t is None:
            t = threads[r.group] = _Thread(r.group, r.meta.get("topic") or r.group,
                                           r.meta.get("family"))
            t.doc += [r.article_title or "", (r.article_text or "")[:1000]]
        context = (r.article_title, r.article_text, r.parent)
        if context not in t.contexts:
            t.contexts.append(context)
        if len(t.doc) < 8:  # the subject plus the thread's first comments describe its topic
            t.doc.append(r.text[:500])
    return list(threads.values())


class _Index:
    """TF-IDF over thread documents: the ``top_k`` similar threads of other topics, and the
    cosine of any two threads (to skip near-duplicates)."""

    def __init__(self, threads: list[_Thread], *, top_k: int, max_similarity: float,
                 max_threads: int, rng: random.Random) -> None:
        self.max_similarity = max_similarity
        docs = [" ".join(t.doc) for t in threads]
        try:
            self.matrix = TfidfVectorizer(sublinear_tf=True, stop_words="english",
                                          max_features=50_000, dtype=np.float32).fit_transform(docs)
        except ValueError:  # nothing but stop words: no similarity at all
            self.matrix = None
        self.similar: list[list[int]] = [[] for _ in threads]
        if self.matrix is None:
            return
        n = len(threads)
        # beyond a few thousand threads, compare against a seeded sample to stay fast
        pool = np.array(sorted(rng.sample(range(n), max_threads)) if n > max_threads else range(n))
        pool_matrix = self.matrix[pool].T.tocsc()
        for start in range(0, n, 512):
            scores = (self.matrix[start:start + 512] @ pool_matrix).toarray()
            for row, sims in enumerate(scores):
                i = start + row
                for j in np.argsort(-sims, kind="stable"):
                    if sims[j] <= 0 or len(self.similar[i]) == top_k:
                        break
                    cand = int(pool[j])
                    if sims[j] < max_similarity and threads[cand].topic != threads[i].topic:
                        self.similar[i].append(cand)

    def close(self, i: int, j: int) -> bool:
        if self.matrix is None:
            return False
        return float((self.matrix[i] @ self.matrix[j].T).toarray()[0, 0]) >= self.max_similarity


def _record(base: Record, context: Context, label: float, kind: str, source: str,
            rng: random.Random, partial_fraction: float, **meta) -> Record:
    title, text, parent = context
    shown = "both" if (title or text) and parent else ("parent" if parent else "article")
    if shown == "both" and rng.random() < partial_fraction:
        if rng.random() < 0.5:
            parent, shown = None, "article"
        else:
            title, text, shown = None, None, "parent"
    return Record(text=base.text, labels={"off_topic": label}, source=source, split=base.split,
                  article_title=title, article_text=text, parent=parent, group=base.group,
                  weight=base.weight,
                  meta={"pair": kind, "context": shown, "origin": base.source,
                        "topic": base.meta.get("topic") or base.group, **meta})


def _split_pairs(records: list[Record], *, negative_ratio: float, hard_fraction: float,
                 rng: random.Random, source: str, partial_fraction: float, top_k: int,
                 max_similarity: float, max_threads: int) -> tuple[list[Record], int]:
    threads = _threads(records)
    position = {t.group: i for i, t in enumerate(threads)}
    index = _Index(threads, top_k=top_k, max_similarity=max_similarity,
                   max_threads=max_threads, rng=rng)
    families: dict[str, list[int]] = {}
    for i, t in enumerate(threads):
        if t.family:
            families.setdefault(t.family, []).append(i)

    # exact totals: negatives spread over a shuffled order, hard ones a fixed share of them
    order = list(range(len(records)))
    rng.shuffle(order)
    counts = [0] * len(records)
    for rank, k in enumerate(order):
        counts[k] = math.floor((rank + 1) * negative_ratio) - math.floor(rank * negative_ratio)
    total = sum(counts)
    kinds = ["hard"] * round(hard_fraction * total)
    kinds += ["random"] * (total - len(kinds))
    rng.shuffle(kinds)

    def other(i: int) -> int | None:
        for _ in range(50):
            j = rng.randrange(len(threads))
            if threads[j].topic != threads[i].topic and not index.close(i, j):
                return j
        return None

    def hard(i: int) -> tuple[int | None, str]:
        family = [j for j in families.get(threads[i].family or "", ())
                  if threads[j].topic != threads[i].topic]
        rng.shuffle(family)
        for j in family[:5]:
            if not index.close(i, j):
                return j, "family"
        similar = index.similar[i]
        return (rng.choice(similar), "tfidf") if similar else (None, "")

    out: list[Record] = []
    missing = 0
    next_kind = iter(kinds)
    for k, r in enumerate(records):
        i = position[r.group]
        own = (r.article_title, r.article_text, r.parent)
        out.append(_record(r, own, 0.0, "own", source, rng, partial_fraction))
        for _ in range(counts[k]):
            kind, how = next(next_kind), ""
            j = None
            if kind == "hard":
                j, how = hard(i)
            if j is None:
                kind, j = "random", other(i)
            if j is None:
                missing += 1
                continue
            choices = [c for c in threads[j].contexts if c[2] != r.text]
            if not choices:
                missing += 1
                continue
            extra = {"context_group": threads[j].group, **({"hard_by": how} if how else {})}
            out.append(_record(r, rng.choice(choices), 1.0, kind, source, rng,
                               partial_fraction, **extra))
    return out, missing


def make_offtopic_pairs(
    records: list[Record],
    *,
    negative_ratio: float,
    hard_fraction: float,
    seed: int,
    source: str,
    partial_fraction: float = 0.3,
    top_k: int = 10,
    max_similarity: float = 0.5,
    max_threads: int = 5000,
) -> list[Record]:
    """Own-context (``off_topic`` 0) and other-thread (``off_topic`` 1) records for every
    on-topic record with context: ``negative_ratio`` negatives per own record, ``hard_fraction``
    of them hard. Deterministic for a given ``seed``."""
    if negative_ratio < 0 or not 0 <= hard_fraction <= 1 or not 0 <= partial_fraction <= 1:
        raise ValueError("need negative_ratio >= 0 and hard_fraction, partial_fraction in [0, 1]")
    out: list[Record] = []
    for split in ("train", "validation"):
        chosen = [r for r in records if r.split == split and _eligible(r)]
        if not chosen:
            continue
        rng = random.Random(f"{seed}:{source}:{split}")
        pairs, missing = _split_pairs(
            chosen, negative_ratio=negative_ratio, hard_fraction=hard_fraction, rng=rng,
            source=source, partial_fraction=partial_fraction, top_k=top_k,
            max_similarity=max_similarity, max_threads=max_threads)
        if missing:
            log.warning("%s/%s: %d negatives without a usable other thread", source, split,
                        missing)
        out += pairs
    return out


def drift_splices(records: list[Record], *, fraction: float, seed: int) -> list[Record]:
    """Partial drift: a reply that opens on topic and then wanders (the thread pairs only show a
    comment that fits its context as a whole or not at all).

    ``fraction`` of the own-context pair records (``meta["pair"] == "own"``) yield two records,
    each the reply followed by another reply of the same source: one from the reply's own topic
    (``off_topic`` 0) and one from another topic (1). Both are emitted, so a splice alone is no
    clue to the label. Records keep their context; ``meta["pair"]`` is "splice". Seeded."""
    rng = random.Random(f"{seed}:splices")

    def topic_of(record: Record) -> str:
        return record.meta.get("topic") or record.group or ""

    texts: dict[tuple[str, str], list[str]] = {}
    for r in records:
        if r.meta.get("pair") == "own":
            texts.setdefault((r.source, topic_of(r)), []).append(r.text)
    topics: dict[str, list[str]] = {}
    for source, topic in texts:
        topics.setdefault(source, []).append(topic)
    out: list[Record] = []
    for r in records:
        if r.meta.get("pair") != "own" or rng.random() >= fraction:
            continue
        topic = topic_of(r)
        same = [t for t in texts[(r.source, topic)] if t != r.text]
        others = [t for t in topics[r.source] if t != topic]
        if not same or not others:
            continue
        drifted = rng.choice(texts[(r.source, rng.choice(others))])
        for donor, label in ((rng.choice(same), 0.0), (drifted, 1.0)):
            out.append(Record(
                text=f"{r.text.rstrip()}\n\n{donor.strip()}", labels={"off_topic": label},
                source=r.source, split=r.split, article_title=r.article_title,
                article_text=r.article_text, parent=r.parent, group=r.group, weight=r.weight,
                meta={**r.meta, "pair": "splice"}))
    return out
