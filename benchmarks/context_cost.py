"""What context costs per comment: the measurement behind the bi-encoder design.

    .venv/bin/python benchmarks/context_cost.py [--model DIR] [--repeat 5]

For every comment of the coalition thread, times one encoder forward pass over
* the comment alone (the baseline: what the toxicity heads need);
* a cross-encoder input, ``[CLS] comment [SEP] article [SEP] parent`` truncated to 512 tokens,
  which a context-aware cross-encoder would pay for every comment;
* the bi-encoder as served: the comment pass plus the article and parent embeddings, with the
  article encoded once per thread and parents once each (cache hits after the first use).
Ratios are against the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import thread

from model.encoding import pad_batch
from model.scorer import RELEASE_DIR, Scorer


def forward_ms(scorer: Scorer, ids: list[int], repeat: int) -> float:
    from model.encoding import Encoded

    batch, mask = pad_batch([Encoded(ids, [(0, 0)] * len(ids))], pad_id=0)
    times = []
    with torch.inference_mode():
        for _ in range(repeat):
            start = time.perf_counter()
            scorer.network.embed(batch, mask)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(RELEASE_DIR))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    scorer = Scorer.from_pretrained(args.model)
    tok = scorer.tokenizer
    tok.model_max_length = 10**6  # we truncate explicitly; silence the length warning
    data = thread()
    article = data["article"]["title"] + "\n" + data["article"]["body"]
    by_id = {c["id"]: c for c in data["comments"]}
    comment_ms, cross_ms, lengths = [], [], []
    for c in data["comments"]:
        comment = tok(c["text"], truncation=True, max_length=scorer.config.max_length)["input_ids"]
        parent = by_id[c["parent_id"]]["text"] if c["parent_id"] else ""
        cross = tok(
            c["text"], article + " [SEP] " + parent, truncation="only_second", max_length=512
        )["input_ids"]
        comment_ms.append(forward_ms(scorer, comment, args.repeat))
        cross_ms.append(forward_ms(scorer, cross, args.repeat))
        lengths.append((len(comment), len(cross)))
    scorer._context_cache.clear()
    start = time.perf_counter()
    scorer.embed_context([article])
    article_once = (time.perf_counter() - start) * 1000
    base = statistics.median(comment_ms)
    cross = statistics.median(cross_ms)
    comment_tokens = statistics.median(n for n, _ in lengths)
    cross_tokens = statistics.median(n for _, n in lengths)
    print(f"comments: {len(comment_ms)}; median tokens: comment {comment_tokens:.0f}, "
          f"cross-encoder input {cross_tokens:.0f}")
    print(f"comment alone (baseline):        {base:7.1f} ms per comment")
    print(f"cross-encoder with context:      {cross:7.1f} ms per comment ({cross / base:.2f}x)")
    print(
        f"bi-encoder, article once/thread: {article_once:7.1f} ms per thread"
        f" = {article_once / len(comment_ms):.1f} ms per comment of this thread;"
        f" parent embeddings are cached comment embeddings (~{base:.1f} ms on a miss)"
    )
    hit = base + article_once / len(comment_ms)
    miss = hit + base  # parent not cached: one more comment-sized pass
    print(f"bi-encoder per comment: parent cached {hit:7.1f} ms ({hit / base:.2f}x), "
          f"parent not cached {miss:7.1f} ms ({miss / base:.2f}x)")


if __name__ == "__main__":
    main()
