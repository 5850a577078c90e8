"""Tables that compare the teacher, the baselines and the distilled students."""

from __future__ import annotations

COLUMNS = (
    ("val acc", "val/acc_best"),
    ("test acc", "test/acc"),
    ("test macro-F1", "test/f1_macro"),
    ("agreement w/ teacher", "test/agreement"),
    ("seconds", "seconds"),
)


def _cell(value: float | None, key: str) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if key == "seconds" else f"{value:.4f}"


def comparison_table(results: dict[str, dict[str, float]]) -> str:
    """A Markdown table, one row per model, in the order given."""
    header = "| model | " + " | ".join(title for title, _ in COLUMNS) + " |"
    rule = "|---|" + "---:|" * len(COLUMNS)
    rows = [
        f"| {name} | " + " | ".join(_cell(metrics.get(key), key) for _, key in COLUMNS) + " |"
        for name, metrics in results.items()
    ]
    return "\n".join([header, rule, *rows])
