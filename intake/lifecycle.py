"""State changes of a testimony. Every change goes through `transition`, which writes the event."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from intake.audit import record_event
from intake.events import Action, Actor
from intake.models import Testimony, TestimonyState

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
ALLOWED[S.withdrawn] = set()


class TransitionError(Exception):
    """A state change that the life of a testimony does not allow."""


def transition(
    session: Session,
    testimony: Testimony,
    to_state: TestimonyState,
    actor: Actor,
    action: Action = Action.state_changed,
    detail: dict[str, Any] | None = None,
) -> None:
    """Move a testimony to `to_state` and record who did it; refuse moves not in ALLOWED."""
    current = testimony.state
    if to_state == current:
        return
    if to_state not in ALLOWED.get(current, set()):
        raise TransitionError(f"{testimony.pseudonym}: {current.value} -> {to_state.value}")
    testimony.state = to_state
    record_event(
        session,
        testimony.id,
        actor,
        action,
        from_state=current,
        to_state=to_state,
        detail=detail,
    )
