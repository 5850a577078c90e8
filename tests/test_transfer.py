"""The transfer set's rules: rates, word classes, determinism, duplicates, and where copies come from."""

from __future__ import annotations

import numpy as np
import pytest

from distill.data.corpus import Corpus
from distill.data.transfer import MASK, TangTransfer, source_ids
from distill.data.word_classes import WordClasses, tokenize
from distill.errors import UserError

DETERMINERS = ["the", "a", "this", "that", "every", "some"]
NOUNS = ["cat", "dog", "car", "boat", "tree", "house", "bird", "road"]
VERBS = ["runs", "sleeps", "falls", "turns", "waits", "stops", "jumps"]


def sentences(n_documents: int, sentences_per_document: int, seed: int = 0) -> list[str]:
    """Documents of "<determiner> <noun> <verb> ." sentences: three word classes by position."""
    rng = np.random.default_rng(seed)
    return [" ".join(f"{rng.choice(DETERMINERS)} {rng.choice(NOUNS)} {rng.choice(VERBS)} ."
                     for _ in range(sentences_per_document)) for _ in range(n_documents)]


def corpus(texts: list[str], first_id: int = 0) -> Corpus:
    ids = np.arange(first_id, first_id + len(texts))
    return Corpus(ids, texts, np.zeros(len(texts), dtype=np.int64), ["x"])


@pytest.fixture(scope="module")
def documents() -> list[list[str]]:
    return [tokenize(text) for text in sentences(200, 10)]


@pytest.fixture(scope="module")
def classes(documents: list[list[str]]) -> WordClasses:
    return WordClasses(n_classes=4, min_count=1, seed=0).fit(documents)


def test_word_classes_group_words_that_fill_the_same_slot(classes: WordClasses) -> None:
    for group in (DETERMINERS, NOUNS, VERBS):
        assert len({classes.class_of[word] for word in group}) == 1, group
    assert len({classes.class_of[group[0]] for group in (DETERMINERS, NOUNS, VERBS, ["."])}) == 4


def test_a_replacement_is_another_word_of_the_class_drawn_by_frequency(
    classes: WordClasses, documents: list[list[str]]
) -> None:
    rng = np.random.default_rng(0)
    draws = [classes.replace("cat", rng) for _ in range(20000)]
    others = sorted(set(NOUNS) - {"cat"})
    assert set(draws) == set(others)
    counts = np.array([sum(tokens.count(noun) for tokens in documents) for noun in others])
    shares = np.array([draws.count(noun) for noun in others]) / len(draws)
    assert np.abs(shares - counts / counts.sum()).max() < 0.01


def test_rules_apply_at_their_rates() -> None:
    texts = sentences(300, 25)
    rules = TangTransfer(copies=1, p_mask=0.1, p_pos=0.1, p_ng=0.0, word_classes=4, min_count=1)
    classes = WordClasses(4, 1, seed=0).fit([tokenize(text) for text in texts])
    masked = swapped = unmasked_words = total = 0
    for index, text in enumerate(texts):
        tokens = tokenize(text)
        out = rules.perturb(tokens, classes, np.random.default_rng(index))
        assert len(out) == len(tokens)  # p_ng=0: never cut
        assert all(word in (token, MASK) for word, token in zip(out, tokens) if token == ".")  # a class of one
        total += len(tokens)
        masked += sum(word == MASK for word in out)
        swapped += sum(word not in (MASK, token) for word, token in zip(out, tokens))
        unmasked_words += sum(word != MASK and token != "." for word, token in zip(out, tokens))
    assert abs(masked / total - 0.1) < 0.01
    assert abs(swapped / unmasked_words - 0.1) < 0.01


