"""Data loading: 20 Newsgroups (archive, folder, scikit-learn) and CSV/JSONL, plus Corpus ops."""

from __future__ import annotations

import csv
import inspect
import json
import shutil
import subprocess
import sys
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import sklearn.datasets._twenty_newsgroups as sk_twenty
from conftest import GROUPS, REAL_ARCHIVE, ROOT, make_cfg
from omegaconf import OmegaConf
from sklearn.datasets import fetch_20newsgroups

from distill.cli.config import load_splits
from distill.data.corpus import Corpus
from distill.data.csv import CsvDataModule
from distill.data.datamodule import Features, SoftTargets, TextDataModule
from distill.data.samplers import LengthGroupedSampler
from distill.data.newsgroups import Newsgroups20DataModule, build_splits, read_raw
from distill.data.strip import REMOVABLE
from distill.errors import UserError
from distill.features import TfidfFeatures, WordPieceFeatures

ALL_REMOVED = ("headers", "footers", "quotes")
TWO_GROUPS = ["sci.space", "comp.graphics"]  # deliberately not sorted


# --------------------------------------------------------------------------- helpers


def _corpus_equal(a: Corpus, b: Corpus) -> None:
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.texts == b.texts
    assert a.label_names == b.label_names
    assert a.fingerprint() == b.fingerprint()


def _split_files(root: Path, split: str) -> list[Path]:
    return sorted(p for p in (root / f"20news-bydate-{split}").glob("*/*") if p.is_file())


def _fake_fetch_remote(archive: Path, calls: list):
    """A stand-in for sklearn's downloader that copies the synthetic archive into ``dirname``."""

    def fetch(remote, dirname=None, n_retries=3, delay=1):
        calls.append(remote.filename)
        target = Path(dirname) / remote.filename
        shutil.copyfile(archive, target)
        return str(target)

    return fetch


