"""Pick the fastest available form of the scorer, without importing PyTorch when it is not
needed.

    from model.loading import load_scorer
    scorer = load_scorer("model/release")           # runtime form if built (or buildable)
    scorer = load_scorer(backend="torch")           # the PyTorch reference

The runtime form (``model.runtime.OnnxScorer``: ONNX Runtime) is derived from the artifact's
weights at a precision (``PRECISIONS``: int8 by default, fp32 exact) and cached under
``runtime_cache_root()`` in a folder named by the precision and a hash of the weights and
config, so a changed model gets a fresh build and an unchanged one is never rebuilt.
It is built by ``civility build-runtime`` (``scripts/bootstrap`` runs it) or on first load when
PyTorch is installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Literal

from model import artifact
from model.artifact import RELEASE_DIR, ArtifactError
from model.scoring import ScorerBase

log = logging.getLogger(__name__)

Backend = Literal["auto", "onnx", "torch"]
BACKENDS: tuple[str, ...] = ("auto", "onnx", "torch")
# Bump when the graphs' inputs/outputs or the build recipe change: old caches then rebuild.
RUNTIME_FORMAT = "onnx-v11"
MANIFEST = "runtime.json"
# The graphs' weights (comments alone, and comments read with their context). int8 (the
# layer matrices, SmoothQuant and FFN-down's outlier split: model.runtime_build) is the default:
# 1.70x fp32's throughput (1.76x with context), and every attribute's validation ROC-AUC within
# 0.0035 of PyTorch's (benchmarks/RESULTS.md section 5). fp32 gives PyTorch's scores exactly.
PRECISIONS: tuple[str, ...] = ("fp32", "int8")
DEFAULT_PRECISION = "int8"
PRECISION_ENV = "CIVILITY_RUNTIME_PRECISION"


def runtime_precision(precision: str | None = None) -> str:
    """``precision``, else ``$CIVILITY_RUNTIME_PRECISION``, else ``DEFAULT_PRECISION``; a
    ValueError naming the source for anything else."""
    source = "precision"
    if precision is None:
        precision = os.environ.get(PRECISION_ENV) or DEFAULT_PRECISION
        source = PRECISION_ENV
    if precision not in PRECISIONS:
        raise ValueError(f"{source} must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    return precision


def runtime_cache_root() -> Path:
    """``$CIVILITY_RUNTIME_CACHE``, else ``$XDG_CACHE_HOME/civility/runtime`` (``~/.cache``)."""
    if os.environ.get("CIVILITY_RUNTIME_CACHE"):
        return Path(os.environ["CIVILITY_RUNTIME_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "civility" / "runtime"


def _digest(path: Path, memo_file: Path) -> str:
    """sha256 of a file, remembered by (path, size, mtime) so that a server start does not
    re-read 57 MB of weights every time."""
    stat = path.stat()
    stamp = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    try:
        memo = json.loads(memo_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        memo = {}
    if stamp in memo:
        return memo[stamp]
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    memo[stamp] = digest.hexdigest()
    try:  # a read-only cache still works, just slower
        memo_file.parent.mkdir(parents=True, exist_ok=True)
        scratch = memo_file.with_suffix(f".{os.getpid()}.tmp")
        scratch.write_text(json.dumps(memo, indent=1), encoding="utf-8")
        scratch.replace(memo_file)
    except OSError:
        pass
    return memo[stamp]


def runtime_dir(path: str | Path = RELEASE_DIR, *, cache_dir: str | Path | None = None,
                precision: str | None = None) -> Path:
    """Where the runtime form of the artifact at ``path`` at ``precision`` (default:
    ``runtime_precision()``) lives, whether built or not."""
    precision = runtime_precision(precision)
    path = Path(path)
    artifact.check_directory(path)
    root = Path(cache_dir) if cache_dir else runtime_cache_root()
    weights = _digest(path / artifact.WEIGHTS, root / "digests.json")
    config = hashlib.sha256((path / artifact.CONFIG).read_bytes()).hexdigest()
    key = hashlib.sha256(f"{RUNTIME_FORMAT}|{precision}|{weights}|{config}".encode())
    name = artifact.read_config(path).tag.replace("@", "-")
    return root / f"{name}-{precision}-{key.hexdigest()[:16]}"


def is_built(directory: Path) -> bool:
    return (directory / MANIFEST).exists()


def build_runtime(
    path: str | Path = RELEASE_DIR, *, cache_dir: str | Path | None = None, force: bool = False,
    precision: str | None = None,
) -> Path:
    """Build (needs PyTorch, onnx, onnxruntime) and cache the runtime form at ``precision``
    (default: ``runtime_precision()``); return its folder.

    Written to a scratch folder and renamed into place, so concurrent builders (several server
    workers starting at once) never see a half-written form.
    """
    precision = runtime_precision(precision)
    target = runtime_dir(path, cache_dir=cache_dir, precision=precision)
    if is_built(target) and not force:
        return target
    from model import runtime_build  # torch, onnx: only here

    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
    try:
        runtime_build.build(Path(path), scratch / "form", key=target.name,
                            precision=precision)
        if force and target.exists():
            shutil.rmtree(target)
        try:
            (scratch / "form").rename(target)
        except OSError:  # another process finished first: its build is the same
            if not is_built(target):
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _torch_scorer(path: Path) -> ScorerBase:
    from model.scorer import Scorer

    return Scorer.from_pretrained(path)


def load_scorer(
    path: str | Path | None = None,
    *,
    backend: Backend = "auto",
    cache_dir: str | Path | None = None,
    threads: int | None = None,
    build: bool = True,
    precision: str | None = None,
) -> ScorerBase:
    """Load the artifact at ``path`` (default: the shipped release model) as a scorer.

    ``backend="auto"``: the runtime form when built, else built now (when PyTorch is
    installed; it takes ~20 s once), else the PyTorch ``Scorer``. ``"onnx"``: the runtime form
    or an ``ArtifactError`` saying why not. ``"torch"``: the PyTorch reference. ``threads``
    caps ONNX Runtime's threads (default: the CPUs this process may use). Every form has the
    same ``score``/``raw_scores`` API and identical result structures.
    ``precision`` picks the runtime form's graphs (``PRECISIONS``; default
    ``$CIVILITY_RUNTIME_PRECISION``, else ``DEFAULT_PRECISION``).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    precision = runtime_precision(precision)
    path = Path(path) if path else RELEASE_DIR
    artifact.check_directory(path)
    if backend == "torch":
        return _torch_scorer(path)
    have_torch = importlib.util.find_spec("torch") is not None
    have_runtime = importlib.util.find_spec("onnxruntime") is not None
    try:
        if not have_runtime:
            raise ArtifactError("onnxruntime is not installed")
        directory = runtime_dir(path, cache_dir=cache_dir, precision=precision)
        if not is_built(directory):
            if not (build and have_torch):
                raise ArtifactError(
                    f"no {precision} runtime form at {directory}; build it with "
                    f"`civility build-runtime --precision {precision}`"
                    + ("" if have_torch else " where PyTorch is installed")
                )
            log.info("building the runtime form of %s (once) into %s", path, directory)
            build_runtime(path, cache_dir=cache_dir, precision=precision)
        from model.runtime import OnnxScorer

        return OnnxScorer.from_pretrained(path, directory, threads=threads)
    except Exception as error:
        if backend == "onnx" or not have_torch:
            if isinstance(error, ArtifactError):
                raise
            raise ArtifactError(f"cannot load the runtime form of {path}: {error}") from error
        log.warning("runtime form unavailable (%s); scoring with PyTorch", error)
        return _torch_scorer(path)
