"""Labelling in shards: merged by id, resumed without re-labelling, refused when it would mix."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from hf_models import documents, text_logits
from distill.errors import UserError
from distill.labelling import identity, label, label_shards, merge, shard_path, shards

TEXTS = documents(23)
IDS = np.arange(100, 123, dtype=np.int64)[::-1].copy()  # not sorted: merging sorts by id
WHAT = identity("teacher-sha", 32, {"sha256": "file-sha", "bytes": 1})


def chunks(size: int = 5):
    """The stream as an unlabelled file yields it: (ids, texts) chunks of ``size``."""
    for start in range(0, len(TEXTS), size):
        yield IDS[start : start + size], TEXTS[start : start + size]


class Counting:
    """``text_logits``, recording every text it labels; fails on call ``fail_at`` (a crash)."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.texts: list[str] = []
        self.calls, self.fail_at = 0, fail_at

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("killed")
        self.texts.extend(texts)
        return text_logits(texts)


def expected() -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(IDS)
    return IDS[order], text_logits(TEXTS)[order]


def test_shards_cut_a_stream_of_chunks_into_fixed_sizes() -> None:
    cut = list(shards(chunks(5), 7))
    assert [index for index, _, _ in cut] == [0, 1, 2, 3]
    assert [len(texts) for _, _, texts in cut] == [7, 7, 7, 2]
    assert np.array_equal(np.concatenate([ids for _, ids, _ in cut]), IDS)
    assert [text for _, _, texts in cut for text in texts] == TEXTS


def test_merged_shards_equal_labelling_everything_at_once(tmp_path: Path) -> None:
    labeller = Counting()
    ids, logits = label(chunks(), labeller, tmp_path, WHAT, len(TEXTS), shard_size=4, batch_size=3)
    want_ids, want_logits = expected()
    assert np.array_equal(ids, want_ids) and np.array_equal(logits, want_logits)
    assert logits.dtype == np.float32 and sorted(labeller.texts) == sorted(TEXTS)
    assert len(list(tmp_path.glob("shard-*.npz"))) == 6
    assert json.loads((tmp_path / "manifest.json").read_text())["teacher_sha256"] == "teacher-sha"


def test_a_batch_holds_texts_of_similar_length(tmp_path: Path) -> None:
    seen: list[list[str]] = []
    label_shards(chunks(), lambda texts: seen.append(texts) or text_logits(texts), tmp_path, WHAT, len(TEXTS),
                 shard_size=len(TEXTS), batch_size=4)
    lengths = [[len(text) for text in batch] for batch in seen]
    assert [length for batch in lengths for length in batch] == sorted(len(text) for text in TEXTS)


def test_a_crashed_labelling_resumes_without_relabelling_finished_shards(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="killed"):  # batch_size 2, shard_size 4: call 5 is in shard 2
        label_shards(chunks(), Counting(fail_at=5), tmp_path, WHAT, len(TEXTS), shard_size=4, batch_size=2)
    assert sorted(path.name for path in tmp_path.glob("shard-*")) == ["shard-000000.npz", "shard-000001.npz"]
    resumed = Counting()
    ids, logits = label(chunks(), resumed, tmp_path, WHAT, len(TEXTS), shard_size=4, batch_size=2)
    assert sorted(resumed.texts) == sorted(TEXTS[8:])
    want_ids, want_logits = expected()
    assert np.array_equal(ids, want_ids) and np.array_equal(logits, want_logits)


def test_ranks_label_disjoint_shards_that_merge_into_one_run(tmp_path: Path) -> None:
    per_rank = [Counting(), Counting(), Counting()]
    for rank, labeller in enumerate(per_rank):
        assert label_shards(chunks(), labeller, tmp_path, WHAT, len(TEXTS), shard_size=4, rank=rank,
                            world_size=3) == len(range(rank, 6, 3))
    assert sorted(per_rank[1].texts) == sorted(TEXTS[4:8] + TEXTS[16:20])
    assert sum(len(labeller.texts) for labeller in per_rank) == len(TEXTS)
    ids, logits = merge(tmp_path)
    assert np.array_equal(ids, expected()[0]) and np.array_equal(logits, expected()[1])


def test_another_teacher_or_file_or_shard_size_is_refused_instead_of_mixed(tmp_path: Path) -> None:
    label_shards(chunks(), Counting(), tmp_path, WHAT, len(TEXTS), shard_size=4)
    other = identity("other-teacher", 32, {"sha256": "file-sha", "bytes": 1})
    with pytest.raises(UserError, match=r"holds labels of another labelling \(teacher_sha256 differ\)"):
        label_shards(chunks(), Counting(), tmp_path, other, len(TEXTS), shard_size=4)
    with pytest.raises(UserError, match=r"\(shard_size differ\): delete the folder"):
        label_shards(chunks(), Counting(), tmp_path, WHAT, len(TEXTS), shard_size=5)


def test_a_changed_input_is_refused(tmp_path: Path) -> None:
    label_shards(chunks(), Counting(), tmp_path, WHAT, len(TEXTS), shard_size=4)
    shifted = ((ids + 1, texts) for ids, texts in chunks())
    with pytest.raises(UserError, match="shard-000000.npz holds other documents than the input has"):
        label_shards(shifted, Counting(), tmp_path, WHAT, len(TEXTS), shard_size=4)
    with pytest.raises(UserError, match="the input held 23 documents, not the 30"):
        label_shards(chunks(), Counting(), tmp_path / "new", WHAT, 30, shard_size=4)


def test_merge_refuses_missing_shards_and_repeated_ids(tmp_path: Path) -> None:
    label_shards(chunks(), Counting(), tmp_path, WHAT, len(TEXTS), shard_size=4, rank=0, world_size=2)
    with pytest.raises(UserError, match=r"shards \[1, 3, 5\] of 6 are not labelled yet"):
        merge(tmp_path)
    label_shards(chunks(), Counting(), tmp_path, WHAT, len(TEXTS), shard_size=4, rank=1, world_size=2)
    with np.load(shard_path(tmp_path, 0)) as shard:
        ids, logits = shard["ids"].copy(), shard["logits"]
    ids[1] = IDS[-1]  # shard 5's last document, labelled twice
    np.savez(shard_path(tmp_path, 0), ids=ids, logits=logits)
    with pytest.raises(UserError, match=rf"ids \[{IDS[-1]}\] are in more than one shard"):
        merge(tmp_path)


def test_the_progress_bar_shows_only_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    label_shards(chunks(), Counting(), tmp_path / "quiet", WHAT, len(TEXTS), shard_size=4)
    assert capsys.readouterr().err == ""
    label_shards(chunks(), Counting(), tmp_path / "shown", WHAT, len(TEXTS), shard_size=4, progress=True)
    err = capsys.readouterr().err
    assert re.search(r"labelling \(rank 0/1\): 100%.* 23.0/23.0 \[\d\d:\d\d<\d\d:\d\d, +[\d.]+[kMG]?doc/s\]", err), err
