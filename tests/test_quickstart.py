"""README command 1's pipeline on the real corpus: distillation must pay for both students."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REAL_ARCHIVE, ROOT


@pytest.mark.slow
@pytest.mark.skipif(not REAL_ARCHIVE.is_file(), reason="needs the real archive")
def test_quickstart_distilled_students_beat_their_hard_label_twins(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "pipeline.py", "experiment=quickstart", f"data.archive={REAL_ARCHIVE}",
         f"hydra.run.dir={tmp_path / 'run'}", f"paths.cache_dir={tmp_path / 'cache'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "comparison.json").read_text())
    for student in ("logistic", "bilstm"):
        hard, kd = results[f"{student}_hard"]["test/acc"], results[f"{student}_kd"]["test/acc"]
        assert kd > hard + 0.01, (student, hard, kd)
    assert "its report: python -m distill.report" in done.stdout
