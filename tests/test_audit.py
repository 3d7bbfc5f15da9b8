"""The event log's vocabulary is closed: every action is labelled and grouped, and a word
outside it cannot be written."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError

from intake.config import Config
from intake.db import Database
from intake.events import Action, Actor, Group
from intake.models import Event
from intake.records import audit


def test_every_action_has_a_group_and_a_label() -> None:
    for action in Action:
        assert isinstance(action.group, Group)
        assert action.label and action.label[0].isupper()


def test_record_event_writes_the_enum_values(migrated: Config) -> None:
    db = Database(migrated.database_url)
    try:
        with db.session() as session:
            audit.record_event(session, None, Actor.system, Action.worker_lost, detail={"job": 1})
        with db.session() as session:
            event = session.scalars(select(Event)).one()
            assert (event.actor, event.action) == (Actor.system, Action.worker_lost)
            assert event.detail == {"job": 1}
    finally:
        db.dispose()


def test_a_word_outside_the_vocabulary_is_refused(migrated: Config) -> None:
    db = Database(migrated.database_url)
    try:
        with pytest.raises(ValueError), db.session() as session:
            audit.record_event(session, None, Actor.system, "made_up")  # type: ignore[arg-type]
        # Even written past `record_event`, the column refuses it.
        with pytest.raises(StatementError), db.session() as session:
            session.add(Event(actor="system", action="made_up"))
            session.flush()
    finally:
        db.dispose()


def _write(db: Database, count: int, testimony_id: int | None = None) -> None:
    for n in range(count):
        with db.session() as session:
            audit.record_event(
                session, testimony_id, Actor.worker, Action.transcript_stored, detail={"n": n}
            )


@pytest.fixture
def chain_db(migrated: Config) -> Iterator[Database]:
    db = Database(migrated.database_url)
    yield db
    db.dispose()


def _verdict(db: Database, expected_head: str | None = None) -> audit.Verdict:
    with db.session() as session:
        return audit.verify(session, expected_head)


def _sql(db: Database, statement: str) -> None:
    with db.engine.begin() as conn:
        conn.execute(text(statement))


def test_an_untouched_chain_verifies(chain_db: Database) -> None:
    _write(chain_db, 5)
    verdict = _verdict(chain_db)
    assert verdict.ok and verdict.entries == 5
    with chain_db.session() as session:
        assert verdict.head == audit.head(session)
        assert audit.head(session).startswith("5:")


@pytest.mark.parametrize(
    ("tamper", "bad"),
    [
        ("UPDATE event SET detail = '{\"n\": 99}' WHERE seq = 3", 3),
        ("UPDATE event SET actor = 'submitter' WHERE seq = 2", 2),
        ("DELETE FROM event WHERE seq = 3", 3),
        # Reorder: entries 2 and 4 swap places (through a free number, seq is unique).
        (
            "UPDATE event SET seq = 100 WHERE seq = 2; UPDATE event SET seq = 2 WHERE seq = 4; "
            "UPDATE event SET seq = 4 WHERE seq = 100",
            2,
        ),
    ],
)
def test_an_edited_deleted_or_reordered_entry_is_named(
    chain_db: Database, tamper: str, bad: int
) -> None:
    _write(chain_db, 5)
    for statement in tamper.split("; "):
        _sql(chain_db, statement)
    verdict = _verdict(chain_db)
    assert not verdict.ok
    assert verdict.first_bad_seq == bad


def test_a_cut_end_is_found_against_a_head_written_down(chain_db: Database) -> None:
    _write(chain_db, 5)
    with chain_db.session() as session:
        written_down = audit.head(session)
        fourth = session.scalar(select(Event.hash).where(Event.seq == 4))
    # A careful intruder removes the last entry and mends the head row to match.
    _sql(chain_db, "DELETE FROM event WHERE seq = 5")
    with chain_db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_head SET seq = 4, hash = :h"), {"h": fourth})
    assert _verdict(chain_db).ok  # the shorter chain is whole in itself...
    verdict = _verdict(chain_db, written_down)
    assert not verdict.ok and verdict.first_bad_seq == 5  # ...but not against the head


def test_concurrent_writers_never_fork_the_chain(chain_db: Database) -> None:
    threads = [threading.Thread(target=_write, args=(chain_db, 15)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    verdict = _verdict(chain_db)
    assert verdict.ok and verdict.entries == 60, verdict


def test_the_command_exits_1_on_a_broken_chain(chain_db: Database, migrated: Config) -> None:
    from click.testing import CliRunner

    from intake.cli import main

    _write(chain_db, 3)
    env = {
        "TESTIMONY_INSTANCE_PATH": str(migrated.instance_path),
        "TESTIMONY_DATABASE_URL": migrated.database_url,
    }
    runner = CliRunner()
    head = runner.invoke(main, ["audit", "head"], env=env)
    assert head.exit_code == 0 and head.output.startswith("3:")
    assert (
        runner.invoke(main, ["audit", "verify", "--head", head.output.strip()], env=env).exit_code
        == 0
    )
    _sql(chain_db, "UPDATE event SET action = 'received' WHERE seq = 2")
    broken = runner.invoke(main, ["audit", "verify"], env=env)
    assert broken.exit_code == 1 and "entry 2" in broken.output


def test_an_entry_edited_with_its_own_hash_recomputed_breaks_the_next_link(
    chain_db: Database, migrated: Config
) -> None:
    """A careful intruder edits entry 3 and gives it a hash that fits its new content: only
    the next entry's link to the one before it (`prev_hash`) still tells, so the command must
    compare every link, with and without a head written down."""
    from click.testing import CliRunner

    from intake.cli import main

    _write(chain_db, 5)
    env = {
        "TESTIMONY_INSTANCE_PATH": str(migrated.instance_path),
        "TESTIMONY_DATABASE_URL": migrated.database_url,
    }
    runner = CliRunner()
    head = runner.invoke(main, ["audit", "head"], env=env).output.strip()
    with chain_db.session() as session:
        event = session.scalars(select(Event).where(Event.seq == 3)).one()
        event.detail = {"n": 99}
        event.hash = audit._hash_of(event)  # noqa: SLF001
    for args in (["audit", "verify"], ["audit", "verify", "--head", head]):
        result = runner.invoke(main, args, env=env)
        assert result.exit_code == 1, (args, result.output)
        assert "entry 4" in result.output, result.output
    verdict = _verdict(chain_db, head)
    assert not verdict.ok and verdict.first_bad_seq == 4
