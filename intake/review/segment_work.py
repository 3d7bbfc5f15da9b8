"""One state machine for the work done on a segment: its transcript's review, its translation.

A piece of segment work (a transcript `Segment`, a `TranslationSegment`) moves
machine < edited < approved (SPEC.md section 2; Weblate's translated < approved). Review and
translation share every rule of that machine, so it is written once, here:

- versions: every change names the version the person saw; an older one is refused ("stale"),
  or, for a new text, answered with a `Conflict` that holds both texts;
- four eyes: nobody approves work they were the last to change;
- marks: adding or removing a redaction mark changes what will be published, so an approved
  segment goes back to `edited`, changed by whoever moved the mark, and needs another pair of
  eyes again (a removed name must not ride out on an approval given before);
- events: each transition writes one event, with ids and states only, never text.

`intake.review.review`, `intake.review.translation` and `intake.review.index_points` keep only
what differs: what the text is and where it is sealed, who may act and in which testimony
states, what the last approval sets moving. A `Kind` names, for each, the state column, the ids
its events carry and its actions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from intake.events import Action
from intake.models import ReviewState, Testimony, TestimonyState, utcnow
from intake.records import audit, lifecycle
from intake.review import redaction_marks


class WorkError(Exception):
    """A segment action that cannot be done; `reason` is a stable code for the message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(eq=False)
class Conflict(Exception):
    """Someone saved the segment's text since this page loaded it: both texts, for the choice."""

    segment_id: int
    yours: str
    theirs: str
    current_version: int


class Work(Protocol):
    """What this module reads and writes of a segment's work row (besides its state column)."""

    id: Any
    version: Any
    edited_by: Any
    approved_by: Any


class Span(Protocol):
    """A mark's place in its text (`RedactionMark`, `TranslationMark`)."""

    id: Any
    char_start: Any
    char_end: Any
    category: Any


@dataclass(frozen=True)
class Waiting:
    """A testimony in a queue of segment work (review or translation): what every queue shows
    of it; each queue adds its own progress figures."""

    pseudonym: str
    state: TestimonyState
    language: str
    created_at: datetime
    segments: int

    @property
    def age_days(self) -> int:
        """Whole days since the testimony arrived."""
        return (utcnow() - self.created_at).days


@dataclass(frozen=True)
class Kind:
    """What differs between review and translation inside the shared transitions."""

    # The row's state column ("review_state" on a segment, "state" on a translation).
    state_column: str
    # The ids an event names the row by (never its text).
    ids: Callable[[Any], dict[str, object]]
    edited: Action
    approved: Action
    reopened: Action
    error: type[WorkError]
    # The testimony's state before anyone worked on it, the one work puts it in, and the
    # event of that move (transcribed -> in_review; transcript_approved -> in_translation).
    # None for work that moves no testimony state (index points, made beside the rest).
    waiting: TestimonyState | None
    working: TestimonyState | None
    started: Action | None


def begin(session: Session, kind: Kind, testimony: Testimony, actor: str) -> None:
    """Move the testimony into its working state at the first change made to it."""
    if kind.waiting is None or kind.working is None or kind.started is None:
        return
    if testimony.state == kind.waiting:
        lifecycle.transition(session, testimony, kind.working, actor, kind.started)


@dataclass(frozen=True)
class Selection:
    """The words a person chose to mark: the browser's selection (`start`, `end`) when it
    still holds `wanted`, else the first unmarked occurrence of `wanted`."""

    wanted: str = ""
    start: int | None = None
    end: int | None = None


def state_of(kind: Kind, work: Work) -> ReviewState | None:
    """The row's review state (None for a translation row not yet written)."""
    state: ReviewState | None = getattr(work, kind.state_column, None)
    return state


def check_version(kind: Kind, work: Work, version: int) -> None:
    """Refuse ("stale") an action taken on a version other than the row's current one: the
    person acted on what they saw, and it is no longer there."""
    if (work.version or 0) != version:
        raise kind.error("stale")


