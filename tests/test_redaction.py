"""Redacted access copies: text placeholders, silenced spans and voice disguise, checked by
transcribing the result again with the real Whisper model and measuring pitch with Praat.

Speech comes from espeak-ng; the model is the bundled base model (no mocks).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import numpy as np
import pytest
from flask import Flask
from sqlalchemy import select

from intake.audio import make_access_copy
from intake.config import Config
from intake.events import Action, Actor
from intake.models import AccessCopy, Event, Job, JobKind, JobStatus, Testimony, TestimonyState
from intake.records import lifecycle
from intake.redaction import (
    AudioSettings,
    Category,
    Mark,
    MarkError,
    audio_spans,
    redact_audio,
    redact_text,
    sha256_of,
)
from intake.review import access_copies, transcripts
from intake.storage import FileKind, file_name
from tests import audio_fixtures as fx
from tests.conftest import MODEL_CACHE, espeak_wav
from tests.support import submit
from workers.engine import Engine, EngineSettings, TranscriptResult

SENTENCE = (
    "The letter came from Elizabeth. It arrived on a rainy Tuesday morning, "
    "with apples and walnuts from the market."
)
NAME = "elizabeth"
# Words not next to the marked one (the margin may clip a neighbour's edge, by design).
KEPT = {"arrived", "rainy", "tuesday", "morning", "apples", "walnuts", "market"}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def _text(result: TranscriptResult) -> str:
    return " ".join(s.text for s in result.segments)


def _mark_word(
    result: TranscriptResult,
    word: str,
    segment_ids: list[int] | None = None,
    category: Category = Category.person,
) -> Mark:
    """A mark over `word` as a reviewer would make it: its characters in the segment's text
    and the timings of the recognised word."""
    for position, seg in enumerate(result.segments):
        segment_id = segment_ids[position] if segment_ids else 1
        for w in seg.words:
            if word in w.word.lower():
                start = seg.text.lower().index(word)
                return Mark(segment_id, start, start + len(word), w.start, w.end, category)
    raise AssertionError(f"{word!r} was not recognised: {_text(result)}")


def _median_pitch(flac_or_wav: bytes) -> float:
    import parselmouth
    from faster_whisper.audio import decode_audio

    samples = decode_audio(io.BytesIO(flac_or_wav), sampling_rate=16000)
    sound = parselmouth.Sound(np.asarray(samples, dtype=np.float64), 16000)
    freq = sound.to_pitch(pitch_floor=75.0, pitch_ceiling=600.0).selected_array["frequency"]
    return float(np.median(freq[freq > 0]))


@pytest.fixture(scope="module")
def engine() -> Engine:
    eng = Engine(EngineSettings(cache_dir=MODEL_CACHE, batch_size=4, window_s=60.0))
    eng.model  # noqa: B018 - load once for the module
    return eng


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The sentence as an access copy (FLAC, 16 kHz mono), as the intake stores it."""
    wav = espeak_wav(tmp_path_factory.mktemp("speech") / "s.wav", SENTENCE)
    access = io.BytesIO()
    make_access_copy(io.BytesIO(wav.read_bytes()), access, max_duration_s=60)
    return access.getvalue()


# --- text --------------------------------------------------------------------------------------


def test_marked_spans_become_their_category_in_the_texts_language() -> None:
    text = "I met Ali in Tehran on 5 Mordad."
    marks = [
        Mark(1, 6, 9, 0, 0, Category.person),
        Mark(1, 13, 19, 0, 0, Category.place),
        Mark(1, 23, 31, 0, 0, Category.date),
    ]
    assert redact_text(text, marks, "en") == "I met [name] in [place] on [date]."
    persian = "علی را در تهران دیدم"
    fa_marks = [Mark(1, 0, 3, 0, 0, Category.person), Mark(1, 10, 15, 0, 0, Category.place)]
    assert redact_text(persian, fa_marks, "fa") == "[نام] را در [مکان] دیدم"
    assert redact_text("x y", [Mark(1, 0, 1, 0, 0, Category.other)], "fa") == "[حذف شده] y"


