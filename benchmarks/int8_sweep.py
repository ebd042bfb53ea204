"""Which parts of the ``comment`` graph can be int8 and still meet the runtime quality guard
(every attribute's validation ROC-AUC within 0.005 of PyTorch)? Quantises subsets of the fused
fp32 graph's weight nodes, scores the validation records with each, and times each against
fp32 and full int8 on the same length-sorted batches, interleaved.

    nice -n 5 .venv/bin/python benchmarks/int8_sweep.py --sources ucc --max-per-source 3000 \
        [--candidates int8 ffn_down ...] [--speed-batches 200] [--name int8_sweep_ucc]

Nodes are named by a rule over the fused graph, not by their export names: the k-th
``Attention`` is layer k's QKV projection; a MatMul/Gemm with a constant weight after it is, by
the weight's shape, that layer's attention output (H x H), FFN up (H x I) or FFN down
(I x H); weight nodes after the last layer's FFN down are the heads
(``model.runtime_build.weight_nodes``, the build's own rule). The build's int8 recipe is
``smooth08_split8`` (until 2026-11-25: ``smooth08_no_ffn_down``).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

from common import SHARED, save, table
from runtime_quality import TOLERANCE, logit_roc_auc, validation_records

from model.artifact import RELEASE_DIR
from model.loading import build_runtime, load_scorer
from model.runtime import GRAPHS, OnnxScorer
from model.runtime_build import (
    prepare_int8,
    quantisation_batches,
    quantisation_texts,
    quantise_dynamic,
    weight_nodes,
)

FAMILIES = ("embed", "qkv", "attn_out", "ffn_up", "ffn_down", "heads")
ALL_LAYERS = tuple(range(6))


# name -> (which (family, layer) are int8, quantize_dynamic keyword overrides)
def _pick(families=FAMILIES, layers=ALL_LAYERS):
    return lambda family, layer: family in families and (layer is None or layer in layers)


CANDIDATES = {
    "int8": (_pick(), {}),
    # one family at a time
    "only_embed": (_pick(("embed",)), {}),
    "only_qkv": (_pick(("qkv",)), {}),
    "only_attn_out": (_pick(("attn_out",)), {}),
    "only_ffn_up": (_pick(("ffn_up",)), {}),
    "only_ffn_down": (_pick(("ffn_down",)), {}),
    "only_heads": (_pick(("heads",)), {}),
    # one layer at a time (all of its matmuls)
    **{f"only_layer{k}": (_pick(("qkv", "attn_out", "ffn_up", "ffn_down"), (k,)), {})
       for k in ALL_LAYERS},
    # layers without embeddings and heads
    "layers": (_pick(("qkv", "attn_out", "ffn_up", "ffn_down")), {}),
    "layers_no_ffn_down": (_pick(("qkv", "attn_out", "ffn_up")), {}),
    "qkv_ffn_up": (_pick(("qkv", "ffn_up")), {}),
    "qkv_attn_out": (_pick(("qkv", "attn_out")), {}),
    # options on everything
    "int8_tensor": (_pick(), {"per_channel": False}),
    "int8_reduce_range": (_pick(), {"reduce_range": True}),
    "int8_uint8": (_pick(), {"weight_type": "QUInt8"}),
    "int8_weight_asym": (_pick(), {"extra": {"WeightSymmetric": False}}),
    "int8_act_sym": (_pick(), {"extra": {"ActivationSymmetric": True}}),
    # block-wise int8 weights and int8 activations per block (MatMulNBits, accuracy level 4)
    "nbits8_b32": (_pick(("attn_out", "ffn_up", "ffn_down")), {"method": "nbits"}),
    "nbits8_b128": (_pick(("attn_out", "ffn_up", "ffn_down")),
                    {"method": "nbits", "block_size": 128}),
    "nbits8_b32_qkv": (_pick(("qkv", "attn_out", "ffn_up", "ffn_down")),
                       {"method": "nbits", "dynamic_attention": True}),
    # SmoothQuant (activation outliers moved into the weights) before dynamic int8
    "smooth05_layers": (_pick(("qkv", "attn_out", "ffn_up", "ffn_down")), {"smooth": 0.5}),
    "smooth08_layers": (_pick(("qkv", "attn_out", "ffn_up", "ffn_down")), {"smooth": 0.8}),
    "smooth08_no_ffn_down": (_pick(("qkv", "attn_out", "ffn_up")), {"smooth": 0.8}),
    # the build's recipe plus FFN-down in one layer: which layers' FFN-down tolerate int8
    **{f"smooth08_ffn_down{k}": (
        lambda family, layer, k=k: family in ("qkv", "attn_out", "ffn_up")
        or (family == "ffn_down" and layer == k), {"smooth": 0.8}) for k in ALL_LAYERS},
    "smooth05_int8": (_pick(), {"smooth": 0.5}),
    "smooth09_layers": (_pick(("qkv", "attn_out", "ffn_up", "ffn_down")), {"smooth": 0.9}),
    "smooth10_layers": (_pick(("qkv", "attn_out", "ffn_up", "ffn_down")), {"smooth": 1.0}),
    "smooth08_int8": (_pick(), {"smooth": 0.8}),
    "smooth05_ffn": (_pick(("ffn_up", "ffn_down")), {"smooth": 0.5}),
    "smooth05_layers_act_sym": (_pick(("qkv", "attn_out", "ffn_up", "ffn_down")),
                                {"smooth": 0.5, "extra": {"ActivationSymmetric": True}}),
    "nbits4_b32": (_pick(("attn_out", "ffn_up", "ffn_down")), {"method": "nbits", "bits": 4}),
    # the recipe plus FFN-down with its k largest-peak channels split off in fp32
    # (``split_outliers``), FFN-down smoothed too or not
    **{f"smooth08_split{k}": (_pick(("qkv", "attn_out", "ffn_up", "ffn_down")),
                              {"smooth": 0.8, "outliers": k, "smooth_down": False})
       for k in (1, 2, 4, 8, 16, 32)},
    **{f"smooth08_split{k}_smooth_down": (_pick(("qkv", "attn_out", "ffn_up", "ffn_down")),
                                          {"smooth": 0.8, "outliers": k, "smooth_down": True})
       for k in (4, 8, 16)},
}


def quantise(fused: Path, target: Path, nodes: list[str], options: dict) -> None:
    """Dynamic int8 (``quantize_dynamic``) of ``nodes``, or with ``method="nbits"`` block-wise
    weight quantisation of the MatMuls among them (``MatMulNBits``: ``bits``, ``block_size``,
    ``accuracy_level`` 4 = int8 activations per block), then dynamic int8 of the Attention
    nodes among them when ``dynamic_attention``."""
    if options.get("method") == "nbits":
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

        quantiser = MatMulNBitsQuantizer(
            str(fused), bits=options.get("bits", 8), block_size=options.get("block_size", 32),
            is_symmetric=True, accuracy_level=options.get("accuracy_level", 4),
            nodes_to_include=nodes, op_types_to_quantize=("MatMul",))
        logging.getLogger().disabled = True
        try:
            quantiser.process()
        finally:
            logging.getLogger().disabled = False
        quantiser.model.save_model_to_file(str(target))
        attention = [n for n in nodes if n.startswith("Attention")]
        if options.get("dynamic_attention") and attention:
            scratch = target.with_suffix(".nbits.onnx")
            target.replace(scratch)
            quantise(scratch, target, attention, {})
        return
    quantise_dynamic(fused, target, nodes, weight_type=options.get("weight_type", "QInt8"),
                     per_channel=options.get("per_channel", True),
                     reduce_range=options.get("reduce_range", False), extra=options.get("extra"))


def calibration_texts(data_dir: Path, which: str = "shipped", n: int = 512) -> list[str]:
    """The build's own texts (``model/quantisation_texts.txt``), or ``"civil_comments"``: 512
    Civil Comments training texts (not a validation source of the guard's UCC check)."""
    import csv
    import random

    if which == "shipped":
        return quantisation_texts()
    path = data_dir / "toxic_spans_civil_comments/semeval2021/tsd_train.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        texts = [row["text"] for row in csv.DictReader(handle) if row["text"].strip()]
    random.Random(0).shuffle(texts)
    return texts[:n]


def smooth(fused: Path, target: Path, nodes: list[str], texts: list[str], scorer,
           options: dict, families: dict) -> list[str]:
    """SmoothQuant (``options["smooth"]``) and FFN-down's outlier split (``options["outliers"]``)
    as the build does them (``model.runtime_build.prepare_int8``), with the activation peaks of
    ``texts`` run through the fp32 graph. Returns the nodes to quantise (``prepare_int8``'s)."""
    import onnx

    model = onnx.load(str(fused))
    chosen = [n for n in model.graph.node if n.name in nodes
              and n.op_type in ("MatMul", "Attention")]
    ready = prepare_int8(model, chosen, families, quantisation_batches(scorer, texts),
                         strength=options.get("smooth"), outliers=options.get("outliers", 0),
                         smooth_down=options.get("smooth_down", "outliers" not in options))
    onnx.save(model, str(target))
    unready = {n.name for n in chosen} - {n.name for n in ready}
    return [n for n in nodes if n not in unready]


def fp32_baseline() -> tuple[Path, OnnxScorer, dict]:
    """The release's fp32 runtime form: its folder, its scorer, and the families of its comment
    graph's weight nodes (``weight_nodes``)."""
    import onnx

    fp32_dir = build_runtime(RELEASE_DIR, precision="fp32")
    scorer = OnnxScorer.from_pretrained(RELEASE_DIR, fp32_dir)
    families = weight_nodes(onnx.load(str(fp32_dir / "comment.onnx")),
                            scorer.config.encoder["hidden_size"])
    return fp32_dir, scorer, families


def candidate_nodes(name: str, families: dict) -> list[str]:
    """The weight nodes candidate ``name`` quantises."""
    pick = CANDIDATES[name][0]
    return [node for node, (family, layer) in families.items() if pick(family, layer)]


def add_calibration_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calibration", choices=("shipped", "civil_comments"), default="shipped",
                        help="texts for SmoothQuant's activation peaks")