def _offline(*args, **kwargs):
    raise AssertionError("scikit-learn tried to download although its cache should exist")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sklearn_home(corpus_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scikit-learn data_home whose 20news cache was built from the synthetic archive."""
    # The stand-in must accept exactly what sklearn passes to the real _fetch_remote.
    params = inspect.signature(sk_twenty._fetch_remote).parameters
    assert list(params)[:2] == ["remote", "dirname"]
    home = tmp_path_factory.mktemp("sklearn_home")
    calls: list = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sk_twenty, "_fetch_remote", _fake_fetch_remote(corpus_archive, calls))
        fetch_20newsgroups(data_home=str(home), subset="train", shuffle=False)
    assert calls == ["20news-bydate.tar.gz"]
    assert corpus_archive.is_file()  # sklearn deleted its copy, not our fixture
    return home


@pytest.fixture(scope="module")
def raw(corpus_archive: Path):
    return read_raw(str(corpus_archive))


@pytest.fixture(scope="module")
def splits(raw):
    return build_splits(raw, None, ALL_REMOVED)


# --------------------------------------------------------------------------- 20 Newsgroups vs scikit-learn


def _sklearn_bunch(home: Path, subset: str, categories, remove):
    return fetch_20newsgroups(
        data_home=str(home), subset=subset, categories=categories, remove=tuple(remove), shuffle=False
    )


def _by_file(texts, labels, label_names, keys) -> dict[tuple[str, str], tuple[str, str]]:
    """{(newsgroup, file name): (text, label name)}."""
    return {key: (text, label_names[label]) for key, text, label in zip(keys, texts, labels)}


@pytest.mark.parametrize("categories", [None, TWO_GROUPS], ids=["all", "two"])
@pytest.mark.parametrize(
    "remove", [ALL_REMOVED, (), ("quotes", "headers")], ids=["all_removed", "raw", "quotes+headers"]
)
def test_build_splits_equals_sklearn(sklearn_home, raw, corpus_dir, monkeypatch, categories, remove) -> None:
    """Same documents, texts, labels and label names as fetch_20newsgroups, message by message.

    Messages are matched by (newsgroup, file name): scikit-learn's cache keeps load_files'
    default shuffled order (see test_build_splits_order_equals_sklearn), ours is sorted.
    """
    monkeypatch.setattr(sk_twenty, "_fetch_remote", _offline)
    ours = dict(zip(("train", "test"), build_splits(raw, categories, remove)))
    for subset, corpus in ours.items():
        bunch = _sklearn_bunch(sklearn_home, subset, categories, remove)
        assert len(bunch.data) > 0
        assert corpus.label_names == list(bunch.target_names)
        np.testing.assert_array_equal(np.sort(corpus.labels), np.sort(bunch.target))
        sk_keys = [(Path(f).parent.name, Path(f).name) for f in bunch.filenames]
        theirs = _by_file(bunch.data, bunch.target, bunch.target_names, sk_keys)
        # build_splits documents its order: newsgroup name, then file name.
        files = [p for p in _split_files(corpus_dir, subset) if p.parent.name in corpus.label_names]
        our_keys = [(p.parent.name, p.name) for p in files]
        assert len(our_keys) == len(corpus)
        assert _by_file(corpus.texts, corpus.labels, corpus.label_names, our_keys) == theirs
    if categories is not None:
        assert ours["train"].label_names == sorted(categories)


def test_sklearn_path_equals_archive_and_folder(sklearn_home, corpus_archive, corpus_dir, monkeypatch):
    monkeypatch.setattr(sk_twenty, "_fetch_remote", _offline)
    from_sklearn = read_raw(None, data_home=str(sklearn_home))
    from_archive = read_raw(str(corpus_archive))
    from_folder = read_raw(str(corpus_dir))
    assert from_sklearn == from_archive == from_folder
    for categories in (None, TWO_GROUPS):
        for remove in (ALL_REMOVED, ()):
            reference = build_splits(from_archive, categories, remove)
            for other in (from_sklearn, from_folder):
                for a, b in zip(reference, build_splits(other, categories, remove)):
                    _corpus_equal(a, b)


def test_datamodule_loads_same_corpus_from_every_source(sklearn_home, corpus_archive, corpus_dir, monkeypatch):
    monkeypatch.setattr(sk_twenty, "_fetch_remote", _offline)
    loaded = [
        Newsgroups20DataModule(features=TfidfFeatures(), archive=archive, data_home=home).load_corpus()
        for archive, home in ((str(corpus_archive), None), (str(corpus_dir), None), (None, str(sklearn_home)))
    ]
    for other in loaded[1:]:
        for a, b in zip(loaded[0], other):
            _corpus_equal(a, b)
    train, _ = loaded[0]
    assert train.label_names == sorted(GROUPS)


def test_a_runs_splits_load_without_torch_or_lightning(tmp_path: Path, corpus_archive: Path) -> None:
    """What only reads a run's splits (the report, a server's first start, the benchmarks) must not pay
    for importing torch and Lightning: the same splits, by id, as the training process loads."""
    cfg = make_cfg(tmp_path, corpus_archive, ["model=logistic"])
    OmegaConf.save(cfg, tmp_path / "config.yaml")
    code = ("import sys; from omegaconf import OmegaConf; from distill.cli.config import load_splits; "
            f"splits = load_splits(OmegaConf.load({str(tmp_path / 'config.yaml')!r})); "
            "print(sorted({'lightning', 'torch'} & set(sys.modules))); "
            "print({name: corpus.fingerprint() for name, corpus in sorted(splits.items())})")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded, fingerprints = done.stdout.strip().splitlines()
    assert loaded == "[]"
    assert fingerprints == str({name: corpus.fingerprint() for name, corpus in sorted(load_splits(cfg).items())})


def test_archive_with_leading_folder_and_stray_files(corpus_dir, tmp_path) -> None:
    """A tarball with a top-level folder and stray files outside the split folders reads the same."""
    import tarfile

    readme = tmp_path / "README"
    readme.write_text("not a message")
    nested = tmp_path / "nested.tar.gz"
    with tarfile.open(nested, "w:gz") as archive:
        archive.add(corpus_dir, arcname="20news-bydate")
        archive.add(readme, arcname="20news-bydate/README")
        archive.add(readme, arcname="20news-bydate/20news-bydate-train/README")
    reference = read_raw(str(corpus_dir))
    assert read_raw(str(nested)) == reference
    for split in ("train", "test"):
        assert sorted(reference[split]) == sorted(GROUPS)
        n_files = sum(len(files) for files in reference[split].values())
        assert n_files == len(_split_files(corpus_dir, split))


# --------------------------------------------------------------------------- ids and empty documents


def test_ids_unique_ordered_and_cover_the_corpus(splits, corpus_dir) -> None:
    train, test = splits
    n_train, n_test = len(_split_files(corpus_dir, "train")), len(_split_files(corpus_dir, "test"))
    assert (len(train), len(test)) == (n_train, n_test)  # nothing dropped, not even empty texts
    all_ids = np.concatenate([train.ids, test.ids])
    assert len(np.unique(all_ids)) == len(all_ids)
    assert train.ids.max() < test.ids.min()
    np.testing.assert_array_equal(all_ids, np.arange(n_train + n_test))


def test_ids_stable_across_category_subsets(raw) -> None:
    # Raw texts (nothing removed) contain a unique "From:" line, so a text identifies a message.
    full = build_splits(raw, None, ())
    id_of = {text: int(i) for corpus in full for i, text in zip(corpus.ids, corpus.texts)}
    assert len(id_of) == sum(len(c) for c in full)
    for categories in (TWO_GROUPS, ["rec.autos"], ["sci.space"]):
        sub = build_splits(raw, categories, ())
        for full_split, sub_split in zip(full, sub):
            assert 0 < len(sub_split) < len(full_split)
            assert [id_of[text] for text in sub_split.texts] == sub_split.ids.tolist()
            names = [sub_split.label_names[label] for label in sub_split.labels]
            full_names = {int(i): full_split.label_names[l] for i, l in zip(full_split.ids, full_split.labels)}
            assert names == [full_names[int(i)] for i in sub_split.ids]
            assert set(names) == set(categories)
        # Stripped texts get the same ids as well.
        stripped_full = build_splits(raw, None, ALL_REMOVED)
        stripped_sub = build_splits(raw, categories, ALL_REMOVED)
        for full_split, sub_split in zip(stripped_full, stripped_sub):
            text_of = dict(zip(full_split.ids.tolist(), full_split.texts))
            assert [text_of[i] for i in sub_split.ids.tolist()] == sub_split.texts


def test_empty_after_stripping_documents_are_kept(splits, corpus_dir) -> None:
    # conftest writes a headers-only message for every 7th message number; those with no
    # signature strip to nothing (a signature right after the header survives, as in sklearn).
    for split, corpus in zip(("train", "test"), splits):
        files = _split_files(corpus_dir, split)
        assert len(corpus) == len(files)
        expected = [
            sk_twenty.strip_newsgroup_quoting(
                sk_twenty.strip_newsgroup_footer(sk_twenty.strip_newsgroup_header(p.read_bytes().decode("latin-1")))
            )
            for p in files
        ]
        assert corpus.texts == expected
        empty = {p.name for p, text in zip(files, corpus.texts) if text.strip() == ""}
        headers_only = {p.name for p in files if int(p.name) % 7 == 0 and int(p.name) % 4 != 0}
        assert headers_only and headers_only <= empty


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "error", [urllib.error.URLError("offline"), OSError("network is unreachable"), ConnectionError("x")]
)
def test_offline_without_archive_names_data_archive(tmp_path, monkeypatch, error) -> None:
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(sk_twenty, "_fetch_remote", fail)
    home = tmp_path / "empty_home"
    home.mkdir()
    with pytest.raises(UserError, match=r"data\.archive"):
        read_raw(None, data_home=str(home))


def test_missing_archive_names_data_archive(tmp_path) -> None:
    with pytest.raises(UserError, match=r"data\.archive"):
        read_raw(str(tmp_path / "nope" / "20news-bydate.tar.gz"))


def test_archive_without_newsgroup_folders_is_rejected(tmp_path) -> None:
    (tmp_path / "something" / "else").mkdir(parents=True)
    (tmp_path / "something" / "else" / "1").write_text("x")
    with pytest.raises(ValueError, match=r"data\.archive"):
        read_raw(str(tmp_path))


def test_unknown_category_names_data_categories(raw) -> None:
    with pytest.raises(ValueError, match=r"data\.categories"):
        build_splits(raw, ["sci.space", "sci.nonexistent"], ALL_REMOVED)


def test_unknown_remove_part_is_rejected(raw) -> None:
    with pytest.raises(ValueError, match=r"data\.remove"):
        build_splits(raw, None, ("headers", "signatures"))


# --------------------------------------------------------------------------- Corpus


def _toy_corpus(counts=(30, 20, 11, 7), seed: int = 0) -> Corpus:
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(len(counts)), counts))
    n = len(labels)
    ids = np.arange(n) * 3 + 100  # not positions, so id/position mix-ups show
    return Corpus(ids=ids, texts=[f"doc {i} label {l}" for i, l in zip(ids, labels)], labels=labels,
                  label_names=[f"c{k}" for k in range(len(counts))])


def _pairs(corpus: Corpus) -> set[tuple[int, str, int]]:
    return {(int(i), t, int(l)) for i, t, l in zip(corpus.ids, corpus.texts, corpus.labels)}


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
@pytest.mark.parametrize("seed", [0, 7])
def test_split_is_stratified_disjoint_and_covering(fraction: float, seed: int) -> None:
    corpus = _toy_corpus()
    rest, held = corpus.split(fraction, seed)
    assert not set(rest.ids) & set(held.ids)
    assert _pairs(rest) | _pairs(held) == _pairs(corpus)  # rows stay intact, nothing lost
    assert len(rest) + len(held) == len(corpus)
    assert abs(len(held) - fraction * len(corpus)) <= 1
    for label in range(len(corpus.label_names)):
        total = int((corpus.labels == label).sum())
        assert abs(int((held.labels == label).sum()) - fraction * total) <= 1, label
    # Corpus order is kept inside each part.
    assert np.all(np.diff(rest.ids) > 0) and np.all(np.diff(held.ids) > 0)
    assert rest.label_names == held.label_names == corpus.label_names


def test_split_is_deterministic_for_a_seed() -> None:
    corpus = _toy_corpus()
    first, again = corpus.split(0.2, 3), corpus.split(0.2, 3)
    for a, b in zip(first, again):
        _corpus_equal(a, b)
    others = [corpus.split(0.2, seed)[1].ids.tolist() for seed in (4, 5, 6)]
    assert any(ids != first[1].ids.tolist() for ids in others)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_rejects_bad_fraction(fraction: float) -> None:
    with pytest.raises(ValueError, match=r"val_fraction"):
        _toy_corpus().split(fraction, 0)


def test_split_of_corpus_with_singleton_class_still_works() -> None:
    corpus = _toy_corpus(counts=(10, 10, 1))
    rest, held = corpus.split(0.3, 0)
    assert _pairs(rest) | _pairs(held) == _pairs(corpus)


def test_sample_caps_the_size() -> None:
    corpus = _toy_corpus()
    for n in (4, 10, 33, len(corpus) - 10):
        sample = corpus.sample(n, 0)
        assert len(sample) == n
        assert _pairs(sample) <= _pairs(corpus)
        for label in range(len(corpus.label_names)):  # stratified: each class keeps its share
            share = (corpus.labels == label).mean()
            assert abs(int((sample.labels == label).sum()) - n * share) <= 1, (n, label)
        _corpus_equal(sample, corpus.sample(n, 0))
    assert len(corpus.sample(len(corpus), 0)) == len(corpus)
    assert len(corpus.sample(10 * len(corpus), 0)) == len(corpus)
    with pytest.raises(ValueError):
        corpus.sample(0, 0)


@pytest.mark.parametrize("case", ["sample_almost_all", "tiny_fraction"])
def test_split_and_sample_near_the_edges(case: str) -> None:
    corpus = _toy_corpus()  # 68 examples, 4 classes
    if case == "sample_almost_all":
        assert len(corpus.sample(len(corpus) - 2, 0)) == len(corpus) - 2
    else:
        rest, held = corpus.split(0.03, 0)  # 3 held-out examples < 4 classes
        assert len(rest) + len(held) == len(corpus)


def test_fingerprint_changes_with_text_label_and_order() -> None:
    corpus = _toy_corpus()
    base = corpus.fingerprint()
    same = Corpus(corpus.ids.copy(), list(corpus.texts), corpus.labels.copy(), list(corpus.label_names))
    assert same.fingerprint() == base

    texts = list(corpus.texts)
    texts[5] = texts[5] + "!"
    assert Corpus(corpus.ids, texts, corpus.labels, corpus.label_names).fingerprint() != base

    labels = corpus.labels.copy()
    labels[5] = (labels[5] + 1) % len(corpus.label_names)
    assert Corpus(corpus.ids, corpus.texts, labels, corpus.label_names).fingerprint() != base

    order = np.arange(len(corpus))
    order[[0, 1]] = order[[1, 0]]
    assert corpus.subset(order).fingerprint() != base

    # Moving text between neighbours ("ab","c" vs "a","bc") must not collide.
    merged = list(corpus.texts)
    merged[0], merged[1] = merged[0] + merged[1][0], merged[1][1:]
    assert Corpus(corpus.ids, merged, corpus.labels, corpus.label_names).fingerprint() != base


def test_corpus_rejects_ragged_columns_and_duplicate_ids() -> None:
    with pytest.raises(ValueError):
        Corpus(np.arange(3), ["a", "b"], np.zeros(3, dtype=np.int64), ["x"])
    with pytest.raises(ValueError, match="unique"):
        Corpus(np.array([1, 2, 1]), ["a", "b", "c"], np.zeros(3, dtype=np.int64), ["x"])


# --------------------------------------------------------------------------- CSV / JSONL


CSV_LABELS = ["spam", "ham", "eggs"]


def _write_csv_data(tmp_path: Path, n_train: int = 30, test_labels=None) -> tuple[Path, Path]:
    train = tmp_path / "train.csv"
    with open(train, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "label", "extra"])
        writer.writeheader()
        for i in range(n_train):
            label = CSV_LABELS[i % 3]
            text = f'row {i}, with "quotes", a comma and\na newline about {label} {label}'
            writer.writerow({"text": text, "label": label, "extra": i})
    test = tmp_path / "test.jsonl"
    labels = test_labels or ["ham", "spam", "eggs", "spam"]
    with open(test, "w", encoding="utf-8") as handle:
        for i, label in enumerate(labels):
            handle.write(json.dumps({"text": f"test {i} caf\u00e9 {label}", "label": label}) + "\n")
        handle.write("\n")  # a trailing blank line is ignored
    return train, test


def _csv_module(train: Path, test: Path, **kwargs) -> CsvDataModule:
    return CsvDataModule(
        train_file=str(train),
        test_file=str(test),
        features=TfidfFeatures(min_df=1, max_df=1.0),
        batch_size=4,
        val_fraction=0.2,
        seed=0,
        **kwargs,
    )


def test_csv_datamodule_end_to_end(tmp_path) -> None:
    train_file, test_file = _write_csv_data(tmp_path)
    module = _csv_module(train_file, test_file)
    module.setup()
    assert module.label_names == sorted(CSV_LABELS) == ["eggs", "ham", "spam"]
    assert module.num_classes == 3
    train, val, test = (module.splits[s] for s in ("train", "val", "test"))
    # val is carved from train (30 rows): disjoint, covering, stratified; test untouched.
    assert len(train) + len(val) == 30 and len(val) == 6
    assert set(train.ids) | set(val.ids) == set(range(30))
    assert not set(train.ids) & set(val.ids)
    assert sorted(np.bincount(val.labels, minlength=3).tolist()) == [2, 2, 2]
    assert len(test) == 4 and set(test.ids) == set(range(30, 34))
    # Texts and labels survive the CSV round trip (commas, quotes, newlines, non-ASCII).
    with open(train_file, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for corpus in (train, val):
        for i, text, label in zip(corpus.ids, corpus.texts, corpus.labels):
            assert text == rows[i]["text"]
            assert module.label_names[label] == rows[i]["label"]
    assert [module.label_names[l] for l in test.labels] == ["ham", "spam", "eggs", "spam"]
    assert test.texts[0] == "test 0 caf\u00e9 ham"

    batch = next(iter(module.train_dataloader()))
    assert {"ids", "labels", "inputs"} <= set(batch)
    assert "teacher_logits" not in batch
    assert batch["ids"].shape == batch["labels"].shape == (4,)
    assert set(batch["ids"].tolist()) <= set(train.ids.tolist())
    assert set(batch["inputs"]) == {"indices", "offsets", "weights"}
    label_of = dict(zip(val.ids.tolist(), val.labels.tolist()))
    for ids, labels in ((b["ids"], b["labels"]) for b in module.val_dataloader()):
        assert labels.tolist() == [label_of[i] for i in ids.tolist()]


def test_csv_id_column_missing_from_test_file(tmp_path) -> None:
    train_file, test_file = _write_csv_data(tmp_path)
    module = _csv_module(train_file, test_file, id_column="extra")
    # test.jsonl has no "extra" column: its first line is named, and the setting.
    with pytest.raises(UserError) as error:
        module.load_corpus()
    assert str(error.value) == (
        f"{test_file}, line 1 has no 'extra' (it has ['label', 'text']); "
        "add it to every row or set data.id_column to one of those"
    )


def _write_val(path: Path, labels: list[str], ids: list[int] | None = None) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for i, label in enumerate(labels):
            row = {"text": f"val {i} {label}", "label": label, **({"extra": ids[i]} if ids else {})}
            handle.write(json.dumps(row) + "\n")
    return path


def test_csv_val_file_is_the_validation_split_and_is_numbered_after_test(tmp_path) -> None:
    train_file, test_file = _write_csv_data(tmp_path, n_train=12)
    val_file = _write_val(tmp_path / "val.jsonl", ["spam", "eggs"])
    splits = _csv_module(train_file, test_file, val_file=str(val_file), max_train_samples=9).load_splits()
    assert splits["val"].texts == ["val 0 spam", "val 1 eggs"] and splits["val"].ids.tolist() == [16, 17]
    assert [splits["val"].label_names[label] for label in splits["val"].labels] == ["spam", "eggs"]
    assert len(splits["train"]) == 9 and set(splits["train"].ids) <= set(range(12))  # nothing carved out
    assert splits["test"].ids.tolist() == [12, 13, 14, 15]  # as without a val file


def test_csv_val_file_ids_are_unique_across_the_three_files(tmp_path) -> None:
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    _write_val(train, ["spam", "ham"], ids=[1, 2])
    _write_val(test, ["ham"], ids=[3])
    val = _write_val(tmp_path / "val.jsonl", ["spam", "ham"], ids=[4, 2])
    with pytest.raises(UserError, match=rf"{val}, line 2: id 2 in column 'extra' repeats {train}, line 2; ids must be "
                                        r"unique across data.train_file, data.test_file and data.val_file"):
        _csv_module(train, test, val_file=str(val), id_column="extra").load_splits()
    unseen = _write_val(tmp_path / "unseen.jsonl", ["bacon"], ids=[9])
    with pytest.raises(UserError, match=r"unseen.jsonl has labels never seen in training: \['bacon'\]; .*val_file"):
        _csv_module(train, test, val_file=str(unseen), id_column="extra").load_splits()


def test_csv_unseen_test_label_raises(tmp_path) -> None:
    train_file, test_file = _write_csv_data(tmp_path, test_labels=["ham", "bacon"])
    with pytest.raises(UserError, match=rf"{test_file}.*\['bacon'\].*add examples of them to data\.train_file"):
        _csv_module(train_file, test_file).setup()


@pytest.mark.parametrize(("option", "column"), [("text_column", "body"), ("label_column", "category")])
def test_csv_missing_column_names_file_line_and_setting(tmp_path, option: str, column: str) -> None:
    train_file, test_file = _write_csv_data(tmp_path)
    module = _csv_module(train_file, test_file, **{option: column})
    with pytest.raises(UserError) as error:
        module.setup()
    assert str(error.value) == (
        f"{train_file}, line 2 has no '{column}' (it has ['extra', 'label', 'text']); "
        f"add it to every row or set data.{option} to one of those"
    )


def test_csv_missing_file_raises(tmp_path) -> None:
    train_file, _ = _write_csv_data(tmp_path)
    with pytest.raises(UserError):
        _csv_module(train_file, tmp_path / "missing.jsonl").setup()


def _load_error(tmp_path: Path, name: str, content: str | bytes, **kwargs) -> tuple[Path, str]:
    """Write ``content`` as the train (``*.csv``) or test (``*.jsonl``) file next to a good
    other file, load both, and return the bad file with the UserError's message."""
    train_file, test_file = _write_csv_data(tmp_path)
    bad = tmp_path / name
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    files = (bad, test_file) if name.endswith(".csv") else (train_file, bad)
    with pytest.raises(UserError) as error:
        _csv_module(*files, **kwargs).load_corpus()
    return bad, str(error.value)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [  # the bad row starts on line 4: the quoted text before it spans two lines
        ("bad.csv", 'text,label\n"two\nlines",x\nb,\n', "line 4 has an empty 'label'; label the row or remove it"),
        ("bad.csv", 'text,label\n"two\nlines",x\nb\n',
         "line 4: expected 2 fields (the header's), found 1; "
         "give every row one value per column, quoting values that hold commas or quotes"),
        ("bad.csv", 'text,label\n"two\nlines",x\nb,y,z\n',
         "line 4: expected 2 fields (the header's), found 3; "
         "give every row one value per column, quoting values that hold commas or quotes"),
        ("bad.jsonl", '{"text": "a", "label": "x"}\n\n{"text": "b", "label": null}\n',
         "line 3 has an empty 'label'; label the row or remove it"),
        ("bad.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": " "}\n',
         "line 2 has an empty 'label'; label the row or remove it"),
    ],
    ids=["empty_csv_label", "short_csv_row", "long_csv_row", "null_json_label", "blank_json_label"],
)
def test_csv_rows_without_a_label_are_refused_with_their_line(tmp_path, name, content, problem) -> None:
    bad, message = _load_error(tmp_path, name, content)
    assert message == f"{bad}, {problem}"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('["a", "x"]', 'line 2 is a JSON list, not an object; write one object per line, '
                       'like {"text": "...", "label": "..."}'),
        ('"text label"', 'line 2 is a JSON str, not an object; write one object per line, '
                         'like {"text": "...", "label": "..."}'),
        ('{"text": "a", "label": ', "line 2: invalid JSON (Expecting value, column 24); "
                                   "write one JSON object per line"),
        ('{"text": "b"}', "line 2 has no 'label' (it has ['text']); "
                          "add it to every row or set data.label_column to one of those"),
    ],
    ids=["list", "string", "malformed", "missing_key"],
)
def test_bad_jsonl_line_is_refused_with_file_and_line(tmp_path, line: str, problem: str) -> None:
    bad, message = _load_error(tmp_path, "bad.jsonl", '{"text": "a", "label": "ham"}\n' + line + "\n")
    assert message == f"{bad}, {problem}"


