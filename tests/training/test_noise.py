"""Tests for training/noise.py: each noise kind, recoverability, determinism, safety."""

from __future__ import annotations

import re

import numpy as np
import pytest

from training.noise import (
    HOMOGLYPHS,
    LEET,
    NOISE_KINDS,
    ZERO_WIDTH,
    apply_noise,
    make_perturber,
    perturb,
)

WORDS = ("idiot", "stupid", "Moron", "pathetic", "loser", "ASSHOLE")
UNLEET = {sub: letter for letter, subs in LEET.items() for sub in subs}
UNGLYPH = {sub: letter for letter, subs in HOMOGLYPHS.items() for sub in subs}


def recover(text: str) -> str:
    """Undo every kind except masking and repetition: what a careful normaliser could do."""
    text = "".join(ch for ch in text if ch not in ZERO_WIDTH)
    text = re.sub(r"[ ._-]", "", text)
    return "".join(UNGLYPH.get(ch, UNLEET.get(ch, ch)) for ch in text)


def collapse(text: str) -> str:
    return re.sub(r"(.)\1+", r"\1", text.lower())


@pytest.mark.parametrize("kind", NOISE_KINDS)
@pytest.mark.parametrize("word", WORDS)
def test_every_kind_changes_the_word_recoverably(kind: str, word: str) -> None:
    for seed in range(20):
        noisy = apply_noise(word, kind, np.random.default_rng(seed))
        assert noisy != word
        if kind == "mask":
            # Same length, first and last letter kept, only '*' where letters differ.
            assert len(noisy) == len(word) and noisy[0] == word[0] and noisy[-1] == word[-1]
            assert all(a == b or a == "*" for a, b in zip(noisy, word, strict=True))
        elif kind == "repeat":
            assert collapse(noisy) == collapse(word) and len(noisy) > len(word)
        else:
            assert recover(noisy).lower() == word.lower()


def test_kinds_look_like_the_examples() -> None:
    rng = np.random.default_rng(0)
    assert any(ch in "".join(ZERO_WIDTH) for ch in apply_noise("idiot", "zero_width", rng))
    assert any(ord(ch) > 127 for ch in apply_noise("idiot", "homoglyph", rng))
    assert any(ch in "4@31!05$7" for ch in apply_noise("idiot", "leet", rng))
    assert " " in apply_noise("idiot", "spaced", rng)
    assert "*" in apply_noise("idiot", "mask", rng)


def test_kind_that_cannot_apply_returns_word_and_unknown_kind_raises() -> None:
    rng = np.random.default_rng(0)
    assert apply_noise("bmw", "leet", rng) == "bmw"
    assert apply_noise("", "spaced", rng) == ""
    with pytest.raises(ValueError, match="unknown noise kind"):
        apply_noise("idiot", "rot13", rng)


def test_perturb_is_deterministic_given_the_seed() -> None:
    text = "You are a complete idiot and your argument is stupid nonsense, honestly."
    first = [perturb(text, np.random.default_rng(7)) for _ in range(3)]
    assert len(set(first)) == 1 and first[0] != text
    other = {perturb(text, np.random.default_rng(s)) for s in range(10)}
    assert len(other) > 1


def test_perturb_changes_about_word_rate_of_words_and_keeps_the_rest() -> None:
    text = " ".join(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"])
    noisy = perturb(text, np.random.default_rng(3), word_rate=0.25)
    # Spaces inside perturbed words make token counts unreliable; count untouched words.
    kept = sum(1 for word in text.split() if re.search(rf"(?<!\S){word}(?!\S)", noisy))
    assert kept == 6
    assert perturb(text, np.random.default_rng(3), word_rate=0.0) == text


def test_perturb_prefers_long_words_and_skips_short_ones() -> None:
    assert perturb("a an is it of", np.random.default_rng(0)) == "a an is it of"
    hits = sum("extraordinarily" not in perturb("cat extraordinarily dog",
                                                 np.random.default_rng(s), word_rate=0.3)
               for s in range(200))
    assert hits > 100  # 15 letters vs 3 + 3: picked most of the time


@pytest.mark.parametrize("text", ["", " ", "ok", "!!!", "12345 678", "\u200b", "😀😀😀"])
def test_short_or_wordless_text_unchanged(text: str) -> None:
    assert perturb(text, np.random.default_rng(0)) == text


def test_never_raises_on_odd_input() -> None:
    rng = np.random.default_rng(1)
    chars = "aeiostxyzAEIOST éàüßяжщΩλ中文 \n\t.,!?'-_*\u200b\u0301😀0123"
    for _ in range(300):
        text = "".join(rng.choice(list(chars), size=int(rng.integers(0, 60))))
        assert isinstance(perturb(text, rng, word_rate=float(rng.random())), str)
    for rate in (-1.0, 2.0, float("nan")):
        assert isinstance(perturb("some words here", rng, word_rate=rate), str)
    assert perturb(None, rng) is None  # type: ignore[arg-type]


def test_make_perturber_shares_the_generator() -> None:
    noisy = make_perturber(np.random.default_rng(5), word_rate=1.0)
    again = make_perturber(np.random.default_rng(5), word_rate=1.0)
    outputs = [noisy("terrible terrible terrible") for _ in range(5)]
    assert outputs == [again("terrible terrible terrible") for _ in range(5)]
    assert all(o != "terrible terrible terrible" for o in outputs)
