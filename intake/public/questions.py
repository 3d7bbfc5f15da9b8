"""The submitter's side of the archive's questions: reading and answering them with the code.

The receipt code derives a key pair (`sealing.submitter_message_keys`, a slow hash of its own);
the testimony stores only the public half, written at intake or, for records received before
questions existed, at the first status visit (`ensure_key`). The private half exists only in
the request that typed the code: it opens the questions sealed to the public half, and is
never stored or logged. Answers are sealed to the archive: this app cannot read them again.
A recorded answer goes through `submissions.add_audio`, as any added recording (the sandbox,
the consent check, transcription only where consent allows); it is then tied to its question.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from intake import sealing
from intake.crypto import DecryptionError, Keyring
from intake.events import Action, Actor
from intake.models import Question, Testimony, utcnow
from intake.records import audit, lifecycle, messages
from intake.records.messages import MessageRefused, QuestionState


def ensure_key(session: Session, testimony: Testimony, code: str, pepper: bytes) -> bytes:
    """The code's private key for questions; stores its public half on a record that has
    none yet (committed). One Argon2id hash: call once per request."""
    private, public = sealing.submitter_message_keys(code, pepper)
    if testimony.message_key is None and messages.may_exchange(testimony):
        testimony.message_key = public
        session.commit()
    return private


@dataclass(frozen=True)
class ForSubmitter:
    """One question as the submitter sees it."""

    id: int
    asked_at: datetime
    text: str
    answered: bool
    answered_at: datetime | None


def for_submitter(session: Session, testimony: Testimony, private_key: bytes) -> list[ForSubmitter]:
    """The questions sealed to this code, oldest first, opened with its private key. Held
    ones (not sealed to the code yet) are not shown: there is nothing to read."""
    shown = []
    for q in messages.questions_of(session, testimony.id):
        if q.for_submitter is None:
            continue
        try:
            text = sealing.open_question_for_submitter(
                private_key, testimony.id, q.id, q.for_submitter
            )
        except DecryptionError:
            continue  # sealed to another key: never shown as anything
        answered = messages.state_of(q) is QuestionState.answered
        shown.append(ForSubmitter(q.id, q.asked_at, text, answered, q.answered_at))
    return shown


def answerable(session: Session, testimony: Testimony, question_id: int) -> Question:
    """The question `question_id` of this record if it waits for an answer; else
    MessageRefused ("no_question", "answered", "withdrawn"), before anything is written."""
    if not messages.may_exchange(testimony):
        raise MessageRefused("withdrawn")
    question = session.get(Question, question_id)
    if question is None or question.testimony_id != testimony.id or question.for_submitter is None:
        raise MessageRefused("no_question")
    if question.answered_at is not None:
        raise MessageRefused("answered")
    return question


def _answered(session: Session, testimony: Testimony, question: Question, audio: list[int]) -> None:
    question.answered_at = utcnow()
    if audio:
        question.answer_audio = json.dumps(audio)
    # Withdrawn meanwhile: nothing of the answer is kept (the erasure took the question).
    lifecycle.expect_state(session, testimony, messages.OPEN_STATES)
    audit.record_event(
        session,
        testimony.id,
        Actor.submitter,
        Action.question_answered,
        detail={"question": question.id, "audio_files": audio},
    )
    session.commit()


def answer_with_text(
    session: Session, keyring: Keyring, testimony: Testimony, question_id: int, text: str
) -> None:
    """Seal a written answer to the archive and commit it with its event; MessageRefused
    before anything is written."""
    cleaned = messages.clean_text(text)
    question = answerable(session, testimony, question_id)
    question.answer = sealing.seal_answer(keyring, testimony.id, question.id, cleaned)
    try:
        _answered(session, testimony, question, [])
    except lifecycle.StaleState:
        session.rollback()
        raise MessageRefused("withdrawn") from None


def answer_with_audio(
    session: Session, testimony: Testimony, question_id: int, audio_file_ids: list[int]
) -> None:
    """Tie recordings already added through `submissions.add_audio` to the question they
    answer, and commit with the event. The recordings are the record's own either way."""
    question = answerable(session, testimony, question_id)
    try:
        _answered(session, testimony, question, audio_file_ids)
    except lifecycle.StaleState:
        session.rollback()
        raise MessageRefused("withdrawn") from None
