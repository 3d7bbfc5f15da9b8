"""Consent: the uses a submitter can agree to, and the versioned wording they were shown.

The wording of a version is never edited once released: a change of wording is a new version,
so that each record keeps the exact text its submitter agreed to (by version, locale and hash).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from flask_babel import force_locale, gettext

WORDING_VERSION = "2026-11-25"


def N_(message: str) -> str:  # noqa: N802 - the name Babel's extractor looks for
    """Mark a string for translation without translating it yet."""
    return message


# (field name, wording). Order is the order on the form.
USES = (
    ("archive", N_("Keep my original recording, encrypted, in the archive's preservation copy.")),
    (
        "transcribe",
        N_("Transcribe my recording into text (by a computer, then checked by reviewers)."),
    ),
    ("translate", N_("Translate the transcript between Persian and English.")),
    (
        "publish_anonymised",
        N_("Publish an anonymised version: names and details I list below removed."),
    ),
    ("publish_named", N_("Publish my testimony with my name.")),
)
EMBARGO_WORDING = N_("Do not publish anything before this date (optional).")


@dataclass(frozen=True)
class ConsentChoices:
    """What was ticked on the form."""

    archive: bool
    transcribe: bool
    translate: bool
    publish_anonymised: bool
    publish_named: bool
    embargo_until: date | None

    def any_use(self) -> bool:
        """Whether anything at all may be done with the recording."""
        return any(getattr(self, name) for name, _ in USES)


def wording_text(locale: str) -> str:
    """The full consent wording of this version as shown in `locale`."""
    with force_locale(locale):
        lines = [gettext(text) for _, text in USES]
        lines.append(gettext(EMBARGO_WORDING))
    return "\n".join(lines)


def wording_sha256(locale: str) -> str:
    """Hash of the wording shown, stored with each consent so a later reader can verify it."""
    return hashlib.sha256(
        f"{WORDING_VERSION}\n{locale}\n{wording_text(locale)}".encode()
    ).hexdigest()
