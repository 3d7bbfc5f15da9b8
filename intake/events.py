"""The closed vocabulary of the event log: who did what.

Actions and actors are enums rather than free strings (Weblate's change actions are the model):
a typo cannot invent a new kind of event, and the staff pages and the export can group and
label them. The column stores the value as text, checked by the ORM on every write, so adding
an action needs no schema change. `intake.records.audit` is the only writer.
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
    # A staff member, whose account id the event carries (`Event.account_id`).
    staff = "staff"
    # Someone at the server's command line (`testimony user add`, key rotation).
    operator = "operator"


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
    review_started = "review_started"
    segment_edited = "segment_edited"
    segment_approved = "segment_approved"
    transcript_approved = "transcript_approved"
    account_created = "account_created"
    account_roles_set = "account_roles_set"
    account_disabled = "account_disabled"
    account_enabled = "account_enabled"
    account_reset = "account_reset"
    # A move between states with no more specific name (kept for rows written before the
    # vocabulary was closed, whose action was "state:<to_state>").
    state_changed = "state_changed"
    translation_started = "translation_started"
    translation_edited = "translation_edited"
    translation_draft_accepted = "translation_draft_accepted"
    translation_segment_approved = "translation_segment_approved"
    translation_completed = "translation_completed"
    translation_approved = "translation_approved"
    glossary_changed = "glossary_changed"
    archive_key_rotated = "archive_key_rotated"

    custodian_added = "custodian_added"
    identities_resealed = "identities_resealed"
    identity_revealed = "identity_revealed"
    name_released = "name_released"

    segment_split = "segment_split"
    segments_merged = "segments_merged"
    redaction_marked = "redaction_marked"
    redaction_removed = "redaction_removed"
    # A mark added or removed on an approved segment or translation: approval withdrawn.
    segment_reopened = "segment_reopened"
    translation_reopened = "translation_reopened"

    access_copy_requested = "access_copy_requested"
    access_copy_made = "access_copy_made"
    # The reviewed words were aligned to the audio; the marks' times follow them.
    alignment_requested = "alignment_requested"
    words_aligned = "words_aligned"
    redaction_mark_widened = "redaction_mark_widened"
    # An access copy was checked before export: levels of the marked spans, and a new listen.
    redaction_proved = "redaction_proved"
    voice_disguise_set = "voice_disguise_set"
    retention_settings_changed = "retention_settings_changed"
    retention_applied = "retention_applied"
    original_deleted = "original_deleted"
    machine_drafts_deleted = "machine_drafts_deleted"
    tombstone_reduced = "tombstone_reduced"

    # The record's access bag (and preservation bag, where consent allows) was exported.
    exported = "exported"

    # Sign-ins, named by the account id only: never an address or a browser's name.
    signed_in = "signed_in"
    sign_in_failed = "sign_in_failed"
    signed_out = "signed_out"
    session_expired = "session_expired"
    # A custodian's passphrase was wrong (account id and the count so far: a run of them is
    # someone guessing at a custodian's key).
    custodian_unlock_failed = "custodian_unlock_failed"

    # An account opened a record's content for the first time (audio, segments, drafts).
    content_opened = "content_opened"
    # A role that opens content was asked for by one admin, confirmed by another, or withdrawn.
    role_grant_requested = "role_grant_requested"
    role_grant_confirmed = "role_grant_confirmed"
    role_grant_cancelled = "role_grant_cancelled"

    # A question to the submitter (by account id; its text sealed), and the submitter's
    # answer through the receipt code (the question's id and any recordings' ids).
    question_asked = "question_asked"
    question_answered = "question_answered"

    # An index point (a titled moment of a recording, its words sealed) added, changed,
    # approved by a second indexer, or deleted: its id, recording and versions only.
    index_point_added = "index_point_added"
    index_point_edited = "index_point_edited"
    index_point_approved = "index_point_approved"
    index_point_deleted = "index_point_deleted"
    # The entity register (ids and counts only: names stay sealed): an entry made, edited,
    # merged into another; an entity cited in a record, or its citation removed.
    entity_created = "entity_created"
    entity_edited = "entity_edited"
    entities_merged = "entities_merged"
    entity_cited = "entity_cited"
    entity_uncited = "entity_uncited"

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
    Action.review_started: Group.review,
    Action.segment_edited: Group.review,
    Action.segment_approved: Group.review,
    Action.transcript_approved: Group.review,
    Action.account_created: Group.accounts,
    Action.account_roles_set: Group.accounts,
    Action.account_disabled: Group.accounts,
    Action.account_enabled: Group.accounts,
    Action.account_reset: Group.accounts,
    Action.state_changed: Group.processing,
    Action.translation_started: Group.translation,
    Action.translation_edited: Group.translation,
    Action.translation_draft_accepted: Group.translation,
    Action.translation_segment_approved: Group.translation,
    Action.translation_completed: Group.translation,
    Action.translation_approved: Group.translation,
    Action.glossary_changed: Group.translation,
    Action.archive_key_rotated: Group.privacy,

    Action.custodian_added: Group.accounts,
    Action.identities_resealed: Group.privacy,
    Action.identity_revealed: Group.privacy,
    Action.name_released: Group.privacy,

    Action.segment_split: Group.review,
    Action.segments_merged: Group.review,
    Action.redaction_marked: Group.privacy,
    Action.redaction_removed: Group.privacy,
    Action.segment_reopened: Group.review,
    Action.translation_reopened: Group.translation,
    Action.index_point_added: Group.review,
    Action.index_point_edited: Group.review,
    Action.index_point_approved: Group.review,
    Action.index_point_deleted: Group.review,

    Action.access_copy_requested: Group.privacy,
    Action.access_copy_made: Group.privacy,
    Action.alignment_requested: Group.review,
    Action.words_aligned: Group.review,
    Action.redaction_mark_widened: Group.privacy,
    Action.redaction_proved: Group.privacy,
    Action.voice_disguise_set: Group.privacy,
    Action.retention_settings_changed: Group.privacy,
    Action.retention_applied: Group.privacy,
    Action.original_deleted: Group.privacy,
    Action.machine_drafts_deleted: Group.privacy,
    Action.tombstone_reduced: Group.privacy,

    Action.exported: Group.export,

    Action.signed_in: Group.accounts,
    Action.sign_in_failed: Group.accounts,
    Action.signed_out: Group.accounts,
    Action.custodian_unlock_failed: Group.accounts,
    Action.session_expired: Group.accounts,

    Action.content_opened: Group.privacy,
    Action.role_grant_requested: Group.accounts,
    Action.role_grant_confirmed: Group.accounts,
    Action.role_grant_cancelled: Group.accounts,

    Action.question_asked: Group.review,
    Action.question_answered: Group.intake,

    Action.entity_created: Group.review,
    Action.entity_edited: Group.review,
    Action.entities_merged: Group.review,
    Action.entity_cited: Group.review,
    Action.entity_uncited: Group.review,
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
    Action.review_started: "Review started",
    Action.segment_edited: "Segment corrected",
    Action.segment_approved: "Segment approved",
    Action.transcript_approved: "Transcript approved (every segment, four eyes)",
    Action.account_created: "Staff account created",
    Action.account_roles_set: "Staff account's roles changed",
    Action.account_disabled: "Staff account disabled",
    Action.account_enabled: "Staff account enabled",
    Action.account_reset: "Staff account's password and second factor reset",
    Action.state_changed: "State changed",
    Action.translation_started: "Translation started",
    Action.translation_edited: "Segment translated",
    Action.translation_draft_accepted: "Machine draft accepted as a segment's translation",
    Action.translation_segment_approved: "Segment translation approved",
    Action.translation_completed: "Every segment translated and approved",
    Action.translation_approved: "Translation approved (every segment, four eyes)",
    Action.glossary_changed: "Glossary changed",
    Action.archive_key_rotated: "Archive key rotated; sealed keys sealed again",

    Action.custodian_added: "Custodian key pair created",
    Action.identities_resealed: "Identities sealed to a new custodian",
    Action.identity_revealed: "Identity revealed to a custodian, with a written reason",
    Action.name_released: "Name released by a custodian for this record's export",

    Action.segment_split: "Segment split in two",
    Action.segments_merged: "Two segments merged",
    Action.redaction_marked: "Span marked for redaction",
    Action.redaction_removed: "Redaction mark removed",
    Action.segment_reopened: "Marks changed after approval: segment to approve again",
    Action.translation_reopened: "Marks changed after approval: translation to approve again",

    Action.access_copy_requested: "Redacted access copy requested",
    Action.access_copy_made: "Redacted access copy made",
    Action.alignment_requested: "Alignment of the reviewed words requested",
    Action.words_aligned: "Reviewed words aligned to the audio",
    Action.redaction_mark_widened: "Redaction mark widened by ear",
    Action.redaction_proved: "Access copy checked: marked spans silent and not heard again",
    Action.voice_disguise_set: "Voice disguise chosen for the access audio",
    Action.retention_settings_changed: "Retention settings changed",
    Action.retention_applied: "Retention sweep ran",
    Action.original_deleted: "Original deleted under the retention rule",
    Action.machine_drafts_deleted: "Machine drafts deleted after the approved translation",
    Action.tombstone_reduced: "Withdrawn record reduced to pseudonym and state",

    Action.exported: "Exported to the archive",

    Action.signed_in: "Staff member signed in (password and one-time code)",
    Action.sign_in_failed: "Failed sign-in (wrong password or code, or account disabled)",
    Action.signed_out: "Staff member signed out",
    Action.session_expired: "Staff session ended after a time without activity",
    Action.custodian_unlock_failed: "Wrong custodian passphrase",
    Action.content_opened: "A staff member opened this record's content for the first time",
    Action.role_grant_requested: "A role that opens content asked for; waits for a second admin",
    Action.role_grant_confirmed: "A role grant confirmed by a second admin",
    Action.role_grant_cancelled: "A waiting role grant withdrawn",
    Action.question_asked: "Question written to the submitter",
    Action.question_answered: "The submitter answered a question",
    Action.index_point_added: "Index point added",
    Action.index_point_edited: "Index point changed: to approve again",
    Action.index_point_approved: "Index point approved (four eyes)",
    Action.index_point_deleted: "Index point deleted",
    Action.entity_created: "Entity added to the register",
    Action.entity_edited: "Entity of the register edited",
    Action.entities_merged: "Two entities of the register merged",
    Action.entity_cited: "Entity cited in this record",
    Action.entity_uncited: "Entity citation removed from this record",
}


STAFF_PREFIX = "account:"


def staff_ref(account_id: int) -> str:
    """How a staff account is named on a segment it edited or approved: its id, never its
    email (`account:12`)."""
    return f"{STAFF_PREFIX}{account_id}"


def parse_actor(who: Actor | str) -> tuple[Actor, int | None]:
    """An Actor, or a staff reference made by `staff_ref`, as (actor, account id); ValueError
    for anything else, so the vocabulary stays closed."""
    if isinstance(who, str) and who.startswith(STAFF_PREFIX):
        number = who.removeprefix(STAFF_PREFIX)
        if not number.isdigit():
            raise ValueError(f"not a staff reference: {who!r}")
        return Actor.staff, int(number)
    return Actor(who), None
