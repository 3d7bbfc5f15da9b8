"""The staff side of questions to a submitter: writing one, and reading the exchange.

A reviewer, translator or archivist who may open a record (`record_access.open_for`, checked
by the route) writes a question; it is sealed twice: to the public key the submitter's receipt
code derives (only the typed code opens it, on the status page) and to the archive (so the
staff read what was asked). The event names the account by id and the question by id, never
its text. See docs/security.md, "Questions through the receipt".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake import sealing
from intake.crypto import Keyring
from intake.events import Action, staff_ref
from intake.models import AudioFile, Question, Testimony
from intake.records import audit, lifecycle, messages
from intake.records.messages import MessageRefused, QuestionState


def ask(
    session: Session, keyring: Keyring, account_id: int, testimony: Testimony, text: str
) -> Question:
    """Write a question to the record's submitter and commit it with its event.

    MessageRefused ("empty", "too_long", "withdrawn") before anything is written. A record
    that has no key for questions yet (received before questions existed) keeps the question
    held until its submitter's next status visit stores one (`deliver_held`).
    """
    cleaned = messages.clean_text(text)
    if not messages.may_exchange(testimony):
        raise MessageRefused("withdrawn")
    question = Question(testimony_id=testimony.id, asked_by=account_id, for_archive=b"")
    session.add(question)
    session.flush()
    question.for_archive = sealing.seal_question_for_archive(
        keyring, testimony.id, question.id, cleaned
    )
    if testimony.message_key is not None:
        question.for_submitter = sealing.seal_question_for_submitter(
            testimony.message_key, testimony.id, question.id, cleaned
        )
    audit.record_event(
        session,
        testimony.id,
        staff_ref(account_id),
        Action.question_asked,
        detail={"question": question.id},
    )
    try:
        # A withdrawal may commit meanwhile: then nothing of the question is kept.
        lifecycle.expect_state(session, testimony, messages.OPEN_STATES)
    except lifecycle.StaleState:
        session.rollback()
        raise MessageRefused("withdrawn") from None
    session.commit()
    return question


def deliver_held(session: Session, keyring: Keyring, testimony: Testimony) -> int:
    """Seal held questions to the submitter's key once the record has one; returns how many.

    Needs the archive's private key (the staff app, the worker): the public app stores the
    key at the submitter's visit but cannot open the archive's copy to seal it. Commits.
    """
    if testimony.message_key is None:
        return 0
    held = [
        q
        for q in messages.questions_of(session, testimony.id)
        if messages.state_of(q) is QuestionState.held
    ]
    for question in held:
        text = sealing.open_question_for_archive(
            keyring, testimony.id, question.id, question.for_archive
        )
        question.for_submitter = sealing.seal_question_for_submitter(
            testimony.message_key, testimony.id, question.id, text
        )
    if held:
        session.commit()
    return len(held)


@dataclass(frozen=True)
class Exchange:
    """One question as the staff read it, with its answer: written text and/or the positions
    of the recordings that answered it."""

    id: int
    asked_by: int
    asked_at: datetime
    text: str
    state: QuestionState
    answered_at: datetime | None
    answer: str | None
    recordings: list[int]


def exchanges(session: Session, keyring: Keyring, testimony: Testimony) -> list[Exchange]:
    """The record's questions and answers, opened for the staff page (archive key)."""
    files = session.scalars(select(AudioFile).where(AudioFile.testimony_id == testimony.id))
    positions = {f.id: f.position for f in files}
    shown = []
    for q in messages.questions_of(session, testimony.id):
        text = sealing.open_question_for_archive(keyring, testimony.id, q.id, q.for_archive)
        answer = (
            sealing.open_answer(keyring, testimony.id, q.id, q.answer)
            if q.answer is not None
            else None
        )
        ids = json.loads(q.answer_audio) if q.answer_audio else []
        recordings = sorted(positions[i] for i in ids if i in positions)
        shown.append(
            Exchange(
                q.id,
                q.asked_by,
                q.asked_at,
                text,
                messages.state_of(q),
                q.answered_at,
                answer,
                recordings,
            )
        )
    return shown
