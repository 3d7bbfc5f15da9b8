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
from dataclasses import dataclass, replace
from datetime import date
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import bagit

from intake.export import derivative
from intake.export.dublin_core import dublin_core_xml, validate_dublin_core
from intake.export.eligibility import consented_content, decide
from intake.export.history import history_json
from intake.export.ohms import OhmsOptions, ohms_xml, validate_ohms
from intake.export.record import (
    CitedEntity,
    ExportError,
    ExportRecord,
    Recording,
    Transcript,
    canonical_json,
)
from intake.export.subtitles import plain_text, srt, transcript_json, webvtt

CHUNK = 1024 * 1024
ALGORITHMS = ("sha256", "sha512")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
_BAGIT_LOCK = threading.Lock()
#: Errors that mean "no room": a full disk, a quota, a file-size limit.
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


#: RFC 8493. The `bagit` library writes 0.97 and reads 1.0; `as_bagit_1` moves a bag up.
BAGIT_VERSION = "1.0"
#: The BagIt profile the access bags follow, as shipped (the archive publishes a copy at
#: `Config.export_bagit_profile_url`).
PROFILE_FILE = "bagit-profile.json"


@dataclass(frozen=True)
class BagOptions:
    """What the bag says about the archive that made it."""

    source_organisation: str
    collection_name: str = ""
    contact_email: str | None = None
    #: `BagIt-Profile-Identifier`: the URL where the archive publishes the profile.
    profile_url: str | None = None
    #: `Bag-Group-Identifier`: the export the bag belongs to (its folder's name).
    group_identifier: str | None = None


@dataclass(frozen=True)
class BagResult:
    """A finished, valid bag: where it is and what its payload holds."""

    path: Path
    payload_oxum: str
    #: Payload path (as in the manifests, "data/...") to {algorithm: hex digest}.
    checksums: dict[str, dict[str, str]]
    #: SHA-256 of `manifest-sha256.txt`: one value that pins every payload file.
    manifest_sha256: str


def _parts(record: ExportRecord) -> list[Recording]:
    """The record's recordings as the bag holds them, each with only the texts the record's
    consent lets go (`consented_content` decided them for the record as a whole)."""
    if not record.recordings:
        return [
            Recording(
                1,
                record.duration,
                record.audio,
                record.transcript,
                record.translation,
                record.index_points,
            )
        ]
    return [
        replace(
            part,
            transcript=part.transcript if record.transcript is not None else None,
            translation=part.translation if record.translation is not None else None,
        )
        for part in record.recordings
    ]


def part_stem(record: ExportRecord, part: Recording) -> str:
    """The file name stem of one recording: the pseudonym, or with several recordings the
    pseudonym and the recording's number (`T-7K3M-Q9XD-02`)."""
    if not record.recordings:
        return record.pseudonym
    return f"{record.pseudonym}-{part.number:02d}"


def audio_path(record: ExportRecord, part: Recording | None = None) -> str:
    """Where the access audio (of one recording) sits inside the payload."""
    stem = part_stem(record, part) if part is not None else record.pseudonym
    return f"audio/{stem}{record.audio_suffix}"


def listening_path(record: ExportRecord, part: Recording | None = None) -> str:
    """Where the listening copy (MP3, for browsers and the OHMS viewer) sits in the payload."""
    stem = part_stem(record, part) if part is not None else record.pseudonym
    return f"audio/{stem}{derivative.SUFFIX}"


def _text_files(record: ExportRecord, options: BagOptions) -> dict[str, bytes]:
    """Every payload file but the audio, by payload path, validated where a schema exists.

    Each recording gets its own texts and its own OHMS file: the OHMS viewer plays one media
    file per record, and a recording's own times keep every cue true to the file a listener
    opens (docs/export.md, "Several recordings")."""
    files: dict[str, bytes] = {}
    p = record.pseudonym
    stems: dict[str, str] = {}
    for part in _parts(record):
        stem_name = part_stem(record, part)
        texts: list[tuple[str, Transcript | None]] = [
            ("transcript", part.transcript),
            ("translation", part.translation),
        ]
        for kind, text in texts:
            if text is None:
                continue
            stem = f"{kind}/{stem_name}.{text.language}"
            stems.setdefault(kind, stem)
            kind_of_cues = "subtitles" if kind == "translation" else "captions"
            files[f"{stem}.vtt"] = webvtt(text, kind_of_cues).encode()
            files[f"{stem}.srt"] = srt(text).encode()
            files[f"{stem}.txt"] = plain_text(text).encode()
            files[f"{stem}.json"] = transcript_json(text, p, kind).encode()
        own = replace(
            record,
            transcript=part.transcript,
            translation=part.translation,
            duration=part.duration,
            recordings=(),
            index_points=part.index_points,
        )
        ohms = ohms_xml(
            own,
            OhmsOptions(
                repository=options.source_organisation,
                # No media file where the publication policy withheld the audio.
                audio_file_name=Path(listening_path(record, part)).name if part.audio else "",
                collection_name=options.collection_name,
                media_type=derivative.MEDIA_TYPE,
            ),
        )
        validate_ohms(ohms)
        files[f"metadata/{stem_name}.ohms.xml"] = ohms
    dublin_core = dublin_core_xml(
        record, publisher=options.source_organisation, stems=stems if record.recordings else None
    )
    validate_dublin_core(dublin_core)
    files[f"metadata/{p}.dc.xml"] = dublin_core
    files[f"history/{p}.events.json"] = history_json(record).encode()
    if record.entities:
        files[f"metadata/{p}.entities.json"] = entities_json(record).encode()
    if record.redaction_proof is not None:
        files["redaction-proof.json"] = record.redaction_proof.encode()
    return files


