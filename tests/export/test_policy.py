"""The publication policy: its table on plain facts, and what leaves the archive end to end on a
real database: audio only with audio consent, a promised disguise kept, the exported audio the
redacted (and disguised) copy, never the plain access copy or the original."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from faster_whisper.audio import decode_audio
from flask import Flask
from sqlalchemy import select

from intake import create_app, crypto, sealing
from intake.config import Config
from intake.events import Actor
from intake.export import policy, runs
from intake.export.policy import Facts
from intake.export.record import ConsentTerms
from intake.models import (
    AccessCopy,
    ExportRun,
    RedactionCategory,
    RedactionMark,
    ReviewState,
    Role,
    Segment,
    Testimony,
    TestimonyState,
    TranslationSegment,
)
from intake.models import Transcript as TranscriptRow
from intake.public import consent
from intake.review import access_copies, redaction_proof, transcripts
from tests.export.approved import APPROVER, approved_record, hears_nothing
from tests.staff_support import ready_account, sign_in, staff_client
from tests.support import ALL_CONSENT, worker_keyring

TODAY = date.today()
NAMED = {**ALL_CONSENT, "publish_named": "y", "name": "Witness Name"}
ANONYMISED_AUDIO = {**ALL_CONSENT, "publish_anonymised_audio": "y"}


def _terms(**changes: object) -> ConsentTerms:
    values: dict[str, object] = {
        "archive": True,
        "transcribe": True,
        "translate": True,
        "publish_anonymised": True,
        "publish_named": False,
        "wording_version": consent.WORDING_VERSION,
    }
    values.update(changes)
    return ConsentTerms(**values)  # type: ignore[arg-type]


def _facts(**changes: object) -> Facts:
    values: dict[str, object] = {
        "pseudonym": "T-AAAA-0001",
        "state": "approved",
        "consent": _terms(),
        "copy_current": True,
        "proof_passed": True,
    }
    values.update(changes)
    return Facts(**values)  # type: ignore[arg-type]


# --- the table, on plain facts ------------------------------------------------------------------


def test_every_released_wording_says_what_it_promised() -> None:
    # A new wording cannot be released without deciding here what it promises.
    assert consent.WORDING_VERSION in policy.PROMISES
    assert policy.PROMISES[consent.WORDING_VERSION].disguise  # "my voice disguised"


def test_audio_leaves_only_with_audio_consent() -> None:
    verdict = policy.decide(_facts(), TODAY)
    assert verdict.exportable and verdict.audio is None
    assert verdict.columns()["access_audio"] == "withheld: no audio consent"
    assert verdict.includes("transcript_text") and verdict.includes("word_list")
    named = policy.decide(_facts(consent=_terms(publish_named=True)), TODAY)
    assert named.audio == "access_audio"  # the own voice, as the named wording says
    # The first wording had no audio use and its named publication did not name the voice.
    old = _terms(publish_named=True, publish_anonymised_audio=True, wording_version="2026-11-25")
    assert policy.decide(_facts(consent=old), TODAY).audio is None


def test_a_promised_disguise_holds_the_record_until_the_disguised_copy_exists() -> None:
    promised = _terms(publish_anonymised_audio=True)
    off = policy.decide(_facts(consent=promised), TODAY)
    assert (off.exportable, off.decision.reason) == (False, "disguise_pending")
    assert "disguised" in (off.decision.message or "")
    not_made = policy.decide(_facts(consent=promised, disguise_chosen=True), TODAY)
    assert not_made.decision.reason == "disguise_pending"
    made = _facts(consent=promised, disguise_chosen=True, copy_disguised=True)
    verdict = policy.decide(made, TODAY)
    assert verdict.audio == "disguised_audio"
    assert verdict.columns()["access_audio"] == "withheld: the consent promised a disguised voice"
    stale = policy.decide(_facts(consent=_terms(publish_named=True), copy_current=False), TODAY)
    assert stale.decision.reason == "redaction_pending"


def test_the_redaction_proof_plugs_in() -> None:
    audio = _terms(publish_named=True)  # the own voice leaves: its copy must be proven
    failed = _facts(consent=audio, marks=2, proof_passed=False)
    assert policy.decide(failed, TODAY).decision.reason == "proof_failed"
    no_proof = _facts(consent=audio, marks=2, proof_passed=None)
    assert policy.decide(no_proof, TODAY).decision.reason == "proof_pending"
    # Unproven audio never leaves, marks or not; a record whose audio stays needs no proof.
    unproven = _facts(consent=audio, marks=0, proof_passed=None)
    assert policy.decide(unproven, TODAY).decision.reason == "proof_pending"
    assert policy.decide(_facts(consent=audio, marks=0, proof_passed=True), TODAY).exportable
    # Text only (no audio consent): nothing to prove, the text is redacted by construction.
    assert policy.decide(_facts(marks=2, proof_passed=None), TODAY).exportable


def test_name_translation_original_and_unknown_wordings() -> None:
    columns = policy.decide(_facts(consent=_terms(translate=False), archive_key=False), TODAY)
    assert columns.columns()["translation"] == "withheld: no consent to translate"
    assert columns.columns()["original"] == "withheld: the receiving archive's key is not set up"
    assert columns.columns()["name"] == "withheld: no consent to publication with the name"
    released = policy.decide(_facts(consent=_terms(publish_named=True), name_released=True), TODAY)
    assert not released.includes("name")  # a released name never goes inside a bag
    unknown = policy.decide(_facts(consent=_terms(wording_version="1999-01-01")), TODAY)
    assert unknown.decision.reason == "unknown_wording"


@pytest.mark.parametrize("state", list(TestimonyState))
def test_only_an_approved_or_archived_record_leaves_whatever_its_state(
    state: TestimonyState,
) -> None:
    verdict = policy.decide(_facts(state=state.value), TODAY)
    leaves = state in (TestimonyState.approved, TestimonyState.archived)
    assert verdict.exportable is leaves, state
    if not leaves:
        reason = "withdrawn" if state is TestimonyState.withdrawn else "not_approved"
        assert verdict.decision.reason == reason
        assert not verdict.includes("transcript_text") and verdict.audio is None


def test_the_archivists_chosen_disguise_keeps_the_own_voice_in() -> None:
    # Named publication in the own voice; the archivist turned voice disguise on all the same:
    # the plain copy stays, and the record waits for its disguised copy.
    named = _terms(publish_named=True)
    waiting = policy.decide(_facts(consent=named, disguise_chosen=True), TODAY)
    assert waiting.decision.reason == "disguise_pending"
    made = policy.decide(_facts(consent=named, disguise_chosen=True, copy_disguised=True), TODAY)
    assert made.audio == "disguised_audio"
    assert made.columns()["access_audio"] == "withheld: the archivist chose voice disguise"
    # A promised disguise is owed until the archivist turned it on, whatever copy lies about.
    promised = _terms(publish_anonymised_audio=True)
    off = policy.decide(_facts(consent=promised, copy_disguised=True), TODAY)
    assert off.decision.reason == "disguise_pending"


def test_the_disguised_audio_leaves_only_from_a_current_proven_copy() -> None:
    disguised = {
        "consent": _terms(publish_anonymised_audio=True),
        "disguise_chosen": True,
        "copy_disguised": True,
        "marks": 1,
    }
    stale = policy.decide(_facts(**disguised, copy_current=False), TODAY)
    assert stale.decision.reason == "redaction_pending"
    failed = policy.decide(_facts(**disguised, proof_passed=False), TODAY)
    assert failed.decision.reason == "proof_failed"
    unproven = policy.decide(_facts(**disguised, proof_passed=None), TODAY)
    assert unproven.decision.reason == "proof_pending"
    assert policy.decide(_facts(**disguised), TODAY).audio == "disguised_audio"


def test_each_artefact_follows_its_own_consent_and_approval() -> None:
    def columns(**changes: object) -> dict[str, str]:
        return policy.decide(_facts(**changes), TODAY).columns()

    everything = columns(
        consent=_terms(publish_named=True), name_released=True, marks=0, proof_passed=True
    )
    assert everything["transcript_text"] == everything["word_list"] == "included"
    assert everything["translation"] == everything["original"] == "included"
    assert everything["event_history"] == "included"

    no_text = columns(consent=_terms(transcribe=False))
    assert no_text["transcript_text"] == "withheld: no consent to transcribe"
    assert no_text["word_list"] == "withheld: no consent to transcribe"
    # Consent to translate, but no text leaves: neither does its translation.
    assert no_text["translation"] == "withheld: no transcript leaves"

    draft = columns(transcript_approved=False)
    assert draft["transcript_text"] == draft["word_list"] == "withheld: not approved"
    assert draft["translation"] == "withheld: no transcript leaves"

    untranslated = columns(translation_approved=False)
    assert untranslated["transcript_text"] == "included"
    assert untranslated["translation"] == "withheld: not approved"

    unreleased = columns(consent=_terms(publish_named=True), name_released=False)
    assert unreleased["name"] == "withheld: no custodian released the name"

    no_original = columns(consent=_terms(archive=False))
    assert no_original["original"] == "withheld: no consent to keep the original"


def test_the_anonymised_audio_needs_the_anonymised_publication_too() -> None:
    # The audio box ticked without publication of the anonymised record: no audio rule at all.
    alone = _terms(publish_anonymised=False, publish_anonymised_audio=True)
    assert policy.audio_rule(alone) == "none"
    assert policy.audio_rule(_terms(publish_anonymised_audio=True)) == "disguise_required"
    assert policy.audio_rule(_terms(publish_named=True)) == "own_voice"
    assert policy.audio_rule(_terms()) == "none"


def test_the_facts_see_a_copy_older_than_the_marks_the_disguise_or_the_translation(
    app: Flask,
) -> None:
    # An access copy made before a new mark, or before the archivist changed the disguise, is
    # not the copy to publish; a translation leaves only when every segment's is approved.
    pseudonym = approved_record(app, consent=NAMED, marked=["Evin"])
    svc = app.extensions["testimony"]

    def verdict() -> policy.Verdict:
        with svc.db.session() as s:
            testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
            facts = policy.facts_for(s, testimony.id)
            assert facts is not None
            return policy.decide(facts, TODAY)

    assert verdict().audio == "access_audio"
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        segments = s.scalars(
            select(Segment)
            .join(TranscriptRow)
            .where(TranscriptRow.testimony_id == testimony.id)
            .order_by(Segment.position)
        ).all()
        late = RedactionMark(
            testimony_id=testimony.id,
            segment_id=segments[1].id,
            char_start=0,
            char_end=5,
            start_s=segments[1].start_s,
            end_s=segments[1].end_s,
            category=RedactionCategory.date,
            created_by=APPROVER,
        )
        s.add(late)
    assert verdict().decision.reason == "redaction_pending"
    with svc.db.session() as s:
        s.delete(s.get(RedactionMark, late.id))
    assert verdict().exportable  # the marks are those of the copy again
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        testimony.disguise_voice = True
    assert verdict().decision.reason == "disguise_pending"
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        for copy in s.scalars(select(AccessCopy).where(AccessCopy.testimony_id == testimony.id)):
            copy.disguised = True  # made disguised; then the archivist turned disguise off
        testimony.disguise_voice = False
    assert verdict().decision.reason == "redaction_pending"
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        testimony.disguise_voice = True
    assert verdict().audio == "disguised_audio"

    assert verdict().columns()["translation"] == "withheld: not approved"
    key = transcripts.testimony_key(worker_keyring(app), testimony)
    for number, segment in enumerate(segments):
        with svc.db.session() as s:
            s.add(
                TranslationSegment(
                    testimony_id=testimony.id,
                    segment_id=segment.id,
                    target_language="fa",
                    sealed=sealing.seal_translation(key, testimony.id, segment.id, "متن"),
                    source_version=segment.version,
                    state=ReviewState.approved,
                    approved_by=APPROVER,
                )
            )
        expected = "included" if number == len(segments) - 1 else "withheld: not approved"
        assert verdict().columns()["translation"] == expected, number


# --- end to end ---------------------------------------------------------------------------------


def _export(app: Flask, out: Path, **asked: object) -> dict[str, object]:
    worker = create_app(app.extensions["testimony"].config, "worker")
    svc = worker.extensions["testimony"]
    try:
        with svc.db.session() as s:
            run_id = runs.start(s, out_dir=out, requested_by=APPROVER, **asked).id  # type: ignore[arg-type]
        return runs.perform(svc, run_id, TODAY)
    finally:
        svc.db.dispose()


def _catalogue(out: Path) -> dict[str, dict[str, str]]:
    with (out / "catalogue.csv").open(encoding="utf-8", newline="") as f:
        return {r["pseudonym"]: r for r in csv.DictReader(f)}


def test_a_record_without_audio_consent_is_exported_without_its_audio(
    app: Flask, tmp_path: Path
) -> None:
    text_only = approved_record(app)  # publication of the text; the audio box left unticked
    named = approved_record(app, consent=NAMED)
    out = tmp_path / "out"
    outcome = _export(app, out)
    assert sorted(outcome["exported"]) == sorted([text_only, named])  # type: ignore[type-var]
    assert not (out / text_only / "data" / "audio").exists()
    assert (out / text_only / "data" / "transcript").is_dir()
    assert (out / named / "data" / "audio" / f"{named}.flac").is_file()
    rows = _catalogue(out)
    assert rows[text_only]["access_audio"] == "withheld: no audio consent"
    assert rows[text_only]["transcript_text"] == "included"
    assert rows[named]["access_audio"] == "included"


def _stored(app: Flask, pseudonym: str) -> tuple[bytes, bytes]:
    """(the plain access copy, the redacted copy) of the record's one recording, decrypted."""
    svc = app.extensions["testimony"]
    keys = worker_keyring(app)
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        audio = testimony.audio_files[0]
        copy = s.scalars(select(AccessCopy).where(AccessCopy.audio_file_id == audio.id)).one()
        key = transcripts.audio_key(keys, testimony, audio)
        found = []
        for name in (audio.access_name, copy.audio_name):
            with svc.store.open(key, testimony.storage_id, name) as f:
                found.append(f.read())
    return found[0], found[1]


