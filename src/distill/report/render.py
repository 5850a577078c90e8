"""Write a scored report: report.md, report.json and the plots."""

from __future__ import annotations

import json
from pathlib import Path

from distill import atomic
from distill.report import plots

NO_TEXT = "(no text left after removing headers, quotes and signatures)"


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _count(value: float | None) -> str:
    if value is None:
        return "-"
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.1f}{suffix}"
    return f"{value:.0f}"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1),
            *("| " + " | ".join(row) + " |" for row in rows)]


def summary_markdown(report: dict) -> list[str]:
    with_teacher = any("agreement_teacher" in row for row in report["summary"].values())
    header = ["model", "role", "val acc", "test acc", "test macro-F1", "params", "size MB", "latency ms/doc",
              "agreement", *(["agreement w/ teacher"] if with_teacher else []), "cosine", "KL", "ECE"]
    rows = []
    for name, row in report["summary"].items():
        latency = "-" if row["latency_ms"] is None else f"{row['latency_ms']:.2f} ({row['latency_runtime']})"
        rows.append([name, row["role"], _number(row["val_acc"]), _number(row["test_acc"]),
                     _number(row["test_f1_macro"]), _count(row["params"]), _number(row.get("size_mb"), 2), latency,
                     _number(row["agreement"]),
                     *([_number(row.get("agreement_teacher"))] if with_teacher else []),
                     _number(row["cosine"]), _number(row["kl"]), _number(row["ece"])])
    lines = _table(header, rows)
    lines += ["", *(f"- **{item['stage']}** left out ({item['status']}): {_escape(item['reason'])}"
                    for item in report["left_out"])]
    return lines


def dark_knowledge_markdown(report: dict) -> list[str]:
    lines = []
    for document in report["dark_knowledge"]:
        header = ["model", *document["classes"], "own top-1"]
        rows = [[f"{report['reference_teacher']} (teacher)", *(f"{p:.3f}" for p in document["teacher"]),
                 f"{document['classes'][0]} ({document['teacher'][0]:.3f})"]]
        rows += [[name, *(f"{p:.3f}" for p in belief["probs"]), f"{belief['top1']} ({belief['top1_prob']:.3f})"]
                 for name, belief in document["students"].items()]
        lines += [f"### Test document {document['id']} (true label: {document['label']})", "",
                  f"> {_escape(document['text']) or NO_TEXT}", "", *_table(header, rows), ""]
    return lines


def per_class_markdown(report: dict) -> list[str]:
    lines = []
    for name, classes in report["per_class"].items():
        rows = [[label, _number(s["precision"]), _number(s["recall"]), _number(s["f1"]), str(s["support"])]
                for label, s in classes.items()]
        lines += [f"<details><summary>{name}</summary>", "",
                  *_table(["class", "precision", "recall", "F1", "support"], rows), "", "</details>", ""]
    return lines


def settings_markdown(report: dict) -> list[str]:
    lines = []
    for name, entry in report["settings"].items():
        parts = [f"{key}: `{json.dumps(value, sort_keys=True)}`" for key, value in entry.items() if value]
        lines.append(f"- **{name}**: " + ("; ".join(parts) if parts else "nothing recorded"))
    return lines


def render_markdown(report: dict, figures: dict[str, str]) -> str:
    reference = report["reference_teacher"]
    lines = [f"# Report: {report['run_dir']}", "",
             f"Scores on the {report['split']} split, recomputed from each stage's cached logits.",
             f"Agreement, cosine and KL(teacher || model) are measured against **{reference}**, "
             "the teacher the students were distilled from." if reference else
             "No teacher stage completed: agreement, cosine and KL are not available.",
             f"Latency: median batch-1 ms per document, fastest runtime, from {', '.join(report['inference'])}."
             if report["inference"] else "Latency: not measured on this run (-). To fill the column: "
             f"`python benchmarks/inference.py {report['run_dir']}`, then `python -m distill.report "
             f"{report['run_dir']} --inference {report['run_dir']}/inference.json`.",
             "Size: MB on disk of what `distill.web` serves (`distill.serving.size`); - where the run kept no model.",
             "", "## Summary", "",
             *summary_markdown(report), "", "## Plots", ""]
    lines += [f"![{title}]({file})" for title, file in figures.items()]
    lines += ["", "## Dark knowledge", "", *dark_knowledge_markdown(report),
              "## Per-class scores", "", *per_class_markdown(report),
              "## How settings were chosen", "", *settings_markdown(report)]
    return "\n".join(lines).rstrip() + "\n"


def write_report(report: dict, out: Path) -> dict[str, str]:
    """Write the plots, report.json and report.md into ``out``; returns {plot title: file name}."""
    out.mkdir(parents=True, exist_ok=True)
    figures = {plots.accuracy_vs_latency(report, out / "accuracy.png"): "accuracy.png"}
    if report["confusion"] is not None:
        figures[plots.confusion(report, out / "confusion.png")] = "confusion.png"
    if report["reliability"]:
        figures[plots.reliability(report, out / "reliability.png")] = "reliability.png"
    atomic.write_text(out / "report.json", json.dumps({**report, "plots": figures}, indent=1, allow_nan=False))
    atomic.write_text(out / "report.md", render_markdown(report, figures))
    return figures