def test_overlapping_marks_of_different_categories_become_one_removed_span() -> None:
    text = "Hassan Abad street"
    marks = [Mark(1, 0, 11, 0, 0, Category.person), Mark(1, 7, 18, 0, 0, Category.place)]
    assert redact_text(text, marks, "en") == "[removed]"
    assert redact_text(text, marks[:1] * 2, "en") == "[name] street"


def test_a_mark_that_no_longer_fits_its_text_is_refused() -> None:
    with pytest.raises(MarkError):
        redact_text("short", [Mark(1, 2, 40, 0, 0, Category.person)], "en")
    with pytest.raises(MarkError):
        redact_text("short", [Mark(1, 3, 3, 0, 0, Category.person)], "en")


def test_a_mark_must_lie_inside_its_text_and_may_reach_its_end() -> None:
    for start, end in ((-1, 2), (2, 6), (0, 0)):
        with pytest.raises(MarkError):
            redact_text("short", [Mark(1, start, end, 0, 0, Category.person)], "en")
    assert redact_text("short", [Mark(1, 0, 5, 0, 0, Category.place)], "en") == "[place]"


def test_touching_and_contained_marks_leave_no_letter_between_them() -> None:
    # Two marks that meet are one span: no seam that says where one word ended.
    touching = [Mark(1, 0, 3, 0, 0, Category.person), Mark(1, 3, 7, 0, 0, Category.person)]
    assert redact_text("AliReza came", touching, "en") == "[name] came"
    # A mark inside a longer one does not shorten it.
    inside = [Mark(1, 0, 10, 0, 0, Category.person), Mark(1, 4, 6, 0, 0, Category.person)]
    assert redact_text("Ali Karimi, here", inside, "en") == "[name], here"
    # The same category overlapping keeps its own placeholder; different ones say "removed".
    same = [Mark(1, 0, 6, 0, 0, Category.place), Mark(1, 4, 11, 0, 0, Category.place)]
    assert redact_text("Hassan Abad street", same, "en") == "[place] street"
    mixed = [Mark(1, 0, 6, 0, 0, Category.place), Mark(1, 4, 11, 0, 0, Category.date)]
    assert redact_text("Hassan Abad street", mixed, "fa") == "[حذف شده] street"


def test_audio_spans_refuse_nonsense_and_merge_touching_and_contained_spans() -> None:
    with pytest.raises(ValueError, match="negative"):
        audio_spans([], -0.01)
    assert audio_spans([], 0.0) == []
    for start, end in ((float("nan"), 1.0), (float("inf"), 1.0), (0.0, float("inf"))):
        with pytest.raises(MarkError):
            audio_spans([Mark(1, 0, 1, start, end, Category.person)], 0.1)
    with pytest.raises(MarkError):
        audio_spans([Mark(1, 0, 1, 2.0, 1.5, Category.person)], 0.1)
    # Spans that meet after widening are one; a span inside another does not shorten it.
    meeting = [Mark(1, 0, 1, 1.0, 1.5, Category.person), Mark(1, 0, 1, 1.5, 2.0, Category.place)]
    assert audio_spans(meeting, 0.0) == [(1.0, 2.0)]
    nested = [Mark(1, 0, 1, 1.0, 5.0, Category.person), Mark(1, 0, 1, 2.0, 3.0, Category.place)]
    assert audio_spans(nested, 0.0) == [(1.0, 5.0)]
    # A mark at the very end of the recording leaves no empty span behind.
    assert audio_spans([Mark(1, 0, 1, 10.0, 10.2, Category.date)], 0.0, duration_s=10.0) == []


def test_audio_spans_are_widened_clipped_and_merged() -> None:
    marks = [
        Mark(1, 0, 1, 1.0, 1.5, Category.person),
        Mark(1, 0, 1, 1.6, 2.0, Category.place),
        Mark(1, 0, 1, 0.05, 0.2, Category.date),
        Mark(1, 0, 1, 9.9, 10.5, Category.other),
    ]
    spans = audio_spans(marks, 0.1, duration_s=10.0)
    assert spans == [(0.0, pytest.approx(0.3)), (0.9, pytest.approx(2.1)), (9.8, 10.0)]
    with pytest.raises(MarkError):
        audio_spans([Mark(1, 0, 1, 2.0, 1.0, Category.person)], 0.1)


