"""Browser parity: the page's JavaScript logistic student against the Python model, on real test documents.

    python benchmarks/serve_parity.py logs/pipeline/<time> [--docs 500] [--out PATH]

Starts ``python -m distill.web`` on the run (which exports the student to
``<run>/export/web/<model>.json``), opens its page in headless Chromium (/usr/bin/chromium),
runs ``static/tfidf.js`` there on the first D raw test messages (headers, quotes and
signatures left in, as a user would paste them) and compares its probabilities with the same
student in ONNX Runtime (``distill.serving``): top-1 agreement and the largest probability
difference. Writes JSON (default ``benchmarks/results/serve_parity.json``). Run it from the
repository root: the run's config names its data relative to it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from playwright.sync_api import Page

sys.path.insert(0, str(Path(__file__).resolve().parent))  # serve_common, inference_plan: next to this script
from serve_common import chromium, serving  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "serve_parity.json"
RUN_STUDENT = """async (texts) => {
  const { LogisticStudent } = await import("/static/tfidf.js");
  const student = new LogisticStudent(await (await fetch("/browser-model.json")).json());
  return { model: student.name, probs: texts.map((text) => Array.from(student.predictProba(text))) };
}"""


def browser_probabilities(page: Page, texts: list[str]) -> np.ndarray:
    """The in-browser student's probabilities for ``texts``, on a page of the server."""
    return np.array(page.evaluate(RUN_STUDENT, texts)["probs"], dtype=np.float64)


def compare(browser: np.ndarray, python: np.ndarray) -> dict:
    """Top-1 agreement and the largest absolute probability difference."""
    agree = browser.argmax(1) == python.argmax(1)
    return {"docs": len(browser), "top1_agree": int(agree.sum()), "top1_agreement": float(agree.mean()),
            "max_abs_prob_difference": float(np.abs(browser - python).max()),
            "disagreeing_rows": np.flatnonzero(~agree).tolist()[:20]}


def parity(run: Path, docs: int) -> dict:
    from omegaconf import OmegaConf
    from playwright.sync_api import sync_playwright

    from inference_plan import raw_splits
    from distill.serving import from_onnx

    test = raw_splits(OmegaConf.load(run / ".hydra" / "config.yaml"))["test"]
    texts = test.texts[:docs]
    with serving(run, cwd=ROOT) as server, sync_playwright() as playwright:
        browser = chromium(playwright)
        page = browser.new_page()
        page.goto(server.url)
        page.wait_for_selector("body[data-ready=true]")
        probs = browser_probabilities(page, texts)
        model = page.evaluate("async () => (await (await fetch('/models')).json()).browser_model")
        browser.close()
    python = from_onnx(run / "export" / model).predict_proba(texts)
    sizes = {"json_bytes": (run / "export" / "web" / f"{model}.json").stat().st_size}
    return {"run": str(run), "model": model, **compare(probs, python), **sizes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a pipeline run folder (logs/pipeline/<time>)")
    parser.add_argument("--docs", type=int, default=500, help="how many test documents (at least 200)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    result = parity(args.run, args.docs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"{result['model']} in the browser vs ONNX Runtime on {result['docs']} raw test documents: "
          f"top-1 agrees on {result['top1_agree']} ({result['top1_agreement']:.2%}), "
          f"largest probability difference {result['max_abs_prob_difference']:.2e}; "
          f"student JSON {result['json_bytes'] / 2**20:.2f} MiB; wrote {args.out}")
    return 0 if result["top1_agreement"] == 1.0 and result["max_abs_prob_difference"] < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