def _levels(flac: bytes) -> np.ndarray:
    return decode_audio(io.BytesIO(flac), sampling_rate=16000)


def test_a_promised_disguise_is_kept_and_the_bag_holds_the_redacted_disguised_copy(
    app: Flask, staff_app: Flask, tmp_path: Path
) -> None:
    # Wording 2026-11-26: "Also publish the anonymised audio: those names silenced and my
    # voice disguised." The first segment (0.0-0.5 s) says "Evin" and is marked.
    pseudonym = approved_record(app, consent=ANONYMISED_AUDIO, marked=["Evin"])
    out = tmp_path / "first"
    outcome = _export(app, out)
    assert outcome["exported"] == []
    held = outcome["held_back"]
    assert [(h["pseudonym"], h["reason"]) for h in held] == [(pseudonym, "disguise_pending")]  # type: ignore[union-attr,index]
    assert not (out / pseudonym).exists()

    # The archivist's export page says why, in words.
    archivist = ready_account(staff_app, "archivist@example.org", [Role.archivist])
    client = staff_client(staff_app)
    sign_in(client, archivist)
    with staff_app.extensions["testimony"].db.session() as s:
        run_id = max(s.scalars(select(ExportRun.id)).all())
    page = client.get(f"/staff/export/{run_id}").get_data(as_text=True)
    assert "its consent promised a disguised voice" in page and pseudonym in page
    copies = client.get("/staff/access-copies").get_data(as_text=True)
    assert "Voice disguise is off: the export holds this record back." in copies

    # The archivist turns disguise on; the worker makes the disguised copy.
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        access_copies.set_voice_disguise(s, testimony, True, APPROVER)
        access_copies.make_access_copies(
            s, worker_keyring(app), svc.store, svc.config, testimony.id, Actor.worker
        )
        # The worker proves the new copy before it may leave (a tone: nothing to hear).
        redaction_proof.prove(
            s, worker_keyring(app), svc.store, svc.config, testimony.id, hears_nothing, "test"
        )
    out = tmp_path / "second"
    assert _export(app, out)["exported"] == [pseudonym]
    exported = (out / pseudonym / "data" / "audio" / f"{pseudonym}.flac").read_bytes()
    plain, disguised = _stored(app, pseudonym)
    assert exported == disguised  # the redacted, disguised copy, byte for byte
    assert exported != plain
    got, before = _levels(exported), _levels(plain)
    assert np.abs(before[:8000]).max() > 0.05  # the plain copy speaks at the marked span
    assert np.abs(got[:8000]).max() == 0  # the exported one is silent there
    # Past the marked span the voice is there, but moved: no longer the plain copy's samples.
    tail = slice(16000, 24000)
    assert np.abs(got[tail]).max() > 0.05
    assert not np.allclose(got[tail], before[tail], atol=1e-2)
    row = _catalogue(out)[pseudonym]
    assert row["disguised_audio"] == "included"
    assert row["access_audio"] == "withheld: the consent promised a disguised voice"


