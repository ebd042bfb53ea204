"""The runtime form (ONNX Runtime) on the tiny random artifact: the fp32 form gives PyTorch's
results, the default int8 form close ones; the cache keyed by weights and precision,
automatic choice in ``load_scorer``, and no torch import."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from model import loading
from model.artifact import ArtifactError
from model.loading import DEFAULT_PRECISION, build_runtime, load_scorer, runtime_dir
from model.runtime import OnnxScorer, open_session
from model.scorer import Scorer

ROOT = Path(__file__).resolve().parents[2]
ARTICLE = {"title": "war in syria", "text": "the coalition will bomb syria"}
COMMENTS = [
    {"id": "a", "text": "you are an idiot"},
    {"id": "b", "text": "thanks , good point about the war", "article": ARTICLE,
     "parent": "i think the war is wrong"},
    {"id": "c", "text": "the weather is great for a football game", "article": {"title": "cake"}},
    {"id": "d", "text": "shut up moron", "parent": "great idea"},
    {"id": "e", "text": "i agree with this comment " * 30},
    {"id": "f", "text": "stupid stupid police law", "article": ARTICLE},
]


@pytest.fixture(scope="module")
def fp32_runtime(tiny_model) -> OnnxScorer:
    """No quantisation: must equal PyTorch to float precision."""
    scorer = load_scorer(tiny_model, backend="onnx", precision="fp32")
    assert isinstance(scorer, OnnxScorer)
    return scorer


@pytest.fixture(scope="module")
def int8_runtime(tiny_model) -> OnnxScorer:
    scorer = load_scorer(tiny_model, backend="onnx", precision="int8")
    assert isinstance(scorer, OnnxScorer)
    return scorer


def manifest(scorer: OnnxScorer) -> dict:
    return json.loads((scorer.runtime_dir / "runtime.json").read_text(encoding="utf-8"))


def comment_graph_ops(scorer: OnnxScorer) -> set[str]:
    import onnx

    return {node.op_type for node in onnx.load(str(scorer.runtime_dir / "comment.onnx")).graph.node}


def assert_same_results(actual, expected, *, tol: float) -> None:
    for a, e in zip(actual, expected, strict=True):
        assert a.id == e.id and a.model == e.model and a.unscored == e.unscored
        assert a.scores.keys() == e.scores.keys()
        for name, value in e.scores.items():
            if value is None:
                assert a.scores[name] is None, name
            else:
                assert a.scores[name] == pytest.approx(value, abs=tol), (a.id, name)


def test_fp32_runtime_equals_pytorch_with_and_without_context(fp32_runtime, tiny_scorer):
    expected = tiny_scorer.score(COMMENTS, spans=True, batch_size=4)
    actual = fp32_runtime.score(COMMENTS, spans=True, batch_size=4)
    assert_same_results(actual, expected, tol=1e-5)
    assert [r.flags for r in actual] == [r.flags for r in expected]
    assert [r.spans for r in actual] == [r.spans for r in expected]


def test_fp32_runtime_off_topic_equals_pytorch_at_every_context_kind(fp32_runtime, tiny_scorer):
    items = [{"text": "good point about the war", **context} for context in (
        {"article": ARTICLE}, {"parent": "i think the war is wrong"},
        {"article": ARTICLE, "parent": "you " * 80}, {"article": {"text": "war " * 400}})]
    expected = [r.scores["off_topic"] for r in tiny_scorer.score(items)]
    actual = [r.scores["off_topic"] for r in fp32_runtime.score(items)]
    np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_int8_runtime_stays_close_to_pytorch(int8_runtime, tiny_scorer):
    expected = tiny_scorer.score(COMMENTS)
    actual = int8_runtime.score(COMMENTS)
    assert_same_results(actual, expected, tol=0.05)


def test_runtime_results_have_the_same_structure(int8_runtime, tiny_scorer):
    for runtime, torch_form in zip(int8_runtime.score(COMMENTS, spans=True),
                                   tiny_scorer.score(COMMENTS, spans=True), strict=True):
        assert runtime.to_dict().keys() == torch_form.to_dict().keys()
        assert runtime.spans.keys() == torch_form.spans.keys()
    single = int8_runtime.score("you are an idiot")
    assert single.to_dict() == int8_runtime.score(["you are an idiot"])[0].to_dict()


def test_runtime_batch_sizes_agree(fp32_runtime, int8_runtime):
    assert_same_results(fp32_runtime.score(COMMENTS, batch_size=8),
                        fp32_runtime.score(COMMENTS, batch_size=1), tol=1e-5)
    one = int8_runtime.score(COMMENTS, batch_size=1)
    eight = int8_runtime.score(COMMENTS, batch_size=8)
    # activations are quantised with one scale per batch, so batch-mates move a score a little
    assert_same_results(eight, one, tol=0.01)


def test_auto_backend_picks_the_runtime_form_at_the_default_precision(tiny_model):
    scorer = load_scorer(tiny_model)
    assert isinstance(scorer, OnnxScorer)
    assert DEFAULT_PRECISION == "int8"  # within the 0.005 ROC-AUC guard (RESULTS.md, 5)
    assert manifest(scorer)["precision"] == "int8"
    assert isinstance(load_scorer(tiny_model, backend="torch"), Scorer)


def test_precisions_build_different_comment_graphs(fp32_runtime, int8_runtime):
    assert fp32_runtime.runtime_dir != int8_runtime.runtime_dir
    assert (manifest(fp32_runtime)["precision"], manifest(int8_runtime)["precision"]) == (
        "fp32", "int8")
    assert "MatMulInteger" not in comment_graph_ops(fp32_runtime)
    assert "MatMulInteger" in comment_graph_ops(int8_runtime)


def test_layer_norms_stay_unfused_from_skip_layer_norm(fp32_runtime, int8_runtime,
                                                       tmp_path):
    """SkipLayerNormalization is 4x slower than Add + LayerNormalization on these CPUs: neither
    the build nor the session that opens the graph may fuse it."""
    import onnx

    for runtime in (fp32_runtime, int8_runtime):
        assert "SkipLayerNormalization" not in comment_graph_ops(runtime)
        assert "LayerNormalization" in comment_graph_ops(runtime)
    opened = tmp_path / "opened.onnx"
    open_session(int8_runtime.runtime_dir / "comment.onnx", saved_as=opened)
    ops = {node.op_type for node in onnx.load(str(opened)).graph.node}
    assert "SkipLayerNormalization" not in ops and "LayerNormalization" in ops


def test_int8_form_quantises_the_layers_and_keeps_embeddings_and_heads_fp32(int8_runtime):
    ops = comment_graph_ops(int8_runtime)
    assert {"QAttention", "MatMulInteger"} <= ops
    assert "EmbedLayerNormalization" in ops and "QEmbedLayerNormalization" not in ops
    assert "MatMul" in ops  # the heads


def test_every_layer_of_both_graphs_is_fused_and_int8(int8_runtime):
    """The comment graph runs the trunk and the fine-tuned top, the pair graph the trunk and
    the off-topic branch's own top: every layer fused and quantised (weight_nodes by name)."""
    import onnx

    layers = int8_runtime.config.encoder["num_hidden_layers"]
    for graph, expected in (("comment", layers), ("pair", layers)):
        ops = [n.op_type for n in onnx.load(str(int8_runtime.runtime_dir / f"{graph}.onnx"))
               .graph.node]
        assert ops.count("QAttention") == expected and "Softmax" not in ops, graph
        assert ops.count("MatMulInteger") == 3 * expected, graph  # attn_out, FFN up and down


