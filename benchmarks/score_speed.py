"""Scoring speed of a model artifact on real-length comments, as ratios against a baseline
measured in the same run (these machines are noisy: compare within a run, not across runs).

    .venv/bin/python benchmarks/score_speed.py [--model DIR] [--comments FILE.jsonl] [--n 200]

Prints, for the same comments:
* single-comment latency p50/p95 without context (the baseline) and with article + parent
  (article and parent cached after first use, as the service sees them in a thread);
* batch throughput for batch sizes 1, 8 and 32 (length-sorted, dynamic padding);
* the cost of context: cold (article and parent encoded) vs warm (cached) per comment.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from model.scorer import RELEASE_DIR, Article, Comment, Scorer

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "coalition_thread.json"


def thread_comments(path: Path) -> list[Comment]:
    data = json.loads(path.read_text(encoding="utf-8"))
    article = Article(data["article"]["title"], data["article"]["body"])
    by_id = {c["id"]: c for c in data["comments"]}
    return [Comment(text=c["text"], article=article,
                    parent=by_id[c["parent_id"]]["text"] if c["parent_id"] else None)
            for c in data["comments"]]


def latencies(scorer: Scorer, comments: list[Comment], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        for comment in comments:
            start = time.perf_counter()
            scorer.score(comment)
            out.append(time.perf_counter() - start)
    return out


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(RELEASE_DIR))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    scorer = Scorer.from_pretrained(args.model)
    print(f"model {scorer.config.tag}: loaded in {time.perf_counter() - started:.2f} s")
    with_context = thread_comments(FIXTURE)
    bare = [Comment(text=c.text) for c in with_context]
    scorer.score(bare[:4])  # warm-up

    base = latencies(scorer, bare, args.repeat)
    print(f"single comment, no context:   p50 {pct(base, .5):6.1f} ms  p95 {pct(base, .95):6.1f} ms"
          "  (baseline)")
    scorer._context_cache.clear()
    cold = [latencies(scorer, [c], 1)[0] for c in with_context]
    warm = latencies(scorer, with_context, args.repeat)
    for name, values in (("with context, cold cache:", cold), ("with context, warm cache:", warm)):
        print(f"single comment, {name} p50 {pct(values, .5):6.1f} ms  p95 {pct(values, .95):6.1f}"
              f" ms  ({statistics.median(values) / statistics.median(base):.2f}x baseline)")

    many = bare * max(1, 200 // len(bare))
    rates = {}
    for batch_size in (1, 8, 32):
        start = time.perf_counter()
        scorer.score(many, batch_size=batch_size)
        rates[batch_size] = len(many) / (time.perf_counter() - start)
    for batch_size, rate in rates.items():
        print(f"throughput, batch {batch_size:2d}: {rate:6.1f} comments/s"
              f"  ({rate / rates[1]:.2f}x batch 1)")


if __name__ == "__main__":
    main()
