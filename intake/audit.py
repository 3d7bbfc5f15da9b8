"""The event log's one writer.

Every state change, edit, approval and reveal is one `Event` row, written by `record_event` and
by nothing else, so that the tamper-evident chain (each entry carrying the hash of the one
before) is added in this one place. Details carry ids, counts and states, never names or text.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from intake.events import Action, Actor
from intake.models import Event, TestimonyState


def record_event(
    session: Session,
    testimony_id: int | None,
    actor: Actor,
    action: Action,
    *,
    from_state: TestimonyState | None = None,
    to_state: TestimonyState | None = None,
    detail: dict[str, Any] | None = None,
) -> Event:
    """Append one event: the only place an event row is made. `detail` holds ids, counts and
    states only, never names or text."""
    event = Event(
        testimony_id=testimony_id,
        actor=Actor(actor),
        action=Action(action),
        from_state=from_state.value if from_state else None,
        to_state=to_state.value if to_state else None,
        detail=detail,
    )
    session.add(event)
    return event
