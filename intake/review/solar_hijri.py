"""Solar Hijri dates as testimonies give them, read into a Gregorian range.

A survivor says "Mordad 1367", not "23 July to 22 August 1988": the register keeps the words
as given and the range they cover, so that a search by Gregorian dates finds them. A year alone
gives the whole year, a month its month, a day one day. Month names are read in Persian and in
the usual Latin spellings, digits in Persian, Arabic-Indic or Latin (`normalise`). The calendar
itself is jdatetime's, a maintained library, not arithmetic of ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import jdatetime

from intake.review.normalise import normalise

#: Month names by number: Persian first, then Latin spellings (compared normalised).
MONTHS: dict[int, tuple[str, ...]] = {
    1: ("فروردین", "farvardin", "farvardeen"),
    2: ("اردیبهشت", "ordibehesht", "ardibehesht", "ordibehest"),
    3: ("خرداد", "khordad", "khordaad"),
    4: ("تیر", "tir", "teer"),
    5: ("مرداد", "امرداد", "mordad", "amordad", "mordaad"),
    6: ("شهریور", "shahrivar", "shahrivar"),
    7: ("مهر", "mehr"),
    8: ("آبان", "aban", "abaan"),
    9: ("آذر", "azar", "azer"),
    10: ("دی", "dey", "dei", "day"),
    11: ("بهمن", "bahman"),
    12: ("اسفند", "esfand", "isfand", "esfend"),
}
_BY_NAME = {normalise(name): number for number, names in MONTHS.items() for name in names}
_NUMERIC = re.compile(r"^(\d{3,4})(?:[/\-.](\d{1,2})(?:[/\-.](\d{1,2}))?)?$")
_TOKEN = re.compile(r"\d+|[^\W\d_]+")


class DateUnreadable(ValueError):
    """Text that is no Solar Hijri year, month or day."""


@dataclass(frozen=True)
class DateRange:
    """A Solar Hijri year, month or day and the Gregorian days it covers (both included)."""

    year: int
    month: int | None
    day: int | None
    start: date
    end: date


def _range(year: int, month: int | None, day: int | None) -> DateRange:
    try:
        if month is None:
            start = jdatetime.date(year, 1, 1).togregorian()
            end = jdatetime.date(year + 1, 1, 1).togregorian() - timedelta(days=1)
        elif day is None:
            start = jdatetime.date(year, month, 1).togregorian()
            after = (year + 1, 1) if month == 12 else (year, month + 1)
            end = jdatetime.date(after[0], after[1], 1).togregorian() - timedelta(days=1)
        else:
            start = end = jdatetime.date(year, month, day).togregorian()
    except ValueError as exc:
        raise DateUnreadable(str(exc)) from None
    return DateRange(year, month, day, start, end)


def parse(text: str) -> DateRange:
    """The range of a Solar Hijri date: "1367", "Mordad 1367", "۵ مرداد ۱۳۶۷", "1367/5/5"."""
    plain = normalise(text).replace("،", " ").replace(",", " ")
    if not plain:
        raise DateUnreadable("empty")
    numeric = _NUMERIC.match(plain.replace(" ", ""))
    if numeric:
        year, month, day = (int(g) if g else None for g in numeric.groups())
        assert year is not None
        return _range(year, month, day)
    year = month = day = None
    for token in _TOKEN.findall(plain):
        if token.isdigit() and len(token) >= 3 and year is None:
            year = int(token)
        elif token.isdigit() and len(token) <= 2 and day is None:
            day = int(token)
        elif not token.isdigit() and token in _BY_NAME and month is None:
            month = _BY_NAME[token]
        else:
            raise DateUnreadable(f"unexpected {token!r}")
    if year is None or (day is not None and month is None):
        raise DateUnreadable("no year")
    return _range(year, month, day)
