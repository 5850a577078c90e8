"""The ``teacher`` config node of a teacher made elsewhere (``teacher=finetuned``, ``teacher=imported``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from distill.logit_store import TeacherSpec


@dataclass(frozen=True)
class ExternalTeacherSpec(TeacherSpec):
    """A ``TeacherSpec`` (what students check a store against) plus what a teacher fine-tuned or
    run elsewhere needs: ``label_map`` (model label -> corpus class, when their names differ),
    ``imported`` (a logits file) and ``classes`` (the order of its list column), and how a classifier labels.

    ``max_length=None`` is the tokenizer's own limit (``model_max_length``, at most 512),
    resolved here so that the teacher and every student that checks its store agree on it.
    """

    label_map: dict[str, Any] | None = None
    imported: str | None = None
    classes: list[str] | None = None
    # how a classifier labels (distill.labelling_backends, distill.labelling); none changes its store
    backend: str = "auto"
    threads: int | None = None
    int8: bool = False
    shard_size: int = 10_000

    def __post_init__(self) -> None:
        if self.max_length is None:
            from distill.features.wordpiece import default_max_length, load_tokenizer

            object.__setattr__(self, "max_length", default_max_length(load_tokenizer(self.pretrained)))
