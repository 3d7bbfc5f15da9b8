"""Locale choice and locale-aware formatting (Persian and English).

The visitor's choice is kept in a plain cookie that holds only "fa" or "en": remembered
without an account, and saying nothing about them beyond the language they read.
"""

from __future__ import annotations

from datetime import date, datetime

import jdatetime
from flask import Flask, request
from flask_babel import Babel, force_locale, get_locale, gettext
from werkzeug.wrappers import Response as WerkzeugResponse

LOCALES = ("fa", "en")
DEFAULT_LOCALE = "fa"
COOKIE = "lang"
RTL = {"fa"}
_PERSIAN_DIGITS = str.maketrans("0123456789.", "۰۱۲۳۴۵۶۷۸۹٫")


def select_locale() -> str:
    """The cookie's choice, else the browser's preference, else Persian."""
    chosen = request.cookies.get(COOKIE)
    if chosen in LOCALES:
        return chosen
    return request.accept_languages.best_match(LOCALES) or DEFAULT_LOCALE


def current() -> str:
    """The locale of the current request."""
    return str(get_locale() or DEFAULT_LOCALE)


def direction(locale: str | None = None) -> str:
    """`rtl` or `ltr`, for `<html dir>`."""
    return "rtl" if (locale or current()) in RTL else "ltr"


def digits(value: object, locale: str | None = None) -> str:
    """Write numbers in the interface's digits (Persian digits and decimal separator in the
    Persian interface)."""
    text = str(value)
    return text.translate(_PERSIAN_DIGITS) if (locale or current()) == "fa" else text


def format_date(value: date | datetime, locale: str | None = None) -> str:
    """A date as the reader expects it: Solar Hijri with Persian digits and month names in
    Persian, Gregorian (ISO-like, unambiguous) in English."""
    locale = locale or current()
    day = value.date() if isinstance(value, datetime) else value
    if locale == "fa":
        jalali = jdatetime.date.fromgregorian(date=day, locale="fa_IR")
        # The day without a leading zero, as Persian dates are written (۵ آذر, not ۰۵ آذر).
        return digits(f"{jalali.day} {jalali.strftime('%B')} {jalali.year}", "fa")
    return f"{day.day} {day.strftime('%B %Y')}"


def format_duration(seconds: float, locale: str | None = None) -> str:
    """A length of audio as minutes and seconds ("2 min 05 s"; a 3-second file is "3 s", not
    "0.0 minutes"), in the interface's digits. Hours are shown past sixty minutes."""
    locale = locale or current()
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    with force_locale(locale):
        if hours:
            text = gettext("%(h)s h %(m)s min", h=hours, m=f"{minutes:02d}")
        elif minutes:
            text = gettext("%(m)s min %(s)s s", m=minutes, s=f"{secs:02d}")
        else:
            text = gettext("%(s)s s", s=secs)
    return digits(text, locale)


def parse_date(text: str, locale: str | None = None) -> date:
    """Read a date typed in the interface's calendar: `1405/09/04` (Solar Hijri, Persian or
    Latin digits) in Persian, `2026-11-25` in English. Raises ValueError."""
    locale = locale or current()
    cleaned = text.strip().translate(str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789"))
    parts = cleaned.replace("-", "/").split("/")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(text)
    y, m, d = (int(p) for p in parts)
    if locale == "fa" and y < 1700:
        return jdatetime.date(y, m, d).togregorian()
    return date(y, m, d)


def init_app(app: Flask) -> Babel:
    """Attach Flask-Babel and the template helpers."""
    babel = Babel(app, locale_selector=select_locale)
    app.jinja_env.globals.update(current_locale=current, text_direction=direction, locales=LOCALES)
    app.jinja_env.filters.update(digits=digits, localdate=format_date, duration=format_duration)
    return babel


def remember(response: WerkzeugResponse, locale: str, secure: bool) -> None:
    """Keep the visitor's choice of language in a cookie that holds nothing else."""
    response.set_cookie(
        COOKIE, locale, max_age=365 * 24 * 3600, httponly=True, samesite="Lax", secure=secure
    )
