"""Why the runtime form keeps residual Add + LayerNormalization unfused: ONNX Runtime's
SkipLayerNormalization kernel against the ops it replaces, alone and inside the comment graph.

    nice -n 5 .venv/bin/python benchmarks/layer_norm_fusion.py [--rounds 3] [--comments 480]

1. One residual block's LayerNorm, 8 comments x 80 tokens x 384: SkipLayerNormalization
   (com.microsoft) against Add + Add + LayerNormalization, with 1 and 2 threads.
2. The shipped model's comment graphs (fp32 and the default int8, from the runtime cache),
   opened twice: as the scorer opens them (``model.runtime.open_session``, the fusion off) and
   with ONNX Runtime's default optimisations, which fuse SkipLayerNormalization back at load.
   Same graph file, same length-sorted batches of 8 real comments; each round runs every
   session over all batches in turn (batch-by-batch interleaving would evict each graph's
   weights from the cache and slow every session alike).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from common import real_comments, save, table

from model.artifact import RELEASE_DIR
from model.loading import build_runtime
from model.runtime import open_session
from model.runtime_build import quantisation_batches

HIDDEN = 384


def layer_norm_graph(fused: bool) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    def vector(name: str, value: float):
        return numpy_helper.from_array(np.full(HIDDEN, value, np.float32), name)

    shape = ["batch", "tokens", HIDDEN]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("x", "skip")]
    if fused:
        nodes = [helper.make_node("SkipLayerNormalization", ["x", "skip", "gamma", "beta", "bias"],
                                  ["y"], domain="com.microsoft", epsilon=1e-12)]
    else:
        nodes = [helper.make_node("Add", ["x", "bias"], ["biased"]),
                 helper.make_node("Add", ["biased", "skip"], ["summed"]),
                 helper.make_node("LayerNormalization", ["summed", "gamma", "beta"], ["y"],
                                  axis=-1, epsilon=1e-12)]
    graph = helper.make_graph(nodes, "layer_norm", inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
                              [vector("gamma", 1.0), vector("beta", 0.0), vector("bias", 0.1)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                   helper.make_opsetid("com.microsoft", 1)]
                             ).SerializeToString()


def op_times(rounds: int, calls: int = 300) -> dict[str, float]:
    """Milliseconds per call of each LayerNorm form, per thread count (median of rounds)."""
    rng = np.random.default_rng(0)
    feed = {name: rng.standard_normal((8, 80, HIDDEN), dtype=np.float32)
            for name in ("x", "skip")}
    times = {}
    for threads in (1, 2):
        plural = "s" if threads > 1 else ""
        sessions = {  # ONNX Runtime would fuse the unfused graph at load: open_session does not
            f"SkipLayerNormalization, {threads} thread{plural}":
                open_session(layer_norm_graph(True), threads=threads, disabled_optimizers=()),
            f"Add + LayerNormalization, {threads} thread{plural}":
                open_session(layer_norm_graph(False), threads=threads),
        }
        for name, session in sessions.items():
            for _ in range(20):
                session.run(None, feed)
            per_round = []
            for _ in range(rounds):
                started = time.perf_counter()
                for _ in range(calls):
                    session.run(None, feed)
                per_round.append((time.perf_counter() - started) / calls * 1000)
            times[name] = statistics.median(per_round)
    return times


def graph_throughput(batches: list, sessions: dict, rounds: int) -> dict[str, float]:
    """Comments/s of each session over the same batches, sessions taking turns round by round
    (median of rounds)."""
    comments = sum(len(feed["input_ids"]) for feed in batches)
    spent = {name: [] for name in sessions}
    for _ in range(rounds):
        for name, session in sessions.items():
            session.run(None, batches[0])
            started = time.perf_counter()
            for feed in batches:
                session.run(None, feed)
            spent[name].append(time.perf_counter() - started)
    return {name: comments / statistics.median(s) for name, s in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--comments", type=int, default=480)
    args = parser.parse_args()
    from model.scorer import Scorer

    ops = op_times(args.rounds)
    print(table(["LayerNorm of 8 x 80 x 384", "ms per call"],
                [[name, round(ms, 3)] for name, ms in ops.items()]))

    scorer = Scorer.from_pretrained(RELEASE_DIR)  # its tokenizer, as the runtime form's
    batches = quantisation_batches(scorer, real_comments(args.comments))
    sessions = {}
    for precision in ("fp32", "int8"):
        graph = build_runtime(RELEASE_DIR, precision=precision) / "comment.onnx"
        sessions[f"{precision}, unfused (as served)"] = open_session(graph)
        # ONNX Runtime's defaults fuse SkipLayerNormalization back at load
        sessions[f"{precision}, SkipLayerNormalization"] = open_session(graph,
                                                                        disabled_optimizers=())
    rates = graph_throughput(batches, sessions, args.rounds)
    rows = []
    for precision in ("fp32", "int8"):
        unfused = rates[f"{precision}, unfused (as served)"]
        fused = rates[f"{precision}, SkipLayerNormalization"]
        rows.append([precision, round(fused, 1), round(unfused, 1), f"{unfused / fused:.2f}x"])
    print(table(["comment graph", "fused comments/s", "unfused comments/s", "unfused vs fused"],
                rows))

    def chart(axes) -> None:
        names = list(rates)
        axes.barh(names, [rates[n] for n in names])
        axes.set_xlabel("comments/s, comment graph (session.run), batches of 8")
        axes.set_title("SkipLayerNormalization fused at load vs kept unfused")

    save("layer_norm_fusion", {"op_ms_per_call": ops, "graph_comments_per_s": rates,
                               "comments": args.comments}, chart)


if __name__ == "__main__":
    main()