def test_an_ngram_is_kept_at_its_rate_with_n_up_to_a_quarter_of_a_long_document() -> None:
    rules = TangTransfer(copies=1, p_mask=0.0, p_pos=0.0, p_ng=0.25)
    tokens = [f"w{i}" for i in range(100)]
    classes = WordClasses().fit([])
    lengths = [len(rules.perturb(tokens, classes, np.random.default_rng(seed))) for seed in range(4000)]
    cut = [n for n in lengths if n < len(tokens)]
    assert abs(len(cut) / len(lengths) - 0.25) < 0.025
    assert min(cut) == 1 and max(cut) == 25 and abs(np.mean(cut) - 13) < 1.0  # uniform on 1..ceil(100/4)
    short = [len(TangTransfer(p_mask=0.0, p_pos=0.0, p_ng=1.0).perturb(tokens[:8], classes,
                                                                         np.random.default_rng(seed)))
             for seed in range(500)]
    assert set(short) == {1, 2, 3, 4, 5}  # Tang's 1..5 for a short text
    window = TangTransfer(p_mask=0.0, p_pos=0.0, p_ng=1.0).perturb(tokens, classes, np.random.default_rng(1))
    start = tokens.index(window[0])
    assert window == tokens[start : start + len(window)]  # contiguous


def test_generation_is_deterministic_drops_duplicates_and_names_each_source() -> None:
    train = corpus(["a b", "a b", "one two three four five six seven eight", ""] + sentences(20, 5), first_id=100)
    rules = TangTransfer(copies=3, word_classes=4, min_count=1, seed=7)
    first, again = rules.generate(train), rules.generate(train)
    assert first.texts == again.texts and np.array_equal(first.ids, again.ids)
    assert rules.generate(train).texts != TangTransfer(copies=3, word_classes=4, min_count=1, seed=8).generate(
        train).texts
    assert len(set(first.texts)) == len(first.texts) and "" not in first.texts
    assert not set(first.texts) & {" ".join(tokenize(text)) for text in train.texts}  # no copy equals a source
    assert set(source_ids(first.ids)) <= set(train.ids) and 103 not in set(source_ids(first.ids))  # empty: no copy
    assert (first.labels == -1).all() and not set(first.ids) & set(train.ids)
    assert len(first) < 3 * len(train)  # "a b" has too few words for three distinct copies


def test_recorded_classes_rebuild_the_same_classes_and_set_without_fitting_again(
    classes: WordClasses, documents: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """k-means on floats differs in the last bits from one CPU to another: a reader must not re-fit."""
    rebuilt = WordClasses(n_classes=4, min_count=1).from_strings(documents, classes.as_strings())
    assert rebuilt.class_of == classes.class_of and rebuilt.position == classes.position
    for ours, theirs in zip(rebuilt.cdf, classes.cdf):
        np.testing.assert_array_equal(ours, theirs)
    train = corpus(sentences(50, 5))
    rules = TangTransfer(copies=2, word_classes=4, min_count=1)
    recorded = rules.fit_classes(train)
    labelled = rules.generate(train)
    monkeypatch.setattr("distill.data.word_classes.KMeans", lambda *args, **kwargs: pytest.fail("fitted again"))
    again = rules.generate(train, recorded)
    assert again.texts == labelled.texts and np.array_equal(again.ids, labelled.ids)


def test_recorded_classes_order_words_by_frequency_then_alphabet() -> None:
    documents = [["b", "a", "d", "a", "c", "b", "e"]]  # a and b twice, c, d and e once
    classes = WordClasses().from_strings(documents, ["c b a", "e d"])
    assert [list(words) for words in classes.words] == [["a", "b", "c"], ["d", "e"]]
    np.testing.assert_allclose(classes.cdf[0], [0.4, 0.8, 1.0])
    np.testing.assert_allclose(classes.cdf[1], [0.5, 1.0])
    assert classes.position == {"a": 0, "b": 1, "c": 2, "d": 0, "e": 1} and not classes.replaceable("f")


def test_a_store_made_with_other_rules_is_refused_before_its_classes_are_used() -> None:
    rules = TangTransfer(word_classes=4, min_count=1)
    source = {"rules": rules.rules(), "word_classes": ["a b"]}
    assert rules.recorded_classes(source, "t.npz") == ["a b"]
    assert rules.recorded_classes({"rules": rules.rules()}, "t.npz") is None  # labelled before classes were kept
    with pytest.raises(UserError, match=r"t\.npz was made with other rules .* set transfer\.\* as it was made"):
        TangTransfer(word_classes=30, min_count=1).recorded_classes(source, "t.npz")


def test_bad_rules_are_refused() -> None:
    with pytest.raises(UserError, match="transfer.p_mask must be a probability"):
        TangTransfer(p_mask=1.5)
    with pytest.raises(UserError, match="transfer.copies must be in"):
        TangTransfer(copies=0)
