"""Our header/footer/quote stripping must match scikit-learn's ``fetch_20newsgroups(remove=...)``."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from sklearn.datasets._twenty_newsgroups import (
    strip_newsgroup_footer,
    strip_newsgroup_header,
    strip_newsgroup_quoting,
)

from distill.data.strip import REMOVABLE, strip_footer, strip_header, strip_message, strip_quotes

PAIRS = {
    "headers": (strip_header, strip_newsgroup_header),
    "footers": (strip_footer, strip_newsgroup_footer),
    "quotes": (strip_quotes, strip_newsgroup_quoting),
}

EDGE_CASES = {
    "empty": "",
    "newline_only": "\n",
    "blank_lines_only": "\n\n\n",
    "single_line": "just one line",
    "no_blank_line": "From: a@b.c\nSubject: hi\nbody without any separator",
    "header_and_body": "From: a@b.c\nSubject: hi\n\nbody line\nsecond line\n",
    "blank_at_start": "\n\nbody after a leading blank line\n",
    "several_blank_lines": "From: x\n\n\n\nbody\n\n\nend\n",
    "trailing_blank_lines": "From: x\n\nbody one\nbody two\n\n\n\n",
    "trailing_whitespace_lines": "From: x\n\nbody one\nbody two\n   \n\t\n",
    "signature_blank": "From: x\n\nbody\nmore body\n\nSig Nature\nExample Corp\n",
    "signature_dashes": "From: x\n\nbody\nmore\n-- \nSig Nature\n",
    "signature_long_dashes": "From: x\n\nbody\nmore\n------------------\nSig\n",
    "dashes_then_blank": "body\n--\n\nsig after blank\n",
    "dashes_in_text": "body with -- dashes inside\nnot a separator\nlast\n",
    "separator_at_line_zero": "-- \nonly a signature here\nline two\n",
    "blank_separator_at_line_zero": "\nline one\nline two\n",
    "separator_at_line_one": "first\n\nsecond\nthird\n",
    "whitespace_only_separator": "body\n   \nsig\n",
    "crlf": "From: x\r\n\r\nbody\r\n\r\nsig\r\n",
    "writes_in_middle": "From: x\n\nkeep this\nJohn Doe writes: blah\nkeep that\n",
    "wrote_said_says": "From: x\n\na\nshe wrote: x\nhe said: y\nit says: z\nb\n",
    "writes_in": "From: x\n\nsomeone writes in message <1@x>\nkept\n",
    "in_article_start": "From: x\n\nIn article <1@x>, a@b.c writes\nkept line\n",
    "in_article_not_start": "From: x\n\n In article <1@x> (leading space)\nkept\n",
    "quoted_from": "From: x\n\nQuoted from somewhere\nbody\n",
    "gt_quotes": "From: x\n\n> quoted\n>> nested\nbody > not a quote\n",
    "pipe_quotes": "From: x\n\n| piped quote\nbody | not a quote\n|\n",
    "quote_then_signature": "h\n\nbody\nmore\n\nIn article x writes:\n> q\n",
    "everything": (
        "From: a@b.c\nSubject: re: x\n\nIn article <1@x>, b writes:\n> old\n| older\n"
        "my reply, caf\xe9\n\n-- \nSig\n"
    ),
}


@pytest.mark.parametrize("part", REMOVABLE)
@pytest.mark.parametrize("text", list(EDGE_CASES.values()), ids=list(EDGE_CASES))
def test_strip_functions_match_sklearn_on_edge_cases(part: str, text: str) -> None:
    ours, theirs = PAIRS[part]
    assert ours(text) == theirs(text)


@pytest.mark.parametrize("part", REMOVABLE)
def test_edge_cases_exercise_every_rule(part: str) -> None:
    """Guard against a vacuous match: each rule changes some edge cases and keeps others."""
    ours, _ = PAIRS[part]
    changed = [name for name, text in EDGE_CASES.items() if ours(text) != text]
    assert 3 <= len(changed) < len(EDGE_CASES)


@pytest.mark.parametrize(
    ("function", "text", "expected"),
    [
        (strip_header, "From: x\nSubject: y\n\nbody\n\nmore\n", "body\n\nmore\n"),
        (strip_header, "no blank line at all\nsecond", ""),
        (strip_footer, "body\nmore\n\n-- \nSig\n", "body\nmore\n"),
        (strip_footer, "body\nmore\n\n\n\n", "body\nmore\n\n\n\n"),
        (strip_footer, "-- \nsig only\n", "-- \nsig only\n"),
        (strip_footer, "", ""),
        (strip_quotes, "a\nX writes: y\n> q\n| p\nb | c", "a\nb | c"),
    ],
)
def test_strip_functions_hand_checked(function, text: str, expected: str) -> None:
    assert function(text) == expected


def _sklearn_strip(text: str, remove: tuple[str, ...]) -> str:
    """scikit-learn's order: headers, then footers, then quotes, whatever order remove lists."""
    for part in REMOVABLE:
        if part in remove:
            text = PAIRS[part][1](text)
    return text


