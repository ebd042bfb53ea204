"""A small, dependency-free guess at a comment's language: enough to refuse what the English
model cannot score (Perspective answers such requests with an error, not a made-up score)."""

from __future__ import annotations

import re
import unicodedata

WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

# Frequent function words: a text of several words with none of the English ones and a few of
# another language's is that language.
FUNCTION_WORDS = {
    "en": "the a an and or but of to in on is are was were be it that this you i we they not "
    "with for have has do does he she his her my your at as by from so if what no",
    "de": "der die das und ist nicht ein eine ich du sie wir es zu mit auf den dem des auch sich "
    "von wie aber noch nur",
    "fr": "le la les et est une un des je tu il elle nous vous ne pas que qui dans pour sur avec "
    "ce cette mais du au",
    "es": "el la los las y es una un que de en por para con no se lo como pero muy su del al",
    "it": "il lo la gli le e è una un che di per con non si come ma sono del della",
    "nl": "de het een en is niet ik je jij wij zij van op met voor maar ook dat die",
    "pt": "o a os as e é um uma que de em para com não se como mas do da",
}
SCRIPTS = {"CYRILLIC": "ru", "ARABIC": "ar", "CJK": "zh", "HIRAGANA": "ja", "KATAKANA": "ja",
           "HANGUL": "ko", "GREEK": "el", "HEBREW": "he", "DEVANAGARI": "hi", "THAI": "th"}
VOCABULARY = {lang: set(words.split()) for lang, words in FUNCTION_WORDS.items()}


def detect_language(text: str) -> str:
    """``"en"``, another ISO 639-1 code, or ``"und"`` when there is too little text to tell;
    errs on the side of English (a short or mixed comment is scored, not refused)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return "und"
    latin = sum(1 for ch in letters if ch.isascii() or "LATIN" in unicodedata.name(ch, ""))
    if latin / len(letters) < 0.5:
        counts: dict[str, int] = {}
        for ch in letters:
            name = unicodedata.name(ch, "")
            for script, code in SCRIPTS.items():
                if name.startswith(script):
                    counts[code] = counts.get(code, 0) + 1
        return max(counts, key=counts.get) if counts else "und"
    words = [w.lower() for w in WORD.findall(text)]
    if len(words) < 6:
        return "en"
    hits = {lang: sum(w in vocab for w in words) for lang, vocab in VOCABULARY.items()}
    best = max(hits, key=hits.get)
    if best != "en" and hits[best] >= 3 and hits[best] >= 2 * max(hits["en"], 1):
        return best
    return "en"
