"""The record page: a record's consent versions, states and every event (who by account),
its files and copies and its marks count, and a preview of what will leave, built by the
export's own gathering: the marked span is silent in the audio it plays, and the text shows
the placeholder where the name was."""

from __future__ import annotations

import io

import numpy as np
from faster_whisper.audio import decode_audio
from flask import Flask

from intake.export import gather
from intake.models import Role
from intake.review import record_overview
from tests.export.approved import approved_record
from tests.export.test_export_runs import NAMED
from tests.staff_support import ready_account, sign_in, staff_client


def level(samples: np.ndarray, start_s: float, end_s: float, rate: int = 16000) -> float:
    """The RMS level of a stretch of decoded audio."""
    part = samples[int(start_s * rate) : int(end_s * rate)]
    return float(np.sqrt(np.mean(np.square(part)))) if part.size else 0.0


def test_the_record_page_shows_history_and_previews_what_will_leave(
    app: Flask, staff_app: Flask
) -> None:
    pseudonym = approved_record(app, consent=NAMED, marked=["Evin"])  # the audio leaves
    archivist = ready_account(staff_app, "archivist@example.org", [Role.archivist])
    client = staff_client(staff_app)
    sign_in(client, archivist)
    page = client.get(f"/staff/records/{pseudonym}").get_data(as_text=True)
    assert pseudonym in page
    # The history: states and events, the approver named by account.
    assert 'data-action="received"' in page and 'data-action="transcript_approved"' in page
    assert "Transcript approved (every segment, four eyes)" in page
    assert "account:8" in page
    assert '<dd class="marks-count">1</dd>' in page
    assert "Version 1" in page and "in force" in page
    # What will leave: the placeholder, never the marked word, and the audio.
    assert "Evin" not in page
    assert "[place]" in page or "place" in page
    assert 'id="preview-audio"' in page
    audio = client.get(f"/staff/records/{pseudonym}/preview-audio")
    assert audio.status_code == 200 and audio.mimetype == "audio/flac"
    samples = decode_audio(io.BytesIO(audio.data))
    # The first segment (0-0.5 s) holds the marked word: silenced, the rest still a tone.
    assert level(samples, 0.05, 0.45) < 0.001
    assert level(samples, 1.0, 1.9) > 0.05


def test_the_preview_is_the_exports_own_gathering(
    app: Flask, staff_app: Flask, monkeypatch: object
) -> None:
    pseudonym = approved_record(app, consent=NAMED, marked=["Evin"])  # the audio leaves
    svc = staff_app.extensions["testimony"]
    calls: list[int] = []
    real = gather.gather

    def counting(*args: object) -> gather.Gathered:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(gather, "gather", counting)  # type: ignore[attr-defined]
    from sqlalchemy import select

    from intake.models import Testimony

    with svc.db.session() as s:
        t = s.scalars(select(Testimony).where(Testimony.pseudonym == pseudonym)).one()
        shown = record_overview.preview(s, svc.keyring, svc.store, t)
    assert calls == [1]
    assert shown.held_back is None and shown.transcript is not None
    assert [sp.category for sp in shown.spans] == ["place"]


def test_roles_without_content_work_cannot_open_a_record(app: Flask, staff_app: Flask) -> None:
    pseudonym = approved_record(app)
    admin = ready_account(staff_app, "admin@example.org", [Role.admin])
    client = staff_client(staff_app)
    sign_in(client, admin)
    assert client.get(f"/staff/records/{pseudonym}").status_code == 403
    assert client.get(f"/staff/records/{pseudonym}/preview-audio").status_code == 403
