"""One access bag per record: BagIt, made and validated with the Library of Congress `bagit`.

A bag appears under its final name only when it is whole and valid. It is written into a
temporary folder beside the target (same file system, so the last step is a rename), checked
with `bagit` (every fixity recomputed), flushed to disk, and only then renamed into place. An
export killed half way leaves at most a `.PSEUDONYM.partial-*` folder, which the next export of
that record removes; it never leaves a half bag where a finished one is expected.

Payload files depend on the record alone: the same record gives the same bytes, and the same
file times, on every export. Tag files (`bag-info.txt` and the tag manifests) carry the bagging
date, which the caller gives.

The audio is copied in chunks of `CHUNK` bytes, never read whole: a three-hour recording costs
one chunk of memory.

`bagit.make_bag` changes the process's working directory while it runs; `_BAGIT_LOCK` keeps two
threads of this process from bagging at once, and nothing here uses relative paths.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from datetime import date
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import bagit

from intake.export.dublin_core import dublin_core_xml, validate_dublin_core
from intake.export.eligibility import consented_content, decide
from intake.export.history import history_json
from intake.export.ohms import OhmsOptions, ohms_xml, validate_ohms
from intake.export.record import ExportError, ExportRecord, Transcript
from intake.export.subtitles import plain_text, srt, transcript_json, webvtt

CHUNK = 1024 * 1024
ALGORITHMS = ("sha256", "sha512")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
_BAGIT_LOCK = threading.Lock()
#: Errors that mean "no room": a full disk, a quota, a file-size limit.
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


@dataclass(frozen=True)
class BagOptions:
    """What the bag says about the archive that made it."""

    source_organisation: str
    collection_name: str = ""
    contact_email: str | None = None


@dataclass(frozen=True)
class BagResult:
    """A finished, valid bag: where it is and what its payload holds."""

    path: Path
    payload_oxum: str
    #: Payload path (as in the manifests, "data/...") to {algorithm: hex digest}.
    checksums: dict[str, dict[str, str]]
    #: SHA-256 of `manifest-sha256.txt`: one value that pins every payload file.
    manifest_sha256: str


def audio_path(record: ExportRecord) -> str:
    """Where the access audio sits inside the payload."""
    return f"audio/{record.pseudonym}{record.audio_suffix}"


def _text_files(record: ExportRecord, options: BagOptions) -> dict[str, bytes]:
    """Every payload file but the audio, by payload path, validated where a schema exists."""
    files: dict[str, bytes] = {}
    p = record.pseudonym
    texts: list[tuple[str, Transcript | None]] = [
        ("transcript", record.transcript),
        ("translation", record.translation),
    ]
    for kind, text in texts:
        if text is None:
            continue
        stem = f"{kind}/{p}.{text.language}"
        files[f"{stem}.vtt"] = webvtt(text).encode()
        files[f"{stem}.srt"] = srt(text).encode()
        files[f"{stem}.txt"] = plain_text(text).encode()
        files[f"{stem}.json"] = transcript_json(text, p, kind).encode()
    ohms = ohms_xml(
        record,
        OhmsOptions(
            repository=options.source_organisation,
            audio_file_name=Path(audio_path(record)).name,
            collection_name=options.collection_name,
        ),
    )
    validate_ohms(ohms)
    files[f"metadata/{p}.ohms.xml"] = ohms
    dublin_core = dublin_core_xml(record)
    validate_dublin_core(dublin_core)
    files[f"metadata/{p}.dc.xml"] = dublin_core
    files[f"history/{p}.events.json"] = history_json(record).encode()
    if record.redaction_proof is not None:
        files["redaction-proof.json"] = record.redaction_proof.encode()
    return files


def _bag_info(record: ExportRecord, options: BagOptions, bagging_date: date) -> dict[str, str]:
    try:
        agent = f"testimony-intake {version('testimony-intake')}"
    except PackageNotFoundError:  # pragma: no cover - run from a checkout without install
        agent = "testimony-intake"
    info = {
        "Source-Organization": options.source_organisation,
        "External-Identifier": record.pseudonym,
        "External-Description": (
            f"Access copy of testimony {record.pseudonym}: redacted audio, transcript and "
            "translation (WebVTT, SRT, text, JSON), OHMS XML, Dublin Core, event history."
        ),
        "Bagging-Date": bagging_date.isoformat(),
        "Bag-Software-Agent": agent,
        "Testimony-Received": record.received_at.date().isoformat(),
        "Testimony-Languages": " ".join(record.languages),
    }
    if record.approved_at is not None:
        info["Testimony-Approved"] = record.approved_at.date().isoformat()
    if options.contact_email:
        info["Contact-Email"] = options.contact_email
    return info


def _copy_audio(record: ExportRecord, dest: Path) -> None:
    if record.audio is None:
        raise ExportError(f"{record.pseudonym}: no access audio")
    with record.audio() as source, dest.open("xb") as out:
        while chunk := source.read(CHUNK):
            out.write(chunk)


def _write_payload(record: ExportRecord, options: BagOptions, folder: Path) -> None:
    # Fixed file times (the approval, else the receipt) so that a tar or zip of the payload
    # is as reproducible as its bytes.
    moment = (record.approved_at or record.received_at).timestamp()
    files = _text_files(record, options)
    written = []
    for name, content in sorted(files.items()):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.append(path)
    audio = folder / audio_path(record)
    audio.parent.mkdir(parents=True, exist_ok=True)
    _copy_audio(record, audio)
    written.append(audio)
    for path in written:
        os.utime(path, (moment, moment))


def _fsync_tree(folder: Path) -> None:
    """Flush every file and folder of the bag, so a rename after a crash names whole files."""
    for dirpath, _dirnames, filenames in os.walk(folder):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(dirpath, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _result(path: Path) -> BagResult:
    bag = bagit.Bag(str(path))
    checksums = {name: dict(sorted(digests.items())) for name, digests in bag.entries.items()}
    payload = {name: digests for name, digests in checksums.items() if name.startswith("data/")}
    manifest = (path / "manifest-sha256.txt").read_bytes()
    return BagResult(
        path=path,
        payload_oxum=str(bag.info["Payload-Oxum"]),
        checksums=dict(sorted(payload.items())),
        manifest_sha256=hashlib.sha256(manifest).hexdigest(),
    )


def remove_partials(out_dir: Path, pseudonym: str) -> None:
    """Remove what an interrupted export of this record left beside its bag."""
    for stale in out_dir.glob(f".{pseudonym}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)


def write_bag(
    record: ExportRecord, out_dir: Path, options: BagOptions, bagging_date: date
) -> BagResult:
    """Write, validate and move into place the access bag `out_dir/PSEUDONYM`; return it.

    Refuses a record that may not be exported (checked again here, whoever called), and a
    record whose formats do not validate. Safe to run twice: a second run replaces the bag with
    one whose payload is byte-identical. On any failure nothing is left but the bag that was
    there before, if any.
    """
    decision = decide(record.pseudonym, record.state, record.consent, bagging_date)
    if not decision.exportable:
        raise ExportError(decision.message or record.pseudonym)
    if not _SAFE_NAME.match(record.pseudonym):
        raise ExportError(f"{record.pseudonym!r} cannot name a bag")
    record = consented_content(record)
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / record.pseudonym
    remove_partials(out_dir, record.pseudonym)
    work = Path(tempfile.mkdtemp(prefix=f".{record.pseudonym}.partial-", dir=out_dir))
    try:
        # mkdtemp makes the folder private; the bag is for the archive's staff to read.
        work.chmod(0o755)
        _write_payload(record, options, work)
        with _BAGIT_LOCK:
            bag = bagit.make_bag(
                str(work),
                _bag_info(record, options, bagging_date),
                checksums=list(ALGORITHMS),
            )
        bag.validate()
        _fsync_tree(work)
        _swap_into_place(work, target)
    except bagit.BagError as error:
        shutil.rmtree(work, ignore_errors=True)
        raise ExportError(f"{record.pseudonym}: the bag does not validate: {error}") from error
    except OSError as error:
        shutil.rmtree(work, ignore_errors=True)
        if error.errno in DISK_FULL:
            raise ExportError(f"{record.pseudonym}: no space left in {out_dir}") from error
        raise ExportError(f"{record.pseudonym}: could not write the bag: {error}") from error
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return _result(target)


def _swap_into_place(work: Path, target: Path) -> None:
    """Rename the finished bag to `target`; an older bag there is moved aside, then removed."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-old-", dir=target.parent))
        os.rename(target, old / target.name)
    os.rename(work, target)
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