@pytest.mark.parametrize(
    ("name", "content", "setting"),
    [("empty.csv", "", "train"), ("header_only.csv", "text,label\r\n", "train"), ("blank.jsonl", "\n \n", "test")],
)
def test_empty_or_header_only_file_is_refused(tmp_path, name: str, content: str, setting: str) -> None:
    bad, message = _load_error(tmp_path, name, content)
    assert message == f"{bad} has no rows (it is empty or only a header); data.{setting}_file needs labelled examples"


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["plain", "bom"])
def test_non_utf8_file_names_the_byte_offset(tmp_path, bom: bytes) -> None:
    latin1 = bom + "text,label\na,ham\ncaf\u00e9,spam\n".encode("latin-1")
    bad, message = _load_error(tmp_path, "latin1.csv", latin1)
    offset = len(bom) + len(b"text,label\na,ham\ncaf")  # counted from the file's first byte
    assert message == f"{bad}, line 3: byte {offset} (0xe9) is not UTF-8; re-save the file as UTF-8"


def test_utf8_bom_header_is_read(tmp_path) -> None:
    train_file, test_file = _write_csv_data(tmp_path)
    with_bom = tmp_path / "excel.csv"
    with_bom.write_text(train_file.read_text(encoding="utf-8"), encoding="utf-8-sig")
    assert with_bom.read_bytes().startswith(b"\xef\xbb\xbf")
    _corpus_equal(_csv_module(with_bom, test_file).load_corpus()[0], _csv_module(train_file, test_file).load_corpus()[0])


