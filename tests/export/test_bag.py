"""Access bags: valid with `bagit`, reproducible, never half-written, only what consent allows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import BinaryIO

import bagit
import pytest

from intake.export.bag import CHUNK, BagOptions, write_bag
from intake.export.record import CitedEntity, ExportError, IndexPoint, Recording
from tests.audio_fixtures import encode_pcm, pcm_noise
from tests.export.records import TODAY, audio_file, consent, make_record

OPTIONS = BagOptions("The Archive", contact_email="archive@example.org")
ROOT = Path(__file__).resolve().parents[2]


def _payload(bag: Path) -> dict[str, bytes]:
    data = bag / "data"
    files = sorted(p for p in data.rglob("*") if p.is_file())
    return {str(p.relative_to(data)): p.read_bytes() for p in files}


def test_bag_validates_with_bagit_and_holds_every_format(tmp_path: Path) -> None:
    record = make_record(audio_file(tmp_path))
    result = write_bag(record, tmp_path / "out", OPTIONS, TODAY)
    bag = bagit.Bag(str(result.path))
    bag.validate()
    assert set(bag.algorithms) == {"sha256", "sha512"}
    assert (result.path / "tagmanifest-sha256.txt").exists()
    assert (result.path / "tagmanifest-sha512.txt").exists()
    assert bag.info["External-Identifier"] == "T-7K3M-Q9XD"
    assert bag.info["Source-Organization"] == "The Archive"
    assert bag.info["Bagging-Date"] == "2026-06-01"
    assert bag.info["Payload-Oxum"] == result.payload_oxum
    names = set(_payload(result.path))
    for stem in ("transcript/T-7K3M-Q9XD.fa", "translation/T-7K3M-Q9XD.en"):
        assert {f"{stem}.{ext}" for ext in ("vtt", "srt", "txt", "json")} <= names
    assert {
        "audio/T-7K3M-Q9XD.flac",
        "audio/T-7K3M-Q9XD.mp3",
        "metadata/T-7K3M-Q9XD.ohms.xml",
        "metadata/T-7K3M-Q9XD.dc.xml",
        "history/T-7K3M-Q9XD.events.json",
    } <= names
    assert (result.path / "data/audio/T-7K3M-Q9XD.flac").read_bytes() == (
        tmp_path / "access.flac"
    ).read_bytes()
    history = json.loads((result.path / "data/history/T-7K3M-Q9XD.events.json").read_text())
    assert [e["hash"] for e in history["events"]] == ["a1" * 32, "b2" * 32]
    assert history["events"][1]["prev_hash"] == "a1" * 32
    assert sorted(os.listdir(tmp_path / "out")) == ["T-7K3M-Q9XD"]


def test_second_export_gives_a_byte_identical_payload(tmp_path: Path) -> None:
    record = make_record(audio_file(tmp_path))
    first = write_bag(record, tmp_path / "a", OPTIONS, TODAY)
    before = _payload(first.path)
    again = write_bag(record, tmp_path / "a", OPTIONS, date(2026, 7, 1))
    other = write_bag(record, tmp_path / "b", OPTIONS, TODAY)
    assert _payload(again.path) == before == _payload(other.path)
    assert again.manifest_sha256 == first.manifest_sha256 == other.manifest_sha256
    assert (first.path / "manifest-sha512.txt").read_bytes() == (
        other.path / "manifest-sha512.txt"
    ).read_bytes()
    assert sorted(os.listdir(tmp_path / "a")) == ["T-7K3M-Q9XD"]


_KILLED_EXPORT = """
import sys
from pathlib import Path
from tests.export.records import TODAY, make_record, opener
from intake.export.bag import BagOptions, write_bag
record = make_record(Path(sys.argv[1]))
write_bag(record, Path(sys.argv[2]), BagOptions("The Archive"), TODAY)
"""


def test_export_killed_half_way_leaves_no_bag_and_a_rerun_completes(tmp_path: Path) -> None:
    """A real `kill -9` while the audio is being copied (from a pipe that never ends)."""
    fifo = tmp_path / "audio.fifo"
    os.mkfifo(fifo)
    out = tmp_path / "out"
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _KILLED_EXPORT, str(fifo), str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        with fifo.open("wb") as writer:
            writer.write(b"fLaC" + b"\0" * (3 * CHUNK))
            writer.flush()
            deadline = time.monotonic() + 60
            partial: list[Path] = []
            while time.monotonic() < deadline:
                partial = list(out.glob(".T-7K3M-Q9XD.partial-*/audio/*.flac"))
                if partial and partial[0].stat().st_size >= CHUNK:
                    break
                time.sleep(0.05)
            assert partial, "the export never started copying the audio"
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    assert not (out / "T-7K3M-Q9XD").exists()

    result = write_bag(make_record(audio_file(tmp_path)), out, OPTIONS, TODAY)
    bagit.Bag(str(result.path)).validate()
    assert sorted(os.listdir(out)) == ["T-7K3M-Q9XD"], "the rerun clears what was left"


class _FailingAudio:
    """An audio stream that fails part way, as a full disk or a lost mount does."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("rb")
        self.sizes: list[int] = []

    def read(self, size: int = -1) -> bytes:
        self.sizes.append(size)
        if len(self.sizes) > 1:
            raise OSError(28, "No space left on device")
        return self.file.read(size)

    def __enter__(self) -> _FailingAudio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def test_a_failure_mid_export_leaves_the_previous_bag_untouched(tmp_path: Path) -> None:
    audio = audio_file(tmp_path)
    record = make_record(audio)
    out = tmp_path / "out"
    good = write_bag(record, out, OPTIONS, TODAY)
    before = _payload(good.path)
    failing = _FailingAudio(audio)
    broken = replace(record, audio=lambda: failing)  # type: ignore[arg-type,return-value]
    with pytest.raises(ExportError, match="no space left"):
        write_bag(broken, out, OPTIONS, TODAY)
    assert sorted(os.listdir(out)) == ["T-7K3M-Q9XD"]
    assert _payload(out / "T-7K3M-Q9XD") == before