WORD_EMBEDDINGS = "network.encoder.embeddings.word_embeddings.weight"


def test_weights_both_graphs_hold_are_shared_from_one_file(tiny_model, int8_runtime,
                                                                    tmp_path):
    """The build saves the word embeddings once (the tiny model's are under the 1 MB floor,
    so here with none); both sessions then use that one mapped array, scores
    unchanged. A missing file is an incomplete runtime form."""
    from model.runtime_build import write_shared_initializers

    assert manifest(int8_runtime)["shared_initializers"] == {}  # 199 x 32 floats
    directory = shutil.copytree(int8_runtime.runtime_dir, tmp_path / "runtime")
    shared = write_shared_initializers(directory, min_bytes=0)
    assert WORD_EMBEDDINGS in shared and (directory / shared[WORD_EMBEDDINGS]).exists()
    built = {**manifest(int8_runtime), "shared_initializers": shared}
    (directory / "runtime.json").write_text(json.dumps(built), encoding="utf-8")
    scorer = OnnxScorer.from_pretrained(tiny_model, directory).preload()
    assert set(scorer._shared) == set(shared)
    sample = [{"text": "you are an idiot", "article": {"title": "war"}, "parent": "good point"},
              "thanks for the thoughtful reply"]
    assert_same_results(scorer.score(sample), int8_runtime.score(sample), tol=1e-6)
    (directory / shared[WORD_EMBEDDINGS]).unlink()
    with pytest.raises(ArtifactError, match=shared[WORD_EMBEDDINGS]):
        OnnxScorer.from_pretrained(tiny_model, directory)