def _with_ids(tmp_path: Path, test_ids: list) -> tuple[Path, Path]:
    """The CSV data with the test file rewritten to carry an "extra" id column (train's are 0..29)."""
    train_file, test_file = _write_csv_data(tmp_path)
    rows = [json.loads(line) for line in test_file.read_text().splitlines() if line]
    test_file.write_text("".join(json.dumps(row | {"extra": i}) + "\n" for row, i in zip(rows, test_ids)))
    return train_file, test_file


def test_id_column_ids_are_kept_when_unique_across_files(tmp_path) -> None:
    train, test = _csv_module(*_with_ids(tmp_path, [100, "101", 102, " 103 "]), id_column="extra").load_corpus()
    assert train.ids.tolist() == list(range(30)) and test.ids.tolist() == [100, 101, 102, 103]


def test_id_column_ids_repeated_across_files_are_refused(tmp_path) -> None:
    train_file, test_file = _with_ids(tmp_path, [100, 101, 3, 102])
    with pytest.raises(UserError) as error:
        _csv_module(train_file, test_file, id_column="extra").load_corpus()
    # train.csv row 3 starts on line 8: each of its texts spans two lines.
    assert str(error.value) == (
        f"{test_file}, line 3: id 3 in column 'extra' repeats {train_file}, line 8; ids must be unique "
        "across data.train_file and data.test_file (or set data.id_column=null to number rows)"
    )


