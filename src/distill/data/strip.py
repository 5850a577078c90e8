"""Strip Usenet headers, signature footers and quoted replies.

The rules are scikit-learn's ``fetch_20newsgroups(remove=...)`` rules, re-stated here so
that a local archive and scikit-learn's own loader give identical texts (tested against
scikit-learn in ``tests/test_strip.py``).
"""

import re
from collections.abc import Iterable

REMOVABLE = ("headers", "footers", "quotes")

# A line is dropped as quoting when it contains one of these markers, or starts with one.
_QUOTE_LINE = re.compile(r"(writes in|writes:|wrote:|says:|said:|^In article|^Quoted from|^\||^>)")


def strip_header(text: str) -> str:
    """Drop everything up to and including the first blank line (the message header)."""
    return text.partition("\n\n")[2]


def strip_footer(text: str) -> str:
    """Drop the signature: everything from the last blank or dashes-only line on.

    Trailing blank lines do not count as that separator. A text with no separator after
    its first line is returned unchanged.
    """
    lines = text.strip().split("\n")
    separator = 0
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].strip().strip("-") == "":
            separator = index
            break
    return "\n".join(lines[:separator]) if separator > 0 else text


def strip_quotes(text: str) -> str:
    """Drop quoted lines and the lines that introduce a quote ("... writes:")."""
    return "\n".join(line for line in text.split("\n") if not _QUOTE_LINE.search(line))


_STRIPPERS = {"headers": strip_header, "footers": strip_footer, "quotes": strip_quotes}


def strip_message(text: str, remove: Iterable[str]) -> str:
    """Apply the requested removals in scikit-learn's order: headers, footers, quotes."""
    remove = tuple(remove)
    unknown = sorted(set(remove) - set(REMOVABLE))
    if unknown:
        raise ValueError(f"data.remove has unknown parts {unknown}; allowed: {list(REMOVABLE)}")
    for part in REMOVABLE:
        if part in remove:
            text = _STRIPPERS[part](text)
    return text
