"""``ROLES``: the one place a ``model.role`` is looked up, and what each role does differently.

A role is how a run is fitted and everything the rest of the code asks about it: the stores it
reads (what its signature covers), the store it publishes for other stages and how a copy of it
is checked, whether it trains on every label, distils, or is known to its readers by its
signature. A new role is one entry here and its fit function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from omegaconf import DictConfig

from distill.cli.config import load_splits, teacher_spec, teacher_tokenizer_sha256, transfer_of
from distill.cli.external_fits import (as_the_finetuned_teacher, as_the_imported_teacher, fit_finetuned_teacher,
                                       fit_imported_teacher)
from distill.cli.fitted import Fitted, distils
from distill.cli.lightning_fit import fit_lightning
from distill.cli.store_fits import ensemble_members, fit_classic_run, fit_ensemble_run, fit_transfer_labels
from distill.errors import UserError
from distill.logit_store import LogitStore


def data_of_its_splits(cfg: DictConfig, store: LogitStore) -> None:
    """A run's own store: the splits it has are those of this run's data."""
    splits = load_splits(cfg)
    store.verify_splits({name: splits[name] for name in store.ids})


def as_a_teacher(cfg: DictConfig, store: LogitStore) -> None:
    """A store that students read as ``teacher.logits``: this run's data and teacher."""
    store.verify(load_splits(cfg), teacher_spec(cfg), lambda: teacher_tokenizer_sha256(cfg))


def as_the_transfer_set(cfg: DictConfig, store: LogitStore) -> None:
    """The transfer labels: the set regenerated from this run's training split, with the store's word classes."""
    rules = transfer_of(cfg)
    classes = rules.recorded_classes(store.source, rules.logits)
    store.verify_splits({"transfer": rules.generate(load_splits(cfg)["train"], classes)})


def nothing(cfg: DictConfig) -> None:
    return None


@dataclass(frozen=True)
class Role:
    fit: Callable[[DictConfig, Role, str], Fitted]
    reads: Callable[[DictConfig], list[str]] = lambda cfg: []  # the logit stores a run reads
    # The store a run writes for others outside its folder: a committed copy there is reused
    # without re-running (the teacher's checkpoint is not committed, so it cannot re-label, and
    # re-fitting the ensemble elsewhere would replace what the transfer labels were made from).
    publishes: Callable[[DictConfig], str | None] = nothing
    verify: Callable[[DictConfig, LogitStore], None] = data_of_its_splits  # its store against this run
    restores: Callable[[DictConfig], str | None] = nothing  # a checkpoint scored instead of fitting
    all_labels: bool = False  # trains on every training label: students verify its logits on the full split
    # Its loss is ``distill``: it may learn a teacher's logits, its record keeps the distill block, and it
    # may refit on train and val (nothing chooses on its val logits, unlike the others').
    distils: bool = False
    # Others know its store by the signature it records, not by its bytes: scikit-learn's solvers do
    # not land on the same bits on every machine, while its settings make two fits the same.
    known_by_signature: bool = False

    def banner(self, cfg: DictConfig) -> str:
        """What the pipeline's banner adds to a stage's overrides: a distilling student's T and alpha."""
        if not (self.distils and distils(cfg)):
            return ""
        return f" (T={cfg.distill.temperature:g}, alpha={cfg.distill.alpha:g})"


def student_reads(cfg: DictConfig) -> list[str]:
    if not distils(cfg):
        return []
    transfer = transfer_of(cfg)
    return [cfg.teacher.logits, *([transfer.logits] if transfer else [])]


ROLES = {
    "teacher": Role(fit_lightning, publishes=lambda cfg: cfg.teacher.logits, verify=as_a_teacher,
                    restores=lambda cfg: cfg.teacher.ckpt_path, all_labels=True),
    # teachers made elsewhere (distill.cli.external_fits): never trained, their store checked against the model or file
    "teacher_finetuned": Role(fit_finetuned_teacher, publishes=lambda cfg: cfg.teacher.logits,
                              verify=as_the_finetuned_teacher),
    "teacher_imported": Role(fit_imported_teacher, publishes=lambda cfg: cfg.teacher.logits,
                             verify=as_the_imported_teacher),
    "student": Role(fit_lightning, reads=student_reads, distils=True),
    "classic": Role(fit_classic_run, known_by_signature=True),
    "ensemble": Role(fit_ensemble_run, reads=lambda cfg: [cfg.teacher.logits, *ensemble_members(cfg).values()],
                     publishes=lambda cfg: cfg.model.output, verify=as_a_teacher),
    "transfer": Role(fit_transfer_labels, reads=lambda cfg: [cfg.model.labeller],
                     publishes=lambda cfg: cfg.transfer.logits, verify=as_the_transfer_set),
}


def role_of(cfg: DictConfig) -> Role:
    if cfg.model.role not in ROLES:
        raise UserError(f"model.role={cfg.model.role} is not one of {sorted(ROLES)}: "
                        f"fix conf/model/{cfg.model.name}.yaml")
    return ROLES[cfg.model.role]