@pytest.mark.parametrize("value", ["abc", 1.5, None, True])
def test_id_column_non_integer_ids_are_refused(tmp_path, value) -> None:
    train_file, test_file = _with_ids(tmp_path, [100, 101, value, 102])
    with pytest.raises(UserError) as error:
        _csv_module(train_file, test_file, id_column="extra").load_corpus()
    assert str(error.value) == (
        f"{test_file}, line 3: id {value!r} in column 'extra' is not an integer; "
        "data.id_column must name a column of integer ids (or set data.id_column=null to number rows)"
    )


class _FixedCorpora(TextDataModule):
    """A data source that returns the (train, test) corpora it was given."""

    def __init__(self, train: Corpus, test: Corpus, **kwargs) -> None:
        super().__init__(features=None, **kwargs)
        self.corpora = (train, test)

    def load_corpus(self) -> tuple[Corpus, Corpus]:
        return self.corpora


def _n_examples(n: int) -> Corpus:
    return Corpus(np.arange(n), [f"doc {i}" for i in range(n)], np.zeros(n, dtype=np.int64), ["x"])


@pytest.mark.parametrize("empty", ["train", "test"])
def test_load_splits_refuses_an_empty_split(empty: str) -> None:
    corpora = {"train": _n_examples(10), "test": _n_examples(4)} | {empty: _n_examples(0)}
    with pytest.raises(UserError) as error:
        _FixedCorpora(corpora["train"], corpora["test"]).load_splits()
    assert str(error.value) == (
        f"the {empty} split is empty: the data settings that choose its examples "
        f"(data.{empty}_file, data.categories, data.archive) select none"
    )