def build_candidate(name: str, fp32_dir: Path, scratch: Path, texts: list[str],
                    fp32_scorer: OnnxScorer, families: dict) -> OnnxScorer:
    """A runtime form in ``scratch / name``: the fp32 form's graphs, with its comment graph
    quantised as candidate ``name``."""
    options = CANDIDATES[name][1]
    nodes = candidate_nodes(name, families)
    folder = scratch / name
    folder.mkdir()
    for graph in GRAPHS:
        if graph != "comment":
            (folder / f"{graph}.onnx").symlink_to(fp32_dir / f"{graph}.onnx")
    source = fp32_dir / "comment.onnx"
    if "smooth" in options or "outliers" in options:
        source = folder / "smoothed.onnx"
        nodes = smooth(fp32_dir / "comment.onnx", source, nodes, texts, fp32_scorer, options,
                       families)
    quantise(source, folder / "comment.onnx", nodes, options)
    return OnnxScorer.from_pretrained(RELEASE_DIR, folder)


def op_counts(path: Path) -> dict:
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        if node.op_type in ("MatMulInteger", "QAttention", "QEmbedLayerNormalization",
                            "DynamicQuantizeMatMul", "QGemm", "MatMulNBits"):
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def auc_metrics(scorer, records, batch_size: int) -> tuple[dict, dict, dict]:
    """ROC-AUC per attribute of the calibrated scores, the logits, and the ROC-AUC of the
    logits (the guard's: ``runtime_quality.logit_roc_auc``)."""
    import numpy as np

    from training import validation

    rows = validation.predict(scorer, records, batch_size=batch_size, spans=False)
    metrics = validation.metrics_by_source(scorer, records, rows)["all"]
    aucs = {a: m["roc_auc"] for a, m in metrics.items()
            if isinstance(m, dict) and m.get("roc_auc") is not None}
    logits = {a: np.array([row["logits"].get(a, np.nan) for row in rows]) for a in aucs}
    return aucs, logits, logit_roc_auc(scorer, records, rows)


