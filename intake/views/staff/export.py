"""The archivist's export pages: start an export, watch it, download the result.

HTTP only: starting records the export and queues its job (`intake.export.runs.start`); the
export task does the work on the `export` queue, the same code `testimony export` runs. The
progress page reloads itself with a plain `<meta http-equiv="refresh">` (no script), and the
download is the export folder as one tar, streamed.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from intake import access
from intake.config import Config
from intake.export import runs
from intake.export.tarball import stream_tar
from intake.models import ExportRun, Role
from intake.records import accounts
from intake.services import request_session

_PSEUDONYM = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,31}$")
RECENT = 20


def _reason(code: str | None) -> str:
    """The archivist's words for why a record was held back."""
    return {
        "withdrawn": _("consent was withdrawn"),
        "not_approved": _("not approved"),
        "unconsented": _("no consent to publication"),
        "embargoed": _("under embargo"),
        "redaction_pending": _("names to remove; no redacted copy yet"),
        "unknown": _("no such record"),
        "not_exportable": _("its data could not be exported"),
        "unknown_wording": _("its consent wording is not one this archive released"),
        "disguise_pending": _(
            "its consent promised a disguised voice: turn voice disguise on under Access "
            "copies, and export it once the disguised copy is made"
        ),
        "proof_failed": _("the proof that every marked name is removed failed"),
        "proof_pending": _("no proof yet that every marked name is removed"),
    }.get(code or "", _("held back"))


def make_blueprint(config: Config, current_roles: access.RoleLookup) -> Blueprint:
    """The export blueprint, for archivists."""
    bp = access.guard(
        Blueprint("staff_export", __name__), access.roles(Role.archivist), current_roles
    )

    def _run(run_id: int) -> ExportRun:
        run = request_session().get(ExportRun, run_id)
        if run is None:
            abort(404)
        return run

    def _index(error: str | None = None, status: int = 200) -> tuple[str, int]:
        db = request_session()
        recent = db.scalars(select(ExportRun).order_by(ExportRun.id.desc()).limit(RECENT)).all()
        rows = [(run, runs.status(db, run)) for run in recent]
        page = render_template("staff/export/index.html", rows=rows, error=error, form=request.form)
        return page, status

    @bp.get("/export/")
    def index() -> tuple[str, int]:
        return _index()

    @bp.post("/export/")
    def start() -> WerkzeugResponse | tuple[str, int]:
        since: date | None = None
        raw_since = request.form.get("since", "").strip()
        if raw_since:
            try:
                since = date.fromisoformat(raw_since)
            except ValueError:
                return _index(_("Give the date as YYYY-MM-DD, for example 2026-03-21."), 400)
        names = request.form.get("pseudonyms", "").upper().split()
        bad = [n for n in names if not _PSEUDONYM.match(n)]
        if bad:
            return _index(_("These are not record names: %(names)s", names=" ".join(bad)), 400)
        db = request_session()
        run = runs.start(
            db,
            export_root=config.export_path,
            requested_by=accounts.actor(current_user.account),
            since=since,
            pseudonyms=names or None,
            queue=True,
        )
        db.commit()
        return redirect(url_for("staff_export.progress", run_id=run.id), 303)

    @bp.get("/export/<int:run_id>")
    def progress(run_id: int) -> str:
        db = request_session()
        run = _run(run_id)
        state = runs.status(db, run)
        held = (run.outcome or {}).get("held_back", [])
        return render_template(
            "staff/export/run.html",
            run=run,
            state=state,
            held=[(h["pseudonym"], _reason(h.get("reason"))) for h in held],
            exported=(run.outcome or {}).get("exported", []),
            no_archive_key=runs.NO_ARCHIVE_KEY in (run.outcome or {}).get("notes", []),
            recall=(run.outcome or {}).get("recall", []),
        )

    @bp.get("/export/<int:run_id>/download")
    def download(run_id: int) -> Response:
        run = _run(run_id)
        if runs.status(request_session(), run) != "done":
            abort(409)
        name = runs.folder_name(run.id)
        response = Response(
            stream_tar(Path(run.out_dir), name),
            mimetype="application/x-tar",
            direct_passthrough=True,
        )
        response.headers["Content-Disposition"] = f'attachment; filename="{name}.tar"'
        return response

    return bp
