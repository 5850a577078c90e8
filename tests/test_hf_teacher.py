"""A classifier fine-tuned elsewhere as the teacher: labels matched by name, logits in the
corpus's order for any architecture, its weights hashed, and every bad folder refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hf_models import LABELS, MAX_LENGTH, SHUFFLED, TEXTS, save_model
from distill.errors import UserError
from distill.teachers.hf_classifier import ClassifierTeacher
from distill.teachers.label_map import column_order, map_labels, model_labels

ARCHS = ("bert", "distilbert", "roberta")
# Lengths from 1 token to past max_length, so that batches pad and the longest text is truncated.
VARIED = ["", "orbit", *TEXTS, " ".join(TEXTS * 8), "pixel engine orbit " * 3]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    return {arch: save_model(root / arch, arch) for arch in ARCHS}


def by_hand(folder: Path, texts: list[str]) -> np.ndarray:
    """The model run directly, one text at a time (no padding), its columns permuted by name by hand."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    rows = []
    with torch.no_grad():
        for text in texts:
            encoded = tokenizer(text, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
            rows.append(model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"]).logits[0].numpy())
    columns = [model.config.label2id[name] for name in LABELS]
    return np.stack(rows)[:, columns]


@pytest.mark.parametrize("arch", ARCHS)
def test_logits_come_out_in_the_corpus_order_for_any_architecture(folders: dict[str, Path], arch: str) -> None:
    teacher = ClassifierTeacher(str(folders[arch]), LABELS, batch_size=3)
    assert teacher.max_length == MAX_LENGTH  # the tokenizer's model_max_length, as teacher.max_length=null asks
    assert teacher.columns.tolist() == [SHUFFLED.index(name) for name in LABELS] != [0, 1, 2]
    logits = teacher.logits(VARIED)
    assert logits.dtype == np.float32 and logits.shape == (len(VARIED), 3)
    np.testing.assert_allclose(logits, by_hand(folders[arch], VARIED), atol=2e-5)
    assert teacher.logits([]).shape == (0, 3)


def test_a_label_map_gives_generic_labels_their_classes(folders: dict[str, Path], tmp_path: Path) -> None:
    generic = save_model(tmp_path / "generic", "bert", id2label=["LABEL_0", "LABEL_1", "LABEL_2"])  # same seed, same weights
    with pytest.raises(UserError, match=r"generic labels: \['LABEL_0', 'LABEL_1', 'LABEL_2'\], the corpus's classes are "
                                        r"\['comp.graphics', 'rec.autos', 'sci.space'\].*teacher.label_map=\{LABEL_0: "):
        ClassifierTeacher(str(generic), LABELS)
    label_map = {f"LABEL_{i}": name for i, name in enumerate(SHUFFLED)}
    mapped = ClassifierTeacher(str(generic), LABELS, label_map=label_map)
    named = ClassifierTeacher(str(folders["bert"]), LABELS)
    np.testing.assert_array_equal(mapped.logits(TEXTS), named.logits(TEXTS))
    assert mapped.weights_sha256 == named.weights_sha256
    assert mapped.source()["label_map"] == label_map
    assert mapped.source()["label_map_sha256"] != named.source()["label_map_sha256"]  # other model labels


def test_the_weights_hash_follows_the_weights(folders: dict[str, Path], tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    first = ClassifierTeacher(str(folders["roberta"]), LABELS)
    assert ClassifierTeacher(str(folders["roberta"]), LABELS).source() == first.source()  # a re-run: same record
    model = AutoModelForSequenceClassification.from_pretrained(folders["roberta"])
    with torch.no_grad():
        model.classifier.out_proj.bias[0] += 1e-3
    model.save_pretrained(tmp_path / "changed")
    AutoTokenizer.from_pretrained(folders["roberta"]).save_pretrained(tmp_path / "changed")
    changed = ClassifierTeacher(str(tmp_path / "changed"), LABELS)
    assert changed.weights_sha256 != first.weights_sha256
    assert changed.source()["tokenizer_sha256"] == first.source()["tokenizer_sha256"]
    recorded = {"kind": "teacher", "signature": "s", **first.source()}  # what the first run's store records
    assert first.made(recorded) and not changed.made({**recorded, "pretrained": str(tmp_path / "changed")})


def test_the_spec_resolves_max_length_as_the_teacher_does(folders: dict[str, Path]) -> None:
    from distill.features import WordPieceFeatures
    from distill.teachers.spec import ExternalTeacherSpec

    spec = ExternalTeacherSpec(pretrained=str(folders["distilbert"]), max_length=None, logits="x.npz")
    teacher = ClassifierTeacher(str(folders["distilbert"]), LABELS)
    assert spec.max_length == MAX_LENGTH
    students_see = WordPieceFeatures(spec.pretrained, spec.max_length).fingerprint()  # what students check the store with
    assert students_see == teacher.source()["tokenizer_sha256"]


def _rewrite_weights(folder: Path, keep) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(folder / "model.safetensors")
    save_file({key: value for key, value in tensors.items() if keep(key)}, folder / "model.safetensors",
              metadata={"format": "pt"})


def test_bad_folders_are_refused_with_the_file_and_the_fix(folders: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"empty/config.json does not exist: teacher.pretrained must be a folder"):
        ClassifierTeacher(str(tmp_path / "empty"), LABELS)
    with pytest.raises(UserError, match="nowhere: no such folder; give the folder save_pretrained wrote"):
        ClassifierTeacher(str(tmp_path / "nowhere"), LABELS)
    encoder = save_model(tmp_path / "encoder", "bert", id2label=None)
    with pytest.raises(UserError, match=r"BertModel, an encoder without a classification head: fine-tune it here with "
                                        r"distill-train model=teacher_minilm teacher.pretrained=.*encoder"):
        ClassifierTeacher(str(encoder), LABELS)
    headless = save_model(tmp_path / "headless", "roberta")
    _rewrite_weights(headless, lambda key: not key.startswith("classifier."))
    with pytest.raises(UserError, match=r"no trained classification head \(classifier.dense.bias.*distill-train "
                                        r"model=teacher_minilm"):
        ClassifierTeacher(str(headless), LABELS)
    broken = save_model(tmp_path / "broken", "bert")
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(UserError, match=r"broken/model.safetensors: the weights do not load"):
        ClassifierTeacher(str(broken), LABELS)
    four = save_model(tmp_path / "four", "distilbert", id2label=[*SHUFFLED, "talk.politics"])
    with pytest.raises(UserError, match=r"has num_labels=4 .*, the corpus has 3 classes"):
        ClassifierTeacher(str(four), LABELS)
    with pytest.raises(UserError, match=rf"teacher.max_length=100 is longer than .* \({MAX_LENGTH} positions\)"):
        ClassifierTeacher(str(folders["bert"]), LABELS, max_length=100)


def test_other_names_are_refused_and_listed(tmp_path: Path) -> None:
    other = ["space", "graphics", "autos"]
    with pytest.raises(UserError) as refused:
        map_labels(other, LABELS, None, "my-bert")
    message = str(refused.value)
    assert all(name in message for name in [*other, *LABELS]) and "teacher.label_map={space: comp.graphics, ...}" in message
    assert message.count("\n") <= 1


@pytest.mark.parametrize("label_map, problem", [
    ({"LABEL_0": "sci.space", "LABEL_1": "comp.graphics"}, r"leaves \['LABEL_2'\] of m unmapped: a partial mapping"),
    ({"LABEL_0": "sci.space", "LABEL_1": "comp.graphics", "LABEL_2": "talk.politics"},
     r"maps to \['talk.politics'\], which are not classes of the corpus"),
    ({"LABEL_0": "sci.space", "LABEL_1": "comp.graphics", "LABEL_2": "rec.autos", "LABEL_7": "rec.autos"},
     r"names \['LABEL_7'\], which are not labels of m"),
    ({"LABEL_0": "sci.space", "LABEL_1": "sci.space", "LABEL_2": "rec.autos"}, r"maps two labels to each of \['sci.space'\]"),
])
def test_a_bad_label_map_is_refused(label_map: dict, problem: str) -> None:
    with pytest.raises(UserError, match=problem):
        map_labels(["LABEL_0", "LABEL_1", "LABEL_2"], LABELS, label_map, "m")


def test_labels_map_by_name_whatever_either_order() -> None:
    model = model_labels({"2": "comp.graphics", "0": "sci.space", "1": "rec.autos"}, "m")  # JSON keys are strings
    assert model == ["sci.space", "rec.autos", "comp.graphics"]
    order = column_order(model, map_labels(model, LABELS, None, "m"), LABELS)
    assert [model[column] for column in order] == LABELS
    with pytest.raises(UserError, match=r"m/config.json: id2label must number its classes 0..1"):
        model_labels({0: "a", 2: "b"}, "m")
    assert json.dumps(order.tolist()) == "[2, 1, 0]"


def test_the_configs_give_the_teacher_its_settings(tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir

    from conftest import CONFIG_DIR
    from distill.cli.config import teacher_spec

    generic = save_model(tmp_path / "generic", "distilbert", id2label=["LABEL_0", "LABEL_1", "LABEL_2"])
    label_map = "{LABEL_0: sci.space, LABEL_1: comp.graphics, LABEL_2: rec.autos}"
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        finetuned = compose("train", overrides=["model=teacher_finetuned", f"teacher.pretrained={generic}",
                                                f"teacher.label_map={label_map}", f"paths.cache_dir={tmp_path}"])
        imported = compose("train", overrides=["model=teacher_imported", "teacher.imported=l.parquet",
                                               "teacher.classes=[sci.space, comp.graphics, rec.autos]"])
    spec = teacher_spec(finetuned)
    assert finetuned.model.role == "teacher_finetuned" and spec.max_length == MAX_LENGTH  # null: the tokenizer's
    teacher = ClassifierTeacher(spec.pretrained, LABELS, spec.label_map, spec.max_length)
    assert teacher.label_map == {"LABEL_0": "sci.space", "LABEL_1": "comp.graphics", "LABEL_2": "rec.autos"}
    assert teacher.columns.tolist() == [1, 2, 0]  # comp.graphics, rec.autos, sci.space
    assert spec.logits == str(tmp_path / "teacher_logits_finetuned.npz")
    assert imported.model.role == "teacher_imported"
    assert teacher_spec(imported).classes == ["sci.space", "comp.graphics", "rec.autos"]
