"""Students that read the teacher's tokenizer work with any of them (WordPiece, byte-level BPE),
and the BiLSTM starts from the teacher's input embeddings whatever the architecture calls them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hf_models import MAX_LENGTH, TEXTS, bpe_tokenizer, save_model
from distill.errors import UserError
from distill.features import WordPieceFeatures
from distill.nets import BiLSTMNet
from distill.pretrained import input_embeddings

ARCHS = ("bert", "distilbert", "roberta", "gpt2")  # gpt2 names its embeddings `wte`, not `word_embeddings`
LONG = " ".join(TEXTS * 6)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tok")
    return {arch: save_model(root / arch, arch) for arch in ARCHS}


@pytest.mark.parametrize("arch", ARCHS)
def test_features_encode_as_the_tokenizer_and_pad_with_its_pad_id(folders: dict[str, Path], arch: str,
                                                                   tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from distill.preprocessing import WordPieceTransform

    features = WordPieceFeatures(str(folders[arch]), max_length=None)
    tokenizer = AutoTokenizer.from_pretrained(folders[arch])
    rows = features.encode([TEXTS[0], LONG])
    assert [row.tolist() for row in rows] == tokenizer([TEXTS[0], LONG], truncation=True, max_length=MAX_LENGTH)["input_ids"]
    assert len(rows[1]) == MAX_LENGTH and rows[1][-1] == tokenizer(LONG)["input_ids"][-1]  # special tokens kept
    batch = features.collate(rows)
    assert sorted(batch) == ["attention_mask", "input_ids"]
    assert (batch["input_ids"][0, len(rows[0]):] == features.pad_id).all() and batch["attention_mask"][0].sum() == len(rows[0])
    features.save(tmp_path, ["a", "b", "c"], {})  # what serving redoes with tokenizers alone: the same ids
    served = WordPieceTransform(json.loads((tmp_path / "features.json").read_text()), tmp_path / "tokenizer.json")
    np.testing.assert_array_equal(served([TEXTS[0], LONG])["input_ids"], batch["input_ids"].numpy())


def test_roberta_pads_with_its_own_pad_id(folders: dict[str, Path]) -> None:
    features = WordPieceFeatures(str(folders["roberta"]), max_length=None)
    assert features.pad_id == 1 and features.encode(["orbit"])[0][0] == 0  # <s> is id 0: no row may be reserved for pads


def test_an_unbounded_tokenizer_reads_at_most_512_tokens(tmp_path: Path) -> None:
    tokenizer = bpe_tokenizer()
    tokenizer.model_max_length = int(1e30)  # what a tokenizer saved without a limit reports
    tokenizer.save_pretrained(tmp_path)
    assert WordPieceFeatures(str(tmp_path), max_length=None).max_length == 512
    assert WordPieceFeatures(str(tmp_path), max_length=20).max_length == 20


@pytest.mark.parametrize("arch", ARCHS)
def test_the_bilstm_starts_from_the_models_input_embeddings(folders: dict[str, Path], arch: str) -> None:
    from transformers import AutoModel

    expected = AutoModel.from_pretrained(folders[arch]).get_input_embeddings().weight.detach().numpy()
    np.testing.assert_array_equal(input_embeddings(str(folders[arch])), expected)
    features = WordPieceFeatures(str(folders[arch]), max_length=None)
    torch.manual_seed(0)
    net = BiLSTMNet(features.vocab_size, 3, hidden_size=8, head_size=8, embedding_init=str(folders[arch])).eval()
    np.testing.assert_array_equal(net.embedding.weight.detach().numpy(), expected)
    alone = net(**features.collate(features.encode(["orbit"])))
    padded = net(**features.collate(features.encode(["orbit", LONG])))[:1]  # padded with this tokenizer's pad id
    torch.testing.assert_close(padded, alone)


def test_a_padded_vocabulary_is_cut_to_the_tokenizer(folders: dict[str, Path], tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(folders["roberta"])
    tokenizer = AutoTokenizer.from_pretrained(folders["roberta"])
    model.resize_token_embeddings(len(tokenizer) + 8)  # rows no token reaches, as round-sized vocabularies have
    model.save_pretrained(tmp_path / "padded")
    tokenizer.save_pretrained(tmp_path / "padded")
    net = BiLSTMNet(len(tokenizer), 3, embedding_init=str(tmp_path / "padded"))
    assert net.embedding.weight.shape[0] == len(tokenizer)
    np.testing.assert_array_equal(net.embedding.weight.detach().numpy(), input_embeddings(str(folders["roberta"])))
    rows = len(tokenizer) + 8
    with pytest.raises(UserError, match=rf"has {rows} rows, the tokenizer has {rows + 1}: use the teacher's own tokenizer"):
        BiLSTMNet(rows + 1, 3, embedding_init=str(tmp_path / "padded"))


def test_without_input_embeddings_it_says_so_and_names_the_random_start(folders: dict[str, Path], tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    stripped = save_model(tmp_path / "stripped", "distilbert")
    tensors = load_file(stripped / "model.safetensors")
    save_file({key: value for key, value in tensors.items() if "word_embeddings" not in key}, stripped / "model.safetensors",
              metadata={"format": "pt"})
    with pytest.raises(UserError, match=r"stripped: no weight file .* holds its input embeddings \(distilbert.embeddings."
                                        r"word_embeddings.weight or .*set model.module.net.embedding_init=null"):
        BiLSTMNet(10, 3, embedding_init=str(stripped))
    (tmp_path / "bare").mkdir()
    with pytest.raises(UserError, match=r"bare: its input embeddings cannot be found .*embedding_init=null"):
        input_embeddings(str(tmp_path / "bare"))
    net = BiLSTMNet(10, 3, embedding_dim=4, embedding_init=None)  # the random start, only when asked
    assert net.embedding.weight.shape == (10, 4)
