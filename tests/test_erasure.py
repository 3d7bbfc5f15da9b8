"""Withdrawal erases every table that holds testimony content, found from the models' marks.

The first test reads the metadata: every table says what withdrawal does to it, and every
binary, text or JSON column outside an erased table says whether it goes. A table added later
without that declaration fails here. The second fills every erased table for two testimonies,
withdraws one, and checks that nothing of it remains while the other is untouched.
"""

from __future__ import annotations

import io
from datetime import date

from sqlalchemy import JSON, LargeBinary, Text, func, select
from sqlalchemy.orm import Session

from intake import sealing
from intake.config import Config
from intake.crypto import Keyring
from intake.db import Database
from intake.events import Actor
from intake.models import (
    Base,
    EntityKind,
    IdentityReveal,
    Language,
    NameRelease,
    RedactionCategory,
    RedactionMark,
    ReviewState,
    Role,
    SearchEntry,
    Segment,
    SegmentAlignment,
    SegmentDraft,
    Testimony,
    TestimonyState,
    Transcript,
    TranslationMark,
    TranslationSegment,
)
from intake.public import custodians, submissions
from intake.public.consent import ConsentChoices
from intake.records import accounts, erasure
from intake.review import (
    access_copies,
    entities,
    index_points,
    questions,
    redaction_proof,
    search_index,
)
from intake.storage import Store
from tests import audio_fixtures as fx


def test_every_table_and_content_column_declares_its_erasure() -> None:
    undeclared = []
    for table in Base.metadata.sorted_tables:
        plan = table.info.get("erase")
        if plan not in {erasure.ROWS, erasure.COLUMNS, erasure.KEEP, erasure.ORPHANS}:
            undeclared.append(table.name)
            continue
        if plan == erasure.ORPHANS:
            erasure.origin_column(table)  # one column names the record a row grew from
        if plan in {erasure.KEEP, erasure.ORPHANS} and not table.info.get("why"):
            undeclared.append(f"{table.name} (keep, but why?)")
        if plan == erasure.ROWS:
            continue
        for column in table.columns:
            if isinstance(column.type, LargeBinary | Text | JSON):
                mark = column.info.get("erase")
                if mark is None or (mark is False and not column.info.get("why")):
                    undeclared.append(f"{table.name}.{column.name}")
    assert undeclared == []


def _accept(session: Session, store: Store, keyring: Keyring, config: Config) -> int:
    choices = ConsentChoices(True, True, True, False, False, date(2030, 1, 1))
    receipt = submissions.accept(
        session,
        store,
        keyring,
        config,
        submissions.Submission(
            language=Language.fa,
            choices=choices,
            locale="en",
            name="Canary Name",
            contact="canary@example.org",
            removal_notes="Canary Street",
            uploads=[submissions.Upload(io.BytesIO(fx.tone_wav(1.0)), "a.wav")],
        ),
    )
    testimony = session.get(Testimony, receipt.testimony_id)
    assert testimony is not None and testimony.wrapped_key is not None
    key = sealing.testimony_key(keyring, testimony.wrapped_key)
    audio_id = testimony.audio_files[0].id
    transcript = Transcript(
        testimony_id=testimony.id,
        audio_file_id=audio_id,
        language="fa",
        duration_s=1.0,
        model_name="base",
    )
    session.add(transcript)
    session.flush()
    segment = Segment(
        transcript_id=transcript.id,
        position=0,
        start_s=0.0,
        end_s=1.0,
        sealed=sealing.seal_segment(key, transcript.id, 0, {"text": "canary", "words": []}),
        avg_logprob=-0.2,
        no_speech_prob=0.1,
        review_state=ReviewState.approved,
    )
    session.add(segment)
    session.flush()
    mark = RedactionMark(
        testimony_id=testimony.id,
        segment_id=segment.id,
        char_start=0,
        char_end=6,
        start_s=0.0,
        end_s=1.0,
        category=RedactionCategory.person,
        created_by="account:1",
    )
    session.add(mark)
    session.flush()
    # A marked person linked to a new entity of the register (which goes with it, orphaned).
    person = entities.facts_from_form(EntityKind.person, name_fa="Canary Name")
    entities.cite_new(
        session,
        keyring,
        testimony,
        EntityKind.person,
        person,
        "account:1",
        redaction_mark_id=mark.id,
    )
    session.add(
        SegmentDraft(
            testimony_id=testimony.id,
            segment_id=segment.id,
            target_language="en",
            sealed=sealing.seal_segment_draft(key, testimony.id, segment.id, "canary"),
            model_name="base",
        )
    )
    translated = TranslationSegment(
        testimony_id=testimony.id,
        segment_id=segment.id,
        target_language="en",
        sealed=sealing.seal_translation(key, testimony.id, segment.id, "canary"),
        source_version=1,
        state=ReviewState.edited,
    )
    session.add(translated)
    session.flush()
    # The search index's entries of the segment and of its translation (keyed tokens).
    tokens = search_index.tokens_of(b"k" * 32, "canary")
    for ids in ({"segment_id": segment.id}, {"translation_segment_id": translated.id}):
        session.add(SearchEntry(testimony_id=testimony.id, language="en", tokens=tokens, **ids))
    session.add(
        TranslationMark(
            testimony_id=testimony.id,
            translation_id=translated.id,
            char_start=0,
            char_end=6,
            category=RedactionCategory.person,
            created_by="account:1",
        )
    )
    # A custodian's reveal and name release (the identity's seals come with intake).
    reveal = IdentityReveal(testimony_id=testimony.id, account_id=1)
    session.add(reveal)
    session.flush()
    reveal.reason_sealed = sealing.seal_reveal_reason(keyring, reveal.id, "a checked reason")
    sealed_name = sealing.seal_released_name(keyring, testimony.id, "Canary Name")
    session.add(NameRelease(testimony_id=testimony.id, sealed=sealed_name, account_id=1))
    session.flush()
    access_copies.make_access_copies(session, keyring, store, config, testimony.id, Actor.worker)
    session.add(
        SegmentAlignment(
            testimony_id=testimony.id,
            segment_id=segment.id,
            sealed=sealing.seal_alignment(key, testimony.id, segment.id, {"text": "", "words": []}),
            model_name="base",
        )
    )
    redaction_proof.prove(
        session, keyring, store, config, testimony.id, lambda samples, language: "", "base"
    )
    session.commit()
    # A question to the submitter and its written answer (both sealed).
    question = questions.ask(session, keyring, 1, testimony, "canary question")
    session.add(question)
    question.answer = sealing.seal_answer(keyring, testimony.id, question.id, "canary answer")
    question.answered_at = question.asked_at
    # An index point (its words sealed), as an indexer adds one.
    words = index_points.PointText(index_points.Words("canary index title"))
    audio_id = testimony.audio_files[0].id
    index_points.add(session, keyring, testimony, audio_id, 0.0, words, "account:1")
    session.commit()
    return testimony.id


