"""Search across approved text through the blind index: Persian spellings, parts of words, the
records each role opens, indexing at approval and at translation approval, removal at
withdrawal, a wrong key, pages, the rebuild command and the page itself."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import func, select

from intake.config import Config
from intake.crypto import Keyring
from intake.events import Action, Actor
from intake.models import (
    Event,
    Role,
    SearchEntry,
    Segment,
    Testimony,
    TestimonyState,
    Transcript,
)
from intake.public import consent, submissions
from intake.records import lifecycle, record_access
from intake.review import review, search_index, transcripts, translation
from tests import audio_fixtures as fx
from tests.staff_support import ready_account, result_of, sign_in, staff_client
from tests.support import ALL_CONSENT, submit
from tests.translation_support import approved_testimony, source_segments

REVIEWER, APPROVER = "account:901", "account:902"
INDEXER = frozenset({Role.indexer})
TEXTS = (
    "پدرم را به زندان قزل‌حصار بردند",  # half-space inside a name
    "ما در اوين بوديم، در مرداد ۱۳۶۷",  # Arabic yeh, Persian digits
    "كتاب‌ها را بردند و دیگر خبری نشد",  # Arabic kaf, half-space before a suffix
)


def keys_of(staff_app: Flask) -> Keyring:
    """The staff app's keys: the archive's private key and the search key."""
    keyring: Keyring = staff_app.extensions["testimony"].keyring
    return keyring


def reviewed(
    public_app: Flask,
    keyring: Keyring | None,
    texts: Sequence[str],
    *,
    consent: dict[str, str] | None = None,
    approve_last: bool = True,
) -> str:
    """A Persian record submitted, transcribed as the worker stores it, and approved segment by
    segment through `review.approve` with `keyring` (the last approval indexes it)."""
    client = public_app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    response = submit(client, [(fx.tone_wav(2.0), "a.wav")], consent=consent or ALL_CONSENT)
    assert response.status_code == 200
    svc = public_app.extensions["testimony"]
    spoken = result_of(texts)
    spoken.language = "fa"
    work_keys = Keyring.load(archive=svc.config.archive_keys, private=True, create=False)
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).order_by(Testimony.id.desc())).first()
        assert t is not None
        lifecycle.transition(s, t, TestimonyState.transcribing, Actor.worker)
        stored = transcripts.add_transcript(
            s, work_keys, t, t.audio_files[0].id, None, spoken, "test", Actor.worker
        )
        assert stored is not None
        transcripts.finish_if_complete(s, t, Actor.worker)
        review.start_review(s, t, REVIEWER)
        segments = s.scalars(
            select(Segment).where(Segment.transcript_id == stored.id).order_by(Segment.position)
        ).all()
        for seg in segments if approve_last else segments[:-1]:
            review.approve(s, t, seg.id, seg.version, APPROVER, keyring)
        return t.pseudonym


def find(
    app: Flask,
    keyring: Keyring,
    text: str,
    *,
    partial: bool = False,
    roles: frozenset[Role] = INDEXER,
    after: int = 0,
    window: int = search_index.WINDOW,
) -> search_index.Page:
    """Search as the staff app does."""
    with app.extensions["testimony"].db.session() as s:
        query = search_index.parse(text, partial)
        return search_index.search(s, keyring, roles, query, after, window=window)


def plain(page: search_index.Page) -> list[str]:
    """The hits' texts without their marks."""
    return [re.sub(r"</?mark>", "", str(h.text)) for h in page.hits]


def entries(app: Flask, pseudonym: str) -> int:
    """How many index rows the record has."""
    with app.extensions["testimony"].db.session() as s:
        return s.scalar(
            select(func.count())
            .select_from(SearchEntry)
            .join(Testimony, Testimony.id == SearchEntry.testimony_id)
            .where(Testimony.pseudonym == pseudonym)
        )


