"""Shared pieces of the benchmark scripts: real comments to score, percentiles, the machine's
description, and writing each result as a table, JSON and a PNG chart under
``benchmarks/results/``."""

from __future__ import annotations

import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as `python benchmarks/x.py` from anywhere

RESULTS = ROOT / "benchmarks" / "results"
THREAD = ROOT / "tests" / "fixtures" / "coalition_thread.json"
SHARED = ROOT.parent / "shared" / "datasets"
# real reader comments of news sites and forums, for speed runs (text only): Civil Comments
# (news sites), Globe and Mail comments, r/ChangeMyView replies
SHARED_COMMENTS = (
    ("toxic_spans_civil_comments/semeval2021/tsd_train.csv", "text"),
    ("ucc_unhealthy_comments_globeandmail/val.csv", "comment"),
    ("cmv_ad_hominem_habernal2018/cmv_ad_hominem_threads.jsonl", "body"),
)


def thread() -> dict:
    return json.loads(THREAD.read_text(encoding="utf-8"))


def threaded_items() -> list[dict]:
    """The coalition thread's comments as request items: text, the article and (replies) the
    parent's text; ``model.comments.Comment.coerce`` reads them too."""
    data = thread()
    article = {"title": data["article"]["title"], "text": data["article"]["body"]}
    by_id = {c["id"]: c for c in data["comments"]}
    return [{"text": c["text"], "article": article,
             **({"parent": by_id[c["parent_id"]]["text"]} if c["parent_id"] else {})}
            for c in data["comments"]]


def real_comments(n: int, *, data_dir: Path = SHARED, seed: int = 0) -> list[str]:
    """``n`` real comments: the coalition thread's, then comments from the shared data sets
    (when ``data_dir`` exists), in a fixed shuffled order."""
    import random

    texts = [c["text"] for c in thread()["comments"]]
    pool: list[str] = []
    for relative, column in SHARED_COMMENTS:
        path = data_dir / relative
        if not path.exists():
            continue
        with path.open(encoding="utf-8", errors="replace", newline="") as handle:
            rows = (map(json.loads, handle) if path.suffix == ".jsonl"
                    else csv.DictReader(handle))
            pool += [row[column].strip() for row in rows
                     if (row.get(column) or "").strip() not in ("", "[deleted]", "[removed]")]
    random.Random(seed).shuffle(pool)
    texts += pool
    while len(texts) < n:
        texts += texts
    return texts[:n]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latency_summary(seconds: list[float]) -> dict:
    return {f"p{q}_ms": round(percentile(seconds, q / 100) * 1000, 2) for q in (50, 95, 99)} | {
        "mean_ms": round(statistics.fmean(seconds) * 1000, 2), "n": len(seconds)}


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
                 platform.processor())
    flags = next((line.split(":", 1)[1].split() for line in
                  Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), [])
    return {
        "cpu": model,
        "cpus": len(os.sched_getaffinity(0)),
        "avx512_vnni": "avx512_vnni" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "amx": "amx_tile" in flags,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=ROOT, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def table(headers: list[str], rows: list[list]) -> str:
    """A Markdown table (what RESULTS.md holds), columns padded for the terminal."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
             for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.4g}"
    return str(value)


def save(name: str, result: dict, chart) -> Path:
    """Write ``results/NAME.json`` and ``results/NAME.png`` (``chart(axes)`` draws it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": name, "machine": machine(), "commit": git_commit(),
              "command": " ".join([Path(sys.executable).name, *sys.argv]), **result}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    figure, axes = plt.subplots(figsize=(8, 4.5))
    chart(axes)
    figure.tight_layout()
    figure.savefig(RESULTS / f"{name}.png", dpi=90)
    plt.close(figure)
    print(f"wrote {path} and {path.with_suffix('.png')}")
    return path
