"""Retention: the admins' settings page, and the rules the upkeep sweep applies, each run an
event. Real database and store; time is moved by passing the sweep a later `now`."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import func, select

from intake import sealing
from intake.events import Action, Actor
from intake.models import (
    AudioFile,
    Consent,
    Event,
    RetentionSettings,
    ReviewState,
    Role,
    Segment,
    SegmentDraft,
    Testimony,
    TestimonyState,
    Transcript,
    utcnow,
)
from intake.public import submissions
from intake.records import lifecycle, retention
from intake.services import Services
from tests import audio_fixtures as fx
from tests.staff_support import ready_account, sign_in, staff_client
from tests.support import csrf_token, submit, worker_keyring
from workers import upkeep


def _submitted(app: Flask) -> int:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert submit(client, [(fx.tone_wav(1.0), "a.wav")]).status_code == 200
    with app.extensions["testimony"].db.session() as s:
        return s.scalars(select(Testimony.id).order_by(Testimony.id.desc())).first() or 0


def _forward_to(svc: Services, testimony_id: int, target: TestimonyState) -> None:
    """Walk the record forward one state at a time, as the staff app will."""
    order = list(TestimonyState)
    with svc.db.session() as s:
        testimony = s.get(Testimony, testimony_id)
        assert testimony is not None
        while testimony.state != target:
            nxt = order[order.index(testimony.state) + 1]
            lifecycle.transition(s, testimony, nxt, Actor.operator)


def _events(svc: Services, action: Action) -> list[Event]:
    with svc.db.session() as s:
        return list(s.scalars(select(Event).where(Event.action == action).order_by(Event.seq)))


def test_admin_sets_retention_and_a_bad_value_changes_nothing(app: Flask, staff_app: Flask) -> None:
    admin = ready_account(staff_app, "admin@example.org", [Role.admin])
    client = staff_client(staff_app)
    sign_in(client, admin)
    page = client.get("/staff/admin/retention").get_data(as_text=True)
    assert 'value="30"' in page and 'value="365"' in page  # the configuration's defaults
    token = csrf_token(client, "/staff/admin/retention")
    bad = client.post(
        "/staff/admin/retention",
        data={"csrf_token": token, "original_days": "-3", "tombstone_days": "90"},
    )
    assert bad.status_code == 400
    assert "Enter whole days, from 0 to 36500." in bad.get_data(as_text=True)
    svc = staff_app.extensions["testimony"]
    with svc.db.session() as s:
        assert s.scalar(select(func.count()).select_from(RetentionSettings)) == 0
    good = client.post(
        "/staff/admin/retention",
        data={"csrf_token": token, "original_days": "7", "tombstone_days": "90"},
    )
    assert good.status_code == 303
    with svc.db.session() as s:
        rules = retention.current(s, svc.config)
    assert rules == retention.Retention(7, False, 90)
    (changed,) = _events(svc, Action.retention_settings_changed)
    assert changed.account_id == admin.id
    assert changed.detail["after"] == {
        "original_days": 7,
        "drop_drafts": False,
        "tombstone_days": 90,
    }
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fa"
    assert "نگهداری" in client.get("/staff/admin/retention").get_data(as_text=True)


def test_the_sweep_applies_each_rule_once_an_interval_and_records_it(
    app: Flask, migrated: object
) -> None:
    svc: Services = app.extensions["testimony"]
    svc.config = svc.config.with_overrides(retention_interval_s=0.0)

    # An archived record whose original is kept although its consent (now) does not allow it.
    archived = _submitted(app)
    with svc.db.session() as s:
        consent = s.scalar(select(Consent).where(Consent.testimony_id == archived))
        assert consent is not None
        consent.archive = False
        testimony = s.get(Testimony, archived)
        assert testimony is not None
        original = testimony.audio_files[0].original_name
        storage_id = testimony.storage_id
        assert original is not None and original in svc.store.names(storage_id)
        key = sealing.testimony_key(worker_keyring(app), testimony.wrapped_key or b"")
        audio_id = testimony.audio_files[0].id
        transcript = Transcript(
            testimony_id=archived,
            audio_file_id=audio_id,
            language="fa",
            duration_s=1.0,
            model_name="base",
        )
        s.add(transcript)
        s.flush()
        segment = Segment(
            transcript_id=transcript.id,
            position=0,
            start_s=0.0,
            end_s=1.0,
            sealed=sealing.seal_segment(key, transcript.id, 0, {"text": "سلام", "words": []}),
            avg_logprob=-0.2,
            no_speech_prob=0.1,
            review_state=ReviewState.approved,
        )
        s.add(segment)
        s.flush()
        s.add(
            SegmentDraft(
                testimony_id=archived,
                segment_id=segment.id,
                target_language="en",
                sealed=sealing.seal_segment_draft(key, archived, segment.id, "hello"),
                model_name="base",
            )
        )
    _forward_to(svc, archived, TestimonyState.archived)
    # A record still in review keeps its draft; a withdrawn one becomes a tombstone.
    in_review = _submitted(app)
    _forward_to(svc, in_review, TestimonyState.in_review)
    withdrawn = _submitted(app)
    with svc.db.session() as s:
        testimony = s.get(Testimony, withdrawn)
        assert testimony is not None
        submissions.withdraw(s, svc.store, testimony)

    # The sweep deletes the archived record's draft (its translation is approved) at once.
    counts = upkeep.run_once(svc)
    assert counts["retention_runs"] == 1
    with svc.db.session() as s:
        assert s.scalar(select(func.count()).select_from(SegmentDraft)) == 0
        # Too early for the other rules: the run is still recorded.
        assert retention.apply(s, svc.store, svc.config) == {
            "originals": 0,
            "drafts": 0,
            "tombstones": 0,
        }
    later = utcnow() + timedelta(days=366)
    with svc.db.session() as s:
        done = retention.apply(s, svc.store, svc.config, now=later)
    assert done == {"originals": 1, "drafts": 0, "tombstones": 1}
    assert original not in svc.store.names(storage_id)
    assert svc.store.names(storage_id)  # the access copy stays
    with svc.db.session() as s:
        assert s.get(AudioFile, audio_id).original_name is None  # type: ignore[union-attr]
        assert s.scalar(select(func.count()).where(AudioFile.testimony_id == withdrawn)) == 0
        assert s.scalar(select(func.count()).where(Consent.testimony_id == withdrawn)) == 0
        tomb = s.get(Testimony, withdrawn)
        assert tomb is not None and tomb.state == TestimonyState.withdrawn
        assert tomb.pseudonym and tomb.withdrawn_at is not None
        # Nothing more to do on the next run.
        assert retention.apply(s, svc.store, svc.config, now=later) == {
            "originals": 0,
            "drafts": 0,
            "tombstones": 0,
        }
    runs = _events(svc, Action.retention_applied)
    assert len(runs) == 4 and all(e.actor == Actor.system for e in runs)
    assert [e.testimony_id for e in _events(svc, Action.original_deleted)] == [archived]
    assert [e.testimony_id for e in _events(svc, Action.machine_drafts_deleted)] == [archived]
    assert [e.testimony_id for e in _events(svc, Action.tombstone_reduced)] == [withdrawn]


def test_the_rules_run_once_an_interval_whichever_worker_sweeps(app: Flask) -> None:
    svc: Services = app.extensions["testimony"]
    with svc.db.session() as s:
        assert retention.apply(s, svc.store, svc.config) is not None
    with svc.db.session() as s:
        assert retention.apply(s, svc.store, svc.config) is None
    with svc.db.session() as s:
        later = utcnow() + timedelta(seconds=svc.config.retention_interval_s + 1)
        assert retention.apply(s, svc.store, svc.config, now=later) is not None
    assert len(_events(svc, Action.retention_applied)) == 2


def test_retention_never_deletes_an_original_the_submitter_agreed_to_keep(
    app: Flask, migrated: object
) -> None:
    """Two archived records, long past `original_days`: the one whose submitter agreed to
    archiving keeps its encrypted original (file and row); only the other loses it."""
    svc: Services = app.extensions["testimony"]
    kept, dropped = _submitted(app), _submitted(app)
    originals: dict[int, tuple[str, str]] = {}
    with svc.db.session() as s:
        consent = s.scalar(select(Consent).where(Consent.testimony_id == dropped))
        assert consent is not None
        consent.archive = False
        for testimony_id in (kept, dropped):
            testimony = s.get(Testimony, testimony_id)
            assert testimony is not None
            name = testimony.audio_files[0].original_name
            assert name is not None and name in svc.store.names(testimony.storage_id)
            originals[testimony_id] = (testimony.storage_id, name)
    for testimony_id in (kept, dropped):
        _forward_to(svc, testimony_id, TestimonyState.archived)
    later = utcnow() + timedelta(days=3660)
    with svc.db.session() as s:
        assert (
            retention.delete_originals(s, svc.store, retention.current(s, svc.config), later) == 1
        )
    storage_id, name = originals[kept]
    assert name in svc.store.names(storage_id)
    assert originals[dropped][1] not in svc.store.names(originals[dropped][0])
    with svc.db.session() as s:
        row = s.scalars(select(AudioFile).where(AudioFile.testimony_id == kept)).one()
        assert row.original_name == name
    assert [e.testimony_id for e in _events(svc, Action.original_deleted)] == [dropped]


def test_a_retention_setting_is_whole_days_from_0_to_36500(app: Flask) -> None:
    svc: Services = app.extensions["testimony"]
    with svc.db.session() as s:
        for bad in ("-1", "36501", "1.5", "", None):
            try:
                retention.save(s, svc.config, bad, True, 90, Actor.operator)
            except retention.RetentionError as refused:
                assert refused.reason == "original_days"
            else:
                raise AssertionError(f"{bad!r} was accepted")
            try:
                retention.save(s, svc.config, 30, True, bad, Actor.operator)
            except retention.RetentionError as refused:
                assert refused.reason == "tombstone_days"
            else:
                raise AssertionError(f"{bad!r} was accepted")
        assert retention.save(s, svc.config, "0", False, "36500", Actor.operator) == (
            retention.Retention(0, False, 36500)
        )


def _with_draft(app: Flask, testimony_id: int) -> None:
    """A machine translation draft of one segment of the record (what the worker writes)."""
    svc: Services = app.extensions["testimony"]
    with svc.db.session() as s:
        testimony = s.get(Testimony, testimony_id)
        assert testimony is not None
        key = sealing.testimony_key(worker_keyring(app), testimony.wrapped_key or b"")
        transcript = Transcript(
            testimony_id=testimony_id,
            audio_file_id=testimony.audio_files[0].id,
            language="fa",
            duration_s=1.0,
            model_name="base",
        )
        s.add(transcript)
        s.flush()
        segment = Segment(
            transcript_id=transcript.id,
            position=0,
            start_s=0.0,
            end_s=1.0,
            sealed=sealing.seal_segment(key, transcript.id, 0, {"text": "سلام", "words": []}),
            avg_logprob=-0.2,
            no_speech_prob=0.1,
            review_state=ReviewState.approved,
        )
        s.add(segment)
        s.flush()
        s.add(
            SegmentDraft(
                testimony_id=testimony_id,
                segment_id=segment.id,
                target_language="en",
                sealed=sealing.seal_segment_draft(key, testimony_id, segment.id, "hello"),
                model_name="base",
            )
        )


def _drafts(svc: Services, testimony_id: int) -> int:
    with svc.db.session() as s:
        found = s.scalar(
            select(func.count())
            .select_from(SegmentDraft)
            .where(SegmentDraft.testimony_id == testimony_id)
        )
        return int(found or 0)


def test_each_rule_waits_for_its_state_its_setting_and_its_day(app: Flask) -> None:
    svc: Services = app.extensions["testimony"]
    approved, translating, archived = _submitted(app), _submitted(app), _submitted(app)
    with svc.db.session() as s:
        for testimony_id in (approved, archived):
            consent = s.scalar(select(Consent).where(Consent.testimony_id == testimony_id))
            assert consent is not None
            consent.archive = False
    for testimony_id in (approved, translating, archived):
        _with_draft(app, testimony_id)
    _forward_to(svc, approved, TestimonyState.approved)
    _forward_to(svc, translating, TestimonyState.translation_review)
    _forward_to(svc, archived, TestimonyState.archived)
    with svc.db.session() as s:
        archived_at = s.scalar(
            select(func.max(Event.at)).where(
                Event.testimony_id == archived, Event.to_state == TestimonyState.archived.value
            )
        )
        assert archived_at is not None
    rules = retention.Retention(original_days=30, drop_drafts=False, tombstone_days=365)
    # Drafts stay while the setting says so; then they go once the translation is approved
    # (approved or archived), never before.
    with svc.db.session() as s:
        assert retention.save(s, svc.config, 30, False, 365, Actor.operator).drop_drafts is False
    svc.config = svc.config.with_overrides(retention_interval_s=0.0)
    with svc.db.session() as s:
        assert retention.apply(s, svc.store, svc.config)["drafts"] == 0  # type: ignore[index]
    assert [_drafts(svc, t) for t in (approved, translating, archived)] == [1, 1, 1]
    with svc.db.session() as s:
        retention.save(s, svc.config, 30, True, 365, Actor.operator)
    with svc.db.session() as s:
        assert retention.apply(s, svc.store, svc.config)["drafts"] == 2  # type: ignore[index]
    assert [_drafts(svc, t) for t in (approved, translating, archived)] == [0, 1, 0]

    # The original of an archived record goes on its day exactly, not a second before; an
    # approved record not yet archived keeps its original whatever the time.
    with svc.db.session() as s:
        early = archived_at + timedelta(days=30) - timedelta(seconds=1)
        assert retention.delete_originals(s, svc.store, rules, early) == 0
    with svc.db.session() as s:
        assert (
            retention.delete_originals(s, svc.store, rules, archived_at + timedelta(days=30)) == 1
        )
    with svc.db.session() as s:
        far = archived_at + timedelta(days=3650)
        assert retention.delete_originals(s, svc.store, rules, far) == 0
        kept = s.scalars(select(AudioFile).where(AudioFile.testimony_id == approved)).one()
        assert kept.original_name is not None
        assert kept.original_name in svc.store.names(s.get(Testimony, approved).storage_id)  # type: ignore[union-attr]
