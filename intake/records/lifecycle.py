"""State changes of a testimony. Every change goes through `transition`, which writes the event.

Two requests, or a request and a worker, can hold the same testimony at once (a withdrawal
while audio is being added). Each change is therefore a conditional UPDATE on the state this
process read: if another writer moved the testimony in between, nothing is written and
`StaleState` is raised, so the loser rolls back instead of overwriting the winner.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from intake.events import Action, Actor
from intake.models import Testimony, TestimonyState, utcnow
from intake.records.audit import record_event

S = TestimonyState

# The forward path of SPEC.md section 2, plus the moves back that real work needs: a job that
# failed or whose worker died goes back to `queued`; an admin can re-queue `needs_attention`;
# new audio added to a transcribed testimony sends it back to `queued`.
_FORWARD = list(S)[: list(S).index(S.archived) + 1]
ALLOWED: dict[TestimonyState, set[TestimonyState]] = {
    state: ({_FORWARD[i + 1]} if i + 1 < len(_FORWARD) else set())
    for i, state in enumerate(_FORWARD)
}
ALLOWED[S.transcribing] |= {S.queued}
ALLOWED[S.transcribed] |= {S.queued}
ALLOWED[S.needs_attention] = {S.queued, S.received}
for _state in list(ALLOWED):
    if _state is not S.archived:
        ALLOWED[_state] |= {S.needs_attention, S.withdrawn}
# Withdrawal is possible at any time, after export too (SPEC.md section 7): the next export
# lists the record for recall by the receiving archives.
ALLOWED[S.archived] |= {S.withdrawn}
ALLOWED[S.withdrawn] = set()


class TransitionError(Exception):
    """A state change that the life of a testimony does not allow."""


class StaleState(TransitionError):
    """The testimony is no longer in the state this process read: another writer moved it."""


def _conditional_update(
    session: Session, testimony: Testimony, states: Collection[TestimonyState], **values: Any
) -> bool:
    """UPDATE the row only while its state is one of `states`; True if it was updated.

    On PostgreSQL the UPDATE takes the row lock, so a concurrent writer waits for this
    transaction and then re-evaluates its own condition on the committed row.
    """
    statement = (
        update(Testimony)
        .where(Testimony.id == testimony.id, Testimony.state.in_(list(states)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    result = cast(CursorResult[Any], session.execute(statement))
    return result.rowcount == 1


def expect_state(
    session: Session, testimony: Testimony, states: Collection[TestimonyState]
) -> None:
    """Hold the testimony in one of `states` until this transaction ends, or raise StaleState.

    For changes that add to a testimony without moving it (new audio): the check and the row
    lock come in one statement, so a withdrawal cannot commit between the check and the commit.
    """
    if not _conditional_update(session, testimony, states, updated_at=utcnow()):
        raise StaleState(f"{testimony.pseudonym}: no longer in an expected state")


def transition(
    session: Session,
    testimony: Testimony,
    to_state: TestimonyState,
    actor: Actor | str,
    action: Action = Action.state_changed,
    detail: dict[str, Any] | None = None,
) -> None:
    """Move a testimony to `to_state` and record who did it; refuse moves not in ALLOWED.

    Raises StaleState (and writes nothing) when the row's state is no longer the one read:
    the caller rolls back, and may re-read and try again.
    """
    current = testimony.state
    if to_state == current:
        return
    if to_state not in ALLOWED.get(current, set()):
        raise TransitionError(f"{testimony.pseudonym}: {current.value} -> {to_state.value}")
    if not _conditional_update(session, testimony, {current}, state=to_state):
        raise StaleState(f"{testimony.pseudonym}: left {current.value} before {to_state.value}")
    set_committed_value(testimony, "state", to_state)
    record_event(
        session,
        testimony.id,
        actor,
        action,
        from_state=current,
        to_state=to_state,
        detail=detail,
    )