REMOVE_OPTIONS = [
    combo for size in range(len(REMOVABLE) + 1) for combo in itertools.permutations(REMOVABLE, size)
]


@pytest.mark.parametrize("remove", REMOVE_OPTIONS, ids=lambda r: "+".join(r) or "none")
def test_strip_message_matches_sklearn_order(remove: tuple[str, ...]) -> None:
    for text in EDGE_CASES.values():
        assert strip_message(text, remove) == _sklearn_strip(text, remove)
        assert strip_message(text, list(remove)) == _sklearn_strip(text, remove)


def test_strip_order_matters_for_some_edge_case() -> None:
    """Footers before quotes differs from quotes before footers, so order is actually tested."""
    text = EDGE_CASES["quote_then_signature"]
    footer_first = strip_newsgroup_quoting(strip_newsgroup_footer(text))
    quotes_first = strip_newsgroup_footer(strip_newsgroup_quoting(text))
    assert footer_first != quotes_first
    assert strip_message(text, ("quotes", "footers")) == footer_first


def _corpus_messages(root: Path) -> list[str]:
    files = sorted(path for path in root.rglob("*") if path.is_file())
    assert len(files) > 50
    return [path.read_bytes().decode("latin-1") for path in files]


def test_strip_functions_match_sklearn_on_synthetic_corpus(corpus_dir: Path) -> None:
    messages = _corpus_messages(corpus_dir)
    for text in messages:
        for part, (ours, theirs) in PAIRS.items():
            assert ours(text) == theirs(text), (part, text)
        # Composed: footers/quotes are also compared on header-stripped bodies, as in use.
        body = strip_newsgroup_header(text)
        assert strip_footer(body) == strip_newsgroup_footer(body)
        assert strip_quotes(body) == strip_newsgroup_quoting(body)
        for remove in REMOVE_OPTIONS:
            assert strip_message(text, remove) == _sklearn_strip(text, remove)
    # The synthetic corpus has headers-only messages that strip to nothing.
    assert any(strip_message(text, REMOVABLE).strip() == "" for text in messages)
    assert any(strip_message(text, REMOVABLE).strip() != "" for text in messages)


@pytest.mark.parametrize("remove", [("signature",), ("headers", "Footers"), ["quotes", "html"], ("header",)])
def test_strip_message_rejects_unknown_parts(remove) -> None:
    with pytest.raises(ValueError, match=r"data\.remove"):
        strip_message("From: x\n\nbody\n", remove)


def test_strip_message_rejects_plain_string_of_a_part() -> None:
    """A bare string is an iterable of characters, none of which is a part name."""
    with pytest.raises(ValueError, match=r"data\.remove"):
        strip_message("From: x\n\nbody\n", "headers")


def test_serving_cleans_raw_messages_as_training_did(corpus_dir) -> None:
    """A raw message through distill.serving's cleaning is the text training saw; a pasted text
    without a header keeps its first paragraph."""
    from distill.preprocessing import clean

    raw = [path.read_bytes().decode("latin-1") for path in sorted(corpus_dir.rglob("*")) if path.is_file()]
    # 20news has messages whose first line is the tail of a folded Path: header.
    raw.append(" agate!purdue!kari\nSubject: 130 meg drive\nFrom: kari@purdue.edu\n\nFor sale, barely used.\n")
    assert clean(raw, {"strip": list(REMOVABLE)}) == [strip_message(text, REMOVABLE) for text in raw]
    pasted = "The shuttle launch slipped a week.\n\nIt flew on Tuesday."
    assert clean([pasted], {"strip": list(REMOVABLE)}) == ["The shuttle launch slipped a week."]
