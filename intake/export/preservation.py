"""The preservation bag: the unredacted original, transcript and translation, sealed to the
archive's key.

The caller gives the record with its UNREDACTED text (`gather.Gathered.original_transcript`,
`original_translation`): the access bag carries the redacted text, this bag what was said.

Written only where the submitter consented to keeping the original (`Consent.archive`). Every
payload file is encrypted to the archive's X25519 public key (`intake.crypto.seal_to_archive`),
so the bag can travel and be stored anywhere; only the archive's private key, kept off this
server, opens it. Nothing identifying goes in: the name and contact stay sealed in this
database, unless a custodian released the name for this record (`gather.released_name`, a seam
until releases exist).

Like the access bag it is written in a hidden partial folder and renamed into place only when
`bagit` has validated it. Its payload is not byte-identical between exports (each encryption
uses a fresh key), but what it decrypts to is.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import bagit

from intake import crypto
from intake.export.bag import (
    _BAGIT_LOCK,
    ALGORITHMS,
    DISK_FULL,
    _fsync_tree,
    _swap_into_place,
    as_bagit_1,
    remove_partials,
)
from intake.export.record import ExportError, ExportRecord
from intake.export.subtitles import transcript_json
from intake.storage import Store

FOLDER = "preservation"
SEALED = ".sealed"


@dataclass(frozen=True)
class Originals:
    """Where the record's original recordings are stored, and the key that opens them."""

    store: Store
    key: bytes
    storage_id: str
    names: tuple[str, ...]
    #: Each original's own key, in the order of `names`; `key` opens them all when empty.
    keys: tuple[bytes, ...] = ()

    def key_of(self, position: int) -> bytes:
        """The key that opens original `position` (from 0)."""
        return self.keys[position] if self.keys else self.key


def write_preservation_bag(
    record: ExportRecord,
    originals: Originals,
    out_dir: Path,
    public_key: bytes,
    source_organisation: str,
    bagging_date: date,
    more_info: dict[str, str] | None = None,
) -> Path:
    """Write, validate and move into place `out_dir/preservation/PSEUDONYM`; return its path.

    Refuses a record whose consent does not allow keeping the original.
    """
    if not record.consent.archive or record.consent.withdrawn:
        raise ExportError(f"{record.pseudonym}: no consent to keep the original")
    folder = (out_dir / FOLDER).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    remove_partials(folder, record.pseudonym)
    work = Path(tempfile.mkdtemp(prefix=f".{record.pseudonym}.partial-", dir=folder))
    try:
        work.chmod(0o755)
        p = record.pseudonym
        for position, name in enumerate(originals.names, start=1):
            target = work / "original" / f"{p}-{position:02d}.bin{SEALED}"
            target.parent.mkdir(parents=True, exist_ok=True)
            with (
                originals.store.open(
                    originals.key_of(position - 1), originals.storage_id, name
                ) as source,
                target.open("xb") as sink,
            ):
                crypto.seal_to_archive(public_key, source, sink)  # type: ignore[arg-type]
        for kind, whole in (("transcript", record.transcript), ("translation", record.translation)):
            if whole is None:
                continue
            text = transcript_json(whole, p, kind).encode()
            target = work / kind / f"{p}.{whole.language}.json{SEALED}"
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("xb") as sink:
                crypto.seal_to_archive(public_key, io.BytesIO(text), sink)
        info = {
            "Source-Organization": source_organisation,
            "External-Identifier": p,
            "External-Description": (
                f"Preservation copy of testimony {p}: the original recordings and the "
                "unredacted transcript and translation, each sealed to the archive's public key."
            ),
            "Bagging-Date": bagging_date.isoformat(),
            **(more_info or {}),
        }
        with _BAGIT_LOCK:
            bagit.make_bag(str(work), info, checksums=list(ALGORITHMS))
            as_bagit_1(work)
        bagit.Bag(str(work)).validate()
        _fsync_tree(work)
        _swap_into_place(work, folder / p)
    except bagit.BagError as error:
        shutil.rmtree(work, ignore_errors=True)
        raise ExportError(f"{record.pseudonym}: the preservation bag does not validate") from error
    except OSError as error:
        shutil.rmtree(work, ignore_errors=True)
        if error.errno in DISK_FULL:
            raise ExportError(f"{record.pseudonym}: no space left in {out_dir}") from error
        raise ExportError(f"{record.pseudonym}: could not write the preservation bag") from error
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return folder / p
