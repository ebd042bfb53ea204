"""Build the runtime form of an artifact: ONNX graphs of the network, fused by ONNX Runtime's
transformer optimizer, with the encoder graphs' layers in int8 (the default) or everything fp32.
Needs PyTorch, ``onnx`` and ``onnxruntime``; the result is loaded by ``model.runtime`` without
PyTorch. Called through ``model.loading.build_runtime`` (``civility build-runtime
[--precision int8|fp32]``).

Two graphs, so that a comment without context never pays for the off-topic branch:

    comment.onnx  ids, mask -> attribute logits, span logits (trunk + fine-tuned top)
    pair.onnx     ids, token types, mask of ``[CLS] comment [SEP] parent [SEP] article [SEP]``
                  -> off-topic logit (trunk + the off-topic branch's top + context head)

Both have their layer matrices in int8 (or fp32), and share one fp16 word-embedding table.

int8 is dynamic quantisation (weights per channel, activations per call with one scale per
tensor) after ``prepare_int8``: SmoothQuant (``smooth``) moves the activations' outlier
channels into the weights, and FFN-down's largest channels get an fp32 path of their own
(``split_outliers``). ``benchmarks/runtime_quality.py`` compares each attribute's validation
ROC-AUC with PyTorch's (benchmarks/RESULTS.md section 5): fp32 graphs match PyTorch exactly, the
int8 form within 0.0035.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from model.encoding import (
    encode_pairs,
    encode_texts,
    length_sorted_batches,
    pad_arrays,
    pad_pairs,
)
from model.loading import MANIFEST
from model.network import CivilityNetwork
from model.runtime import GRAPHS, open_session
from model.scorer import Scorer
from model.text import normalise

log = logging.getLogger(__name__)

# Both graphs are int8 in the int8 form (benchmarks/RESULTS.md section 5 measures each
# attribute's validation ROC-AUC against PyTorch's, off_topic included).
QUANTISED_GRAPHS = GRAPHS
# A transformer layer's module in exported node names: ``/layer.3/...``, ``/topic_layers.0/...``
LAYER_NAME = re.compile(r"/((?:topic_layers|layer)\.\d+)/")
INPUTS = {"comment": ("input_ids", "attention_mask"),
          "pair": ("input_ids", "token_type_ids", "attention_mask")}
OUTPUTS = {"comment": ("logits", "span_logits"), "pair": ("context_logit",)}
# int8: the transformer layers' matrices (``weight_nodes``' families), after SmoothQuant with
# this migration strength over the activation peaks of QUANTISATION_TEXTS, except FFN-down,
# whose OUTLIER_CHANNELS largest intermediate channels get an fp32 path of their own instead
# (``split_outliers``); embeddings and heads stay fp32. Measured on validation
# (benchmarks/RESULTS.md section 5), as ROC-AUC of the logits against PyTorch's: int8 on every
# weight moved it by up to 0.018 (UCC), FFN-down alone by 0.006 (its input, the GELU output,
# has one or two channels peaking 5-18x above the median one), smoothed FFN-down by 0.007; this
# recipe by at most 0.0011 on UCC, at 1.66x fp32's graph throughput (1.50x with FFN-down fp32).
INT8_FAMILIES = ("qkv", "attn_out", "ffn_up", "ffn_down")
SMOOTHING = 0.8
OUTLIER_CHANNELS = 8
QUANTISATION_TEXTS = Path(__file__).with_name("quantisation_texts.txt")
# ONNX Runtime's BERT fusions less SkipLayerNormalization (``model.runtime.DISABLED_OPTIMIZERS``
# says why; ``open_session`` does not fuse it either): attention, the embeddings' LayerNorm and
# bias + GELU stay fused.
FUSIONS = {"enable_skip_layer_norm": False, "enable_bias_skip_layer_norm": False}


class _CommentGraph(nn.Module):
    def __init__(self, network: CivilityNetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        out = self.network(input_ids, attention_mask)
        return out["logits"], out["span_logits"]


class _PairGraph(nn.Module):
    def __init__(self, network: CivilityNetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> torch.Tensor:
        return self.network.context_logit(input_ids, token_type_ids, attention_mask)


def _eager_attention(network: CivilityNetwork) -> None:
    """ONNX Runtime fuses attention only in graphs exported from the eager implementation (SDPA
    exports as a pattern its optimizer does not recognise). Layers copied for the off-topic
    branch carry their own config object, so every module's is set."""
    for module in network.modules():
        config = getattr(module, "config", None)
        if config is not None:
            config._attn_implementation = "eager"


