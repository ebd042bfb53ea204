"""Normalisation with offsets back to the original text, and head-and-tail truncation."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from model.encoding import encode_texts, length_sorted_batches, pad_batch
from model.text import head_tail_keep, normalise, normalise_with_offsets

ZWSP, ZWNJ, ZWJ = "\u200b", "\u200c", "\u200d"
WORD_JOINER, BOM, SOFT_HYPHEN = "\u2060", "\ufeff", "\xad"


def assert_valid_index(text: str, normalised: str, index: list[int]) -> None:
    assert len(index) == len(normalised)
    assert all(0 <= i < len(text) for i in index)
    assert index == sorted(index)


# ---- NFKC -----------------------------------------------------------------------------------
def test_full_width_letters_and_ideographic_space_become_ascii():
    assert normalise("ｙｏｕ　ａｒｅ　ａｎ　ｉｄｉｏｔ") == "you are an idiot"


def test_full_width_digits_and_punctuation_become_ascii():
    assert normalise("ｉｄｉｏｔ１２３！") == "idiot123!"


def test_ligatures_are_expanded_and_both_letters_map_to_the_ligature():
    text = "a \ufb01ne \ufb02ag"  # "a ﬁne ﬂag"
    normalised, index = normalise_with_offsets(text)
    assert normalised == "a fine flag"
    assert_valid_index(text, normalised, index)
    assert index[2] == index[3] == 2  # "f" and "i" both come from "ﬁ"
    assert index[7] == index[8] == 6  # "f" and "l" both come from "ﬂ"
    assert [text[i] for i in index[4:6]] == ["n", "e"]


def test_compatibility_forms_are_folded():
    assert normalise("\u2460 x\u00b2 \u2122") == "1 x2 TM"  # circled one, superscript two, ™
    assert normalise("caf\u00e9") == "caf\u00e9"  # an already composed letter is kept


# ---- removed characters -----------------------------------------------------------------------
@pytest.mark.parametrize("invisible", [ZWSP, ZWNJ, ZWJ, WORD_JOINER, BOM, SOFT_HYPHEN,
                                       "\u200e", "\u200f", "\u180e", "\u2066"])
def test_zero_width_and_format_characters_inside_a_word_are_removed(invisible):
    assert normalise(f"id{invisible}iot") == "idiot"


@pytest.mark.parametrize("control", ["\x00", "\x07", "\x1b", "\x7f", "\x9f"])
def test_control_characters_are_removed(control):
    assert normalise(f"st{control}upid") == "stupid"


def test_whitespace_controls_become_space_or_newline():
    assert normalise("a\tb\x0bc\x0cd") == "a b c d"
    assert normalise("a\rb\nc") == "a\nb\nc"


def test_clean_ascii_text_is_unchanged_with_identity_offsets():
    text = "You are wrong, and that's fine."
    normalised, index = normalise_with_offsets(text)
    assert normalised == text
    assert index == list(range(len(text)))


def test_empty_text_normalises_to_empty():
    assert normalise_with_offsets("") == ("", [])
    assert normalise_with_offsets(ZWSP + ZWJ) == ("", [])


# ---- offsets -----------------------------------------------------------------------------------
def test_offsets_skip_removed_zero_width_characters():
    text = f"id{ZWSP}i{ZWJ}{ZWJ}ot"
    normalised, index = normalise_with_offsets(text)
    assert normalised == "idiot"
    assert index == [0, 1, 3, 6, 7]
    assert "".join(text[i] for i in index) == "idiot"


def test_offsets_skip_removed_control_characters():
    text = "\x00ab\x07c"
    normalised, index = normalise_with_offsets(text)
    assert normalised == "abc"
    assert index == [1, 2, 4]


def test_combining_mark_is_composed_with_its_base_and_later_offsets_shift():
    text = "cafe\u0301 ok"  # e + combining acute accent
    normalised, index = normalise_with_offsets(text)
    assert normalised == "caf\u00e9 ok"
    assert index == [0, 1, 2, 3, 5, 6, 7]
    assert text[index[normalised.index("ok")]:] == "ok"


def test_several_combining_marks_map_to_their_base_character():
    text = "x a\u0323\u0302 y"  # a + dot below + circumflex -> one precomposed letter
    normalised, index = normalise_with_offsets(text)
    assert normalised == "x \u1ead y"
    assert index == [0, 1, 2, 5, 6]


def test_combining_mark_without_a_composed_form_is_kept_and_mapped():
    text = "q\u0301z"  # no precomposed q-acute: the mark stays, mapped to the q
    normalised, index = normalise_with_offsets(text)
    assert normalised == "q\u0301z"
    assert index == [0, 0, 2]


def test_offsets_for_mixed_dodges_map_every_character_back():
    text = f"ｙｏｕ{ZWSP} are an \ufb01ne i{SOFT_HYPHEN}diot\x00!"
    normalised, index = normalise_with_offsets(text)
    assert normalised == "you are an fine idiot!"
    assert_valid_index(text, normalised, index)
    start = normalised.index("idiot")
    # the word's first and last characters map back to the original "i" and "t"
    assert text[index[start]] == "i" and text[index[start + 4]] == "t"
    assert text[index[start]: index[start + 4] + 1] == f"i{SOFT_HYPHEN}diot"
    assert text[index[-1]] == "!"


# ---- head/tail budget --------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "budget"), [(0, 10), (5, 10), (10, 10)])
def test_head_tail_keep_keeps_everything_within_budget(n, budget):
    assert head_tail_keep(n, budget, head_fraction=0.67) == (n, 0)


@pytest.mark.parametrize(
    ("n", "budget", "fraction", "expected"),
    [
        (300, 126, 0.67, (84, 42)),
        (11, 10, 0.5, (5, 5)),
        (1000, 254, 0.67, (170, 84)),
        (50, 10, 1.0, (10, 0)),
        (50, 10, 0.0, (1, 9)),  # at least one head token
        (50, 10, 0.01, (1, 9)),
    ],
)
def test_head_tail_keep_splits_the_budget(n, budget, fraction, expected):
    head, tail = head_tail_keep(n, budget, head_fraction=fraction)
    assert (head, tail) == expected
    assert head + tail == budget
    assert head == max(1, round(budget * fraction))


# ---- encode_texts --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tokenizer(tiny_base):
    return AutoTokenizer.from_pretrained(str(tiny_base), local_files_only=True)


def test_encode_texts_keeps_head_and_tail_of_a_long_text(tokenizer):
    text = "you " + "the " * 200 + "moron"
    [encoded] = encode_texts(tokenizer, [text], max_length=32, head_fraction=0.67)
    tokens = tokenizer.convert_ids_to_tokens(encoded.input_ids)
    assert len(encoded.input_ids) == len(encoded.offsets) == 32
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert tokens[1] == "you"  # first word kept
    assert tokens[-2] == "moron"  # last word kept
    assert tokens.count("the") == 32 - 4  # the middle was dropped to fit
    head, tail = head_tail_keep(202, 30, head_fraction=0.67)
    assert (head, tail) == (20, 10)
    # offsets still point at the real characters, including the tail's
    assert encoded.offsets[0] == encoded.offsets[-1] == (0, 0)
    start, end = encoded.offsets[1]
    assert text[start:end] == "you"
    start, end = encoded.offsets[-2]
    assert text[start:end] == "moron"
    # the last head token and the first tail token are far apart in the text
    assert encoded.offsets[head + 1][0] - encoded.offsets[head][0] > 4 * (202 - 30)


def test_encode_texts_leaves_a_short_text_whole(tokenizer):
    [encoded] = encode_texts(tokenizer, ["you are an idiot"], max_length=32, head_fraction=0.67)
    tokens = tokenizer.convert_ids_to_tokens(encoded.input_ids)
    assert tokens == ["[CLS]", "you", "are", "an", "idiot", "[SEP]"]
    assert encoded.offsets[1:-1] == [(0, 3), (4, 7), (8, 10), (11, 16)]


def test_encode_texts_head_fraction_one_keeps_only_the_head(tokenizer):
    text = "you " + "the " * 100 + "moron"
    [encoded] = encode_texts(tokenizer, [text], max_length=16, head_fraction=1.0)
    tokens = tokenizer.convert_ids_to_tokens(encoded.input_ids)
    assert len(tokens) == 16
    assert tokens[1] == "you" and "moron" not in tokens


def test_pad_batch_pads_to_the_longest_of_the_batch(tokenizer):
    encoded = encode_texts(tokenizer, ["you", "you are an idiot"], max_length=64,
                           head_fraction=0.67)
    ids, mask = pad_batch(encoded, pad_id=tokenizer.pad_token_id)
    assert ids.shape == mask.shape == (2, 6)
    assert mask.sum(1).tolist() == [3, 6]
    assert ids[0, 3:].tolist() == [tokenizer.pad_token_id] * 3


def test_length_sorted_batches_cover_every_index_once():
    lengths = [5, 1, 9, 3, 7, 2, 8]
    batches = length_sorted_batches(lengths, 3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert [len(b) for b in batches] == [3, 3, 1]
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(flat)


def test_length_sorted_batches_with_max_padding_split_where_padding_would_grow():
    lengths = [10, 11, 10, 40, 11, 200, 41, 12]
    batches = length_sorted_batches(lengths, 8, max_padding=0.1)
    # 12 would pad [10, 10, 11, 11] to 60 tokens for 54 real ones (> 1.1x): a batch of its own
    assert [[lengths[i] for i in b] for b in batches] == [[10, 10, 11, 11], [12], [40, 41],
                                                          [200]]
    for batch in batches:
        padded = len(batch) * max(lengths[i] for i in batch)
        assert padded <= 1.1 * sum(lengths[i] for i in batch)
    # the cap on batch size still holds; equal lengths never split otherwise
    assert [len(b) for b in length_sorted_batches([7] * 10, 4, max_padding=0.1)] == [4, 4, 2]
    assert length_sorted_batches([], 4, max_padding=0.1) == []


def test_encode_texts_of_no_texts_is_empty(tokenizer):
    assert encode_texts(tokenizer, [], max_length=32, head_fraction=0.67) == []


def test_next_line_control_is_a_line_break_not_removed():
    # removing U+0085 would glue the words around it together ("youidiot")
    assert normalise("you\x85idiot") == "you\nidiot"


# ---- the tokenizers-only adapter used by the runtime form ----------------------------------------
@pytest.mark.parametrize("which", ["tiny", "release"])
def test_fast_tokenizer_gives_the_ids_and_offsets_of_autotokenizer(tiny_base, which):
    from model.artifact import RELEASE_DIR
    from model.encoding import FastTokenizer

    directory = tiny_base if which == "tiny" else RELEASE_DIR
    reference = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    fast = FastTokenizer(directory)
    texts = ["You are an IDIOT, Stéphane!", "the " * 300 + "moron", "naïve café — ok?", "x"]
    for max_length, head in ((32, 0.67), (256, 0.67), (16, 1.0)):
        expected = encode_texts(reference, texts, max_length=max_length, head_fraction=head)
        assert encode_texts(fast, texts, max_length=max_length, head_fraction=head) == expected
    assert (fast.cls_token_id, fast.sep_token_id, fast.pad_token_id) == (
        reference.cls_token_id, reference.sep_token_id, reference.pad_token_id)


@pytest.mark.parametrize("text", ["You are an idiot.", "line\nbreak\r\nand\ttab\x0bv\x0cf",
                                  "bell\x07 and nul\x00 removed", "", "  spaces  ", "~!@#$%^&*()"])
def test_ascii_fast_path_equals_the_general_normalisation(text):
    from model.text import _normalise_each_character

    assert normalise_with_offsets(text) == _normalise_each_character(text)