def _owned_rows(session: Session, testimony_id: int) -> dict[str, int]:
    counts = {}
    for table in Base.metadata.sorted_tables:
        if erasure.plan(table) == erasure.ROWS:
            where = erasure._owner_filter(table, testimony_id)  # noqa: SLF001
            counts[table.name] = session.scalar(
                select(func.count()).select_from(table).where(where)  # type: ignore[arg-type]
            )
    return counts


def test_withdrawal_erases_every_marked_table(migrated: Config) -> None:
    db = Database(migrated.database_url)
    store = Store(migrated.storage_path)
    store.ensure()
    migrated.temp_path.mkdir(parents=True, exist_ok=True)
    keyring = Keyring.load(
        archive=migrated.archive_keys,
        private=True,
        pepper=migrated.receipt_pepper_file,
        create=True,
    )
    try:
        with db.session() as session:
            accounts.create(session, "keeper@example.org", [Role.reviewer])
            cheap = migrated.with_overrides(custodian_kdf_passes=1, custodian_kdf_mib=8)
            custodians.add(session, keyring, cheap, "keeper@example.org", "a custodian's words")
        with db.sessions() as session:
            gone = _accept(session, store, keyring, migrated)
            kept = _accept(session, store, keyring, migrated)
            before = _owned_rows(session, gone)
            # Every erased table really holds rows of the testimony before withdrawal: a table
            # added later must be filled here too, or this test says so.
            assert all(before.values()), before
            testimony = session.get(Testimony, gone)
            assert testimony is not None
            submissions.withdraw(session, store, testimony)
        with db.sessions() as session:
            assert set(_owned_rows(session, gone).values()) == {0}
            assert _owned_rows(session, kept) == before
            withdrawn = session.get(Testimony, gone)
            assert withdrawn is not None and withdrawn.state == TestimonyState.withdrawn
            for table in Base.metadata.sorted_tables:
                if erasure.plan(table) != erasure.COLUMNS:
                    continue
                own = table.c.id == gone if table is Testimony.__table__ else None
                where = own if own is not None else erasure._owner_filter(table, gone)  # noqa: SLF001
                rows = session.execute(select(table).where(where)).mappings().all()  # type: ignore[arg-type]
                assert rows, table.name
                for row in rows:
                    for column in erasure.erased_columns(table):
                        assert row[column.name] is None, f"{table.name}.{column.name}"
            assert withdrawn.pseudonym and withdrawn.receipt_digest  # the tombstone
            other = session.get(Testimony, kept)
            assert other is not None and other.wrapped_key is not None
            assert other.removal_notes is not None
            assert all(f.sealed_key is not None for f in other.audio_files)
    finally:
        db.dispose()
