"""The micro-batcher merges concurrent requests into few model calls, keeping order."""

from __future__ import annotations

import asyncio
import time

import pytest

from model.comments import Comment, ScoreResult
from service.batcher import MicroBatcher


class CountingScorer:
    """Scores a comment as its length; each call takes a little model time."""

    def __init__(self, seconds: float = 0.01, fail: bool = False) -> None:
        self.calls: list[int] = []
        self.seconds, self.fail = seconds, fail

    def score(self, comments, *, spans=False, batch_size=8):
        self.calls.append(len(comments))
        time.sleep(self.seconds)
        if self.fail:
            raise RuntimeError("model exploded")
        return [ScoreResult(scores={"n": float(len(c.text))}, flags=[], model="m", id=c.id)
                for c in comments]


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_hundred_concurrent_requests_share_a_few_model_calls():
    scorer = CountingScorer()

    async def main():
        batcher = MicroBatcher(scorer, max_wait_ms=5, max_items=64)
        await batcher.start()
        try:
            return await asyncio.gather(*(
                batcher.score([Comment(text="x" * i, id=i)]) for i in range(1, 101)))
        finally:
            await batcher.stop()

    answers = run(main())
    assert [a[0].id for a in answers] == list(range(1, 101))
    assert [a[0].scores["n"] for a in answers] == [float(i) for i in range(1, 101)]
    assert sum(scorer.calls) == 100
    assert len(scorer.calls) <= 4 and max(scorer.calls) <= 64


def test_a_lone_request_is_not_kept_waiting_for_company():
    """With nothing else queued and no merging in the last batch, the batcher scores at once
    instead of waiting max_wait (here an hour) for requests that are not coming."""
    scorer = CountingScorer(seconds=0)

    async def main():
        batcher = MicroBatcher(scorer, max_wait_ms=3_600_000)
        await batcher.start()
        try:
            for i in range(3):
                await asyncio.wait_for(batcher.score([Comment(text="x", id=i)]), timeout=30)
        finally:
            await batcher.stop()

    run(main())
    assert scorer.calls == [1, 1, 1]


def test_after_a_merged_batch_the_batcher_waits_to_fill_the_next():
    scorer = CountingScorer(seconds=0)

    async def main():
        batcher = MicroBatcher(scorer, max_wait_ms=3_600_000, max_items=2)
        await batcher.start()
        try:
            await asyncio.gather(*(batcher.score([Comment(text="x", id=i)]) for i in range(2)))
            later = asyncio.create_task(batcher.score([Comment(text="y", id=2)]))
            await asyncio.sleep(0.05)  # the batcher now waits for a second request
            assert not later.done()
            await asyncio.wait_for(batcher.score([Comment(text="z", id=3)]), timeout=30)
            await later
        finally:
            await batcher.stop()

    run(main())
    assert scorer.calls == [2, 2]


def test_requests_with_spans_are_scored_apart_from_those_without():
    calls = []

    class Recorder(CountingScorer):
        def score(self, comments, *, spans=False, batch_size=8):
            calls.append(spans)
            return super().score(comments)

    async def main():
        batcher = MicroBatcher(Recorder(), max_wait_ms=5)
        await batcher.start()
        try:
            await asyncio.gather(batcher.score([Comment("a")], spans=True),
                                 batcher.score([Comment("b")], spans=False))
        finally:
            await batcher.stop()

    run(main())
    assert sorted(calls) == [False, True]


def test_a_model_error_reaches_every_waiting_request():
    async def main():
        batcher = MicroBatcher(CountingScorer(fail=True), max_wait_ms=5)
        await batcher.start()
        try:
            return await asyncio.gather(batcher.score([Comment("a")]),
                                        batcher.score([Comment("b")]), return_exceptions=True)
        finally:
            await batcher.stop()

    assert all(isinstance(r, RuntimeError) for r in run(main()))


def test_the_real_scorer_gives_the_same_scores_batched(tiny_scorer):
    comments = [Comment(text=t) for t in ("you idiot", "nice article", "why though")]
    alone = [tiny_scorer.score(c) for c in comments]

    async def main():
        batcher = MicroBatcher(tiny_scorer, max_wait_ms=5)
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.score([c]) for c in comments))
        finally:
            await batcher.stop()

    for expected, [got] in zip(alone, run(main()), strict=True):
        assert got.scores == pytest.approx(expected.scores, abs=1e-5)