def entity_json(cited: CitedEntity) -> dict[str, object]:
    """One cited entity as the bag's JSON holds it: a withheld one by kind and time only."""
    document: dict[str, object] = {"kind": cited.kind, "start": round(cited.start, 3)}
    if cited.withheld is not None:
        document["withheld"] = cited.withheld
        return document
    document.update(
        {
            "entity": cited.entity_id,
            "names": list(cited.names),
            "roles": list(cited.roles),
        }
    )
    if cited.latitude is not None:
        document["coordinates"] = [cited.latitude, cited.longitude]
    if cited.date_start is not None and cited.date_end is not None:
        document["date"] = {
            "solar_hijri": cited.date_text,
            "start": cited.date_start.isoformat(),
            "end": cited.date_end.isoformat(),
        }
    return document


def entities_json(record: ExportRecord) -> str:
    """The record's cited entities (`metadata/PSEUDONYM.entities.json`), in time order."""
    return canonical_json(
        {
            "pseudonym": record.pseudonym,
            "entities": [entity_json(c) for c in record.entities],
        }
    )


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
        "Testimony-Recordings": str(record.recording_count),
    }
    if record.approved_at is not None:
        info["Testimony-Approved"] = record.approved_at.date().isoformat()
    if options.contact_email:
        info["Contact-Email"] = options.contact_email
    if options.group_identifier:
        info["Bag-Group-Identifier"] = options.group_identifier
    if options.profile_url:
        info["BagIt-Profile-Identifier"] = options.profile_url
    return info


def profile_document() -> dict[str, object]:
    """The BagIt profile shipped with the code (`schemas/bagit-profile.json`)."""
    import json
    from importlib import resources

    text = (resources.files("intake.export") / "schemas" / PROFILE_FILE).read_text("utf-8")
    return dict(json.loads(text))


def as_bagit_1(path: Path) -> None:
    """Declare the bag at `path` BagIt 1.0 (RFC 8493) and rewrite its tag manifests.

    The `bagit` library writes `BagIt-Version: 0.97`, which a 1.0 validator warns about; the
    layout it writes is the same in 1.0 (payload manifests, tag manifests, `bag-info.txt`,
    UTF-8 tag files), so only the declaration and the tag manifests that pin it change."""
    (path / "bagit.txt").write_text(
        f"BagIt-Version: {BAGIT_VERSION}\nTag-File-Character-Encoding: UTF-8\n", encoding="utf-8"
    )
    for algorithm in ALGORITHMS:
        bagit._make_tagmanifest_file(algorithm, str(path))


def _copy_audio(record: ExportRecord, part: Recording, dest: Path) -> None:
    if part.audio is None:
        raise ExportError(f"{record.pseudonym}: no access audio")
    with part.audio() as source, dest.open("xb") as out:
        while chunk := source.read(CHUNK):
            out.write(chunk)


def _listening_copy(source: Path, dest: Path) -> None:
    with source.open("rb") as audio, dest.open("xb") as out:
        derivative.mp3_copy(audio, out)


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
    for part in _parts(record):
        if part.audio is None:  # None: the publication policy withheld the audio
            continue
        audio = folder / audio_path(record, part)
        audio.parent.mkdir(parents=True, exist_ok=True)
        _copy_audio(record, part, audio)
        written.append(audio)
        listening = folder / listening_path(record, part)
        _listening_copy(audio, listening)
        written.append(listening)
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
    record: ExportRecord,
    out_dir: Path,
    options: BagOptions,
    bagging_date: date,
    tag_files: dict[str, bytes] | None = None,
) -> BagResult:
    """Write, validate and move into place the access bag `out_dir/PSEUDONYM`; return it.

    Refuses a record that may not be exported (checked again here, whoever called), and a
    record whose formats do not validate. Safe to run twice: a second run replaces the bag with
    one whose payload is byte-identical. On any failure nothing is left but the bag that was
    there before, if any. `tag_files` (path in the bag to content) are written beside
    `data/` and pinned by the tag manifests: the custody files, which change from one export to
    the next while the payload stays the same.
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
            bagit.make_bag(
                str(work),
                _bag_info(record, options, bagging_date),
                checksums=list(ALGORITHMS),
            )
            for name, content in sorted((tag_files or {}).items()):
                path = work / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
            as_bagit_1(work)
        bag = bagit.Bag(str(work))
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
