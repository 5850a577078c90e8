"""Load test of the web server: N requests, C at a time, students only, against 127.0.0.1.

    python benchmarks/serve_load.py logs/pipeline/<time> [--requests 500] [--concurrency 8] [--out PATH]

Starts ``python -m distill.web`` on a free local port in its own process (as a user would),
warms every student up, then sends the requests from C threads, each asking for the students
only (``models``: the students and their ensemble, no teacher, no classic baseline). Prints
p50/p95 of each model's latency as the server measured it (its compute, not the wait for its
lock; the ensemble's includes waits for its members) and of whole requests as the client saw
them (queueing included), the number of failed requests, and the server's resident memory
after warm-up and after the run; writes the same as JSON (default
``benchmarks/results/serve_load.json``). Run it from the repository root: the run's config
names its data relative to it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # serve_common, next to this script
from serve_common import rss_mb, serving  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "serve_load.json"
MESSAGE = ("From: jdoe@example.edu\nSubject: Re: launch\n\nIn article <1@x> fred writes:\n> it slipped\n\n"
           "The orbiter's fuel sensor failed again, so the launch slipped a week and the moon mission with it.\n"
           "\n-- \nJane Doe\n")
TEXTS = [  # short to long: the BiLSTM and the teacher grow with length, the logistic student hardly
    "the shuttle launch slipped a week",
    "How do I render a textured polygon? The shader draws the image but the texture looks wrong.",
    "The goalie stopped every shot in the third period and the team won the playoff game in overtime.",
    MESSAGE,
    " ".join(["Faith, evidence and the church: a long argument about belief and proof."] * 20),
    " ".join(["Graphics cards, image formats, JPEG and GIF conversion, rendering and shading tools."] * 60),
]


def post(url: str, payload: dict) -> dict:
    request = urllib.request.Request(f"{url}/predict", json.dumps(payload).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as reply:
        return json.loads(reply.read())


def percentiles(values: list[float]) -> dict[str, float]:
    return {"latency_ms_p50": float(np.percentile(values, 50)), "latency_ms_p95": float(np.percentile(values, 95))}


def load_test(run: Path, requests: int, concurrency: int) -> dict:
    with serving(run, cwd=ROOT) as server:
        with urllib.request.urlopen(f"{server.url}/models", timeout=60) as reply:
            served = json.loads(reply.read())["models"]
        students = [model["name"] for model in served if model["role"] in ("student", "ensemble")]
        for text in TEXTS:  # warm-up: first calls allocate buffers and caches
            post(server.url, {"text": text, "models": students})
        rss_warm = rss_mb(server.pid)

        def one(index: int) -> tuple[float, dict | str]:
            start = time.perf_counter()
            try:
                body = post(server.url, {"text": TEXTS[index % len(TEXTS)], "models": students})
            except Exception as error:  # every failure counts, whatever it is
                body = repr(error)
            return (time.perf_counter() - start) * 1000, body

        start = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            outcomes = list(pool.map(one, range(requests)))
        wall = time.perf_counter() - start
        rss_after = rss_mb(server.pid)
    answers = [body for _, body in outcomes if isinstance(body, dict)]
    errors = [body for _, body in outcomes if not isinstance(body, dict)]
    runtimes = {model["name"]: model["runtime"] for model in served}
    models = {name: {"runtime": runtimes[name],
                     **percentiles([row["latency_ms"] for body in answers for row in body["results"]
                                    if row["model"] == name])}
              for name in students} if answers else {}
    return {
        "run": str(run), "requests": requests, "concurrency": concurrency, "errors": len(errors),
        "error_examples": errors[:5], "wall_s": wall, "requests_per_s": requests / wall,
        "request": percentiles([ms for ms, _ in outcomes]), "models": models,
        "rss_mb": {"after_warmup": rss_warm, "after_run": rss_after}, "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a pipeline run folder (logs/pipeline/<time>)")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    result = load_test(args.run, args.requests, args.concurrency)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"{args.requests} requests, {args.concurrency} at a time: {result['errors']} errors, "
          f"{result['requests_per_s']:.1f} requests/s")
    print("| model | runtime | p50 ms | p95 ms |\n|---|---|---:|---:|")
    for name, timing in result["models"].items():
        print(f"| {name} | {timing['runtime']} | {timing['latency_ms_p50']:.2f} | {timing['latency_ms_p95']:.2f} |")
    request = result["request"]
    print(f"| whole request | | {request['latency_ms_p50']:.2f} | {request['latency_ms_p95']:.2f} |")
    print(f"server memory: {result['rss_mb']['after_warmup']:.0f} MiB after warm-up, "
          f"{result['rss_mb']['after_run']:.0f} MiB after the run")
    print(f"wrote {args.out}")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
