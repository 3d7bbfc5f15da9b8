"""The "Evin" case, end to end with a real worker, the real model and espeak-ng speech.

A sentence naming a prison is spoken and transcribed by the worker; the model mishears the
name. A reviewer corrects it to "Evin" and marks it as a place; another approves. The worker
aligns the corrected words to the audio, makes the access copy with the marked span silenced
and proves it. The exported bag's audio is silent where the word was spoken, the engine
transcribing that file (as `testimony transcribe` does) no longer hears the name, or what the
model first heard, and the bag's `redaction-proof.json` says that the proof passed.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import bagit
import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from intake import create_app
from intake.config import Config
from intake.events import staff_ref
from intake.export import runs
from intake.models import (
    Job,
    JobKind,
    JobStatus,
    RedactionCategory,
    RedactionMark,
    RedactionProof,
    Segment,
    Testimony,
    TestimonyState,
    Transcript,
)
from intake.records import lifecycle
from intake.redaction import decoded_blocks
from intake.review import alignment, redaction_proof, review, transcripts
from tests.conftest import espeak_wav
from tests.support import ALL_CONSENT, submit, worker_keyring
from tests.workers.test_worker_process import WorkerProcess, wait_for, workers  # noqa: F401
from workers.engine import Engine, EngineSettings

pytestmark = [pytest.mark.worker, pytest.mark.model]

SENTENCE = "In nineteen eighty eight my brother was held in Evin prison for three years."
EDITOR, APPROVER = staff_ref(21), staff_ref(22)


def _jobs_done(app: Flask, kind: JobKind) -> bool:
    with app.extensions["testimony"].db.session() as s:
        states = s.scalars(select(Job.status).where(Job.kind == kind)).all()
        return bool(states) and all(st == JobStatus.done for st in states)


def _samples(path: Path) -> np.ndarray:
    with path.open("rb") as source:
        return np.concatenate(list(decoded_blocks(source)))


def test_a_corrected_and_marked_name_is_silent_unheard_and_proven_in_the_bag(
    app: Flask,
    client: FlaskClient,
    config: Config,
    tmp_path: Path,
    workers: list[WorkerProcess],  # noqa: F811
) -> None:
    log = tmp_path / "worker.log"
    workers.append(WorkerProcess(config, log).start())
    speech = espeak_wav(tmp_path / "evin.wav", SENTENCE).read_bytes()
    # Named publication in the own voice: the audio leaves, so it must be proven.
    named = {**ALL_CONSENT, "publish_named": "y", "name": "Witness Name"}
    assert submit(client, [(speech, "evin.wav")], language="en", consent=named).status_code == 200
    svc = app.extensions["testimony"]
    keys = worker_keyring(app)

    def transcribed() -> bool:
        with svc.db.session() as s:
            return s.scalars(select(Testimony.state)).one() == TestimonyState.transcribed

    wait_for(transcribed, 300, "the transcript", log)
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony)).one()
        key = transcripts.testimony_key(keys, testimony)
        segments = s.scalars(select(Segment).join(Transcript).order_by(Segment.position)).all()
        # The word the model wrote between "in" and "prison": its hearing of "Evin".
        seg, content = next(
            (g, c) for g in segments if "prison" in (c := transcripts.unseal_segment(key, g)).text
        )
        words = [str(w[2]).strip() for w in content.words]
        at = next(i for i, w in enumerate(words) if w.lower().startswith("prison"))
        misheard, machine_time = words[at - 1], (content.words[at - 1][0], content.words[at - 1][1])
        corrected = content.text.replace(f" {misheard} prison", " Evin prison", 1)
        assert "Evin" in corrected and corrected != content.text or misheard == "Evin"
        review.save(s, keys, testimony, seg.id, corrected, seg.version, EDITOR, 2000)
        mark = review.mark_span(
            s, keys, testimony, seg.id, seg.version, RedactionCategory.place, EDITOR, "Evin"
        )
        s.flush()
        for g in segments:
            review.approve(s, testimony, g.id, g.version, APPROVER)
        assert testimony.state == TestimonyState.transcript_approved
        mark_id = mark.id

    wait_for(lambda: _jobs_done(app, JobKind.align), 300, "the alignment", log)
    wait_for(lambda: _jobs_done(app, JobKind.redact), 300, "the proven access copy", log)
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony)).one()
        assert alignment.unaligned(s, keys, testimony) == 0
        mark = s.get(RedactionMark, mark_id)
        assert mark is not None
        # The mark took the aligned time of "Evin", where the model heard its misspelling.
        assert mark.start_s < float(machine_time[1]) and mark.end_s > float(machine_time[0])
        assert mark.end_s - mark.start_s < 1.5
        aligned_span = (mark.start_s, mark.end_s)
        proof = redaction_proof.proof_for(s, testimony.id)
        assert proof is not None and proof.passed, proof
        assert s.scalars(select(RedactionProof)).one().passed
        for state in (
            TestimonyState.in_translation,
            TestimonyState.translation_review,
            TestimonyState.approved,
        ):
            lifecycle.transition(s, testimony, state, APPROVER)
        pseudonym = testimony.pseudonym

    out = tmp_path / "out"
    worker_app = create_app(config, "worker")
    wsvc = worker_app.extensions["testimony"]
    try:
        with wsvc.db.session() as s:
            run_id = runs.start(s, out_dir=out, requested_by=APPROVER).id
        outcome = runs.perform(wsvc, run_id, date.today())
    finally:
        wsvc.db.dispose()
    assert outcome["exported"] == [pseudonym], outcome
    bag = out / pseudonym
    bagit.Bag(str(bag)).validate()

    proof_file = json.loads((bag / "data" / "redaction-proof.json").read_text())
    assert proof_file["passed"] is True
    (span,) = proof_file["spans"]
    assert span["silent"] and not span["heard"]
    assert span["start"] <= aligned_span[0] and span["end"] >= aligned_span[1]
    assert "Evin" not in json.dumps(proof_file) and misheard not in json.dumps(proof_file)

    audio_path = bag / "data" / "audio" / f"{pseudonym}.flac"
    samples = _samples(audio_path)
    rate = 16000
    inside = samples[int(aligned_span[0] * rate) : int(aligned_span[1] * rate)]
    assert redaction_proof.level_dbfs(inside) <= config.redaction_proof_threshold_dbfs
    # The speech around it is untouched: the level check can fail.
    assert redaction_proof.level_dbfs(samples[: int(aligned_span[0] * rate) - 4000]) > -40

    transcript = json.loads(
        next((bag / "data" / "transcript").glob("*.json")).read_text(encoding="utf-8")
    )
    listed = [w for seg in transcript["segments"] for w in seg.get("words", [])]
    assert all("Evin" not in str(w) and misheard not in str(w) for w in listed)

    engine = Engine(EngineSettings(cache_dir=config.model_cache_dir, batch_size=1))
    heard = " ".join(seg.text for seg in engine.transcribe(audio_path, language="en").segments)
    # The rest of the sentence is still there (the margin may clip a neighbour's first sound).
    assert "brother" in heard.lower() and "years" in heard.lower(), heard
    assert not redaction_proof.heard_in(heard, "Evin"), heard
    assert not redaction_proof.heard_in(heard, misheard), heard