def _export(module: nn.Module, inputs: tuple, path: Path, *, names: tuple, outputs: tuple,
            dynamic: dict) -> None:
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python code
        torch.onnx.export(
            module.eval(), inputs, str(path), input_names=list(names), output_names=list(outputs),
            dynamic_axes=dynamic, opset_version=17, dynamo=False,
        )


def readers_of(model) -> dict[str, list]:
    """The nodes that read each tensor of ``model``'s graph, in graph order."""
    readers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    return readers


def half_word_embeddings(model) -> bool:
    """Store the word-embedding table in fp16 when that is exact, in place; returns whether.

    The release artifact's weights are fp16, so its table (30,522 x 384: 47 MB in fp32) loses
    nothing in fp16 and takes half the memory: the server maps it from the build's shared file
    (``write_shared_initializers``), and every page of it that tokens touch counts in the
    process's resident memory. ONNX Runtime's fused ``EmbedLayerNormalization`` takes fp32
    tables only, so it is given, per call, a table of just the rows the batch uses (``Gather``
    from the fp16 table, ``Cast`` to fp32) and ids that number those rows 0..B*T-1: the fused
    node then computes what it computed before, bit for bit. Tables that fp16 would round are
    left as they are."""
    import onnx
    from onnx import helper, numpy_helper

    fused = [n for n in model.graph.node if n.op_type == "EmbedLayerNormalization"]
    if len(fused) != 1:
        return False
    node = fused[0]
    ids, words = node.input[0], node.input[2]
    initializers = {i.name: i for i in model.graph.initializer}
    if words not in initializers:
        return False
    table = numpy_helper.to_array(initializers[words])
    half = table.astype(np.float16)
    if table.dtype != np.float32 or not np.array_equal(half.astype(np.float32), table):
        return False
    name = node.name or "EmbedLayerNormalization"

    def out(what: str) -> str:
        return f"{name}/{what}"

    model.graph.initializer.extend([
        numpy_helper.from_array(np.array([-1], np.int64), out("flat_shape")),
        numpy_helper.from_array(np.array(0, np.int64), out("zero")),
        numpy_helper.from_array(np.array(1, np.int64), out("one")),
    ])
    steps = [
        helper.make_node("Reshape", [ids, out("flat_shape")], [out("flat_ids")],
                         name=out("Reshape_ids")),
        helper.make_node("Gather", [words, out("flat_ids")], [out("rows16")],
                         name=out("Gather_rows"), axis=0),
        helper.make_node("Cast", [out("rows16")], [out("rows")], name=out("Cast_rows"),
                         to=onnx.TensorProto.FLOAT),
        helper.make_node("Shape", [ids], [out("shape")], name=out("Shape_ids")),
        helper.make_node("ReduceProd", [out("shape")], [out("count")], name=out("Count"),
                         keepdims=0),
        helper.make_node("Range", [out("zero"), out("count"), out("one")], [out("numbers")],
                         name=out("Range")),
        helper.make_node("Reshape", [out("numbers"), out("shape")], [out("row_numbers64")],
                         name=out("Reshape_numbers")),
        helper.make_node("Cast", [out("row_numbers64")], [out("row_numbers")],
                         name=out("Cast_numbers"), to=onnx.TensorProto.INT32),
    ]
    position = list(model.graph.node).index(node)
    for offset, step in enumerate(steps):
        model.graph.node.insert(position + offset, step)
    node.input[0], node.input[2] = out("row_numbers"), out("rows")
    initializers[words].CopyFrom(numpy_helper.from_array(half, words))
    return True


