"""Text normalisation and the truncation policy, shared by training and inference.

Normalisation (Unicode NFKC, control and zero-width characters removed, Cyrillic/Greek
look-alikes folded to Latin inside Latin words) defeats the cheapest filter dodges (full-width
letters, ligatures, zero-width joiners and homoglyphs inside words). It keeps a map
from every normalised character back to the original string, so that spans come back as
offsets into the text the caller sent.

Truncation policy for long comments: keep the head and the tail. The opening usually states the
point and the ending often carries the sting (a closing insult, a sign-off), so a comment longer
than the model's window keeps its first ``head_fraction`` of the token budget and its last
tokens, dropping the middle. Everything the model sees maps back to real character offsets.
"""

from __future__ import annotations

import re
import unicodedata

_WHITESPACE_CONTROLS = frozenset("\n\t\r\x0b\x0c\x85")
# Cyrillic and Greek letters that look like Latin ones. Folded only inside words that also hold
# Latin letters ("іdіоt" with Cyrillic і/о), so genuine Cyrillic or Greek words stay as written.
_CONFUSABLES = dict(
    zip(
        "аеорсхуіјѕԁһӏАВЕНІЈКМОРСТХУЅαβεικνορτυχΑΒΕΗΙΚΜΝΟΡΤΥΧΖ",
        "aeopcxyijsdhlABEHIJKMOPCTXYSabeikvoptuxABEHIKMNOPTYXZ",
        strict=True,
    )
)


# Printable ASCII is its own NFKC form and holds no look-alikes: runs of it are copied whole.
_PRINTABLE_ASCII_RUN = re.compile(r"[ -~]+")
# ASCII is its own NFKC form and holds no look-alikes: only its controls need mapping.
_ASCII_CONTROLS = {
    code: ("\n" if chr(code) in "\n\r" else " ") if chr(code) in _WHITESPACE_CONTROLS else None
    for code in range(128)
    if unicodedata.category(chr(code)) == "Cc"
}


def normalise_with_offsets(text: str) -> tuple[str, list[int]]:
    """Normalise ``text`` and return it with, for each output character, its source index.

    >>> normalise_with_offsets("ｙｏｕ\\u200bidiot")[0]
    'youidiot'
    """
    if text.isascii():  # the common case, without the per-character loop
        mapped = text.translate(_ASCII_CONTROLS)
        if len(mapped) == len(text):  # nothing removed: offsets are the identity
            return mapped, list(range(len(text)))
    return _normalise_each_character(text)


def _normalise_each_character(text: str) -> tuple[str, list[int]]:
    out: list[str] = []
    index: list[int] = []
    i, n = 0, len(text)
    while i < n:
        run = _PRINTABLE_ASCII_RUN.match(text, i)
        if run:
            j = run.end()
            if j < n and unicodedata.category(text[j]).startswith("M"):
                j -= 1  # the run's last character normalises with the marks after it
            if j > i:
                out.extend(text[i:j])
                index.extend(range(i, j))
                i = j
                continue
        ch = text[i]
        # a base character plus its combining marks normalise together (e + U+0301 -> é)
        j = i + 1
        while j < n and unicodedata.category(text[j]).startswith("M"):
            j += 1
        if ch in _WHITESPACE_CONTROLS:
            out.append("\n" if ch in "\n\r\x85" else " ")
            index.append(i)
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co"):
            # controls, and format characters (Cf): the invisible ones that split words
            # (zero-width space/joiners, word joiner, BOM, soft hyphen, bidi marks)
            pass
        else:
            for c in unicodedata.normalize("NFKC", text[i:j]):
                out.append(c)
                index.append(i)
            i = j
            continue
        i += 1
    if not _CONFUSABLES.keys().isdisjoint(out):
        _fold_mixed_script(out)
    return "".join(out), index


def _fold_mixed_script(chars: list[str]) -> None:
    """Replace look-alike letters by their Latin twins in words that mix them with Latin."""
    i, n = 0, len(chars)
    while i < n:
        if not chars[i].isalpha():
            i += 1
            continue
        j = i
        while j < n and chars[j].isalpha():
            j += 1
        word = chars[i:j]
        if any(c in _CONFUSABLES for c in word) and any("a" <= c.lower() <= "z" for c in word):
            chars[i:j] = [_CONFUSABLES.get(c, c) for c in word]
        i = j


def normalise(text: str) -> str:
    """Normalise ``text`` for the model: NFKC, control and zero-width characters removed."""
    return normalise_with_offsets(text)[0]


def head_tail_keep(n_tokens: int, budget: int, *, head_fraction: float) -> tuple[int, int]:
    """Return how many tokens to keep from the head and from the tail of a sequence.

    >>> head_tail_keep(10, 20, head_fraction=0.67)
    (10, 0)
    >>> head_tail_keep(300, 126, head_fraction=0.67)
    (84, 42)
    """
    if n_tokens <= budget:
        return n_tokens, 0
    head = max(1, round(budget * head_fraction))
    return head, budget - head
