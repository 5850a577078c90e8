"""Save a teacher this project fine-tuned as a plain Hugging Face folder, as a user would bring one.

    python benchmarks/save_teacher_hf.py logs/pipeline/<time>/teacher my-bert [--shuffle-labels SEED]

The folder holds ``config.json`` (with ``id2label``), the weights and the tokenizer, written by
``save_pretrained``. ``--shuffle-labels`` lists the classes in a random order and permutes the
classification head's rows to match, so the model's answers are unchanged while its label
order differs from the corpus's: ``model=teacher_finetuned`` must map labels by name to give
the same logits as the project's own store, up to that column permutation.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer

from distill.module import ClassifierModule
from distill.pretrained import resolve_pretrained


def classification_head(model: torch.nn.Module) -> torch.nn.Linear:
    """The last linear layer of the head, whose rows are the classes (BERT: ``classifier``;
    RoBERTa: ``classifier.out_proj``)."""
    head = model.classifier
    return head.out_proj if hasattr(head, "out_proj") else head


def save(stage: Path, out: Path, shuffle_seed: int | None) -> list[str]:
    """Write the stage's teacher to ``out``; returns the label names in the saved order."""
    record = json.loads((stage / "metrics.json").read_text())
    labels: list[str] = record["labels"]
    module = ClassifierModule.load_from_checkpoint(stage / record["checkpoint"]["path"], map_location="cpu")
    model = module.net.model
    order = np.arange(len(labels))
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(len(labels))
    head = classification_head(model)
    with torch.no_grad():
        head.weight.copy_(head.weight[torch.as_tensor(order)])
        head.bias.copy_(head.bias[torch.as_tensor(order)])
    saved = [labels[index] for index in order]
    model.config.id2label = dict(enumerate(saved))
    model.config.label2id = {name: index for index, name in enumerate(saved)}
    model.save_pretrained(out)
    pretrained = module.hparams["net"].get("pretrained")
    AutoTokenizer.from_pretrained(resolve_pretrained(pretrained)).save_pretrained(out)
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", type=Path, help="a teacher stage folder (metrics.json, checkpoints/)")
    parser.add_argument("out", type=Path, help="the folder to write")
    parser.add_argument("--shuffle-labels", type=int, default=None, metavar="SEED")
    args = parser.parse_args()
    saved = save(args.stage, args.out, args.shuffle_labels)
    print(f"{args.out}: id2label {dict(enumerate(saved))}")


if __name__ == "__main__":
    main()
