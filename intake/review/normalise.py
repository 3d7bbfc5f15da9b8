"""Persian-aware text normalisation for matching, with a way back to the original offsets.

The same name is typed many ways in Persian: with the Arabic letters ي and ك or the Persian
ی and ک, with ة or ه, with or without a zero-width non-joiner (سال‌ها, سالها), with Persian,
Arabic-Indic or ASCII digits, with or without short-vowel marks. A submitter's "names and
details to remove" must match the transcript whatever the spelling, so matching compares
normalised forms. The normalised form is for comparing only and is never stored or shown:
`find` answers with offsets into the original text, which is what a mark or a highlight needs.
The glossary reuses the same rules, so a term matches the way a removal note does.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# One-to-one letter variants folded to the form Persian keyboards produce.
_LETTERS = str.maketrans(
    {
        "\u064a": "\u06cc",  # Arabic yeh -> Persian yeh
        "\u0649": "\u06cc",  # alef maksura -> Persian yeh
        "\u0643": "\u06a9",  # Arabic kaf -> keheh
        "\u0629": "\u0647",  # teh marbuta -> heh
        "\u06c0": "\u0647",  # heh with yeh above -> heh
        "\u0623": "\u0627",  # alef with hamza above -> alef
        "\u0625": "\u0627",  # alef with hamza below -> alef
        "\u0671": "\u0627",  # alef wasla -> alef
        "\u0622": "\u0627",  # alef with madda -> alef
        **{chr(0x06F0 + d): str(d) for d in range(10)},  # Persian digits
        **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
    }
)
# Dropped outright: joiners, the tatweel (kashida) and the bidi marks typed around numbers.
_DROPPED = frozenset("\u200c\u200d\u0640\u200e\u200f\u061c\ufeff")
# Separators between the terms of a removal note: lines, commas, semicolons (both scripts).
_TERM_SPLIT = re.compile(r"[\n\r,;\u060c\u061b]+")


@dataclass(frozen=True)
class Normalised:
    """A normalised text and, for each of its characters, the offset it came from."""

    text: str
    origin: list[int]


def fold_char(char: str) -> str:
    """One character's normalised form: "" for a mark or a joiner, else one or more chars."""
    if char in _DROPPED:
        return ""
    if unicodedata.category(char) == "Mn":  # harakat, shadda, superscript alef, accents
        return ""
    if char.isspace():
        return " "
    return char.translate(_LETTERS).lower()


def normalise_with_origin(text: str) -> Normalised:
    """Normalise `text`, keeping for each output character the index of its source character.
    Runs of white space become one space, so a line break matches a space."""
    out: list[str] = []
    origin: list[int] = []
    # Decomposing first turns a precomposed accented letter into a letter and a mark.
    for index, char in enumerate(text):
        for part in unicodedata.normalize("NFD", char):
            folded = fold_char(part)
            for piece in folded:
                if piece == " " and (not out or out[-1] == " "):
                    continue
                out.append(piece)
                origin.append(index)
    if out and out[-1] == " ":
        out.pop()
        origin.pop()
    return Normalised("".join(out), origin)


def normalise(text: str) -> str:
    """The normalised form of `text`, for comparing two spellings of the same words."""
    return normalise_with_origin(text).text


def _boundary(text: str, index: int) -> bool:
    return index < 0 or index >= len(text) or not text[index].isalnum()


def find(text: str, needle: str) -> list[tuple[int, int]]:
    """Every whole-word occurrence of `needle` in `text`, compared normalised, as
    (start, end) offsets into the original `text`; [] when the needle normalises to nothing."""
    wanted = normalise(needle)
    if not wanted:
        return []
    hay = normalise_with_origin(text)
    found: list[tuple[int, int]] = []
    at = hay.text.find(wanted)
    while at >= 0:
        end = at + len(wanted)
        if _boundary(hay.text, at - 1) and _boundary(hay.text, end):
            found.append((hay.origin[at], hay.origin[end - 1] + 1))
        at = hay.text.find(wanted, at + 1)
    return found


def terms(notes: str) -> list[str]:
    """The separate names and details of a free-text note: one per line, comma or semicolon,
    trimmed, without those that normalise to fewer than two characters."""
    return [t.strip() for t in _TERM_SPLIT.split(notes) if len(normalise(t.strip())) >= 2]


def contains(haystack: str, needle: str) -> bool:
    """Whether `needle` occurs in `haystack` as whole words, after normalising both (the
    glossary check).

    Whole words, so that the place "Evin" is not found inside another word. A Persian term is
    also found with a suffix joined by a half-space ("اوین‌ها"): for this test the ZWNJ counts
    as a word boundary, where `find` (which must give offsets of one spelling) drops it.
    """
    return bool(find(haystack, needle) or find(haystack.replace("\u200c", " "), needle))
