"""The redaction proof: a marked span must measure as silence (or the tone) in the access copy
and the marked words must not be heard again around it; the result holds no word, a failed or
missing proof holds the record back, and a passed one travels in the bag.

The listener here is a plain function (the audio is a tone, in which the model hears no words);
the real model listens in tests/workers/test_alignment_model.py."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import bagit
import numpy as np
import pytest
from flask import Flask
from sqlalchemy import select

from intake import create_app
from intake.audio import make_access_copy
from intake.config import Config
from intake.events import Actor
from intake.export import runs
from intake.models import (
    Event,
    RedactionMark,
    RedactionProof,
    Role,
    Segment,
    SegmentAlignment,
    Testimony,
)
from intake.redaction import AudioSettings, Category, Mark, redact_audio
from intake.review import access_copies, redaction_proof, transcripts
from tests import audio_fixtures as fx
from tests.export.approved import APPROVER, approved_record, hears_nothing
from tests.export.test_export_runs import NAMED
from tests.staff_support import ready_account, sign_in, staff_client
from tests.support import worker_keyring

TODAY = date(2026, 6, 1)


def test_levels_and_near_misses() -> None:
    assert redaction_proof.level_dbfs(np.zeros(1600, dtype=np.int16)) == redaction_proof.FLOOR_DBFS
    full = np.full(1600, 32767, dtype=np.int16)
    assert redaction_proof.level_dbfs(full) == pytest.approx(0.0, abs=0.01)
    t = np.arange(16000) / 16000
    tone = (0.1 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    assert redaction_proof.level_dbfs(tone) > -25
    assert redaction_proof.level_dbfs(redaction_proof.without_tone(tone, 440)) < -80
    speech_like = np.random.default_rng(0).normal(0, 3000, 16000).astype(np.int16)
    assert redaction_proof.level_dbfs(redaction_proof.without_tone(speech_like, 440)) > -25

    assert redaction_proof.heard_in("he was held in Evan prison", "Evin")
    assert redaction_proof.heard_in("HELD IN EVIN.", "Evin")
    assert not redaction_proof.heard_in("he was held in heaven prison", "Evin")
    assert redaction_proof.heard_in("we met Ali Karimi there", "ali karimi")
    assert redaction_proof.heard_in("we met Alikarimi there", "Ali Karimi")
    # Persian spellings: Arabic yeh and kaf, a ZWNJ, short vowels.
    assert redaction_proof.heard_in("در زندان اوين بود", "اوین")
    assert redaction_proof.heard_in("علي كريمي", "علی\u200cکریمی")
    # Short terms match exactly only: too many words are one letter away.
    assert not redaction_proof.heard_in("all of them", "Ali")
    assert redaction_proof.heard_in("ali said", "Ali")


def test_longer_terms_allow_more_misheard_letters_by_fixed_steps() -> None:
    allowed = redaction_proof.allowed_distance
    assert [allowed(t) for t in ("Ali", "Reza", "Karimis", "Karimian", "Ali Karimi")] == [
        0,
        1,
        1,
        2,
        2,
    ]
    assert allowed("A l i") == 0  # spaces are not letters
    # Eight letters: two misheard ones are still the name.
    assert redaction_proof.heard_in("held by karimyen there", "Karimian")


def test_a_quiet_remnant_above_the_threshold_is_not_silence(config: Config) -> None:
    """The check compares each span's level with the configured threshold itself: a span
    turned down to about -43 dBFS (a whisper of the name) fails at -60, silence passes."""
    access = io.BytesIO()
    make_access_copy(io.BytesIO(fx.tone_wav(2.0)), access, max_duration_s=60)
    mark = Mark(1, 0, 1, 0.5, 1.0, Category.place)
    margin = config.redaction_margin_s
    span = [(0.5 - margin, 1.0 + margin)]
    levels = {}
    for name, settings in (
        ("quiet", AudioSettings(tone_hz=1000.0, tone_level=0.01)),
        ("silent", AudioSettings()),
    ):
        copy = io.BytesIO()
        redact_audio(access, copy, span, settings)
        copy.seek(0)
        (check,) = redaction_proof.check_file(
            copy, [mark], [7], [["Evin"]], "en", 2.0, config, hears_nothing
        )
        assert check.mark == 7 and not check.heard
        levels[name] = (check.level_dbfs, check.silent)
    quiet_level, quiet_silent = levels["quiet"]
    assert -50 < quiet_level < config.redaction_proof_threshold_dbfs + 30 and not quiet_silent
    assert levels["silent"] == (redaction_proof.FLOOR_DBFS, True)


def _testimony(app: Flask, pseudonym: str) -> Testimony:
    with app.extensions["testimony"].db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        s.expunge(t)
        return t


def test_a_silenced_span_passes_and_the_bag_carries_the_proof(app: Flask, tmp_path: Path) -> None:
    pseudonym = approved_record(app, consent=NAMED, marked=("Evin",))
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        proof = redaction_proof.proof_for(s, t.id)
        assert proof is not None and proof.passed and proof.reason == ""
        (span,) = proof.spans
        assert span["silent"] and not span["heard"]
        assert span["level_dbfs"] == redaction_proof.FLOOR_DBFS
        row = s.scalars(select(RedactionProof)).one()
        assert "Evin" not in json.dumps(row.spans)
        events = s.scalars(select(Event).where(Event.action == "redaction_proved")).all()
        assert len(events) == 1 and "Evin" not in repr(events[0].detail)
    out = tmp_path / "out"
    outcome = _export(app, out)
    assert outcome["exported"] == [pseudonym]
    bagit.Bag(str(out / pseudonym)).validate()
    document = json.loads((out / pseudonym / "data" / "redaction-proof.json").read_text())
    assert document["passed"] is True and len(document["spans"]) == 1
    assert document["method"]["threshold_dbfs"] == svc.config.redaction_proof_threshold_dbfs
    assert "Evin" not in json.dumps(document)
    # The word list is the approved words with the mark's placeholder, never the machine's.
    transcript = json.loads(
        next((out / pseudonym / "data" / "transcript").glob("*.json")).read_text()
    )
    texts = [w["text"] for seg in transcript["segments"] for w in seg["words"]]
    assert texts == ["In", "1988", "I", "was", "in", "[place]", "prison."] + [
        "After",
        "that",
        "summer,",
        "no",
        "news",
        "came.",
    ]


def test_a_copy_that_skipped_the_silencing_fails_and_is_held_back(
    app: Flask, tmp_path: Path
) -> None:
    pseudonym = approved_record(app, consent=NAMED, marked=("Evin",))
    svc = app.extensions["testimony"]
    keys = worker_keyring(app)
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        marks = access_copies.marks_for(s, t.id)
        # A copy made without silencing anything, that claims the current marks.
        (copy,) = access_copies.make_access_copies(
            s, keys, svc.store, svc.config, t.id, Actor.worker, marks=[]
        )
        copy.marks_sha256 = access_copies.marks_digest(marks)
        assert redaction_proof.proof_for(s, t.id) is None  # the new copy is not proven yet
        redaction_proof.prove(s, keys, svc.store, svc.config, t.id, hears_nothing, "test")
        proof = redaction_proof.proof_for(s, t.id)
        assert proof is not None and not proof.passed and proof.reason == "not_silent"
        (span,) = proof.spans
        assert not span["silent"] and span["level_dbfs"] > -30
    outcome = _export(app, tmp_path / "out")
    assert outcome["exported"] == []
    (held,) = outcome["held_back"]  # type: ignore[misc]
    assert held["reason"] == "proof_failed"
    assert "not silent" in held["message"]


def test_a_proof_of_other_marks_than_the_current_ones_is_no_proof(app: Flask) -> None:
    """A mark moved after the proof (the same number of marks, other words) or a proof that
    checked fewer spans than there are marks leaves the record unproven."""
    pseudonym = approved_record(app, consent=NAMED, marked=("Evin",))
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        assert redaction_proof.proof_for(s, t.id) is not None
        (mark,) = s.scalars(select(RedactionMark).where(RedactionMark.testimony_id == t.id))
        mark.end_s += 0.5
        s.flush()
        assert redaction_proof.proof_for(s, t.id) is None
        mark.end_s -= 0.5
        s.flush()
        assert redaction_proof.proof_for(s, t.id) is not None
        row = s.scalars(select(RedactionProof)).one()
        row.spans = []
        s.flush()
        assert redaction_proof.proof_for(s, t.id) is None


def test_a_word_still_heard_fails_and_the_proof_stores_no_word(app: Flask, tmp_path: Path) -> None:
    pseudonym = approved_record(app, consent=NAMED, marked=("Evin",))
    svc = app.extensions["testimony"]
    keys = worker_keyring(app)
    heard: list[str] = []

    def hears_evan(samples: np.ndarray, language: str) -> str:
        heard.append(language)
        return "I was in Evan prison"

    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        (row,) = redaction_proof.prove(s, keys, svc.store, svc.config, t.id, hears_evan, "test")
        assert heard == ["en"]
        assert not row.passed and row.reason == "still_heard"
        assert "Evan" not in json.dumps(row.spans) and "Evin" not in json.dumps(row.spans)
    outcome = _export(app, tmp_path / "out")
    assert [h["reason"] for h in outcome["held_back"]] == ["proof_failed"]  # type: ignore[union-attr]


def test_the_machines_own_mishearing_of_a_marked_word_is_listened_for_too(app: Flask) -> None:
    """The machine first heard "heaven" where the reviewer wrote "Evin": a listener hearing
    "heaven" there again hears the name."""
    pseudonym = approved_record(app, consent=NAMED, marked=("Evin",))
    svc = app.extensions["testimony"]
    keys = worker_keyring(app)
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        (mark,) = s.scalars(select(RedactionMark).where(RedactionMark.testimony_id == t.id))
        segment = s.get(Segment, mark.segment_id)
        assert segment is not None
        key = transcripts.testimony_key(keys, t)
        content = transcripts.unseal_segment(key, segment)
        # The marked word where the mark is; the others later (this record times them all
        # alike), so the machine's word at the mark is "heaven" alone.
        words = [
            [mark.start_s, mark.end_s, " heaven", *w[3:]]
            if str(w[2]).strip() == "Evin"
            else [mark.end_s + 1.0, mark.end_s + 1.4, *w[2:]]
            for w in content.words
        ]
        segment.sealed = transcripts.seal_segment(
            key,
            segment.transcript_id,
            segment.position,
            transcripts.SegmentText(content.text, words),
        )
        s.flush()

        def hears_heaven(samples: np.ndarray, language: str) -> str:
            return "I was in heaven prison"

        (row,) = redaction_proof.prove(s, keys, svc.store, svc.config, t.id, hears_heaven, "test")
        assert not row.passed and row.reason == "still_heard"
        assert "heaven" not in json.dumps(row.spans)


def test_a_record_without_a_proof_or_an_alignment_is_held_back(app: Flask, tmp_path: Path) -> None:
    unproven = approved_record(app, consent=NAMED, marked=("Evin",))
    unaligned = approved_record(app, consent=NAMED)
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == unproven)).one()
        for row in s.scalars(select(RedactionProof).where(RedactionProof.testimony_id == t.id)):
            s.delete(row)
        u = s.scalars(select(Testimony).where(Testimony.pseudonym == unaligned)).one()
        for row in s.scalars(select(SegmentAlignment).where(SegmentAlignment.testimony_id == u.id)):
            s.delete(row)
    outcome = _export(app, tmp_path / "out")
    reasons = {h["pseudonym"]: h["reason"] for h in outcome["held_back"]}  # type: ignore[union-attr]
    assert reasons == {unproven: "proof_pending", unaligned: "alignment_pending"}


def _export(app: Flask, out: Path) -> dict[str, object]:
    worker = create_app(app.extensions["testimony"].config, "worker")
    svc = worker.extensions["testimony"]
    try:
        with svc.db.session() as s:
            run_id = runs.start(s, out_dir=out, requested_by=APPROVER).id
        return runs.perform(svc, run_id, TODAY)
    finally:
        svc.db.dispose()


def test_the_archivist_sees_each_records_proof(app: Flask, staff_app: Flask) -> None:
    proven = approved_record(app, consent=NAMED, marked=("Evin",))
    failing = approved_record(app, consent=NAMED, marked=("Evin",))
    svc = app.extensions["testimony"]
    keys = worker_keyring(app)
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == failing)).one()
        marks = access_copies.marks_for(s, t.id)
        (copy,) = access_copies.make_access_copies(
            s, keys, svc.store, svc.config, t.id, Actor.worker, marks=[]
        )
        copy.marks_sha256 = access_copies.marks_digest(marks)
        redaction_proof.prove(s, keys, svc.store, svc.config, t.id, hears_nothing, "test")
    client = staff_client(staff_app)
    sign_in(client, ready_account(staff_app, "a@example.org", [Role.archivist]))
    html = client.get("/staff/access-copies").get_data(as_text=True)
    row_of = {
        p: html.split(f'id="record-{p}"', 1)[1].split("</tr>", 1)[0] for p in (proven, failing)
    }
    assert "passed" in row_of[proven] and "-120.0 dBFS" in row_of[proven]
    assert "failed: a marked span is not silent" in row_of[failing]
    assert "not silent" in row_of[failing] and "Evin" not in html


def test_a_disguised_copy_still_proves_silent(app: Flask) -> None:
    pseudonym = approved_record(app, consent=NAMED, marked=("Evin",), seconds=4.0)
    svc = app.extensions["testimony"]
    keys = worker_keyring(app)
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        t.disguise_voice = True
        (copy,) = access_copies.make_access_copies(
            s, keys, svc.store, svc.config, t.id, Actor.worker
        )
        assert copy.disguised
        (row,) = redaction_proof.prove(s, keys, svc.store, svc.config, t.id, hears_nothing, "test")
        assert row.passed, row.spans
