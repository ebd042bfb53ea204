"""This machine's measured matrix-multiply throughput (fp32, bf16, int8) and the upper bound it
puts on comments/s for the model, with the runtime form's fraction of that bound.

    .venv/bin/python benchmarks/matmul_ceiling.py [--tokens 74] [--seconds 2]

The matmuls are the encoder's own shape: (batch 8 x tokens) x 384 @ 384 x 1536. fp32 through
PyTorch (MKL) and ONNX Runtime (MLAS), bf16 through PyTorch (oneDNN; emulated on a CPU without
AVX512-BF16/AMX), int8 through ONNX Runtime's MatMulInteger (u8 x s8, VNNI where present). The
bound counts only matmul work (2 x multiply-adds) of the 6 encoder layers a comment without
context runs; softmax, LayerNorm, GELU, quantisation, tokenisation and Python come on top.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import real_comments, save, table

from model.artifact import RELEASE_DIR
from model.comments import Comment
from model.loading import load_scorer


def rate(run, operations: float, seconds: float) -> float:
    run()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        run()
        count += 1
    return operations * count / (time.perf_counter() - started) / 1e9


def ort_matmul(m: int, k: int, n: int, *, integer: bool):
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper

    a_type, b_type, out_type = ((TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32)
                                if integer else (TensorProto.FLOAT,) * 3)
    node = helper.make_node("MatMulInteger" if integer else "MatMul", ["a", "b"], ["y"])
    rng = np.random.default_rng(0)
    b = (rng.integers(-127, 127, (k, n), dtype=np.int8) if integer
         else rng.standard_normal((k, n), dtype=np.float32))
    graph = helper.make_graph([node], "mm", [helper.make_tensor_value_info("a", a_type, [m, k])],
                              [helper.make_tensor_value_info("y", out_type, [m, n])],
                              [onnx.numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    a = (rng.integers(0, 255, (m, k), dtype=np.uint8) if integer
         else rng.standard_normal((m, k), dtype=np.float32))
    return lambda: session.run(None, {"a": a})


def flops_per_comment(tokens: float, *, hidden: int, intermediate: int, layers: int) -> float:
    """Matmul operations (2 per multiply-add) of one comment through ``layers`` layers."""
    projections = 4 * hidden * hidden + 2 * hidden * intermediate  # q, k, v, o + FFN in/out
    attention = 2 * tokens * hidden  # scores and weighted sum, per token
    return 2 * tokens * layers * (projections + attention)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(RELEASE_DIR))
    parser.add_argument("--tokens", type=float, default=None,
                        help="mean tokens per comment (default: measured on the comments)")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--n", type=int, default=480)
    args = parser.parse_args()

    runtime = load_scorer(args.model, backend="onnx")
    comments = [Comment(text=t) for t in real_comments(args.n)]
    from model.encoding import encode_texts
    from model.text import normalise

    lengths = [len(e.input_ids) for e in encode_texts(
        runtime.tokenizer, [normalise(c.text) for c in comments],
        max_length=runtime.config.max_length, head_fraction=runtime.config.head_fraction)]
    tokens = args.tokens or sum(lengths) / len(lengths)
    encoder = runtime.config.encoder
    m, k, n = 8 * round(tokens), encoder["hidden_size"], encoder["intermediate_size"]
    operations = 2 * m * k * n
    a32, b32 = torch.randn(m, k), torch.randn(k, n)
    a16, b16 = a32.to(torch.bfloat16), b32.to(torch.bfloat16)
    peaks = {
        "fp32, PyTorch (MKL)": rate(lambda: a32 @ b32, operations, args.seconds),
        "fp32, ONNX Runtime (MLAS)": rate(ort_matmul(m, k, n, integer=False), operations,
                                          args.seconds),
        "bf16, PyTorch (oneDNN)": rate(lambda: a16 @ b16, operations, args.seconds),
        "int8, ONNX Runtime MatMulInteger": rate(ort_matmul(m, k, n, integer=True), operations,
                                                 args.seconds),
    }
    layers = encoder["num_hidden_layers"]  # a comment without context: trunk + fine-tuned top
    per_comment = flops_per_comment(tokens, hidden=k, intermediate=n, layers=layers)
    runtime.score(comments[:16])
    started = time.perf_counter()
    runtime.score(comments, batch_size=8)
    measured = len(comments) / (time.perf_counter() - started)
    int8_bound = peaks["int8, ONNX Runtime MatMulInteger"] * 1e9 / per_comment
    rows = [[name, round(gops, 1), round(gops * 1e9 / per_comment, 1)]
            for name, gops in peaks.items()]
    print(f"matmul {m}x{k} @ {k}x{n}; {tokens:.1f} tokens per comment -> "
          f"{per_comment / 1e9:.2f} GOP of matmul per comment ({layers} layers)")
    print(table(["matmul", "GOP/s", "upper bound comments/s"], rows))
    print(f"runtime form measured in the same run: {measured:.1f} comments/s = "
          f"{measured / int8_bound:.0%} of the int8 bound")

    def chart(axes) -> None:
        names = [*peaks, "runtime form (measured)"]
        values = [v * 1e9 / per_comment for v in peaks.values()] + [measured]
        axes.barh(names, values, color=["tab:blue", "tab:blue", "tab:orange", "tab:green",
                                         "tab:red"])
        axes.set_xlabel(f"comments/s ({tokens:.0f} tokens, matmul work only)")
        axes.set_title("Upper bounds from measured matmul throughput vs the runtime form")

    save("matmul_ceiling", {"tokens": tokens, "matmul_shape": [m, k, n], "gops": peaks,
                            "ops_per_comment": per_comment, "runtime_comments_per_s": measured,
                            "runtime_fraction_of_int8_bound": measured / int8_bound}, chart)


if __name__ == "__main__":
    main()
