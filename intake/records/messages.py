"""Questions to a record's submitter: the rows and what both sides ask of them.

The archive reaches a submitter only through the status page that the receipt code opens
(SPEC 10): no contact detail is ever asked for, and nothing is sent by any other channel. The
staff side writes questions (`intake.review.questions`), the submitter's side reads and answers
them (`intake.public.questions`); this module holds what both mean alike: the limits on the
text, the states of a question, and the counts the queues show. It opens nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from intake.models import Question, Testimony, TestimonyState

#: The longest question or written answer, in characters: a few paragraphs. Longer words go
#: in a recording.
MAX_CHARS = 4000


#: Every state but withdrawn: a record exchanges questions wherever its work stands.
OPEN_STATES = tuple(s for s in TestimonyState if s != TestimonyState.withdrawn)


class MessageRefused(Exception):
    """A question or answer that is not kept; `reason` names why (the views word it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class QuestionState(enum.StrEnum):
    """Where one question stands: sealed for the submitter and waiting, answered, or held
    until the record has a key to seal it to (a record older than questions, until its
    submitter's next status visit)."""

    held = "held"
    waiting = "waiting"
    answered = "answered"


def state_of(question: Question) -> QuestionState:
    """The state of one question, read from its columns."""
    if question.answered_at is not None:
        return QuestionState.answered
    if question.for_submitter is None:
        return QuestionState.held
    return QuestionState.waiting


def clean_text(text: str) -> str:
    """The text of a question or answer, stripped; MessageRefused when empty or too long,
    before anything is written."""
    cleaned = text.strip()
    if not cleaned:
        raise MessageRefused("empty")
    if len(cleaned) > MAX_CHARS:
        raise MessageRefused("too_long")
    return cleaned


def may_exchange(testimony: Testimony) -> bool:
    """Whether questions may be written or answered on this record: not once withdrawn."""
    return testimony.state != TestimonyState.withdrawn and testimony.wrapped_key is not None


def questions_of(session: Session, testimony_id: int) -> list[Question]:
    """The record's questions, oldest first."""
    query = select(Question).where(Question.testimony_id == testimony_id).order_by(Question.id)
    return list(session.scalars(query))


@dataclass(frozen=True)
class Summary:
    """What the queues show of a record's questions: how many wait for the submitter, and how
    many the submitter answered."""

    waiting: int = 0
    answered: int = 0


def summaries(session: Session, testimony_ids: Iterable[int]) -> dict[int, Summary]:
    """Per testimony id, its questions waiting and answered (ids without questions are left
    out). Counts only: no text is opened to make a queue."""
    ids = list(testimony_ids)
    if not ids:
        return {}
    answered = func.count(Question.answered_at)
    query = (
        select(Question.testimony_id, func.count(Question.id), answered)
        .where(Question.testimony_id.in_(ids))
        .group_by(Question.testimony_id)
    )
    return {tid: Summary(total - done, done) for tid, total, done in session.execute(query)}


def summaries_by_pseudonym(session: Session, pseudonyms: Iterable[str]) -> dict[str, Summary]:
    """`summaries` keyed by the records' pseudonyms, as the queues name records."""
    names = list(pseudonyms)
    if not names:
        return {}
    pairs = session.execute(
        select(Testimony.id, Testimony.pseudonym).where(Testimony.pseudonym.in_(names))
    ).all()
    found = summaries(session, [tid for tid, _ in pairs])
    return {name: found[tid] for tid, name in pairs if tid in found}
