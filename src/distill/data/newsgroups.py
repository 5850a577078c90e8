"""20 Newsgroups "bydate": read a local archive (or extracted folder), else scikit-learn's loader."""

from __future__ import annotations

import tarfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from distill.data.corpus import Corpus
from distill.data.datamodule import TextDataModule
from distill.data.strip import REMOVABLE, strip_message
from distill.errors import UserError

SPLIT_DIRS = {"train": "20news-bydate-train", "test": "20news-bydate-test"}

# {split: {newsgroup: {message file name: raw bytes}}}
RawCorpus = dict[str, dict[str, dict[str, bytes]]]


def _read_archive(path: Path) -> RawCorpus:
    raw: RawCorpus = {split: defaultdict(dict) for split in SPLIT_DIRS}
    split_of = {folder: split for split, folder in SPLIT_DIRS.items()}
    with tarfile.open(path, "r:*") as archive:
        for member in archive:
            parts = Path(member.name).parts
            if not member.isfile() or len(parts) < 3 or parts[-3] not in split_of:
                continue
            handle = archive.extractfile(member)
            raw[split_of[parts[-3]]][parts[-2]][parts[-1]] = handle.read()
    return raw


def _read_folder(path: Path) -> RawCorpus:
    raw: RawCorpus = {split: defaultdict(dict) for split in SPLIT_DIRS}
    for split, folder in SPLIT_DIRS.items():
        for file in (path / folder).glob("*/*"):
            if file.is_file():
                raw[split][file.parent.name][file.name] = file.read_bytes()
    return raw


def _read_sklearn(data_home: str | None) -> RawCorpus:
    """scikit-learn's cached (or downloaded) copy, for users who are online."""
    from sklearn.datasets import fetch_20newsgroups

    raw: RawCorpus = {split: defaultdict(dict) for split in SPLIT_DIRS}
    for split in SPLIT_DIRS:
        bunch = fetch_20newsgroups(data_home=data_home, subset=split, shuffle=False, remove=())
        for text, target, filename in zip(bunch.data, bunch.target, bunch.filenames):
            # Re-encode so every source goes through the same latin-1 decoding below.
            raw[split][bunch.target_names[target]][Path(filename).name] = text.encode("latin-1")
    return raw


def read_raw(archive: str | None, data_home: str | None = None) -> RawCorpus:
    """Raw messages from ``archive`` (a .tar.gz or its extracted folder), else scikit-learn."""
    if archive is not None:
        path = Path(archive).expanduser()
        if path.is_dir():
            raw = _read_folder(path)
        elif path.is_file():
            raw = _read_archive(path)
        else:
            raise UserError(
                f"data.archive={archive} does not exist. Pass the path of 20news-bydate.tar.gz "
                "or of its extracted folder, or data.archive=null to use scikit-learn's download."
            )
        if not all(raw[split] for split in SPLIT_DIRS):
            raise UserError(
                f"data.archive={archive} has no {' / '.join(SPLIT_DIRS.values())} folders of "
                "newsgroup messages; expected the 20news-bydate layout."
            )
        return raw
    try:
        return _read_sklearn(data_home)
    except OSError as error:
        raise UserError(
            f"20 Newsgroups is not cached and could not be downloaded ({type(error).__name__}). Offline, "
            "pass a local copy: data.archive=/path/to/20news-bydate.tar.gz, or set it once in conf/local/default.yaml"
        ) from None


def build_splits(
    raw: RawCorpus, categories: Sequence[str] | None, remove: Iterable[str]
) -> tuple[Corpus, Corpus]:
    """Train and test corpora with ids stable across category subsets.

    Messages are ordered by split (train first), newsgroup name, then file name: the sorted
    listing of ``sklearn.datasets.load_files``, before the shuffle scikit-learn applies to
    its cache. An example's id is its position in that order over the whole corpus, so it
    does not change when ``categories`` selects a subset. A message's ``order`` is its
    article number (the file name), which rises with posting time within a newsgroup.
    """
    remove = tuple(remove)
    all_groups = sorted(set(raw["train"]) | set(raw["test"]))
    if categories is None:
        label_names = all_groups
    else:
        unknown = sorted(set(categories) - set(all_groups))
        if unknown:
            raise UserError(f"data.categories has unknown newsgroups {unknown}; known: {all_groups}")
        label_names = sorted(set(categories))
    label_of = {name: index for index, name in enumerate(label_names)}

    splits, next_id = {}, 0
    for split in SPLIT_DIRS:
        ids, texts, labels, order = [], [], [], []
        for group in all_groups:
            for name in sorted(raw[split].get(group, {})):
                if group in label_of:
                    ids.append(next_id)
                    texts.append(strip_message(raw[split][group][name].decode("latin-1"), remove))
                    labels.append(label_of[group])
                    order.append(_article_number(name))
                next_id += 1
        splits[split] = Corpus(
            ids=np.asarray(ids, dtype=np.int64),
            texts=texts,
            labels=np.asarray(labels, dtype=np.int64),
            label_names=label_names,
            order=np.asarray(order, dtype=np.int64),
        )
    return splits["train"], splits["test"]


def _article_number(name: str) -> int:
    """The message's article number; a file not named by one is refused (it breaks the time order)."""
    if not name.isdigit():
        raise UserError(f"20 Newsgroups message file {name!r} is not named by its article number; "
                        "use the unmodified 20news-bydate archive")
    return int(name)


class Newsgroups20DataModule(TextDataModule):
    """20 Newsgroups bydate, headers/footers/quotes removed by default (the standard protocol)."""

    def __init__(
        self,
        archive: str | None = None,
        categories: Sequence[str] | None = None,
        remove: Sequence[str] = REMOVABLE,
        data_home: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.archive = archive
        self.categories = list(categories) if categories is not None else None
        self.remove = tuple(remove)
        self.data_home = data_home

    @property
    def cleaning(self) -> dict[str, list[str]]:
        return {"strip": list(self.remove)}

    def load_corpus(self) -> tuple[Corpus, Corpus]:
        return build_splits(read_raw(self.archive, self.data_home), self.categories, self.remove)
