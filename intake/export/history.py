"""The record's event history as JSON, with the audit chain's hashes, for the archive to keep.

Each event carries the hash the audit log gave it and the hash of the event before it in the
audit log. How a hash is computed belongs to the audit log; `docs/export.md` says how an archive
checks them.
"""

from __future__ import annotations

from typing import Any

from intake.export.record import ExportRecord, HistoryEvent, canonical_json


def _event_json(event: HistoryEvent) -> dict[str, Any]:
    return {
        "at": event.at.isoformat(timespec="microseconds"),
        "actor": event.actor,
        "action": event.action,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "detail": event.detail,
        "hash": event.hash,
        "prev_hash": event.prev_hash,
    }


def history_json(record: ExportRecord) -> str:
    """The history in the order it happened: consent, transcription, review, approval."""
    return canonical_json(
        {"pseudonym": record.pseudonym, "events": [_event_json(e) for e in record.events]}
    )