def test_a_word_is_found_in_every_spelling(app: Flask, staff_app: Flask) -> None:
    keys = keys_of(staff_app)
    pseudonym = reviewed(app, keys, TEXTS)
    # The index holds the Arabic-letter spelling; both spellings find it.
    for spelling in ("اوین", "اوين", "اوِین"):
        page = find(app, keys, spelling)
        assert plain(page) == [TEXTS[1]], spelling
        assert "<mark>اوين</mark>" in str(page.hits[0].text)
        assert page.hits[0].pseudonym == pseudonym and page.hits[0].language == "fa"
    for spelling in ("کتابها", "كتاب‌ها", "کتاب", "ها"):  # joined, half-space, and each half
        assert plain(find(app, keys, spelling)) == [TEXTS[2]], spelling
    for spelling in ("قزل‌حصار", "قزلحصار", "حصار"):
        assert plain(find(app, keys, spelling)) == [TEXTS[0]], spelling
    assert plain(find(app, keys, "1367")) == [TEXTS[1]]  # Persian digits, typed in ASCII
    assert plain(find(app, keys, "مرداد ۱۳۶۷")) == [TEXTS[1]]  # every word must be there
    assert plain(find(app, keys, "مرداد زندان")) == []
    assert plain(find(app, keys, "بردند")) == [TEXTS[0], TEXTS[2]]  # in order


def test_part_of_a_word_is_found_only_when_asked(app: Flask, staff_app: Flask) -> None:
    keys = keys_of(staff_app)
    reviewed(app, keys, TEXTS)
    assert plain(find(app, keys, "زندا")) == []
    assert plain(find(app, keys, "زندا", partial=True)) == [TEXTS[0]]
    page = find(app, keys, "ندا", partial=True)
    assert plain(page) == [TEXTS[0]] and "ز<mark>ندا</mark>ن" in str(page.hits[0].text)
    assert plain(find(app, keys, "كتا", partial=True)) == [TEXTS[2]]  # the kaf folds too
    # Both pieces of "بردا" ("برد", "ردا") are in this segment, in two words: the index offers
    # it as a candidate, the check after opening refuses it.
    reviewed(app, keys, ["بردند و فردا آمدند"])
    assert plain(find(app, keys, "بردا", partial=True)) == []
    assert plain(find(app, keys, "فردا", partial=True)) == ["بردند و فردا آمدند"]
    with pytest.raises(search_index.SearchError) as short:
        search_index.parse("زن", partial=True)
    assert short.value.reason == "short"
    with pytest.raises(search_index.SearchError):
        search_index.parse(" ،؛ ")


def test_no_hit_outside_the_records_the_roles_open(app: Flask, staff_app: Flask) -> None:
    keys = keys_of(staff_app)
    no_translation = {**ALL_CONSENT, "translate": ""}
    reviewed(app, keys, ["زندان اوین"], consent=no_translation)
    open_to_all = reviewed(app, keys, ["زندان قزل‌حصار"])
    assert len(find(app, keys, "زندان").hits) == 2
    # A translator works only where the submitter consented to translation.
    hits = find(app, keys, "زندان", roles=frozenset({Role.translator})).hits
    assert [h.pseudonym for h in hits] == [open_to_all]
    # A reviewer's records end at the approval; an archivist or admin reads no transcript here.
    for roles in ({Role.reviewer}, {Role.archivist, Role.admin, Role.custodian}, set()):
        assert find(app, keys, "زندان", roles=frozenset(roles)).hits == []


def test_the_last_approval_indexes_the_transcript(app: Flask, staff_app: Flask) -> None:
    keys = keys_of(staff_app)
    waiting = reviewed(app, keys, TEXTS, approve_last=False)
    assert entries(app, waiting) == 0
    assert find(app, keys, "اوین").hits == []
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == waiting)).one()
        last = s.scalars(
            select(Segment)
            .join(Transcript)
            .where(Transcript.testimony_id == t.id)
            .order_by(Segment.position.desc())
        ).first()
        assert last is not None
        review.approve(s, t, last.id, last.version, APPROVER, keys)
        assert t.state == TestimonyState.transcript_approved
    assert entries(app, waiting) == len(TEXTS)
    assert plain(find(app, keys, "اوین")) == [TEXTS[1]]


