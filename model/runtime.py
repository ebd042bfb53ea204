"""The runtime form of the scorer: ONNX Runtime on int8 (or fp32) graphs built from the artifact
(``model.runtime_build``), with the PyTorch ``Scorer``'s API (and, in fp32, its results). Imports
neither torch nor transformers: the tokenizer is ``tokenizer.json`` through ``tokenizers``.

Use ``model.loading.load_scorer``, which builds the graphs when missing and picks this form."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np

from model import artifact
from model.artifact import ArtifactError
from model.encoding import FastTokenizer
from model.loading import MANIFEST
from model.scoring import ScorerBase

# comments alone (the comment attributes) and comments read with their context (off_topic)
GRAPHS = ("comment", "pair")
# ONNX Runtime fuses residual Add + LayerNormalization into SkipLayerNormalization when it opens
# a graph; on this project's CPUs (onnxruntime 1.32) that kernel is 4x slower than the two ops it
# replaces (0.73 vs 0.17 ms for 8 x 80 x 384, two threads) and took 18% of the comment graph's
# time. The build leaves them unfused (``runtime_build.FUSIONS``) and sessions keep them so.
DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)
# Every session allocates its activations from one CPU arena for the process instead of an arena
# of its own: each arena grows to the largest batch it has seen and keeps it. Measured with four
# graphs open after 480 comments without context and the coalition thread with it: 394 -> 292 MB
# resident, same throughput (interleaved rounds: 204 vs 203 comments/s without context, 107.5 vs
# 107 with); no arena at all: 218 MB, 5-6% slower.
_arena_lock = threading.Lock()
_arena_registered = False


def _register_shared_arena(onnxruntime) -> None:
    global _arena_registered
    with _arena_lock:
        if _arena_registered:
            return
        memory = onnxruntime.OrtMemoryInfo("Cpu", onnxruntime.OrtAllocatorType.ORT_ARENA_ALLOCATOR,
                                           0, onnxruntime.OrtMemType.DEFAULT)
        try:
            # the arena's defaults (no cap, chunks growing by powers of two)
            onnxruntime.create_and_register_allocator(memory, onnxruntime.OrtArenaCfg(0, 0, -1, -1))
        except Exception as error:  # noqa: BLE001 (onnxruntime's Fail): one is registered already
            if "already" not in str(error).lower():
                raise
        _arena_registered = True


def open_session(graph: Path | bytes, *, threads: int | None = None,
                 saved_as: Path | None = None,
                 disabled_optimizers: tuple[str, ...] = DISABLED_OPTIMIZERS,
                 initializers: dict | None = None):
    """An ONNX Runtime CPU session on ``graph`` (a path or serialised model) with ``threads``
    intra-op threads (default: the CPUs this process may use), without ``disabled_optimizers``
    (benchmarks pass ``()`` for ONNX Runtime's defaults); ``saved_as`` writes the graph as the
    session optimised it. ``initializers`` (name -> ``OrtValue``) replace the graph's own
    weights of those names: sessions given the same ``OrtValue`` share its memory. Activations
    come from the process's one CPU arena."""
    import onnxruntime

    _register_shared_arena(onnxruntime)
    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.use_env_allocators", "1")
    options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    for name, value in (initializers or {}).items():
        options.add_initializer(name, value)
    if saved_as is not None:
        options.optimized_model_filepath = str(saved_as)
    return onnxruntime.InferenceSession(
        graph if isinstance(graph, bytes) else str(graph), options,
        providers=["CPUExecutionProvider"], disabled_optimizers=list(disabled_optimizers),
    )


class OnnxScorer(ScorerBase):
    """``Scorer``'s API on ONNX Runtime (int8 or fp32 graphs, length-sorted dynamic batches).

    >>> from model.loading import load_scorer
    >>> scorer = load_scorer("model/release")                        # doctest: +SKIP
    >>> scorer.score("You're an idiot.").flags                        # doctest: +SKIP
    ['incivility', 'personal_attack', 'insult', ...]

    Graph sessions open on first use: a comment without context needs only ``comment``;
    ``preload()`` opens both (a server calls it at start-up).
    """

    def __init__(self, runtime_dir: Path, tokenizer, config: artifact.ModelConfig, *,
                 thresholds: dict, calibration: dict, path: Path | None = None,
                 threads: int | None = None) -> None:
        super().__init__(tokenizer, config, thresholds=thresholds, calibration=calibration,
                         path=path)
        self.runtime_dir = Path(runtime_dir)
        manifest = self.runtime_dir / MANIFEST
        built = json.loads(manifest.read_text(encoding="utf-8")) if manifest.exists() else {}
        self.precision = built.get("precision")
        self.threads = threads
        self._shared = self._map_shared(built.get("shared_initializers", {}))
        self._sessions: dict[str, object] = {}
        self._open_lock = threading.Lock()
        self._session("comment")  # fail at load, not at the first request

    @classmethod
    def from_pretrained(cls, path: str | Path, runtime_dir: str | Path, *,
                        threads: int | None = None) -> OnnxScorer:
        """Load the artifact at ``path`` with its runtime graphs from ``runtime_dir``."""
        path = Path(path)
        artifact.check_directory(path)
        missing = [g for g in GRAPHS if not (Path(runtime_dir) / f"{g}.onnx").exists()]
        if missing:
            raise ArtifactError(f"{runtime_dir}: runtime form incomplete (missing {missing})")
        try:
            tokenizer = FastTokenizer(path)
        except (OSError, ValueError) as error:  # no tokenizer.json, or one without [CLS]
            raise ArtifactError(f"{path}: cannot load tokenizer ({error})") from None
        return cls(
            Path(runtime_dir), tokenizer, artifact.read_config(path),
            thresholds=artifact.read_json(path / artifact.THRESHOLDS),
            calibration=artifact.read_json(path / artifact.CALIBRATION),
            path=path, threads=threads,
        )

    def preload(self) -> OnnxScorer:
        """Open every graph now (otherwise the first comment with context opens ``pair``)."""
        for name in GRAPHS:
            self._session(name)
        return self

    def _session(self, name: str):
        session = self._sessions.get(name)
        if session is None:
            with self._open_lock:
                session = self._sessions.get(name)
                if session is None:
                    session = self._sessions[name] = self._open(name)
        return session

    def _open(self, name: str):
        return open_session(self.runtime_dir / f"{name}.onnx", threads=self.threads,
                            initializers=self._shared)

    def _map_shared(self, files: dict[str, str]) -> dict:
        """The weights every graph holds (the word embeddings), memory-mapped once from the
        build's ``.npy`` files and given to each session, which then keeps no copy of its own
        (measured with the four graphs of release 1.1.0: 279 -> 146 MB resident with every
        graph open)."""
        import onnxruntime

        shared = {}
        for name, file in files.items():
            try:
                array = np.load(self.runtime_dir / file, mmap_mode="r")
            except (OSError, ValueError) as error:
                raise ArtifactError(f"{self.runtime_dir}: runtime form incomplete "
                                    f"(shared weight {file}: {error})") from None
            shared[name] = onnxruntime.OrtValue.ortvalue_from_numpy(array)
        return shared

    # ---- the two network calls -----------------------------------------------------------
    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        logits, span_logits = self._session("comment").run(
            None, {"input_ids": ids, "attention_mask": mask})
        return {"logits": logits, "span_logits": span_logits}

    def _context_logit(self, ids: np.ndarray, types: np.ndarray,
                       mask: np.ndarray) -> np.ndarray:
        [context_logit] = self._session("pair").run(
            None, {"input_ids": ids, "token_type_ids": types, "attention_mask": mask})
        return context_logit