def export_graphs(scorer: Scorer, directory: Path) -> None:
    """Export the fp32 graphs (``GRAPHS``) of ``scorer``'s network into ``directory``."""
    network = scorer.network.eval()
    _eager_attention(network)
    ids = torch.full((2, 16), scorer.tokenizer.pad_token_id + 5, dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0
    types = torch.zeros_like(ids)
    types[:, 8:] = 1
    per_token = {0: "batch", 1: "tokens"}
    shapes = {"logits": {0: "batch"}, "span_logits": per_token, "context_logit": {0: "batch"}}
    for name, module, inputs in (("comment", _CommentGraph(network), (ids, mask)),
                                 ("pair", _PairGraph(network), (ids, types, mask))):
        dynamic = {**{i: per_token for i in INPUTS[name]},
                   **{o: shapes[o] for o in OUTPUTS[name]}}
        _export(module, inputs, directory / f"{name}.onnx", names=INPUTS[name],
                outputs=OUTPUTS[name], dynamic=dynamic)


def weight_nodes(model, hidden_size: int) -> dict[str, tuple[str, str | None]]:
    """``(family, layer)`` of every node of a fused BERT graph that multiplies by a weight:
    ``embed``; per layer ``qkv`` (a fused ``Attention``, or an unfused Q, K or V matrix),
    ``attn_out`` (H x H), ``ffn_up`` (H x I) and ``ffn_down`` (I x H); and ``heads`` (outside
    every layer). ``layer`` is the layer's module (``layer.3``, ``topic_layers.0``), read from
    the exported node names (a fused ``Attention``'s from the node reading its output), not
    from graph order."""
    shapes = {i.name: tuple(i.dims) for i in model.graph.initializer}
    readers = readers_of(model)

    def layer_of(*nodes) -> str | None:
        return next((m.group(1) for n in nodes if (m := LAYER_NAME.search(n.name))), None)

    found: dict[str, tuple[str, str | None]] = {}
    for node in model.graph.node:
        if node.op_type == "EmbedLayerNormalization":
            found[node.name] = ("embed", None)
        elif node.op_type == "Attention":
            found[node.name] = ("qkv", layer_of(*readers.get(node.output[0], [])))
        elif node.op_type in ("MatMul", "Gemm") and len(node.input) > 1 \
                and node.input[1] in shapes:
            rows, cols = shapes[node.input[1]]
            if node.op_type == "Gemm":  # the exported classifier is Gemm(transB=1)
                rows, cols = cols, rows
            layer = layer_of(node)
            if layer is None:
                found[node.name] = ("heads", None)
            elif "/attention/self/" in node.name:
                found[node.name] = ("qkv", layer)
            else:
                found[node.name] = ("attn_out" if rows == cols == hidden_size
                                    else "ffn_up" if rows == hidden_size else "ffn_down", layer)
    return found


def activation_peaks(model, nodes: list, batches: list[dict]) -> dict[str, np.ndarray]:
    """Each input channel's largest |value| at the inputs of ``nodes``, over ``batches`` (the
    graph's inputs by name) run through ``model`` in fp32 (padding included: dynamic
    quantisation sees it too)."""
    import onnx

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    inputs = sorted({node.input[0] for node in nodes})
    for name in inputs:
        probe.graph.output.append(onnx.helper.make_tensor_value_info(
            name, onnx.TensorProto.FLOAT, None))
    session = open_session(probe.SerializeToString())
    peaks: dict[str, np.ndarray] = {}
    for batch in batches:
        values = session.run(inputs, batch)
        for name, value in zip(inputs, values, strict=True):
            peak = np.abs(value).reshape(-1, value.shape[-1]).max(axis=0)
            peaks[name] = np.maximum(peaks.get(name, 0.0), peak)
    return peaks


def split_outliers(model, nodes: list, peaks: dict[str, np.ndarray], keep: int) -> list:
    """LLM.int8()-style decomposition (Dettmers et al., 2022) of FFN-down nodes, in place: the
    ``keep`` channels of the intermediate activation with the largest peaks get their own fp32
    path (FFN-up columns -> bias + GELU -> FFN-down rows), added back to the node's output; the
    node keeps the other channels. Exact in fp32. One scale per tensor then quantises the rest,
    whose peak is several times lower (the GELU output of these layers has one or two channels
    peaking 5-18x above the median channel). ``peaks`` of the node inputs shrink to the kept
    channels. A node whose input is not MatMul -> BiasGelu (another activation, another
    fusion) is left alone, with a warning. Returns the nodes split."""
    import onnx
    from onnx import numpy_helper

    initializers = {i.name: i for i in model.graph.initializer}
    producers = {output: node for node in model.graph.node for output in node.output}
    split = []
    for node in nodes:
        gelu = producers.get(node.input[0])
        up = producers.get(gelu.input[0]) if gelu is not None else None
        if gelu is None or gelu.op_type != "BiasGelu" or up is None or up.op_type != "MatMul":
            log.warning("%s: input is not MatMul -> BiasGelu; its outliers stay in", node.name)
            continue
        channels = peaks[node.input[0]]
        outliers = np.sort(np.argsort(channels)[::-1][:keep])
        rest = np.setdiff1d(np.arange(len(channels)), outliers)
        parts = {}
        for role, owner, slot, axis in (("up", up, 1, 1), ("bias", gelu, 1, 0),
                                        ("down", node, 1, 0)):
            # new initializers for both parts: the exporter shares identical tensors (zero
            # biases) between layers
            value = numpy_helper.to_array(initializers[owner.input[slot]])
            for part, channels_of_part in (("inlier", rest), ("outlier", outliers)):
                tensor = numpy_helper.from_array(
                    np.ascontiguousarray(np.take(value, channels_of_part, axis=axis)),
                    f"{node.name}_{part}_{role}")
                model.graph.initializer.append(tensor)
                parts[part, role] = tensor.name
            owner.input[slot] = parts["inlier", role]
        prefix, output = f"{node.name}_outlier", node.output[0]
        node.output[0] = f"{output}_inliers"
        path = [
            onnx.helper.make_node("MatMul", [up.input[0], parts["outlier", "up"]],
                                  [f"{prefix}_up_output"], name=f"{prefix}_up"),
            onnx.helper.make_node("BiasGelu", [f"{prefix}_up_output", parts["outlier", "bias"]],
                                  [f"{prefix}_gelu_output"], name=f"{prefix}_gelu",
                                  domain="com.microsoft"),
            onnx.helper.make_node("MatMul", [f"{prefix}_gelu_output", parts["outlier", "down"]],
                                  [f"{prefix}_down_output"], name=f"{prefix}_down"),
            onnx.helper.make_node("Add", [node.output[0], f"{prefix}_down_output"], [output],
                                  name=f"{prefix}_add"),
        ]
        position = list(model.graph.node).index(node) + 1
        for offset, new in enumerate(path):
            model.graph.node.insert(position + offset, new)
        split.append(node)
        peaks[node.input[0]] = channels[rest]
    used = {name for node in model.graph.node for name in node.input}
    for unused in [i for i in model.graph.initializer if i.name not in used]:
        model.graph.initializer.remove(unused)
    return split


def smooth(model, nodes: list, peaks: dict[str, np.ndarray], strength: float) -> None:
    """SmoothQuant (Xiao et al., 2023) in place: for each node computing X @ W, move X's
    outlier channels into W (W' = diag(s) W, X' = X / s, s_j = peak|X_j|^strength /
    max|W_j|^(1 - strength)). Exact in fp32; with one activation scale per tensor, int8 then
    loses far less on the channels that are not outliers."""
    import onnx
    from onnx import numpy_helper

    initializers = {i.name: i for i in model.graph.initializer}
    for node in nodes:
        initializer = initializers[node.input[1]]
        weight = numpy_helper.to_array(initializer)
        scale = (peaks[node.input[0]].clip(1e-5) ** strength
                 / np.abs(weight).max(axis=1).clip(1e-5) ** (1 - strength)).astype(np.float32)
        initializer.CopyFrom(numpy_helper.from_array(weight * scale[:, None], initializer.name))
        inverse = numpy_helper.from_array(1 / scale, f"{node.name}_smooth_scale")
        model.graph.initializer.append(inverse)
        smoothed = f"{node.input[0]}_smoothed_for_{node.name}"
        position = list(model.graph.node).index(node)
        model.graph.node.insert(position, onnx.helper.make_node(
            "Mul", [node.input[0], inverse.name], [smoothed], name=f"{node.name}_smooth"))
        node.input[0] = smoothed


def quantisation_texts() -> list[str]:
    """The texts of ``QUANTISATION_TEXTS`` (one per line; ``#`` lines are comments)."""
    lines = QUANTISATION_TEXTS.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def quantisation_batches(scorer, texts: list[str] | None = None, *,
                         graph: str = "comment") -> list[dict]:
    """``texts`` (default: ``quantisation_texts()``) normalised and tokenised as the scorer
    does for ``graph``, in length-sorted padded batches of 8 (the graph's inputs by name). For
    ``pair`` each text is read with the text before it as its parent and the one seven further
    on as its article."""
    texts = [normalise(t) for t in (quantisation_texts() if texts is None else texts)]
    pad = scorer.tokenizer.pad_token_id
    if graph == "pair":
        n = len(texts)
        encoded = encode_pairs(scorer.tokenizer, texts, [texts[i - 1] for i in range(n)],
                               [texts[(i + 7) % n] for i in range(n)],
                               lengths=scorer.config.lengths,
                               head_fraction=scorer.config.head_fraction)
        return [dict(zip(INPUTS["pair"], pad_pairs([encoded[i] for i in batch], pad_id=pad),
                         strict=True))
                for batch in length_sorted_batches([len(e.input_ids) for e in encoded], 8)]
    encoded = encode_texts(scorer.tokenizer, texts, max_length=scorer.config.max_length,
                           head_fraction=scorer.config.head_fraction)
    return [dict(zip(INPUTS["comment"], pad_arrays([encoded[i] for i in batch], pad_id=pad),
                     strict=True))
            for batch in length_sorted_batches([len(e.input_ids) for e in encoded], 8)]


def prepare_int8(model, nodes: list, families: dict, batches: list[dict], *,
                 strength: float | None = SMOOTHING, outliers: int = OUTLIER_CHANNELS,
                 smooth_down: bool = False) -> list:
    """Ready ``nodes`` of a fused graph for dynamic int8, in place and exactly in fp32: split the
    ``outliers`` largest channels off the FFN-down nodes among them (``split_outliers``), then
    smooth the others (FFN-down too with ``smooth_down``; none when ``strength`` is None) over
    the activation peaks of ``batches`` (``smooth``). ``families``: ``weight_nodes``'s.
    Returns the nodes to quantise: ``nodes`` less any FFN-down the split could not handle
    (int8 there without the split fails the quality guard)."""
    peaks = activation_peaks(model, nodes, batches)
    down = [n for n in nodes if families[n.name][0] == "ffn_down"]
    unsplit: list = []
    if outliers:
        split = split_outliers(model, down, peaks, outliers)
        unsplit = [n for n in down if n not in split]
    if strength is not None:
        smooth(model, nodes if smooth_down else [n for n in nodes if n not in down], peaks,
               strength)
    return [n for n in nodes if n not in unsplit]


def optimise_and_quantise(source: Path, target: Path, *, num_heads: int, hidden_size: int,
                          precision: str, batches: list[dict] = ()) -> dict:
    """Fuse attention, embeddings and GELU with ONNX Runtime's BERT optimizer (``FUSIONS``);
    for ``"int8"`` then ready the layers' weight nodes over ``batches`` (``prepare_int8``) and
    quantise them (``quantise_dynamic``: activations per call, one scale per tensor; weights per
    channel). Returns the fused-operator counts.

    Only the transformer layers' matrices are int8 (``INT8_FAMILIES``): the embeddings and the
    heads stay fp32, as do products of two activations (attention scores). Either way the word
    embeddings are stored in fp16 where that is exact (``half_word_embeddings``), first.
    """
    import onnx
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    for name, value in FUSIONS.items():
        setattr(options, name, value)
    fused = optimize_model(str(source), model_type="bert", num_heads=num_heads,
                           hidden_size=hidden_size, optimization_options=options)
    counts = {k: v for k, v in fused.get_fused_operator_statistics().items() if v}
    model = fused.model
    if half_word_embeddings(model):
        counts["fp16 word embeddings"] = 1
    if precision == "fp32":
        fused.save_model_to_file(str(target))
        return counts
    families = weight_nodes(model, hidden_size)
    nodes = [n for n in model.graph.node if families.get(n.name, ("",))[0] in INT8_FAMILIES]
    nodes = prepare_int8(model, nodes, families, list(batches))
    with tempfile.TemporaryDirectory() as scratch:
        smoothed = Path(scratch) / "smoothed.onnx"
        onnx.save(model, str(smoothed))
        quantise_dynamic(smoothed, target, [n.name for n in nodes])
    return counts


def quantise_dynamic(source: Path, target: Path, nodes: list[str], *,
                     weight_type: str = "QInt8", per_channel: bool = True,
                     reduce_range: bool = False, extra: dict | None = None) -> None:
    """ONNX Runtime's dynamic quantisation of the ``nodes`` (names) of the graph at ``source``
    into ``target``: weights ``weight_type`` (per channel by default), activations quantised per
    call. ``extra``: more of ``quantize_dynamic``'s ``extra_options``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().disabled = True  # quantize_dynamic logs a pre-processing hint
    try:
        quantize_dynamic(
            str(source), str(target), nodes_to_quantize=nodes,
            weight_type=getattr(QuantType, weight_type), per_channel=per_channel,
            reduce_range=reduce_range,
            # the fused graph's contrib ops have no type inference; say they are float
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT,
                           "MatMulConstBOnly": True, **(extra or {})},
        )
    finally:
        logging.getLogger().disabled = False


WEIGHTS = {
    "fp32": "fp32",
    "int8": (f"int8 dynamic, per channel (the layers of both graphs: SmoothQuant {SMOOTHING}, "
             f"FFN-down's {OUTLIER_CHANNELS} outlier channels split off); fp32 (embeddings, "
             "heads and outlier channels)"),
}


def write_shared_initializers(directory: Path, graphs: tuple[str, ...] = GRAPHS, *,
                              min_bytes: int = 1 << 20) -> dict[str, str]:
    """Save each large weight that every one of ``graphs`` holds, byte for byte, once as a
    ``.npy`` file in ``directory``; return ``{initializer name: file name}`` for the manifest.

    Both graphs carry the word-embedding table (23 MB for MiniLM in fp16,
    ``half_word_embeddings``): two copies in a server that opens both.
    ``model.runtime`` maps the file and hands it to every session
    (``SessionOptions.add_initializer``), which then use that one buffer instead of their own
    copy."""
    import onnx
    from onnx import numpy_helper

    # compared as arrays: a small tensor may keep its values in a typed field, not raw_data
    large = [{i.name: numpy_helper.to_array(i)
              for i in onnx.load(str(directory / f"{name}.onnx")).graph.initializer
              if len(i.raw_data) >= min_bytes} for name in graphs]
    first = large[0] if large else {}
    common = sorted(name for name, array in first.items()
                    if all(name in other and other[name].dtype == array.dtype
                           and np.array_equal(other[name], array) for other in large[1:]))
    shared = {}
    for index, name in enumerate(common):
        shared[name] = f"shared_{index}.npy"
        np.save(directory / shared[name], first[name])
    return shared


def build(artifact_dir: Path, output: Path, *, key: str, precision: str) -> Path:
    """Write the runtime form of the artifact at ``artifact_dir`` into ``output`` (created),
    with the graphs' weights at ``precision`` (``WEIGHTS``' keys)."""
    if precision not in WEIGHTS:
        raise ValueError(f"precision must be one of {', '.join(WEIGHTS)}, not {precision!r}")
    import onnxruntime

    started = time.perf_counter()
    scorer = Scorer.from_pretrained(artifact_dir)
    encoder = scorer.config.encoder
    output.mkdir(parents=True)
    fused = {}
    with tempfile.TemporaryDirectory() as scratch:
        export_graphs(scorer, Path(scratch))
        for name in GRAPHS:
            quantised = name in QUANTISED_GRAPHS
            fused[name] = optimise_and_quantise(
                Path(scratch) / f"{name}.onnx", output / f"{name}.onnx",
                num_heads=encoder["num_attention_heads"], hidden_size=encoder["hidden_size"],
                precision=precision if quantised else "fp32",
                batches=quantisation_batches(scorer, graph=name) if quantised else (),
            )
    shared = write_shared_initializers(output)
    manifest = {
        "key": key,
        "model": scorer.config.tag,
        "precision": precision,
        "weights": WEIGHTS[precision],
        "fused_operators": fused,
        "shared_initializers": shared,
        "onnxruntime": onnxruntime.__version__,
        "torch": torch.__version__,
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    (output / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    log.info("runtime form of %s built in %.1f s", scorer.config.tag, manifest["build_seconds"])
    return output
