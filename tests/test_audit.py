"""The event log's vocabulary is closed: every action is labelled and grouped, and a word
outside it cannot be written."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from intake import audit
from intake.config import Config
from intake.db import Database
from intake.events import Action, Actor, Group
from intake.models import Event


def test_every_action_has_a_group_and_a_label() -> None:
    for action in Action:
        assert isinstance(action.group, Group)
        assert action.label and action.label[0].isupper()


def test_record_event_writes_the_enum_values(migrated: Config) -> None:
    db = Database(migrated.database_url)
    try:
        with db.session() as session:
            audit.record_event(session, None, Actor.system, Action.worker_lost, detail={"job": 1})
        with db.session() as session:
            event = session.scalars(select(Event)).one()
            assert (event.actor, event.action) == (Actor.system, Action.worker_lost)
            assert event.detail == {"job": 1}
    finally:
        db.dispose()


def test_a_word_outside_the_vocabulary_is_refused(migrated: Config) -> None:
    db = Database(migrated.database_url)
    try:
        with pytest.raises(ValueError), db.session() as session:
            audit.record_event(session, None, Actor.system, "made_up")  # type: ignore[arg-type]
        # Even written past `record_event`, the column refuses it.
        with pytest.raises(StatementError), db.session() as session:
            session.add(Event(actor="system", action="made_up"))
            session.flush()
    finally:
        db.dispose()
