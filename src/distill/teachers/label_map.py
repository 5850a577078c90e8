"""A classifier's labels matched to the corpus's classes by name, never by position.

A model fine-tuned elsewhere lists its classes in ``config.id2label`` in whatever order it was
trained with; the corpus sorts its own. The match is by name, or by a complete user map
(``teacher.label_map``); anything less is refused, because a guessed order trains every
student on the wrong classes without a single error.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping

import numpy as np

from distill.errors import UserError

GENERIC = re.compile(r"LABEL_\d+")  # what transformers names classes that were never named


def model_labels(id2label: Mapping[int | str, str], source: str) -> list[str]:
    """``id2label`` as a list in column order: ids 0..n-1, each name once."""
    ids = sorted(int(key) for key in id2label)
    names = [str(id2label.get(i, id2label.get(str(i)))) for i in ids]
    if ids != list(range(len(ids))) or len(set(names)) != len(names):
        raise UserError(f"{source}/config.json: id2label must number its classes 0..{len(ids) - 1} with distinct "
                        f"names, it has {dict(zip(ids, names))}; fix id2label in config.json")
    return names


def _example(model: list[str], corpus: list[str]) -> str:
    return f"teacher.label_map={{{model[0]}: {corpus[0]}, ...}}"


def map_labels(model: list[str], corpus: list[str], label_map: Mapping | None, source: str) -> dict[str, str]:
    """Each of the model's labels -> the corpus class it is, one to one."""
    if len(model) != len(corpus):
        raise UserError(f"{source} has num_labels={len(model)} {model}, the corpus has {len(corpus)} classes {corpus}; "
                        "choose data.categories to match, or fine-tune a teacher on these (model=teacher_minilm)")
    if label_map is None:
        generic = all(GENERIC.fullmatch(name) for name in model)
        if sorted(model) != sorted(corpus):
            why = "has generic labels" if generic else "names its labels differently from the corpus"
            raise UserError(f"{source} {why}: {model}, the corpus's classes are {corpus}; map every one by name "
                            f"with {_example(model, corpus)} (a label order is never guessed)")
        return {name: name for name in model}
    mapping = {str(key): str(value) for key, value in label_map.items()}
    checks = (
        (sorted(set(mapping) - set(model)), f"names {{}}, which are not labels of {source} (it has {model})"),
        (sorted(set(mapping.values()) - set(corpus)), f"maps to {{}}, which are not classes of the corpus ({corpus})"),
        (sorted(set(model) - set(mapping)), f"leaves {{}} of {source} unmapped: a partial mapping is refused"),
        (sorted({value for value in mapping.values() if list(mapping.values()).count(value) > 1}),
         "maps two labels to each of {}"),
    )
    for bad, problem in checks:
        if bad:
            raise UserError(f"teacher.label_map {problem.format(bad)}; map each of the model's labels {model} to "
                            f"one corpus class, e.g. {_example(model, corpus)}")
    return mapping


def column_order(model: list[str], mapping: Mapping[str, str], corpus: list[str]) -> np.ndarray:
    """Indices such that ``model_logits[:, order]`` has its columns in the corpus's label order."""
    column_of = {mapping[name]: column for column, name in enumerate(model)}
    return np.asarray([column_of[name] for name in corpus], dtype=np.int64)


def mapping_sha256(model: list[str], mapping: Mapping[str, str]) -> str:
    """Identifies the mapping: (model column, model label, corpus class) for every column."""
    rows = [[column, name, mapping[name]] for column, name in enumerate(model)]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()
