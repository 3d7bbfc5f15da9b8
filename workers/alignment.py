"""Forced alignment of reviewed words, and the task that aligns a testimony's saved segments.

`align_words` is faster-whisper's own word-timestamp method (`WhisperModel.find_alignment`,
CTranslate2's `Whisper.align`: the decoder's cross-attention over the encoded audio, median
filtered, then dynamic time warping) fed with the *corrected* text's tokens instead of the
tokens Whisper decoded. The text is tokenised word by word, so each word of the approved text
(`intake.review.alignment.approved_words`) gets exactly one time span, whatever Whisper would have
heard. Like faster-whisper, a word's start is the first audio frame its first token jumps to
and its end the frame where the next word starts; its probability is the mean of its tokens'.

The task claims, aligns and reports: it reads the segments whose current text has no current
alignment, decodes each one's stretch of the access audio in one pass (`engine.iter_spans`),
aligns, and stores each result through `intake.review.alignment.store` in the transaction that marks
the job done, while it holds the claim. Safe to run twice: a current alignment is kept, and an
alignment of a text edited meanwhile is not stored (the edit queued another job).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from celery import shared_task
from sqlalchemy import select

from intake.events import Actor
from intake.models import AudioFile, Job, Testimony
from intake.records import jobs
from intake.review import alignment, transcripts
from intake.review.alignment import AlignedWord, TextWord
from intake.services import Services, services
from workers import transcription
from workers.engine import ARCHIVE_LANGUAGES, SAMPLE_RATE, Engine, iter_spans
from workers.transcription import JOB_TASK_OPTIONS, Progress, lease_kept

# Whisper's encoder sees 30 s at most; a review segment is about 15 s at most.
MAX_WINDOW_S = 30.0


def align_words(
    engine: Engine, audio: np.ndarray, words: Sequence[TextWord], language: str, offset: float
) -> list[AlignedWord]:
    """The time each of `words` is spoken in `audio` (16 kHz mono float32, at most 30 s, which
    starts `offset` seconds into its recording), by forced alignment with the engine's model.

    Words that have no token (nothing to say) share the time of the word before them.
    """
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer

    if not words:
        return []
    model = engine.model
    audio = audio[: int(MAX_WINDOW_S * SAMPLE_RATE)]
    tokenizer = Tokenizer(
        model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language
    )
    per_word = [tokenizer.encode(" " + w.text) for w in words]
    tokens = [t for group in per_word for t in group]
    duration = audio.shape[0] / SAMPLE_RATE
    if not tokens or duration <= 0.05:
        return [
            AlignedWord(w.text, w.char_start, w.char_end, offset, offset + duration, 0.0)
            for w in words
        ]
    features = model.feature_extractor(audio)
    num_frames = min(features.shape[-1] - 1, model.feature_extractor.nb_max_frames)
    encoded = model.encode(pad_or_trim(features[:, :num_frames]))
    result = model.model.align(
        encoded, tokenizer.sot_sequence, [tokens + [tokenizer.eot]], num_frames
    )[0]
    return _timed(words, per_word, result, model.tokens_per_second, offset, duration)


def _timed(
    words: Sequence[TextWord],
    per_word: list[list[int]],
    result: Any,
    tokens_per_second: float,
    offset: float,
    duration: float,
) -> list[AlignedWord]:
    """Word spans from the alignment path, as faster-whisper's `find_alignment` computes them,
    with word boundaries taken from our own per-word tokens."""
    pairs = result.alignments
    text_indices = np.array([p[0] for p in pairs])
    time_indices = np.array([p[1] for p in pairs])
    jumps = np.pad(np.diff(text_indices), (1, 0), constant_values=1).astype(bool)
    jump_times = time_indices[jumps] / tokens_per_second
    probs = list(result.text_token_probs)
    boundaries = np.pad(np.cumsum([len(g) for g in per_word]), (1, 0))
    out: list[AlignedWord] = []
    last = len(jump_times) - 1
    for word, a, b in zip(words, boundaries[:-1], boundaries[1:], strict=True):
        if a == b:  # no token: the previous word's time
            start = out[-1].end if out else 0.0
            end = start
            probability = 0.0
        else:
            start = float(jump_times[min(int(a), last)])
            end = float(jump_times[min(int(b), last)])
            probability = float(np.mean(probs[int(a) : int(b)])) if probs[int(a) : int(b)] else 0.0
        start, end = min(start, duration), min(max(end, start), duration)
        out.append(
            AlignedWord(
                word.text, word.char_start, word.char_end, offset + start, offset + end, probability
            )
        )
    return out


def listener_for(engine: Engine) -> Callable[[np.ndarray, str], str]:
    """What the redaction proof listens with (`intake.review.redaction_proof.Listener`): the
    engine's
    model transcribing a few seconds of samples, without VAD (a silenced span must not be
    skipped as silence before the model hears what is around it), without the glossary's
    hotwords (they would prompt the very names that were removed)."""

    def listen(samples: np.ndarray, language: str) -> str:
        if samples.shape[0] < SAMPLE_RATE // 10:
            return ""
        segments, _ = engine.model.transcribe(
            samples,
            language=language if language in ARCHIVE_LANGUAGES else None,
            beam_size=engine.settings.beam_size,
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=True,
            # One decoding, no temperature fallback: a window that is mostly silence decodes
            # with a low probability, and the fallback would decode it five more times (it
            # did: 50 s a mark). Whether a name is heard needs the likeliest reading only.
            temperature=0.0,
        )
        return " ".join(seg.text.strip() for seg in segments)

    return listen


def align_pending(
    svc: Services, testimony: Testimony, progress: Progress
) -> list[tuple[int, str, list[AlignedWord]]]:
    """Align every segment of the testimony that waits for it: (segment id, the text it was
    aligned from, its words) for each."""
    with svc.db.session() as session:
        # Segments approved as the machine heard them keep the machine's times.
        alignment.align_unchanged(session, svc.keyring, testimony.id, svc.config.whisper_model)
    with svc.db.session() as session:
        waiting = alignment.pending(session, svc.keyring, testimony.id)
        files = [
            (a.id, a.access_name, transcripts.audio_key(svc.keyring, testimony, a))
            for a in session.scalars(
                select(AudioFile).where(AudioFile.testimony_id == testimony.id)
            )
        ]
    engine = transcription.engine_for(svc)
    done: list[tuple[int, str, list[AlignedWord]]] = []
    total = max(len(waiting), 1)
    for audio_file_id, name, key in files:
        mine = [p for p in waiting if p.audio_file_id == audio_file_id]
        if not mine:
            continue
        with svc.store.open(key, testimony.storage_id, name) as reader:
            spans = [(p.window_start, p.window_end) for p in mine]
            for index, samples in iter_spans(reader, spans):
                item = mine[index]
                words = align_words(engine, samples, item.words, item.language, item.window_start)
                done.append((item.segment_id, item.text, words))
                progress.set(len(done) / total)
    return done


def _claim(svc: Services, job_id: int) -> tuple[jobs.Claim, Testimony] | None:
    """Claim the job; None when there is nothing to do. Unlike transcription, a failed
    alignment never moves the testimony (it may be in review): the failure stays on the job,
    and the export holds the record back (`alignment_pending`) until an alignment succeeds."""
    cfg = svc.config
    with svc.db.session() as session:
        held = jobs.claim(session, job_id, cfg.job_lease_s)
        if held is None:
            return None
        job = session.get(Job, job_id)
        testimony = session.get(Testimony, job.testimony_id) if job else None
        if job is None or testimony is None or testimony.wrapped_key is None:
            jobs.cancel(session, held)  # withdrawn meanwhile: nothing to align
            return None
        if held.attempt > cfg.job_max_attempts:
            jobs.fail(
                session, held, job.last_error or "worker died", max_attempts=0, retry_base_s=0
            )
            return None
        session.expunge(testimony)
        return held, testimony


@shared_task(name="workers.alignment.run_alignment", **JOB_TASK_OPTIONS)
def run_alignment(job_id: int) -> None:
    """Align the reviewed words of the job's testimony to its audio. Safe to run twice (see
    the module doc)."""
    svc = services()
    cfg = svc.config
    claimed = _claim(svc, job_id)
    if claimed is None:
        return
    held, testimony = claimed
    progress = Progress()
    try:
        with lease_kept(svc, held, progress):
            results = align_pending(svc, testimony, progress)
        with svc.db.sessions() as session:
            if not jobs.complete(session, held):
                session.rollback()  # another worker took over; its alignment counts
                return
            for segment_id, text, words in results:
                alignment.store(
                    session, svc.keyring, segment_id, text, words, cfg.whisper_model, Actor.worker
                )
            session.commit()
    except Exception:  # noqa: BLE001 - every failure is recorded on the job
        with svc.db.session() as session:
            jobs.fail(
                session,
                held,
                traceback.format_exc(limit=5),
                max_attempts=cfg.job_max_attempts,
                retry_base_s=cfg.job_retry_base_s,
            )
