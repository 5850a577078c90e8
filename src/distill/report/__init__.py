"""The report of a pipeline run, in three steps: collect (read the run folder), score
(every number, from each stage's logits), render (Markdown, JSON, plots).

    python -m distill.report <run> [--inference benchmarks/results/inference.json] [--out DIR]

Agreement, cosine and KL are measured against the reference teacher: the one the students
were distilled from: an ensemble of teachers where the run has one, else the teacher
(``distill.run_folder.distillation_teacher``, from each stage's recorded role).
"""

from distill.report.render import write_report
from distill.report.score import build_report

__all__ = ["build_report", "write_report"]
