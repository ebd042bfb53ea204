"""HTTP load against a running ``civility serve``: requests/s, latency percentiles and errors
at 1, 10 and 100 concurrent clients, for ``POST /v1/score`` and Perspective's
``POST /v1alpha1/comments:analyze``.

    .venv/bin/python benchmarks/http_load.py [--seconds 10] [--concurrency 1 10 100]
    .venv/bin/python benchmarks/http_load.py --url http://127.0.0.1:8000 --key KEY
    .venv/bin/python benchmarks/http_load.py --context --name http_load_context

Without ``--url`` it starts ``civility serve`` itself on a free loopback port with a scratch
SQLite database and ``CIVILITY_REQUIRE_KEYS=false`` (local development), and reports the
server process's resident memory after the load. An endpoint that answers 404 is skipped with
a note (``comments:analyze`` comes with the Perspective-compatible API). Each client sends one
real comment per request, one request at a time; every run stops after ``--seconds``. With
``--context`` the comments are the coalition thread's, each with its article and parent (as a
publishing system sends them; Perspective's ``articleAndParentComment``, with OFF_TOPIC
requested), so every request also runs the off-topic branch over comment, parent and article.

The load generator is ``wrk`` when it is installed (``apt-get install wrk``; ``--client auto``),
else an async ``httpx`` client in this process. Both run on the same cores as the server, and
at 100 clients the Python client measured the service at half of what ``wrk`` does (44 vs 87
requests/s, p99 6.7 vs 1.2 s): its own CPU use and event-loop delays end up in the latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, latency_summary, real_comments, save, table, threaded_items

from model.comments import Comment


def _perspective(item: dict) -> dict:
    body = {"comment": {"text": item["text"]}, "requestedAttributes": {"TOXICITY": {}}}
    if "article" in item:
        body["requestedAttributes"]["OFF_TOPIC"] = {}
        pair = {"article": {"text": Comment.coerce(item).article.content}}
        if "parent" in item:
            pair["parentComment"] = {"text": item["parent"]}
        body["context"] = {"articleAndParentComment": pair}
    return body


# request body per endpoint, from an item: {"text"} or {"text", "article", "parent"}
ENDPOINTS = {
    "/v1/score": lambda item: {"comments": [item]},
    "/v1alpha1/comments:analyze": _perspective,
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, scratch: Path) -> subprocess.Popen:
    script = ROOT / ".venv" / "bin" / "civility"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "service.cli"]
    command.append("serve")
    # no keys and no rate limit: the benchmark measures the service, not the limiter
    env = {**os.environ, "CIVILITY_REQUIRE_KEYS": "false", "CIVILITY_RATE_LIMIT_PER_MINUTE": "0"}
    return subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port),
         "--database", f"sqlite:///{scratch / 'load.db'}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(scratch / "server.log", "w"))


def wait_ready(url: str, server: subprocess.Popen | None, timeout: float = 120) -> float:
    import httpx

    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if server is not None and server.poll() is not None:
            raise SystemExit(f"civility serve exited with {server.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready after {timeout} s")


def resident_mb(pid: int) -> dict:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    values = {line.split(":")[0]: int(line.split()[1]) for line in status
              if line.startswith(("VmRSS", "VmHWM"))}
    return {"rss_mb": round(values["VmRSS"] / 1024), "peak_rss_mb": round(values["VmHWM"] / 1024)}


async def load(url: str, path: str, items: list[dict], *, clients: int, seconds: float,
               headers: dict) -> dict:
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60,
                                 headers=headers) as client:
        async def one_client(seed: int) -> None:
            rng = random.Random(seed)
            while time.perf_counter() < deadline:
                body = ENDPOINTS[path](rng.choice(items))
                started = time.perf_counter()
                try:
                    response = await client.post(path, json=body)
                    if response.status_code != 200:
                        errors.append(f"{response.status_code} {response.text[:120]}")
                except httpx.HTTPError as error:
                    errors.append(repr(error))
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(one_client(i) for i in range(clients)))
        elapsed = time.perf_counter() - started
    return {"clients": clients, "requests": len(latencies), "seconds": round(elapsed, 2),
            "requests_per_s": round(len(latencies) / elapsed, 1), "errors": len(errors),
            "error_examples": sorted(set(errors))[:3], **latency_summary(latencies)}


def _lua_string(text: str) -> str:
    """``text`` as a Lua string literal (bytes outside printable ASCII as decimal escapes)."""
    return '"' + "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\{b:03d}"
                         for b in text.encode("utf-8")) + '"'


WRK_SCRIPT = """
local bodies = {%(bodies)s}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
%(auth)s
request = function()
  i = i + 1
  return wrk.format(nil, "%(path)s", nil, bodies[(i %% #bodies) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %%d, "duration_us": %%d, "errors": %%d, ' ..
    '"p50_us": %%d, "p95_us": %%d, "p99_us": %%d}\\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout + e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def load_wrk(url: str, path: str, items: list[dict], *, clients: int, seconds: float,
             headers: dict, scratch: Path) -> dict:
    """The same load through ``wrk`` (C, event-driven): connection errors, timeouts and any
    status but 2xx/3xx count as errors (the service answers 200)."""
    rng = random.Random(0)
    bodies = [json.dumps(ENDPOINTS[path](rng.choice(items)), ensure_ascii=False)
              for _ in range(256)]
    auth = "".join(f'wrk.headers["{k}"] = {_lua_string(v)}\n' for k, v in headers.items())
    script = scratch / "load.lua"
    script.write_text(WRK_SCRIPT % {"bodies": ",\n".join(map(_lua_string, bodies)),
                                    "auth": auth, "path": path}, encoding="utf-8")
    command = ["wrk", f"-t{min(2, clients)}", f"-c{clients}", f"-d{max(1, round(seconds))}s",
               "--timeout", "60s", "-s", str(script), url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    summary = json.loads(output.strip().splitlines()[-1])
    elapsed = summary["duration_us"] / 1e6
    return {"clients": clients, "requests": summary["requests"], "seconds": round(elapsed, 2),
            "requests_per_s": round(summary["requests"] / elapsed, 1),
            "errors": summary["errors"], "error_examples": [],
            **{f"p{q}_ms": round(summary[f"p{q}_us"] / 1000, 2) for q in (50, 95, 99)}}


def main() -> None:
    import httpx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running service (default: start civility serve)")
    parser.add_argument("--key", default=os.environ.get("CIVILITY_API_KEY"),
                        help="API key sent as 'Authorization: Bearer KEY'")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--name", default="http_load", help="results file name")
    parser.add_argument("--client", choices=("auto", "wrk", "httpx"), default="auto",
                        help="load generator (auto: wrk when installed, else httpx)")
    parser.add_argument("--context", action="store_true",
                        help="the coalition thread's comments with their article and parent")
    args = parser.parse_args()
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "httpx"
    elif client == "wrk" and not shutil.which("wrk"):
        parser.exit(2, "http_load.py: --client wrk: wrk is not installed (apt-get install wrk)\n")
    print(f"load generator: {client}")
    headers = {"Authorization": f"Bearer {args.key}"} if args.key else {}
    items = threaded_items() if args.context else [{"text": t} for t in real_comments(2000)]
    server, scratch = None, tempfile.TemporaryDirectory()
    url = args.url
    if url is None:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(port, Path(scratch.name))
    try:
        ready = wait_ready(url, server)
        print(f"{url} ready in {ready:.1f} s (server start to /health)")
        runs, notes = [], []
        for path in ENDPOINTS:
            probe = httpx.post(f"{url}{path}", json=ENDPOINTS[path]({"text": "warm-up comment"}),
                               headers=headers, timeout=60)
            if probe.status_code == 404:
                notes.append(f"{path}: 404 on this server, skipped")
                print(notes[-1])
                continue
            for clients in args.concurrency:
                if client == "wrk":
                    result = load_wrk(url, path, items, clients=clients, seconds=args.seconds,
                                      headers=headers, scratch=Path(scratch.name))
                else:
                    result = asyncio.run(load(url, path, items, clients=clients,
                                              seconds=args.seconds, headers=headers))
                runs.append({"endpoint": path, **result})
                print(f"{path} x{clients}: {result['requests_per_s']} req/s, "
                      f"p99 {result['p99_ms']} ms, errors {result['errors']}")
        memory = resident_mb(server.pid) if server else None
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        scratch.cleanup()
    print(table(["endpoint", "clients", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms",
                 "errors"],
                [[r["endpoint"], r["clients"], r["requests"], r["requests_per_s"], r["p50_ms"],
                  r["p95_ms"], r["p99_ms"], r["errors"]] for r in runs]))
    if memory:
        print(f"server resident memory after the load: {memory['rss_mb']} MB "
              f"(peak {memory['peak_rss_mb']} MB)")

    def chart(axes) -> None:
        for path in {r["endpoint"] for r in runs}:
            mine = [r for r in runs if r["endpoint"] == path]
            axes.plot([r["clients"] for r in mine], [r["requests_per_s"] for r in mine],
                      marker="o", label=f"{path} req/s")
            axes.plot([r["clients"] for r in mine], [r["p99_ms"] for r in mine], marker="x",
                      linestyle="--", label=f"{path} p99 ms")
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("concurrent clients")
        axes.legend()
        axes.set_title("HTTP load against civility serve"
                       + (", with article and parent" if args.context else ""))

    save(args.name, {"url": url if args.url else "started by the script", "runs": runs,
                "server": "civility serve", "load_generator": client,
                "notes": notes, "server_memory": memory, "seconds_per_run": args.seconds,
                "context": args.context}, chart)


if __name__ == "__main__":
    main()