def test_silenced_span_is_silent_and_the_rest_untouched() -> None:
    access = io.BytesIO()
    make_access_copy(io.BytesIO(fx.tone_wav(2.0)), access, max_duration_s=60)
    out = io.BytesIO()
    result = redact_audio(access, out, [(0.5, 1.0)], AudioSettings())
    from faster_whisper.audio import decode_audio

    before = decode_audio(io.BytesIO(access.getvalue()), sampling_rate=16000)
    after = decode_audio(io.BytesIO(out.getvalue()), sampling_rate=16000)
    assert after.shape == before.shape
    assert np.abs(after[8000:16000]).max() == 0
    assert np.allclose(after[:8000], before[:8000], atol=1e-4)
    assert np.allclose(after[16000:], before[16000:], atol=1e-4)
    assert result.removed_samples == 8000
    assert result.source_sha256 == sha256_of(access)
    assert result.copy_sha256 == sha256_of(out)
    # A tone instead of silence, where configured.
    toned = io.BytesIO()
    redact_audio(access, toned, [(0.5, 1.0)], AudioSettings(tone_hz=1000.0))
    tone = decode_audio(io.BytesIO(toned.getvalue()), sampling_rate=16000)[8000:16000]
    assert 0.05 < np.abs(tone).max() < 0.2


# --- the real model ----------------------------------------------------------------------------


@pytest.mark.model
def test_redacted_speech_no_longer_says_the_marked_name(engine: Engine, speech: bytes) -> None:
    heard = engine.transcribe(io.BytesIO(speech), language="en")
    assert _words(_text(heard)) >= {NAME, *KEPT}, _text(heard)
    marks = [_mark_word(heard, NAME)]
    out = io.BytesIO()
    redact_audio(io.BytesIO(speech), out, audio_spans(marks, 0.15), AudioSettings())
    again = _text(engine.transcribe(io.BytesIO(out.getvalue()), language="en"))
    assert not re.search(r"eliz|beth", again.lower()), again
    assert _words(again) >= KEPT, again


@pytest.mark.model
def test_disguised_voice_says_the_same_words_at_a_moved_pitch(
    engine: Engine, speech: bytes
) -> None:
    settings = AudioSettings(disguise_semitones=4.0)
    out = io.BytesIO()
    redact_audio(io.BytesIO(speech), out, [], settings, disguise=True)
    before, after = _median_pitch(speech), _median_pitch(out.getvalue())
    moved = 12 * np.log2(after / before)
    # Praat's pitch tracker measures to about a quarter of a semitone on synthetic speech.
    assert moved >= settings.disguise_semitones - 0.25, (before, after, moved)
    heard = _words(_text(engine.transcribe(io.BytesIO(out.getvalue()), language="en")))
    assert {NAME, *KEPT} <= heard, heard


# --- the access copy, stored, through the worker's job ----------------------------------------


@pytest.fixture
def worker_app(app: Flask, migrated: Config) -> Iterator[Flask]:
    """The worker audience on the same instance as the public `app`, with its Celery app."""
    from workers.celery_app import make_worker_app

    application, _celery = make_worker_app(migrated)
    yield application
    application.extensions["testimony"].db.dispose()


def _submitted(app: Flask, audio: bytes) -> int:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert submit(client, [(audio, "a.flac")]).status_code == 200
    with app.extensions["testimony"].db.session() as s:
        return s.scalars(select(Testimony.id).order_by(Testimony.id.desc())).first() or 0


