"""Build the runtime form of an artifact: ONNX graphs of the network, fused by ONNX Runtime's
transformer optimizer, fp32 (the default) or, at ``precision="int8"``, with the comment graph's
weights quantised to int8 (dynamic, per channel). Needs PyTorch, ``onnx`` and
``onnxruntime``; the result is loaded by ``model.runtime`` without PyTorch. Called through
``model.loading.build_runtime`` (``civility build-runtime [--precision int8]``).

Four graphs, so that a comment without context never pays for the topic branch:

    comment.onnx        ids, mask -> attribute logits, span logits (trunk + fine-tuned top;
                        fp32 or int8)
    comment_topic.onnx  ids, mask -> the same plus the comment's unit topic embedding (fp32)
    embed.onnx          ids, mask -> unit topic embedding of a context text (fp32)
    context_head.onnx   comment, article, parent embeddings and flags -> off-topic logit (fp32)

Measured on the release model (``benchmarks/runtime_quality.py``): see benchmarks/RESULTS.md for
each attribute's validation ROC-AUC next to PyTorch fp32. fp32 graphs give PyTorch's ROC-AUC
exactly; int8 moved the UCC attributes' by up to 0.029 (sarcasm), past the 0.005 guard, and
int8 only in the shared trunk (embeddings + layers 0-2, fp32 top) still by up to 0.016.
Per-channel int8 moved single scores about half as far as per-tensor int8 (mean 0.0044 vs
0.0081).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch import nn

from model.loading import MANIFEST
from model.network import CivilityNetwork
from model.runtime import CONTEXT_GRAPH, ENCODER_GRAPHS
from model.scorer import Scorer

log = logging.getLogger(__name__)

# Only the no-context graph can be int8. The topic embedding that off_topic reads is fragile:
# measured on the coalition thread, int8 anywhere on its path (trunk, topic layers or context
# embeddings) moved off_topic's ROC-AUC by 0.04-0.09, and int8 in ``comment_topic`` moved
# incivility's by 0.012; fp32 graphs match PyTorch to 1e-6. Contexts are encoded once and
# cached, so ``embed`` in fp32 costs little; a comment with context pays fp32 for 9 layers.
QUANTISED_GRAPHS = ("comment",)
TOKEN_INPUTS = ("input_ids", "attention_mask")
CONTEXT_INPUTS = ("comment", "article", "parent", "has_article", "has_parent")


class _CommentGraph(nn.Module):
    def __init__(self, network: CivilityNetwork, *, topic: bool) -> None:
        super().__init__()
        self.network, self.topic = network, topic

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        states, topic = self.network.encode(input_ids, attention_mask, topic=self.topic)
        out = self.network.comment_heads(states, topic, attention_mask)
        if self.topic:
            return out["logits"], out["span_logits"], topic
        return out["logits"], out["span_logits"]


class _EmbedGraph(nn.Module):
    def __init__(self, network: CivilityNetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.network.embed(input_ids, attention_mask)[1]


class _ContextGraph(nn.Module):
    def __init__(self, network: CivilityNetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, comment, article, parent, has_article, has_parent) -> torch.Tensor:
        return self.network.context_logit(
            comment, article, parent, has_article=has_article, has_parent=has_parent
        )


def _eager_attention(network: CivilityNetwork) -> None:
    """ONNX Runtime fuses attention only in graphs exported from the eager implementation (SDPA
    exports as a pattern its optimizer does not recognise). Layers copied for the topic branch
    carry their own config object, so every module's is set."""
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


def export_graphs(scorer: Scorer, directory: Path) -> None:
    """Export the four fp32 graphs of ``scorer``'s network into ``directory``."""
    network = scorer.network.eval()
    _eager_attention(network)
    ids = torch.full((2, 16), scorer.tokenizer.pad_token_id + 5, dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0
    tokens = {name: {0: "batch", 1: "tokens"} for name in TOKEN_INPUTS}
    per_comment = {"logits": {0: "batch"}, "span_logits": {0: "batch", 1: "tokens"},
                   "topic": {0: "batch"}}
    for name, module, outputs in (
        ("comment", _CommentGraph(network, topic=False), ("logits", "span_logits")),
        ("comment_topic", _CommentGraph(network, topic=True), ("logits", "span_logits", "topic")),
        ("embed", _EmbedGraph(network), ("topic",)),
    ):
        dynamic = {**tokens, **{o: per_comment[o] for o in outputs}}
        _export(module, (ids, mask), directory / f"{name}.onnx", names=TOKEN_INPUTS,
                outputs=outputs, dynamic=dynamic)
    hidden = network.heads.in_features
    vectors = tuple(torch.nn.functional.normalize(torch.randn(2, hidden), dim=-1)
                    for _ in range(3))
    flags = (torch.tensor([True, False]), torch.tensor([False, True]))
    _export(_ContextGraph(network), (*vectors, *flags), directory / f"{CONTEXT_GRAPH}.onnx",
            names=CONTEXT_INPUTS, outputs=("context_logit",),
            dynamic={name: {0: "batch"} for name in (*CONTEXT_INPUTS, "context_logit")})


def optimise_and_quantise(source: Path, target: Path, *, num_heads: int, hidden_size: int,
                          precision: str) -> dict:
    """Fuse attention/LayerNorm/GELU with ONNX Runtime's BERT optimizer, then, for ``"int8"``,
    quantise the weights to int8 (dynamic quantisation: activations are quantised per call).
    Returns the fused-operator counts.

    Products of two activations (attention scores in layers the optimizer did not fuse) stay
    fp32.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    fused = optimize_model(str(source), model_type="bert", num_heads=num_heads,
                           hidden_size=hidden_size)
    counts = {k: v for k, v in fused.get_fused_operator_statistics().items() if v}
    if precision == "fp32":
        fused.save_model_to_file(str(target))
        return counts
    with tempfile.TemporaryDirectory() as scratch:
        fused_path = Path(scratch) / "fused.onnx"
        fused.save_model_to_file(str(fused_path))
        logging.getLogger().disabled = True  # quantize_dynamic logs a pre-processing hint
        try:
            quantize_dynamic(
                str(fused_path), str(target), weight_type=QuantType.QInt8, per_channel=True,
                # the fused graph's contrib ops have no type inference; say they are float
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT,
                               "MatMulConstBOnly": True},
            )
        finally:
            logging.getLogger().disabled = False
    return counts


WEIGHTS = {
    "fp32": "fp32",
    "int8": "int8 dynamic, per channel (comment); fp32 (comment_topic, embed)",
}


def build(artifact_dir: Path, output: Path, *, key: str, precision: str) -> Path:
    """Write the runtime form of the artifact at ``artifact_dir`` into ``output`` (created),
    with the ``comment`` graph's weights at ``precision`` (``WEIGHTS``' keys)."""
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
        for name in ENCODER_GRAPHS:
            fused[name] = optimise_and_quantise(
                Path(scratch) / f"{name}.onnx", output / f"{name}.onnx",
                num_heads=encoder["num_attention_heads"], hidden_size=encoder["hidden_size"],
                precision=precision if name in QUANTISED_GRAPHS else "fp32",
            )
        (Path(scratch) / f"{CONTEXT_GRAPH}.onnx").replace(output / f"{CONTEXT_GRAPH}.onnx")
    manifest = {
        "key": key,
        "model": scorer.config.tag,
        "precision": precision,
        "weights": WEIGHTS[precision],
        "fused_operators": fused,
        "onnxruntime": onnxruntime.__version__,
        "torch": torch.__version__,
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    (output / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    log.info("runtime form of %s built in %.1f s", scorer.config.tag, manifest["build_seconds"])
    return output