def embed_layer_norm_graph(table: np.ndarray):
    """ONNX Runtime's fused embedding node alone: ids (int32) and a 0/1 mask in, the
    normalised embeddings and the mask index (each row's length) out."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    hidden = table.shape[1]
    weights = {"words": table, "positions": rng.normal(size=(16, hidden)).astype(np.float32),
               "types": rng.normal(size=(2, hidden)).astype(np.float32),
               "gamma": rng.normal(size=hidden).astype(np.float32),
               "beta": rng.normal(size=hidden).astype(np.float32)}
    node = helper.make_node("EmbedLayerNormalization",
                            ["ids", "segments", "words", "positions", "types", "gamma", "beta",
                             "mask"], ["out", "mask_index"], name="EmbedLayerNormalization_0",
                            domain="com.microsoft", epsilon=1e-12)
    graph = helper.make_graph(
        [node], "embed",
        [helper.make_tensor_value_info(n, TensorProto.INT32, ["B", "T"])
         for n in ("ids", "segments", "mask")],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["B", "T", hidden]),
         helper.make_tensor_value_info("mask_index", TensorProto.INT32, ["B"])],
        [numpy_helper.from_array(v, k) for k, v in weights.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                   helper.make_opsetid("com.microsoft", 1)])


def test_word_embeddings_in_fp16_give_the_fused_node_its_own_results():
    """An fp16-exact table is stored in fp16 and the fused node gives the same bits; a table
    fp16 would round is left in fp32."""
    import onnx

    from model.runtime_build import half_word_embeddings

    rng = np.random.default_rng(0)
    table = rng.normal(size=(50, 8)).astype(np.float16).astype(np.float32)
    model = embed_layer_norm_graph(table)
    ids = rng.integers(0, 50, size=(3, 7)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[1, 4:] = 0
    feeds = {"ids": ids, "segments": np.zeros_like(ids), "mask": mask}
    before = open_session(model.SerializeToString()).run(None, feeds)
    assert half_word_embeddings(model)
    words = next(i for i in model.graph.initializer if i.name == "words")
    assert words.data_type == onnx.TensorProto.FLOAT16
    after = open_session(model.SerializeToString()).run(None, feeds)
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(new, old)
    rounded = embed_layer_norm_graph(rng.normal(size=(50, 8)).astype(np.float32))
    assert not half_word_embeddings(rounded)
    assert next(i for i in rounded.graph.initializer if i.name == "words").data_type == (
        onnx.TensorProto.FLOAT)


def test_built_graphs_hold_fp16_word_embeddings(int8_runtime, fp32_runtime):
    """The tiny artifact is saved in fp16, as a release is: both graphs of both forms take
    their word embeddings from an fp16 table (fp32 results stay PyTorch's, tested above)."""
    import onnx

    for runtime in (int8_runtime, fp32_runtime):
        for graph in ("comment", "pair"):
            model = onnx.load(str(runtime.runtime_dir / f"{graph}.onnx"))
            words = next(i for i in model.graph.initializer if i.name == WORD_EMBEDDINGS)
            assert words.data_type == onnx.TensorProto.FLOAT16, (runtime.runtime_dir, graph)
            assert manifest(runtime)["fused_operators"][graph]["fp16 word embeddings"] == 1

def test_int8_preparation_smooths_and_splits_without_changing_fp32_results(fp32_runtime):
    """SmoothQuant's rescaling and FFN-down's outlier split are exact before quantisation:
    every output of the fp32 comment graph stays put, over inputs other than the ones the peaks
    came from."""
    import onnx

    from model.runtime_build import INT8_FAMILIES, OUTLIER_CHANNELS, prepare_int8, weight_nodes

    model = onnx.load(str(fp32_runtime.runtime_dir / "comment.onnx"))
    encoder = fp32_runtime.config.encoder
    layers = encoder["num_hidden_layers"]
    families = weight_nodes(model, encoder["hidden_size"])
    found = [f for f, _ in families.values()]
    assert {f: found.count(f) for f in INT8_FAMILIES} == dict.fromkeys(INT8_FAMILIES, layers)
    assert "embed" in found and "heads" in found
    assert {k for f, k in families.values() if f in INT8_FAMILIES} == {
        f"layer.{i}" for i in range(layers)}

    def run(graph, ids, mask):
        return open_session(graph.SerializeToString()).run(
            None, {"input_ids": ids, "attention_mask": mask})

    rng = np.random.default_rng(0)
    fit, check = (rng.integers(5, 60, size=(3, 12)) for _ in range(2))
    mask = np.ones_like(fit)
    mask[1, 7:] = 0
    nodes = [n for n in model.graph.node if families.get(n.name, ("",))[0] in INT8_FAMILIES]
    down = {n.name for n in nodes if families[n.name][0] == "ffn_down"}
    before = run(model, check, mask)
    assert prepare_int8(model, nodes, families,
                        [{"input_ids": fit, "attention_mask": mask}]) == nodes
    smoothed = {n.name.removesuffix("_smooth") for n in model.graph.node
                if n.op_type == "Mul" and n.name.endswith("_smooth")}
    assert smoothed == {n.name for n in nodes} - down  # FFN-down is split, not smoothed
    weights = {i.name: tuple(i.dims) for i in model.graph.initializer}
    for node in (n for n in model.graph.node if n.name in down):
        rows = encoder["intermediate_size"] - OUTLIER_CHANNELS
        assert weights[node.input[1]] == (rows, encoder["hidden_size"])
        assert weights[f"{node.name}_outlier_down"] == (OUTLIER_CHANNELS,
                                                               encoder["hidden_size"])
    for old, new in zip(before, run(model, check, mask), strict=True):
        np.testing.assert_allclose(new, old, rtol=1e-4, atol=1e-5)


def test_a_ffn_down_the_split_cannot_handle_stays_fp32(fp32_runtime, caplog):
    """Another activation or fusion before FFN-down: no split, a warning, and the node is not
    quantised (int8 FFN-down without the split fails the guard)."""
    import onnx

    from model.runtime_build import prepare_int8, split_outliers, weight_nodes

    model = onnx.load(str(fp32_runtime.runtime_dir / "comment.onnx"))
    families = weight_nodes(model, fp32_runtime.config.encoder["hidden_size"])
    by_family = {}
    for node in model.graph.node:
        by_family.setdefault(families.get(node.name, ("",))[0], []).append(node)
    # the attention output's input comes from Attention, not MatMul -> BiasGelu
    wrong = by_family["attn_out"][0]
    assert split_outliers(model, [wrong], {wrong.input[0]: np.ones(4)}, 2) == []
    assert "outliers stay in" in caplog.text
    families = {**families, wrong.name: ("ffn_down", families[wrong.name][1])}
    ids = np.array([[5, 6, 7, 8]])
    nodes = [wrong, by_family["ffn_up"][0]]
    assert prepare_int8(model, nodes, families,
                        [{"input_ids": ids, "attention_mask": np.ones_like(ids)}]) == nodes[1:]


def test_precision_comes_from_the_environment_unless_given(tiny_model, monkeypatch,
                                                           fp32_runtime, int8_runtime):
    assert runtime_dir(tiny_model) == int8_runtime.runtime_dir
    monkeypatch.setenv("CIVILITY_RUNTIME_PRECISION", "fp32")
    assert runtime_dir(tiny_model) == fp32_runtime.runtime_dir
    assert load_scorer(tiny_model, build=False).runtime_dir == fp32_runtime.runtime_dir
    assert load_scorer(tiny_model, build=False, precision="int8").runtime_dir == (
        int8_runtime.runtime_dir)


def test_unknown_precision_is_refused_naming_where_it_came_from(tiny_model, monkeypatch):
    with pytest.raises(ValueError, match="precision must be one of fp32, int8"):
        load_scorer(tiny_model, precision="int4")
    monkeypatch.setenv("CIVILITY_RUNTIME_PRECISION", "fp16")
    with pytest.raises(ValueError, match="CIVILITY_RUNTIME_PRECISION must be one of"):
        load_scorer(tiny_model)
    with pytest.raises(ValueError, match="CIVILITY_RUNTIME_PRECISION"):
        build_runtime(tiny_model)


def test_unknown_backend_is_refused(tiny_model):
    with pytest.raises(ValueError, match="backend"):
        load_scorer(tiny_model, backend="tensorflow")


def test_onnx_backend_without_a_build_says_how_to_build(tiny_model, tmp_path):
    with pytest.raises(ArtifactError, match="build-runtime --precision int8"):
        load_scorer(tiny_model, backend="onnx", cache_dir=tmp_path, build=False,
                    precision="int8")


def test_auto_backend_falls_back_to_pytorch_when_the_build_fails(tiny_model, tmp_path,
                                                                 monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(loading, "build_runtime", broken)
    assert isinstance(load_scorer(tiny_model, cache_dir=tmp_path), Scorer)
    with pytest.raises(ArtifactError, match="exporter exploded"):
        load_scorer(tiny_model, backend="onnx", cache_dir=tmp_path)


def test_runtime_is_built_once_and_reused(tiny_model, tmp_path, monkeypatch):
    first = load_scorer(tiny_model, cache_dir=tmp_path)
    assert manifest(first)["precision"] == DEFAULT_PRECISION
    monkeypatch.setattr(loading, "build_runtime", lambda *a, **k: pytest.fail("rebuilt"))
    second = load_scorer(tiny_model, cache_dir=tmp_path)
    assert second.runtime_dir == first.runtime_dir


def test_changed_weights_get_a_new_runtime_form(tiny_model, tmp_path):
    model = shutil.copytree(tiny_model, tmp_path / "model")
    before = runtime_dir(model, cache_dir=tmp_path / "cache")
    old = load_scorer(model, cache_dir=tmp_path / "cache").score("you are an idiot")
    weights = load_file(str(model / "model.safetensors"))
    weights["heads.bias"] = weights["heads.bias"] + np.float16(3.0)
    save_file(weights, str(model / "model.safetensors"), metadata={"format": "pt"})
    after = runtime_dir(model, cache_dir=tmp_path / "cache")
    assert after != before
    scorer = load_scorer(model, cache_dir=tmp_path / "cache")
    assert scorer.runtime_dir == after and (after / "runtime.json").exists()
    new = scorer.score("you are an idiot")
    assert new.scores["incivility"] > old.scores["incivility"]


def test_scoring_with_the_runtime_form_imports_neither_torch_nor_transformers(tiny_model,
                                                                              int8_runtime):
    code = f"""
import sys
from model.loading import load_scorer
scorer = load_scorer({str(tiny_model)!r}, backend="onnx", build=False)
result = scorer.score([{{"text": "you are an idiot", "parent": "great idea"}}, "thanks"],
                      spans=True)
assert type(scorer).__name__ == "OnnxScorer", type(scorer)
assert result[0].scores["off_topic"] is not None and result[1].scores["off_topic"] is None
heavy = sorted(m for m in ("torch", "transformers") if m in sys.modules)
assert not heavy, heavy
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