@pytest.mark.model
def test_stored_access_copy_removes_the_name_from_text_and_audio(
    app: Flask, worker_app: Flask, engine: Engine, speech: bytes
) -> None:
    testimony_id = _submitted(app, speech)
    svc = worker_app.extensions["testimony"]
    with svc.db.session() as s:
        testimony = s.get(Testimony, testimony_id)
        assert testimony is not None
        audio = testimony.audio_files[0]
        key = transcripts.audio_key(svc.keyring, testimony, audio)  # each file has its own
        with svc.store.open(key, testimony.storage_id, audio.access_name) as reader:
            heard = engine.transcribe(reader, language="en")
        lifecycle.transition(s, testimony, TestimonyState.transcribing, Actor.worker)
        stored = transcripts.add_transcript(
            s, svc.keyring, testimony, audio.id, None, heard, "base", Actor.worker
        )
        assert stored is not None
        s.flush()
        mark = _mark_word(heard, NAME, [seg.id for seg in stored.segments])
        # The marks change: the copy is asked for once, however often it is asked.
        job = access_copies.request_access_copy(s, testimony_id, Actor.worker)
        assert job is not None
        assert access_copies.request_access_copy(s, testimony_id, Actor.worker) is None
        job_id = job.id

    with worker_app.app_context(), svc.db.session() as s:
        made = access_copies.make_access_copies(
            s, svc.keyring, svc.store, svc.config, testimony_id, Actor.worker, [mark]
        )
        assert len(made) == 1

    with svc.db.session() as s:
        testimony = s.get(Testimony, testimony_id)
        assert testimony is not None
        copy = s.scalars(select(AccessCopy)).one()
        key = transcripts.audio_key(svc.keyring, testimony, testimony.audio_files[0])
        assert copy.audio_name == file_name(FileKind.redacted, 1)
        with svc.store.open(key, testimony.storage_id, audio.access_name) as source:
            assert copy.source_sha256 == sha256_of(source)
        with svc.store.open(key, testimony.storage_id, copy.audio_name) as redacted:
            assert copy.copy_sha256 == sha256_of(redacted)
            again = _text(engine.transcribe(redacted, language="en"))
        text = access_copies.open_text(svc.keyring, testimony, copy)
        events = s.scalars(select(Event).where(Event.action == Action.access_copy_made)).all()
        assert [e.detail["source_sha256"] for e in events] == [copy.source_sha256]
    assert NAME not in _words(again) and _words(again) >= KEPT, again
    joined = " ".join(seg["text"] for seg in text["segments"])  # type: ignore[attr-defined]
    assert "[name]" in joined and NAME not in joined.lower() and "apples" in joined, joined

    # The worker's job makes it again (without marks, until the marks table is wired in) and
    # replaces the row; a withdrawn testimony's job is cancelled.
    # Through the worker app's own Celery app: the `shared_task` proxy would follow whichever
    # Celery app this process made last (another test's, on another database).
    run_redaction = worker_app.extensions["celery"].tasks["workers.redaction.run_redaction"]
    run_redaction(job_id)
    with svc.db.session() as s:
        assert s.get(Job, job_id).status == JobStatus.done  # type: ignore[union-attr]
        assert s.scalars(select(AccessCopy)).one().marks == 0


def test_a_mark_on_another_testimonys_segment_makes_no_copy(app: Flask, worker_app: Flask) -> None:
    testimony_id = _submitted(app, fx.tone_wav(1.0))
    svc = worker_app.extensions["testimony"]
    with worker_app.app_context(), svc.db.session() as s, pytest.raises(MarkError):
        access_copies.make_access_copies(
            s,
            svc.keyring,
            svc.store,
            svc.config,
            testimony_id,
            Actor.worker,
            [Mark(999, 0, 1, 0.0, 0.5, Category.person)],
        )
    with svc.db.session() as s:
        assert s.scalars(select(AccessCopy)).all() == []
        kinds = s.scalars(select(Job.kind)).all()
    assert JobKind.redact not in kinds


def test_choosing_voice_disguise_queues_a_new_copy(app: Flask, worker_app: Flask) -> None:
    testimony_id = _submitted(app, fx.tone_wav(1.0))
    svc = worker_app.extensions["testimony"]
    with svc.db.session() as s:
        testimony = s.get(Testimony, testimony_id)
        assert testimony is not None
        assert access_copies.set_voice_disguise(s, testimony, True, Actor.operator)
        assert not access_copies.set_voice_disguise(s, testimony, True, Actor.operator)
    with svc.db.session() as s:
        jobs_ = s.scalars(select(Job).where(Job.kind == JobKind.redact)).all()
        assert len(jobs_) == 1
        assert s.get(Testimony, testimony_id).disguise_voice  # type: ignore[union-attr]