def test_the_undisguised_named_audio_is_the_redacted_copy_not_the_access_copy(
    app: Flask, tmp_path: Path
) -> None:
    pseudonym = approved_record(app, consent=NAMED, marked=["Evin"])
    out = tmp_path / "out"
    assert _export(app, out)["exported"] == [pseudonym]
    exported = (out / pseudonym / "data" / "audio" / f"{pseudonym}.flac").read_bytes()
    plain, redacted = _stored(app, pseudonym)
    assert exported == redacted
    got, before = _levels(exported), _levels(plain)
    assert np.abs(before[:8000]).max() > 0.05
    assert np.abs(got[:8000]).max() == 0
    assert np.allclose(got[16000:24000], before[16000:24000], atol=1e-3)  # the rest untouched


def test_narrowing_the_audio_consent_takes_the_audio_out_of_the_next_export(
    app: Flask, tmp_path: Path
) -> None:
    field = "publish_anonymised_audio"
    pseudonym = approved_record(app, consent={**NAMED, field: "y"})
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        consent.narrow(s, testimony, {"publish_named", field})
    out = tmp_path / "out"
    assert _export(app, out)["exported"] == [pseudonym]
    assert not (out / pseudonym / "data" / "audio").exists()


def test_the_preservation_bag_holds_the_unredacted_translation_the_access_bag_its_placeholders(
    app: Flask, migrated: Config, tmp_path: Path
) -> None:
    private, public = crypto.new_key_pair()
    migrated.preservation_public_key_file.parent.mkdir(parents=True, exist_ok=True)
    migrated.preservation_public_key_file.write_text(public.hex())
    pseudonym = approved_record(app, marked=["Evin"])
    said = ("در سال ۱۳۶۷ در زندان اوین بودم.", "بعد از آن تابستان، هیچ خبری نرسید.")
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        key = transcripts.testimony_key(worker_keyring(app), testimony)
        segments = s.scalars(
            select(Segment)
            .join(TranscriptRow)
            .where(TranscriptRow.testimony_id == testimony.id)
            .order_by(Segment.position)
        ).all()
        for segment, text in zip(segments, said, strict=True):
            s.add(
                TranslationSegment(
                    testimony_id=testimony.id,
                    segment_id=segment.id,
                    target_language="fa",
                    sealed=sealing.seal_translation(key, testimony.id, segment.id, text),
                    source_version=segment.version,
                    state=ReviewState.approved,
                    approved_by=APPROVER,
                )
            )
    out = tmp_path / "out"
    assert _export(app, out)["preservation"] == [pseudonym]
    access = (out / pseudonym / "data" / "translation" / f"{pseudonym}.fa.json").read_text()
    assert "اوین" not in access and "[مکان]" in access and said[1] in access
    preserved = out / "preservation" / pseudonym / "data"
    sealed = preserved / "translation" / f"{pseudonym}.fa.json.sealed"
    opened = io.BytesIO()
    with sealed.open("rb") as source:
        crypto.open_from_archive(private, source, opened)
    whole = [s["text"] for s in json.loads(opened.getvalue())["segments"]]
    assert whole == list(said)
    assert _catalogue(out)[pseudonym]["translation"] == "included"