def check_text_version(
    segment_id: int, current_version: int, version: int, yours: str, theirs: str
) -> None:
    """Raise `Conflict` (with both texts) when a new text was written from an older version,
    so a concurrent edit is never overwritten silently."""
    if current_version != version:
        raise Conflict(segment_id, yours, theirs, current_version)


@dataclass(frozen=True)
class Change:
    """One person's change to one row of segment work: every transition goes through here."""

    session: Session
    kind: Kind
    testimony: Testimony
    work: Work
    actor: str

    def _move(self, state: ReviewState) -> str | None:
        before = state_of(self.kind, self.work)
        setattr(self.work, self.kind.state_column, state)
        self.work.version = (self.work.version or 0) + 1
        if state == ReviewState.approved:
            self.work.approved_by = self.actor
        else:
            self.work.edited_by = self.actor
            self.work.approved_by = None
        return before.value if before is not None else None

    def _event(self, action: Action, before: str | None, extra: dict[str, object]) -> None:
        self.session.flush()  # a new row has its id now, for the event to name it
        after = state_of(self.kind, self.work)
        detail = {
            **self.kind.ids(self.work),
            "version": self.work.version,
            "from": before,
            "to": after.value if after is not None else None,
            **extra,
        }
        audit.record_event(self.session, self.testimony.id, self.actor, action, detail=detail)

    def edited(self, action: Action | None = None, extra: dict[str, object] | None = None) -> None:
        """Record a new text on the row: `edited` by this person, approval gone, a new
        version, and the event (`kind.edited` unless `action` says more, a draft taken)."""
        before = self._move(ReviewState.edited)
        begin(self.session, self.kind, self.testimony, self.actor)
        self._event(action or self.kind.edited, before, extra or {})

    def approve(self, version: int) -> bool:
        """Approve the row as it stands at `version`, never by the one who changed it last.
        Returns False when it was approved already (nothing written)."""
        check_version(self.kind, self.work, version)
        if state_of(self.kind, self.work) == ReviewState.approved:
            return False
        if self.work.edited_by == self.actor:
            raise self.kind.error("own_edit")
        before = self._move(ReviewState.approved)
        begin(self.session, self.kind, self.testimony, self.actor)
        self._event(self.kind.approved, before, {})
        return True

    def reopen(self, because: Action) -> bool:
        """Take an approved row back to `edited`, changed by this person, so that another
        must approve it again; True when it was approved. `because` names the change."""
        if state_of(self.kind, self.work) != ReviewState.approved:
            return False
        before = self._move(ReviewState.edited)
        self._event(self.kind.reopened, before, {"because": because.value})
        return True

    def add_mark(
        self,
        version: int,
        text: str,
        existing: Sequence[Span],
        make: Callable[[int, int], Span],
        chosen: Selection,
    ) -> Span:
        """Mark the `chosen` span of the row's `text`, if the row is still at `version` (the
        offsets refer to the text the person saw); `make` builds the mark row for the span.
        An approved row goes back to `edited` (four eyes again)."""
        check_version(self.kind, self.work, version)
        try:
            start, end = redaction_marks.locate(
                text, chosen.wanted, existing, chosen.start, chosen.end
            )
            mark = make(start, end)
        except redaction_marks.MarkError as exc:
            raise self.kind.error(exc.reason) from exc
        self.session.add(mark)
        self.session.flush()
        self._mark_event(Action.redaction_marked, mark)
        self.reopen(Action.redaction_marked)
        return mark

    def remove_mark(self, version: int, mark: Span | None) -> None:
        """Remove one mark of the row (None: not one of its marks), if the row is still at
        `version`; an approved row goes back to `edited` (four eyes again)."""
        check_version(self.kind, self.work, version)
        if mark is None:
            raise self.kind.error("not_found")
        self._mark_event(Action.redaction_removed, mark)
        self.session.delete(mark)
        self.session.flush()
        self.reopen(Action.redaction_removed)

    def _mark_event(self, action: Action, mark: Span) -> None:
        detail = {**self.kind.ids(self.work), "mark": mark.id, "category": mark.category.value}
        audit.record_event(self.session, self.testimony.id, self.actor, action, detail=detail)