@pytest.mark.parametrize(("n_train", "fraction"), [(1, 0.1), (10, 0.95)])
def test_load_splits_refuses_a_val_fraction_that_leaves_no_training_examples(n_train, fraction) -> None:
    module = _FixedCorpora(_n_examples(n_train), _n_examples(4), val_fraction=fraction)
    with pytest.raises(UserError) as error:
        module.load_splits()
    assert str(error.value) == (
        f"data.val_fraction={fraction} holds out every training example (there are {n_train}); "
        "lower data.val_fraction or add training examples"
    )
    assert len(_FixedCorpora(_n_examples(2), _n_examples(4), val_fraction=0.5).load_splits()["train"]) == 1


# --------------------------------------------------------------------------- real corpus


@pytest.fixture(scope="module")
def real_raw():
    if not REAL_ARCHIVE.is_file():
        pytest.skip(f"{REAL_ARCHIVE} not found")
    return read_raw(str(REAL_ARCHIVE))


@pytest.mark.slow
def test_real_archive_counts_and_empty_documents(real_raw) -> None:
    train, test = build_splits(real_raw, None, REMOVABLE)
    assert (len(train), len(test)) == (11314, 7532)
    assert len(train.label_names) == len(test.label_names) == 20
    assert set(np.unique(train.labels)) == set(range(20)) == set(np.unique(test.labels))
    empty_train = sum(text.strip() == "" for text in train.texts)
    empty_test = sum(text.strip() == "" for text in test.texts)
    assert 250 <= empty_train <= 350
    assert 150 <= empty_test <= 260
    all_ids = np.concatenate([train.ids, test.ids])
    np.testing.assert_array_equal(all_ids, np.arange(len(all_ids)))


