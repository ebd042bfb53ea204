"""An async micro-batcher: concurrent requests are merged into one model call.

Each request puts its comments on a queue and awaits a future. One worker takes what is
waiting (waiting up to ``max_wait_ms`` for more when the queue is short and the last batch
merged requests: a lone client is never kept waiting for company), scores it in a single
``Scorer.score`` call on a worker thread, and resolves the futures. While the model runs, new
requests queue up, so under load batches fill by themselves; 100 clients with one comment each
cost about one batch of 100.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from model.comments import Comment, ScoreResult

log = logging.getLogger("civility.batcher")


@dataclass
class _Job:
    comments: list[Comment]
    spans: bool
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    """Merge concurrent ``score`` calls into batches of at most ``max_items`` comments."""

    def __init__(
        self,
        scorer,
        *,
        max_wait_ms: float = 3.0,
        max_items: int = 64,
        batch_size: int = 8,
        metrics=None,
    ) -> None:
        self.scorer = scorer
        self.max_wait = max_wait_ms / 1000.0
        self.max_items = max_items
        self.batch_size = batch_size
        self.metrics = metrics
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="civility-model")
        self._worker: asyncio.Task | None = None
        # Did the last batch merge several requests? Only then is it worth waiting for more:
        # one client at a time would otherwise pay max_wait on every request (measured with
        # benchmarks/http_load.py: 79 req/s to one client with a 3 ms wait, 94 without).
        self._merging = False

    async def start(self) -> None:
        self._worker = asyncio.create_task(self._run(), name="civility-micro-batcher")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=True)

    async def score(self, comments: list[Comment], *, spans: bool = False) -> list[ScoreResult]:
        """Score ``comments`` (same order), batched with whatever else is waiting."""
        if not comments:
            return []
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(list(comments), spans, future))
        return await future

    async def _run(self) -> None:
        while True:
            jobs = [await self._queue.get()]
            size = len(jobs[0].comments)
            deadline = time.monotonic() + (self.max_wait if self._merging else 0.0)
            while size < self.max_items:
                try:
                    if self._queue.empty():
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            break
                        job = await asyncio.wait_for(self._queue.get(), remaining)
                    else:
                        job = self._queue.get_nowait()
                except TimeoutError:
                    break
                jobs.append(job)
                size += len(job.comments)
            self._merging = len(jobs) > 1
            jobs = [j for j in jobs if not j.future.done()]  # timed out while waiting
            for spans in (False, True):
                group = [j for j in jobs if j.spans is spans]
                if group:
                    await self._score_group(group, spans=spans)

    async def _score_group(self, jobs: list[_Job], *, spans: bool) -> None:
        comments = [c for job in jobs for c in job.comments]
        started = time.perf_counter()
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._score_sync, comments, spans
            )
        except Exception as error:  # the model failed: every waiting request gets the error
            log.exception("scoring a batch of %d comments failed", len(comments))
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(error)
            return
        if self.metrics is not None:
            self.metrics.batch_size.observe(len(comments))
            self.metrics.model_seconds.observe(time.perf_counter() - started)
            self.metrics.observe_results(results)
        start = 0
        for job in jobs:
            end = start + len(job.comments)
            if not job.future.done():
                job.future.set_result(results[start:end])
            start = end

    def _score_sync(self, comments: list[Comment], spans: bool) -> list[ScoreResult]:
        return self.scorer.score(comments, spans=spans, batch_size=self.batch_size)
