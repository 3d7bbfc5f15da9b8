"""The record's event history as JSON, with the audit chain's hashes, for the archive to keep.

Each event carries its place in the audit log (`seq`), the hash the audit log gave it and the
hash of the entry before it in the whole log (which may belong to another record). Everything
the hash covers is in the file, so an archive recomputes each entry's hash from this file
alone (`verify_history`, and the recipe in `docs/export.md`): an entry changed after it was
written no longer matches, and two consecutive entries of the log (`seq` n and n+1) must link.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from intake.export.record import ExportRecord, HistoryEvent, canonical_json


def _event_json(event: HistoryEvent, record_id: int) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at": event.at.isoformat(timespec="microseconds"),
        "actor": event.actor,
        "chain": {
            "testimony_id": record_id,
            "actor": event.chain_actor or event.actor,
            "account_id": event.account_id,
        },
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
        {
            "pseudonym": record.pseudonym,
            "hash_recipe": "sha256 of canonical JSON, see docs/export.md",
            "events": [_event_json(e, record.record_id) for e in record.events],
        }
    )


def entry_hash(entry: dict[str, Any]) -> str:
    """The audit log's hash of one exported entry, recomputed from the exported fields only.

    The same canonical form as `intake.records.audit.entry_hash` (sorted keys, no spaces, UTF-8, the
    time in UTC to the microsecond with a `Z`); kept free of the database so that an archive
    can run it, or the recipe in the docs, on the file alone.
    """
    at = datetime.fromisoformat(entry["at"]).astimezone(UTC)
    canonical = json.dumps(
        {
            "seq": entry["seq"],
            "prev_hash": entry["prev_hash"],
            "testimony_id": entry["chain"]["testimony_id"],
            "at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "actor": entry["chain"]["actor"],
            "account_id": entry["chain"]["account_id"],
            "action": entry["action"],
            "from_state": entry["from_state"],
            "to_state": entry["to_state"],
            "detail": entry["detail"],
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def verify_history(document: dict[str, Any]) -> list[str]:
    """Problems found in an exported history (empty when it holds): an entry whose hash does
    not match its content, entries out of order, or neighbours in the log that do not link."""
    problems = []
    previous: dict[str, Any] | None = None
    for entry in document["events"]:
        if entry_hash(entry) != entry["hash"]:
            problems.append(f"entry {entry['seq']}: content does not match its hash")
        if previous is not None:
            if entry["seq"] <= previous["seq"]:
                problems.append(f"entry {entry['seq']}: out of order")
            elif entry["seq"] == previous["seq"] + 1 and entry["prev_hash"] != previous["hash"]:
                problems.append(f"entry {entry['seq']}: does not follow entry {previous['seq']}")
        previous = entry
    return problems
