"""The path a testimony takes, as its submitter sees it: five stages instead of twelve states.

The status page draws these as a stepper, so that a submitter knows what comes next and how
far their testimony has come, without the staff's vocabulary of states.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from intake.models import TestimonyState

S = TestimonyState

# (key, label, the states in which this is the stage under way).
_STAGES: tuple[tuple[str, LazyString, frozenset[TestimonyState]], ...] = (
    ("received", _l("Received"), frozenset({S.received, S.queued})),
    ("transcribing", _l("Transcribing"), frozenset({S.transcribing})),
    (
        "review",
        _l("In review"),
        frozenset({S.transcribed, S.in_review, S.transcript_approved}),
    ),
    ("translated", _l("Translated"), frozenset({S.in_translation, S.translation_review})),
    ("approved", _l("Approved"), frozenset({S.approved, S.archived})),
)


@dataclass(frozen=True)
class Stage:
    """One step of the path: done, the current one, or still ahead."""

    key: str
    label: str
    status: str  # "done", "current" or "ahead"


def path(state: TestimonyState, translated: bool) -> list[Stage]:
    """The stages of a testimony in `state`; translation appears only where consented.

    A testimony waiting for staff (`needs_attention`) has no current stage: every stage is
    shown ahead, and the page says what happened in words.
    """
    shown = [s for s in _STAGES if translated or s[0] != "translated"]
    current = next((i for i, s in enumerate(shown) if state in s[2]), None)
    return [Stage(key, str(label), _status(i, current)) for i, (key, label, _s) in enumerate(shown)]


def _status(index: int, current: int | None) -> str:
    if current is None or index > current:
        return "ahead"
    return "done" if index < current else "current"
