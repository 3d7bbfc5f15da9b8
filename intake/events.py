"""The closed vocabulary of the event log: who did what.

Actions and actors are enums rather than free strings (Weblate's change actions are the model):
a typo cannot invent a new kind of event, and the staff pages and the export can group and
label them. The column stores the value as text, checked by the ORM on every write, so adding
an action needs no schema change. `intake.audit` is the only writer.
"""

from __future__ import annotations

import enum


class Actor(enum.StrEnum):
    """Who caused an event. Staff members are named by their account id in `detail` once the
    staff app writes events; never by name."""

    submitter = "submitter"
    worker = "worker"
    # The periodic sweep and other automatic upkeep.
    system = "system"
    staff = "staff"


class Group(enum.StrEnum):
    """Families of actions, for filtering a record's history and for the export."""

    intake = "intake"
    consent = "consent"
    processing = "processing"
    review = "review"
    translation = "translation"
    privacy = "privacy"
    export = "export"
    accounts = "accounts"


class Action(enum.StrEnum):
    """What happened. Add a member (with its group and label below) for each new kind of event."""

    received = "received"
    audio_added = "audio_added"
    consent_withdrawn = "consent_withdrawn"
    consent_narrowed = "consent_narrowed"
    transcription_queued = "transcription_queued"
    transcription_started = "transcription_started"
    transcript_stored = "transcript_stored"
    transcribed = "transcribed"
    retry_scheduled = "retry_scheduled"
    worker_lost = "worker_lost"
    job_failed = "job_failed"
    machine_draft_stored = "machine_draft_stored"
    # A move between states with no more specific name (kept for rows written before the
    # vocabulary was closed, whose action was "state:<to_state>").
    state_changed = "state_changed"

    @property
    def group(self) -> Group:
        """The family this action belongs to."""
        return _GROUPS[self]

    @property
    def label(self) -> str:
        """A short English description for staff pages and exported histories."""
        return _LABELS[self]


_GROUPS: dict[Action, Group] = {
    Action.received: Group.intake,
    Action.audio_added: Group.intake,
    Action.consent_withdrawn: Group.consent,
    Action.consent_narrowed: Group.consent,
    Action.transcription_queued: Group.processing,
    Action.transcription_started: Group.processing,
    Action.transcript_stored: Group.processing,
    Action.transcribed: Group.processing,
    Action.retry_scheduled: Group.processing,
    Action.worker_lost: Group.processing,
    Action.job_failed: Group.processing,
    Action.machine_draft_stored: Group.translation,
    Action.state_changed: Group.processing,
}

_LABELS: dict[Action, str] = {
    Action.received: "Testimony received",
    Action.audio_added: "Audio added by the submitter",
    Action.consent_withdrawn: "Consent withdrawn; content destroyed",
    Action.consent_narrowed: "Consent narrowed by the submitter",
    Action.transcription_queued: "Transcription queued",
    Action.transcription_started: "Transcription started",
    Action.transcript_stored: "Machine transcript stored",
    Action.transcribed: "Every file transcribed",
    Action.retry_scheduled: "Job failed; retry scheduled",
    Action.worker_lost: "Worker lost; job queued again",
    Action.job_failed: "Job failed for good; needs attention",
    Action.machine_draft_stored: "Machine translation draft stored",
    Action.state_changed: "State changed",
}