def test_audio_is_streamed_in_chunks_never_read_whole(tmp_path: Path) -> None:
    audio = tmp_path / "big.flac"
    # Noise does not compress: 110 s of it is more than three chunks of FLAC.
    audio.write_bytes(encode_pcm("flac", "flac", pcm_noise(110, 16000), rate=16000))
    assert audio.stat().st_size > 3 * CHUNK
    sizes: list[int] = []

    class Recording:
        def __init__(self) -> None:
            self.file: BinaryIO = audio.open("rb")

        def read(self, size: int = -1) -> bytes:
            sizes.append(size)
            return self.file.read(size)

        def __enter__(self) -> Recording:
            return self

        def __exit__(self, *exc: object) -> None:
            self.file.close()

    record = replace(make_record(audio), audio=Recording)  # type: ignore[arg-type]
    result = write_bag(record, tmp_path / "out", OPTIONS, TODAY)
    assert sizes and all(0 < size <= CHUNK for size in sizes)
    assert (result.path / "data/audio/T-7K3M-Q9XD.flac").read_bytes() == audio.read_bytes()


def test_only_what_consent_allows_goes_into_the_bag(tmp_path: Path) -> None:
    audio = audio_file(tmp_path)
    no_translation = make_record(audio, consent=consent(translate=False))
    names = set(_payload(write_bag(no_translation, tmp_path / "a", OPTIONS, TODAY).path))
    assert not any(n.startswith("translation/") for n in names)
    ohms_file = tmp_path / "a/T-7K3M-Q9XD/data/metadata/T-7K3M-Q9XD.ohms.xml"
    assert b"transcript_alt" not in ohms_file.read_bytes()

    no_text = make_record(audio, consent=consent(transcribe=False))
    names = set(_payload(write_bag(no_text, tmp_path / "b", OPTIONS, TODAY).path))
    assert not any(n.startswith(("transcript/", "translation/")) for n in names)

    record = make_record(audio)
    draft = replace(record, translation=replace(record.translation, machine_draft=True))  # type: ignore[type-var]
    names = set(_payload(write_bag(draft, tmp_path / "c", OPTIONS, TODAY).path))
    assert not any(n.startswith("translation/") for n in names)

    # A text still under review is not the archive's text yet: it stays, and its translation.
    in_review = replace(record, transcript=replace(record.transcript, review_state="in_review"))  # type: ignore[type-var]
    names = set(_payload(write_bag(in_review, tmp_path / "d", OPTIONS, TODAY).path))
    assert not any(n.startswith(("transcript/", "translation/")) for n in names)
    reviewing = replace(record, translation=replace(record.translation, review_state="in_review"))  # type: ignore[type-var]
    names = set(_payload(write_bag(reviewing, tmp_path / "e", OPTIONS, TODAY).path))
    assert any(n.startswith("transcript/") for n in names)
    assert not any(n.startswith("translation/") for n in names)


