"""What a distilling student learns besides labels, assembled before its data module encodes.

The teacher's store is checked here against the run's splits and teacher, and a transfer set
(``transfer=tang``) is regenerated and checked against the store that labelled it; the data
module then gets arrays keyed by example id (``SoftTargets``) and checks nothing itself.
"""

from __future__ import annotations

from omegaconf import DictConfig

from distill.cli.config import transfer_of, verified_teacher
from distill.cli.fitted import distils
from distill.data.corpus import Corpus
from distill.data.datamodule import SoftTargets
from distill.data.transfer import TangTransfer
from distill.errors import UserError
from distill.logit_store import LogitStore


def soft_targets(cfg: DictConfig, splits: dict[str, Corpus]) -> SoftTargets | None:
    """The teacher's logits for every split and, with a transfer set, the set and its logits; None
    when the run does not distil (``distill.alpha`` 0)."""
    rules = transfer_of(cfg)
    if not distils(cfg):
        if rules is not None:
            raise UserError("a transfer set is learnt from the teacher's soft labels only: use it with a "
                            "distilling student (distill=kl or mse, distill.alpha > 0), or drop transfer=tang")
        return None
    teacher = verified_teacher(cfg, splits)
    by_split = {name: (teacher.ids[name], teacher.logits[name]) for name in splits}
    if rules is None:
        return SoftTargets(by_split)
    extra, labelled = transfer_set(rules, splits["train"], teacher)
    return SoftTargets({**by_split, "extra": (labelled.ids["transfer"], labelled.logits["transfer"])}, extra)


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
