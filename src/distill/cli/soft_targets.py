"""What a distilling student learns besides labels, assembled before its data module encodes.

The teacher's store is checked here against the run's splits and teacher, a transfer set
(``transfer=tang``) is regenerated and checked against the store that labelled it, and an
unlabelled file (``transfer=unlabelled``) is re-read and checked against the teacher store's
``unlabelled`` split; the data module then gets arrays keyed by example id (``SoftTargets``) and
checks nothing itself.
"""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig

from distill.cli.config import data_module, learns_unlabelled, transfer_of, verified_teacher
from distill.cli.fitted import distils
from distill.data.corpus import Corpus
from distill.data.datamodule import SoftTargets
from distill.data.transfer import TangTransfer
from distill.data.unlabelled import SPLIT, UNLABELLED_SOURCE_KEY, UnlabelledFile
from distill.errors import UserError
from distill.logit_store import LogitStore


def soft_targets(cfg: DictConfig, splits: dict[str, Corpus]) -> SoftTargets | None:
    """The teacher's logits for every split and, with a transfer set (``transfer=tang``) or an
    unlabelled file (``transfer=unlabelled`` and ``data.unlabelled_file``; ``tang_unlabelled``:
    both), those examples and their logits; None when the run does not distil (``distill.alpha`` 0)."""
    rules, unlabelled = transfer_of(cfg), learns_unlabelled(cfg)
    if not distils(cfg):
        if rules is not None or unlabelled:
            raise UserError("a transfer set is learnt from the teacher's soft labels only: use it with a "
                            f"distilling student (distill=kl or mse, distill.alpha > 0), or drop "
                            f"transfer={'_'.join(['tang'] * (rules is not None) + ['unlabelled'] * unlabelled)}")
        return None
    teacher = verified_teacher(cfg, splits)
    by_split = {name: (teacher.ids[name], teacher.logits[name]) for name in splits}
    extra = file_set = None
    if rules is not None:
        extra, labelled = transfer_set(rules, splits["train"], teacher)
        by_split["extra"] = (labelled.ids["transfer"], labelled.logits["transfer"])
    source = data_module(cfg).unlabelled() if unlabelled else None
    if source is not None:
        file_set = unlabelled_set(source, splits, teacher, cfg.teacher.logits)
        by_split["unlabelled"] = (teacher.ids[SPLIT], teacher.logits[SPLIT])
    return SoftTargets(by_split, extra, file_set)


def unlabelled_set(source: UnlabelledFile, splits: dict[str, Corpus], teacher: LogitStore, at: str) -> Corpus:
    """The unlabelled file as the teacher labelled it: the same bytes (its recorded fingerprint) and
    the same ids, which are numbered past every train, val and test id as the labelling numbered them."""
    relabel = ("label it with the teacher stage and this run's data settings (python train.py model=teacher_finetuned "
               f"teacher.pretrained=<model> data.unlabelled_file={source.path} ...), then distil again")
    if SPLIT not in teacher.ids:
        raise UserError(f"the teacher's store at teacher.logits={at} has no '{SPLIT}' split: {relabel}")
    scanned = source.scan(np.concatenate([corpus.ids for corpus in splits.values()]))
    if teacher.source.get(UNLABELLED_SOURCE_KEY) != scanned.fingerprint():
        raise UserError(f"the teacher's store at teacher.logits={at} labelled another unlabelled file than "
                        f"{source.path} (or read it with other columns): {relabel}")
    corpus = source.corpus(scanned, splits["train"].label_names)
    if not np.array_equal(np.sort(teacher.ids[SPLIT]), np.sort(corpus.ids)):
        raise UserError(f"the '{SPLIT}' split of the teacher's store at teacher.logits={at} has other ids than "
                        f"{source.path} (the train, val or test ids changed since it was labelled): {relabel}")
    return corpus


def transfer_set(rules: TangTransfer, train: Corpus, teacher: LogitStore) -> tuple[Corpus, LogitStore]:
    """The transfer set of ``train`` and the store of its logits, labelled by this run's teacher."""
    rebuild = "label it first: python train.py model=transfer_labels transfer=tang ..."
    store = LogitStore.load(rules.logits, rebuild)
    transfer = rules.generate(train, rules.recorded_classes(store.source, rules.logits))
    store.verify_splits({"transfer": transfer}, f"Re-label it ({rebuild}); a store without recorded word "
                        "classes regenerates only on a CPU like its labeller's.")
    if store.source.get("labeller", {}).get("sha256") != teacher.manifest["sha256"]:
        raise UserError(f"the transfer set at transfer.logits={rules.logits} was labelled by another "
                        "teacher than this run's teacher.logits: distil from the store that labelled it, "
                        "or re-label the set with this teacher")
    return transfer, store