def test_without_the_text_no_index_point_or_citation_leaves_with_the_bag(tmp_path: Path) -> None:
    # The bag writer's own second line: a record handed to it with points and citations but
    # no consent to transcribe writes neither (they say what was said at a moment).
    audio = audio_file(tmp_path)
    point = IndexPoint(start=1.0, title="Arrest at dawn", synopsis="Taken from home")
    cited = CitedEntity(kind="place", start=1.0, entity_id=7, names=("Qezel Hesar",))
    record = make_record(audio, consent=consent(transcribe=False))
    single = replace(record, index_points=(point,), entities=(cited,))
    several = replace(
        single,
        recordings=(
            Recording(1, 95.0, None, record.transcript, record.translation, (point,)),
            Recording(2, 95.0, None, record.transcript, record.translation, (point,)),
        ),
    )
    for name, given in (("single", single), ("several", several)):
        payload = _payload(write_bag(given, tmp_path / name, OPTIONS, TODAY).path)
        assert not any(n.endswith(".entities.json") for n in payload), name
        for file_name, data in payload.items():
            assert b"Arrest at dawn" not in data, (name, file_name)
            assert b"Qezel Hesar" not in data, (name, file_name)
    # The same record with its text carries both: the check above can fail.
    told = replace(single, consent=consent())
    payload = _payload(write_bag(told, tmp_path / "told", OPTIONS, TODAY).path)
    assert any(n.endswith(".entities.json") for n in payload)
    assert any(b"Arrest at dawn" in data for data in payload.values())


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"state": "withdrawn"}, "withdrawn"),
        ({"state": "in_review"}, "not approved"),
        ({"consent": consent(publish_anonymised=False)}, "did not consent"),
        ({"consent": consent(embargo_until=date(2027, 1, 1))}, "embargo"),
    ],
)
def test_a_record_that_may_not_go_is_refused_and_nothing_written(
    tmp_path: Path, changes: dict[str, object], reason: str
) -> None:
    record = replace(make_record(audio_file(tmp_path)), **changes)  # type: ignore[arg-type]
    with pytest.raises(ExportError, match=reason):
        write_bag(record, tmp_path / "out", OPTIONS, TODAY)
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


def test_a_pseudonym_that_is_not_a_plain_name_is_refused(tmp_path: Path) -> None:
    record = make_record(audio_file(tmp_path), pseudonym="../escape")
    with pytest.raises(ExportError):
        write_bag(record, tmp_path / "out", OPTIONS, TODAY)
    assert not (tmp_path / "escape").exists()


def test_bag_is_bagit_1_0_and_follows_the_published_profile(tmp_path: Path) -> None:
    """Checked with the independent `bagit_profile` package against the profile shipped in
    the repository, under the URL the settings publish it at."""
    import bagit_profile

    from intake.config import Config
    from intake.export.bag import profile_document

    url = Config().export_bagit_profile_url
    options = BagOptions(
        "The Archive",
        contact_email="archive@example.org",
        profile_url=url,
        group_identifier="export-00007",
    )
    result = write_bag(make_record(audio_file(tmp_path)), tmp_path / "out", options, TODAY)
    assert (result.path / "bagit.txt").read_text().startswith("BagIt-Version: 1.0\n")
    bag = bagit.Bag(str(result.path))
    bag.validate()
    assert bag.version_info == (1, 0)
    assert bag.info["Bag-Group-Identifier"] == "export-00007"
    profile = bagit_profile.Profile(url, profile=profile_document())
    assert profile.validate_serialization(str(result.path))
    assert profile.validate(bag), profile.report.errors
    # A bag without the contact the profile requires does not pass.
    bare = write_bag(
        make_record(audio_file(tmp_path)),
        tmp_path / "bare",
        BagOptions("A", profile_url=url),
        TODAY,
    )
    assert not profile.validate(bagit.Bag(str(bare.path)))


def test_the_ohms_file_names_the_listening_copy_the_viewer_plays(tmp_path: Path) -> None:
    """The OHMS viewer appends `.mp3` to a `file_name` without it (so `X.flac` became
    `X.flac.mp3`); the bag holds an MP3 under exactly the name the OHMS file gives."""
    import xml.etree.ElementTree as ET  # noqa: S405 - parses what the export wrote

    import av

    from intake.export.ohms import NAMESPACE, validate_ohms

    result = write_bag(make_record(audio_file(tmp_path)), tmp_path / "out", OPTIONS, TODAY)
    document = (result.path / "data/metadata/T-7K3M-Q9XD.ohms.xml").read_bytes()
    validate_ohms(document)
    rec = ET.fromstring(document).find("o:record", {"o": NAMESPACE})  # noqa: S314
    assert rec is not None
    file_name = rec.findtext("o:file_name", namespaces={"o": NAMESPACE}) or ""
    assert file_name.endswith(".mp3")
    assert rec.findtext("o:format", namespaces={"o": NAMESPACE}) == "audio/mpeg"
    listening = result.path / "data" / "audio" / file_name
    assert listening.is_file()
    assert listening.read_bytes()[:3] != b"ID3"  # no tags
    with av.open(str(listening)) as container:
        assert container.format.name == "mp3" and not container.metadata
        assert abs(float(container.duration or 0) / 1e6 - 3.0) < 0.2
