"""What context costs per comment: one comment scored alone against the same comment scored
with its article and parent (the off-topic branch reads them with it).

    .venv/bin/python benchmarks/context_cost.py [--model DIR] [--repeat 5] [--backend onnx torch]

For every comment of the coalition thread, one comment per call, medians over ``--repeat``
rounds: the comment alone (the baseline: what the toxicity heads need), and with article and
parent (``[CLS] comment [SEP] parent [SEP] article [SEP]`` cut to the model's
``context_lengths``, one more pass). Ratios are against the baseline of the same backend,
measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import thread

from model.encoding import encode_pairs
from model.loading import load_scorer
from model.scorer import RELEASE_DIR, Article, Comment
from model.text import normalise


def per_comment_ms(scorer, items, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        for item in items:
            start = time.perf_counter()
            scorer.score(item)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(RELEASE_DIR))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backend", nargs="+", default=["onnx", "torch"],
                        choices=["onnx", "torch"])
    args = parser.parse_args()
    data = thread()
    raw = data["article"]
    article = Article(title=raw["title"],
                      text="\n\n".join(p for p in (raw.get("subtitle"), raw["body"]) if p))
    by_id = {c["id"]: c for c in data["comments"]}
    alone = [c["text"] for c in data["comments"]]
    with_context = [Comment(text=c["text"], article=article,
                            parent=by_id[c["parent_id"]]["text"] if c["parent_id"] else None)
                    for c in data["comments"]]
    for backend in args.backend:
        scorer = load_scorer(args.model, backend=backend)
        if backend == "onnx":
            scorer.preload()
        per_comment_ms(scorer, with_context[:3], 1)  # warm up both paths
        pairs = encode_pairs(scorer.tokenizer, [normalise(c.text) for c in with_context],
                             [normalise(c.parent) if c.parent else None for c in with_context],
                             [normalise(article.content)] * len(with_context),
                             lengths=scorer.config.lengths,
                             head_fraction=scorer.config.head_fraction)
        base = per_comment_ms(scorer, alone, args.repeat)
        context = per_comment_ms(scorer, with_context, args.repeat)
        name = f"{type(scorer).__name__} {getattr(scorer, 'precision', '')}".strip()
        tokens = statistics.median(len(p.input_ids) for p in pairs)
        print(f"{name}: {len(alone)} comments, median {tokens:.0f} tokens read with context")
        print(f"  comment alone (baseline):      {base:7.1f} ms per comment")
        print(f"  with article and parent:       {context:7.1f} ms per comment "
              f"({context / base:.2f}x)")


if __name__ == "__main__":
    main()
