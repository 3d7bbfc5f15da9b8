"""Text as every export format may carry it: the one cleaning step all of them share.

XML 1.0 allows only tab, line feed, carriage return and the characters from U+0020 on (less the
surrogates and U+FFFE/U+FFFF). A stray control character pasted into a segment (a U+0001 from a
word processor) makes an OHMS or Dublin Core file invalid, and a reader's parser refuses the
whole file; WebVTT, SRT and text players show such characters as boxes or drop the cue. So
every format passes its text through `clean` and carries none of them (JSON could escape them,
but the same text in every file is easier to trust).

SRT and plain text have no markup of their own, yet most SRT players render `<i>`, `<b>`,
`<u>` and `<font>` tags and ASS-style `{\\an8}` overrides found in a cue: `strip_markup` removes
those (and only those, so that "<the last time>" in the speaker's words survives).
"""

from __future__ import annotations

import re

#: Every character XML 1.0 forbids (section 2.2, `Char`).
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TAGS = re.compile(
    r"</?(?:i|b|u|s|font|c|v|lang|ruby|rt|span|br|em|strong)(?:[\s.][^<>]*)?/?>", re.IGNORECASE
)
_OVERRIDES = re.compile(r"\{\\[^{}]*\}")
_SPACE = re.compile(r"\s+")


def clean(text: str) -> str:
    """`text` without the characters XML 1.0 forbids."""
    return _FORBIDDEN.sub("", text)


def strip_markup(text: str) -> str:
    """`text` without the tags and overrides subtitle players would render as formatting."""
    return _OVERRIDES.sub("", _TAGS.sub("", text))


def one_line(text: str) -> str:
    """Clean text with every run of whitespace collapsed to one space: a blank line would end
    a cue early, and a line break inside a segment means nothing to a reader."""
    return _SPACE.sub(" ", clean(text)).strip()
