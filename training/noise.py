"""Character-level noise that commenters use to slip past word filters.

Used two ways: as training augmentation (so the model learns that "1d!0t", "i d i o t" and
"іdіоt" with Cyrillic letters mean the same as "idiot") and to measure robustness (ROC-AUC on
clean versus perturbed validation comments).

Everything is driven by a caller-supplied ``numpy.random.Generator``, so a seed gives the same
noise every time: a resumed training run sees the same augmented batches.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

NOISE_KINDS: tuple[str, ...] = (
    "leet",  # i -> 1/!, a -> 4/@, ...
    "spaced",  # "i d i o t"
    "dotted",  # "i.d.i.o.t", "i-d-i-o-t"
    "repeat",  # "stuuupid"
    "homoglyph",  # Cyrillic/Greek look-alikes
    "zero_width",  # invisible characters inside the word
    "mask",  # "f*ck", "id**t"
)

LEET: dict[str, tuple[str, ...]] = {
    "a": ("4", "@"),
    "e": ("3",),
    "i": ("1", "!"),
    "o": ("0",),
    "s": ("5", "$"),
    "t": ("7",),
}
# Look-alikes that render (nearly) identically to the Latin letter in common fonts.
HOMOGLYPHS: dict[str, tuple[str, ...]] = {
    "a": ("\u0430", "\u03b1"),  # Cyrillic а, Greek α
    "c": ("\u0441", "\u03f2"),  # Cyrillic с, Greek lunate sigma
    "e": ("\u0435",),  # Cyrillic е
    "h": ("\u04bb",),  # Cyrillic һ
    "i": ("\u0456", "\u03b9"),  # Ukrainian і, Greek ι
    "j": ("\u0458",),  # Cyrillic ј
    "o": ("\u043e", "\u03bf"),  # Cyrillic о, Greek ο
    "p": ("\u0440", "\u03c1"),  # Cyrillic р, Greek ρ
    "s": ("\u0455",),  # Cyrillic ѕ
    "x": ("\u0445", "\u03c7"),  # Cyrillic х, Greek χ
    "y": ("\u0443",),  # Cyrillic у
    "v": ("\u03bd",),  # Greek ν
    "A": ("\u0410", "\u0391"),
    "B": ("\u0412", "\u0392"),
    "C": ("\u0421",),
    "E": ("\u0415", "\u0395"),
    "H": ("\u041d", "\u0397"),
    "I": ("\u0406", "\u0399"),
    "K": ("\u041a", "\u039a"),
    "M": ("\u041c", "\u039c"),
    "O": ("\u041e", "\u039f"),
    "P": ("\u0420", "\u03a1"),
    "T": ("\u0422", "\u03a4"),
    "X": ("\u0425", "\u03a7"),
    "Y": ("\u03a5",),
    "Z": ("\u0396",),
}
ZERO_WIDTH: tuple[str, ...] = ("\u200b", "\u200c", "\u200d", "\u2060")
DOT_SEPARATORS: tuple[str, ...] = (".", ".", "-", "_")  # dots most often, as seen in the wild
VOWELS = frozenset("aeiouyAEIOUY")
MIN_LETTERS = 3

# Maximal runs of letters in any script: digits and underscores are not word material here.
_WORD = re.compile(r"[^\W\d_]+")


def _positions(word: str, allowed: Callable[[str], bool]) -> list[int]:
    return [i for i, ch in enumerate(word) if allowed(ch)]


def _pick(rng: np.random.Generator, items: list | tuple):
    return items[int(rng.integers(len(items)))]


def _subset(rng: np.random.Generator, positions: list[int], low: int, high: int) -> list[int]:
    """Between ``low`` and ``high`` (inclusive, clipped) distinct positions, sorted."""
    high = min(high, len(positions))
    low = min(max(low, 1), high)
    k = int(rng.integers(low, high + 1))
    return sorted(int(p) for p in rng.choice(positions, size=k, replace=False))


def _leet(word: str, rng: np.random.Generator) -> str:
    spots = _positions(word, lambda ch: ch.lower() in LEET)
    chars = list(word)
    for i in _subset(rng, spots, 1, max(1, (len(spots) + 1) // 2)):
        chars[i] = _pick(rng, LEET[chars[i].lower()])
    return "".join(chars)


def _homoglyph(word: str, rng: np.random.Generator) -> str:
    spots = _positions(word, lambda ch: ch in HOMOGLYPHS)
    chars = list(word)
    for i in _subset(rng, spots, 1, len(spots)):
        chars[i] = _pick(rng, HOMOGLYPHS[chars[i]])
    return "".join(chars)


def _separate(word: str, rng: np.random.Generator, separators: tuple[str, ...]) -> str:
    sep = _pick(rng, separators)
    gaps = list(range(1, len(word)))
    # Mostly every gap ("i d i o t"), sometimes only one or two ("id iot"), as people do.
    chosen = set(gaps) if rng.random() < 0.7 else set(_subset(rng, gaps, 1, 2))
    return "".join((sep if i in chosen else "") + ch for i, ch in enumerate(word))


def _repeat(word: str, rng: np.random.Generator) -> str:
    # Stretching a vowel ("stuuupid") is the common form; consonants when there is no vowel.
    spots = _positions(word, lambda ch: ch in VOWELS) or _positions(word, str.isalpha)
    i = int(_pick(rng, spots))
    return word[: i + 1] + word[i] * int(rng.integers(2, 5)) + word[i + 1 :]


def _zero_width(word: str, rng: np.random.Generator) -> str:
    gaps = _subset(rng, list(range(1, len(word))), 1, 3)
    out, last = [], 0
    for gap in gaps:
        out += [word[last:gap], _pick(rng, ZERO_WIDTH)]
        last = gap
    return "".join([*out, word[last:]])


def _mask(word: str, rng: np.random.Generator) -> str:
    # Keep the first and last letter so the word stays readable ("f*ck", "id**t").
    inner = list(range(1, len(word) - 1))
    chars = list(word)
    for i in _subset(rng, inner, 1, max(1, len(inner) // 2)):
        chars[i] = "*"
    return "".join(chars)


_APPLY: dict[str, Callable[[str, np.random.Generator], str]] = {
    "leet": _leet,
    "spaced": lambda w, rng: _separate(w, rng, (" ",)),
    "dotted": lambda w, rng: _separate(w, rng, DOT_SEPARATORS),
    "repeat": _repeat,
    "homoglyph": _homoglyph,
    "zero_width": _zero_width,
    "mask": _mask,
}


def applicable_kinds(word: str) -> tuple[str, ...]:
    """The noise kinds that would visibly change ``word`` (e.g. no leet without a, e, i, ...)."""
    if not word:
        return ()
    kinds = []
    for kind in NOISE_KINDS:
        if kind == "leet" and not any(ch.lower() in LEET for ch in word):
            continue
        if kind == "homoglyph" and not any(ch in HOMOGLYPHS for ch in word):
            continue
        if kind in ("spaced", "dotted", "zero_width") and len(word) < 2:
            continue
        if kind == "mask" and len(word) < 3:
            continue
        if kind == "repeat" and not any(ch.isalpha() for ch in word):
            continue
        kinds.append(kind)
    return tuple(kinds)


def apply_noise(word: str, kind: str, rng: np.random.Generator) -> str:
    """Apply one ``kind`` of noise (one of ``NOISE_KINDS``) to ``word``.

    Returns ``word`` unchanged where the kind cannot apply (e.g. leet on "bmw"); raises
    ``ValueError`` for an unknown kind, since that is a programming error, not bad input.
    """
    if kind not in _APPLY:
        raise ValueError(f"unknown noise kind {kind!r}; known: {', '.join(NOISE_KINDS)}")
    if kind not in applicable_kinds(word):
        return word
    return _APPLY[kind](word, rng)


def perturb(text: str, rng: np.random.Generator, *, word_rate: float = 0.25) -> str:
    """Perturb about ``word_rate`` of the words of ``text`` with one random noise kind each.

    Only alphabetic words of at least three letters are candidates, and longer ones are more
    likely to be picked (they carry the insults and are what filters match). At least one
    word is changed when there is a candidate and ``word_rate > 0``. Texts without a
    candidate word come back unchanged; nothing here raises on any string.
    """
    if not isinstance(text, str) or not text:
        return text
    try:
        rate = min(max(float(word_rate), 0.0), 1.0)
    except (TypeError, ValueError):
        return text
    if rate != rate or rate == 0.0:  # NaN or zero: nothing to do
        return text
    words = [m for m in _WORD.finditer(text) if len(m.group()) >= MIN_LETTERS]
    if not words:
        return text
    k = min(len(words), max(1, int(round(rate * len(words)))))
    weights = np.array([len(m.group()) for m in words], dtype=np.float64)
    chosen = rng.choice(len(words), size=k, replace=False, p=weights / weights.sum())
    pieces, last = [], 0
    for index in sorted(int(i) for i in chosen):
        match = words[index]
        kinds = applicable_kinds(match.group())
        pieces += [text[last : match.start()], _APPLY[_pick(rng, kinds)](match.group(), rng)]
        last = match.end()
    return "".join([*pieces, text[last:]])


def make_perturber(rng: np.random.Generator, *, word_rate: float = 0.25) -> Callable[[str], str]:
    """A ``text -> text`` function that perturbs with ``rng`` (shared, so calls differ)."""

    def perturber(text: str) -> str:
        return perturb(text, rng, word_rate=word_rate)

    return perturber
