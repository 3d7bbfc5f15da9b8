"""Persian (and English) text normalisation for matching, never for display.

The same word reaches the archive written several ways: Arabic keyboards type ي and ك where
Persian has ی and ک, ة stands for ه, half-spaces (ZWNJ) come and go, digits may be Persian,
Arabic-Indic or Latin, and short vowels (diacritics) are usually left out. A glossary term or
a name to redact must be found whichever way it was typed, so every comparison of Persian text
goes through `normalise` on both sides. Stored text is never rewritten: this is for finding.
"""

from __future__ import annotations

import re
import unicodedata

# Letter variants to their Persian form.
_LETTERS = str.maketrans(
    {
        "ي": "ی",  # Arabic yeh
        "ى": "ی",  # alef maksura
        "ئ": "ی",  # yeh with hamza, usually typed for ی in names
        "ك": "ک",  # Arabic kaf
        "ة": "ه",  # teh marbuta
        "ۀ": "ه",  # heh with yeh above (ezafe)
        "أ": "ا",
        "إ": "ا",
        "ٱ": "ا",
        "آ": "ا",
        "ؤ": "و",
    }
)
# Persian and Arabic-Indic digits to Latin ones.
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
# Harakat, tanwin, shadda, sukun, superscript alef, and the tatweel that only stretches a line.
_MARKS = re.compile("[\u064b-\u065f\u0670\u0640]")
# ZWNJ, ZWJ and the other invisible joiners count as a space: "می‌خواهم" and "می خواهم" match.
_JOINERS = re.compile("[\u200c\u200d\u200e\u200f\u00ad\ufeff]")
# Everything that is neither a letter nor a digit separates words.
_SEPARATORS = re.compile(r"[^\w]+|_")


def normalise(text: str) -> str:
    """The matching form of `text`: Persian letter variants unified, diacritics and tatweel
    removed, ZWNJ and punctuation made spaces, digits Latin, case folded, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(_LETTERS).translate(_DIGITS)
    text = _MARKS.sub("", text)
    text = _JOINERS.sub(" ", text)
    text = _SEPARATORS.sub(" ", text)
    return " ".join(text.casefold().split())


def contains(haystack: str, needle: str) -> bool:
    """Whether `needle` occurs in `haystack` as whole words, after normalising both.

    Whole words, so that the place "Evin" is not found inside another word; a Persian term is
    also found with a suffix joined by a half-space ("اوین‌ها"), since ZWNJ is a space here.
    """
    n = normalise(needle)
    if not n:
        return False
    return f" {n} " in f" {normalise(haystack)} "
