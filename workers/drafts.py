"""Machine translation drafts: Whisper's translate task over each approved segment's span.

The job is queued when a Persian transcript is approved and the submitter consented to
translation (`intake.review.translation.queue_drafts`). It claims the job like every job task
(`workers.transcription`), decodes the access copy once, translates each approved segment's
time span on its own, and stores one sealed draft per segment id through
`intake.review.translation.add_drafts`, in the transaction that marks the job done, only while it
holds the claim. A draft is stored only when `intake.review.draft_quality.judge` finds it likely
useful (its language, its length against the source segment's, Whisper's own log-probability
and compression ratio, a back-check); the others are counted in the job's event, never shown.
Safe to run twice: a segment that has a draft keeps it.
"""

from __future__ import annotations

import logging
import traceback

from celery import shared_task
from sqlalchemy.orm import Session

from intake.events import Actor
from intake.models import AudioFile, Segment, Testimony
from intake.records import jobs
from intake.review import draft_quality, transcripts, translation
from intake.services import Services, services
from workers import transcription
from workers.engine import SpanDraft
from workers.transcription import JOB_TASK_OPTIONS, Progress, hotwords_for, lease_kept

log = logging.getLogger(__name__)


def _source_texts(
    svc: Services, session: Session, testimony: Testimony, spans: list[translation.Span]
) -> dict[int, str]:
    """The approved text of each span's segment, which a draft is measured against."""
    key = transcripts.testimony_key(svc.keyring, testimony)
    texts: dict[int, str] = {}
    for span in spans:
        seg = session.get(Segment, span.segment_id)
        texts[span.segment_id] = transcripts.unseal_segment(key, seg).text if seg else ""
    return texts


def worth_offering(draft: SpanDraft, source_text: str) -> bool:
    """Whether a draft is likely useful enough to offer (`intake.review.draft_quality`)."""
    measures = draft_quality.Measures(
        draft.text, draft.avg_logprob, draft.compression_ratio, draft.no_speech_prob
    )
    return draft_quality.judge(measures, source_text, "en").offered


def _translate(
    svc: Services, testimony: Testimony, audio_file_id: int, progress: Progress
) -> tuple[dict[int, str], int]:
    """Draft texts worth offering, by segment id, for one file (empty when it has no approved
    segment or no draft passes `worth_offering`), and how many spans' drafts were withheld."""
    with svc.db.session() as session:
        audio_row = session.get(AudioFile, audio_file_id)
        if audio_row is None:
            raise LookupError(f"audio file {audio_file_id} is gone")
        access_name = audio_row.access_name
        # Each file has a key of its own (added audio); older rows use the testimony's.
        key = transcripts.audio_key(svc.keyring, testimony, audio_row)
        language, spans = translation.draft_spans(session, audio_file_id)
        hotwords = hotwords_for(svc, session, language)
        sources = _source_texts(svc, session, testimony, spans)
    if not spans or not translation.drafts_possible(language):
        return {}, 0
    with svc.store.open(key, testimony.storage_id, access_name) as reader:
        drafts = transcription.engine_for(svc).draft_spans(
            reader,
            [(s.start_s, s.end_s) for s in spans],
            language=language,
            hotwords=hotwords or None,
            progress=progress.set,
        )
    kept = {
        span.segment_id: draft.text
        for span, draft in zip(spans, drafts, strict=True)
        if worth_offering(draft, sources[span.segment_id])
    }
    log.info("drafts: %d of %d worth offering", len(kept), len(spans))
    return kept, len(spans) - len(kept)


@shared_task(name="workers.drafts.run_translation_draft", **JOB_TASK_OPTIONS)
def run_translation_draft(job_id: int) -> None:
    """Draft an English translation of each approved segment of one Persian file. Safe to run
    twice (see the module doc)."""
    svc = services()
    started = transcription._start(svc, job_id)
    if started is None:
        return
    held, job, testimony = started
    progress = Progress()
    try:
        with lease_kept(svc, held, progress):
            drafts, withheld = _translate(svc, testimony, job.audio_file_id or 0, progress)
    except Exception:  # noqa: BLE001 - every failure is recorded on the job
        transcription._failed(svc, held, traceback.format_exc(limit=5))
        return
    with svc.db.sessions() as session:
        if not jobs.complete(session, held):
            session.rollback()  # another worker took over; its drafts count
            return
        fresh = session.get(Testimony, testimony.id)
        if fresh is None or fresh.wrapped_key is None:
            session.rollback()
            return
        translation.add_drafts(
            session,
            svc.keyring,
            fresh,
            job.id,
            drafts,
            svc.config.whisper_model,
            Actor.worker,
            withheld=withheld,
        )
        session.commit()
