"""Process cold start to the first score, and resident memory, for each form of the scorer:
a fresh Python process imports ``load_scorer``, loads the shipped model and scores one comment.

    .venv/bin/python benchmarks/cold_start.py [--repeat 3]

One row per runtime precision (fp32, int8) and PyTorch. The runtime forms must already be built
(``civility build-runtime --precision ...``): a first load that builds it is a one-off, not a
cold start. Reports the median of ``--repeat`` processes: wall time from process start to the
first result, its parts (imports, load, first score), and resident memory
after the first score and after scoring 200 more comments.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from common import ROOT, save, table

from model.loading import DEFAULT_PRECISION, PRECISIONS

CHILD = r"""
import json, time, sys
started = time.perf_counter()
from model.loading import load_scorer
imported = time.perf_counter()
scorer = load_scorer(backend=sys.argv[1], build=False, precision=sys.argv[3])
loaded = time.perf_counter()
scorer.score("Thanks for the article, the figures on page two are wrong though.")
scored = time.perf_counter()

def memory():
    lines = open("/proc/self/status").read().splitlines()
    return {l.split(":")[0]: int(l.split()[1]) // 1024 for l in lines
            if l.startswith(("VmRSS", "VmHWM"))}

first = memory()
texts = json.loads(sys.argv[2])
scorer.score(texts, batch_size=8)
print(json.dumps({"import_s": imported - started, "load_s": loaded - imported,
                  "first_score_s": scored - loaded, "rss_first_mb": first["VmRSS"],
                  "rss_after_mb": memory()["VmRSS"], "peak_rss_mb": memory()["VmHWM"],
                  "form": type(scorer).__name__, "torch_loaded": "torch" in sys.modules}))
"""


def one_process(backend: str, precision: str, texts: list[str]) -> dict:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, backend, json.dumps(texts), precision],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    wall = time.perf_counter() - started
    return {"wall_to_first_score_s": wall, **json.loads(done.stdout.strip().splitlines()[-1])}


def main() -> None:
    from common import real_comments

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    texts = real_comments(200)
    forms = {f"runtime ({precision})": ("onnx", precision) for precision in PRECISIONS}
    forms["PyTorch"] = ("torch", DEFAULT_PRECISION)
    runs = {name: [one_process(*form, texts) for _ in range(args.repeat)]
            for name, form in forms.items()}
    # wall time includes scoring the 200 comments afterwards: take the parts up to first score
    summary = {}
    for name, values in runs.items():
        median = {key: statistics.median(v[key] for v in values)
                  for key in ("import_s", "load_s", "first_score_s", "rss_first_mb",
                              "rss_after_mb", "peak_rss_mb")}
        median["to_first_score_s"] = median["import_s"] + median["load_s"] + \
            median["first_score_s"]
        median["torch_loaded"] = values[0]["torch_loaded"]
        summary[name] = median
    print(table(["form", "imports s", "load s", "first score s", "to first score s",
                 "RSS after 1st MB", "RSS after 200 MB", "peak MB", "torch imported"],
                [[name, round(s["import_s"], 2), round(s["load_s"], 2),
                  round(s["first_score_s"], 3), round(s["to_first_score_s"], 2),
                  s["rss_first_mb"], s["rss_after_mb"], s["peak_rss_mb"], s["torch_loaded"]]
                 for name, s in summary.items()]))
    pytorch = summary["PyTorch"]
    for name in forms:
        if name != "PyTorch":
            runtime = summary[name]
            print(f"{name}: {pytorch['to_first_score_s'] / runtime['to_first_score_s']:.1f}x "
                  f"faster to first score, "
                  f"{pytorch['rss_after_mb'] / runtime['rss_after_mb']:.1f}x less memory")
    print("(to first score = imports + load + first score, measured inside the process; "
          "add the interpreter's own start, ~0.02-0.05 s)")

    def chart(axes) -> None:
        names = list(summary)
        bottoms = [0.0] * len(names)
        for part in ("import_s", "load_s", "first_score_s"):
            values = [summary[n][part] for n in names]
            axes.barh(names, values, left=bottoms, label=part.replace("_s", ""))
            bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
        axes.set_xlabel("seconds from process start to first score")
        axes.legend()
        axes.set_title("Cold start (labels: resident MB after 200 comments)")
        for y, n in enumerate(names):
            axes.text(bottoms[y], y, f" {summary[n]['rss_after_mb']} MB", va="center")

    save("cold_start", {"repeat": args.repeat, "summary": summary, "runs": runs}, chart)


if __name__ == "__main__":
    main()