@pytest.mark.slow
def test_real_archive_stripping_matches_sklearn(real_raw) -> None:
    stripped, unstripped = build_splits(real_raw, None, REMOVABLE), build_splits(real_raw, None, ())
    for ours, raw_split in zip(stripped, unstripped):
        assert ours.ids.tolist() == raw_split.ids.tolist()
        for i in range(len(ours)):  # every document: stripping is cheap
            text = raw_split.texts[i]
            expected = sk_twenty.strip_newsgroup_quoting(
                sk_twenty.strip_newsgroup_footer(sk_twenty.strip_newsgroup_header(text))
            )
            assert ours.texts[i] == expected, int(ours.ids[i])


def test_length_grouped_sampler_is_a_fresh_permutation_each_epoch_sorted_within_windows() -> None:
    lengths = np.random.default_rng(0).integers(1, 500, size=1000).tolist()
    sampler = LengthGroupedSampler(lengths, batch_size=10, seed=3, window_batches=5)
    first = list(sampler)
    assert sorted(first) == list(range(1000))
    for start in range(0, 1000, 50):  # each window of 5 batches is sorted longest first
        window = [lengths[i] for i in first[start : start + 50]]
        assert window == sorted(window, reverse=True)
    assert list(sampler) == first  # same epoch, same order (resumable)
    sampler.set_epoch(1)
    assert list(sampler) != first
    # Batches pad to far less than a shuffled batch does: the point of grouping.
    def padding(order: list[int]) -> int:
        return sum(max(lengths[i] for i in order[s : s + 10]) * 10 for s in range(0, 1000, 10))
    shuffled = np.random.default_rng(1).permutation(1000).tolist()
    assert padding(first) < 0.7 * padding(shuffled)


def test_group_by_length_only_changes_the_training_order(tmp_path) -> None:
    train_file, test_file = _write_csv_data(tmp_path)
    grouped = _csv_module(train_file, test_file, group_by_length=True)
    grouped.setup()
    assert isinstance(grouped.train_dataloader().sampler, LengthGroupedSampler)
    plain = _csv_module(train_file, test_file)
    plain.setup()
    assert not isinstance(plain.train_dataloader().sampler, LengthGroupedSampler)
    seen = [i for batch in grouped.train_dataloader() for i in batch["ids"].tolist()]
    assert sorted(seen) == sorted(grouped.splits["train"].ids.tolist())
    for split in ("val", "test"):  # evaluation is untouched: the same batches in the same order
        grouped_ids = [batch["ids"].tolist() for batch in grouped.dataloader(split)]
        assert grouped_ids == [batch["ids"].tolist() for batch in plain.dataloader(split)], split


# --------------------------------------------------------------------------- ordered validation split


def test_ordered_split_holds_out_each_classs_latest_examples() -> None:
    corpus = _toy_corpus()
    keys = np.random.default_rng(3).permutation(len(corpus)) * 10  # a time order unrelated to position
    dated = Corpus(corpus.ids, corpus.texts, corpus.labels, corpus.label_names, keys)
    rest, held = dated.split(0.25, seed=0, ordered=True)
    assert _pairs(rest) | _pairs(held) == _pairs(corpus) and not set(rest.ids) & set(held.ids)
    for label, count in enumerate((30, 20, 11, 7)):
        assert (held.labels == label).sum() == max(round(0.25 * count), 1)
        assert held.order[held.labels == label].min() > rest.order[rest.labels == label].max()
    assert np.array_equal(dated.split(0.25, seed=1, ordered=True)[1].ids, held.ids)  # no seed involved


