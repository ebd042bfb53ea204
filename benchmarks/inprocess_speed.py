"""In-process scoring speed of the runtime forms (one per ``--precision``) against PyTorch fp32
eager of the same model and a bert-base-sized model with the same heads (random weights from its
config: speed does not depend on the values), all in one run on the same real comments.

    .venv/bin/python benchmarks/inprocess_speed.py [--n 480] [--single 200] [--rounds 3]
        [--precision fp32 int8]

Measures, with every attribute scored and spans off:
* batch throughput (comments/s, length-sorted batches of 8), no context, best of ``--rounds``
  rounds that alternate the forms (other jobs on the machine hit each form alike);
* throughput with context: the coalition thread's comments with their article and parent
  (each read with its context by the off-topic branch);
* a thread stream: the same comments one call each, in thread order, as a publishing system
  sends them;
* one comment at a time: latency p50/p95/p99;
* what surrounds the encoder: normalisation + tokenisation, and JSON encoding of results.
"""

from __future__ import annotations

import argparse
import json
import time

from common import latency_summary, real_comments, save, table, threaded_items

from model.artifact import RELEASE_DIR
from model.comments import Comment
from model.encoding import encode_texts
from model.loading import PRECISIONS, load_scorer
from model.text import normalise


def bert_base_sized(reference):
    """A Scorer whose network is bert-base-uncased's size (12 layers, hidden 768) with the
    release model's heads, tokenizer, calibration and thresholds: what a Detoxify-like model
    costs in this same scoring code."""
    import dataclasses

    import torch
    from transformers import BertConfig

    from model.network import CivilityNetwork
    from model.scorer import Scorer

    encoder = BertConfig(vocab_size=reference.config.encoder["vocab_size"], hidden_size=768,
                         num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
    torch.manual_seed(0)
    config = dataclasses.replace(reference.config, encoder=encoder.to_dict(), topic_layers=0)
    network = CivilityNetwork(encoder, comment_attributes=config.comment_attributes,
                              context_hidden=config.context_hidden, topic_layers=0)
    return Scorer(network, reference.tokenizer, config, thresholds=reference.thresholds,
                  calibration=reference.calibration)


def throughput(scorer, comments, *, batch_size: int = 8) -> float:
    started = time.perf_counter()
    scorer.score(comments, batch_size=batch_size)
    return len(comments) / (time.perf_counter() - started)


def single_latencies(scorer, comments) -> list[float]:
    out = []
    for comment in comments:
        started = time.perf_counter()
        scorer.score(comment)
        out.append(time.perf_counter() - started)
    return out


def stream_throughput(scorer, comments) -> float:
    """Comments/s scoring ``comments`` one call each."""
    started = time.perf_counter()
    for comment in comments:
        scorer.score(comment)
    return len(comments) / (time.perf_counter() - started)


def threaded_comments() -> list[Comment]:
    return [Comment.coerce(item) for item in threaded_items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(RELEASE_DIR))
    parser.add_argument("--n", type=int, default=480, help="comments per throughput pass")
    parser.add_argument("--single", type=int, default=200, help="comments scored one by one")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base-n", type=int, default=96, help="comments for the bert-base form")
    parser.add_argument("--precision", nargs="+", choices=PRECISIONS, default=["fp32", "int8"],
                        help="runtime forms to measure (the first one times the preprocessing)")
    args = parser.parse_args()

    texts = real_comments(args.n)
    comments = [Comment(text=t) for t in texts]
    runtimes = {f"runtime (ONNX Runtime {p})": load_scorer(args.model, backend="onnx",
                                                          precision=p).preload()
                for p in args.precision}
    runtime = next(iter(runtimes.values()))
    pytorch = load_scorer(args.model, backend="torch")
    base = bert_base_sized(pytorch)
    forms = {**runtimes, "PyTorch fp32 eager": pytorch, "bert-base-sized, PyTorch fp32": base}
    tokens = [len(e.input_ids) for e in encode_texts(
        runtime.tokenizer, [normalise(t) for t in texts], max_length=runtime.config.max_length,
        head_fraction=runtime.config.head_fraction)]
    mean_tokens = sum(tokens) / len(tokens)
    print(f"{len(texts)} real comments, {mean_tokens:.1f} tokens on average; runtime graphs in "
          + ", ".join(str(r.runtime_dir) for r in runtimes.values()))
    for scorer in forms.values():  # warm-up: first calls allocate
        scorer.score(comments[:16])

    rates: dict[str, list[float]] = {name: [] for name in forms}
    subset = comments[: args.base_n]
    for _ in range(args.rounds):
        for name, scorer in forms.items():
            if scorer is base:  # the bert-base form runs once, on a prefix
                continue
            rates[name].append(throughput(scorer, comments))
    base_name = "bert-base-sized, PyTorch fp32"
    rates[base_name].append(throughput(base, subset))
    # the same prefix for the other forms, so the bert-base ratio compares like with like
    prefix_rates = {name: throughput(scorer, subset) for name, scorer in forms.items()
                    if scorer is not base}
    prefix_rates[base_name] = rates[base_name][0]

    context = threaded_comments() * 4
    context_rates = {}
    for name, scorer in forms.items():
        if scorer is base:
            continue
        scorer.score(context[:22])  # warm-up of the pair graph
        context_rates[name] = max(throughput(scorer, context) for _ in range(args.rounds))
    stream_rates = {name: max(stream_throughput(scorer, threaded_comments())
                              for _ in range(args.rounds))
                    for name, scorer in forms.items() if scorer is not base}

    latencies = {name: latency_summary(single_latencies(
        scorer, comments[: args.single if scorer is not base else args.base_n // 2]))
        for name, scorer in forms.items()}

    started = time.perf_counter()
    encode_texts(runtime.tokenizer, [normalise(t) for t in texts],
                 max_length=runtime.config.max_length, head_fraction=runtime.config.head_fraction)
    preprocess_us = (time.perf_counter() - started) / len(texts) * 1e6
    results = runtime.score(comments)
    started = time.perf_counter()
    json.dumps([r.to_dict() for r in results])
    json_us = (time.perf_counter() - started) / len(texts) * 1e6

    best = {name: max(values) for name, values in rates.items()}
    runtime_name = next(iter(runtimes))
    torch_name = "PyTorch fp32 eager"
    rows = []
    for name in forms:
        rows.append([
            name, round(best[name], 1), round(prefix_rates[name], 1),
            round(context_rates[name], 1) if name in context_rates else "-",
            round(stream_rates[name], 1) if name in stream_rates else "-",
            latencies[name]["p50_ms"], latencies[name]["p95_ms"], latencies[name]["p99_ms"],
            f"{best[name] / best[torch_name]:.2f}x" if name != base_name else
            f"{prefix_rates[name] / prefix_rates[torch_name]:.2f}x (first {len(subset)})",
        ])
    print(table(["form", f"comments/s ({len(texts)})", f"comments/s (first {len(subset)})",
                 "comments/s with context", "thread stream comments/s", "1 comment p50 ms",
                 "p95 ms", "p99 ms",
                 "throughput vs PyTorch"], rows))
    per_comment_us = 1e6 / best[runtime_name]
    print(f"around the encoder (runtime): normalise + tokenise {preprocess_us:.0f} us/comment, "
          f"JSON encoding {json_us:.0f} us/comment, of {per_comment_us:.0f} us/comment in all "
          f"({(preprocess_us + json_us) / per_comment_us:.0%})")

    def chart(axes) -> None:
        names = list(forms)
        axes.barh(names, [prefix_rates[n] for n in names])
        axes.set_xscale("log")
        axes.set_xlabel(f"comments/s, same {len(subset)} real comments, batch 8 (log scale)")
        axes.set_title("In-process scoring throughput, no context, spans off")
        for y, n in enumerate(names):
            axes.text(prefix_rates[n], y, f" {prefix_rates[n]:.1f}", va="center")

    save("inprocess_speed", {
        "comments": len(texts), "mean_tokens": round(mean_tokens, 1), "rounds": args.rounds,
        "throughput_best": best, "throughput_rounds": rates, "throughput_prefix": prefix_rates,
        "prefix": len(subset), "throughput_with_context": context_rates,
        "thread_stream": stream_rates,
        "single_comment_latency": latencies, "preprocess_us_per_comment": round(preprocess_us),
        "json_us_per_comment": round(json_us),
        "ratios": {name: {"vs_pytorch": best[name] / best[torch_name],
                          "vs_bert_base": prefix_rates[name] / prefix_rates[base_name]}
                   for name in runtimes},
    }, chart)


if __name__ == "__main__":
    main()
