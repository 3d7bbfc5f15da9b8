"""The chain of custody a bag carries: the signed checkpoint of the event log and, for each of
the record's events, its inclusion proof (`intake.records.checkpoints`).

The files go beside `data/` as tag files (`custody/checkpoint.json`, `custody/proofs.json`),
pinned by the tag manifests: they change at every export (the log grows), while the payload
stays byte-identical. The events themselves are `data/history/PSEUDONYM.events.json`.
"""

from __future__ import annotations

from pathlib import Path

from intake.db import Database
from intake.export.record import ExportRecord, canonical_json
from intake.records import checkpoints

CHECKPOINT_FILE = "custody/checkpoint.json"
PROOFS_FILE = "custody/proofs.json"


class Custody:
    """The export's checkpoint and tree, signed once and again only when a record has an
    event the checkpoint does not cover yet."""

    def __init__(self, db: Database, key_file: Path, log_file: Path) -> None:
        self._db, self._key_file, self._log_file = db, key_file, log_file
        self._checkpoint: checkpoints.Checkpoint | None = None
        self._tree: checkpoints.MerkleTree | None = None

    def _sign(self) -> None:
        with self._db.session() as session:
            written = checkpoints.write(session, self._key_file, self._log_file)
        if written is None:
            raise checkpoints.CheckpointError("the event log is behind its latest checkpoint")
        self._checkpoint, self._tree = written

    def tag_files(self, record: ExportRecord) -> dict[str, bytes]:
        """The custody files of `record`'s bag."""
        newest = max((e.seq or 0 for e in record.events), default=0)
        if self._checkpoint is None or self._checkpoint.tree_size < newest:
            self._sign()
        checkpoint, tree = self._checkpoint, self._tree
        assert checkpoint is not None and tree is not None
        proofs = []
        for event in record.events:
            if event.seq is None or event.hash is None:
                continue
            leaf = checkpoints.leaf_hash(bytes.fromhex(event.hash))
            index = event.seq - 1
            if tree.levels[0][index] != leaf:
                raise checkpoints.CheckpointError(
                    f"{record.pseudonym}: event {event.seq} is not the one the log holds"
                )
            proofs.append(
                {
                    "seq": event.seq,
                    "leaf_index": index,
                    "hash": event.hash,
                    "audit_path": [node.hex() for node in tree.inclusion_proof(index)],
                }
            )
        return {
            CHECKPOINT_FILE: canonical_json(checkpoint.as_json()).encode(),
            PROOFS_FILE: canonical_json(
                {
                    "pseudonym": record.pseudonym,
                    "tree_size": checkpoint.tree_size,
                    "leaf": "SHA-256(0x00 || bytes.fromhex(hash)), RFC 9162",
                    "proofs": proofs,
                }
            ).encode(),
        }