def test_an_approved_translation_is_indexed_with_its_transcript(
    app: Flask, staff_app: Flask
) -> None:
    keys = keys_of(staff_app)
    pseudonym = approved_testimony(app, ["پدرم در اوین بود"], consent=ALL_CONSENT)
    (seg,) = source_segments(app, pseudonym)
    with app.extensions["testimony"].db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        translation.save(
            s, keys, t, seg.id, "My father was in Evin", seg.version, 0, "account:1", 4000
        )
        translation.approve(s, t, seg.id, 1, "account:2", keys)
        assert t.state == TestimonyState.approved
    page = find(app, keys, "EVIN")
    assert plain(page) == ["My father was in Evin"]
    assert page.hits[0].translated and page.hits[0].language == "en"
    assert plain(find(app, keys, "اوین")) == ["پدرم در اوین بود"]  # the transcript too
    assert entries(app, pseudonym) == 2


def test_narrowing_translation_consent_removes_the_translation_entries(
    app: Flask, staff_app: Flask
) -> None:
    keys = keys_of(staff_app)
    pseudonym = approved_testimony(app, ["پدرم در اوین بود"], consent=ALL_CONSENT)
    (seg,) = source_segments(app, pseudonym)
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        translation.save(s, keys, t, seg.id, "In Evin", seg.version, 0, "account:1", 4000)
        translation.approve(s, t, seg.id, 1, "account:2", keys)
    assert entries(app, pseudonym) == 2
    # The public side deletes the translations (it holds no key to re-index): their entries
    # go with them (the foreign key cascades), the transcript's stay.
    with svc.db.sessions() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        consent.narrow(s, t, {"translate"})
    assert entries(app, pseudonym) == 1
    assert find(app, keys, "Evin").hits == [] and len(find(app, keys, "اوین").hits) == 1


def test_withdrawal_removes_the_entries(app: Flask, staff_app: Flask) -> None:
    keys = keys_of(staff_app)
    gone = reviewed(app, keys, TEXTS)
    kept = reviewed(app, keys, ["اوین"])
    assert entries(app, gone) == len(TEXTS)
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == gone)).one()
        submissions.withdraw(s, svc.store, t)
    assert entries(app, gone) == 0 and entries(app, kept) == 1
    assert [h.pseudonym for h in find(app, keys, "اوین").hits] == [kept]


def test_a_wrong_key_finds_nothing(app: Flask, staff_app: Flask, tmp_path: Path) -> None:
    keys = keys_of(staff_app)
    reviewed(app, keys, TEXTS)
    config = app.extensions["testimony"].config
    other = Keyring.load(
        archive=config.archive_keys, private=True, search=tmp_path / "other.key", create=True
    )
    assert other.search_key != keys.search_key
    assert find(app, other, "اوین").hits == []
    assert find(app, other, "زندا", partial=True).hits == []
    assert len(find(app, keys, "اوین").hits) == 1


def test_pages_continue_after_the_last_candidate(app: Flask, staff_app: Flask) -> None:
    keys = keys_of(staff_app)
    texts = [f"روز {n} در اوین" if n % 3 else f"روز {n} در خانه" for n in range(36)]
    reviewed(app, keys, texts)
    wanted = [t for t in texts if "اوین" in t]
    first = find(app, keys, "اوین")
    assert plain(first) == wanted[: search_index.PAGE_SIZE] and first.next_after is not None
    second = find(app, keys, "اوین", after=first.next_after)
    assert plain(second) == wanted[search_index.PAGE_SIZE :] and second.next_after is None
    # The same pages when few entries are read in id order before the token index is asked
    # (on PostgreSQL; SQLite has one way): the two steps join without a gap or a repeat.
    for window in (1, 4, 7, 25, 30):
        first = find(app, keys, "اوین", window=window)
        assert plain(first) == wanted[: search_index.PAGE_SIZE], window
        second = find(app, keys, "اوین", after=first.next_after or 0, window=window)
        assert plain(second) == wanted[search_index.PAGE_SIZE :], window