def speed(sessions: dict, scorer: OnnxScorer, texts: list[str], n_batches: int,
          rounds: int) -> dict[str, float]:
    """Seconds per session over the same length-sorted batches of 8, interleaved batch by
    batch so that load from other processes falls on every candidate alike; median of rounds."""
    batches = quantisation_batches(scorer, texts[: 8 * n_batches])
    totals = {name: [] for name in sessions}
    for _ in range(rounds):
        spent = dict.fromkeys(sessions, 0.0)
        for feed in batches:
            for name, session in sessions.items():
                started = time.perf_counter()
                session.run(None, feed)
                spent[name] += time.perf_counter() - started
        for name in sessions:
            totals[name].append(spent[name])
    return {name: statistics.median(t) for name, t in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=SHARED)
    parser.add_argument("--max-per-source", type=int, default=3000)
    parser.add_argument("--sources", nargs="+")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    parser.add_argument("--speed-batches", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--name", default="int8_sweep")
    add_calibration_option(parser)
    args = parser.parse_args()
    import numpy as np

    fp32_dir, fp32_scorer, families = fp32_baseline()
    for node, (family, layer) in families.items():
        print(f"  {family:9s} {'' if layer is None else layer:2}  {node}")

    records = validation_records(args.data_dir, args.max_per_source, args.sources)
    print(f"{len(records)} validation records from {len({r.source for r in records})} sources")
    cache = Path(tempfile.gettempdir()) / "int8_sweep_cache"
    cache.mkdir(exist_ok=True)
    sources = "-".join(args.sources or ["all"])
    reference_file = cache / f"pytorch-{sources}-{args.max_per_source}.json"
    if reference_file.exists():
        reference, raw_reference = json.loads(reference_file.read_text())
    else:
        reference, _, raw_reference = auc_metrics(load_scorer(RELEASE_DIR, backend="torch"),
                                                  records, args.batch_size)
        reference_file.write_text(json.dumps([reference, raw_reference]))
    # fp32 ONNX matches PyTorch to 1e-6: the baseline for how far a candidate moves the logits
    _, fp32_logits, _ = auc_metrics(fp32_scorer, records, args.batch_size)

    texts = calibration_texts(args.data_dir, args.calibration)
    results, sessions = {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.candidates:
            options = CANDIDATES[name][1]
            nodes = candidate_nodes(name, families)
            scorer = build_candidate(name, fp32_dir, Path(scratch), texts, fp32_scorer,
                                     families)
            started = time.perf_counter()
            aucs, logits, raw = auc_metrics(scorer, records, args.batch_size)
            raw_gaps = {a: raw[a] - raw_reference[a] for a in reference}
            raw_worst = max(raw_gaps, key=lambda a: abs(raw_gaps[a]))
            # logit noise relative to the attribute's spread: what moves ROC-AUC
            noise = {a: float(np.nanmean((logits[a] - fp32_logits[a]) ** 2) ** 0.5
                              / np.nanstd(fp32_logits[a])) for a in reference}
            gaps = {a: aucs[a] - reference[a] for a in reference}
            worst = max(gaps, key=lambda a: abs(gaps[a]))
            ops = op_counts(scorer.runtime_dir / "comment.onnx")
            results[name] = {"nodes": len(nodes), "ops": ops,
                             "options": {k: v for k, v in options.items()}, "gaps": gaps,
                             "worst": worst, "max_gap": gaps[worst],
                             "relative_noise": noise, "logit_gaps": raw_gaps,
                             "logit_worst": raw_worst, "logit_max_gap": raw_gaps[raw_worst],
                             # the guard is judged on the logits (runtime_quality's docstring)
                             "passes": all(abs(g) <= TOLERANCE for g in raw_gaps.values()),
                             "scoring_s": time.perf_counter() - started}
            sessions[name] = scorer._session("comment")
            print(f"{name}: {len(nodes)} nodes int8 {results[name]['ops']}; worst {worst} "
                  f"{gaps[worst]:+.4f}; passes {results[name]['passes']}; logit noise / spread "
                  f"{max(noise.values()):.4f}; on logits: worst {raw_worst} "
                  f"{raw_gaps[raw_worst]:+.4f}",
                  flush=True)
        sessions["fp32"] = fp32_scorer._session("comment")
        if args.speed_batches:
            from training import validation

            speed_texts = [validation.as_comment(r).text for r in records]
            while len(speed_texts) < 8 * args.speed_batches:
                speed_texts += speed_texts
            seconds = speed(sessions, fp32_scorer, speed_texts, args.speed_batches, args.rounds)
            for name in results:
                results[name]["vs_fp32"] = seconds["fp32"] / seconds[name]
                if "int8" in seconds:
                    results[name]["vs_int8"] = seconds["int8"] / seconds[name]

    attributes = list(reference)
    rows = [[name, r["nodes"], f"{r['max_gap']:+.4f} {r['worst']}",
             "yes" if r["passes"] else "no",
             f"{r['logit_max_gap']:+.4f} {r['logit_worst']}",
             f"{max(r['relative_noise'].values()):.4f}", f"{r.get('vs_fp32', float('nan')):.2f}",
             f"{r.get('vs_int8', float('nan')):.2f}",
             *(f"{r['gaps'][a]:+.4f}" for a in attributes)] for name, r in results.items()]
    print(table(["candidate", "int8 nodes", "largest gap", "passes (logits)",
                 "largest gap, logits",
                 "noise/spread", "speed vs fp32", "vs int8", *attributes], rows))

    def chart(axes) -> None:
        names = list(results)
        axes.barh(names, [abs(results[n]["max_gap"]) for n in names])
        axes.axvline(TOLERANCE, color="tab:red", linestyle="--")
        axes.set_xlabel("largest |ROC-AUC gap| to PyTorch, validation")
        axes.set_title("int8 subsets of the comment graph (red: guard)")

    save(args.name, {"sources": args.sources or "all", "records": len(records),
                     "reference": reference, "results": results}, chart)


if __name__ == "__main__":
    main()