def test_newsgroups_messages_are_ordered_by_article_number(corpus_archive: Path) -> None:
    module = Newsgroups20DataModule(archive=str(corpus_archive), features=None, val_fraction=0.2, val_split="ordered")
    splits = module.load_splits()
    with tarfile.open(corpus_archive) as archive:
        numbers = {int(Path(name).name) for name in archive.getnames() if "-train/" in name}
    assert set(splits["train"].order) | set(splits["val"].order) == numbers
    for label in range(len(GROUPS)):
        train, val = (splits[name].order[splits[name].labels == label] for name in ("train", "val"))
        assert val.min() > train.max()


def test_unknown_val_split_is_refused() -> None:
    with pytest.raises(UserError, match=r"data.val_split must be one of \['random', 'ordered'\], got 'latest'"):
        Newsgroups20DataModule(features=None, val_split="latest")


def _dated_csv(tmp_path: Path, dates: list[str]) -> tuple[Path, Path]:
    train = tmp_path / "train.csv"
    with open(train, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "posted"])
        for i, date in enumerate(dates):
            writer.writerow([f"row {i}", CSV_LABELS[i % 2], date])
    test = tmp_path / "test.csv"
    test.write_text("text,label,posted\nlater,ham,2030-01-01\n", encoding="utf-8")
    return train, test


def test_csv_order_column_orders_the_validation_split(tmp_path) -> None:
    dates = [f"2024-{month:02d}-01" for month in (5, 1, 12, 3, 9, 7, 2, 11, 4, 10)]
    module = _csv_module(*_dated_csv(tmp_path, dates), order_column="posted", val_split="ordered")
    val = module.load_splits()["val"]
    # the latest row of each label: ham rows are even (Dec is row 2), spam rows odd (Nov is row 7)
    assert sorted(val.texts) == ["row 2", "row 7"]
    numbers = _csv_module(*_dated_csv(tmp_path, ["9", "10", "8", "1"]), order_column="posted", val_split="ordered")
    assert sorted(numbers.load_splits()["val"].texts) == ["row 0", "row 1"]  # 10 after 9: numbers, not text


def test_csv_empty_order_value_is_refused(tmp_path) -> None:
    train, test = _dated_csv(tmp_path, ["2024-01-01", "", "2024-03-01", "2024-04-01"])
    with pytest.raises(UserError) as error:
        _csv_module(train, test, order_column="posted", val_split="ordered").load_corpus()
    assert str(error.value) == (f"{train}, line 3 has an empty 'posted'; give every row a value or "
                                "set data.order_column=null")


def test_every_features_class_offers_each_method_its_callers_use() -> None:
    used = {name for name in vars(Features) if not name.startswith("_")} | set(Features.__annotations__)
    assert {"fit", "encode", "length", "collate", "fingerprint", "save", "vocab_size"} <= used
    for features in (TfidfFeatures, WordPieceFeatures):
        assert [name for name in sorted(used) if not hasattr(features, name)] == [], features.__name__


def test_a_tfidf_fingerprint_names_the_fitted_vocabulary() -> None:
    fitted = []
    for texts in (["orbit rocket", "rocket launch"], ["orbit rocket", "rocket launch"], ["engine brake", "brake"]):
        features = TfidfFeatures(min_df=1, max_df=1.0)
        features.fit(texts)
        fitted.append(features.fingerprint())
    assert fitted[0] == fitted[1] != fitted[2]


class _Listed(TextDataModule):
    def __init__(self, train: Corpus, test: Corpus, **kwargs) -> None:
        super().__init__(TfidfFeatures(min_df=1, max_df=1.0), val_fraction=0.25, **kwargs)
        self.corpora = train, test

    def load_corpus(self) -> tuple[Corpus, Corpus]:
        return self.corpora


def test_soft_targets_are_looked_up_by_id_and_extra_examples_join_train_after_the_features() -> None:
    texts = [f"{word} text" for word in ("orbit", "rocket", "engine", "brake")] * 4
    train = Corpus(np.arange(16), texts, np.array([0, 0, 1, 1] * 4), ["space", "autos"])
    test = Corpus(np.arange(4), texts[:4], np.array([0, 0, 1, 1]), ["space", "autos"])
    module = _Listed(train, test)
    splits = module.load_splits()
    extra = Corpus(np.array([100, 101]), ["unseenword orbit", "unseenword brake"], np.array([-1, -1]), ["space", "autos"])
    by_split = {name: (corpus.ids[::-1], np.stack([corpus.ids[::-1], np.full(len(corpus), i)], 1).astype(np.float32))
                for i, (name, corpus) in enumerate(splits.items())}  # reversed: rows must be found by id
    by_split["extra"] = (extra.ids, np.stack([extra.ids, np.full(2, 9)], 1).astype(np.float32))
    module.encode(splits, SoftTargets(by_split, extra))
    for i, name in enumerate(("train", "val", "test")):
        dataset = module.datasets[name]
        np.testing.assert_array_equal(dataset.teacher_logits[:, 0], dataset.corpus.ids)
        codes = np.where(np.isin(dataset.corpus.ids, extra.ids), 9, i)
        np.testing.assert_array_equal(dataset.teacher_logits[:, 1], codes)
    assert set(extra.ids) <= set(module.datasets["train"].corpus.ids)
    assert "unseenword" not in module.features.vectorizer.vocabulary_  # fitted before the extra examples joined
    with pytest.raises(ValueError, match="labels must be -1"):
        _Listed(train, test).encode(splits, SoftTargets(by_split, Corpus(extra.ids, extra.texts, np.array([0, 1]),
                                                                         extra.label_names)))