def test_reindex_rebuilds_under_a_new_key(app: Flask, staff_app: Flask, config: Config) -> None:
    from intake.cli import main

    keys = keys_of(staff_app)
    pseudonym = reviewed(app, keys, TEXTS)
    with app.extensions["testimony"].db.session() as s:
        s.execute(SearchEntry.__table__.delete())
    config.search_key_file.write_bytes(b"\x07" * 32)  # the old key leaked: a new one
    env = {
        "TESTIMONY_INSTANCE_PATH": str(config.instance_path),
        "TESTIMONY_DATABASE_URL": config.database_url,
    }
    result = CliRunner().invoke(main, ["search", "reindex"], env=env)
    assert result.exit_code == 0, result.output
    assert "1 records, 3 segments" in result.output
    new = Keyring.load(
        archive=config.archive_keys, private=True, search=config.search_key_file, create=False
    )
    assert [h.pseudonym for h in find(app, new, "اوین").hits] == [pseudonym]
    assert find(app, keys, "اوین").hits == []


def test_the_page_shows_hits_and_records_the_open(app: Flask, staff_app: Flask) -> None:
    keys = keys_of(staff_app)
    pseudonym = reviewed(app, keys, TEXTS)
    indexer = ready_account(staff_app, "indexer@example.org", [Role.indexer])
    admin = ready_account(staff_app, "admin@example.org", [Role.admin])
    client = staff_client(staff_app)
    sign_in(client, indexer)
    assert 'class="nav-search"' in client.get("/staff/").get_data(as_text=True)
    html = client.get("/staff/search", query_string={"q": "اوین"}).get_data(as_text=True)
    assert f"/staff/index/{pseudonym}?t=0" in html
    assert "<mark>اوين</mark>" in html and pseudonym in html
    with app.extensions["testimony"].db.session() as s:
        opened = s.scalars(
            select(Event).where(
                Event.account_id == indexer.id, Event.action == Action.content_opened
            )
        ).all()
        assert len(opened) == 1 and opened[0].detail == {"role": "indexer"}
    short = client.get("/staff/search", query_string={"q": "زن", "part": "1"})
    assert "at least three letters" in short.get_data(as_text=True)
    outsider = staff_client(staff_app)
    sign_in(outsider, admin)
    assert 'class="nav-search"' not in outsider.get("/staff/").get_data(as_text=True)
    assert outsider.get("/staff/search", query_string={"q": "اوین"}).status_code == 403
    # A reviewer's records end where the index begins: it is offered no box that can never
    # find anything, and the page is closed to it.
    reviewer = ready_account(staff_app, "reviewer@example.org", [Role.reviewer])
    alone = staff_client(staff_app)
    sign_in(alone, reviewer)
    assert 'class="nav-search"' not in alone.get("/staff/").get_data(as_text=True)
    assert alone.get("/staff/search", query_string={"q": "اوین"}).status_code == 403


def test_every_role_offered_search_can_find_something() -> None:
    """Each role given the box works on some state the index holds text of, and with the
    consent that text needs; no role that opens approved transcripts is left without it."""
    for role in search_index.SEARCH_ROLES:
        work = record_access.WORK[role]
        assert set(work.states) & set(search_index.INDEXED_STATES), role
        assert work.consent in {"transcribe", "translate"}, role
    readers = {
        role
        for role, work in record_access.WORK.items()
        if work.consent is not None and set(work.states) & set(search_index.INDEXED_STATES)
    }
    assert readers == set(search_index.SEARCH_ROLES)
