"""`testimony status` on a database with work in it: counts by state and job status, the
outbox, what is being transcribed, and what needs a person and why."""

from __future__ import annotations

import json

from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.cli import main
from intake.config import Config
from intake.models import Job, Testimony, TestimonyState
from intake.records import jobs, lifecycle
from tests import audio_fixtures as fx
from tests.support import csrf_token, receipt_code, submit

REASON = "job 4 (transcribe): decoder gave up at 00:41"


def _env(config: Config) -> dict[str, str]:
    return {
        "TESTIMONY_INSTANCE_PATH": str(config.instance_path),
        "TESTIMONY_DATABASE_URL": config.database_url,
        "TESTIMONY_BROKER_URL": config.broker_url,
        "TESTIMONY_MODEL_CACHE_DIR": str(config.model_cache_dir),
    }


def _new(app: Flask, client: FlaskClient, **consent: str) -> tuple[int, str]:
    """Submit one recording; return the new testimony's id and receipt code."""
    response = submit(client, [(fx.tone_wav(0.5), "a.wav")], consent=consent or None)
    assert response.status_code == 200
    with app.extensions["testimony"].db.session() as s:
        newest = s.scalars(select(Testimony.id).order_by(Testimony.id.desc())).first()
    assert newest is not None
    return newest, receipt_code(response)


def _job_of(session: Session, testimony_id: int) -> Job:
    return session.scalars(select(Job).where(Job.testimony_id == testimony_id)).one()


def _populate(app: Flask, client: FlaskClient) -> dict[str, str]:
    """Testimonies in five states, two of them queued (one still in the outbox); returns the
    pseudonyms by state."""
    db = app.extensions["testimony"].db
    waiting, _ = _new(app, client)  # queued, its message sent
    unsent, _ = _new(app, client)
    received, _ = _new(app, client, archive="y")  # no transcription consent: no job
    working, _ = _new(app, client)
    stuck, _ = _new(app, client)
    gone, code = _new(app, client)
    token = csrf_token(client, "/receipt")
    withdrawn = client.post(
        "/receipt/withdraw", data={"csrf_token": token, "code": code, "confirm": "y"}
    )
    assert withdrawn.status_code == 200
    with db.session() as s:
        _job_of(s, unsent).published_at = None  # the broker never got this one: the outbox
    with db.session() as s:
        held = jobs.claim(s, _job_of(s, working).id, lease_s=600)
        assert held is not None
        testimony = s.get(Testimony, working)
        assert testimony is not None
        lifecycle.transition(s, testimony, TestimonyState.transcribing, "worker")
        testimony.progress = 0.25
    with db.session() as s:
        held = jobs.claim(s, _job_of(s, stuck).id, lease_s=600)
        assert held is not None
        assert jobs.fail(s, held, "decoder", max_attempts=1, retry_base_s=1) is True
        testimony = s.get(Testimony, stuck)
        assert testimony is not None
        testimony.attention_reason = REASON
        lifecycle.transition(s, testimony, TestimonyState.needs_attention, "worker", "job_failed")
    with db.session() as s:
        names = {
            row.id: row.pseudonym for row in s.execute(select(Testimony.id, Testimony.pseudonym))
        }
    return {
        "received": names[received],
        "transcribing": names[working],
        "needs_attention": names[stuck],
        "withdrawn": names[gone],
    }


def test_status_json_counts_every_state_job_and_the_reason(
    app: Flask, client: FlaskClient, migrated: Config
) -> None:
    pseudonyms = _populate(app, client)
    result = CliRunner().invoke(main, ["status", "--json"], env=_env(migrated))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)

    expected_states = {state.value: 0 for state in TestimonyState}
    expected_states.update(queued=2, received=1, transcribing=1, needs_attention=1, withdrawn=1)
    assert report["testimonies"] == expected_states
    assert report["jobs"] == {
        "queued": 2,
        "running": 1,
        "done": 0,
        "failed": 1,
        "cancelled": 1,
    }
    assert report["outbox_unpublished"] == 1
    assert report["transcribing"] == [{"pseudonym": pseudonyms["transcribing"], "progress": 0.25}]
    [attention] = report["needs_attention"]
    assert attention["pseudonym"] == pseudonyms["needs_attention"]
    assert attention["reason"] == REASON
    assert attention["since"]
    # Five messages went out at intake (the outbox one was marked unsent afterwards).
    assert report["broker_queues"]["transcribe"] == 5


def test_status_text_names_what_needs_attention(
    app: Flask, client: FlaskClient, migrated: Config
) -> None:
    pseudonyms = _populate(app, client)
    result = CliRunner().invoke(main, ["status"], env=_env(migrated))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "Waiting in the outbox (not yet sent to the broker): 1" in lines
    assert f"  transcribing {pseudonyms['transcribing']}: 25%" in lines
    assert "Needs attention: 1" in lines
    assert any(
        line.startswith(f"  {pseudonyms['needs_attention']} since ") and line.endswith(REASON)
        for line in lines
    )
